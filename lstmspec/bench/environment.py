"""What a timing depends on besides the code: versions, device, threads, math settings, machine load.

Every bench report records these (``meta`` of the JSON, the header of the
Markdown and HTML reports), so that two figures can be compared only when
they were taken under the same conditions.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..machine import cpu_name
from ..reference import blas
from ..reference.backends import get_backend

#: Distributions whose versions a report records (first installed name wins).
_DISTRIBUTIONS = {
    "numpy": ("numpy",),
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "keras": ("keras",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "onnx": ("onnx",),
    "matplotlib": ("matplotlib",),
    "triton": ("triton",),
}


def versions() -> dict[str, str]:
    """Python and library versions, CUDA and cuDNN: "not installed" rather than absent."""
    from .. import __version__

    out = {"lstmspec": __version__, "python": platform.python_version()}
    for name, dists in _DISTRIBUTIONS.items():
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None) if module is not None else None
        for dist in dists:
            if version is not None:
                break
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        out[name] = str(version) if version is not None else "not installed"
    out["reference math"] = get_backend("numpy").math.summary()  # tanh/sigmoid/GEMMs of the oracle's large arrays
    torch = _torch()
    if torch is not None:
        out["cuda"] = str(torch.version.cuda) if torch.version.cuda else "none (CPU build of torch)"
        out["cudnn"] = str(torch.backends.cudnn.version()) if torch.cuda.is_available() else "n/a (no CUDA device)"
    return out


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def device_name(device: str) -> str:
    if device == "cuda":
        torch = _torch()
        return torch.cuda.get_device_name(0) if torch is not None and torch.cuda.is_available() else "no CUDA device"
    return cpu_name()


# --------------------------------------------------------------------- threads
def set_threads(n: int, *, tensorflow: bool = False) -> list[str]:
    """Use ``n`` CPU threads in torch, numpy's OpenBLAS and (``tensorflow``) TensorFlow; notes on what failed.

    TensorFlow fixes its thread pools when its runtime starts, so it is
    imported and configured here, before any adapter runs a Keras layer.
    ONNX Runtime sessions take the count from ``threads()`` when built.
    """
    notes: list[str] = []
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(n)
    if not blas.set_threads(n):
        notes.append("numpy's BLAS thread count could not be set (not the bundled OpenBLAS)")
    if tensorflow:
        from ..adapters.keras_layers import _tf_keras

        tf, _ = _tf_keras()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
        except RuntimeError as exc:  # the runtime was already initialised
            notes.append(f"TensorFlow threads not set: {exc}")
    global _THREADS
    _THREADS = n
    return notes


_THREADS: int | None = None


@contextmanager
def threads_for_run(n: int | None, *, tensorflow: bool = False) -> Iterator[list[str]]:
    """``set_threads(n)`` for one run (nothing when ``n`` is None); torch's and numpy's counts are
    given back after it, for a caller in Python. TensorFlow's pools cannot be resized once started."""
    global _THREADS
    if n is None:
        yield []
        return
    saved = _THREADS
    _torch()  # imported first (set_threads would), so that its count is kept too
    with blas.counts_kept():
        try:
            yield set_threads(n, tensorflow=tensorflow)
        finally:
            _THREADS = saved


def threads() -> int | None:
    """The count given to ``set_threads`` (None: each library's default)."""
    return _THREADS


