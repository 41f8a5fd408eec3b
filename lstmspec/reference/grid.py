"""Grid recurrences (MDLSTM): the equations of one cell, evaluated by anti-diagonal wavefront.

A cell (i, j) needs its predecessors (i-1, j) and (i, j-1), which both lie on
the anti-diagonal before its own (i + j - 1). So every cell of one
anti-diagonal can be computed at once: a 2-D grid of rows x cols cells takes
rows + cols - 1 vectorized steps instead of rows*cols Python steps (in N-d,
the hyperplanes i_1 + ... + i_n = d). The cells of a step are folded into the
batch axis, so a step is exactly a sequence step of the compiled program
(``program.py``) with batch' = cells * batch: input terms (``x @ W_i``) are
computed for the whole image at once and gathered per step, products that
share a predecessor (``h_up @ U_i``, ``h_up @ U_f_up``, ...) are fused.

States live in grids padded by one cell before the first index of every
axis; the padding holds the boundaries (``h_row0`` at row 0, ``h_col0`` at
column 0), so a predecessor is one gather whatever the cell. Scan directions
flip the image (and the boundaries) along the axes scanned from the end,
run the same forward wavefront, and flip the outputs back: output (i, j)
stays the state computed at input pixel (i, j).

``run_grid_loop`` is the plain per-pixel loop over the same equations (the
tree-walking evaluator): the definition the wavefront is tested against.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec.model import Spec
from .backends import Backend
from .evaluate import step_values
from .program import _FUSED, _HOIST, Program


def wavefronts(sizes: tuple[int, ...]) -> list[tuple[np.ndarray, ...]]:
    """The cells of each anti-diagonal (hyperplane of equal index sum), as index arrays per axis.

    Within one step the cells are in row-major order. ``len(result) == sum(sizes) - len(sizes) + 1``.
    """
    grid = np.indices(sizes).reshape(len(sizes), -1)
    level = grid.sum(axis=0)
    order = np.lexsort(tuple(grid[::-1]) + (level,))  # by level, then row-major
    grid, level = grid[:, order], level[order]
    bounds = np.searchsorted(level, np.arange(sum(sizes) - len(sizes) + 2))
    return [tuple(grid[a, bounds[d]:bounds[d + 1]] for a in range(len(sizes))) for d in range(len(bounds) - 1)]


def cell_by_cell(sizes: tuple[int, ...]) -> list[tuple[np.ndarray, ...]]:
    """One cell per step in row-major order: the per-pixel schedule (rows*cols steps), for comparison."""
    grid = np.indices(sizes).reshape(len(sizes), -1)
    return [tuple(grid[a, k:k + 1] for a in range(len(sizes))) for k in range(grid.shape[1])]


SCHEDULES = {"wavefront": wavefronts, "cells": cell_by_cell}


class _Layout:
    """Where the grid axes sit in the input, output and boundary arrays, and how to scan them."""

    def __init__(self, spec: Spec, attrs: Mapping[str, Any]) -> None:
        from ..expr.dims import Sym

        self.axes = spec.recurrence.axes
        self.signs = spec.recurrence.signs(attrs)
        (self.input_name, decl), = spec.core_inputs().items()
        self.in_pos = [decl.shape.index(Sym(a)) for a in self.axes]
        out_decl = spec.first_output
        self.output_name = out_decl.name
        self.out_pos = [out_decl.shape.index(Sym(a)) for a in self.axes]
        self.step_of = out_decl.step
        self.preds = list(spec.predecessors.values())
        self.nexts = {name: decl.next for name, decl in spec.states.items()}

    def flip(self, be: Backend, a: Any, positions: list[int]) -> Any:
        for pos, sign in zip(positions, self.signs):
            if sign < 0 and pos is not None:
                a = be.flip(a, pos)
        return a

    def boundary_positions(self, pred: Any) -> list[Any]:
        """Position in the boundary array of each grid axis (None for the predecessor's own axis)."""
        out, k = [], 1
        for a in range(len(self.axes)):
            if a == pred.axis:
                out.append(None)
            else:
                out.append(k)
                k += 1
        return out


@dataclass(frozen=True)
class _Plan:
    """Index arithmetic of one grid size and schedule, computed once.

    Cells are stored flat, in schedule order (wavefront after wavefront), so the
    cells of one step are a contiguous slice: reading the input terms and
    writing the new states are slices, and only the predecessors are gathered.
    A state's flat store has, after the cells, one slot per boundary value.
    """

    steps: tuple[tuple[int, int], ...]  # (start, stop) of each step's cells in the flat order
    order: np.ndarray  # row-major index of each flat cell
    flat_of: np.ndarray  # flat index of each cell, shaped like the grid
    preds: dict[str, tuple[np.ndarray, ...]]  # predecessor name -> flat index per step (cells, then boundary slots)
    slots: dict[str, tuple[int, tuple[int, ...]]]  # boundary name -> (first slot, shape of the other axes)
    edges: dict[str, np.ndarray]  # boundary name -> flat index of the last cells scanned along its axis

    @staticmethod
    def build(sizes: tuple[int, ...], preds: list[Any], schedule: str) -> "_Plan":
        fronts = SCHEDULES[schedule](sizes)
        coords = [np.concatenate([f[a] for f in fronts]) for a in range(len(sizes))]
        count = int(np.prod(sizes))
        order = np.ravel_multi_index(tuple(coords), sizes)
        flat_of = np.empty(count, dtype=np.int64)
        flat_of[order] = np.arange(count)
        flat_of = flat_of.reshape(sizes)
        bounds = np.cumsum([0] + [len(f[0]) for f in fronts])
        steps = tuple((int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]))
        slots: dict[str, tuple[int, tuple[int, ...]]] = {}
        ends: dict[str, int] = {}
        edges: dict[str, np.ndarray] = {}
        for p in preds:
            others = tuple(s for a, s in enumerate(sizes) if a != p.axis)
            start = ends.get(p.state, count)
            slots[p.boundary] = (start, others)
            ends[p.state] = start + int(np.prod(others, dtype=np.int64))
            last = [slice(None)] * len(sizes)
            last[p.axis] = sizes[p.axis] - 1
            edges[p.boundary] = flat_of[tuple(last)]
        pred_index: dict[str, tuple[np.ndarray, ...]] = {}
        for p in preds:
            start, others = slots[p.boundary]
            per_step = []
            for a, b in steps:
                cell = [c[a:b] for c in coords]
                back = [c - 1 if ax == p.axis else c for ax, c in enumerate(cell)]
                inside = back[p.axis] >= 0
                other = tuple(c for ax, c in enumerate(cell) if ax != p.axis)
                slot = start + (np.ravel_multi_index(other, others) if others else np.zeros(b - a, dtype=np.int64))
                clipped = tuple(np.maximum(c, 0) for c in back)
                per_step.append(np.where(inside, flat_of[clipped], slot))
            pred_index[p.name] = tuple(per_step)
        return _Plan(steps, order, flat_of, pred_index, slots, edges)


