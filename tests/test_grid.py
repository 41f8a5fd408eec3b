"""Grid recurrences (``kind = "grid"``): the language, the wavefront reference, the scan directions.

Pinned here:

- the anti-diagonal wavefront equals the plain per-pixel loop over the same
  equations to 1e-12, in every scan direction, on numpy and torch, values
  and gradients;
- both equal an MDLSTM written out by hand in numpy (so the spec file, not
  only the evaluator, says what Graves et al. compute), including what a
  scan direction and a boundary state mean;
- final boundary states are the states of the last row/column scanned;
- the loader's rejections of malformed grids, one precise message each;
- a 3-D grid (a spec written in the test) runs by hyperplane wavefront too.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import lstmspec
from lstmspec.errors import SpecError
from lstmspec.reference.grid import run_grid_loop, wavefronts
from lstmspec.spec import specs_dir
from lstmspec.spec.loader import lint_file

TOL = 1e-12
DIRECTIONS = ["down_right", "down_left", "up_right", "up_left"]
MDLSTM = (specs_dir() / "mdlstm2d.toml").read_text()


def max_err(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shape={a.shape}, but should be {b.shape}"
    return float(np.max(np.abs(a - b)))


def case(name="mdlstm2d", config=None, seed=0, **dims):
    spec = lstmspec.load_spec(name)
    rng = np.random.default_rng(seed)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    return spec, params, x, state


def assert_close(actual, expected, tol, what):
    (y, final), (y_ref, final_ref) = actual, expected
    assert set(final) == set(final_ref), f"final states={sorted(final)}, but should be {sorted(final_ref)} [{what}]"
    for name, a, b in [("y", y, y_ref)] + [(f"final[{k!r}]", final[k], final_ref[k]) for k in final_ref]:
        err = max_err(a, b)
        assert err <= tol, f"max|{name} - expected|={err:.3g}, but should be <= {tol:g} [{what}]"


# ---------------------------------------------------------------- wavefront
def test_wavefronts_cover_every_cell_once_after_its_predecessors():
    sizes = (4, 3)
    fronts = wavefronts(sizes)
    assert len(fronts) == 4 + 3 - 1
    seen: dict[tuple[int, int], int] = {}
    for step, (rows, cols) in enumerate(fronts):
        for i, j in zip(rows.tolist(), cols.tolist()):
            assert (i, j) not in seen
            seen[i, j] = step
    assert sorted(seen) == list(itertools.product(range(4), range(3)))
    for (i, j), step in seen.items():
        for pred in ((i - 1, j), (i, j - 1)):
            if min(pred) >= 0:
                assert seen[pred] < step, f"cell {(i, j)} at step {step}, its predecessor {pred} at {seen[pred]}"


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("dims", [{}, dict(batch=1, rows=1, cols=5), dict(batch=3, rows=6, cols=2, units=2)],
                         ids=["default", "one-row", "tall"])
def test_wavefront_equals_the_per_pixel_loop(direction, dims):
    config = {"direction": direction}
    spec, params, x, state = case(config=config, seed=3, **dims)
    assert_close(spec.reference(x, state, params, config), run_grid_loop(spec, x, state, params, config), TOL,
                 f"{direction} {dims}")


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_wavefront_equals_the_loop_on_torch_values_and_gradients(direction):
    torch = pytest.importorskip("torch")
    from lstmspec.reference.backends import TorchBackend

    config = {"direction": direction, "activation": "relu", "recurrent_activation": "hard_sigmoid"}
    spec, params, x, state = case(config=config, seed=5)
    cot = np.random.default_rng(9).standard_normal((2, 4, 3, 5))

    def run(fn):
        leaves = {"x": torch.tensor(x, requires_grad=True)}
        leaves.update({k: torch.tensor(v, requires_grad=True) for k, v in {**state, **params}.items()})
        y, final = fn(leaves["x"], {k: leaves[k] for k in state}, {k: leaves[k] for k in params})
        loss = (y * torch.as_tensor(cot)).sum() + sum((v * v).sum() for v in final.values())
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return y.detach().numpy(), {k: g.numpy() for k, g in zip(leaves, grads)}

    y1, g1 = run(lambda x_, s, p: spec.reference(x_, s, p, config, backend="torch"))
    y2, g2 = run(lambda x_, s, p: run_grid_loop(spec, x_, s, p, config, backend=TorchBackend()))
    assert max_err(y1, y2) <= TOL
    for k in g1:
        assert max_err(g1[k], g2[k]) <= TOL, f"max|dL/d{k} wavefront - loop|={max_err(g1[k], g2[k]):.3g} [{direction}]"


# ----------------------------------------------------- MDLSTM written out by hand
def mdlstm_by_hand(x, state, p, direction):
    """Graves et al.'s 2-D LSTM as a reader would write it from the equations: cell by cell, from a corner."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    batch, rows, cols, _ = x.shape
    down, right = {"down_right": (1, 1), "down_left": (1, 0), "up_right": (0, 1), "up_left": (0, 0)}[direction]
    row_order = range(rows) if down else range(rows - 1, -1, -1)
    col_order = range(cols) if right else range(cols - 1, -1, -1)
    h, c = {}, {}
    for i in row_order:
        for j in col_order:
            ip = i - 1 if down else i + 1  # the row scanned before
            jp = j - 1 if right else j + 1
            h_up = h[ip, j] if (ip, j) in h else state["h_row0"][:, j]
            c_up = c[ip, j] if (ip, j) in c else state["c_row0"][:, j]
            h_left = h[i, jp] if (i, jp) in h else state["h_col0"][:, i]
            c_left = c[i, jp] if (i, jp) in c else state["c_col0"][:, i]

            def pre(g):
                return x[:, i, j] @ p[f"W_{g}"] + h_up @ p[f"U_{g}"] + h_left @ p[f"V_{g}"] + p[f"b_{g}"]

            i_, fu, fl, g, o = sig(pre("i")), sig(pre("f_up")), sig(pre("f_left")), np.tanh(pre("g")), sig(pre("o"))
            c[i, j] = fu * c_up + fl * c_left + i_ * g
            h[i, j] = o * np.tanh(c[i, j])
    y = np.stack([np.stack([h[i, j] for j in range(cols)], 1) for i in range(rows)], 1)
    last_row, last_col = row_order[-1], col_order[-1]
    final = {
        "h_row0": np.stack([h[last_row, j] for j in range(cols)], 1),
        "c_row0": np.stack([c[last_row, j] for j in range(cols)], 1),
        "h_col0": np.stack([h[i, last_col] for i in range(rows)], 1),
        "c_col0": np.stack([c[i, last_col] for i in range(rows)], 1),
    }
    return y, final


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_mdlstm2d_is_graves_2d_lstm_written_out_by_hand(direction):
    config = {"direction": direction}
    spec, params, x, state = case(config=config, seed=1, rows=5, cols=4)
    assert_close(spec.reference(x, state, params, config), mdlstm_by_hand(x, state, params, direction), TOL, direction)


