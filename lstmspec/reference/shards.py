"""Run the numpy reference on batch shards in threads, so the oracle uses the cores frameworks use.

The batch elements of a recurrence never meet, so the batch is cut into
contiguous shards and each shard runs the whole sequence in its own thread:
numpy releases the GIL inside ufuncs and matmul, and nothing synchronises per
step. The results are concatenated back, bitwise those of one thread (every
product and activation sees the same rows, in the same order; a test pins it).

How many shards: as many as numpy's BLAS threads, so ``OPENBLAS_NUM_THREADS=1``
or threadpoolctl turn it off and ``check --jobs`` helpers get one each; never
more than the batch; and only while each shard keeps ``MIN_SHARD_ELEMENTS``
state numbers per step, below which a step is mostly Python and threads only
contend for the GIL. BLAS runs one thread per shard meanwhile. Where numpy's
BLAS thread count is unknown (not its bundled OpenBLAS), nothing is sharded.
"""
from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from math import prod
from typing import Any

import numpy as np

from ..expr.dims import Sym
from ..spec.model import BATCH_DIM, Spec
from . import blas

#: Fewest state numbers (all states, summed) a shard must update per step.
MIN_SHARD_ELEMENTS = 8192

Run = Callable[[Any, Mapping[str, Any], Mapping[str, Any]], tuple[Any, dict[str, Any]]]

_pool: ThreadPoolExecutor | None = None


def batch_first(spec: Spec) -> bool:
    """Whether the core input, every state (initial and final) and the output lead with the batch axis."""
    decls = [*spec.core_inputs().values(), *spec.initial_states.values(), *spec.states.values(),
             next(iter(spec.outputs.values()))]
    return all(d.shape and d.shape[0] == Sym(BATCH_DIM) for d in decls)


def shard_count(spec: Spec, x: np.ndarray, state: Mapping[str, np.ndarray]) -> int:
    """How many threads the reference of this call runs in (1: the caller's thread only)."""
    threads = blas.threads()
    if not threads or threads < 2 or not isinstance(x, np.ndarray) or x.ndim == 0:
        return 1
    batch = int(x.shape[0])
    per_item = sum(prod(v.shape[1:]) for v in state.values())
    by_work = batch * per_item // MIN_SHARD_ELEMENTS
    n = min(threads, _cores(), batch, by_work)
    return n if n >= 2 and batch_first(spec) else 1


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_sharded(run: Run, x: np.ndarray, state: Mapping[str, np.ndarray], params: Mapping[str, Any],
                shards: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``run`` on ``shards`` contiguous slices of the batch, concatenated; the first runs in this thread."""
    global _pool
    bounds = np.linspace(0, x.shape[0], shards + 1).astype(int)
    pieces = [(x[a:b], {k: v[a:b] for k, v in state.items()}) for a, b in zip(bounds[:-1], bounds[1:])]
    with blas.single_threaded():
        if _pool is None or _pool._max_workers < shards - 1:
            _pool = ThreadPoolExecutor(max_workers=shards - 1, thread_name_prefix="lstmspec-reference")
        # each task runs in a copy of this context: numpy's errstate lives in a context variable
        futures = [_pool.submit(contextvars.copy_context().run, run, xs, st, params) for xs, st in pieces[1:]]
        try:
            results = [run(*pieces[0], params)] + [f.result() for f in futures]
        finally:
            for f in futures:  # an error in one shard: let the others finish before BLAS is restored
                f.cancel() or f.exception()
    y = np.concatenate([r[0] for r in results], axis=0)
    final = {k: np.concatenate([r[1][k] for r in results], axis=0) for k in results[0][1]}
    return y, final
