"""Array backends the reference program runs on: numpy (the float64 oracle) and torch (for autograd).

A backend supplies only what differs between array libraries: activations,
convolution, concatenation, stacking and splitting. ``+ - * @`` are the
libraries' own operators.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..registry import Registry
from .conv import conv_numpy, conv_torch
from .mathlib import ReferenceMath


class Backend:
    name: str
    activations: dict[str, Callable[[Any], Any]]
    #: whether the reference may run batch shards of one call in threads (``shards.py``)
    shards_batch: bool = False
    #: whether the program may add into its own temporaries (not under autograd)
    in_place: bool = False

    @property
    def key(self) -> tuple:
        """Identifies compiled programs: backends with equal keys compute identically."""
        return (self.name,)

    def activation(self, name: str) -> Callable[[Any], Any]:
        return self.activations[name]

    def matmul(self, a: Any, b: Any) -> Any:
        """``a @ b``: the library's own operator unless the backend routes GEMMs elsewhere."""
        return a @ b

    def conv(self, x: Any, w: Any, padding: str, strides: Sequence[int], dilation: Sequence[int]) -> Any:
        raise NotImplementedError

    def concat(self, arrays: Sequence[Any]) -> Any:
        raise NotImplementedError

    def stack(self, arrays: Sequence[Any], axis: int) -> Any:
        raise NotImplementedError

    def split(self, array: Any, sizes: Sequence[int]) -> list[Any]:
        raise NotImplementedError

    def unstack(self, array: Any, axis: int) -> list[Any]:
        raise NotImplementedError

    def moveaxis(self, array: Any, source: int, destination: int) -> Any:
        raise NotImplementedError

    def asarray(self, value: Any) -> Any:
        raise NotImplementedError

    def flip(self, array: Any, axis: int) -> Any:
        raise NotImplementedError

    def zeros(self, shape: Sequence[int]) -> Any:
        """A zero array of the backend's dtype (and device)."""
        raise NotImplementedError

    def concat_first(self, arrays: Sequence[Any]) -> Any:
        """Concatenation along the first axis."""
        raise NotImplementedError

    def index(self, indices: np.ndarray) -> Any:
        """Integer indices (numpy) in the form the backend indexes with."""
        return indices

    def pad(self, array: Any, pads: Sequence[tuple[int, int]]) -> Any:
        """Zero padding, (before, after) per axis."""
        raise NotImplementedError


class NumpyBackend(Backend):
    """float64 numpy: the oracle. tanh and sigmoid of large arrays may go through torch's
    vectorized kernels, as accurate as numpy's and 2-4x faster, and GEMMs through torch's MKL
    on an Intel CPU (``mathlib.py``);
    ``math`` is a choice of ``mathlib.CHOICES``, by default ``$LSTMSPEC_REFERENCE_MATH`` or auto."""

    name = "numpy"
    shards_batch = True
    in_place = True

    def __init__(self, math: str | None = None) -> None:
        self.math = ReferenceMath(math)
        self.activations = {
            "sigmoid": self.math.sigmoid,
            # libm-accurate (or SLEEF, as accurate); 1 - 2/(exp(2x)+1) was 3x faster than np.tanh
            # but its error near 0 is absolute, not relative
            "tanh": self.math.tanh,
            "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
            "hard_sigmoid_keras2": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
            "relu": lambda x: np.maximum(x, 0.0),
            "linear": lambda x: x,
        }

    @property
    def key(self) -> tuple:
        return (self.name, self.math.choice)

    def matmul(self, a, b):
        return self.math.matmul(a, b)

    def conv(self, x, w, padding, strides, dilation):
        return conv_numpy(x, w, padding, strides, dilation, self.math)

    def concat(self, arrays):
        return np.concatenate(arrays, axis=-1)

    def stack(self, arrays, axis):
        return np.stack(arrays, axis=axis)

    def split(self, array, sizes):
        # slices, not np.split: this runs once per step and np.split's overhead showed in profiles
        out, start = [], 0
        for size in sizes:
            out.append(array[..., start:start + size])
            start += size
        return out

    def concat_first(self, arrays):
        return np.concatenate(arrays, axis=0)

    def unstack(self, array, axis):
        return list(np.moveaxis(array, axis, 0))

    def moveaxis(self, array, source, destination):
        return np.moveaxis(array, source, destination)

    def flip(self, array, axis):
        return np.flip(array, axis)

    def asarray(self, value):
        return np.asarray(value, dtype=np.float64)

    def zeros(self, shape):
        return np.zeros(tuple(shape))

    def pad(self, array, pads):
        return np.pad(array, list(pads))


class TorchBackend(Backend):
    """torch tensors of one dtype on one device: float64 on the CPU for autograd of the
    spec itself, lower precisions to measure what a straightforward implementation of
    the equations loses in that precision (the yardstick of the tolerances)."""

    name = "torch"

    def __init__(self, dtype: str = "float64", device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.dtype = getattr(torch, dtype)
        self.device = torch.device(device)
        f = torch.nn.functional
        self.activations = {
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "hard_sigmoid": lambda x: torch.clamp(x / 6.0 + 0.5, 0.0, 1.0),
            "hard_sigmoid_keras2": lambda x: torch.clamp(0.2 * x + 0.5, 0.0, 1.0),
            "relu": f.relu,
            "linear": lambda x: x,
        }

    def conv(self, x, w, padding, strides, dilation):
        return conv_torch(x, w, padding, strides, dilation)

    def concat(self, arrays):
        return self.torch.cat(list(arrays), dim=-1)

    def stack(self, arrays, axis):
        return self.torch.stack(list(arrays), dim=axis)

    def split(self, array, sizes):
        return list(self.torch.split(array, list(sizes), dim=-1))

    def unstack(self, array, axis):
        return list(self.torch.unbind(array, dim=axis))

    def moveaxis(self, array, source, destination):
        return self.torch.movedim(array, source, destination)

    def flip(self, array, axis):
        return self.torch.flip(array, (axis,))

    def zeros(self, shape):
        return self.torch.zeros(tuple(shape), dtype=self.dtype, device=self.device)

    def concat_first(self, arrays):
        return self.torch.cat(list(arrays), dim=0)

    def index(self, indices):
        return self.torch.as_tensor(indices, dtype=self.torch.long, device=self.device)

    def pad(self, array, pads):
        flat: list[int] = []
        for before, after in reversed(list(pads)):  # F.pad wants the last axis first
            flat += [before, after]
        return self.torch.nn.functional.pad(array, flat)

    @property
    def key(self) -> tuple:
        return (self.name, str(self.dtype), str(self.device))

    def asarray(self, value):
        if isinstance(value, self.torch.Tensor):
            if value.dtype == self.dtype and value.device == self.device:
                return value
            return value.to(device=self.device, dtype=self.dtype)
        return self.torch.as_tensor(np.asarray(value), dtype=self.dtype, device=self.device)


BACKENDS: Registry[Callable[[], Backend]] = Registry("backend")
BACKENDS.register("numpy", NumpyBackend)
BACKENDS.register("torch", TorchBackend)

_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    if name not in _instances:
        _instances[name] = BACKENDS.get(name)()
    return _instances[name]