class GridProgram(Program):
    """The compiled equations of one cell, run by wavefront over the grid."""

    def run(self, x: Any, state: Mapping[str, Any], params: Mapping[str, Any], *,
            schedule: str = "wavefront") -> tuple[Any, dict[str, Any]]:
        """``schedule="cells"`` runs the same compiled step one cell at a time (the per-pixel loop)."""
        spec, be = self.spec, self.be
        lay = _Layout(spec, self.attrs)
        n = len(lay.axes)
        x = lay.flip(be, be.asarray(x), lay.in_pos)
        sizes = tuple(int(x.shape[p]) for p in lay.in_pos)
        batch = int(x.shape[0])
        key = (sizes, schedule)
        plans = self.__dict__.setdefault("_plans", {})  # a program serves one backend: indices converted once
        if key not in plans:
            plan = _Plan.build(sizes, lay.preds, schedule)
            converted = {name: tuple(be.index(i) for i in per_step) for name, per_step in plan.preds.items()}
            plans[key] = (plan, converted, be.index(plan.order), be.index(plan.flat_of),
                          {b: be.index(e) for b, e in plan.edges.items()})
        plan, index, order, grid_index, edges = plans[key]
        count = int(np.prod(sizes))

        def flat(a: Any) -> Any:  # (grid..., batch, rest...) -> (cells in schedule order, batch, rest...)
            return a.reshape((count,) + tuple(a.shape[n:]))[order]

        cells = flat(be.moveaxis(x, lay.in_pos, list(range(n))))
        base = self.base_env(params)
        hoisted = [fn({**base, lay.input_name: cells, _FUSED: {}}) for fn in self.hoisted]

        # each state: its cells in schedule order, then the boundary slots its predecessors read
        stores: dict[str, list[Any]] = {name: [] for name in spec.states}
        for pred in lay.preds:
            b = lay.flip(be, be.asarray(state[pred.boundary]), lay.boundary_positions(pred))
            stores[pred.state].append(be.moveaxis(b, 0, n - 1).reshape((-1, batch) + tuple(b.shape[n:])))
        grids: dict[str, Any] = {}
        for name, slots in stores.items():
            if slots:
                grids[name] = be.zeros((count + sum(int(t.shape[0]) for t in slots), batch) + tuple(slots[0].shape[2:]))
                grids[name][count:] = be.concat_first(slots) if len(slots) > 1 else slots[0]
        y_flat = None
        nexts = list(lay.nexts.items())
        for step, (a, b) in enumerate(plan.steps):
            k = (b - a) * batch

            env = {**base, _FUSED: {},
                   _HOIST: tuple(h[a:b].reshape((k,) + tuple(h.shape[2:])) if v else h
                                 for h, v in zip(hoisted, self.hoisted_varying))}
            if self.step_reads_input:
                env[lay.input_name] = cells[a:b].reshape((k,) + tuple(cells.shape[2:]))
            for pred in lay.preds:
                got = grids[pred.state][index[pred.name][step]]
                env[pred.name] = got.reshape((k,) + tuple(got.shape[2:]))
            for name, fn in self.steps:
                env[name] = fn(env)
            for name, nxt in nexts:
                value = env[nxt]
                rest = tuple(value.shape[1:])
                if name not in grids:  # a state no predecessor reads: its store is made on the first write
                    grids[name] = be.zeros((count, batch) + rest)
                grids[name][a:b] = value.reshape((b - a, batch) + rest)
            out = env[lay.step_of]
            if y_flat is None:
                y_flat = be.zeros((count, batch) + tuple(out.shape[1:]))
            y_flat[a:b] = out.reshape((b - a, batch) + tuple(out.shape[1:]))
        y = lay.flip(be, be.moveaxis(y_flat[grid_index], list(range(n)), lay.out_pos), lay.out_pos)
        final = {}
        for pred in lay.preds:
            edge = grids[pred.state][edges[pred.boundary]]  # (other axes..., batch, rest...)
            final[pred.boundary] = lay.flip(be, be.moveaxis(edge, n - 1, 0), lay.boundary_positions(pred))
        return y, final


