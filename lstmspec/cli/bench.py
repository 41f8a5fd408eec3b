"""``lstmspec bench``: time implementations of a spec on the same inputs, after checking them.

Usage errors (unknown spec, suite, framework, device, dtype, bad --case)
raise LstmspecError before anything runs: one line on stderr, exit 2.
Once running, rows are kept as they come: an interrupted run (Ctrl-C) still
writes its reports with what it finished, and exits 130. Exit 1 when a
timed implementation does not conform (or raised), 0 otherwise.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..bench.suites import SUITES
from ..errors import ConfigError
from ..interrupts import deferred, exit_status, signal_name
from ..quiet import show_framework_logs
from .args import Parser, add_command, add_run_options, split
from .entry import run

DEFAULT_DTYPES = {"cpu": ("float32",), "cuda": ("float32",)}

EXAMPLES = """\
examples:
  lstmspec bench lstm                                   the standard case: references, PyTorch, Keras, ONNX Runtime
  lstmspec bench lstm --suite deepbench-cpu --framework torch
  lstmspec bench lstm --kernel my_lstm.py:lstm --backward
  lstmspec bench lstm convlstm2d --suite cpu --threads 2 --report reports/    reports/timing-cpu.md (+ .html, plots)
  lstmspec bench lstm --device cuda --dtype float32,tf32,float16 --suite gpu --report reports/
  lstmspec bench lstm --case batch=8,time=100,input=64,units=128 --json out.json
  lstmspec bench --list --suite sweeps                  what would run

