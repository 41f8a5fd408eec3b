"""Known deviations of grid recurrences (MDLSTM, the spatial LSTM): predecessors exchanged, one
forget gate for every predecessor, another scan direction, final boundaries from the wrong cells.

Everything is read from the spec's ``[predecessors]`` and ``[recurrence.directions]``, never from
its name: "the output state's two predecessors" are h_up and h_left in mdlstm2d and h_left and
h_up in spatial_lstm, and the note of a match says which names moved. A variant still only edits
the attributes or a copy of the equations (or, for the final boundaries, names another equation
as the output) and runs the spec's own reference.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..expr.dims import Sym
from ..expr.ir import BinOp, Name
from ..spec.model import Predecessor
from .anatomy import rewrite
from .variant import Inputs, Result, register

ORDINAL = ("first", "second")


# ------------------------------------------------------------------ predecessors
def _pairs(inp: Inputs) -> dict[str, tuple[Predecessor, Predecessor]]:
    """State -> its two predecessors (declaration order), for each state read through exactly two."""
    if not inp.spec.is_grid:
        return {}
    by_state: dict[str, list[Predecessor]] = {}
    for p in inp.spec.predecessors.values():
        by_state.setdefault(p.state, []).append(p)
    return {s: (ps[0], ps[1]) for s, ps in by_state.items() if len(ps) == 2}


def _pair_of(inp: Inputs, hidden: bool) -> tuple[Predecessor, Predecessor] | None:
    """The output state's pair (``hidden``), or the one other state's pair."""
    pairs, out = _pairs(inp), inp.anatomy.output_state
    if hidden:
        return pairs.get(out) if out is not None else None
    others = [pair for s, pair in pairs.items() if s != out]
    return others[0] if len(others) == 1 else None


def _rename(inp: Inputs, key: str, names: dict[str, str], only: str | None = None) -> Result:
    """The reference with names replaced in every equation that reads them (or in ``only``)."""
    swap = {Name(a): Name(b, b) for a, b in names.items()}
    equations = {n: rewrite(e.node, lambda node: swap.get(node) if isinstance(node, Name) else None)
                 for n, e in inp.spec.equations.items()
                 if (only is None or n == only) and e.node.names() & set(names)}
    return inp.reference(inp.anatomy.edit(inp.spec, key, equations))


def _swap_pair(inp: Inputs, hidden: bool) -> Result:
    pair = _pair_of(inp, hidden)
    assert pair is not None
    p, q = pair
    return _rename(inp, f"predecessors {p.name} and {q.name} swapped", {p.name: q.name, q.name: p.name})


def _pair_note(inp: Inputs, hidden: bool) -> str:
    pair = _pair_of(inp, hidden)
    return f"{pair[0].name} and {pair[1].name} exchanged" if pair else ""


def _forget_gates(inp: Inputs) -> tuple[str, list[str]] | None:
    """(the cell state's next equation, the gate multiplying each of its two predecessors in
    declaration order) when that equation has a term ``gate * predecessor`` for each."""
    pair = _pair_of(inp, hidden=False)
    if pair is None:
        return None
    nxt = inp.spec.states[pair[0].state].next
    if nxt not in inp.spec.equations:
        return None
    gate_of: dict[str, str] = {}
    for n in inp.spec.equations[nxt].node.walk():
        if isinstance(n, BinOp) and n.op == "*":
            for g, other in ((n.left, n.right), (n.right, n.left)):
                if isinstance(g, Name) and g.id in inp.spec.gates and isinstance(other, Name):
                    gate_of[other.id] = g.id
    gates = [gate_of.get(p.name) for p in pair]
    if None in gates or gates[0] == gates[1]:
        return None
    return nxt, gates  # type: ignore[return-value]


def _shared_gate(inp: Inputs, k: int) -> Result:
    found = _forget_gates(inp)
    assert found is not None
    nxt, gates = found
    keep = gates[k]
    return _rename(inp, f"forget gate {keep} for every predecessor", {g: keep for g in gates if g != keep}, only=nxt)


def _shared_note(inp: Inputs, k: int) -> str:
    found = _forget_gates(inp)
    pair = _pair_of(inp, hidden=False)
    return f"{found[1][k]} gates {pair[0].name} and {pair[1].name}" if found and pair else ""


register("hidden-state predecessors swapped (each read through the other's weights)", "grid", 25,
         "The two predecessors of the output state are exchanged in every gate: the state of the cell above "
         "multiplies the weights of the cell to the left and the other way round (h_up @ V, h_left @ U).",
         lambda inp: _pair_of(inp, hidden=True) is not None,
         lambda inp: _swap_pair(inp, hidden=True), note=lambda inp: _pair_note(inp, hidden=True))
register("cell-state predecessors swapped (each forget gate on the other's cell)", "grid", 25,
         "The two predecessors of the cell state are exchanged: the forget gate of the cell above scales the "
         "left cell's memory and the other way round (f_up * c_left + f_left * c_up).",
         lambda inp: _pair_of(inp, hidden=False) is not None,
         lambda inp: _swap_pair(inp, hidden=False), note=lambda inp: _pair_note(inp, hidden=False))
for _k in (0, 1):
    register(f"one forget gate for both predecessors (the {ORDINAL[_k]} one's)", "grid", 26,
             "The cell state forgets both predecessors through one gate, c = f * (c_up + c_left) + i * g, as a "
             f"1-D LSTM has one forget gate; the gate kept is the {ORDINAL[_k]} declared predecessor's.",
             lambda inp: _forget_gates(inp) is not None,
             lambda inp, k=_k: _shared_gate(inp, k), note=lambda inp, k=_k: _shared_note(inp, k))


# ------------------------------------------------------------------ scan direction
def _directions(inp: Inputs) -> dict[str, tuple[int, ...]]:
    rec = inp.spec.recurrence
    return dict(rec.directions) if rec.is_grid and rec.direction is not None else {}


def _default_direction(inp: Inputs) -> str | None:
    if not _directions(inp):
        return None
    name = inp.spec.recurrence.direction
    default = inp.spec.attributes[name].default
    return default if default != inp.attrs[name] else None


def _flipped(inp: Inputs, axes: tuple[int, ...] | None) -> str | None:
    """The declared direction that scans the case's direction backwards along ``axes`` (None: all)."""
    table = _directions(inp)
    if not table:
        return None
    signs = table[inp.attrs[inp.spec.recurrence.direction]]
    axes = tuple(range(len(signs))) if axes is None else axes
    if max(axes) >= len(signs):
        return None
    want = tuple(-s if a in axes else s for a, s in enumerate(signs))
    return next((name for name, s in table.items() if s == want), None)


