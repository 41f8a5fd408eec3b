"""Precisions a check runs in, and the error bound each one gets.

A fixed atol per dtype cannot separate a correct float32 kernel from a wrong
one (a cell state rounded to half precision is off by ~2e-4, TF32 matmuls by
~4e-4), so the bound is relative to a *yardstick*: the spec's own equations
evaluated in the same precision, on the same device, with the same math mode.
As in PyTorch's compiler test-suite (``torch._dynamo.utils.same`` with a
float64 reference), an implementation passes when

    error(impl vs float64 reference) <= multiplier * error(yardstick vs float64 reference) + floor

``error`` is the largest absolute difference divided by max(1, the largest
absolute value of the float64 reference): relative for large gradients,
absolute for small quantities, whose rounding noise comes from O(1) sums. The floor absorbs cases where the yardstick happens
to be exact; it is a few hundred units in the last place of the precision.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from ..registry import Registry

MULTIPLIER = 4.0

#: Per storage dtype: significand bits (with the implicit one) and bytes per number.
MANTISSA = {"float64": 53, "float32": 24, "float16": 11, "bfloat16": 8}
ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class Precision:
    name: str
    dtype: str  # storage dtype of inputs, parameters and outputs
    tf32: bool  # TF32 matmuls/convolutions allowed (CUDA only)
    floor: float
    doc: str
    cuda_only: bool = False

    @property
    def mantissa(self) -> int:
        """Significand bits of the storage dtype: a rounding coarser than this is a deviation, not noise."""
        return MANTISSA[self.dtype]

    @property
    def itemsize(self) -> int:
        """Bytes per stored number (what a run moves; TF32 stores float32)."""
        return ITEMSIZE[self.dtype]

    def bound(self, yardstick_error: float) -> float:
        return MULTIPLIER * yardstick_error + self.floor


PRECISIONS: Registry[Precision] = Registry("precision")
for _p in [
    Precision("float64", "float64", False, 1e-12, "IEEE double; TF32 off"),
    Precision("float32", "float32", False, 4e-6, "IEEE single with TF32 explicitly off (a plain 'float32' cuDNN run is TF32 by default)"),
    Precision("tf32", "float32", True, 4e-3, "float32 storage, TF32 matmuls and convolutions allowed (10-bit mantissa)", cuda_only=True),
    Precision("float16", "float16", False, 4e-3, "IEEE half"),
    Precision("bfloat16", "bfloat16", False, 3e-2, "bfloat16 (8-bit mantissa)"),
]:
    PRECISIONS.register(_p.name, _p)

CPU_DEFAULT = ("float64", "float32")
CUDA_DEFAULT = ("float32", "tf32", "float16", "bfloat16")


def torch_dtype(precision: Precision) -> Any:
    import torch

    return getattr(torch, precision.dtype)


@contextmanager
def torch_math_mode(precision: Precision) -> Iterator[None]:
    """Set TF32 on or off for matmuls and cuDNN for the duration, then restore.

    Never inherit the process' setting: ``torch.backends.cudnn.allow_tf32``
    defaults to True, which silently turns a 'float32' cuDNN LSTM into TF32.
    """
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = precision.tf32
    torch.backends.cudnn.allow_tf32 = precision.tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def math_mode_note(precision: Precision, device: str) -> str:
    if device == "cpu":
        return "CPU (no TF32)"
    return "TF32 allowed" if precision.tf32 else "TF32 off"
