"""``lstmspec check``: choose specs, implementations, devices and precisions; run; report.

Usage errors (unknown spec, framework, device, dtype, bad --case) raise
LstmspecError before anything runs. Once running, results are kept as they
come: an interrupted run (Ctrl-C) still writes its reports with what it
finished, and exits 130.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..interrupts import deferred, exit_status, signal_name
from ..machine import cpu_name, default_memory_cap, parse_memory
from ..reference.backends import get_backend
from ..spec.catalog import load_spec, shipped_names
from ..spec.model import Spec
from .cases import OPTIONS, Case, matrix_for, parse_case_key, select, shard
from .patterns import patterns_of
from .precision import CPU_DEFAULT, CUDA_DEFAULT, PRECISIONS, Precision
from .results import ERROR, FAIL, PASS, SKIP, CaseResult
from .parallel import MAX_AUTO_JOBS, Helpers, Order, auto_jobs, available_cpus, cap_jobs, units
from .runner import Oracle, Plan, Target, check_one, device_available, exit_code

DEVICES = ("cpu", "cuda")

EXAMPLES = """\
examples:
  lstmspec check                                   every shipped spec, every installed framework, CPU (+ CUDA if present)
  lstmspec check lstm --framework torch            one spec, one framework
  lstmspec check convlstm2d --where padding=same   only cases with padding=same
  lstmspec check lstm --device cuda --dtype float32,tf32,float16,bfloat16
  lstmspec check --fuzz 50 --seed 7                50 more drawn configurations per implementation
  lstmspec check --shard 2/4 --junit junit.xml     the second quarter of the cases, JUnit XML for CI
  lstmspec check --json out.json --report reports/ JSON (schema: lstmspec/report/SCHEMA.md) and Markdown

exit codes: 0 everything conforms, 1 something does not or nothing ran (every case skipped), 2 usage or spec error, 130 interrupted