def _scan(inp: Inputs, direction: str | None) -> Result:
    # The reference keeps every output at its pixel whatever the direction, as the spec says; a kernel
    # that scans from the wrong corner and does the same is this run.
    assert direction is not None
    return inp.but(attrs={inp.spec.recurrence.direction: direction}).reference()


def _instead(inp: Inputs, direction: str | None) -> str:
    return f"{direction} instead of {inp.attrs[inp.spec.recurrence.direction]}" if direction else ""


register("scan direction ignored (the default direction scanned)", "grid", 27,
         "The direction attribute is not read: every image is scanned from the default corner (outputs at "
         "their pixel).",
         lambda inp: _default_direction(inp) is not None,
         lambda inp: _scan(inp, _default_direction(inp)), note=lambda inp: _instead(inp, _default_direction(inp)))
for _axes, _what in (((0,), "the first grid axis"), ((1,), "the second grid axis"), (None, "every grid axis")):
    register(f"scan direction reversed along {_what}", "grid", 28,
             f"The scan runs the other way along {_what} (e.g. left and right mixed up in a table of "
             "directions); outputs stay at their pixel.",
             lambda inp, a=_axes: _flipped(inp, a) is not None and (a is not None or len(inp.spec.recurrence.axes) > 1),
             lambda inp, a=_axes: _scan(inp, _flipped(inp, a)), note=lambda inp, a=_axes: _instead(inp, _flipped(inp, a)))


# ------------------------------------------------------------------ final boundaries
def _state_grid(inp: Inputs, state: str) -> np.ndarray:
    """The state's value at every cell, laid out as the output: the spec with its output reading the
    state's next equation instead (cached with the anatomy)."""
    spec, a = inp.spec, inp.anatomy
    (out_name, out_decl), = list(spec.outputs.items())[:1]
    nxt = spec.states[state].next
    if out_decl.step == nxt:
        return inp.reference()[0]
    key = f"output {nxt}"
    edited = a.edited.get(key)
    if edited is None:
        edited = a.edited[key] = replace(spec, outputs={**spec.outputs, out_name: replace(out_decl, step=nxt)})
    return inp.reference(edited)[0]


