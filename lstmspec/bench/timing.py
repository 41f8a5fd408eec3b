"""Time a callable: warm-up, then blocks of calls until the estimate is stable.

The loop follows ``torch.utils.benchmark.Timer.adaptive_autorange`` (itself
``blocked_autorange`` plus a stopping rule), so that lstmspec's figure and
PyTorch's agree on the same work (``tests/test_bench.py``,
``benchmarks/bench_timer_crosscheck.py``):

1. **Warm-up.** At least ``warmup`` calls and ``warmup_s`` seconds, untimed
   (TensorFlow traces its graph, caches fill, thread pools start here).
2. **Block size.** ``number`` calls per block, the smallest of 1, 2, 5, 10,
   ... that makes a block last at least ``block_s`` and at least 10^4 times
   the timer's own cost (an empty block: about 100 ns on the CPU, some µs for
   a CUDA event pair and synchronisation), as ``blocked_autorange`` sizes its
   blocks. Work of a millisecond or more is timed one call per block, so a
   call preempted by another process is one outlier sample, which the median
   ignores, rather than a slower block average.
3. **Blocks.** Timed blocks, the garbage collector off throughout, until at
   least ``min_blocks`` blocks and ``min_time_s`` seconds are in and the
   interquartile range is below ``threshold`` times the median, or until
   ``max_time_s`` is spent (then ``stable`` is False and the report says so).
   Each block gives one sample: its time divided by ``number``.

The figure reported is the **median** of the samples, with the **IQR**
(q75 - q25) and the number of runs (blocks x number).

On CUDA the blocks are timed with ``torch.cuda.Event`` pairs recorded on the
stream around the calls, after a ``synchronize()``; host clocks never time
asynchronous work. With ``flush_l2`` every call is preceded, outside its
timed region, by writing a buffer twice the size of the L2 cache, so small
cases do not run from a warm cache (what ``triton.testing.do_bench`` does).
"""
from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class TimingOptions:
    warmup: int = 2
    warmup_s: float = 0.1
    block_s: float = 0.001
    min_blocks: int = 5
    min_time_s: float = 0.3
    max_time_s: float = 4.0
    threshold: float = 0.05  # IQR / median at which to stop
    flush_l2: bool = False  # CUDA only

    def check(self) -> "TimingOptions":
        for name in ("warmup_s", "block_s", "min_time_s", "max_time_s", "threshold"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ConfigError(f"Expected a positive number but got {name}={value!r}")
        for name in ("warmup", "min_blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "warmup" else 1):
                raise ConfigError(f"Expected a {'non-negative' if name == 'warmup' else 'positive'} integer "
                                  f"but got {name}={value!r}")
        if self.min_time_s > self.max_time_s:
            raise ConfigError(f"Expected min_time_s <= max_time_s but got {self.min_time_s} > {self.max_time_s}")
        return self

    def with_(self, **changes: Any) -> "TimingOptions":
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).check()


#: Quick settings for smoke runs and tests: fewer, shorter blocks.
QUICK = TimingOptions(warmup=1, warmup_s=0.0001, block_s=0.002, min_blocks=3, min_time_s=0.01, max_time_s=0.2,
                      threshold=0.2)


@dataclass
class Measurement:
    """Samples of one timed callable: seconds per call, one sample per block."""

    samples: list[float]
    number: int  # calls per block
    warmup_runs: int
    timer: str  # "time.perf_counter" | "torch.cuda.Event"
    threshold: float
    total_s: float = 0.0  # time spent in timed blocks
    notes: list[str] = field(default_factory=list)

    def _q(self, q: float) -> float:
        return float(np.percentile(self.samples, q))

    @property
    def median(self) -> float:
        return self._q(50)

    @property
    def q25(self) -> float:
        return self._q(25)

    @property
    def q75(self) -> float:
        return self._q(75)

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25

    @property
    def relative_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else float("inf")

    @property
    def runs(self) -> int:
        return self.number * len(self.samples)

    @property
    def stable(self) -> bool:
        return len(self.samples) >= 3 and self.relative_iqr < self.threshold

    def to_json(self) -> dict[str, Any]:
        return {"median_s": self.median, "q25_s": self.q25, "q75_s": self.q75, "iqr_s": self.iqr,
                "relative_iqr": self.relative_iqr, "runs": self.runs, "blocks": len(self.samples),
                "number_per_block": self.number, "warmup_runs": self.warmup_runs, "timer": self.timer,
                "stable": self.stable, "timed_s": self.total_s, "samples_s": list(self.samples),
                "notes": list(self.notes)}


class _Clock:
    """Times ``number`` calls of ``fn`` and returns the seconds they took."""

    name = "time.perf_counter"

    def block(self, fn: Callable[[], Any], number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - start


class _CudaClock(_Clock):
    """CUDA events around the calls on the current stream; the host waits only outside the timed region."""

    name = "torch.cuda.Event"

    def __init__(self, flush_l2: bool) -> None:
        import torch

        self.torch = torch
        self.flush = None
        if flush_l2:
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            l2 = int(getattr(props, "L2_cache_size", 0) or 50 * 2**20)
            self.flush = torch.empty(2 * l2 // 4, dtype=torch.int32, device="cuda")

    def block(self, fn: Callable[[], Any], number: int) -> float:
        torch = self.torch
        if self.flush is None:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            for _ in range(number):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        # One event pair per call, the flush between pairs (queued, never timed).
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(number)]
        torch.cuda.synchronize()
        for start, end in pairs:
            self.flush.zero_()
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        return sum(s.elapsed_time(e) for s, e in pairs) / 1e3


def clock_for(device: str, options: TimingOptions) -> _Clock:
    if device == "cuda":
        return _CudaClock(options.flush_l2)
    return _Clock()


def measure(fn: Callable[[], Any], options: TimingOptions = TimingOptions(), *, device: str = "cpu",
            clock: _Clock | None = None) -> Measurement:
    """Warm up ``fn``, then time it in blocks until stable or out of budget (see module docstring)."""
    options.check()
    clock = clock or clock_for(device, options)
    # 1. warm-up, untimed as far as the result goes (the last call sizes the blocks)
    runs, spent, last = 0, 0.0, 0.0
    while runs < max(options.warmup, 1) or spent < options.warmup_s:
        last = clock.block(fn, 1)
        spent += last
        runs += 1
        if spent > options.max_time_s and runs >= 1:
            break
    # 2. calls per block: long enough for the block, and for the timer's own cost to be < 1e-4 of it
    overhead = float(np.median([clock.block(fn, 0) for _ in range(5)]))
    target = max(options.block_s, 1e4 * overhead)
    number = _nice_ceiling(target / last) if last > 0 else 1000
    # 3. blocks until stable or out of time
    samples: list[float] = []
    total = 0.0
    notes: list[str] = []
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # as timeit does: a collection inside a block would be charged to the callable
    try:
        while True:
            elapsed = clock.block(fn, number)
            samples.append(elapsed / number)
            total += elapsed
            enough = len(samples) >= options.min_blocks and total >= options.min_time_s
            if enough and _relative_iqr(samples) < options.threshold:
                break
            if total >= options.max_time_s and len(samples) >= min(3, options.min_blocks):
                notes.append(f"time budget of {options.max_time_s:g} s spent before IQR/median < {options.threshold:g}")
                break
            if total >= 3 * options.max_time_s:  # a single call longer than the budget
                notes.append(f"one block took {elapsed:.3g} s, longer than the time budget")
                break
    finally:
        if enabled:
            gc.enable()
    return Measurement(samples, number, runs, clock.name, options.threshold, total, notes)


def _relative_iqr(samples: list[float]) -> float:
    if len(samples) < 2:
        return float("inf")
    q25, q50, q75 = np.percentile(samples, [25, 50, 75])
    return float((q75 - q25) / q50) if q50 > 0 else float("inf")


def _nice_ceiling(x: float) -> int:
    """Smallest of 1, 2, 5, 10, 20, 50, ... that is >= x."""
    x *= 1 - 1e-9  # 0.001 / 1e-5 is 100.00000000000001
    if x <= 1:
        return 1
    decade = 10 ** math.floor(math.log10(x))
    for step in (1, 2, 5, 10):
        if step * decade >= x:
            return int(step * decade)
    return int(10 * decade)  # pragma: no cover - the loop always returns


__all__ = ["TimingOptions", "QUICK", "Measurement", "measure", "clock_for"]
