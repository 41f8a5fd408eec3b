"""Where the numpy reference's tanh, sigmoid and GEMMs run: numpy, or torch's CPU kernels.

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

GEMMs (``h @ U``, a convolution's patch product) go through torch, and with
it Intel's MKL, on an Intel CPU: there MKL's float64 GEMM ran the reference's
shapes at 55-74 GFLOP/s against numpy's OpenBLAS at 32-59 (16 x 256 x 1024:
55 against 32), and the whole reference 8-17% faster. On an AMD CPU MKL was
slower than OpenBLAS, so numpy keeps them there. A GEMM sums in another order
in each library: results differ in the last bits, within the same error bound.

``LSTMSPEC_REFERENCE_MATH`` chooses:

* ``auto`` (the default): torch for tanh and sigmoid where numpy's are not
  vectorized (no AVX-512; with it numpy's were faster: the reference 0-17%,
  interleaved), for GEMMs where torch has MKL and the CPU is Intel's; else
  numpy, and torch is not imported;
* ``numpy``: numpy only, bitwise the textbook formulas and numpy's matmul;
* ``torch``: torch for all three, and an error when it cannot be imported.

Arrays under ``SMALL`` numbers, and GEMMs under ``SMALL_GEMM`` multiply-adds,
always go through numpy: there torch's per-call overhead eats the gain, and a
check of small cases never pays torch's import.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..machine import cpuinfo
from ..registry import Registry

ENV = "LSTMSPEC_REFERENCE_MATH"
SMALL = 1 << 12
#: torch splits an elementwise op over its threads from 32768 numbers on
#: (``at::internal::GRAIN_SIZE``); smaller pieces run in the calling thread, so
#: the reference's batch shards (``shards.py``) stay one thread per core.
CHUNK = 1 << 14
#: a GEMM of fewer multiply-adds than this stays in numpy: torch's per-call overhead (two
#: from_numpy and a dispatch, 6 us) made 16 x 64 x 256 slower, 32 x 64 x 256 was faster
SMALL_GEMM = 1 << 19


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


def _cpu_vendor() -> str:
    """The CPU's vendor id (``GenuineIntel``, ``AuthenticAMD``), or "" where the OS does not say."""
    return cpuinfo("vendor_id")


def auto_routes(numpy_vectorized: bool, vendor: str, torch_has_mkl: bool) -> tuple[bool, bool]:
    """What ``auto`` sends through torch on a CPU with these facts: (tanh/sigmoid, GEMMs).

    Each goes where it was faster: tanh/sigmoid to SLEEF where numpy's are not
    vectorized, GEMMs to MKL only on an Intel CPU (``vendor``). A pure function
    of the facts, so the rule can be checked for any CPU on any machine.
    """
    return not numpy_vectorized, vendor == "GenuineIntel" and torch_has_mkl


