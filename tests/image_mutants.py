"""Kernels for the image specs with known answers: correct ones, and wrong ones that ``lstmspec check`` must catch.

Each follows lstmspec's kernel protocol ``fn(x, state, params, config) -> (y, final_state)``
and names, in its docstring, the one real-world bug it models. ``WRONG`` and
``CORRECT`` map each spec to its kernels (tests/test_image_specs.py runs them
through ``lstmspec.api.check_kernel``). Replay one by hand from the repository root:

    PYTHONPATH=tests lstmspec check mdlstm2d --kernel image_mutants:one_shared_forget_gate --no-isolate

The issue's list: predecessors swapped, one shared forget gate, wrong scan
direction, unmasked PixelRNN input convolution, PixelRNN's mask B where mask A
is required (the colour masks); and a few more of the same kind.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
ACT = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "hard_sigmoid": lambda z: torch.clamp(z / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras2": lambda z: torch.clamp(0.2 * z + 0.5, 0.0, 1.0),
    "relu": torch.relu,
    "linear": lambda z: z,
}
ALL = tuple(ACT)
DIRECTIONS = ("down_right", "down_left", "up_right", "up_left")


def _example(name: str, attr: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attr)


def _mark(fn, supports, grad=False, layout=None):
    fn.lstmspec_supports = supports
    fn.lstmspec_grad = grad
    if layout:
        fn.lstmspec_layout = layout
    return fn


# ------------------------------------------------------------------- mdlstm2d
def _mdlstm(x, state, p, config, *, swap_weights=False, shared_forget=False, swap_forgets=False,
            fixed_direction=False, final_from_first=False, rows_not_carried=False):
    """Graves' 2-D LSTM cell by cell; each keyword is one bug."""
    act, rec = ACT[config["activation"]], ACT[config["recurrent_activation"]]
    direction = "down_right" if fixed_direction else config["direction"]
    down, right = direction.startswith("down"), direction.endswith("right")
    batch, rows, cols, _ = x.shape
    row_order = list(range(rows) if down else range(rows - 1, -1, -1))
    col_order = list(range(cols) if right else range(cols - 1, -1, -1))
    h, c = {}, {}
    for i in row_order:
        for j in col_order:
            ip, jp = (i - 1 if down else i + 1), (j - 1 if right else j + 1)
            above = (-1, -1) if rows_not_carried else (ip, j)  # no cell there: the boundary is read
            h_up = h.get(above, state["h_row0"][:, j])
            c_up = c.get(above, state["c_row0"][:, j])
            h_left = h.get((i, jp), state["h_col0"][:, i])
            c_left = c.get((i, jp), state["c_col0"][:, i])
            a, b = (h_left, h_up) if swap_weights else (h_up, h_left)

            def pre(g):
                return x[:, i, j] @ p[f"W_{g}"] + a @ p[f"U_{g}"] + b @ p[f"V_{g}"] + p[f"b_{g}"]

            i_, g_, o_ = rec(pre("i")), act(pre("g")), rec(pre("o"))
            f_up, f_left = rec(pre("f_up")), rec(pre("f_left"))
            if shared_forget:
                f_left = f_up
            if swap_forgets:
                f_up, f_left = f_left, f_up
            c[i, j] = f_up * c_up + f_left * c_left + i_ * g_
            h[i, j] = o_ * act(c[i, j])
    y = torch.stack([torch.stack([h[i, j] for j in range(cols)], 1) for i in range(rows)], 1)
    last_row = row_order[0] if final_from_first else row_order[-1]
    last_col = col_order[-1]
    final = {
        "h_row0": torch.stack([h[last_row, j] for j in range(cols)], 1),
        "c_row0": torch.stack([c[last_row, j] for j in range(cols)], 1),
        "h_col0": torch.stack([h[i, last_col] for i in range(rows)], 1),
        "c_col0": torch.stack([c[i, last_col] for i in range(rows)], 1),
    }
    return y, final


MD_ALL = {"direction": DIRECTIONS, "activation": ALL, "recurrent_activation": ALL}


def mdlstm_cell_by_cell(x, state, params, config):
    """Correct: the equations cell by cell in scan order, a dict of states."""
    return _mdlstm(x, state, params, config)


