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
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..check.parallel import MAX_AUTO_JOBS, Helpers, Order, auto_jobs, available_cpus, cap_jobs, units
from ..check.patterns import patterns_of
from ..check.plans import CheckOptions, build_plans, unique_specs, where_values
from ..check.precision import CPU_DEFAULT, CUDA_DEFAULT, PRECISIONS
from ..check.results import SKIP, CaseResult
from ..check.runner import Oracle, Plan, Target, check_one, exit_code
from ..interrupts import deferred, exit_status, signal_name
from ..machine import default_memory_cap, parse_memory
from ..quiet import show_framework_logs
from .args import add_command, add_run_options, split
from .progress import Progress
from .reports import Stream, check_outputs, device_names, versions, write_reports

EXAMPLES = """\
examples:
  lstmspec check                                   every shipped spec, every installed framework, CPU (+ CUDA if present)
  lstmspec check lstm --framework torch            one spec, one framework
  lstmspec check convlstm2d --where padding=same   only cases with padding=same
  lstmspec check lstm --device cuda --dtype float32,tf32,float16,bfloat16
  lstmspec check --fuzz 50 --seed 7                50 more drawn configurations per implementation
  lstmspec check --shard 2/4 --junit junit.xml     the second quarter of the cases, JUnit XML for CI
  lstmspec check --json out.json --report reports/ JSON (schema: lstmspec/report/SCHEMA.md) and Markdown

exit codes: 0 everything conforms, 1 something does not or nothing ran (every case skipped or not applicable),
2 usage or spec error or an output that cannot be written, 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM)

environment: LSTMSPEC_REFERENCE_MATH=auto|numpy|torch picks what the float64 oracle's tanh, sigmoid and
GEMMs of large arrays go through (auto: tanh/sigmoid through torch's vectorized kernels where numpy's are not
vectorized, i.e. without AVX-512; GEMMs through torch's MKL on an Intel CPU; each where it was faster)
"""


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "check", cmd_check,
        help="check framework layers against the specs (forward values, gradients, shapes)",
        description="Run framework LSTM layers (PyTorch, Keras, ONNX Runtime) on each spec's default case "
        "matrix and compare outputs, final states, gradients and weight shapes with the float64 reference "
        "derived from the spec's equations. Error bound per precision: multiplier x (the spec's own equations "
        "run in that precision) + floor.",
        examples=EXAMPLES,
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="shipped spec names or .toml paths (default: all shipped)")
    p.add_argument("--framework", help="comma-separated frameworks (torch, keras, tf_keras, onnxruntime; exports "
                   "and converters: torch.onnx, openvino, tf2onnx, tflite, torch.jit, torch.export, torch.compile) "
                   "or implementation names such as torch.nn.LSTM (a name that does not exist lists them all)")
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
    p.add_argument("--matrix", choices=("default", "full"), default="default",
                   help="default: export and conversion paths (torch.onnx.export, OpenVINO, tf2onnx, TFLite; a "
                   "conversion per case) run the reduced matrix, and the slowest of them (tf-keras conversions, "
                   "ConvLSTM loops, the dynamo exporter) the spec's default case; the report says which cases; "
                   "full: every case for every path")
    p.add_argument("--fuzz", type=int, default=0, metavar="N",
                   help="N more configurations per implementation drawn with hypothesis; failures are shrunk")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs, parameters and fuzzing (default 0)")
    p.add_argument("--shard", type=_shard, metavar="K/N", help="run the K-th of N deterministic slices of the cases")
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help="processes to spread the cases over (default: one per CPU core, up to "
                   f"{MAX_AUTO_JOBS}; 1 with --kernel or CUDA). Reports do not depend on it")
    p.add_argument("--no-grad", action="store_true", help="skip the gradient comparisons")
    p.add_argument("--json", metavar="FILE", help="write results as JSON (schema lstmspec-check, an integer version; "
                   "JSON Schema in lstmspec/schemas/check.json)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML, one testcase per case (what an implementation "
                   "cannot run is no testcase); a failure's message leads with its diagnosis")
    p.add_argument("--report", metavar="DIR", help="write a Markdown report DIR/conformance-DEVICE.md "
                   "(DIR/conformance.md when several devices ran)")
    add_run_options(p, verbose="every quantity over its bound in each failure (default: the 3 worst), and the "
                    "frameworks' own log lines (TensorFlow, absl, XLA), which are otherwise silenced")


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