def numpy_vectorizes_tanh() -> bool:
    """Whether numpy runs float64 tanh (and exp) through its AVX-512 loops on this CPU (``AVX512_SKX``)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return False
    return bool(__cpu_features__.get("AVX512_SKX"))


@dataclass(frozen=True)
class Routes:
    """What goes through torch: its module (None: nothing), tanh/sigmoid, GEMMs."""

    torch: Any = None
    elementwise: bool = False
    gemm: bool = False


def _no_torch() -> Routes:
    return Routes()


def _auto() -> Routes:
    vectorized, vendor = numpy_vectorizes_tanh(), _cpu_vendor()
    if not any(auto_routes(vectorized, vendor, torch_has_mkl=True)):
        return Routes()  # nothing would go through torch even with MKL: it is not even imported
    try:
        import torch
    except ImportError:
        return Routes()
    return Routes(torch, *auto_routes(vectorized, vendor, bool(torch.backends.mkl.is_available())))


def _torch_required() -> Routes:
    try:
        import torch
    except ImportError as err:
        raise ConfigError(f"{ENV}=torch, but torch cannot be imported ({err}); "
                          f"install lstmspec[torch] or set {ENV}=numpy") from None
    return Routes(torch, True, True)


#: each choice of ``LSTMSPEC_REFERENCE_MATH``: a loader of its ``Routes``
CHOICES: Registry[Callable[[], Routes]] = Registry(f"reference math ({ENV})")
CHOICES.register("auto", _auto)
CHOICES.register("numpy", _no_torch)
CHOICES.register("torch", _torch_required)


def _torch_readable(*arrays: np.ndarray) -> bool:
    """Whether torch.from_numpy takes these as they are: float64, writeable (it warns on read-only
    arrays, though it only reads them), no negative strides (a flipped view)."""
    return all(a.dtype == np.float64 and a.flags.writeable and min(a.strides, default=0) >= 0 for a in arrays)


class ReferenceMath:
    """tanh, sigmoid and GEMMs of float64 arrays, large ones through torch when the choice allows."""

    def __init__(self, choice: str | None = None) -> None:
        self.choice = choice if choice is not None else os.environ.get(ENV, "auto")
        self._load = CHOICES.get(self.choice)
        self._routes = Routes()
        self._resolved = False
        self._lock = threading.Lock()

    def routes(self) -> Routes:
        """What goes through torch; torch is imported on first need, once."""
        if not self._resolved:
            with self._lock:
                if not self._resolved:
                    self._routes = self._load()
                    self._resolved = True
        return self._routes

    def torch(self) -> Any:
        """The torch module some large arrays go through, or None."""
        return self.routes().torch

    def elementwise_torch(self) -> Any:
        """The torch module tanh and sigmoid of large arrays go through, or None (numpy)."""
        routes = self.routes()
        return routes.torch if routes.elementwise else None

    def gemm_torch(self) -> Any:
        """The torch module large GEMMs go through, or None (numpy's matmul)."""
        routes = self.routes()
        return routes.torch if routes.gemm else None

    def describe(self) -> str:
        """What large arrays go through, for reports (imports torch when the choice allows it)."""
        from . import blas

        routes = self.routes()
        torch = routes.torch
        if routes.elementwise:
            elementwise = f"tanh/sigmoid torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})"
        else:
            elementwise = f"tanh/sigmoid numpy {np.__version__}" + (" (AVX-512)" if numpy_vectorizes_tanh() else "")
        if routes.gemm:
            gemm = f"GEMM torch {torch.__version__} ({'MKL' if torch.backends.mkl.is_available() else 'its BLAS'})"
        else:
            gemm = f"GEMM numpy {np.__version__}" + (f" (OpenBLAS {blas.corename()})" if blas.corename() else "")
        return f"{elementwise}; {gemm}"

    def summary(self) -> str:
        """What tanh, sigmoid and GEMMs of large arrays went through so far, for reports; imports nothing."""
        if self._resolved or self.choice == "numpy":
            return self.describe()
        return f"numpy {np.__version__} (no array of {SMALL} numbers or GEMM of {SMALL_GEMM} multiply-adds yet)"

    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` for ``a`` of any leading axes and a matrix ``b``."""
        torch = self._gemm_for(a, b)
        if torch is None:
            return a @ b
        out = np.empty(a.shape[:-1] + b.shape[-1:])
        self._torch_gemm(torch, out, a, b, accumulate=False)
        return out

    def matmul_add(self, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        """``out += a @ b`` in place (torch: in the GEMM itself, beta = 1)."""
        torch = self._gemm_for(a, b)
        if torch is None or not _torch_readable(out) or not out.flags.c_contiguous:
            out += a @ b
        else:
            self._torch_gemm(torch, out, a, b, accumulate=True)

    def _gemm_for(self, a: np.ndarray, b: np.ndarray) -> Any:
        """torch when this GEMM goes through it: large, a matrix on the right, operands torch can read.
        Mismatched shapes stay in numpy, which raises its ValueError (the diagnosis reads that as
        "this variant does not apply"; torch would raise a RuntimeError)."""
        if (b.ndim != 2 or a.ndim < 2 or a.shape[-1] != b.shape[0] or a.size * b.shape[-1] < SMALL_GEMM
                or not (a.ndim <= 3 or a.flags.c_contiguous) or not _torch_readable(a, b)):
            return None
        return self.gemm_torch()

    @staticmethod
    def _torch_gemm(torch: Any, out: np.ndarray, a: np.ndarray, b: np.ndarray, accumulate: bool) -> None:
        # torch.matmul would copy a 3-d operand that is not one matrix in memory (a slice of
        # every batch row): such a one is multiplied row by row instead, each row a strided matrix
        if a.ndim > 2 and a.flags.c_contiguous:
            a, out = a.reshape(-1, a.shape[-1]), out.reshape(-1, out.shape[-1])
        a_t, b_t, out_t = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        pairs = [(a_t, out_t)] if a.ndim == 2 else list(zip(a_t, out_t))
        for left, into in pairs:
            if accumulate:
                into.addmm_(left, b_t)
            else:
                torch.mm(left, b_t, out=into)

    def tanh(self, x: np.ndarray) -> np.ndarray:
        return self._apply("tanh", x, np.tanh)

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        return self._apply("sigmoid", x, numpy_sigmoid)

    def _apply(self, name: str, x: np.ndarray, small: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if x.size < SMALL or x.dtype != np.float64:
            return small(x)
        torch = self.elementwise_torch()
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
