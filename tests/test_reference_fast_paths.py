"""The numpy backend's fast paths keep the oracle's results.

- sigmoid in place: bitwise the textbook 1 / (1 + exp(-x)), and the
  argument (a strided view of the fused product) is left alone;
- the convolution in chunks (a patch matrix too large for one piece) equals
  the one-piece convolution bitwise.
"""
from __future__ import annotations

import numpy as np
import pytest

from lstmspec.reference import conv
from lstmspec.reference.backends import get_backend


@pytest.fixture
def activations():
    return get_backend("numpy").activations


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
