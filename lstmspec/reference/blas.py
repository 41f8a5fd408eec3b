"""The thread count of numpy's BLAS, read and set through numpy's bundled OpenBLAS; torch's, when the
reference's GEMMs go through it (``mathlib.py``).

numpy has no API for it and ``threadpoolctl`` is not a dependency, so the
library numpy ships (``numpy.libs/*openblas*``) is called through ctypes.
With another BLAS (MKL, Accelerate, a system OpenBLAS) every function here
reports "unknown" (None / False) and changes nothing.
"""
from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _openblas() -> Any:
    import numpy as np

    for path in glob.glob(os.path.join(os.path.dirname(np.__path__[0]), "numpy.libs", "*openblas*")):
        try:
            return ctypes.CDLL(path)  # already loaded by numpy: this returns the same handle
        except OSError:
            continue
    return None


def _call(verb: str, *args: int) -> Any:
    lib = _openblas()
    if lib is None:
        return None
    for symbol in (f"scipy_openblas_{verb}_num_threads64_", f"openblas_{verb}_num_threads64_",
                   f"openblas_{verb}_num_threads"):
        fn = getattr(lib, symbol, None)
        if fn is not None:
            return fn(*args)
    return None


def threads() -> int | None:
    """numpy's OpenBLAS thread count (None when numpy links another BLAS)."""
    n = _call("get")
    return None if n is None else int(n)


def corename() -> str | None:
    """The CPU kernel set numpy's OpenBLAS chose (``Haswell``, ``SkylakeX``, ``Zen``), None when unknown."""
    lib = _openblas()
    for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
        fn = getattr(lib, symbol, None) if lib is not None else None
        if fn is not None:
            fn.restype = ctypes.c_char_p
            name = fn()
            return name.decode("ascii", "replace") if name else None
    return None


def set_threads(n: int) -> bool:
    """Set numpy's OpenBLAS thread count, process-wide; False when it cannot be set."""
    return _call("set", int(n)) is not None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_lock = threading.Lock()
_holders = 0
_saved: int | None = None
_saved_torch: int | None = None  # torch's count when the first holder came in and torch was imported


def _after_fork_in_child() -> None:
    """A child forked while a parent thread held ``single_threaded``: give it its BLAS threads back."""
    global _lock, _holders, _saved_torch
    if _holders and _saved is not None:
        set_threads(_saved)
    if _holders and _saved_torch is not None:
        sys.modules["torch"].set_num_threads(_saved_torch)
    _lock, _holders, _saved_torch = threading.Lock(), 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def single_threaded() -> Iterator[None]:
    """One BLAS thread while inside, restored when the last concurrent user leaves.

    OpenBLAS's count is process-wide (its ``_local`` variant is too, in the
    pthreads build numpy ships): callers that run their own threads hold this
    so that each thread's products do not also spawn BLAS threads. torch's
    count (OpenMP and MKL) is per thread: this sets the calling thread's, and
    each helper thread calls ``one_torch_thread_here`` for its own.
    """
    global _holders, _saved, _saved_torch
    with _lock:
        if _holders == 0:
            _saved = threads()
            set_threads(1)
            torch = sys.modules.get("torch")
            _saved_torch = torch.get_num_threads() if torch is not None else None
            if torch is not None:
                torch.set_num_threads(1)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                if _saved is not None:
                    set_threads(_saved)
                if _saved_torch is not None:  # the process-wide default new threads start from, and this thread's
                    sys.modules["torch"].set_num_threads(_saved_torch)
                _saved_torch = None


@contextmanager
def counts_kept() -> Iterator[None]:
    """numpy's OpenBLAS count and torch's (this thread's, when torch is imported) given back on leaving,
    whatever ran inside: for commands that set a share of the cores and may be called from Python."""
    saved = threads()
    torch = sys.modules.get("torch")
    saved_torch = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if saved is not None:
            set_threads(saved)
        if saved_torch is not None:
            torch.set_num_threads(saved_torch)


def one_torch_thread_here() -> None:
    """In a helper thread, inside ``single_threaded``: torch's GEMMs in this thread run on one thread.

    Only when ``single_threaded`` found torch imported and will restore its
    count: torch.set_num_threads also sets the default that threads which have
    not used torch yet start from, and that must not be left at 1.
    """
    if _saved_torch is not None:
        sys.modules["torch"].set_num_threads(1)