def thread_settings() -> dict[str, Any]:
    """Thread counts as each library reports them (0 for TensorFlow means one per core)."""
    out: dict[str, Any] = {"os.cpu_count": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        out["usable cores"] = len(os.sched_getaffinity(0))
    out["--threads"] = _THREADS if _THREADS is not None else "library defaults"
    torch = _torch()
    if torch is not None:
        out["torch intra-op"] = torch.get_num_threads()
        out["torch inter-op"] = torch.get_num_interop_threads()
    blas_threads = blas.threads()
    if blas_threads is not None:
        out["numpy OpenBLAS"] = blas_threads
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        out["tensorflow intra-op (0 = all cores)"] = tf.config.threading.get_intra_op_parallelism_threads()
        out["tensorflow inter-op (0 = all cores)"] = tf.config.threading.get_inter_op_parallelism_threads()
    if "onnxruntime" in sys.modules:
        out["onnxruntime intra-op (0 = all cores)"] = _THREADS or 0
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            out[var] = os.environ[var]
    return out


def cuda_settings(cudnn_benchmark: bool) -> dict[str, Any]:
    """cuDNN autotuning and TF32: set per precision for every timed call, never inherited."""
    torch = _torch()
    if torch is None or not torch.cuda.is_available():
        return {}
    torch.backends.cudnn.benchmark = cudnn_benchmark
    return {
        "torch.backends.cudnn.benchmark": cudnn_benchmark,
        "TF32": "per precision: on for tf32 rows, off for float32 rows (torch.backends.cuda.matmul.allow_tf32 "
                "and torch.backends.cudnn.allow_tf32 set around every call)",
        "cudnn.deterministic": bool(torch.backends.cudnn.deterministic),
    }


# ---------------------------------------------------------------- machine load
class ForeignLoad:
    """CPU time other processes took while the bench ran (``/proc/stat`` busy time minus ours).

    On a small shared machine anything else running skews timings; the
    report states the share so a reader can discount a noisy run.
    """

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        own = os.times()  # this process and its waited-for children (worker processes are ours too)
        return (sum(fields[:8]) - idle) / tick, own.user + own.system + own.children_user + own.children_system, \
            time.monotonic()

    def stop(self) -> dict[str, float] | None:
        end = self._read()
        if self.start is None or end is None:
            return None
        busy, own, wall = (e - s for e, s in zip(end, self.start))
        other = max(0.0, busy - own)
        cores = os.cpu_count() or 1
        return {"other_cpu_s": round(other, 2), "wall_s": round(wall, 2),
                "other_share": round(other / (wall * cores), 4) if wall > 0 else 0.0}


def core_speeds(numbers: int = 1 << 15, blocks: int = 15, repeat: int = 5) -> dict[int, float] | None:
    """Nanoseconds per float64 exp on each usable core, this thread pinned to it in turn.

    A virtual machine's core can be slowed by other tenants on its host,
    invisibly to /proc/stat (measured here: 21.7 against 7.9 ns on the two
    cores of one VM); a bench states this before and after so that a reader
    can tell a slow core from slow code. The figure is the median of
    ``blocks`` timed blocks after one untimed one: a single block can catch a
    preemption of a few ms (seen: 13 ns against 0.8 in one block of twenty on
    an AVX-512 core, where one probe of 50 calls lasts under 2 ms and ranged
    0.84-1.43 ns from run to run), a slowed core slows them all.
    None where threads cannot be pinned.
    """
    import numpy as np

    if not hasattr(os, "sched_getaffinity") or not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    z = np.linspace(-1.0, 1.0, numbers)
    out = np.empty_like(z)
    speeds: dict[int, float] = {}
    try:
        for core in cores:
            os.sched_setaffinity(0, {core})  # 0: the calling thread
            times = []
            for block in range(blocks + 1):
                start = time.perf_counter()
                for _ in range(repeat):
                    np.exp(z, out=out)
                if block:  # the first block migrates the thread and warms the core
                    times.append(time.perf_counter() - start)
            speeds[core] = round(float(np.median(times)) / (repeat * numbers) * 1e9, 2)
    except OSError:
        return None
    finally:
        os.sched_setaffinity(0, cores)
    return speeds


#: A core is called slowed when a probe of it took this much longer than the fastest probe of the run.
SLOWED = 1.25


def slowed_cores(speeds: Sequence[Mapping[Any, float]] | None) -> list[str]:
    """Cores ("cpu1") that ran a ``core_speeds`` probe over ``SLOWED`` times the fastest probe in ``speeds``."""
    if not speeds:
        return []
    fastest = min(v for s in speeds for v in s.values())
    return sorted({f"cpu{c}" for s in speeds for c, v in s.items() if v > SLOWED * fastest})


def load_average() -> Sequence[float] | None:
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


__all__ = ["versions", "device_name", "set_threads", "threads", "thread_settings", "cuda_settings",
           "ForeignLoad", "load_average"]
