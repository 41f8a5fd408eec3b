"""The case matrix: lstmspec/check/cases.py (sizes from the dims' roles, cases centred on what a kernel supports)."""
from __future__ import annotations

import numpy as np
import pytest

from lstmspec.check.cases import default_matrix, dim_roles, make_case, matrix_for
from lstmspec.check.oracle import make_data
from lstmspec.check.runner import declared_skip
from lstmspec.spec.catalog import load_spec

SAME_ONLY = {"padding": ("same",), "strides": ((1, 1),), "dilation": ((1, 1),), "activation": ("tanh",),
             "recurrent_activation": ("sigmoid",), "return_sequences": (True,)}
FORWARD_TANH_SIGMOID = {"direction": ("forward",), "activation": ("tanh",), "recurrent_activation": ("sigmoid",),
                        "return_sequences": (True,)}


class Declares:
    def __init__(self, supports: dict) -> None:
        self.name, self.supports = "k", supports
        self.declared = set(supports)


@pytest.mark.parametrize("spec_name, supports", [("convlstm2d", SAME_ONLY), ("lstm", FORWARD_TANH_SIGMOID)])
def test_a_kernel_supporting_a_subset_gets_at_least_12_checked_cases(spec_name: str, supports: dict) -> None:
    spec = load_spec(spec_name)
    cases = matrix_for(spec, [supports])
    runnable = [c for c in cases if declared_skip(spec, Declares(supports), c) is None]
    assert len({c.key for c in runnable}) >= 12, [c.label for c in runnable]


def test_variations_are_centred_on_the_supported_configuration_not_the_spec_default() -> None:
    spec = load_spec("convlstm2d")
    cases = default_matrix(spec, SAME_ONLY)
    assert cases and all(dict(c.attrs).get("padding") == "same" for c in cases)
    labels = " | ".join(c.label for c in cases)
    for variation in ("one timestep", "batch of one", "no initial state", "33 timesteps", "odd, non-square image",
                      "saturated gates", "filters=1"):
        assert variation in labels


def test_roles_are_read_off_the_first_input_and_state() -> None:
    roles = dim_roles(load_spec("convlstm2d"))
    assert (roles.batch, roles.time, roles.features, roles.units, roles.spatial) == \
        ("batch", "time", "channels", "filters", ("rows", "cols"))
    roles = dim_roles(load_spec("lstm"))
    assert (roles.features, roles.units, roles.spatial) == ("input", "units", ())


def test_the_default_matrix_has_the_size_axis() -> None:
    spec = load_spec("lstm")
    dims = [dict(c.dims) for c in default_matrix(spec)]
    assert any(d["units"] == 1 for d in dims)
    assert any(d["time"] >= 32 for d in dims)
    assert any(d["input"] > d["units"] for d in dims) and any(d["input"] < d["units"] for d in dims)
    assert any(dict(c.options).get("scale") == "large" for c in default_matrix(spec))


def test_odd_non_square_image_sizes_for_conv_specs() -> None:
    spec = load_spec("convlstm2d")
    images = [dict(c.dims) for c in default_matrix(spec) if c.label.startswith("odd, non-square")]
    assert images and all(d["rows"] % 2 and d["cols"] % 2 and d["rows"] != d["cols"] for d in images)


def test_the_large_scale_case_saturates_the_gates() -> None:
    spec = load_spec("lstm")
    normal = make_data(spec, make_case(spec), 0)
    large = make_data(spec, make_case(spec, options={"scale": "large"}), 0)
    pre = lambda d: np.abs(d.x @ d.params["W_i"] + d.params["b_i"]).max()  # noqa: E731
    assert pre(large) > 8 * pre(normal) / 2 and pre(large) > 3  # sigmoid'(3) < 0.05: saturated


def test_matrix_for_adds_only_cases_the_default_matrix_lacks() -> None:
    spec = load_spec("convlstm2d")
    base = default_matrix(spec)
    both = matrix_for(spec, [SAME_ONLY])
    assert both[:len(base)] == base and len({c.key for c in both}) == len(both) > len(base)
