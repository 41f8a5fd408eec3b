"""N-d cross-correlation, channels last, with TensorFlow's padding rule.

``x`` is ``(lead..., s_1..s_n, C)`` (any number of leading axes: batch, or
batch and time when the input term is computed for all timesteps at once),
``w`` is ``(k_1..k_n, C, F)``; the result is ``(lead..., o_1..o_n, F)``.
``same`` padding puts the odd extra row/column after (bottom/right), as
TensorFlow does, see ``lstmspec.expr.dims.same_padding``.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from math import prod
from typing import Any

import numpy as np

from ..expr.dims import conv_output_size, same_padding
from .mathlib import ReferenceMath

_NUMPY = ReferenceMath("numpy")


def _pads(spatial: Sequence[int], kernel: Sequence[int], padding: str, strides: Sequence[int], dilation: Sequence[int]):
    if padding == "same":
        return [same_padding(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]
    return [(0, 0)] * len(spatial)


_IM2COL_BYTES = 256 * 2**20  # largest patch matrix built at once; bigger inputs go in chunks
#: the first kernel axis is split off (one GEMM per offset along it) when the other axes' patch
#: rows hold at least this many numbers: the ConvLSTM2D recurrent conv (3x3 over 16 channels, 48 per
#: offset) ran 15% faster so; the input conv (3x3 over 8 channels, 24) ran no faster, its GEMMs too thin.
_SPLIT_MIN_ROW = 32


def conv_numpy(
    x: np.ndarray, w: np.ndarray, padding: str, strides: Sequence[int], dilation: Sequence[int],
    math: ReferenceMath = _NUMPY,
) -> np.ndarray:
    """im2col: gather every kernel offset's window into one contiguous patch
    matrix, then one GEMM with the flattened kernel; no Python loop over pixels.

    Contiguity matters: a matmul over a strided window view falls off BLAS and
    was measured 3x slower than Keras. The gather copies, per offset of the
    outer kernel axes, a window whose last axis holds all ``k_n`` taps of the
    innermost axis at once: with dilation 1 there, that is ``k_n * C``
    contiguous numbers per pixel, and the copy runs ``k_n`` times fewer inner
    loops than a gather per offset (measured 1.6x faster on the whole
    convolution, 3x3 kernel, 8 channels). The patch matrix is k_1*...*k_n times
    the output, so large inputs are processed in chunks of leading rows.

    With stride 1 along the first spatial axis, the gather may skip that axis's
    offsets: the patches of the other axes, gathered once over the whole padded
    first axis, hold every offset's rows as a contiguous slice, so one GEMM per
    offset reads them in place and the results are added (``_SPLIT_MIN_ROW``).
    The sum then runs in another order than one GEMM's: results differ in the
    last bits. ``math`` runs the GEMMs (numpy's matmul, or torch's, see ``mathlib.py``).
    """
    n = w.ndim - 2
    lead = x.ndim - n - 1
    spatial, kernel = x.shape[lead:lead + n], w.shape[:n]
    pads = _pads(spatial, kernel, padding, strides, dilation)
    if any(p != (0, 0) for p in pads):
        x = _zero_pad(x, lead, pads)
    padded = x.shape[lead:lead + n]
    out_sizes = tuple(conv_output_size(p, k, "valid", s, d) for p, k, s, d in zip(padded, kernel, strides, dilation))
    lead_shape = x.shape[:lead]
    rows = prod(lead_shape)
    x = np.ascontiguousarray(x).reshape((rows,) + x.shape[lead:])
    channels, filters = x.shape[-1], w.shape[-1]
    split = n >= 2 and kernel[0] > 1 and strides[0] == 1 and prod(kernel[1:]) * channels >= _SPLIT_MIN_ROW
    first = 1 if split else 0  # kernel axes from here on are gathered
    dtype = np.result_type(x, w)
    flat_w = w.reshape((kernel[0], -1, filters) if split else (-1, filters))  # a patch row's order
    gathered = ((padded[0],) if split else ()) + out_sizes[first:]
    per_row = prod(gathered) * flat_w.shape[-2] * dtype.itemsize
    chunk = max(1, _IM2COL_BYTES // max(per_row, 1))
    out = None if 0 < rows <= chunk else np.empty((rows,) + out_sizes + (filters,), dtype=dtype)
    for start in range(0, rows, chunk):
        part = x[start:start + chunk]
        cols = _patches(part, kernel, strides, dilation, gathered, first, dtype)
        if split:
            flat = _split_gemm(cols.reshape(part.shape[0], -1, flat_w.shape[-2]), flat_w, out_sizes, dilation[0],
                               math)
        else:
            flat = math.matmul(cols.reshape(-1, flat_w.shape[0]), flat_w)
        if out is None:  # one chunk: the product is the result, no copy
            return flat.reshape(lead_shape + out_sizes + (filters,))
        out[start:start + chunk] = flat.reshape((part.shape[0],) + out_sizes + (filters,))
    return out.reshape(lead_shape + out_sizes + (filters,))


def _patches(part: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int],
             gathered: tuple[int, ...], first: int, dtype: Any) -> np.ndarray:
    """The patch rows of kernel axes ``first..n-1``: ``(rows, gathered..., K)``, contiguous.

    Axes before ``first`` are kept whole (stride 1). One copy per offset of the
    kernel axes but the last, whose taps are copied at once (see conv_numpy).
    """
    n = len(kernel)
    outer = list(product(*(range(k) for k in kernel[first:-1])))
    channels, taps, gap = part.shape[-1], kernel[-1], dilation[-1]
    window_shape = (part.shape[0],) + gathered + (taps, channels)
    axis_strides = part.strides[1:1 + n]
    window_strides = ((part.strides[0],) + axis_strides[:first]
                      + tuple(st * s for st, s in zip(axis_strides[first:], strides[first:]))
                      + (axis_strides[-1] * gap, part.strides[-1]))
    cols = np.empty((part.shape[0],) + gathered + (len(outer), taps, channels), dtype=dtype)
    for k, offset in enumerate(outer):
        # the window of this offset as a view of ``part`` (contiguous): (rows, gathered..., k_n, C)
        start = sum(o * d * st for o, d, st in zip(offset, dilation[first:], axis_strides[first:]))
        cols[..., k, :, :] = np.ndarray(window_shape, dtype=part.dtype, buffer=part, offset=start,
                                        strides=window_strides)
    return cols


def _split_gemm(cols: np.ndarray, flat_w: np.ndarray, out_sizes: tuple[int, ...], gap: int,
                math: ReferenceMath) -> np.ndarray:
    """Sum over the first kernel axis's offsets of (rows along it, slid by the offset) @ that offset's kernel.

    ``cols`` is ``(rows, padded_0 * rest, K)``; each offset's operand is a
    contiguous slice per leading row, handed to BLAS without a copy.
    """
    rest = prod(out_sizes[1:])
    size = out_sizes[0] * rest
    out = math.matmul(cols[:, 0:size], flat_w[0])
    for k in range(1, flat_w.shape[0]):
        offset = k * gap * rest
        math.matmul_add(out, cols[:, offset:offset + size], flat_w[k])
    return out


def _zero_pad(x: np.ndarray, lead: int, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """np.pad with zeros, without its per-call overhead (this runs once per timestep)."""
    shape = x.shape[:lead] + tuple(s + a + b for s, (a, b) in zip(x.shape[lead:-1], pads)) + x.shape[-1:]
    out = np.zeros(shape, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(a, a + s) for s, (a, _) in zip(x.shape[lead:-1], pads)) + (slice(None),)] = x
    return out


def conv_torch(x: Any, w: Any, padding: str, strides: Sequence[int], dilation: Sequence[int]) -> Any:
    """The same convolution with ``torch.nn.functional.conv{1,2,3}d`` (channels first inside)."""
    import torch
    import torch.nn.functional as F

    n = w.dim() - 2
    lead_shape = x.shape[: x.dim() - n - 1]
    spatial = x.shape[x.dim() - n - 1:-1]
    xs = x.reshape((-1,) + tuple(spatial) + (x.shape[-1],))
    xs = torch.movedim(xs, -1, 1).contiguous()  # (N, C, s...)
    pads = _pads(spatial, w.shape[:n], padding, strides, dilation)
    flat_pad: list[int] = []
    for before, after in reversed(pads):  # F.pad wants the last axis first
        flat_pad += [before, after]
    if any(flat_pad):
        xs = F.pad(xs, flat_pad)
    # (F, C, k...), contiguous: torch's CPU conv backward refuses a strided weight view when an axis has size 1
    # ("slow_conv2d: grad_weight must be contiguous", seen with one filter)
    weight = torch.movedim(torch.movedim(w, -1, 0), -1, 1).contiguous()
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]
    y = conv(xs, weight, stride=tuple(strides), dilation=tuple(dilation))
    y = torch.movedim(y, 1, -1)
    return y.reshape(tuple(lead_shape) + tuple(y.shape[1:]))