environment: LSTMSPEC_REFERENCE_MATH=auto|numpy|torch picks what the float64 oracle's tanh, sigmoid and
GEMMs of large arrays go through (auto: tanh/sigmoid through torch's vectorized kernels where numpy's are not
vectorized, i.e. without AVX-512; GEMMs through torch's MKL on an Intel CPU; each where it was faster)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check framework layers against the specs (forward values, gradients, shapes)",
        description="Run framework LSTM layers (PyTorch, Keras, ONNX Runtime) on each spec's default case "
        "matrix and compare outputs, final states, gradients and weight shapes with the float64 reference "
        "derived from the spec's equations. Error bound per precision: multiplier x (the spec's own equations "
        "run in that precision) + floor.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="shipped spec names or .toml paths (default: all shipped)")
    p.add_argument("--framework", help="comma-separated frameworks (torch, keras, onnxruntime) or adapter names")
    p.add_argument("--device", help="comma-separated: cpu, cuda (default: cpu, and cuda when available)")
    p.add_argument("--dtype", help="comma-separated precisions: " + ", ".join(PRECISIONS.names())
                   + f" (default: {','.join(CPU_DEFAULT)} on cpu; {','.join(CUDA_DEFAULT)} on cuda)")
    p.add_argument("--kernel", action="append", metavar="FILE.py:NAME",
                   help="check your own kernel NAME(x, state, params, config) -> (y, final_state) (or a module:NAME, "
                   "or an nn.Module class that is a drop-in for nn.LSTM); repeatable. Frameworks run only when "
                   "--framework is given too")
    p.add_argument("--grad", action="store_true", help="check gradients through the kernel (autograd)")
    p.add_argument("--no-isolate", action="store_true",
                   help="run kernels in this process (default: a worker process, so hangs and crashes are results)")
    p.add_argument("--timeout", type=_seconds, default=120.0, metavar="S",
                   help="per-case time limit for an isolated kernel, seconds (default 120)")
    p.add_argument("--max-memory", type=_memory, default=default_memory_cap(), metavar="SIZE",
                   help="memory cap of an isolated kernel's worker and what it starts, e.g. 4G, 512M or 50%% "
                   "(of RAM); a case that goes over fails (default: half of the machine's memory)")
    p.add_argument("--case", action="append", metavar="KEY", help="run exactly this case (a key from a report's "
                   "replay command, e.g. batch=2,time=3,padding=same); repeatable")
    p.add_argument("--where", action="append", default=[], metavar="NAME=VALUE",
                   help="keep only cases with this dimension/attribute/option value; repeatable")
    p.add_argument("--fuzz", type=int, default=0, metavar="N",
                   help="N more configurations per implementation drawn with hypothesis; failures are shrunk")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs, parameters and fuzzing (default 0)")
    p.add_argument("--shard", type=_shard, metavar="K/N", help="run the K-th of N deterministic slices of the cases")
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help="processes to spread the cases over (default: one per CPU core, up to "
                   f"{MAX_AUTO_JOBS}; 1 with --kernel or CUDA). Reports do not depend on it")
    p.add_argument("--no-grad", action="store_true", help="skip the gradient comparisons")
    p.add_argument("--json", metavar="FILE", help="write results as JSON (versioned schema)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML, one testcase per case")
    p.add_argument("--report", metavar="DIR", help="write a Markdown report DIR/conformance.md")
    p.add_argument("--list", action="store_true", help="list the cases and implementations that would run, then exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_check)


def _memory(text: str) -> int:
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1 but got {text!r}")
    return value


def _seconds(text: str) -> float:
    """A time limit: positive and finite (``nan``, ``inf``, ``0`` and ``-1`` would never or always expire)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds but got {text!r}")
    return value


_SHARD = re.compile(r"([0-9]+)/([0-9]+)", re.ASCII)


def _shard(text: str) -> tuple[int, int]:
    """``K/N`` in ASCII digits with 1 <= K <= N (``int()`` would also read ``²`` and ``٣``)."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected K/N such as 2/4 but got {text!r}")
    k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N but got {text!r}")
    return k, n


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _targets(spec: Spec, framework_arg: str | None, notes: list[str]) -> list[Target]:
    from ..adapters.base import all_adapters, installed, select_adapters

    wanted = _split(framework_arg)
    adapters = select_adapters(wanted) if wanted else all_adapters()
    out: list[Target] = []
    for a in adapters:
        if a.spec != spec.name and (a.spec not in spec.lineage or not a.on_extending_specs):
            continue  # a layer of a spec this one extends, keeping its equations, implements it too
        if not installed(a, bool(wanted), notes):
            continue
        if a.spec != spec.name:
            from ..adapters.lowered import LoweredAdapter

            a = LoweredAdapter(a, spec)  # fed the spec's transforms (row_lstm: the rows of the image)
        out.append(Target(a.name, "framework", a))
    return out


def _devices(arg: str | None, notes: list[str]) -> list[str]:
    if arg:
        devices = _split(arg)
        for d in devices:
            if d not in DEVICES:
                raise ConfigError(f"unknown device {d!r}; devices: {', '.join(DEVICES)}")
            reason = device_available(d)
            if reason:
                raise ConfigError(f"--device {d}: {reason}")
        return devices
    devices = ["cpu"]
    if device_available("cuda") is None:
        devices.append("cuda")
    else:
        notes.append("CPU only: " + (device_available("cuda") or ""))
    return devices


def _precisions(arg: str | None, device: str) -> list[Precision]:
    names = _split(arg) or list(CPU_DEFAULT if device == "cpu" else CUDA_DEFAULT)
    return [PRECISIONS.get(n) for n in names]


