"""Diagnosis of failed cases: independent wrong kernels are named by exactly their deviation.

The deviating kernels here are written without the diagnoser (torch.nn.LSTM,
nn.LSTMCell, a hand-written torch loop, a textbook convolution), so a test
passing means the catalogue entry reproduces a real bug, not itself.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import image_mutants as im  # noqa: E402
import lstmspec  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case  # noqa: E402
from lstmspec.check.compare import scaled_error  # noqa: E402
from lstmspec.check.oracle import make_data, reference, spec_in_torch  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.runner import compare_outcome  # noqa: E402
from lstmspec.diagnose import VARIANTS, Inputs, describe_failure, diagnose  # noqa: E402
from lstmspec.diagnose.variant import expand, ordered, register  # noqa: E402
from lstmspec.kernels.protocol import KernelAdapter  # noqa: E402

GATES = "ifgo"


# ---------------------------------------------------------------- harness
def run_kernel(kernel, spec_name, *, dtype="float64", attrs=None, options=None, dims=None, seed=0):
    """Run ``kernel`` on one case as the checker does; return what diagnose needs."""
    spec = lstmspec.load_spec(spec_name)
    data = make_data(spec, make_case(spec, dims, attrs, options), seed)
    precision = PRECISIONS.get(dtype)
    impl = KernelAdapter(kernel, "test kernel", spec.name)
    outcome = impl.run(data, "cpu", precision, False)
    expected = reference(data)
    yard = spec_in_torch(data, precision.dtype, "cpu", precision, with_grads=False)
    comparisons = compare_outcome(spec, data, impl, outcome, expected, yard, precision, False)
    return spec, data, outcome, expected, yard, precision, comparisons


def diagnosis_of(kernel, spec_name, **case):
    spec, data, outcome, expected, yard, precision, comparisons = run_kernel(kernel, spec_name, **case)
    assert not all(c.passed for c in comparisons), "the deviating kernel must fail the check"
    found = diagnose(spec, data, outcome.y, outcome.final, expected, precision, yardstick=yard)
    assert not found.crashed
    return found


def passes(kernel, spec_name, **case):
    comparisons = run_kernel(kernel, spec_name, **case)[-1]
    return [c.describe() for c in comparisons if not c.passed]


# ---------------------------------------------------------------- LSTM kernels written without lstmspec
def nn_lstm(*, reads_as=GATES, forget_bias=0.0, reverse=False, initial_state=True):
    """torch.nn.LSTM given the canonical parameters. ``reads_as``: the gate order the kernel's author
    believed the spec's blocks to be in (ONNX's i,o,f,g for a kernel written against ONNX)."""

    def kernel(x, state, params, config):
        layer = torch.nn.LSTM(x.shape[-1], state["h"].shape[-1], batch_first=True).to(x.dtype)
        blocks = {name: [params[f"{name}_{g}"] for g in GATES] for name in ("W", "U", "b")}
        believed = {name: dict(zip(reads_as, blocks[name])) for name in blocks}
        b = dict(believed["b"])
        b["f"] = b["f"] + forget_bias
        with torch.no_grad():
            layer.weight_ih_l0.copy_(torch.cat([believed["W"][g] for g in GATES], dim=1).T)  # torch: i, f, g, o
            layer.weight_hh_l0.copy_(torch.cat([believed["U"][g] for g in GATES], dim=1).T)
            layer.bias_ih_l0.copy_(torch.cat([b[g] for g in GATES]))
            layer.bias_hh_l0.zero_()
        xs = x.flip(1) if reverse else x
        if initial_state:
            y, (h, c) = layer(xs, (state["h"][None], state["c"][None]))
        else:
            y, (h, c) = layer(xs)
        return y, {"h": h[0], "c": c[0]}

    return kernel


def lstm_cell_loop(*, cell_dtype=None):
    """nn.LSTMCell unrolled; with ``cell_dtype`` the cell state is stored in it between steps."""

    def kernel(x, state, params, config):
        cell = torch.nn.LSTMCell(x.shape[-1], state["h"].shape[-1]).to(x.dtype)
        with torch.no_grad():
            cell.weight_ih.copy_(torch.cat([params[f"W_{g}"] for g in GATES], dim=1).T)
            cell.weight_hh.copy_(torch.cat([params[f"U_{g}"] for g in GATES], dim=1).T)
            cell.bias_ih.copy_(torch.cat([params[f"b_{g}"] for g in GATES]))
            cell.bias_hh.zero_()
        h, c, ys = state["h"], state["c"], []
        for t in range(x.shape[1]):
            h, c = cell(x[:, t], (h, c))
            if cell_dtype is not None:
                c = c.to(cell_dtype).to(x.dtype)
            ys.append(h)
        return torch.stack(ys, 1), {"h": h, "c": c}

    return kernel


def hand_lstm(*, gate_act=torch.sigmoid, cell_act=torch.tanh, coupled=False, h_before_c=False):
    """A torch loop; ``coupled``: CIFG's i = 1 - f; ``h_before_c``: h_t computed before c is updated."""
    def kernel(x, state, params, config):
        h, c, ys = state["h"], state["c"], []
        for t in range(x.shape[1]):
            z = {g: x[:, t] @ params[f"W_{g}"] + h @ params[f"U_{g}"] + params[f"b_{g}"] for g in GATES}
            i, f, o, g = gate_act(z["i"]), gate_act(z["f"]), gate_act(z["o"]), cell_act(z["g"])
            if coupled:
                i = 1 - f
            if h_before_c:
                h = o * cell_act(c)
            c = f * c + i * g
            if not h_before_c:
                h = o * cell_act(c)
            ys.append(h)
        return torch.stack(ys, 1), {"h": h, "c": c}

    return kernel


