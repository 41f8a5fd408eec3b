"""``--jobs N``: spread a check's case matrix over N processes.

A check is mostly single-threaded Python (Keras runs a recurrent layer in
eager mode, one op at a time), so N processes on N cores finish sooner
(measured: the full CPU check in 50 s with 2 processes against 75 s in one;
each process imports its frameworks itself). The unit of work is one case of one plan: every
implementation, device and precision of that case runs in the same process,
so the case's inputs and float64 reference are computed once, as in a
sequential run.

The calling process is one of the N: it takes units from the same counter
as its spawned helpers, so a small check ends before a helper has finished
importing its frameworks (the helper is then stopped unused). Helpers rebuild
the plans from the check's options (plain data, :class:`~.plans.CheckOptions`), which is deterministic, and send
their results back as they finish them. A helper that dies (a framework
segfault) costs only the unit it was running, reported as an error; the
other units are taken by the processes left. Results are put back into the
order of a sequential run, so reports do not depend on ``--jobs``.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..interrupts import end_with_parent, handled
from ..kernels import processes
from ..machine import meminfo
from ..reference import blas
from ..reference.blas import usable_cores as available_cpus
from .plans import CheckOptions, build_plans
from .results import ERROR, CaseResult
from .runner import Oracle, Plan, check_one

Order = tuple[int, int, int, int, int]  # plan, target, device, precision, case: the sequential run's order
Keep = Callable[[Order, CaseResult], None]

MAX_AUTO_JOBS = 4

#: resident memory of one process with torch, TensorFlow and ONNX Runtime loaded and a case running
#: (measured about 1.2 GB for a helper of the full CPU check), with a margin
PROCESS_MEMORY = 3 * 2**29


def cap_jobs(requested: int) -> tuple[int, str | None]:
    """``requested`` processes, at most one per usable core and one per ``PROCESS_MEMORY`` of the memory
    available now; (processes, a note saying why when fewer than asked)."""
    cores = available_cpus()
    free = meminfo("MemAvailable")
    by_memory = max(1, free // PROCESS_MEMORY) if free else requested
    jobs = max(1, min(requested, cores, by_memory))
    if jobs == requested:
        return jobs, None
    return jobs, (f"--jobs {requested}: running {jobs} process{'es' if jobs > 1 else ''} ({cores} usable CPU "
                  f"cores, {free / 2**30:.1f} GiB of memory available at about {PROCESS_MEMORY / 2**30:.1f} GiB "
                  "per process)")


def auto_jobs(plans: list[Plan], has_kernels: bool) -> int:
    """One process per core, up to 4; one for user kernels and CUDA, which have their own processes and device."""
    if has_kernels or any("cuda" in p.devices for p in plans):
        return 1
    return max(1, min(available_cpus(), MAX_AUTO_JOBS, sum(len(p.cases) for p in plans)))


#: read by torch (OpenMP and MKL) when it is imported
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def threads_limited(jobs: int) -> Iterator[None]:
    """``limit_threads`` in the main process, for the run only: a caller in Python (a test, a notebook)
    gets numpy's and torch's thread counts back. TensorFlow's cannot be changed once initialised."""
    saved_env = {name: os.environ.get(name) for name in _THREAD_ENV}
    with blas.counts_kept():
        limit_threads(jobs)
        try:
            yield
        finally:
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def limit_threads(jobs: int) -> None:
    """Give each of ``jobs`` processes its share of the cores (frameworks default to all of them)."""
    share = max(1, available_cpus() // jobs)
    blas.set_threads(share)  # numpy's BLAS, and with it the reference's batch shards (reference/shards.py)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(share)
    else:  # the oracle may import it later for its GEMMs (reference/mathlib.py): it reads these then
        for name in _THREAD_ENV:
            os.environ[name] = str(share)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(share)
            tf.config.threading.set_inter_op_parallelism_threads(share)
        except RuntimeError:  # already initialized: keep what it has
            pass


def units(plans: list[Plan]) -> list[tuple[int, int]]:
    return [(p, c) for p, plan in enumerate(plans) for c in range(len(plan.cases))]


def run_unit(plans: list[Plan], oracles: dict[int, Oracle], unit: tuple[int, int]) -> Iterator[tuple[Order, CaseResult]]:
    """Every implementation, device and precision of one case."""
    plan = plans[unit[0]]
    oracle = oracles.setdefault(unit[0], Oracle(plan.spec, plan.seed))
    for order in unit_orders(plan, unit):
        _, t, d, q, c = order
        yield order, check_one(plan, oracle, plan.targets[t], plan.cases[c], plan.devices[d], plan.precisions[q])


def unit_orders(plan: Plan, unit: tuple[int, int]) -> Iterator[Order]:
    p, c = unit
    for t in range(len(plan.targets)):
        for d in range(len(plan.devices)):
            for q in range(len(plan.precisions)):
                yield (p, t, d, q, c)


def _take(counter: Any, taken: Any, worker: int, total: int) -> int | None:
    with counter.get_lock():
        i = counter.value
        if i >= total:
            return None
        counter.value = i + 1
        taken[worker] += 1
        return i


def _helper(worker: int, options: CheckOptions, jobs: int, counter: Any, taken: Any, messages: Any) -> None:
    """A spawned process: rebuild the plans, then take units until none are left.

    SIGTERM (from :meth:`Helpers.stop`) ends it through its ``finally``, so the kernel workers it started
    are stopped too; it also gets SIGTERM if the main process dies (Linux), so none is left running.
    """
    end_with_parent()
    with handled():
        _helper_run(worker, options, jobs, counter, taken, messages)


def _helper_run(worker: int, options: CheckOptions, jobs: int, counter: Any, taken: Any, messages: Any) -> None:
    try:
        plans, kernels, _devices, _notes = build_plans(options)
        limit_threads(jobs)
        todo = units(plans)
        oracles: dict[int, Oracle] = {}
        try:
            while (i := _take(counter, taken, worker, len(todo))) is not None:
                for order, result in run_unit(plans, oracles, todo[i]):
                    messages.put(("result", order, result))
        finally:
            for target in kernels:
                if target.isolated is not None:
                    target.isolated.stop()
        messages.put(("exit", worker, None))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM from Helpers.stop: leave without waiting on the queue
        messages.cancel_join_thread()
    except BaseException:  # noqa: BLE001 - reported to the main process; the others take the units
        messages.put(("exit", worker, traceback.format_exc()))


class Helpers:
    """The spawned processes of a ``--jobs`` run.

    Started before the main process builds its plans, so that they import
    their frameworks while it imports its own; :meth:`stop` sends them away
    unused when the run turns out too small to share.
    """

    def __init__(self, options: CheckOptions, jobs: int) -> None:
        ctx = mp.get_context("spawn")
        self.jobs = jobs
        self.counter = ctx.Value("i", 0)
        self.taken = ctx.Array("i", [0] * jobs)
        self.messages = ctx.Queue()
        self.procs = {w: ctx.Process(target=_helper, args=(w, options, jobs, self.counter, self.taken, self.messages),
                                     daemon=False) for w in range(1, jobs)}  # may start kernel workers
        for proc in self.procs.values():
            proc.start()

    def stop(self) -> None:
        """End every helper and every process a helper started (kernel workers and what they started).

        SIGTERM first, so that a helper stops its kernel workers itself; SIGKILL after 5 s; then whatever
        the helpers had started and is still there (found before they ended: once a parent is gone, its
        children are re-parented and can no longer be found by parent pid).
        """
        started = {pid for proc in self.procs.values() if proc.pid and proc.is_alive()
                   for pid in processes.family(proc.pid)}
        for proc in self.procs.values():
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs.values():
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for pid in started:
            processes.end_group(pid)

    def run(self, plans: list[Plan], keep: Keep) -> list[str]:
        """Run the case matrix of ``plans`` here and in the helpers; return notes for the report."""
        with threads_limited(self.jobs):
            return self._run(plans, keep)

    def _run(self, plans: list[Plan], keep: Keep) -> list[str]:
        todo = units(plans)
        received: set[Order] = set()
        notes: list[str] = []

        def drain(timeout: float = 0.0) -> None:
            try:
                message = self.messages.get(timeout=timeout) if timeout else self.messages.get_nowait()
                while True:
                    kind, who, what = message
                    if kind == "result":
                        received.add(who)
                        keep(who, what)
                    elif kind == "exit" and what:
                        notes.append(f"--jobs: helper process {who} stopped with an error (the others took its "
                                     "cases): " + what.strip().splitlines()[-1])
                    message = self.messages.get_nowait()
            except queue.Empty:
                pass

        oracles: dict[int, Oracle] = {}
        try:
            while (i := _take(self.counter, self.taken, 0, len(todo))) is not None:
                for order, result in run_unit(plans, oracles, todo[i]):
                    received.add(order)
                    keep(order, result)
                    drain()
            # All units are taken: a helper still importing its frameworks has nothing left to do.
            with self.counter.get_lock():
                for w, proc in self.procs.items():
                    if self.taken[w] == 0:
                        proc.terminate()
            while any(proc.is_alive() for proc in self.procs.values()):
                drain(timeout=0.2)
            drain(timeout=0.2)
            drain()
            crashed = {w: p.exitcode for w, p in self.procs.items() if self.taken[w] and p.exitcode}
            for unit in todo:
                lost = [o for o in unit_orders(plans[unit[0]], unit) if o not in received]
                if lost:  # the process that took the unit died before sending these back
                    code = ", ".join(f"{c}" for c in crashed.values()) or "?"
                    notes.append(f"--jobs: a helper process died (exit code {code}) during a case; its results "
                                 "are errors")
                    for order in lost:
                        keep(order, _lost(plans, order, code))
        finally:
            self.stop()
        return notes


def _lost(plans: list[Plan], order: Order, exitcode: str) -> CaseResult:
    p, t, d, q, c = order
    plan = plans[p]
    target, precision = plan.targets[t], plan.precisions[q]
    return CaseResult(plan.spec.name, target.name, plan.devices[d], precision.name, plan.cases[c], plan.seed, ERROR,
                      reason=f"the process running this case died (exit code {exitcode}); replay it alone to see why",
                      spec_arg=plan.spec_arg, kind=target.kind)


__all__ = ["Helpers", "PROCESS_MEMORY", "auto_jobs", "cap_jobs", "run_unit", "units", "limit_threads", "threads_limited", "available_cpus"]