def predecessors_swapped(x, state, params, config):
    """The cell above's h goes through V and the left cell's h through U (predecessor weights swapped)."""
    return _mdlstm(x, state, params, config, swap_weights=True)


def one_shared_forget_gate(x, state, params, config):
    """One forget gate for both predecessors, c = f * (c_up + c_left) + i * g, as a 1-D LSTM has one."""
    return _mdlstm(x, state, params, config, shared_forget=True)


def forget_gates_swapped(x, state, params, config):
    """f_up gates the left cell's memory and f_left the upper one's."""
    return _mdlstm(x, state, params, config, swap_forgets=True)


def scan_always_from_top_left(x, state, params, config):
    """The direction attribute is ignored: every scan starts at the top-left corner."""
    return _mdlstm(x, state, params, config, fixed_direction=True)


def final_row_is_the_first_scanned(x, state, params, config):
    """The final row boundary is taken from the first row scanned instead of the last."""
    return _mdlstm(x, state, params, config, final_from_first=True)


def rows_never_carried(x, state, params, config):
    """h_up, c_up looked up under the wrong key: every cell reads the row boundary, as if on the first row."""
    return _mdlstm(x, state, params, config, rows_not_carried=True)


def last_column_never_computed(x, state, params, config):
    """An off-by-one in the column loop (range(cols - 1)): the last column scanned keeps its zero initialisation."""
    y, final = _mdlstm(x, state, params, config)
    last = x.shape[2] - 1 if config["direction"].endswith("right") else 0
    y = y.clone()
    y[:, :, last] = 0
    return y, {**final, "h_col0": torch.zeros_like(final["h_col0"]), "c_col0": torch.zeros_like(final["c_col0"])}


for _fn in (mdlstm_cell_by_cell, predecessors_swapped, one_shared_forget_gate, forget_gates_swapped,
            scan_always_from_top_left, final_row_is_the_first_scanned, rows_never_carried,
            last_column_never_computed):
    _mark(_fn, MD_ALL, grad=_fn is mdlstm_cell_by_cell)


# ---------------------------------------------------------- pixelrnn_row_lstm
def _pixelrnn(x, state, params, config, *, mask=True, mask_shift=0, mask_state=False, mask_b_for_a=False,
              no_colours=False, groups_over_gates=False):
    """PixelRNN's Row LSTM with the paper's stacked kernels (layout "paper"); keywords are bugs."""
    act, rec = ACT[config["activation"]], ACT[config["recurrent_activation"]]
    colours = 1 if no_colours else config["colours"]

    def masked(kernel, kind):
        k, channels, stacked = kernel.shape
        units = stacked if groups_over_gates else stacked // 4
        group_in = torch.arange(channels) * colours // channels
        group_out = (torch.arange(stacked) % units) * colours // units
        centre = group_in[:, None] < group_out[None, :] if kind == "A" else group_in[:, None] <= group_out[None, :]
        offsets = torch.arange(k) - (k - 1) // 2 - mask_shift
        keep = (offsets < 0)[:, None, None].expand(k, channels, stacked).clone()
        keep[offsets == 0] = centre
        return kernel * keep.to(kernel.dtype)

    def conv(v, kernel):
        k = kernel.shape[0]
        left = (k - 1) // 2
        return F.conv1d(F.pad(v.transpose(1, 2), (left, k - 1 - left)), kernel.permute(2, 1, 0)).transpose(1, 2)

    batch, rows, cols, channels = x.shape
    kind = "B" if mask_b_for_a else config["mask"]
    K_is = masked(params["K_is"], kind) if mask else params["K_is"]
    K_ss = masked(params["K_ss"], "B") if mask_state else params["K_ss"]
    x_is = conv(x.reshape(batch * rows, cols, channels), K_is).reshape(batch, rows, cols, -1) + params["b"]
    h, c = state["h"], state["c"]
    ys = []
    for i in range(rows):
        o, f, i_, g = (x_is[:, i] + conv(h, K_ss)).chunk(4, dim=-1)
        c = rec(f) * c + rec(i_) * act(g)
        h = rec(o) * act(c)
        ys.append(h)
    return torch.stack(ys, 1), {"h": h, "c": c}