def torch_layout_lstm(*, drop):
    """Given PyTorch's own tensors (lstmspec_layout="torch"), adds only one of bias_ih_l0 and bias_hh_l0."""
    def kernel(x, state, params, config):
        layer = torch.nn.LSTM(x.shape[-1], state["h"].shape[-1], batch_first=True).to(x.dtype)
        with torch.no_grad():
            for name, p in layer.named_parameters():
                p.copy_(torch.zeros_like(p) if name == drop else params[name])
        y, (h, c) = layer(x, (state["h"][None], state["c"][None]))
        return y, {"h": h[0], "c": c[0]}

    kernel.lstmspec_layout = "torch"
    return kernel


def nn_lstm_mishandled(how):
    """torch.nn.LSTM (right on its own) with its inputs or outputs handled wrong around it."""
    correct = nn_lstm()

    def kernel(x, state, params, config):
        if how == "time-major reshape":
            b, t = x.shape[:2]
            return correct(x.reshape(t, b, -1).transpose(0, 1), state, params, config)
        reverse = config["direction"] == "reverse"
        y, final = correct(x.flip(1) if reverse else x, state, params, config)
        y = y.flip(1) if reverse else y
        if how == "last output broadcast":
            return final["h"][:, None].expand_as(y).clone(), final
        assert how == "final h from y[:, -1]"
        return y, {**final, "h": y[:, -1]}

    return kernel