exit codes: 0 every timed implementation conforms, 1 one does not (it is timed anyway, and marked) or one
raised an error, 2 usage or spec error or an output that cannot be written, 128+N stopped by signal N
(130 Ctrl-C, 143 SIGTERM)
"""


def add_parser(sub: Any) -> None:
    p = add_command(
        sub, "bench", cmd_bench,
        help="time the forward (and backward) pass of each implementation on the same inputs, after checking it",
        description="Time the reference, PyTorch, Keras and ONNX Runtime layers and your kernels on the same "
        "inputs, each only after its conformance check on that case (a non-conforming implementation is timed "
        "but marked). Warm-up, then blocks of calls until IQR/median is below a threshold; the median, IQR and "
        "number of runs are reported, with GFLOP/s from the FLOPs counted from the spec's equations, bytes "
        "moved and the fraction of the device's peak.",
        examples=EXAMPLES,
    )
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="shipped spec names or .toml paths (default: the suite's specs)")
    p.add_argument("--framework", help="comma-separated: reference, torch, keras, onnxruntime, or implementation "
                   "names such as torch.nn.LSTM (default: all installed)")
    p.add_argument("--kernel", action="append", metavar="FILE.py:NAME",
                   help="time your kernel NAME(x, state, params, config) -> (y, final_state) too (repeatable); "
                   "frameworks run only when --framework is given too")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--dtype", help="comma-separated precisions (default float32; the numpy reference is always "
                   "float64)")
    p.add_argument("--suite", help=f"one of {', '.join(SUITES.names())} (default: standard; see --list)")
    p.add_argument("--case", action="append", metavar="KEY",
                   help="time exactly this configuration instead of a suite, e.g. batch=8,time=100,units=64 "
                   "(repeatable; needs one SPEC)")
    p.add_argument("--backward", action="store_true", help="also time forward+backward (and check gradients)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch, numpy, TensorFlow, ONNX Runtime "
                   "(default: each library's default); recorded either way")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs and parameters (default 0)")
    p.add_argument("--quick", action="store_true", help="few, short blocks: a smoke run, not a measurement")
    p.add_argument("--warmup", type=int, metavar="N", help="untimed calls before timing (default 2)")
    p.add_argument("--min-time", type=float, metavar="S", help="timed seconds before the stopping test (default 0.3)")
    p.add_argument("--max-time", type=float, metavar="S", help="time budget per measurement, seconds (default 4)")
    p.add_argument("--threshold", type=float, metavar="X", help="stop when IQR/median < X (default 0.05)")
    p.add_argument("--flush-l2", action="store_true", help="CUDA: flush the L2 cache before every timed call")
    p.add_argument("--cudnn-benchmark", action="store_true", help="CUDA: torch.backends.cudnn.benchmark = True")
    p.add_argument("--no-peak", action="store_true", help="do not measure or look up the device's peak")
    p.add_argument("--json", metavar="FILE", help="write every row, sample and setting as JSON (schema "
                   "lstmspec-bench, an integer version; JSON Schema in lstmspec/schemas/bench.json)")
    p.add_argument("--report", metavar="DIR", help="write DIR/timing-<device>.md with its plots (PNG and SVG) "
                   "in DIR/timing-<device>/, and a self-contained DIR/timing-<device>.html")
    add_run_options(p, verbose="let the frameworks' own log lines (TensorFlow, absl, XLA) through; silenced by default")


def _precisions(arg: str | None, device: str) -> list[Any]:
    from ..check.precision import PRECISIONS

    out = []
    for name in split(arg) or DEFAULT_DTYPES[device]:
        precision = PRECISIONS.get(name)
        if precision.cuda_only and device != "cuda":
            raise ConfigError(f"--dtype {name} is a CUDA math mode; on {device} use "
                              f"{', '.join(n for n in PRECISIONS.names() if not PRECISIONS.get(n).cuda_only)}")
        out.append(precision)
    return out


def _timing(args: argparse.Namespace) -> Any:
    from ..bench.timing import QUICK, TimingOptions

    base = QUICK if args.quick else TimingOptions()
    return base.with_(warmup=args.warmup, min_time_s=args.min_time, max_time_s=args.max_time,
                      threshold=args.threshold, flush_l2=True if args.flush_l2 else None)


def _command_line(args: argparse.Namespace) -> str:
    argv = getattr(args, "argv", None)
    if argv is None:
        argv = sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]
    return shlex.join(["lstmspec", "bench", *argv])


def plan_runs(args: argparse.Namespace, notes: list[str]) -> list[Any]:
    """Validate the command line and make one BenchPlan per spec (nothing is timed yet)."""
    from ..check.cases import parse_case_key
    from ..check.runner import usable_device
    from ..reference.backends import get_backend
    from ..spec.catalog import load_spec, shipped_names
    from ..bench.implementations import from_kernel, select
    from ..bench.runner import BenchPlan
    from ..bench.suites import BenchCase, get_suite

    device = usable_device(args.device)
    precisions = _precisions(args.dtype, device)
    timing = _timing(args)
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"Expected --threads N >= 1 but got {args.threads}")
    if args.case and args.suite:
        raise ConfigError("give --case or --suite, not both")
    if args.case and len(args.specs) != 1:
        raise ConfigError("--case needs exactly one SPEC (a case key names one spec's dimensions)")
    if args.kernel and not args.specs:
        raise ConfigError("--kernel needs the SPEC it implements, e.g. lstmspec bench lstm --kernel my.py:lstm")
    suite = get_suite(args.suite or "standard")
    names = args.specs or list(suite.default_specs or shipped_names())
    specs = [(name, load_spec(name)) for name in names]
    get_backend("numpy")  # a bad $LSTMSPEC_REFERENCE_MATH is reported before anything is timed
    wanted = split(args.framework)
    plans = []
    for name, spec in specs:
        if args.case:
            cases = []
            for key in args.case:
                case = parse_case_key(spec, key)
                cases.append(BenchCase(spec.name, case.dims, case.attrs, key, "standard"))
        else:
            cases = suite.cases([spec], explicit=bool(args.specs), notes=notes)
        if not cases:
            continue
        from ..kernels.isolation import load_in_process
        from ..kernels.protocol import KernelAdapter

        # kernels before frameworks: Triton's LLVM aborts the process when loaded after TensorFlow's;
        # each file is imported in a worker first, so one that exits or hangs at import cannot end the bench
        kernels = [from_kernel(KernelAdapter(load_in_process(ref, name), ref, spec))
                   for ref in args.kernel or []]
        with_frameworks = bool(wanted) or not args.kernel
        impls = select(spec, wanted if (wanted or not args.kernel) else ["reference"],
                       with_frameworks=with_frameworks, notes=notes)
        impls += kernels
        plans.append(BenchPlan(spec, name, cases, impls, device, precisions, timing, args.backward, args.seed))
    if not plans:
        raise ConfigError(f"suite {suite.name} has no case for {', '.join(names)}")
    return plans


def check_outputs(args: argparse.Namespace) -> None:
    """Report paths checked before anything is timed: a bad path is one line and exit 2, at once."""
    from ..outputs import check_dir_target, check_file_target

    if args.json:
        check_file_target(args.json, "--json")
    if args.report:
        check_dir_target(args.report, "--report")


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import environment

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow
    show_framework_logs(args.verbose)
    notes: list[str] = []
    started = time.perf_counter()
    check_outputs(args)
    plans = plan_runs(args, notes)
    if args.list:
        for note in notes:
            print(note, file=sys.stderr)
        return _list(plans)
    uses_keras = any(i.framework == "keras" for p in plans for i in p.implementations)
    with environment.threads_for_run(args.threads, tensorflow=uses_keras) as thread_notes:
        return _bench(args, plans, notes + thread_notes, started)


def _bench(args: argparse.Namespace, plans: list[Any], notes: list[str], started: float) -> int:
    """Time ``plans``, print the table and write the reports; the exit code."""
    from ..bench import environment
    from ..bench.report import render_terminal

    device = plans[0].device
    cuda = environment.cuda_settings(args.cudnn_benchmark) if device == "cuda" else {}
    device_name = environment.device_name(device)
    peak = None
    if not args.no_peak:
        from ..bench.peaks import device_peak

        dtypes = sorted({p.name for plan in plans for p in plan.precisions} | {"float64"})
        if not args.quiet:
            print(f"peak of {device_name}: ...", file=sys.stderr, flush=True)
        peak = device_peak(device, dtypes, device_name)
    for plan in plans:
        plan.peak = peak
    for note in notes:
        print(note, file=sys.stderr)
    load, speeds_before = environment.ForeignLoad(), environment.core_speeds() if device == "cpu" else None
    rows, interrupted = _run(plans, args.quiet)
    foreign = load.stop()
    core_speeds = [speeds_before, environment.core_speeds()] if speeds_before else None
    if peak is not None and peak.source.startswith("measured") and interrupted is None:
        from ..bench.peaks import combine, measure_peak

        try:
            peak = combine(peak, measure_peak(device, sorted(peak.flops)))
        except KeyboardInterrupt as exc:  # the rows are complete; the peak stays the one measured first
            interrupted = exc
        for row in rows:
            row.peak_flops, row.peak_bandwidth = peak.flops_for(row.precision), peak.bandwidth
    with deferred():  # a signal now waits until the reports are complete
        meta = {
            "command": _command_line(args),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seed": args.seed,
            "suite": args.suite or ("--case" if args.case else "standard"),
            "specs": [p.spec_arg for p in plans],
            "device": device,
            "device_name": device_name,
            "versions": environment.versions(),
            "threads": environment.thread_settings(),
            "cuda_settings": cuda,
            "timing": {k: v for k, v in vars(plans[0].timing).items()},
            "peak": peak.to_json() if peak is not None else None,
            "flops": _formulas(plans),
            "foreign_load": foreign,
            "core_ns_per_exp": core_speeds,
            "load_average": environment.load_average(),
            "duration_s": round(time.perf_counter() - started, 1),
            "notes": notes,
            "interrupted": interrupted is not None,
        }
        if interrupted is not None:
            meta["interrupted_by"] = signal_name(interrupted)
        _write(rows, meta, args, device, render_terminal(rows, meta))
        if interrupted is not None:
            return exit_status(interrupted)
        return 1 if any((r.timed and not r.conforms) or r.status == "error" for r in rows) else 0


def _run(plans: list[Any], quiet: bool) -> tuple[list[Any], KeyboardInterrupt | None]:
    from ..bench import environment
    from ..bench.report import fmt_rate, fmt_time
    from ..bench.runner import run_bench

    rows: list[Any] = []

    def progress(row: Any, done: int, total: int) -> None:
        if quiet:
            return
        head = f"[{done}/{total}] {row.spec} | {row.case.describe()} | {row.implementation} {row.precision} " \
               f"{row.pass_}"
        if row.timed:
            m = row.measurement
            flag = "" if row.conforms else " NON-CONFORMING"
            print(f"{head}: {fmt_time(m.median)} (IQR {fmt_time(m.iqr)}, {m.runs} runs), {fmt_rate(row.rate())}"
                  f"{flag}", file=sys.stderr, flush=True)
        else:
            print(f"{head}: {row.status}: {row.reason}", file=sys.stderr, flush=True)

    try:
        for plan in plans:
            sample = environment.ForeignLoad()  # other processes' CPU time while each row is checked and timed
            for row in run_bench(plan, progress):
                row.foreign_share = (sample.stop() or {}).get("other_share")
                rows.append(row)
                sample = environment.ForeignLoad()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (lstmspec.interrupts)
        name = signal_name(exc)
        print(f"\ninterrupted{'' if name == 'SIGINT' else ' by ' + name}: reporting the rows that finished",
              file=sys.stderr)
        return rows, exc
    return rows, None


def _formulas(plans: list[Any]) -> dict[str, dict[str, str]]:
    from ..flops import count_flops

    out: dict[str, dict[str, str]] = {}
    for plan in plans:
        attrs = dict(plan.cases[0].attrs) if plan.cases else {}
        count = count_flops(plan.spec, attrs)
        key = plan.spec.name + "".join(f" {k}={v}" for k, v in attrs.items())
        out[key] = {c: count.render(c) for c in ("contraction", "deepbench", "elementwise", "activation")}
    return out


def _write(rows: list[Any], meta: dict[str, Any], args: argparse.Namespace, device: str, table: str) -> None:
    """The table on stdout, then each report file; one that cannot be written does not stop the others
    (the first failure is raised at the end: one line, exit 2)."""
    from ..outputs import OutputError, write_stdout

    failures: list[Exception] = []
    try:
        write_stdout(table)
    except OSError as exc:  # a closed pipe or a full disk: the files are still written
        failures.append(exc)
    written: list[Path] = []
    if args.json:
        from ..bench.report import write_json

        try:
            written.append(write_json(Path(args.json), rows, meta))
        except OutputError as exc:
            failures.append(exc)
    if args.report:
        from ..bench.plots import all_plots
        from ..bench.report import write_report

        try:
            written += write_report(Path(args.report), rows, meta, all_plots(rows, device))
        except OutputError as exc:
            failures.append(exc)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    if failures:
        raise failures[0]


def _list(plans: list[Any]) -> int:
    for plan in plans:
        for impl in plan.implementations:
            precisions = ",".join(p.name for p in plan.precisions_of(impl))
            print(f"{plan.spec.name} | {impl.name} | {plan.device} | {precisions}")
        for case in plan.cases:
            attrs = "".join(f",{k}={v}" for k, v in case.attrs)
            print(f"  {','.join(f'{k}={v}' for k, v in case.dims)}{attrs}    # {case.group}: {case.describe()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """``lstmspec bench`` on its own (``python -m lstmspec.bench``), with the main CLI's one-line errors."""
    parser = Parser(prog="lstmspec")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["bench"]:
        argv = ["bench", *argv]

    def keep_argv(args: argparse.Namespace) -> None:
        args.argv = argv[1:]

    return run(build_parser(), argv, prepare=keep_argv)


__all__ = ["add_parser", "cmd_bench", "main", "plan_runs"]