PX_ALL = {"activation": ALL, "recurrent_activation": ALL}


def unmasked_input_conv(x, state, params, config):
    """The input-to-state convolution is not masked: a pixel sees the pixels to its right (and itself)."""
    return _pixelrnn(x, state, params, config, mask=False)


def mask_shifted_right(x, state, params, config):
    """The mask is centred one tap too far right: the pixel itself is read whole, the colour mask lands on its right neighbour."""
    return _pixelrnn(x, state, params, config, mask_shift=1)


def state_conv_masked_too(x, state, params, config):
    """The state-to-state convolution is masked like the input one: the row above is seen only up to the pixel."""
    return _pixelrnn(x, state, params, config, mask_state=True)


def mask_b_where_a_is_required(x, state, params, config):
    """Mask B in the first layer too: at the pixel, a colour group reads its own input colour (R sees R)."""
    return _pixelrnn(x, state, params, config, mask_b_for_a=True)


def colour_groups_ignored(x, state, params, config):
    """Purely spatial masks on an RGB image: mask A hides the whole pixel (G cannot read R), mask B shows all of it."""
    return _pixelrnn(x, state, params, config, no_colours=True)


def colour_groups_over_stacked_gates(x, state, params, config):
    """The colour split is taken over K_is's 4*units stacked gates, not within each gate's units."""
    return _pixelrnn(x, state, params, config, groups_over_gates=True)


for _fn in (unmasked_input_conv, mask_shifted_right, state_conv_masked_too, mask_b_where_a_is_required,
            colour_groups_ignored, colour_groups_over_stacked_gates):
    _mark(_fn, PX_ALL, layout="paper")


# ------------------------------------------------------------------ row_lstm
def _row_lstm(x, state, p, config, *, channels_major=False, ignore_step=False):
    act, rec = ACT[config["activation"]], ACT[config["recurrent_activation"]]
    step = 1 if ignore_step else config["step"]
    image = x if config["scan"] == "rows" else x.transpose(1, 2)  # columns become rows
    lines = image[:, ::step]  # (batch, steps, length, channels)
    if channels_major:
        lines = lines.transpose(2, 3)  # (channels, length) order, as view(B, -1) of a (B, C, W) row
    seq = lines.reshape(lines.shape[0], lines.shape[1], -1)
    W = torch.cat([p[f"W_{g}"] for g in "ifgo"], 1)
    U = torch.cat([p[f"U_{g}"] for g in "ifgo"], 1)
    b = torch.cat([p[f"b_{g}"] for g in "ifgo"])
    h, c = state["h"], state["c"]
    steps = range(seq.shape[1]) if config["direction"] == "forward" else range(seq.shape[1] - 1, -1, -1)
    ys = [None] * seq.shape[1]
    for t in steps:
        i, f, g, o = (seq[:, t] @ W + h @ U + b).chunk(4, -1)
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        ys[t] = h
    return torch.stack(ys, 1), {"h": h, "c": c}


ROW_ALL = {"activation": ALL, "recurrent_activation": ALL, "direction": ("forward", "reverse")}


def row_lstm_by_slicing(x, state, params, config):
    """Correct: rows (or columns) sliced every step-th, flattened channels fastest, an LSTM loop."""
    return _row_lstm(x, state, params, config)


def rows_flattened_channels_major(x, state, params, config):
    """A row flattened (channels, cols), not (cols, channels): the CNN-LSTM blog post's view(B, -1) of a channels-first row."""
    return _row_lstm(x, state, params, config, channels_major=True)


def step_ignored(x, state, params, config):
    """Every row is read whatever the step: the sequence is too long when step > 1."""
    return _row_lstm(x, state, params, config, ignore_step=True)


for _fn in (row_lstm_by_slicing, rows_flattened_channels_major, step_ignored):
    _mark(_fn, ROW_ALL, grad=_fn is row_lstm_by_slicing)