# ---------------------------------------------------------------- ConvLSTM2D written without lstmspec
def tf_same(k):
    """TensorFlow's `same` for stride 1: the odd padding row goes after."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


def extra_first(k):
    before, after = tf_same(k)
    return after, before


def conv2d(x, w, pads, *, convolve=False):
    """Channels-last 2-D correlation (or, with ``convolve``, the textbook convolution
    out[i] = sum_p x[i + k-1-p] w[p]), stride 1, as a sum over kernel offsets."""
    (top, bottom), (left, right) = pads
    x = F.pad(x, (0, 0, left, right, top, bottom))
    kr, kc = w.shape[:2]
    rows, cols = x.shape[1] - kr + 1, x.shape[2] - kc + 1
    out = 0
    for p in range(kr):
        for q in range(kc):
            tap = w[kr - 1 - p, kc - 1 - q] if convolve else w[p, q]
            out = out + x[:, p:p + rows, q:q + cols, :] @ tap
    return out


def convlstm2d(*, convolve=False, input_side=tf_same, recurrent_side=tf_same):
    def kernel(x, state, params, config):
        kr, kc = params["W_i"].shape[:2]
        same = config["padding"] == "same"
        in_pads = (input_side(kr), input_side(kc)) if same else ((0, 0), (0, 0))
        rec_pads = (recurrent_side(kr), recurrent_side(kc))
        h, c, ys = state["h"], state["c"], []
        for t in range(x.shape[1]):
            z = {g: conv2d(x[:, t], params[f"W_{g}"], in_pads, convolve=convolve)
                 + conv2d(h, params[f"U_{g}"], rec_pads, convolve=convolve) + params[f"b_{g}"] for g in GATES}
            i, f, o, g = torch.sigmoid(z["i"]), torch.sigmoid(z["f"]), torch.sigmoid(z["o"]), torch.tanh(z["g"])
            c = f * c + i * g
            h = o * torch.tanh(c)
            ys.append(h)
        return torch.stack(ys, 1), {"h": h, "c": c}

    return kernel


SQUARE_EVEN_KERNEL = {"kernel_rows": 2, "kernel_cols": 2}


def tf_pads(n, k, stride, dilation):
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def convlstm2d_stacked(*, swap_strides_dilation=False, first_dilation=False, reshape_kernels=False,
                       recurrent_strides=False):
    """ConvLSTM2D on Keras-stacked kernels (k, k, in, 4*filters) with F.conv2d, one bug per keyword:
    strides and dilation passed the wrong way round, dilation[0] used for both axes, kernels turned into
    PyTorch's (out, in, kr, kc) with reshape instead of permute, the layer's strides on the recurrent conv."""
    def to_torch(w):
        return w.reshape(w.shape[3], w.shape[2], w.shape[0], w.shape[1]) if reshape_kernels else w.permute(3, 2, 0, 1)

    def conv(v, w, padding, strides, dilation):  # channels last in and out
        v = v.permute(0, 3, 1, 2)
        if padding == "same":
            (t, b), (l, r) = (tf_pads(n, k, s, d) for n, k, s, d in zip(v.shape[2:], w.shape[:2], strides, dilation))
            v = F.pad(v, (l, r, t, b))
        return F.conv2d(v, to_torch(w), stride=tuple(strides), dilation=tuple(dilation)).permute(0, 2, 3, 1)

    def kernel(x, state, params, config):
        W, U = (torch.cat([params[f"{p}_{g}"] for g in GATES], dim=-1) for p in "WU")
        b = torch.cat([params[f"b_{g}"] for g in GATES])
        strides, dilation = tuple(config["strides"]), tuple(config["dilation"])
        if swap_strides_dilation:
            strides, dilation = dilation, strides
        if first_dilation:
            dilation = (dilation[0],) * 2
        h, c, ys = state["h"], state["c"], []
        for t in range(x.shape[1]):
            recurrent = conv(h, U, "same", strides if recurrent_strides else (1, 1), (1, 1))
            z = conv(x[:, t], W, config["padding"], strides, dilation) + recurrent + b
            i, f, g, o = z.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            ys.append(h)
        return torch.stack(ys, 1), {"h": h, "c": c}

    return kernel


DILATED = {"attrs": {"dilation": (2, 2)}, "dims": {"kernel_rows": 3, "kernel_cols": 3}}
STRIDED_DILATED = {"attrs": {"dilation": (2, 2), "strides": (2, 2)}, "dims": {"kernel_rows": 3, "kernel_cols": 3}}


# ---------------------------------------------------------------- the test kernels are right where they should be
@pytest.mark.parametrize("kernel, spec, case", [
    (nn_lstm(), "lstm", {}),
    (lstm_cell_loop(), "lstm", {"dtype": "float32"}),
    (hand_lstm(), "lstm", {}),
    (convlstm2d(), "convlstm2d", {}),
    (convlstm2d(), "convlstm2d", {"attrs": {"padding": "same"}, "dims": SQUARE_EVEN_KERNEL}),
    (torch_layout_lstm(drop=None), "lstm", {}),
    (nn_lstm_mishandled("final h from y[:, -1]"), "lstm", {}),
    (convlstm2d_stacked(), "convlstm2d", {"attrs": {"padding": "same", "dilation": (2, 1), "strides": (1, 2)}}),
])
def test_the_independent_kernels_conform_without_their_deviation(kernel, spec, case):
    assert passes(kernel, spec, **case) == []


# ---------------------------------------------------------------- each deviation named exactly
@pytest.mark.parametrize("kernel, spec, case, name", [
    (nn_lstm(reads_as="iofg"), "lstm", {}, "gate order i,o,f,g"),
    (nn_lstm(reads_as="figo"), "lstm", {"dtype": "float32"}, "gate order f,i,g,o"),
    (hand_lstm(gate_act=F.hardsigmoid), "lstm", {}, "recurrent_activation=hard_sigmoid"),
    (nn_lstm(forget_bias=1.0), "lstm", {"dtype": "float32"}, "forget-gate bias +1"),
    (nn_lstm(reverse=True), "lstm", {}, "input reversed in time (outputs in processing order)"),
    (nn_lstm(), "lstm", {"attrs": {"direction": "reverse"}}, "input reversed in time (outputs aligned with the input)"),
    (nn_lstm(initial_state=False), "lstm", {}, "initial state ignored (zeros used)"),
    (lstm_cell_loop(cell_dtype=torch.float16), "lstm", {"dtype": "float32"},
     "cell state rounded to float16 after every step"),
    (convlstm2d(convolve=True), "convlstm2d", {}, "kernels flipped (convolution instead of cross-correlation)"),
    (convlstm2d(input_side=extra_first, recurrent_side=extra_first), "convlstm2d",
     {"attrs": {"padding": "same"}, "dims": SQUARE_EVEN_KERNEL},
     "same padding with the extra row/column at the start (both convolutions)"),
    (convlstm2d(recurrent_side=extra_first), "convlstm2d", {},
     "same padding with the extra row/column at the start (recurrent convolution)"),
    (convlstm2d(input_side=extra_first), "convlstm2d", {"attrs": {"padding": "same"}, "dims": SQUARE_EVEN_KERNEL},
     "same padding with the extra row/column at the start (input convolution)"),
    (torch_layout_lstm(drop="bias_hh_l0"), "lstm", {}, "second of the two summed bias tensors dropped"),
    (torch_layout_lstm(drop="bias_ih_l0"), "lstm", {"dtype": "float32"}, "first of the two summed bias tensors dropped"),
    (hand_lstm(gate_act=torch.tanh, cell_act=torch.sigmoid), "lstm", {}, "activation and recurrent_activation swapped"),
    (nn_lstm_mishandled("last output broadcast"), "lstm", {}, "last output repeated at every step"),
    (nn_lstm_mishandled("final h from y[:, -1]"), "lstm", {"attrs": {"direction": "reverse"}},
     "final h taken from the output at the last input position"),
    (nn_lstm_mishandled("time-major reshape"), "lstm", {},
     "batch and time mixed up by a reshape (time-major reshape instead of transpose)"),
    (hand_lstm(coupled=True), "lstm", {}, "input gate coupled to the forget gate (i = 1 - f)"),
    (hand_lstm(h_before_c=True), "lstm", {"dtype": "float32"},
     "h_t computed from the previous cell state (before the cell update)"),
    (convlstm2d_stacked(swap_strides_dilation=True), "convlstm2d", DILATED, "strides and dilation swapped"),
    (convlstm2d_stacked(first_dilation=True), "convlstm2d", {"attrs": {"padding": "same", "dilation": (2, 1)}},
     "dilation of the first axis used for every axis"),
    (convlstm2d_stacked(reshape_kernels=True), "convlstm2d", {}, "kernels reshaped to (out, in, k...) instead of permuted"),
    # 7x6 frames, 3x3 kernel dilated 2, strides 2: a 2x1 state, whose strided recurrent conv is 1x1 and broadcasts
    (convlstm2d_stacked(recurrent_strides=True), "convlstm2d", STRIDED_DILATED,
     "strides applied to the recurrent convolution"),
])
def test_a_deviating_kernel_is_diagnosed_as_exactly_its_deviation(kernel, spec, case, name):
    found = diagnosis_of(kernel, spec, **case)
    assert found.variant == name, found.text
    assert found.text.startswith(f"matches {spec} with {name}")
    assert found.error <= found.bound


# ---------------------------------------------------------------- image specs (kernels of tests/image_mutants.py)
def mdlstm_scanning(direction):
    """Graves' MDLSTM cell by cell, always scanning from ``direction`` (a table of directions read wrong)."""
    def kernel(x, state, params, config):
        return im._mdlstm(x, state, params, {**config, "direction": direction})

    return kernel


