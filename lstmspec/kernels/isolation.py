"""Run a user kernel in a worker process, so that nothing a kernel does can end or
corrupt the run: a kernel that exits, hangs, segfaults, aborts, prints, forks
or grows without bound fails its case (or, while its file is imported, stops
the run with one line), and never passes by accident.

The worker is a process group of its own. Its stdout and stderr go to a
file, shown with the case it belongs to, never into lstmspec's stdout. After
every case the processes the kernel started are ended; the group's memory is
watched while a case runs and a breach of the cap fails that case.

One worker serves case after case (starting one costs an import of torch);
when a case times out or the worker dies, the case is reported with what
happened and a fresh worker takes the next case.

The worker imports the kernel file *before* the first case and sends back
what the kernel declares (``Declared``): the main process never imports a
kernel it isolates, so ``raise SystemExit(0)`` in a kernel file cannot end
``lstmspec check`` with exit 0.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from ..check.cases import Case
from ..check.precision import PRECISIONS
from ..check.results import ERROR, FAIL, CaseResult
from ..errors import ConfigError
from ..interrupts import end_with_parent
from . import processes
from .state import fresh_process_state

DEFAULT_TIMEOUT = 120.0
STARTUP_TIMEOUT = 300.0  # the worker's own imports (torch) before the kernel file's import is timed
MEMORY_POLL_S = 0.1
OUTPUT_SHOWN = 2000  # characters of a case's captured output kept in the report
HANGS_IN_A_ROW = 2  # after this many timeouts in a row the remaining cases are not run


@dataclass
class Declared:
    """What a kernel declares, as plain data: enough for the main process to decide skips
    and label results without importing the kernel."""

    name: str
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    supports: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    gradients: bool = False
    layout: str | None = None
    convention: str = ""
    framework: str = "kernel"
    declared: frozenset[str] = frozenset()  # the supports keys the user declared (the rest are the protocol's)
    limits: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, impl: Any) -> "Declared":
        return cls(impl.name, tuple(impl.devices), tuple(impl.precisions), dict(impl.supports), bool(impl.gradients),
                   impl.layout, getattr(impl, "convention", ""), declared=impl.declared, limits=dict(impl.limits))


def _worker(conn: Any, ref: str, spec_arg: str, grad: bool | None, seed: int, want_grads: bool,
            capture: str) -> None:
    os.setpgrp()  # a group of its own: everything the kernel starts can be found and ended
    # if lstmspec dies (even by SIGKILL), the worker ends its whole group: nothing the kernel started outlives it
    signal.signal(signal.SIGTERM, lambda signum, frame: os.killpg(0, signal.SIGKILL))
    end_with_parent(signal.SIGTERM)
    out = os.open(capture, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    try:
        import torch  # noqa: F401 - imported before the kernel file, whose import is what the timeout measures
    except ImportError:
        pass
    from ..check.runner import Oracle, Plan, Target, check_one
    from ..spec.catalog import load_spec
    from .loading import load_kernel
    from .protocol import KernelAdapter

    spec = load_spec(spec_arg)
    conn.send(("started", None))
    try:
        impl = KernelAdapter(load_kernel(ref), ref, spec, grad=grad)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt at import are the user's too
        _flush()
        conn.send(("error", _import_failure(ref, exc)))
        return
    conn.send(("ready", Declared.of(impl)))
    plan = Plan(spec, spec_arg, [], [Target(ref, "kernel", impl)], [], [], seed, grads=want_grads)
    oracle = Oracle(spec, seed)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        case, device, precision = task
        try:
            with fresh_process_state():
                result = check_one(plan, oracle, plan.targets[0], case, device, PRECISIONS.get(precision),
                                   isolated=False)
        except Exception as exc:  # noqa: BLE001 - lstmspec's own failure around the kernel: this case's error
            result = CaseResult(spec.name, ref, device, precision, case, seed, ERROR, spec_arg=spec_arg,
                                kind="kernel", reason=f"lstmspec failed around the kernel ({type(exc).__name__}: "
                                f"{exc}); this is a bug in lstmspec")
        _flush()
        conn.send(result)


def _flush() -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _import_failure(ref: str, exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, SystemExit):
        return f"importing {ref} called sys.exit({exc.code!r}) (SystemExit); a kernel file must not exit"
    if isinstance(exc, KeyboardInterrupt):
        return f"importing {ref} raised KeyboardInterrupt"
    return f"importing {ref} raised {type(exc).__name__}: {exc}"


class IsolatedKernel:
    """Runs check_one for one kernel target in a worker process, with a per-case timeout and memory cap."""

    def __init__(self, ref: str, spec_arg: str, *, grad: bool | None, seed: int, want_grads: bool,
                 timeout: float = DEFAULT_TIMEOUT, max_memory: int | None = None) -> None:
        self.ref = ref
        self.args = (ref, spec_arg, grad, seed, want_grads)
        self.timeout = timeout
        self.max_memory = max_memory
        self.proc: Any = None
        self.conn: Any = None
        self.declared: Declared | None = None
        self.hangs = 0
        self.capture = ""

    # --------------------------------------------------------------- start
    def start(self) -> Declared:
        """Start the worker and import the kernel file in it; ConfigError (exit 2) when that fails."""
        ctx = mp.get_context("spawn")
        fd, self.capture = tempfile.mkstemp(prefix="lstmspec-kernel-", suffix=".out")
        os.close(fd)
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, *self.args, self.capture), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        try:
            self._expect("started", STARTUP_TIMEOUT, "the kernel worker process did not start")
            kind, value = self._expect(None, self.timeout, None)
            if kind == "error":
                raise ConfigError(value + self._printed_tail())
        except (ConfigError, _OverMemory) as exc:
            self.stop(kill=True)
            if isinstance(exc, _OverMemory):
                raise ConfigError(f"importing {self.ref} used {_gib(exc.used)} of memory, over the cap of "
                                  f"{_gib(self.max_memory or 0)} (--max-memory)") from None
            raise
        self.declared = value
        return value

    def _expect(self, kind: str | None, timeout: float, failure: str | None) -> tuple[str, Any]:
        what = failure or f"importing {self.ref}"
        ended = f"{failure}: it ended with" if failure else f"{what} ended the worker process:"
        if not self._poll(timeout):
            if self.proc.is_alive():
                raise ConfigError(f"{what} did not finish within {timeout:g} s (--timeout)" + self._printed_tail())
            raise ConfigError(f"{ended} {_describe_exit(self._exitcode())}" + self._printed_tail())
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            raise ConfigError(f"{ended} {_describe_exit(self._exitcode())}" + self._printed_tail()) from None
        if kind is not None and message[0] != kind:
            raise ConfigError(f"{what}: unexpected message {message[0]!r} from the worker")
        return message

    def _poll(self, timeout: float) -> bool:
        """Wait for a message; False on timeout or when the worker died. Watches the memory cap meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.conn.poll(min(MEMORY_POLL_S, left)):
                return True
            if not self.proc.is_alive():
                return self.conn.poll(0)
            if self.max_memory is not None:
                used = processes.group_rss(self.proc.pid)
                if used > self.max_memory:
                    raise _OverMemory(used)

    def _exitcode(self) -> int | None:
        self.proc.join(5)
        return self.proc.exitcode

    # ---------------------------------------------------------------- cases
    def check(self, base: CaseResult, case: Case, device: str, precision: str) -> CaseResult:
        if self.hangs >= HANGS_IN_A_ROW:
            return _fault(base, f"not run: timed out on {self.hangs} cases in a row (limit {self.timeout:g} s)",
                          time.perf_counter())
        if self.proc is None or not self.proc.is_alive():
            try:
                self.start()
            except ConfigError as exc:
                return _fault(base, f"the kernel worker could not be restarted: {exc}", time.perf_counter())
        start = time.perf_counter()
        _truncate(self.capture)
        try:
            self.conn.send((case, device, precision))
            if self._poll(self.timeout):
                result = self.conn.recv()
                self.hangs = 0
                processes.end_descendants(self.proc.pid)
                result.output = self._printed()
                return result
            if self.proc.is_alive():
                self.hangs += 1
                output = self._printed()
                self.stop(kill=True)
                return _fault(base, f"did not return within {self.timeout:g} s (per-case timeout; the worker "
                              "was killed)", start, output)
            raise EOFError
        except _OverMemory as over:
            output = self._printed()
            self.stop(kill=True)
            self.hangs = 0
            return _fault(base, f"used {_gib(over.used)} of memory, over the cap of {_gib(self.max_memory or 0)} "
                          "(--max-memory; the worker was killed)", start, output)
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            code = self._exitcode()
            output = self._printed()
            self.stop(kill=True)
            self.hangs = 0
            return _fault(base, f"killed its process: {_describe_exit(code)}", start, output)

    # -------------------------------------------------------------- output
    def _printed(self) -> str:
        try:
            with open(self.capture, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        if len(text) > OUTPUT_SHOWN:
            half = OUTPUT_SHOWN // 2
            text = f"{text[:half]}\n... ({len(text) - OUTPUT_SHOWN} characters left out) ...\n{text[-half:]}"
        return text

    def _printed_tail(self) -> str:
        text = self._printed().strip()
        if not text:
            return ""
        last = text.splitlines()[-1]
        return f"; it printed: {last[:200]}"

    # ---------------------------------------------------------------- stop
    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        pid = self.proc.pid
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        except (OSError, BrokenPipeError, ValueError):
            pass
        processes.end_group(pid)
        self.proc = None
        if self.capture:
            try:
                os.unlink(self.capture)
            except OSError:
                pass


class _OverMemory(Exception):
    def __init__(self, used: int) -> None:
        super().__init__(used)
        self.used = used


def _truncate(path: str) -> None:
    # the worker's descriptors are O_APPEND: after truncation its next write lands at the start again
    try:
        os.truncate(path, 0)
    except OSError:
        pass


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name} (exit {code})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code} (os._exit or sys.exit outside a case, or the process was ended)"


def _fault(base: CaseResult, reason: str, start: float, output: str = "") -> CaseResult:
    base.status, base.reason = FAIL, reason
    base.seconds = time.perf_counter() - start
    base.output = output
    return base


def load_in_process(ref: str, spec_arg: str, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The kernel ``ref``, imported here only after a worker imported it cleanly under ``timeout``.

    For the paths that must call a kernel in this process (``check --no-isolate``, ``bench``): an exit, a
    hang or an exception at import is one ConfigError, and never ends this process.
    """
    from .loading import load_kernel

    probe = IsolatedKernel(ref, spec_arg, grad=None, seed=0, want_grads=False, timeout=timeout)
    probe.start()
    probe.stop()
    return load_kernel(ref)