@pytest.mark.parametrize("name", ["mdlstm2d", "spatial_lstm"])
def test_default_matrix_has_one_row_and_one_column_in_every_direction(name):
    from lstmspec.check.cases import default_matrix

    spec = lstmspec.load_spec(name)
    attr = spec.attributes.get(spec.recurrence.direction or "")
    directions = attr.values if attr else (None,)
    cases = default_matrix(spec)
    for direction in directions:
        written = None if attr is None or direction == attr.default else direction  # a key omits defaults
        for axis, other in (("rows", "cols"), ("cols", "rows")):
            found = [c for c in cases if dict(c.dims)[axis] == 1 and dict(c.dims)[other] > 1
                     and dict(c.attrs).get(spec.recurrence.direction) == written
                     and c.label.startswith(f"one along {axis}")]
            assert len(found) == 1, f"cases with {axis}=1 [{direction}]={[c.key for c in found]}, but should be one"
    assert not any(c.label.startswith("one timestep") for c in cases)


def test_reference_shapes_and_boundary_semantics_at_default_dims():
    spec, params, x, state = case()
    assert {k: v.shape for k, v in state.items()} == {
        "h_row0": (2, 3, 5), "c_row0": (2, 3, 5), "h_col0": (2, 4, 5), "c_col0": (2, 4, 5)}
    y, final = spec.reference(x, state, params)
    assert y.shape == (2, 4, 3, 5) and y.dtype == np.float64
    np.testing.assert_array_equal(final["h_row0"], y[:, -1])  # the last row scanned
    np.testing.assert_array_equal(final["h_col0"], y[:, :, -1])  # the last column scanned
    y_up, final_up = spec.reference(x, state, params, {"direction": "up_left"})
    np.testing.assert_array_equal(final_up["h_row0"], y_up[:, 0])  # scanned bottom to top: row 0 is last


def test_the_first_cell_reads_both_boundaries():
    spec, params, x, state = case(batch=1, rows=1, cols=1)
    y, _ = spec.reference(x, state, params)
    changed = {**state, "c_col0": state["c_col0"] + 1.0}
    y2, _ = spec.reference(x, changed, params)
    assert max_err(y, y2) > 1e-3


# ------------------------------------------------------------------ language
def broken(tmp_path: Path, old: str, new: str) -> list[SpecError]:
    assert old in MDLSTM, old
    path = tmp_path / "broken.toml"
    path.write_text(MDLSTM.replace(old, new, 1))
    _, findings = lint_file(path, str(path))
    return [f.error for f in findings if f.severity == "error"]