def mdlstm_second_forget_gate_for_both(x, state, params, config):
    """f_up computed with f_left's parameters: f_left gates both predecessors' cells."""
    moved = {f"{p}_f_up": params[f"{p}_f_left"] for p in "WUVb"}
    return im.mdlstm_cell_by_cell(x, state, {**params, **moved}, config)


def mdlstm_col_boundary_from_first_column(x, state, params, config):
    """The final column boundaries taken after the first column scanned (down_right: column 0), which
    depends on nothing to its right, so the right cell-by-cell run on that column alone gives it."""
    y, final = im.mdlstm_cell_by_cell(x, state, params, config)
    first = {**state, "h_row0": state["h_row0"][:, :1], "c_row0": state["c_row0"][:, :1]}
    _, one = im.mdlstm_cell_by_cell(x[:, :, :1], first, params, config)
    return y, {**final, "h_col0": one["h_col0"], "c_col0": one["c_col0"]}


def pixelrnn_with_mask(mask):
    """PixelRNN's Row LSTM with the paper's stacked kernels, applying ``mask`` whatever the attribute says."""
    def kernel(x, state, params, config):
        return im._pixelrnn(x, state, params, {**config, "mask": mask})

    kernel.lstmspec_layout = "paper"
    return kernel


@pytest.mark.parametrize("kernel, spec, case, name", [
    (im.predecessors_swapped, "mdlstm2d", {},
     "hidden-state predecessors swapped (each read through the other's weights)"),
    (im.forget_gates_swapped, "mdlstm2d", {}, "cell-state predecessors swapped (each forget gate on the other's cell)"),
    (im.one_shared_forget_gate, "mdlstm2d", {}, "one forget gate for both predecessors (the first one's)"),
    (mdlstm_second_forget_gate_for_both, "mdlstm2d", {"dtype": "float32"},
     "one forget gate for both predecessors (the second one's)"),
    (im.scan_always_from_top_left, "mdlstm2d", {"attrs": {"direction": "up_left"}},
     "scan direction ignored (the default direction scanned)"),
    (mdlstm_scanning("down_left"), "mdlstm2d", {"attrs": {"direction": "up_left"}},
     "scan direction reversed along the first grid axis"),
    (mdlstm_scanning("up_right"), "mdlstm2d", {"attrs": {"direction": "up_left"}},
     "scan direction reversed along the second grid axis"),
    (mdlstm_scanning("down_left"), "mdlstm2d", {"attrs": {"direction": "up_right"}},
     "scan direction reversed along every grid axis"),
    (im.final_row_is_the_first_scanned, "mdlstm2d", {"attrs": {"direction": "up_right"}},
     "final boundaries of the first grid axis from the first cells scanned"),
    (mdlstm_col_boundary_from_first_column, "mdlstm2d", {},
     "final boundaries of the second grid axis from the first cells scanned"),
    (im.usual_lstm_output, "spatial_lstm", {}, "output gate outside the cell activation (h = o * act(c), the usual LSTM's output)"),
    (im.rows_flattened_channels_major, "row_lstm", {"attrs": {"scan": "cols"}},
     "each step's features flattened channels-major ((channels, length), not (length, channels))"),
    (im.step_ignored, "row_lstm", {"attrs": {"step": 2}}, "the input transform's integer option ignored (1 used)"),
    (im.unmasked_input_conv, "pixelrnn_row_lstm", {}, "masks ignored (the masked convolutions run unmasked)"),
    (im.mask_b_where_a_is_required, "pixelrnn_row_lstm", {}, "mask B instead of A"),
    (pixelrnn_with_mask("A"), "pixelrnn_row_lstm", {"attrs": {"mask": "B"}}, "mask A instead of B"),
    (im.colour_groups_ignored, "pixelrnn_row_lstm", {"dtype": "float32"}, "colour groups ignored (purely spatial masks)"),
    (im.state_conv_masked_too, "pixelrnn_row_lstm", {}, "recurrent convolutions masked too (mask B)"),
    (im.mask_shifted_right, "pixelrnn_row_lstm", {}, "mask centred one tap after the pixel"),
    (im.colour_groups_over_stacked_gates, "pixelrnn_row_lstm", {},
     "colour groups split over the stacked gates (not within each gate)"),
    (im.neighbourhood_includes_the_pixel, "spatial_lstm", {},
     "the pixel itself in its causal neighbourhood (in place of the farthest neighbour)"),
    (im.neighbourhood_includes_the_pixel, "spatial_lstm", {"attrs": {"radius": 2}, "dtype": "float32"},
     "the pixel itself in its causal neighbourhood (in place of the farthest neighbour)"),
    (im.rows_never_carried, "mdlstm2d", {}, "state not carried along the first grid axis (every cell reads the boundary)"),
    (im.rows_never_carried, "mdlstm2d", {"attrs": {"direction": "up_left"}},
     "state not carried along the first grid axis (every cell reads the boundary)"),
])
def test_a_deviating_image_kernel_is_diagnosed_as_exactly_its_deviation(kernel, spec, case, name):
    found = diagnosis_of(kernel, spec, **case)
    assert found.variant == name, found.text
    assert found.error <= found.bound and found.complete


