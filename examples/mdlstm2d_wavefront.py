"""A 2-D LSTM (MDLSTM, Graves et al. 2007) in PyTorch, computed by anti-diagonal wavefront.

    lstmspec check mdlstm2d --kernel examples/mdlstm2d_wavefront.py:mdlstm2d --grad
    lstmspec check mdlstm2d --kernel examples/mdlstm2d_wavefront.py:mdlstm2d --grad --device cuda

No framework ships an MDLSTM layer, so this is one, written against
lstmspec's kernel protocol and checked like any user kernel: on the CPU and,
unchanged, on a GPU (every tensor it makes is on ``x.device``).

Cell (i, j) reads the states of (i-1, j) and (i, j-1), both on the
anti-diagonal before its own, so the cells of one anti-diagonal are computed
together: rows + cols - 1 steps of batched matrix products. The states of a
diagonal are kept as one (batch, cells, units) tensor; the previous diagonal,
with the boundary value of its row 0 in front and of its column 0 behind,
holds every predecessor of the next one as a contiguous slice: "up" starts
at lo' - lo and "left" one further, where lo and lo' are the first rows of
the two diagonals. Nothing is written in place, so autograd works through it.

Protocol: ``x`` (batch, rows, cols, channels); ``state`` the boundaries
``h_row0``, ``c_row0`` (batch, cols, units) and ``h_col0``, ``c_col0``
(batch, rows, units); ``params`` the canonical ``W_<gate>``, ``U_<gate>``
(from the cell above), ``V_<gate>`` (from the cell to the left), ``b_<gate>``
for gates i, f_up, f_left, g, o; ``config`` has ``direction`` and the two
activations. Returns y (batch, rows, cols, units) and the final boundaries:
the states of the last row and column scanned.
"""
import torch

GATES = ("i", "f_up", "f_left", "g", "o")
ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "hard_sigmoid": lambda z: torch.clamp(z / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras2": lambda z: torch.clamp(0.2 * z + 0.5, 0.0, 1.0),
    "relu": torch.relu,
    "linear": lambda z: z,
}
# scan direction -> (flip rows, flip cols): the scan starts at that corner
FLIPS = {"down_right": (False, False), "down_left": (False, True), "up_right": (True, False), "up_left": (True, True)}


def _diagonals(rows, cols):
    """(first row, last row) of each anti-diagonal d = i + j."""
    return [(max(0, d - cols + 1), min(rows - 1, d)) for d in range(rows + cols - 1)]


def mdlstm2d(x, state, params, config):
    act, rec = ACTIVATIONS[config["activation"]], ACTIVATIONS[config["recurrent_activation"]]
    flip_rows, flip_cols = FLIPS[config["direction"]]
    h_row0, c_row0, h_col0, c_col0 = state["h_row0"], state["c_row0"], state["h_col0"], state["c_col0"]
    # scan from the top-left corner of a flipped image; the boundaries flip along their own axis
    if flip_rows:
        x, h_col0, c_col0 = x.flip(1), h_col0.flip(1), c_col0.flip(1)
    if flip_cols:
        x, h_row0, c_row0 = x.flip(2), h_row0.flip(1), c_row0.flip(1)
    batch, rows, cols, _ = x.shape
    units = h_row0.shape[-1]
    W = torch.cat([params[f"W_{g}"] for g in GATES], dim=1)  # (channels, 5*units)
    U = torch.cat([params[f"U_{g}"] for g in GATES], dim=1)  # from h of the cell above
    V = torch.cat([params[f"V_{g}"] for g in GATES], dim=1)  # from h of the cell to the left
    b = torch.cat([params[f"b_{g}"] for g in GATES])
    xw = x @ W + b  # every cell's input term at once, (batch, rows, cols, 5*units)
    spans = _diagonals(rows, cols)
    zero = x.new_zeros(batch, 1, units)
    hs, cs = [], []
    h_prev = c_prev = x.new_zeros(batch, 0, units)
    lo_prev = 0
    for d, (lo, hi) in enumerate(spans):
        r = torch.arange(lo, hi + 1, device=x.device)
        # the previous diagonal with the boundary of row 0 (column d) before it and of column 0 (row d) after it
        top_h = h_row0[:, d:d + 1] if d < cols else zero
        top_c = c_row0[:, d:d + 1] if d < cols else zero
        side_h = h_col0[:, d:d + 1] if d < rows else zero
        side_c = c_col0[:, d:d + 1] if d < rows else zero
        ext_h = torch.cat([top_h, h_prev, side_h], dim=1)
        ext_c = torch.cat([top_c, c_prev, side_c], dim=1)
        n, a = hi - lo + 1, lo - lo_prev
        h_up, c_up = ext_h[:, a:a + n], ext_c[:, a:a + n]
        h_left, c_left = ext_h[:, a + 1:a + 1 + n], ext_c[:, a + 1:a + 1 + n]
        pre = xw[:, r, d - r] + h_up @ U + h_left @ V
        i, f_up, f_left, g, o = pre.split(units, dim=-1)
        c = rec(f_up) * c_up + rec(f_left) * c_left + rec(i) * act(g)
        h = rec(o) * act(c)
        hs.append(h)
        cs.append(c)
        h_prev, c_prev, lo_prev = h, c, lo
    # back from diagonal order to (row, col)
    order = torch.cat([torch.arange(lo, hi + 1, device=x.device) * cols + (d - torch.arange(lo, hi + 1, device=x.device))
                       for d, (lo, hi) in enumerate(spans)])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=x.device)
    y = torch.cat(hs, dim=1)[:, inverse].reshape(batch, rows, cols, units)
    c_grid = torch.cat(cs, dim=1)[:, inverse].reshape(batch, rows, cols, units)
    final = {"h_row0": y[:, -1], "c_row0": c_grid[:, -1], "h_col0": y[:, :, -1], "c_col0": c_grid[:, :, -1]}
    if flip_rows:
        y = y.flip(1)
        final["h_col0"], final["c_col0"] = final["h_col0"].flip(1), final["c_col0"].flip(1)
    if flip_cols:
        y = y.flip(2)
        final["h_row0"], final["c_row0"] = final["h_row0"].flip(1), final["c_row0"].flip(1)
    return y, final


mdlstm2d.lstmspec_grad = True
mdlstm2d.lstmspec_supports = {
    "direction": tuple(FLIPS),
    "activation": tuple(ACTIVATIONS),
    "recurrent_activation": tuple(ACTIVATIONS),
}
