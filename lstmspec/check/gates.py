"""Where a failing kernel first leaves the equations, gate by gate.

A kernel that declares ``lstmspec_gates = True`` returns its gate values as
well, ``(y, final_state, gates)`` with ``gates[name]`` shaped like ``y``
(step t at input position t). When such a kernel fails a case, its gates are
compared with the spec's, step by step in processing order, and the failure
says at which step which gate left the reference first: "gate f at step 1"
points at the forget gate's weights, bias or activation before any state
has carried the error further.

The reference gates are computed by the plain evaluator (``step_values``,
numpy float64, the path ``lstmspec trace`` prints), not by the compiled
program that computes the reference outputs. This is a localisation aid: it
never changes a case's verdict, and it is computed only for failed cases of
sequence recurrences in channels-last layout.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .compare import error_scale
from .oracle import CaseData


def reference_gates(data: CaseData) -> dict[str, np.ndarray] | None:
    """Every gate at every step, aligned with the input positions like ``y``; None where not computed."""
    from ..reference.backends import get_backend
    from ..reference.evaluate import step_values
    from ..reference.program import time_axis
    from ..reference.transforms import apply_transforms

    spec = data.spec
    if spec.is_grid or not spec.gates or data.attrs.get("data_format", "channels_last") != "channels_last":
        return None
    be = get_backend("numpy")
    (input_name, _), = spec.inputs.items()
    core = apply_transforms(spec, data.attrs, {input_name: data.x}, be) if spec.transforms else {input_name: data.x}
    (core_name, core_decl), = spec.core_inputs().items()
    seq = np.asarray(core[core_name])
    steps = seq.shape[time_axis(spec, core_decl)]
    order = list(range(steps))[::-1] if spec.recurrence.reversed(data.attrs) else list(range(steps))
    current = {k: np.asarray(v) for k, v in data.state.items()}
    params = {k: np.asarray(v) for k, v in data.params.items()}
    values: dict[str, list[np.ndarray]] = {g: [] for g in spec.gates}
    for t in order:
        env = {**params, core_name: np.take(seq, t, axis=time_axis(spec, core_decl)), **current}
        env.update(step_values(spec, data.attrs, env, be))
        for g in spec.gates:
            values[g].append(np.asarray(env[g]))
        current = {name: env[decl.next] for name, decl in spec.states.items()}
    (_, out_decl), = list(spec.outputs.items())[:1]
    axis = time_axis(spec, out_decl)
    out = {}
    for g, per_step in values.items():
        stacked = np.stack(per_step, axis=axis)
        out[g] = np.flip(stacked, axis) if order and order[0] != 0 else stacked
    return out


def first_divergence(data: CaseData, actual: Mapping[str, Any], bound: float) -> str:
    """"gate f at step 1 ..." for the earliest (step in processing order, gate in spec order) over ``bound``."""
    expected = reference_gates(data)
    if expected is None:
        return ""
    spec = data.spec
    unknown = sorted(set(actual) - set(expected))
    if unknown:
        return f"gates: the kernel returned {', '.join(unknown)}, which {spec.name} does not have " \
               f"(its gates: {', '.join(expected)})"
    axis = data.time_axis
    steps = next(iter(expected.values())).shape[axis]
    order = list(range(steps))[::-1] if spec.recurrence.reversed(data.attrs) else list(range(steps))
    for k, t in enumerate(order):
        over = []
        for g in spec.gates:
            if g not in actual:
                continue
            a, e = np.asarray(actual[g], dtype=np.float64), expected[g]
            if a.shape != e.shape:
                return f"gates: gate {g} has shape {a.shape}, but y's shape {e.shape} was expected"
            a_t, e_t = np.take(a, t, axis=axis), np.take(e, t, axis=axis)
            error = float(np.max(np.abs(a_t - e_t))) / error_scale(e) if np.all(np.isfinite(a_t)) else float("inf")
            if error > bound:
                over.append(f"{g} (error {error:.3g})")
        if over:
            where = f"step {k}" + (f" (input position {t})" if t != k else "")
            fine = [g for g in spec.gates if g in actual and not any(o.startswith(f"{g} ") for o in over)]
            rest = f"; {', '.join(fine)} within the bound there" if fine else ""
            return f"gates: first over the bound {bound:.3g} at {where}: {', '.join(over)}{rest}"
    return f"gates: every gate within the bound {bound:.3g} at every step (the error is after the gates)"


__all__ = ["reference_gates", "first_divergence"]