def test_a_grid_diagnosis_says_which_predecessors_moved():
    found = diagnosis_of(im.predecessors_swapped, "mdlstm2d")
    assert "(h_up and h_left exchanged)" in found.text
    assert "y, h_row0_T, c_row0_T, h_col0_T, c_col0_T within the bound" in found.text
    assert "(down_right instead of down_left)" in diagnosis_of(
        im.scan_always_from_top_left, "mdlstm2d", attrs={"direction": "down_left"}).text


def test_the_image_kernels_conform_where_their_deviation_changes_nothing():
    # the same cells scanned: direction table right for the default, one column, or one colour group
    assert passes(mdlstm_scanning("down_right"), "mdlstm2d") == []
    assert passes(mdlstm_col_boundary_from_first_column, "mdlstm2d", dims={"cols": 1}) == []
    assert passes(pixelrnn_with_mask("B"), "pixelrnn_row_lstm", attrs={"mask": "B"}) == []


def test_suite_mutants_are_named_by_their_deviation():
    from mutants import convlstm2d_kernels, lstm_kernels

    found = diagnosis_of(convlstm2d_kernels.state_reset_every_step, "convlstm2d")
    assert found.variant == "state not carried between timesteps", found.text
    found = diagnosis_of(lstm_kernels.onnx_weights_read_in_torch_order, "lstm")
    assert found.variant == "gate order i,g,o,f", found.text


def test_a_gate_permutation_that_is_one_layouts_order_read_as_anothers_is_named_by_the_layouts():
    from mutants import lstm_kernels

    found = diagnosis_of(lstm_kernels.onnx_weights_read_in_torch_order, "lstm")
    assert "(weights in onnx gate order (i, o, f, g) read in keras/torch order (i, f, g, o): " in found.text
    # the other way round: Keras/PyTorch-stacked weights split in ONNX's order
    assert "weights in keras/torch gate order (i, f, g, o) read in onnx order (i, o, f, g)" in diagnosis_of(
        nn_lstm(reads_as="iofg"), "lstm").text
    # a permutation no pair of layouts makes is told by its gates alone
    assert "weights in" not in diagnosis_of(nn_lstm(reads_as="figo"), "lstm").text


def test_the_specs_own_order_is_named_where_no_layout_of_the_spec_has_it():
    # lstm_peephole keeps only ONNX's layout (Keras and PyTorch have no peepholes): its i, f, g, o is the spec's
    spec = lstmspec.load_spec("lstm_peephole")
    data = make_data(spec, make_case(spec), 0)
    # what a kernel reading ONNX-stacked blocks as i, f, g, o computes: o's parameters drive f, f's g, g's o
    moved = {**data.params, **{f"{r}_{a}": data.params[f"{r}_{b}"] for r in "WUb" for a, b in zip("fgo", "ofg")}}
    y, final = spec.reference(data.x, data.state, moved, data.attrs)
    found = diagnose(spec, data, y, final, reference(data), PRECISIONS.get("float64"))
    assert found.variant == "gate order i,g,o,f", found.text
    assert "(weights in onnx gate order (i, o, f, g) read in the spec's order (i, f, g, o): " in found.text
    assert "keras" not in found.text and "torch" not in found.text