@pytest.mark.parametrize("old, new, key, message", [
    ('h_up = { state = "h", offset = [-1, 0]', 'h_up = { state = "h", offset = [-1, -1]', "predecessors.h_up.offset",
     "an offset is -1 along one of the axes (rows, cols) and 0 along the others"),
    ('h_up = { state = "h", offset', 'h_up = { state = "q", offset', "predecessors.h_up.state",
     "'q' is not a declared state"),
    ('up_left = [-1, -1]', 'up_left = [-1, 2]', "recurrence.directions.up_left", "is +1 (first index first) or -1"),
    ('down_left = [1, -1]      # from the top-right corner\n', '', "recurrence.directions", "must give every value of attribute direction"),
    ('boundary = "h_col0"', 'boundary = "h_row0"', "predecessors.h_left.boundary", "boundary name 'h_row0' is used twice"),
    ('c_t = "f_up * c_up + f_left * c_left', 'c_t = "f_up * c + f_left * c_left', "equations.c_t",
     "undefined name 'c': in a grid recurrence a state is read through a predecessor (c_up, c_left)"),
    ('h = { shape = ["batch", "units"]', 'h = { shape = ["batch", "rows", "units"]', "states.h.shape",
     "state h is one cell's state and has no rows axis"),
    ('[predecessors]', '[predecessorz]', "predecessorz", "unknown table 'predecessorz'"),
    ('axes = ["rows", "cols"]', 'axes = ["rows", "colz"]', "recurrence.axes", "a grid recurrence needs axes"),
])
def test_malformed_grid_gets_one_precise_error(tmp_path, old, new, key, message):
    errors = broken(tmp_path, old, new)
    assert errors, f"no error for {new!r}"
    first = errors[0]
    assert first.key.startswith(key), f"key={first.key}, but should be {key} [{first}]"
    assert message in first.message, f"message={first.message!r}, but should contain {message!r}"
    assert first.line is not None and first.file.endswith("broken.toml")


def test_a_sequence_spec_cannot_have_predecessors(tmp_path):
    source = (specs_dir() / "lstm.toml").read_text() + '\n[predecessors]\nh_up = { state = "h", offset = [-1], boundary = "h0" }\n'
    path = tmp_path / "seq.toml"
    path.write_text(source)
    _, findings = lint_file(path, str(path))
    assert findings and "[predecessors] belong to a grid recurrence" in findings[0].error.message


# ------------------------------------------------------------- a 3-D grid
GRID3D = """
[spec]
name = "rnn3d"
title = "a 3-D grid RNN"
[recurrence]
kind = "grid"
axes = ["depth", "rows", "cols"]
direction = "direction"
[recurrence.directions]
forward = [1, 1, 1]
mixed = [-1, 1, -1]
[dims]
batch = { default = 2 }
depth = { default = 3 }
rows = { default = 2 }
cols = { default = 4 }
channels = { default = 2 }
units = { default = 3 }
[attributes]
direction = { type = "choice", values = ["forward", "mixed"], default = "forward" }
[inputs]
x = { shape = ["batch", "depth", "rows", "cols", "channels"] }
[params]
W = { shape = ["channels", "units"] }
A = { shape = ["units", "units"] }
B = { shape = ["units", "units"] }
C = { shape = ["units", "units"] }
[states]
h = { shape = ["batch", "units"], next = "h_t" }
[predecessors]
h_d = { state = "h", offset = [-1, 0, 0], boundary = "h_depth0" }
h_r = { state = "h", offset = [0, -1, 0], boundary = "h_row0" }
h_c = { state = "h", offset = [0, 0, -1], boundary = "h_col0" }
[equations]
h_t = "tanh(x @ W + h_d @ A + h_r @ B + h_c @ C)"
[outputs]
y = { shape = ["batch", "depth", "rows", "cols", "units"], step = "h_t" }
"""


@pytest.mark.parametrize("direction", ["forward", "mixed"])
def test_a_3d_grid_runs_by_hyperplane_wavefront(tmp_path, direction):
    path = tmp_path / "rnn3d.toml"
    path.write_text(GRID3D)
    spec = lstmspec.load_spec(str(path))
    assert spec.boundaries["h_row0"].shape[1:3] == spec.inputs["x"].shape[1:2] + spec.inputs["x"].shape[3:4]
    rng = np.random.default_rng(0)
    params = spec.random_params({"direction": direction}, rng)
    x, state = spec.random_inputs({"direction": direction}, rng)
    assert state["h_row0"].shape == (2, 3, 4, 3)  # (batch, depth, cols, units)
    config = {"direction": direction}
    assert_close(spec.reference(x, state, params, config), run_grid_loop(spec, x, state, params, config), TOL, "3-D")
    assert len(wavefronts((3, 2, 4))) == 3 + 2 + 4 - 2