def _where(spec: Spec, items: Sequence[str]) -> dict[str, Any]:
    """``--where`` restrictions that apply to ``spec``; a name only another checked spec has is skipped here
    (:func:`check_where_names` has already refused names that no checked spec has)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"Expected --where NAME=VALUE but got {item!r}")
        if name in spec.attributes:
            out[name] = spec.attributes[name].parse_cli(text)
        elif name in spec.dims:
            try:
                out[name] = int(text)
            except ValueError:
                raise ConfigError(f"Expected an integer but got --where {item}") from None
        elif name in OPTIONS:
            values = {str(v).lower(): v for v in OPTIONS[name]}
            if text.lower() not in values:
                raise ConfigError(f"Expected --where {name}=VALUE with VALUE one of {', '.join(map(str, OPTIONS[name]))} "
                                  f"but got {text!r}")
            out[name] = values[text.lower()]
    return out


def check_where_names(specs: Sequence[Spec], items: Sequence[str]) -> None:
    """A ``--where`` name must be a dimension, attribute or case option of at least one checked spec:
    a misspelt name would otherwise restrict nothing, and every case would run."""
    for item in items:
        name, sep, _ = item.partition("=")
        if not sep:
            raise ConfigError(f"Expected --where NAME=VALUE but got {item!r}")
        if name in OPTIONS or any(name in spec.dims or name in spec.attributes for spec in specs):
            continue
        known = dict.fromkeys([n for spec in specs for n in (*spec.dims, *spec.attributes)] + list(OPTIONS))
        which = specs[0].name if len(specs) == 1 else f"any of the {len(specs)} specs checked"
        raise ConfigError(f"--where {name!r}: no dimension, attribute or option of that name in {which}; "
                          f"known: {', '.join(known)}")


def _cases(spec: Spec, args: argparse.Namespace, supports: Sequence[dict[str, Any]] = ()) -> tuple[list[Case], list[Case]]:
    if args.case:
        cases = [parse_case_key(spec, key) for key in args.case]
    else:
        cases = matrix_for(spec, supports)  # kernels' declared support centres more cases on what they compute
    kept, excluded = select(spec, cases, _where(spec, args.where))
    if args.shard:
        kept = shard(kept, *args.shard)
    return kept, excluded


def versions() -> dict[str, str]:
    import numpy

    from .. import __version__

    out = {"lstmspec": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "tensorflow", "keras", "onnxruntime"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = str(getattr(module, "__version__", "?"))
    out["reference math"] = get_backend("numpy").math.summary()  # tanh/sigmoid/GEMMs of the oracle's large arrays
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out


def device_names(devices: Sequence[str]) -> dict[str, str]:
    names = {}
    for d in devices:
        if d == "cpu":
            names[d] = cpu_name()
        elif d == "cuda":
            import torch

            names[d] = torch.cuda.get_device_name(0)
    return names


Group = tuple[int, int, int, int, bool]  # plan, target, device, precision, fuzz


class Progress:
    """One line per implementation group on stderr, when the group is complete; a live counter on a terminal.

    Results may arrive interleaved (``--jobs``), so a group is reported when
    all its cases are in, with the seconds its cases took. Interleaved groups
    all end near the end of the run, so where there is no live counter (a CI
    log) a line with the count so far comes every ``HEARTBEAT_S`` seconds.
    """

    HEARTBEAT_S = 10.0

    def __init__(self, quiet: bool, total: int) -> None:
        self.quiet, self.total, self.done = quiet, total, 0
        self.tty = sys.stderr.isatty()
        self.start = self.last_line = time.perf_counter()
        self.bad = 0
        self.expected: dict[Group, int] = {}
        self.counts: dict[Group, dict[str, float]] = {}
        self.labels: dict[Group, str] = {}

    def expect(self, group: Group, count: int) -> None:
        self.expected[group] = self.expected.get(group, 0) + count

    def __call__(self, group: Group, result: CaseResult) -> None:
        self.done += 1
        counts = self.counts.setdefault(group, {PASS: 0, FAIL: 0, ERROR: 0, SKIP: 0, "n": 0, "s": 0.0})
        self.labels[group] = " | ".join((result.spec, result.implementation, result.device, result.precision))
        if group[4]:
            self.labels[group] += " | fuzz"
        counts[result.status] += 1
        counts["n"] += 1
        counts["s"] += result.seconds
        if result.status in (FAIL, ERROR):
            self.bad += 1
            if not self.quiet:
                self._clear()
                print(result.summary_line(), file=sys.stderr)
        if counts["n"] >= self.expected.get(group, 0):
            self._line(group)
        elif self.tty and not self.quiet:
            print(f"\r[{self.done}/{self.total}] {self.labels[group]} ...", end="", file=sys.stderr, flush=True)
        elif not self.quiet and time.perf_counter() - self.last_line >= self.HEARTBEAT_S:
            now = time.perf_counter()
            print(f"[{self.done}/{self.total}] {now - self.start:.0f} s, {self.bad} failed so far", file=sys.stderr)
            self.last_line = now

    def _clear(self) -> None:
        if self.tty:
            print("\r\033[K", end="", file=sys.stderr)

    def _line(self, group: Group) -> None:
        c = self.counts.pop(group)
        if self.quiet:
            return
        self._clear()
        print(f"[{self.done}/{self.total}] {self.labels[group]}: {c[PASS]} passed, {c[FAIL] + c[ERROR]} failed, "
              f"{c[SKIP]} skipped ({c['s']:.1f} s)", file=sys.stderr)
        self.last_line = time.perf_counter()

    def flush(self) -> None:
        """Report groups that did not complete (an interrupted run)."""
        for group in sorted(self.counts):
            self._line(group)


def build_plans(args: argparse.Namespace) -> tuple[list[Plan], list[Target], list[str], list[str]]:
    """(plans, kernel targets, devices, notes) from the command line; the same in every --jobs process."""
    notes: list[str] = []
    names = args.specs or shipped_names()
    if args.case and len(names) != 1:
        raise ConfigError("--case needs exactly one SPEC (a case key names one spec's dimensions)")
    if args.fuzz < 0:
        raise ConfigError(f"Expected --fuzz N >= 0 but got {args.fuzz}")
    if args.kernel and not args.specs:
        raise ConfigError("--kernel needs the SPEC it implements, e.g. lstmspec check lstm --kernel my.py:lstm")
    specs = [load_spec(name) for name in names]  # a misspelt spec is reported before any framework import
    check_where_names(specs, args.where)
    get_backend("numpy")  # a bad $LSTMSPEC_REFERENCE_MATH is reported before anything runs, not at the end
    devices = _devices(args.device, notes)
    plans: list[Plan] = []
    kernels: list[Target] = []
    for name, spec in zip(names, specs):
        # kernels before frameworks: Triton's LLVM aborts the process when loaded after TensorFlow's
        # ("Option ... registered more than once"), not the other way round
        kernel_targets = [_kernel_target(ref, name, spec, args) for ref in args.kernel or []]
        kernels += kernel_targets
        targets = _targets(spec, args.framework, notes) if (args.framework or not args.kernel) else []
        targets += kernel_targets
        cases, excluded = _cases(spec, args, [t.impl.supports for t in kernel_targets])
        for device in devices:
            precisions = _precisions(args.dtype, device)
            if targets:
                plans.append(Plan(spec, name, cases, targets, [device], precisions, args.seed,
                                  grads=not args.no_grad, excluded=excluded))
    if args.framework and not any(p.targets for p in plans):
        raise ConfigError(f"no implementation of {', '.join(names)} in --framework {args.framework}")
    return plans, kernels, devices, notes


def _early_helpers(args: argparse.Namespace) -> Helpers | None:
    """Start --jobs helpers now, so they import their frameworks while this process imports its own."""
    if args.list or args.jobs == 1:
        return None
    if args.jobs is None:
        gpu = "cuda" in (args.device or "") or (args.device is None and Path("/dev/nvidiactl").exists())
        if args.kernel or gpu or args.case:
            return None  # auto_jobs would say 1
    jobs = args.jobs or cap_jobs(min(available_cpus(), MAX_AUTO_JOBS))[0]
    return Helpers(args, jobs) if jobs > 1 else None


def check_outputs(args: argparse.Namespace) -> None:
    """Report paths checked before anything runs: a run of many minutes must not end in a bad path."""
    from ..outputs import check_dir_target, check_distinct, check_file_target

    if args.json:
        check_file_target(args.json, "--json")
    if args.junit:
        check_file_target(args.junit, "--junit")
    if args.report:
        check_dir_target(args.report, "--report")
    check_distinct([("--json", args.json), ("--junit", args.junit)])


def cmd_check(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    check_outputs(args)
    jobs_note = None
    if args.jobs is not None:
        args.jobs, jobs_note = cap_jobs(args.jobs)
    helpers = _early_helpers(args)
    kernels: list[Target] = []
    stream: _Stream | None = None
    try:
        plans, kernels, devices, notes = build_plans(args)
        notes[:0] = [jobs_note] if jobs_note else []
        jobs = args.jobs or auto_jobs(plans, bool(kernels))
        if helpers is not None and (jobs == 1 or len(units(plans)) < 2):
            helpers.stop()
            helpers = None
        for note in notes:
            print(note, file=sys.stderr)
        if args.list:
            return _list(plans)
        total = sum(p.size() + args.fuzz * len(p.targets) * len(p.precisions) for p in plans)
        progress = Progress(args.quiet, total)
        for p, plan in enumerate(plans):
            for t in range(len(plan.targets)):
                for d in range(len(plan.devices)):
                    for q in range(len(plan.precisions)):
                        progress.expect((p, t, d, q, False), len(plan.cases))
                        progress.expect((p, t, d, q, True), args.fuzz)
        ordered: list[tuple[Order, CaseResult]] = []
        stream = _Stream.beside(args.json)

        def keep(order: Order, result: CaseResult) -> None:
            ordered.append((order, result))
            progress((*order[:4], order[4] >= len(plans[order[0]].cases)), result)
            if stream is not None:
                stream.write(result)

        interrupted: KeyboardInterrupt | None = None
        try:
            if helpers is not None:
                for note in helpers.run(plans, keep):
                    print(note, file=sys.stderr)
                    notes.append(note)
            else:
                _run_sequential(plans, keep)
            if args.fuzz:
                _fuzz(plans, args, keep)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (lstmspec.interrupts)
            interrupted = exc
            print(f"\ninterrupted{_by(exc)}: reporting the cases that finished", file=sys.stderr)
        finally:
            _stop(helpers, kernels)
            helpers, kernels = None, []
        with deferred():  # a signal now waits until the reports are complete
            results = [result for _, result in sorted(ordered, key=lambda item: item[0])]
            progress.flush()
            meta = {
                "command": "lstmspec check " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["check"] else "lstmspec check",
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "seed": args.seed,
                "versions": versions(),
                "devices": device_names(devices),
                "duration_s": round(time.perf_counter() - started, 2),
                "notes": notes,
                "interrupted": interrupted is not None,
            }
            if interrupted is not None:
                meta["interrupted_by"] = signal_name(interrupted)
                meta["cases_planned"] = total
            meta["patterns"] = [p.to_json() for p in patterns_of(_unique_specs(plans), results)]
            _write_reports(results, meta, args)
    finally:
        _stop(helpers, kernels)
        if stream is not None:
            stream.close(remove=True)
    if interrupted is not None:
        return exit_status(interrupted)
    if not any(r.status != SKIP for r in results):
        # a check in which nothing ran cannot fail, so it must not pass either (e.g. --dtype tf32 on a CPU)
        why = (f"all {len(results)} cases were skipped (the reasons are listed above)" if results
               else "no case was selected (see --where, --case and --shard; --list shows the cases)")
        print(f"lstmspec check: nothing was checked: {why}", file=sys.stderr)
        return 1
    return exit_code(results)


def _by(exc: BaseException) -> str:
    name = signal_name(exc)
    return "" if name == "SIGINT" else f" by {name}"


def _stop(helpers: Helpers | None, kernels: Sequence[Target]) -> None:
    """End the --jobs helpers and the kernel workers (each with what it started): nothing outlives a run."""
    if helpers is not None:
        helpers.stop()
    for target in kernels:
        if target.isolated is not None:
            target.isolated.stop()


class _Stream:
    """Results appended as JSON lines while the run goes, so a killed run keeps what it finished.

    Only beside a regular ``--json`` file (not ``/dev/full.partial.jsonl``); a stream that cannot be
    written stops quietly, since the report written at the end is the one that counts.
    """

    def __init__(self, path: Path) -> None:
        import json

        self.path, self.json = path, json
        self.file: Any = path.open("w", encoding="utf-8")

    @classmethod
    def beside(cls, target: str | None) -> _Stream | None:
        from ..outputs import is_regular_target

        if not target or not is_regular_target(target):
            return None
        try:
            return cls(Path(target + ".partial.jsonl"))
        except OSError:  # e.g. a name at the length limit: no stream, the report itself is unaffected
            return None

    def write(self, result: CaseResult) -> None:
        from ..report.json_report import jsonable

        if self.file is None:
            return
        try:
            self.file.write(self.json.dumps(jsonable(result.to_json())) + "\n")
            self.file.flush()
        except OSError:  # a full disk: the final report will say so
            self.close(remove=True)

    def close(self, remove: bool) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
        if remove:
            self.path.unlink(missing_ok=True)


def _run_sequential(plans: list[Plan], keep: Callable[[Order, CaseResult], None]) -> None:
    """Implementation after implementation, so each one's progress line comes as soon as it is done."""
    for p, plan in enumerate(plans):
        oracle = Oracle(plan.spec, plan.seed)
        for t, target in enumerate(plan.targets):
            for d, device in enumerate(plan.devices):
                for q, precision in enumerate(plan.precisions):
                    for c, case in enumerate(plan.cases):
                        keep((p, t, d, q, c), check_one(plan, oracle, target, case, device, precision))