def test_a_grid_failure_names_the_first_failing_cell_in_scan_order():
    found = diagnosis_of(im.last_column_never_computed, "mdlstm2d")
    assert found.variant is None and found.cell == (0, 2) and found.step is None, found.text
    assert "first divergence: y at cell (rows 0, cols 2), cell 3 of 12 in the down_right scan (error" in found.text
    found = diagnosis_of(im.last_column_never_computed, "mdlstm2d", attrs={"direction": "up_left"})
    # scanned from the bottom-right corner: row 3 first, its columns from right to left
    assert "y at cell (rows 3, cols 0), cell 3 of 12 in the up_left scan" in found.text, found.text


def test_a_gate_order_diagnosis_says_which_parameters_drive_which_gate():
    found = diagnosis_of(nn_lstm(reads_as="iofg"), "lstm")
    assert "the spec's f, g, o parameters drive gates o, f, g" in found.text
    assert "y, h_T, c_T within the bound" in found.text


def test_noise_matches_no_deviation_and_the_first_diverging_step_is_named():
    correct = nn_lstm()

    def noisy(x, state, params, config):
        y, final = correct(x, state, params, config)
        noise = torch.zeros_like(y)
        noise[:, 2:] = 1e-3 * torch.randn(noise[:, 2:].shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
        return y + noise, final

    found = diagnosis_of(noisy, "lstm")
    assert found.variant is None
    assert found.text.startswith("no known deviation of lstm matches (")
    assert "first divergence: y at step 2 (error" in found.text
    assert found.step == 2 and found.quantity == "y" and found.complete


def test_a_passing_output_needs_no_diagnosis():
    spec, data, outcome, expected, yard, precision, _ = run_kernel(nn_lstm(), "lstm", dtype="float32")
    found = diagnose(spec, data, outcome.y, outcome.final, expected, precision, yardstick=yard)
    assert found.text == "" and found.variant is None and found.tried == 0


# ---------------------------------------------------------------- data formats, last output only, budget
def reference_with(spec_name, edit, *, attrs=None, options=None, dtype="float64"):
    """A failing outcome made by the spec's reference on edited inputs (not by a variant)."""
    spec = lstmspec.load_spec(spec_name)
    data = make_data(spec, make_case(spec, None, attrs, options), 0)
    x, state, params = edit(data.x, dict(data.state), dict(data.params))
    y, final = spec.reference(x, state, params, data.attrs)
    if not data.return_sequences:
        y = data.last_step(y)
    precision = PRECISIONS.get(dtype)
    return diagnose(spec, data, y, final, reference(data), precision)


def test_channels_first_cases_are_diagnosed_in_their_own_layout():
    def plus_one(x, state, params):
        return x, state, {**params, "b_f": params["b_f"] + 1.0}

    found = reference_with("convlstm2d", plus_one, attrs={"data_format": "channels_first"})
    assert found.variant == "forget-gate bias +1", found.text


def test_last_output_only_cases_compare_the_last_step():
    def zero_state(x, state, params):
        return x, {k: np.zeros_like(v) for k, v in state.items()}, params

    found = reference_with("lstm", zero_state, options={"return_sequences": False})
    assert found.variant == "initial state ignored (zeros used)", found.text


def test_the_time_budget_stops_the_search_and_says_so():
    spec, data, outcome, expected, yard, precision, _ = run_kernel(lstm_cell_loop(cell_dtype=torch.float16), "lstm",
                                                                   dtype="float32")
    found = diagnose(spec, data, outcome.y, outcome.final, expected, precision, yardstick=yard, budget_s=0.0)
    assert not found.complete and found.variant is None
    assert "stopped by the 0 s budget" in found.text


def test_a_preferred_variant_is_tried_first():
    spec, data, outcome, expected, yard, precision, _ = run_kernel(lstm_cell_loop(cell_dtype=torch.float16), "lstm",
                                                                   dtype="float32")
    name = "cell state rounded to float16 after every step"
    found = diagnose(spec, data, outcome.y, outcome.final, expected, precision, yardstick=yard, prefer=[name])
    assert found.variant == name and found.tried == 1


def test_an_exhaustive_search_names_every_variant_that_reproduces_the_output():
    spec = lstmspec.load_spec("lstm")
    data = make_data(spec, make_case(spec), 0)
    for g in "igo":  # only the forget gate has a bias: "no bias" and "no bias on gate f" coincide
        data.params[f"b_{g}"] = np.zeros_like(data.params[f"b_{g}"])
    y, final = spec.reference(data.x, data.state, {**data.params, "b_f": 0 * data.params["b_f"]}, data.attrs)
    found = diagnose(spec, data, y, final, reference(data), PRECISIONS.get("float64"), exhaustive=True)
    assert found.variant == "no bias" and found.also == ["no bias on gate f"]
    assert found.text.endswith("; also matches: no bias on gate f")


def test_describe_failure_reports_a_broken_diagnosis_instead_of_raising():
    spec, data, outcome, expected, yard, precision, _ = run_kernel(nn_lstm(forget_bias=1.0), "lstm")
    assert describe_failure(spec, data, outcome, expected, yard, precision).startswith(
        "matches lstm with forget-gate bias +1")
    assert describe_failure(spec, data, None, expected, yard, precision).startswith("diagnosis failed: AttributeError")


# ---------------------------------------------------------------- the catalogue itself
def test_variant_names_are_unique_and_documented():
    for name in lstmspec.shipped_names():
        expand(lstmspec.load_spec(name))
    names = VARIANTS.names()
    assert len({n.lower() for n in names}) == len(names)
    assert all(VARIANTS.get(n).doc and VARIANTS.get(n).family for n in names)
    with pytest.raises(ValueError, match="already registered"):
        register(names[0], "test", 0, "duplicate", lambda inp: False, lambda inp: None)


COVERAGE_CASES = [
    ("lstm", {}, {}),
    ("lstm", {"recurrent_activation": "tanh", "activation": "sigmoid"}, {}),
    ("lstm", {}, {"input": 6}),
    ("lstm_peephole", {}, {}),
    ("convlstm2d", {}, {}),
    ("convlstm2d", {"padding": "same", "dilation": (2, 2)}, {}),
    ("convlstm2d", {"padding": "same"}, SQUARE_EVEN_KERNEL),
    ("lstm", {"direction": "reverse"}, {}),
    ("convlstm2d", {"padding": "same", "dilation": (2, 1)}, {}),
    ("convlstm2d", {"dilation": (2, 2)}, {"kernel_rows": 3, "kernel_cols": 3}),
    ("convlstm2d", {"dilation": (2, 2), "strides": (2, 2)}, {"kernel_rows": 3, "kernel_cols": 3}),
    ("mdlstm2d", {"direction": "up_left"}, {}),
    ("mdlstm2d", {"recurrent_activation": "tanh"}, {}),
    ("spatial_lstm", {}, {}),
    ("row_lstm", {"step": 2}, {}),
    ("pixelrnn_row_lstm", {}, {}),
    ("pixelrnn_row_lstm", {"mask": "B"}, {}),
]


def variant_outputs(spec_name, attrs, dims, precision):
    """name -> (y, final) of every variant that applies to the case, and the case's reference and bounds."""
    spec = lstmspec.load_spec(spec_name)
    data = make_data(spec, make_case(spec, dims, attrs), 0)
    inp = Inputs.from_data(data, precision)
    ref = reference(data)
    yard = spec_in_torch(data, precision.dtype, "cpu", precision, with_grads=False)
    bounds = {"y": precision.bound(scaled_error(yard.y, ref.y)[0]),
              **{k: precision.bound(scaled_error(yard.final[k], v)[0]) for k, v in ref.final.items()}}
    out = {}
    for variant in ordered(spec=spec):
        try:
            if not variant.applies(inp):
                continue
            out[variant.name] = variant.run(inp)
        except (lstmspec.errors.ConfigError, ValueError):
            continue  # shapes that do not fit this case
    return out, (ref.y, ref.final), bounds


def distance(a, b, bounds):
    """Largest error/bound over y and the final states (inf for different shapes)."""
    (ya, fa), (yb, fb) = a, b
    if ya.shape != yb.shape:
        return float("inf")
    worst = scaled_error(ya, yb)[0] / bounds["y"]
    for k in fa:
        worst = max(worst, scaled_error(fa[k], fb[k])[0] / bounds[k])
    return worst


def test_every_variant_applies_to_some_shipped_case_and_differs_from_the_reference_there():
    float32 = PRECISIONS.get("float32")
    seen = set()
    for spec_name, attrs, dims in COVERAGE_CASES:
        outputs, ref, bounds = variant_outputs(spec_name, attrs, dims, float32)
        seen |= {name for name, out in outputs.items() if distance(out, ref, bounds) > 2.0}
    assert sorted(set(VARIANTS.names()) - seen) == []


@pytest.mark.parametrize("spec_name, attrs, dims", [
    ("lstm", {}, {}), ("convlstm2d", {}, {}), ("convlstm2d", {"padding": "same"}, SQUARE_EVEN_KERNEL),
    ("lstm_peephole", {}, {}),
])
def test_no_two_variants_compute_the_same_output_on_a_default_case(spec_name, attrs, dims):
    outputs, ref, bounds = variant_outputs(spec_name, attrs, dims, PRECISIONS.get("float32"))
    assert len(outputs) > 20
    same = [(a, b) for (a, oa), (b, ob) in itertools.combinations(outputs.items(), 2) if distance(oa, ob, bounds) <= 1.0]
    assert same == []
    assert [n for n, o in outputs.items() if distance(o, ref, bounds) <= 2.0] == []


@pytest.mark.parametrize("spec_name", ["lstm", "convlstm2d"])
def test_no_variant_crashes_on_the_default_matrix(spec_name):
    spec = lstmspec.load_spec(spec_name)
    float32 = PRECISIONS.get("float32")
    for case in default_matrix(spec):
        data = make_data(spec, case, 0)
        expected = reference(data)
        wrong = expected.y + 0.1  # nothing in the catalogue adds a constant: the whole catalogue is tried
        y = wrong if data.return_sequences else data.last_step(wrong)
        found = diagnose(spec, data, y, expected.final, expected, float32, yardstick=expected, budget_s=60)
        assert found.crashed == [] and found.variant is None and found.complete, (case.key, found.crashed)


# ---------------------------------------------------------------- numbers of a coarser precision
def nn_lstm_in(dtype):
    """torch.nn.LSTM run in ``dtype`` whatever the inputs' precision (a hard-coded ``.float()``)."""
    correct = nn_lstm()

    def kernel(x, state, params, config):
        cast = {k: v.to(dtype) for k, v in params.items()}
        y, final = correct(x.to(dtype), {k: v.to(dtype) for k, v in state.items()}, cast, config)
        return y.to(x.dtype), {k: v.to(x.dtype) for k, v in final.items()}

    return kernel


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_a_kernel_computing_in_a_coarser_precision_is_said_to(dtype):
    found = diagnosis_of(nn_lstm_in(getattr(torch, dtype)), "lstm")
    assert found.variant is None and found.stored_in == {"y": dtype, "h_T": dtype, "c_T": dtype}, found.text
    assert f"every value it returned (y, h_T, c_T) is exactly a {dtype} number" in found.text


def test_a_float16_cell_state_buffer_shows_in_c_alone():
    def kernel(x, state, params, config):  # unlike lstm_cell_loop's, h_t is computed from the rounded c_t
        W, U = (torch.cat([params[f"{r}_{g}"] for g in GATES], dim=1) for r in "WU")
        b = torch.cat([params[f"b_{g}"] for g in GATES])
        h, c, ys = state["h"], state["c"], []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            c = (torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)).half().to(x.dtype)
            h = torch.sigmoid(o) * torch.tanh(c)
            ys.append(h)
        return torch.stack(ys, 1), {"h": h, "c": c}

    found = diagnosis_of(kernel, "lstm")
    assert found.variant is None and found.stored_in == {"c_T": "float16"}, found.text
    assert "c_T holds only float16 numbers" in found.text