CellFn = Callable[[tuple[int, ...], dict[str, Any]], None]


def run_grid_loop(
    spec: Spec,
    x: Any,
    state: Mapping[str, Any],
    params: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    *,
    backend: Backend | None = None,
    on_cell: CellFn | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The plain per-pixel loop: cell after cell in scan order (row-major), equations evaluated one by one.

    ``on_cell(position, values)`` is called after each cell with its position in
    the image (0-based, input coordinates) and every name's value there
    (inputs, predecessors, equations). Used by tests and ``lstmspec trace``.
    """
    from itertools import product

    from .backends import get_backend
    from .transforms import apply_transforms

    attrs = spec.resolve_config(config)
    be = backend or get_backend("numpy")
    lay = _Layout(spec, attrs)
    n = len(lay.axes)
    (input_name, _), = spec.inputs.items()
    x = be.asarray(x)
    if spec.transforms:
        (x,) = apply_transforms(spec, attrs, {input_name: x}, be).values()
    x = lay.flip(be, x, lay.in_pos)
    sizes = tuple(int(x.shape[p]) for p in lay.in_pos)
    cells = be.moveaxis(x, lay.in_pos, list(range(n)))
    bounds = {p.boundary: lay.flip(be, be.asarray(state[p.boundary]), lay.boundary_positions(p)) for p in lay.preds}
    base = {name: be.asarray(params[name]) for name in spec.params}
    values: dict[tuple[int, ...], dict[str, Any]] = {}
    for pos in product(*(range(s) for s in sizes)):
        env = dict(base)
        env[lay.input_name] = cells[pos]
        for pred in lay.preds:
            if pos[pred.axis] == 0:
                other = tuple(p for a, p in enumerate(pos) if a != pred.axis)
                b = bounds[pred.boundary]
                env[pred.name] = b[(slice(None),) + other]
            else:
                back = tuple(p - 1 if a == pred.axis else p for a, p in enumerate(pos))
                env[pred.name] = values[back][spec.states[pred.state].next]
        env.update(step_values(spec, attrs, env, be))
        values[pos] = env
        if on_cell is not None:
            image_pos = tuple(s - 1 - p if sign < 0 else p for p, s, sign in zip(pos, sizes, lay.signs))
            on_cell(image_pos, env)
    stacked = be.stack([values[pos][lay.step_of] for pos in product(*(range(s) for s in sizes))], 0)
    y = stacked.reshape(sizes + tuple(stacked.shape[1:]))  # (grid..., batch, rest...)
    y = lay.flip(be, be.moveaxis(y, list(range(n)), lay.out_pos), lay.out_pos)
    final = {}
    for pred in lay.preds:
        nxt = spec.states[pred.state].next
        others = [range(s) for a, s in enumerate(sizes) if a != pred.axis]
        edge = []
        for other in product(*others):
            pos = list(other)
            pos.insert(pred.axis, sizes[pred.axis] - 1)
            edge.append(values[tuple(pos)][nxt])
        e = be.stack(edge, 1)  # (batch, cells along the other axes, rest...)
        e = e.reshape((e.shape[0],) + tuple(s for a, s in enumerate(sizes) if a != pred.axis) + tuple(e.shape[2:]))
        final[pred.boundary] = lay.flip(be, e, lay.boundary_positions(pred))
    return y, final
