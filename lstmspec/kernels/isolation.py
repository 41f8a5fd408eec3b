"""Run a kernel's cases in a worker process, so that a kernel that hangs,
segfaults, aborts or calls ``os._exit`` fails its case instead of the run.

One worker serves case after case (starting one costs an import of torch);
when a case times out or the worker dies, the case is reported with what
happened and a fresh worker takes the next case.
"""
from __future__ import annotations

import multiprocessing as mp
import signal
import time
from typing import Any

from ..check.cases import Case
from ..check.precision import PRECISIONS
from ..check.results import FAIL, CaseResult

DEFAULT_TIMEOUT = 120.0


def _worker(conn: Any, ref: str, spec_arg: str, grad: bool | None, supports: dict[str, Any], seed: int,
            want_grads: bool) -> None:
    from ..check.runner import Oracle, Plan, Target, check_one
    from ..spec.catalog import load_spec
    from .loading import load_kernel
    from .protocol import KernelAdapter

    spec = load_spec(spec_arg)
    impl = KernelAdapter(load_kernel(ref), ref, spec.name, grad=grad, supports=supports)
    plan = Plan(spec, spec_arg, [], [Target(ref, "kernel", impl)], [], [], seed, grads=want_grads)
    oracle = Oracle(spec, seed)
    conn.send("ready")
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        case, device, precision = task
        result = check_one(plan, oracle, plan.targets[0], case, device, PRECISIONS.get(precision), isolated=False)
        conn.send(result)


class IsolatedKernel:
    """Runs check_one for one kernel target in a worker process, with a per-case timeout."""

    def __init__(self, ref: str, spec_arg: str, *, grad: bool | None, supports: dict[str, Any], seed: int,
                 want_grads: bool, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.args = (ref, spec_arg, grad, supports, seed, want_grads)
        self.timeout = timeout
        self.proc: Any = None
        self.conn: Any = None

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, *self.args), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        if not parent.poll(300) or parent.recv() != "ready":
            raise RuntimeError("the kernel worker process did not start")

    def check(self, base: CaseResult, case: Case, device: str, precision: str) -> CaseResult:
        if self.proc is None or not self.proc.is_alive():
            self._start()
        start = time.perf_counter()
        try:
            self.conn.send((case, device, precision))
            if self.conn.poll(self.timeout):
                return self.conn.recv()
            self.stop(kill=True)
            return _fault(base, f"did not return within {self.timeout:g} s (per-case timeout; the worker was killed)",
                          start)
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            self.proc.join(5)
            code = self.proc.exitcode
            self.proc = None
            return _fault(base, f"killed its process: {_describe_exit(code)}", start)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
            self.proc.join(5)
        except (OSError, BrokenPipeError):
            pass
        self.proc = None


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name} (exit {code})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code} (e.g. os._exit or sys.exit in the kernel)"


def _fault(base: CaseResult, reason: str, start: float) -> CaseResult:
    base.status, base.reason = FAIL, reason
    base.seconds = time.perf_counter() - start
    return base