def _fuzz(plans: list[Plan], args: argparse.Namespace, keep: Callable[[Order, CaseResult], None]) -> None:
    """``--fuzz N`` after the matrix, in this process: hypothesis draws one case after another."""
    from .fuzz import fuzz

    for p, plan in enumerate(plans):
        oracle = Oracle(plan.spec, plan.seed)
        for t, target in enumerate(plan.targets):
            for d, device in enumerate(plan.devices):
                for q, precision in enumerate(plan.precisions):
                    drawn = iter(range(len(plan.cases), sys.maxsize))
                    fuzz(plan, oracle, target, device, precision, args.fuzz,
                         lambda result, o=(p, t, d, q): keep((*o, next(drawn)), result), _where(plan.spec, args.where))


def _kernel_target(ref: str, spec_arg: str, spec: Spec, args: argparse.Namespace) -> Target:
    """The kernel's file is imported in a worker first, under --timeout: whatever it does there (exit, hang,
    raise) is one ConfigError, never the end of this process. Isolated, the worker then runs the cases and
    this process sees only what the kernel declares; with --no-isolate it is imported here as well."""
    from ..kernels.isolation import IsolatedKernel, load_in_process
    from ..kernels.protocol import KernelAdapter

    grad = True if args.grad else None
    if args.no_isolate:
        return Target(ref, "kernel", KernelAdapter(load_in_process(ref, spec_arg, timeout=args.timeout), ref,
                                                   spec, grad=grad))
    isolated = IsolatedKernel(ref, spec_arg, grad=grad, seed=args.seed, want_grads=not args.no_grad,
                              timeout=args.timeout, max_memory=getattr(args, "max_memory", None))
    return Target(ref, "kernel", isolated.start(), isolated=isolated)


