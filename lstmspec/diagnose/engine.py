"""Explain a failed case: which known deviation of the spec reproduces the implementation's output.

Each variant of the catalogue (``VARIANTS``) is the spec's reference with one
thing done differently. A variant *matches* when the implementation's ``y``
and every final state it returned are within the bound the checker uses
(``precision.bound`` of the yardstick's error against the float64
reference) of the variant's values, and the variant itself is more than
twice that bound away from the reference, so that the match says something
the failure did not already say. The first match in catalogue order is
reported; when none matches, the first diverging quantity and step are.

    >>> diagnose(spec, data, outcome.y, outcome.final, expected, precision, yardstick=yard).text
    'matches lstm with forget-gate bias +1: y, h_T, c_T within the bound (worst y: error 2.1e-08 <= bound 4.4e-06)'
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from itertools import combinations
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..check.compare import scaled_error
from ..check.oracle import CaseData, Expected
from ..check.precision import MANTISSA, Precision
from ..errors import ConfigError
from ..expr.dims import Sym
from ..reference.binding import leading_axes
from ..reference.data_format import data_format, shape_in, to_format
from .catalogue import ROUNDINGS
from .variant import Inputs, Result, Variant, ordered

DEFAULT_BUDGET_S = 2.0
DISTINCT = 2.0  # a variant closer than DISTINCT * bound to the reference explains nothing


@dataclass
class Diagnosis:
    """What a diagnosis found; ``text`` is the one line the reports print."""

    text: str
    variant: str | None = None  # the matching deviation's name
    note: str = ""  # what the name means on this spec
    quantity: str = ""  # worst quantity of a match, or the first diverging one
    step: int | None = None  # first diverging step of y (no match)
    cell: tuple[int, ...] | None = None  # grid specs: the first diverging cell of y in scan order (no match)
    error: float = 0.0
    bound: float = 0.0
    tried: int = 0  # variants that applied and were run
    seconds: float = 0.0
    complete: bool = True  # False when the time budget stopped the search
    crashed: list[str] = field(default_factory=list)  # "name: error" of variants that raised
    also: list[str] = field(default_factory=list)  # other matching variants (exhaustive search only)
    stored_in: dict[str, str] = field(default_factory=dict)  # no match: quantities made of coarser numbers

    def __str__(self) -> str:
        return self.text


@dataclass
class _Quantity:
    name: str  # "y", "h_T"
    key: str  # "y" or the state name
    actual: np.ndarray
    expected: np.ndarray
    bound: float
    time_axis: int | None
    cells: tuple[tuple[int, ...], ...] = ()  # grid y: the positions of its cells in scan order
    cell_axes: tuple[int, ...] = ()  # grid y: the axes those positions index


def diagnose(spec: Any, data: CaseData, y: Any, final: Mapping[str, Any], expected: Expected, precision: Precision,
             *, yardstick: Expected | None = None, budget_s: float = DEFAULT_BUDGET_S,
             variants: Sequence[str] | None = None, prefer: Sequence[str] = (), exhaustive: bool = False) -> Diagnosis:
    """Try the catalogue (or the named ``variants``) on a failed case.

    ``y``/``final`` are the implementation's float64 results in the case's
    data format (``y`` only the last step when the case does not return
    sequences), ``expected`` the float64 reference, ``yardstick`` the spec in
    the precision under test (computed with torch on the CPU when not given).
    ``prefer``: names tried first (the last match of the same implementation:
    one bug fails every case alike). ``exhaustive``: after a match, try the
    rest and name every other variant that reproduces the output too.
    ``text`` is empty when ``y`` and the final states are within their bound:
    then the failure is elsewhere (gradients, shapes) and no forward deviation
    explains it.
    """
    start = time.perf_counter()
    if yardstick is None:
        yardstick = _yardstick(data, precision)
    quantities = _quantities(data, y, final, expected, yardstick, precision)
    diverging = _first_divergence(quantities)
    if diverging is None:
        return Diagnosis("", seconds=time.perf_counter() - start)
    inp = Inputs.from_data(data, precision)
    catalogue = sorted(ordered(list(variants) if variants is not None else None, spec=data.spec),
                       key=lambda v: v.name not in prefer)
    tried, crashed, complete = 0, [], True
    match: tuple[Variant, _Quantity, float] | None = None
    also: list[str] = []
    for variant in catalogue:
        if time.perf_counter() - start > budget_s:
            complete = False
            break
        result = _run(variant, inp, data, crashed)
        if result is None:
            continue
        tried += 1
        found = _match(quantities, result)
        if found is None:
            continue
        if match is not None:
            also.append(variant.name)
            continue
        match = (variant, *found)
        if not exhaustive:
            break
    seconds = time.perf_counter() - start
    if match is not None:
        variant, worst, error = match
        note = variant.note(inp) if variant.note is not None else ""
        names = ", ".join(q.name for q in quantities)
        text = (f"matches {spec.name} with {variant.name}" + (f" ({note})" if note else "")
                + f": {names} within the bound (worst {worst.name}: error {error:.2g} <= bound {worst.bound:.2g})"
                + (f"; also matches: {'; '.join(also)}" if also else ""))
        return Diagnosis(text, variant.name, note, worst.name, None, None, error, worst.bound, tried, seconds,
                         complete, crashed, also)
    q, step, error = diverging
    cell = q.cells[step] if q.cells and step is not None else None
    where = f"{q.name} at step {step}" if step is not None else q.name
    if cell is not None:
        where = f"{q.name} at cell {_cell_words(spec, cell)}, cell {step + 1} of {len(q.cells)} {_scan_words(data)}"
    what = "NaN or Inf" if not np.isfinite(error) else (
        f"shape {q.actual.shape}, but the spec says {q.expected.shape}" if q.actual.shape != q.expected.shape
        else f"error {error:.2g} > bound {q.bound:.2g}")
    if q.actual.shape != q.expected.shape:
        names = axis_names(data, q.key)
        if len(names) != q.expected.ndim:
            names = [f"axis {i}" for i in range(q.expected.ndim)]
        story = shape_story(names, q.expected.shape, q.actual.shape, _input_dims(data))
        what += f": {story}" if story else ""
    searched = f"{tried} tried" + ("" if complete else f", stopped by the {budget_s:g} s budget")
    text = f"no known deviation of {spec.name} matches ({searched}); first divergence: {where} ({what})"
    stored = _stored_in(quantities, precision)
    if stored is not None:
        text += f"; {stored[1]}"
    return Diagnosis(text, None, "", q.name, None if cell is not None else step, cell, error, q.bound, tried,
                     seconds, complete, crashed, stored_in=stored[0] if stored is not None else {})


def axis_names(data: CaseData, key: str) -> list[str]:
    """The spec's names of a returned quantity's axes, in the case's data format."""
    spec = data.spec
    decl = spec.first_output if key == "y" else {**spec.initial_states, **spec.states}.get(key)
    if decl is None:
        return []
    names = list(shape_in([d.render() for d in decl.shape], leading_axes(spec, decl), data_format(data.attrs)))
    if key == "y" and not data.return_sequences:
        names.pop(spec.time_axis(decl))
    return names


