"""Where the numpy reference's tanh and sigmoid come from: numpy, or torch's vectorized CPU kernels.

numpy has no vectorized float64 tanh below AVX-512: ``np.tanh`` calls libm
once per number, 36 ns on an AVX2 core, and the two tanh of a ConvLSTM step
took a quarter of the reference's time. torch's CPU kernels evaluate float64
tanh with SLEEF's vectorized code in 10 ns, and sigmoid in 6 ns against
numpy's 10.

Accuracy is the same. Measured against long double on 10 million arguments
from 1e-300 to 800, both signs: tanh is within 0.75 ulp through torch and
1.18 ulp through numpy; sigmoid is within 2.4 ulp both ways, the textbook
formula's rounding. So the oracle loses nothing, but its results may differ
from a numpy-only run in the last bit or two.

``LSTMSPEC_REFERENCE_MATH`` chooses:

* ``auto`` (the default): torch when it can be imported, else numpy;
* ``numpy``: numpy only, bitwise the textbook formulas;
* ``torch``: torch, and an error when it cannot be imported.

Arrays under ``SMALL`` numbers always go through numpy: there torch's per-call
overhead eats the gain, and a check of small cases never pays torch's import.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..registry import Registry

ENV = "LSTMSPEC_REFERENCE_MATH"
SMALL = 1 << 12
#: torch splits an elementwise op over its threads from 32768 numbers on
#: (``at::internal::GRAIN_SIZE``); smaller pieces run in the calling thread, so
#: the reference's batch shards (``shards.py``) stay one thread per core.
CHUNK = 1 << 14


def numpy_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in one fresh array: 1.8x faster than the expression's three temporaries
    (measured on a 4x32x32x48 float64 array), and bitwise the same.

    exp(-x) overflows to inf for x < -709, giving exactly 0: the program runs
    under np.errstate(over="ignore") for that reason.
    """
    out = np.negative(x)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _no_torch() -> Any:
    return None


def _torch_if_importable() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _torch_required() -> Any:
    try:
        import torch
    except ImportError as err:
        raise ConfigError(f"{ENV}=torch, but torch cannot be imported ({err}); "
                          f"install lstmspec[torch] or set {ENV}=numpy") from None
    return torch


#: each choice of ``LSTMSPEC_REFERENCE_MATH``: a loader giving the torch module, or None for numpy
CHOICES: Registry[Callable[[], Any]] = Registry(f"reference math ({ENV})")
CHOICES.register("auto", _torch_if_importable)
CHOICES.register("numpy", _no_torch)
CHOICES.register("torch", _torch_required)


class ReferenceMath:
    """tanh and sigmoid of float64 arrays, large ones through torch when the choice allows."""

    def __init__(self, choice: str | None = None) -> None:
        self.choice = choice if choice is not None else os.environ.get(ENV, "auto")
        self._load = CHOICES.get(self.choice)
        self._torch: Any = None
        self._resolved = False
        self._lock = threading.Lock()

    def torch(self) -> Any:
        """The torch module large arrays go through, or None; imported on first need, once."""
        if not self._resolved:
            with self._lock:
                if not self._resolved:
                    self._torch = self._load()
                    self._resolved = True
        return self._torch

    def describe(self) -> str:
        """What large arrays go through, for reports (imports torch when the choice allows it)."""
        torch = self.torch()
        if torch is None:
            return f"numpy {np.__version__}"
        return f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})"

    def summary(self) -> str:
        """What tanh and sigmoid of large arrays went through so far, for reports; imports nothing."""
        if self._resolved or self.choice == "numpy":
            return self.describe()
        return f"numpy {np.__version__} (no array of {SMALL} numbers or more yet)"

    def tanh(self, x: np.ndarray) -> np.ndarray:
        return self._apply("tanh", x, np.tanh)

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        return self._apply("sigmoid", x, numpy_sigmoid)

    def _apply(self, name: str, x: np.ndarray, small: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if x.size < SMALL or x.dtype != np.float64:
            return small(x)
        torch = self.torch()
        if torch is None:
            return small(x)
        op = getattr(torch, name)
        # A gate is a strided view of the fused sum. torch's vectorized tanh runs only on
        # contiguous numbers: on the view it took 27 ns a number, copied first 16 (11 without the copy).
        # (torch.from_numpy also warns on read-only arrays, though it only reads them)
        out = np.empty(x.shape)
        if x.flags.c_contiguous and x.flags.writeable:
            src = x.reshape(-1)
        else:  # the copy goes where the result will be: the op then runs in place
            out[...] = x
            src = out.reshape(-1)
        src_t, out_t = torch.from_numpy(src), torch.from_numpy(out.reshape(-1))
        for start in range(0, src.size, CHUNK):
            op(src_t[start:start + CHUNK], out=out_t[start:start + CHUNK])
        return out
