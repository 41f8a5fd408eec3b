"""``lstmspec.strategies`` (hypothesis strategies of a spec's cases, inputs and parameters): what they draw.

Every drawn case must be one the checker accepts (its key parses back to it, every
derived size is at least 1), small, within the spec's declarations, and every
declared value must be reachable.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import lstmspec
from lstmspec import strategies as lst
from lstmspec.check.cases import DEFAULT_OPTIONS, OPTIONS, parse_case_key

#: pins a spec needs before it has any valid small case: cnn_convlstm's frames are halved
#: and then divided by 16 before the ConvLSTM, so frames of 8 pixels leave no rows at all
PINS = {"cnn_convlstm": {"frame_rows": 96, "frame_cols": 128}}
DRAWS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _size_bound(spec, name: str) -> int:
    if any(name in members for members in spec.dim_groups.values()):
        return lst.MAX_KERNEL
    return lst.MAX_SIZE.get(name, lst.MAX_OTHER)


@pytest.mark.parametrize("name", lstmspec.shipped_names())
@DRAWS
@given(data=st.data())
def test_drawn_cases_are_valid_small_and_within_the_declarations(name, data):
    spec = lstmspec.load_spec(name)
    pins = PINS.get(name, {})
    case = data.draw(lst.cases(spec, **pins), label="case")
    assert case.spec == name and case.label == "fuzz"
    again = parse_case_key(spec, case.key)
    assert (again.dims, again.attrs, again.options) == (case.dims, case.attrs, case.options), case.key
    sizes = spec.resolve_dims(dict(case.dims), case.config)
    assert min(sizes.values()) >= 1, f"sizes={sizes}, but every one should be >= 1 [{case.key}]"
    for dim, size in case.dims:
        bound = pins.get(dim, _size_bound(spec, dim))
        assert 1 <= size <= bound, f"{dim}={size}, but should be in [1, {bound}] [{case.key}]"
    for attr, value in case.attrs:
        declared = spec.attributes[attr]
        if declared.type == "ints":
            assert len(value) == (declared.length or 1) and all(1 <= v <= lst.MAX_STRIDE for v in value), case.key
        elif declared.values:
            assert value in declared.values, f"{attr}={value}, but should be one of {declared.values} [{case.key}]"
    for option, value in case.options:
        assert value in OPTIONS[option] and value != DEFAULT_OPTIONS[option], case.key


@DRAWS
@given(data=st.data())
def test_fixed_values_pin_and_allowed_values_restrict(data):
    spec = lstmspec.load_spec("convlstm2d")
    strides = [(1, 1), (2, 1)]
    case = data.draw(lst.cases(spec, batch=1, padding="same", allowed={"strides": strides, "filters": [2, 5]}))
    dims, config = dict(case.dims), spec.resolve_config(case.config)
    assert dims["batch"] == 1 and dims["filters"] in (2, 5), case.key
    assert config["padding"] == "same" and config["strides"] in strides, case.key


@DRAWS
@given(data=st.data())
def test_without_options_every_case_has_the_default_options(data):
    case = data.draw(lst.cases(lstmspec.load_spec("lstm"), options=False))
    assert case.options == () and all(case.option(o) == DEFAULT_OPTIONS[o] for o in OPTIONS)


@pytest.mark.parametrize("name, wanted", [
    ("lstm", {"direction": "reverse"}),
    ("lstm", {"activation": "linear", "recurrent_activation": "hard_sigmoid"}),
    ("convlstm2d", {"padding": "same", "strides": (2, 1)}),
    ("convlstm2d", {"data_format": "channels_first", "dilation": (1, 2)}),
    ("convlstm3d", {"padding": "valid", "strides": (1, 1, 2)}),
])
def test_declared_attribute_values_are_drawn(name, wanted):
    spec = lstmspec.load_spec(name)

    def has_them(case) -> bool:
        config = spec.resolve_config(case.config)
        return all(config[k] == v for k, v in wanted.items())

    assert has_them(find(lst.cases(spec), has_them, settings=settings(max_examples=2000, database=None)))


def test_a_batch_of_one_one_timestep_and_both_options_are_drawn():
    cases = lst.cases(lstmspec.load_spec("lstm"))
    few = settings(max_examples=2000, database=None)
    assert dict(find(cases, lambda c: dict(c.dims)["batch"] == 1, settings=few).dims)["batch"] == 1
    assert dict(find(cases, lambda c: dict(c.dims)["time"] == 1, settings=few).dims)["time"] == 1
    assert find(cases, lambda c: c.option("state") == "zeros", settings=few).option("state") == "zeros"
    assert find(cases, lambda c: not c.option("return_sequences"), settings=few).option("return_sequences") is False


@pytest.mark.parametrize("name", ["lstm", "convlstm2d"])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_drawn_params_and_inputs_fit_the_case_and_run_through_the_reference(name, data):
    spec = lstmspec.load_spec(name)
    case = data.draw(lst.cases(spec), label="case")
    params = data.draw(lst.params(spec, case), label="params")
    x, state = data.draw(lst.inputs(spec, case), label="inputs")
    assert set(params) == set(spec.params) and set(state) == set(spec.states)
    y, final = spec.reference(x, state, params, case.config)
    assert y.shape[0] == dict(case.dims)["batch"] and np.isfinite(y).all()
    assert all(np.isfinite(v).all() for v in final.values())


@settings(max_examples=20, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 5)), scale=st.floats(0.1, 10), data=st.data())
def test_arrays_are_finite_float64_of_the_shape_within_the_scale(shape, scale, data):
    a = data.draw(lst.arrays(shape, scale))
    assert a.shape == shape and a.dtype == np.float64
    assert np.isfinite(a).all() and np.abs(a).max() <= scale