def _input_dims(data: CaseData) -> dict[str, int]:
    """The sizes a kernel could mistake for one another: the axes of its input."""
    decl = data.spec.first_input
    return {d.render(): int(n) for d, n in zip(decl.shape, np.shape(data.x)) if not d.render().isdigit()}


def shape_story(names: Sequence[str], expected: Sequence[int], actual: Sequence[int],
                dims: Mapping[str, int]) -> str:
    """What a wrong shape most simply is: dropped size-1 axes, swapped axes, or one axis with another's size."""
    expected, actual = tuple(expected), tuple(actual)
    if len(actual) < len(expected):
        for dropped in combinations(range(len(expected)), len(expected) - len(actual)):
            if all(expected[i] == 1 for i in dropped) and \
                    tuple(n for i, n in enumerate(expected) if i not in dropped) == actual:
                axes = ", ".join(names[i] for i in dropped)
                return f"the size-1 axis {axes} is missing (a squeeze() that drops it)" if len(dropped) == 1 \
                    else f"the size-1 axes {axes} are missing (a squeeze() that drops them)"
    if len(actual) != len(expected):
        return ""
    differ = [i for i, (a, e) in enumerate(zip(actual, expected)) if a != e]
    if len(differ) == 2 and actual[differ[0]] == expected[differ[1]] and actual[differ[1]] == expected[differ[0]]:
        return f"axes {names[differ[0]]} and {names[differ[1]]} swapped"
    if len(differ) == 1:
        i = differ[0]
        alike = [name for name, size in dims.items() if size == actual[i] and name != names[i]]
        if alike:
            return f"axis {names[i]} has {actual[i]}, the size of {' or '.join(alike)}, instead of {expected[i]}"
    return ""


