"""The numpy backend's fast paths keep the oracle's results.

- sigmoid in place: bitwise the textbook 1 / (1 + exp(-x)), and the
  argument (a strided view of the fused product) is left alone;
- fused sums (the four gates' pre-activations as one sum over concatenated
  parameters) give bitwise the per-gate sums;
- the convolution in chunks (a patch matrix too large for one piece) equals
  the one-piece convolution bitwise.
"""
from __future__ import annotations

import numpy as np
import pytest

import lstmspec
from lstmspec.reference import conv
from lstmspec.reference.backends import NumpyBackend
from lstmspec.reference.program import Program
from lstmspec.reference.run import programs_of, run_reference


@pytest.fixture
def activations():
    return NumpyBackend(math="numpy").activations  # numpy's own functions, whatever the environment says


def _arguments():
    rng = np.random.default_rng(0)
    wide = np.geomspace(1e-300, 800.0, 200_000)
    return np.concatenate([wide, -wide, rng.standard_normal(100_000) * 3, rng.uniform(-0.6, 0.6, 100_000)])


def test_sigmoid_leaves_its_argument_alone(activations):
    x = np.linspace(-3, 3, 7)
    view = np.stack([x, x], axis=-1)[..., 0]  # a strided view, as a gate's slice of the fused product is
    before = view.copy()
    activations["sigmoid"](view)
    np.testing.assert_array_equal(view, before)


def test_sigmoid_is_bitwise_the_textbook_formula(activations):
    x = _arguments()
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(activations["sigmoid"](x), 1.0 / (1.0 + np.exp(-x)))


def test_convolution_in_chunks_equals_one_piece(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 3, 9, 8, 2))
    w = rng.standard_normal((3, 2, 2, 4))
    whole = conv.conv_numpy(x, w, "same", (2, 1), (1, 2))
    monkeypatch.setattr(conv, "_IM2COL_BYTES", 5000)  # a few rows of patches per piece
    chunked = conv.conv_numpy(x, w, "same", (2, 1), (1, 2))
    np.testing.assert_array_equal(chunked, whole)
    assert conv.conv_numpy(x[:0], w, "same", (2, 1), (1, 2)).shape == (0, 3, 5, 8, 4), "an empty batch"


@pytest.mark.parametrize("name, config, dims", [
    ("lstm", {}, dict(batch=3, time=4, input=5, units=7)),
    ("lstm_peephole", {}, dict(batch=3, time=4, input=5, units=7)),  # one gate without peephole fuses alone
    ("convlstm2d", {"padding": "same"}, dict(batch=2, time=3, rows=6, cols=5, channels=2, filters=3)),
    ("mdlstm2d", {}, {}),  # three products and a bias per gate, on a grid
    ("spatial_lstm", {}, {}),
])
def test_fused_sums_are_bitwise_the_per_gate_sums(monkeypatch, name, config, dims):
    spec = lstmspec.load_spec(name)
    rng = np.random.default_rng(3)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    fused_y, fused_final = run_reference(spec, x, state, params, config, backend=NumpyBackend(math="numpy"))
    assert any(p.sum_groups for p in programs_of(spec).values()), "the sums were not fused"
    monkeypatch.setattr(Program, "_fused_sum", lambda self, node: None)
    programs_of(spec).clear()
    y, final = run_reference(spec, x, state, params, config, backend=NumpyBackend(math="numpy"))
    assert not any(p.sum_groups for p in programs_of(spec).values())
    np.testing.assert_array_equal(fused_y, y)
    for key in final:
        np.testing.assert_array_equal(fused_final[key], final[key])


@pytest.mark.parametrize("kernel, strides, dilation, padding", [
    ((3, 3), (1, 1), (1, 1), "same"),  # the ConvLSTM2D recurrent conv
    ((2, 3), (1, 2), (2, 1), "valid"),  # even kernel, strides and dilation on the other axis
    ((3, 2, 2), (1, 1, 2), (1, 2, 1), "same"),  # 3-D
])
def test_first_axis_split_equals_one_gemm_to_rounding_and_in_chunks(monkeypatch, kernel, strides, dilation, padding):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2) + (9, 8, 7)[:len(kernel)] + (16,))
    w = rng.standard_normal(kernel + (16, 5))
    split = conv.conv_numpy(x, w, padding, strides, dilation)
    monkeypatch.setattr(conv, "_IM2COL_BYTES", 20000)
    np.testing.assert_array_equal(conv.conv_numpy(x, w, padding, strides, dilation), split)
    monkeypatch.setattr(conv, "_SPLIT_MIN_ROW", 10**9)  # one GEMM over whole patches
    whole = conv.conv_numpy(x, w, padding, strides, dilation)
    np.testing.assert_allclose(split, whole, rtol=0, atol=1e-13)
    assert not np.array_equal(split, whole), "the split path did not run: the test no longer covers it"