def options_of(args: argparse.Namespace) -> CheckOptions:
    """The command line as plain data: what :func:`~lstmspec.check.plans.build_plans` reads, here and in
    every ``--jobs`` helper process."""
    return CheckOptions(
        specs=tuple(args.specs), frameworks=tuple(split(args.framework)) if args.framework else None,
        devices=tuple(split(args.device)) if args.device else None, dtypes=tuple(split(args.dtype)),
        kernels=tuple(args.kernel or ()), where=tuple(args.where), cases=tuple(args.case or ()),
        shard=args.shard, seed=args.seed, fuzz=args.fuzz, grads=not args.no_grad, kernel_grad=args.grad,
        isolate=not args.no_isolate, timeout=args.timeout, max_memory=args.max_memory, matrix=args.matrix)


def _early_helpers(args: argparse.Namespace, options: CheckOptions) -> Helpers | None:
    """Start --jobs helpers now, so they import their frameworks while this process imports its own."""
    if args.list or args.jobs == 1:
        return None
    if args.jobs is None:
        gpu = "cuda" in (args.device or "") or (args.device is None and Path("/dev/nvidiactl").exists())
        if args.kernel or gpu or args.case:
            return None  # auto_jobs would say 1
    jobs = args.jobs or cap_jobs(min(available_cpus(), MAX_AUTO_JOBS))[0]
    return Helpers(options, jobs) if jobs > 1 else None


def cmd_check(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    show_framework_logs(args.verbose)  # before any helper starts or framework is imported
    check_outputs(args)
    jobs_note = None
    if args.jobs is not None:
        args.jobs, jobs_note = cap_jobs(args.jobs)
    options = options_of(args)
    helpers = _early_helpers(args, options)
    kernels: list[Target] = []
    stream: Stream | None = None
    try:
        plans, kernels, devices, notes = build_plans(options)
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
        stream = Stream.beside(args.json)

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
                _fuzz(plans, options, keep)
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
            meta["patterns"] = [p.to_json() for p in patterns_of(unique_specs(plans), results)]
            write_reports(results, meta, args)
    finally:
        _stop(helpers, kernels)
        if stream is not None:
            stream.close(remove=True)
    if interrupted is not None:
        return exit_status(interrupted)
    if not any(r.status != SKIP for r in results):
        # a check in which nothing ran cannot fail, so it must not pass either (e.g. --dtype tf32 on a CPU)
        gaps = sum(r.not_applicable for r in results)
        why = ("no case was selected (see --where, --case and --shard; --list shows the cases)" if not results
               else f"none of the {len(results)} cases applies to the implementations chosen (the reasons are "
               "listed above)" if gaps == len(results)
               else f"all {len(results)} cases were skipped or not applicable (the reasons are listed above)")
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


def _run_sequential(plans: list[Plan], keep: Callable[[Order, CaseResult], None]) -> None:
    """Implementation after implementation, so each one's progress line comes as soon as it is done."""
    for p, plan in enumerate(plans):
        oracle = Oracle(plan.spec, plan.seed)
        for t, target in enumerate(plan.targets):
            for d, device in enumerate(plan.devices):
                for q, precision in enumerate(plan.precisions):
                    for c, case in enumerate(plan.cases):
                        keep((p, t, d, q, c), check_one(plan, oracle, target, case, device, precision))


def _fuzz(plans: list[Plan], options: CheckOptions, keep: Callable[[Order, CaseResult], None]) -> None:
    """``--fuzz N`` after the matrix, in this process: hypothesis draws one case after another."""
    from ..check.fuzz import fuzz

    for p, plan in enumerate(plans):
        oracle = Oracle(plan.spec, plan.seed)
        for t, target in enumerate(plan.targets):
            for d, device in enumerate(plan.devices):
                for q, precision in enumerate(plan.precisions):
                    drawn = iter(range(len(plan.cases), sys.maxsize))
                    fuzz(plan, oracle, target, device, precision, options.fuzz,
                         lambda result, o=(p, t, d, q): keep((*o, next(drawn)), result), where_values(plan.spec, options.where))


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