#: Fewest distinct nonzero values a quantity needs before "every value is a float32 number" means
#: anything (0, 1 and 0.5 are numbers of every precision).
STORED_MIN_VALUES = 8


def _stored_in(quantities: list[_Quantity], precision: Precision) -> tuple[dict[str, str], str] | None:
    """({quantity: precision}, sentence) for returned quantities whose every value is exactly a number of
    a coarser precision than the one under test, or None.

    A float64 result holds float32 numbers only by chance, with probability
    2^-29 per value, so a quantity made of them was computed or stored in
    float32 (a hard-coded ``.float()``; a cell state buffer in half precision
    shows in c_T alone). The coarsest precision that holds every value is
    named. Unlike a variant, this needs no model of where the rounding happens.
    """
    tested = precision.mantissa
    coarse_first = sorted((n for n in ROUNDINGS if MANTISSA[n] < tested), key=lambda n: MANTISSA[n])
    found: dict[str, str] = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for q in quantities:
            values = q.actual[np.isfinite(q.actual) & (q.actual != 0)]
            if np.unique(values).size < STORED_MIN_VALUES:
                continue
            for name in coarse_first:
                if np.array_equal(ROUNDINGS[name](values), values):
                    found[q.name] = name
                    break
    if not found:
        return None
    if len(found) == len(quantities) and len(set(found.values())) == 1:
        fmt = next(iter(found.values()))
        return found, (f"every value it returned ({', '.join(found)}) is exactly a {fmt} number: it computes in "
                       f"{fmt} and casts back")
    parts = "; ".join(f"{q} holds only {fmt} numbers" for q, fmt in found.items())
    return found, f"{parts}: it computes or keeps {'that' if len(found) == 1 else 'those'} in lower precision"


def describe_failure(spec: Any, data: CaseData, outcome: Any, expected: Expected, yardstick: Expected,
                     precision: Precision, **options: Any) -> str:
    """``diagnose(...).text`` for a failed outcome (an adapters.base.Outcome), never raising:
    a diagnosis must not turn a failed case into a crashed run."""
    try:
        return diagnose(spec, data, outcome.y, outcome.final, expected, precision, yardstick=yardstick,
                        **options).text
    except Exception as exc:  # noqa: BLE001
        return f"diagnosis failed: {type(exc).__name__}: {exc}"


def _yardstick(data: CaseData, precision: Precision) -> Expected:
    try:
        from ..check.oracle import spec_in_torch

        return spec_in_torch(data, precision.dtype, "cpu", precision, with_grads=False)
    except ImportError:  # no torch: the bound is the precision's floor
        y, final = data.spec.reference(data.x, data.state, data.params, data.attrs)
        return Expected(np.asarray(y), {k: np.asarray(v) for k, v in final.items()})


def _quantities(data: CaseData, y: Any, final: Mapping[str, Any], expected: Expected, yard: Expected,
                precision: Precision) -> list[_Quantity]:
    def bound(ref: np.ndarray, stick: np.ndarray | None) -> float:
        err = scaled_error(stick, ref)[0] if stick is not None and np.shape(stick) == ref.shape else 0.0
        return precision.bound(err if np.isfinite(err) else 0.0)

    y_ref, y_yard, axis = expected.y, yard.y, data.time_axis
    if not data.return_sequences:
        y_ref, y_yard, axis = data.last_step(y_ref), data.last_step(y_yard), None
    grid = data.spec.is_grid and data.return_sequences
    out = [_Quantity("y", "y", np.asarray(y, dtype=np.float64), y_ref, bound(y_ref, y_yard), axis,
                     _scan_cells(data, y_ref) if grid else (), tuple(_grid_axes(data.spec)) if grid else ())]
    for name, ref in expected.final.items():
        if name in final:
            out.append(_Quantity(f"{name}_T", name, np.asarray(final[name], dtype=np.float64), ref,
                                 bound(ref, yard.final.get(name)), None))
    return out