def _edge_preds(inp: Inputs, axis: int) -> list[Predecessor]:
    """Predecessors along ``axis`` whose state has the shape of one output cell (so its grid can be read)."""
    spec = inp.spec
    if not spec.is_grid or axis >= len(spec.recurrence.axes):
        return []
    step = spec.step_shape(spec.first_output)
    return [p for p in spec.predecessors.values() if p.axis == axis and spec.states[p.state].shape == step]


def _cells(inp: Inputs, axis: int) -> int:
    """The image's size along a grid axis (1: the first cells scanned are the last, nothing to tell)."""
    decl = inp.spec.first_input
    return int(inp.x.shape[decl.shape.index(Sym(inp.spec.recurrence.axes[axis]))])


def _first_edge(inp: Inputs, axis: int) -> Result:
    # The cells scanned first along the axis hold what the boundary would be if the scan stopped
    # after one row: index 0 going forward, the last index going backward (image coordinates).
    spec = inp.spec
    y, final = inp.reference()
    pos = spec.first_output.shape.index(Sym(spec.recurrence.axes[axis]))
    first = 0 if spec.recurrence.signs(inp.attrs)[axis] > 0 else -1
    grids: dict[str, np.ndarray] = {}
    for p in _edge_preds(inp, axis):
        if p.state not in grids:
            grids[p.state] = _state_grid(inp, p.state)
        final[p.boundary] = np.take(grids[p.state], first, axis=pos)
    return y, final


for _axis in (0, 1):
    register(f"final boundaries of the {ORDINAL[_axis]} grid axis from the first cells scanned", "grid", 54,
             f"The final states along the {ORDINAL[_axis]} grid axis (the row boundaries h_row0, c_row0 of a "
             "2-D grid scanned by rows) are taken from the first row scanned instead of the last "
             "(row_order[0] for row_order[-1]).",
             lambda inp, a=_axis: bool(_edge_preds(inp, a)) and _cells(inp, a) > 1,
             lambda inp, a=_axis: _first_edge(inp, a),
             note=lambda inp, a=_axis: ", ".join(p.boundary for p in _edge_preds(inp, a)))


# ------------------------------------------------------------------ state not carried
def _slices_apply(inp: Inputs, axis: int) -> bool:
    spec = inp.spec
    return (spec.is_grid and len(spec.recurrence.axes) == 2 and not spec.transforms
            and any(p.axis == axis for p in spec.predecessors.values()) and _cells(inp, axis) > 1)


def _not_carried(inp: Inputs, axis: int) -> Result:
    # A kernel that never passes the state on along one axis computes every slice across that axis
    # (every row, for the rows axis) as if it were the first: the reference run on each slice alone,
    # each reading the boundary along the axis in full and its own part of the other boundaries.
    spec = inp.spec
    x_pos = spec.first_input.shape.index(Sym(spec.recurrence.axes[axis]))
    y_pos = spec.first_output.shape.index(Sym(spec.recurrence.axes[axis]))
    n = _cells(inp, axis)
    ys, finals = [], []
    for k in range(n):
        state = {p.boundary: inp.state[p.boundary] if p.axis == axis else inp.state[p.boundary][:, k:k + 1]
                 for p in spec.predecessors.values()}
        y, final = replace(inp, x=np.take(inp.x, [k], axis=x_pos), state=state).reference()
        ys.append(y)
        finals.append(final)
    last = n - 1 if spec.recurrence.signs(inp.attrs)[axis] > 0 else 0  # the slice scanned last
    final = {p.boundary: finals[last][p.boundary] if p.axis == axis
             else np.concatenate([f[p.boundary] for f in finals], axis=1) for p in spec.predecessors.values()}
    return np.concatenate(ys, axis=y_pos), final


def _not_carried_note(inp: Inputs, axis: int) -> str:
    preds = [p for p in inp.spec.predecessors.values() if p.axis == axis]
    return f"{', '.join(p.name for p in preds)} read {', '.join(p.boundary for p in preds)} at every cell"


for _axis in (0, 1):
    register(f"state not carried along the {ORDINAL[_axis]} grid axis (every cell reads the boundary)", "grid", 90,
             f"The predecessors along the {ORDINAL[_axis]} grid axis are never the neighbouring cell's states: "
             "every cell reads the boundary (the initial state) there, as if each row (column) were the first "
             "scanned; the state is still carried along the other axis.",
             lambda inp, a=_axis: _slices_apply(inp, a), lambda inp, a=_axis: _not_carried(inp, a),
             note=lambda inp, a=_axis: _not_carried_note(inp, a))