def _unique_specs(plans: Sequence[Plan]) -> list[Spec]:
    out: list[Spec] = []
    for plan in plans:
        if all(plan.spec is not s for s in out):
            out.append(plan.spec)
    return out


def _write_reports(results: list[CaseResult], meta: dict[str, Any], args: argparse.Namespace) -> None:
    """The terminal report, then each requested file; one that cannot be written does not stop the others.

    The first failure is raised at the end (one line, exit 2), after every other report is written.
    """
    from ..outputs import OutputError, atomic_write, write_stdout
    from ..report.terminal import render_terminal

    failures: list[Exception] = []
    try:
        write_stdout(render_terminal(results, meta))
    except OSError as exc:  # a closed pipe or a full disk: the files are still written
        failures.append(exc)
    written: list[str] = []

    def attempt(write: Callable[[], Any]) -> None:
        try:
            write()
        except OutputError as exc:
            failures.append(exc)

    if args.json:
        from ..report.json_report import write_json

        attempt(lambda: written.append(str(write_json(Path(args.json), results, meta))))
    if args.junit:
        from ..report.junit import to_junit

        attempt(lambda: written.append(str(atomic_write(args.junit, to_junit(results, meta)))))
    if args.report:
        from ..report.markdown import write_report

        attempt(lambda: written.extend(str(p) for p in write_report(results, meta, Path(args.report))))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    if failures:
        raise failures[0]


def _list(plans: list[Plan]) -> int:
    for plan in plans:
        for target in plan.targets:
            for device in plan.devices:
                print(f"{plan.spec.name} | {target.name} | {device} | {','.join(p.name for p in plan.precisions)}")
        for case in plan.cases:
            print(f"  {case.key}    # {case.label}")
        for case in plan.excluded:
            print(f"  (excluded by --where) {case.key}")
    return 0


__all__ = ["add_parser", "cmd_check"]