def test_wrong_float64_values_are_not_said_to_be_coarser_numbers():
    correct = nn_lstm()

    def off_by_a_percent(x, state, params, config):
        y, final = correct(x, state, params, config)
        return y * 1.01, final

    found = diagnosis_of(off_by_a_percent, "lstm")
    assert found.stored_in == {}, found.text
    assert "number" not in found.text.split("first divergence")[-1], found.text


# ---------------------------------------------------------------- wrong shapes
def test_a_wrong_shape_is_told_as_simply_as_it_can_be():
    from lstmspec.diagnose.engine import shape_story

    names, dims = ["batch", "time", "units"], {"batch": 2, "time": 3, "input": 4}
    assert shape_story(names, (1, 5, 6), (5, 6), dims) == "the size-1 axis batch is missing (a squeeze() that drops it)"
    assert shape_story(names, (2, 3, 6), (3, 2, 6), dims) == "axes batch and time swapped"
    assert shape_story(names, (2, 3, 6), (2, 2, 6), dims) == "axis time has 2, the size of batch, instead of 3"
    assert shape_story(names, (2, 3, 6), (2, 3, 7), dims) == "", "no story for a size nothing else has"
    assert shape_story(names, (2, 3, 6), (2, 3, 6, 1), dims) == ""


def test_a_kernel_that_squeezes_a_batch_of_one_is_told_so():
    correct = nn_lstm()

    def squeezing(x, state, params, config):
        y, final = correct(x, state, params, config)
        return y, {k: v.squeeze() for k, v in final.items()}

    found = diagnosis_of(squeezing, "lstm", dims={"batch": 1, "time": 4, "input": 3, "units": 5})
    assert "h_T (shape (5,), but the spec says (1, 5): the size-1 axis batch is missing" in found.text, found.text


def test_a_grid_kernel_with_a_wrongly_shaped_boundary_gets_a_diagnosis_not_a_crash():
    spec = lstmspec.load_spec("mdlstm2d")
    data = make_data(spec, make_case(spec, None, None, None), 0)
    expected = reference(data)
    precision = PRECISIONS.get("float64")
    final = {k: v[..., :-1] for k, v in expected.final.items()}  # one unit short
    found = diagnose(spec, data, expected.y, final, expected, precision, variants=[])
    assert found.text.startswith("no known deviation of mdlstm2d matches"), found.text
    assert "but the spec says" in found.text
