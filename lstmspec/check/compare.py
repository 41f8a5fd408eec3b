"""Compare one implementation's quantities with the float64 reference, bounded by the yardstick."""
from __future__ import annotations

from typing import Any

import numpy as np

from .precision import Precision
from .results import Comparison


def error_scale(expected: np.ndarray) -> float:
    """max(1, max |e|): relative error for large quantities, absolute for small ones.

    A pure relative error blows rounding noise up when a quantity happens to be
    tiny (ReLU gates can leave h_T near 1e-4 while the sums behind it are O(1)),
    and a correct float32 layer then failed 1 seed in 100.
    """
    return max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1.0)


def scaled_error(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(max |a - e| / max(1, max |e|), max |a - e|); NaN or Inf anywhere is an infinite error."""
    actual = np.asarray(actual, dtype=np.float64)
    if not np.all(np.isfinite(actual)):
        return float("inf"), float("inf")
    if actual.size == 0:
        return 0.0, 0.0
    diff = float(np.max(np.abs(actual - expected)))
    return diff / error_scale(expected), diff


def compare_shape(quantity: str, actual: tuple[int, ...], expected: tuple[int, ...], source: str) -> Comparison:
    ok = tuple(actual) == tuple(expected)
    msg = f"shape {tuple(actual)}" + ("" if ok else f", but {source} says {tuple(expected)}")
    return Comparison(quantity, "shape", ok, message=msg)


def compare_values(quantity: str, kind: str, actual: Any, expected: np.ndarray, yardstick: np.ndarray | None,
                   precision: Precision, time_axis: int | None = None) -> Comparison:
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        return Comparison(quantity, "shape", False,
                          message=f"shape {actual.shape}, but the spec says {expected.shape}")
    error, max_abs = scaled_error(actual, expected)
    yard = scaled_error(yardstick, expected)[0] if yardstick is not None else 0.0
    if not np.isfinite(yard):
        yard = 0.0  # a yardstick that overflows says nothing; the floor applies
    bound = precision.bound(yard)
    passed = error <= bound
    first = None
    if not passed and time_axis is not None and actual.ndim > time_axis:
        scale = error_scale(expected)
        for t in range(actual.shape[time_axis]):
            a, e = np.take(actual, t, axis=time_axis), np.take(expected, t, axis=time_axis)
            if not np.all(np.isfinite(a)) or float(np.max(np.abs(a - e))) / scale > bound:
                first = t
                break
    worst = None
    if not np.isfinite(error):
        message, first = nonfinite_message(actual, time_axis)
    else:
        message = ""
        if actual.size and not passed:
            worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(actual - expected))), actual.shape))
    return Comparison(quantity, kind, passed, error, max_abs, bound, yard, first, message, worst_index=worst)


def nonfinite_message(actual: np.ndarray, time_axis: int | None) -> tuple[str, int | None]:
    """Where NaN or Inf first appears: (message, its step along time_axis or None)."""
    bad = np.argwhere(~np.isfinite(actual.astype(np.float64)))
    if time_axis is not None and actual.ndim > time_axis:
        bad = bad[np.argsort(bad[:, time_axis], kind="stable")]
    index = tuple(int(i) for i in bad[0])
    what = "NaN" if np.isnan(actual[index]) else "Inf"
    step = index[time_axis] if time_axis is not None and actual.ndim > time_axis else None
    at = f" at step {step}," if step is not None else ""
    return (f"{what} first{at} index {index} ({len(bad)} of {actual.size} values are NaN or Inf)", step)
