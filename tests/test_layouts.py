"""Framework layouts: canonical parameters to a framework's tensors and back, shapes from the spec."""
from __future__ import annotations

import numpy as np
import pytest

import lstmspec
from lstmspec.errors import LookupFailed, ShapeError
from lstmspec.expr.dims import render_shape


@pytest.fixture
def lstm():
    return lstmspec.load_spec("lstm")


def test_keras_kernel_is_gates_i_f_g_o_concatenated_on_the_last_axis(lstm):
    params = lstm.random_params({}, 0, input=3, units=2)
    t = lstm.layout("keras").to_framework(params)
    assert t["kernel"].shape == (3, 8)
    np.testing.assert_array_equal(t["kernel"][:, 2:4], params["W_f"])
    np.testing.assert_array_equal(t["bias"][6:8], params["b_o"])


def test_onnx_orders_gates_i_o_f_g_with_a_direction_axis(lstm):
    params = lstm.random_params({}, 0, input=3, units=2)
    t = lstm.layout("onnx").to_framework(params)
    assert t["W"].shape == (1, 8, 3) and t["B"].shape == (1, 16)
    np.testing.assert_array_equal(t["W"][0, 2:4], params["W_o"].T)
    np.testing.assert_allclose(t["B"][0, 4:6] + t["B"][0, 12:14], params["b_f"], atol=1e-15)


def test_torch_bias_split_adds_up_and_is_random_when_asked(lstm):
    params = lstm.random_params({}, 0)
    t = lstm.layout("torch").to_framework(params, np.random.default_rng(1))
    assert not np.allclose(t["bias_ih_l0"], t["bias_hh_l0"])
    back = lstm.layout("torch").from_framework(t, {n: p.shape for n, p in params.items()})
    for name in params:
        np.testing.assert_allclose(back[name], params[name], atol=1e-15)


@pytest.mark.parametrize("spec_name", lstmspec.shipped_names())
def test_every_layout_round_trips(spec_name):
    spec = lstmspec.load_spec(spec_name)
    params = spec.random_params({}, 0)
    for layout in spec.layouts.values():
        back = layout.from_framework(layout.to_framework(params, np.random.default_rng(2)),
                                     {n: p.shape for n, p in params.items()})
        assert set(back) == set(params)
        for name in params:
            np.testing.assert_allclose(back[name], params[name], atol=1e-14)


def test_gradient_mapping_takes_one_part_of_a_sum(lstm):
    params = lstm.random_params({}, 0)
    t = lstm.layout("torch").to_framework(params)
    grads = lstm.layout("torch").from_framework(t, {n: p.shape for n, p in params.items()}, gradient=True)
    np.testing.assert_allclose(grads["b_i"], t["bias_ih_l0"][: params["b_i"].shape[0]])


def test_symbolic_shapes_of_framework_tensors(lstm):
    shapes = {k: render_shape(v) for k, v in lstm.layout("torch").symbolic_shapes(lstm.param_shapes()).items()}
    assert shapes["weight_ih_l0"] == "(4*units, input)"
    assert shapes["bias_hh_l0"] == "(4*units,)"
    onnx = lstm.layout("onnx").symbolic_shapes(lstm.param_shapes())
    assert render_shape(onnx["B"]) == "(1, 8*units)"
    conv = lstmspec.load_spec("convlstm2d")
    keras = conv.layout("keras").symbolic_shapes(conv.param_shapes())
    assert render_shape(keras["recurrent_kernel"]) == "(kernel_rows, kernel_cols, filters, 4*filters)"


def test_a_missing_framework_tensor_is_a_shape_error(lstm):
    params = lstm.random_params({}, 0)
    t = lstm.layout("torch").to_framework(params)
    del t["bias_hh_l0"]
    with pytest.raises(ShapeError, match="bias_hh_l0"):
        lstm.layout("torch").from_framework(t, {n: p.shape for n, p in params.items()})


def test_unknown_layout_lists_the_known_ones(lstm):
    with pytest.raises(LookupFailed, match="available: keras, onnx, torch"):
        lstm.layout("jax")
