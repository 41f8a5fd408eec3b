"""Meta-test of the reference: the compiled program equals the plain evaluator on every shipped case.

The reference runs a compiled program (``reference/program.py``: hoisting, fused
products and sums, batch shards; ``reference/grid.py``: wavefronts). Its
rewrites must not change what the equations say. Here, for every shipped spec
and every case of its default matrix, the same inputs go through the plain
tree-walking evaluator (``reference/evaluate.py``), one step (one cell) at a
time, and both must agree in float64 to rounding.
"""
from __future__ import annotations

import numpy as np
import pytest

import lstmspec
from lstmspec.check.cases import default_matrix
from lstmspec.check.oracle import make_data
from lstmspec.reference.backends import get_backend
from lstmspec.reference.binding import leading_axes
from lstmspec.reference.data_format import data_format, from_format, to_format
from lstmspec.reference.evaluate import step_values
from lstmspec.reference.grid import run_grid_loop
from lstmspec.reference.transforms import apply_transforms
from lstmspec.spec.catalog import shipped_names

RTOL = ATOL = 1e-12  # float64 rounding of a few hundred operations per value


def plain_sequence(spec, x, state, params, attrs):
    """The equations step by step over the sequence, read from the spec as written (no rewrites)."""
    be = get_backend("numpy")
    fmt = data_format(attrs)
    x = from_format(np.asarray(x), leading_axes(spec, spec.first_input), fmt)
    state = {k: from_format(np.asarray(v), leading_axes(spec, spec.states[k]), fmt) for k, v in state.items()}
    if spec.transforms:
        (x,) = apply_transforms(spec, attrs, {next(iter(spec.inputs)): x}, be).values()
    core_name = next(iter(spec.core_inputs()))
    axis = spec.time_axis(spec.core_input)
    steps = x.shape[axis]
    order = range(steps - 1, -1, -1) if spec.recurrence.reversed(attrs) else range(steps)
    ys = [None] * steps
    for t in order:
        env = {**params, **state, core_name: np.take(x, t, axis=axis)}
        values = step_values(spec, attrs, env, be)
        ys[t] = values[spec.first_output.step]
        state = {name: values[decl.next] for name, decl in spec.states.items()}
    y = np.stack(ys, axis=spec.time_axis(spec.first_output))
    y = to_format(y, leading_axes(spec, spec.first_output), fmt)
    return y, {k: to_format(v, leading_axes(spec, spec.states[k]), fmt) for k, v in state.items()}


def plain(spec, x, state, params, attrs):
    if spec.is_grid:
        return run_grid_loop(spec, x, state, params, attrs)
    return plain_sequence(spec, x, state, params, attrs)


def cases():
    for name in shipped_names():
        spec = lstmspec.load_spec(name)
        for case in default_matrix(spec):
            yield pytest.param(name, case, id=f"{name}[{case.key}]")


def test_every_shipped_spec_has_cases_to_compare():
    counts = {name: len(default_matrix(lstmspec.load_spec(name))) for name in shipped_names()}
    assert len(counts) >= 12 and min(counts.values()) > 0, counts


@pytest.mark.parametrize("name, case", list(cases()))
def test_the_compiled_program_equals_the_plain_evaluator(name, case):
    spec = lstmspec.load_spec(name)
    data = make_data(spec, case, 0)
    y, final = spec.reference(data.x, data.state, data.params, data.attrs)
    y_plain, final_plain = plain(spec, data.x, data.state, data.params, data.attrs)
    np.testing.assert_allclose(y, y_plain, rtol=RTOL, atol=ATOL, err_msg=f"{name} {case.key}: y")
    assert set(final) == set(final_plain)
    for key in final:
        np.testing.assert_allclose(final[key], final_plain[key], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name} {case.key}: final {key}")