# -------------------------------------------------------------- spatial_lstm
def _neighbourhood(image, radius, *, with_pixel=False):
    """x_<ij: radius rows above (2*radius + 1 wide) and radius pixels to the left, zeros outside."""
    k = radius
    batch, rows, cols, channels = image.shape
    padded = F.pad(image, (0, 0, k, k, k, 0))
    offsets = [(di, dj) for di in range(-k, 0) for dj in range(-k, k + 1)] + [(0, dj) for dj in range(-k, 0)]
    if with_pixel:
        offsets = offsets[1:] + [(0, 0)]  # the same count, but the pixel itself instead of the farthest one
    return torch.cat([padded[:, k + di:k + di + rows, k + dj:k + dj + cols] for di, dj in offsets], dim=-1)


def _spatial(x, state, p, config, *, usual_output=False, with_pixel=False):
    x = _neighbourhood(x, config["radius"], with_pixel=with_pixel)
    batch, rows, cols, _ = x.shape
    h, c = {}, {}
    for i in range(rows):
        for j in range(cols):
            h_left, c_left = h.get((i, j - 1), state["h_col0"][:, i]), c.get((i, j - 1), state["c_col0"][:, i])
            h_up, c_up = h.get((i - 1, j), state["h_row0"][:, j]), c.get((i - 1, j), state["c_row0"][:, j])
            z = torch.cat([x[:, i, j], h_left, h_up], dim=-1)
            g = torch.tanh(z @ p["A_g"] + p["b_g"])
            o, i_, f_r, f_c = (torch.sigmoid(z @ p[f"A_{n}"] + p[f"b_{n}"]) for n in ("o", "i", "fr", "fc"))
            c[i, j] = g * i_ + c_left * f_c + c_up * f_r
            h[i, j] = o * torch.tanh(c[i, j]) if usual_output else torch.tanh(c[i, j] * o)
    y = torch.stack([torch.stack([h[i, j] for j in range(cols)], 1) for i in range(rows)], 1)
    final = {
        "h_col0": torch.stack([h[i, cols - 1] for i in range(rows)], 1),
        "c_col0": torch.stack([c[i, cols - 1] for i in range(rows)], 1),
        "h_row0": torch.stack([h[rows - 1, j] for j in range(cols)], 1),
        "c_row0": torch.stack([c[rows - 1, j] for j in range(cols)], 1),
    }
    return y, final


def spatial_lstm_by_hand(x, state, params, config):
    """Correct: Theis & Bethge's equations pixel by pixel, h = tanh(c ⊙ o)."""
    return _spatial(x, state, params, config)


def usual_lstm_output(x, state, params, config):
    """h = o ⊙ tanh(c), the usual LSTM's output, where the spatial LSTM has h = tanh(c ⊙ o)."""
    return _spatial(x, state, params, config, usual_output=True)


def neighbourhood_includes_the_pixel(x, state, params, config):
    """x_<ij includes the pixel x_ij itself (not causal), in place of the farthest neighbour."""
    return _spatial(x, state, params, config, with_pixel=True)


for _fn in (spatial_lstm_by_hand, usual_lstm_output, neighbourhood_includes_the_pixel):
    _mark(_fn, {}, grad=_fn is spatial_lstm_by_hand)


CORRECT = {
    "mdlstm2d": [mdlstm_cell_by_cell, _example("mdlstm2d_wavefront", "mdlstm2d")],
    "pixelrnn_row_lstm": [_example("pixelrnn_row_lstm", "row_lstm")],
    "row_lstm": [row_lstm_by_slicing],
    "spatial_lstm": [spatial_lstm_by_hand],
}
WRONG = {
    "mdlstm2d": [predecessors_swapped, one_shared_forget_gate, forget_gates_swapped, scan_always_from_top_left,
                 final_row_is_the_first_scanned, rows_never_carried, last_column_never_computed],
    "pixelrnn_row_lstm": [unmasked_input_conv, mask_shifted_right, state_conv_masked_too, mask_b_where_a_is_required,
                          colour_groups_ignored, colour_groups_over_stacked_gates],
    "row_lstm": [rows_flattened_channels_major, step_ignored],
    "spatial_lstm": [usual_lstm_output, neighbourhood_includes_the_pixel],
}
