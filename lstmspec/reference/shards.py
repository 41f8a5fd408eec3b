"""Run the numpy reference on batch shards in threads, so the oracle uses the cores frameworks use.

The batch elements of a recurrence never meet, so the batch is cut into
contiguous shards and each shard runs the whole sequence in its own thread:
numpy releases the GIL inside ufuncs and matmul, and nothing synchronises per
step. The results are concatenated back. They equal those of one thread to rounding,
not always bitwise: OpenBLAS may pick another kernel for fewer rows (a batch of
one is a GEMV); measured differences are below 1.5e-16, pinned by a test.

How many threads: as many as numpy's BLAS threads, so ``OPENBLAS_NUM_THREADS=1``
or threadpoolctl turn it off and ``check --jobs`` helpers get their share;
never more than the batch or the usable cores, and only where each keeps
``MIN_SHARD_ELEMENTS`` state numbers per step (below that a step is mostly
Python and threads only contend for the GIL). One shard per thread: every
shard runs every step's Python, and a smaller shard multiplies thinner GEMMs,
so more shards than threads cost more than they balanced (measured below).
BLAS runs one thread per shard meanwhile (numpy's OpenBLAS, and torch's
MKL where the GEMMs go through torch, ``mathlib.py``). Where numpy's BLAS
thread count is unknown (not its bundled OpenBLAS), nothing is sharded.
"""
from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from math import prod
from typing import Any

import numpy as np

from ..expr.dims import Sym
from ..spec.model import BATCH_DIM, Spec
from . import blas

#: Fewest state numbers (all states, summed) a shard must update per step.
MIN_SHARD_ELEMENTS = 8192

Run = Callable[[Any, Mapping[str, Any], Mapping[str, Any]], tuple[Any, dict[str, Any]]]

_pool: ThreadPoolExecutor | None = None  # helper threads, kept between calls
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child: the parent's helper threads do not exist there, a new pool is made."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def batch_first(spec: Spec) -> bool:
    """Whether the core input, every state (initial and final) and the output lead with the batch axis."""
    decls = [*spec.core_inputs().values(), *spec.initial_states.values(), *spec.states.values(), spec.first_output]
    return all(d.shape and d.shape[0] == Sym(BATCH_DIM) for d in decls)


def plan(spec: Spec, x: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """(shards, threads) for one call; (1, 1) runs it whole in the caller's thread.

    One shard per thread. Shards of 8192 state numbers each, taken in turn
    (so that a thread on a core the host slows takes fewer), were tried: on a
    2-core Intel VM, interleaved, two shards instead of four ran lstm B64 H256
    in 63.5 against 86.1 ms and B32 H512 in 98.4 against 125.7, convlstm1d B8
    in 23.1 against 35.2, convlstm2d B8 16x16 in 53.4 against 71.6 (eight
    shards); convlstm2d B4 32x32 was the same either way.
    """
    blas_threads = blas.threads()
    if not blas_threads or blas_threads < 2 or not isinstance(x, np.ndarray) or x.ndim == 0:
        return 1, 1
    batch = int(x.shape[0])
    per_item = sum(prod(v.shape[1:]) for v in state.values())
    by_work = batch * per_item // MIN_SHARD_ELEMENTS
    threads = min(blas_threads, blas.usable_cores(), batch, by_work)
    if threads < 2 or not batch_first(spec):
        return 1, 1
    return threads, threads


def run_sharded(run: Run, x: np.ndarray, state: Mapping[str, np.ndarray], params: Mapping[str, Any],
                shards: int, threads: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``run`` on ``shards`` contiguous slices of the batch, taken in turn by ``threads`` threads
    (this one included), concatenated in batch order."""
    global _pool, _pool_size
    bounds = np.linspace(0, x.shape[0], shards + 1).astype(int)
    pieces = [(x[a:b], {k: v[a:b] for k, v in state.items()}) for a, b in zip(bounds[:-1], bounds[1:])]
    results: list[Any] = [None] * shards
    turns = count()  # next() on a count is atomic under the GIL
    caller = threading.current_thread()
    failed: list[BaseException] = []

    def work() -> None:
        if threading.current_thread() is not caller:
            blas.one_torch_thread_here()
        while not failed and (i := next(turns)) < shards:
            try:
                results[i] = run(*pieces[i], params)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failed.append(exc)

    with blas.single_threaded():
        with _pool_lock:  # callers in several threads share the pool
            if _pool is None or _pool_size < threads - 1:
                if _pool is not None:
                    _pool.shutdown(wait=False)  # its running tasks finish
                _pool_size = threads - 1
                _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="lstmspec-reference")
            # each helper runs in a copy of this context: numpy's errstate lives in a context variable
            futures = [_pool.submit(contextvars.copy_context().run, work) for _ in range(threads - 1)]
        try:
            work()
        finally:
            for f in futures:  # BLAS is restored only once every shard has finished
                f.result()
    if failed:
        raise failed[0]
    y = np.concatenate([r[0] for r in results], axis=0)
    final = {k: np.concatenate([r[1][k] for r in results], axis=0) for k in results[0][1]}
    return y, final