def _first_divergence(quantities: list[_Quantity]) -> tuple[_Quantity, int | None, float] | None:
    for q in quantities:
        if q.actual.shape != q.expected.shape:
            return q, None, 0.0
        error = scaled_error(q.actual, q.expected)[0]
        if error <= q.bound:
            continue
        step = None
        if q.cells:
            scale = max(float(np.max(np.abs(q.expected))), np.finfo(np.float64).tiny)
            for k, cell in enumerate(q.cells):
                index = [slice(None)] * q.actual.ndim
                for axis, i in zip(q.cell_axes, cell):
                    index[axis] = i
                a, e = q.actual[tuple(index)], q.expected[tuple(index)]
                if not np.all(np.isfinite(a)) or float(np.max(np.abs(a - e))) / scale > q.bound:
                    step = k
                    break
        elif q.time_axis is not None and q.actual.ndim > q.time_axis:
            scale = max(float(np.max(np.abs(q.expected))), np.finfo(np.float64).tiny)
            for t in range(q.actual.shape[q.time_axis]):
                a, e = np.take(q.actual, t, axis=q.time_axis), np.take(q.expected, t, axis=q.time_axis)
                if not np.all(np.isfinite(a)) or float(np.max(np.abs(a - e))) / scale > q.bound:
                    step = t
                    break
        return q, step, error
    return None


def _grid_axes(spec: Any) -> list[int]:
    """Positions of the grid axes in the output ``y``."""
    return [spec.first_output.shape.index(Sym(a)) for a in spec.recurrence.axes]


def _scan_cells(data: CaseData, y: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Every cell of a grid output in the order the recurrence computes them: row-major along the
    scanned axes, each from the end its direction starts at (image coordinates)."""
    from itertools import product

    spec = data.spec
    sizes = [y.shape[a] for a in _grid_axes(spec)]
    signs = spec.recurrence.signs(data.attrs)
    return tuple(tuple(s - 1 - p if sign < 0 else p for p, s, sign in zip(pos, sizes, signs))
                 for pos in product(*(range(s) for s in sizes)))


def _cell_words(spec: Any, cell: tuple[int, ...]) -> str:
    return "(" + ", ".join(f"{axis} {i}" for axis, i in zip(spec.recurrence.axes, cell)) + ")"


def _scan_words(data: CaseData) -> str:
    direction = data.spec.recurrence.direction
    if direction is None:
        return "in scan order"
    return f"in the {data.attrs.get(direction)} scan"


def _run(variant: Variant, inp: Inputs, data: CaseData, crashed: list[str]) -> Result | None:
    """The variant's (y, final) in the case's format, or None where it does not apply."""
    try:
        if not variant.applies(inp):
            return None
        y, final = variant.run(inp)
    except (ConfigError, ValueError):
        return None  # shapes that do not fit: this deviation cannot have produced the output
    except Exception as exc:  # noqa: BLE001 - a broken entry must not hide the others
        crashed.append(f"{variant.name}: {type(exc).__name__}: {exc}")
        return None
    spec, fmt = data.spec, data_format(data.attrs)
    y = to_format(y, leading_axes(spec, spec.first_output), fmt)
    final = {k: to_format(v, leading_axes(spec, spec.initial_states[k]), fmt) for k, v in final.items()}
    if not data.return_sequences:
        y = data.last_step(y)
    return y, final


def _match(quantities: list[_Quantity], result: Result) -> tuple[_Quantity, float] | None:
    """(worst quantity, its error) when the variant reproduces every quantity and differs from the reference."""
    y, final = result
    worst: tuple[_Quantity, float] | None = None
    distinct = False
    for q in quantities:
        value = y if q.key == "y" else final.get(q.key)
        if value is None or value.shape != q.actual.shape or not np.all(np.isfinite(value)):
            return None
        error = scaled_error(q.actual, value)[0]
        if not error <= q.bound:
            return None
        if value.shape != q.expected.shape or scaled_error(value, q.expected)[0] > DISTINCT * q.bound:
            distinct = True
        if worst is None or error / q.bound > worst[1] / worst[0].bound:
            worst = (q, error)
    return worst if distinct else None
