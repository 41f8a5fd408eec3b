#!/usr/bin/env python
"""Speed of lstmspec's derived reference against hand-written and framework implementations.

Bars (from the issue), all float64 on the CPU:

* ``lstm`` at batch 32, time 50, input 256, units 256: the reference is within
  1.5x of a hand-written numpy loop (``x @ W`` for all timesteps at once with
  the four gates fused, ``h @ U`` fused per step, sigmoid as ``1/(1+exp(-x))``)
  and within 2x of ``torch.nn.LSTM``.
* ``convlstm2d`` (batch 4, time 10, 32x32x8 frames, 16 filters, 3x3 kernel),
  padding ``same`` and padding ``valid``: the reference is no slower than
  Keras' own ``ConvLSTM2D``, called eagerly, through ``tf.function`` (graph)
  and through ``tf.function(jit_compile=True)`` (XLA); the bar compares with
  the fastest of the three.

Every implementation gets the same inputs (the spec's random parameters
converted with ``spec.layout(...).to_framework``, and a nonzero initial
state), must agree with the reference to ``--tol`` (1e-10) on the output
sequence and both final states before it is timed, is warmed up, and is then
timed in rounds: in each round every implementation runs one untimed call and
then ``--per-block`` timed calls (GC off during a call), the order of the
implementations rotating from round to round so that drift of the machine hits
all of them alike. Medians and interquartile ranges are reported.

    python benchmarks/bench_reference.py                  # full run, prints a Markdown table and verdicts
    python benchmarks/bench_reference.py --quick          # smoke run: few repetitions
    python benchmarks/bench_reference.py --json out.json  # also save every timing

Exit status: 0 when every bar passes, 1 when one fails, 2 when an
implementation disagrees with the reference.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import lstmspec  # noqa: E402
from lstmspec.bench.environment import ForeignLoad, core_speeds, device_name, slowed_cores  # noqa: E402
from lstmspec.reference import blas  # noqa: E402
from lstmspec.reference.backends import get_backend  # noqa: E402

REFERENCE = "lstmspec reference"

LSTM_DIMS = dict(batch=32, time=50, input=256, units=256)
CONV_DIMS = dict(batch=4, time=10, rows=32, cols=32, channels=8, filters=16, kernel_rows=3, kernel_cols=3)


# --------------------------------------------------------------------------- implementations
def numpy_lstm(x: np.ndarray, h: np.ndarray, c: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray,
               bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hand-written float64 LSTM: Keras layout (gates i, f, g, o fused on the last axis)."""
    batch, steps, _ = x.shape
    units = h.shape[1]
    # the input term of every timestep in one GEMM, time-major so each step's slice is contiguous
    xw = np.matmul(x.transpose(1, 0, 2), kernel) + bias  # (time, batch, 4 * units)
    ys = np.empty((steps, batch, units))
    for t in range(steps):
        z = xw[t] + h @ recurrent
        i = 1.0 / (1.0 + np.exp(-z[:, :units]))
        f = 1.0 / (1.0 + np.exp(-z[:, units:2 * units]))
        g = np.tanh(z[:, 2 * units:3 * units])
        o = 1.0 / (1.0 + np.exp(-z[:, 3 * units:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        ys[t] = h
    return ys.transpose(1, 0, 2), h, c


def _im2col_conv2d(x: np.ndarray, kernel: np.ndarray, padding: str) -> np.ndarray:
    """(N, H, W, C) conv (kh, kw, C, F), stride 1, TensorFlow padding: one GEMM over all patches."""
    kh, kw, channels, filters = kernel.shape
    if padding == "same":
        (top, left) = ((kh - 1) // 2, (kw - 1) // 2)
        x = np.pad(x, [(0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, oh, ow, C, kh, kw)
    patches = np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3))  # (N, oh, ow, kh, kw, C)
    n, oh, ow = patches.shape[:3]
    return (patches.reshape(-1, kh * kw * channels) @ kernel.reshape(-1, filters)).reshape(n, oh, ow, filters)


def numpy_convlstm2d(x: np.ndarray, h: np.ndarray, c: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray,
                     bias: np.ndarray, padding: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hand-written float64 ConvLSTM2D (Keras layout, gates i, f, g, o fused), informational yardstick.

    The input convolution of every frame at once (im2col, one GEMM, bias
    folded in), per step one im2col GEMM for the recurrent convolution of all
    four gates, activations on the fused pre-activation; np.tanh.
    """
    batch, steps = x.shape[:2]
    filters = h.shape[-1]
    frames = x.transpose(1, 0, 2, 3, 4).reshape((steps * batch,) + x.shape[2:])
    xw = _im2col_conv2d(frames, kernel, padding) + bias
    xw = xw.reshape((steps, batch) + xw.shape[1:])  # (time, batch, oh, ow, 4 * filters)
    ys = np.empty((steps,) + h.shape)
    f1, f2, f3 = filters, 2 * filters, 3 * filters
    for t in range(steps):
        z = _im2col_conv2d(h, recurrent, "same")
        z += xw[t]
        i = 1.0 / (1.0 + np.exp(-z[..., :f1]))
        f = 1.0 / (1.0 + np.exp(-z[..., f1:f2]))
        g = np.tanh(z[..., f2:f3])
        o = 1.0 / (1.0 + np.exp(-z[..., f3:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        ys[t] = h
    return ys.transpose(1, 0, 2, 3, 4), h, c


@dataclass
class Impl:
    name: str
    run: Callable[[], Any]  # the timed call
    outputs: Callable[[Any], tuple[np.ndarray, np.ndarray, np.ndarray]]  # result -> (y, h, c) as numpy
    note: str = ""
    compare: bool = True  # part of the group the bar compares with


@dataclass
class Bar:
    case: str
    description: str
    against: list[str]  # the fastest of these is the baseline
    limit: float  # reference median / baseline median must be <= limit


@dataclass
class Case:
    name: str
    spec: str
    config: dict[str, Any]
    dims: dict[str, int]
    impls: list[Impl] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def make_reference(spec, x, state, params, config) -> Impl:
    def run():
        return spec.reference(x, state, params, config)

    def outputs(result):
        y, final = result
        return y, final["h"], final["c"]

    return Impl(REFERENCE, run, outputs, "spec.reference (numpy backend)")


def lstm_case(seed: int) -> Case:
    case = Case("lstm", "lstm", {}, dict(LSTM_DIMS))
    spec = lstmspec.load_spec("lstm")
    rng = np.random.default_rng(seed)
    params = spec.random_params({}, rng, **case.dims)
    x, state = spec.random_inputs({}, rng, **case.dims)
    case.impls.append(make_reference(spec, x, state, params, {}))

    keras_w = spec.layout("keras").to_framework(params)
    kernel, recurrent, bias = keras_w["kernel"], keras_w["recurrent_kernel"], keras_w["bias"]
    h0, c0 = state["h"], state["c"]
    case.impls.append(Impl("numpy loop (hand-written)", lambda: numpy_lstm(x, h0, c0, kernel, recurrent, bias),
                           lambda r: r, "x@W for all steps, fused gates, h@U fused per step"))
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        case.skipped["torch.nn.LSTM"] = f"torch not importable: {exc}"
        return case
    torch_w = spec.layout("torch").to_framework(params)
    lstm = torch.nn.LSTM(case.dims["input"], case.dims["units"], batch_first=True).double()
    with torch.no_grad():
        for name, value in torch_w.items():
            getattr(lstm, name).copy_(torch.from_numpy(value))
    lstm.eval()
    xt = torch.from_numpy(x)
    ht, ct = torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]

    def run_torch():
        with torch.inference_mode():
            return lstm(xt, (ht, ct))

    def torch_outputs(result):
        y, (h, c) = result
        return y.numpy(), h[0].numpy(), c[0].numpy()

    case.impls.append(Impl("torch.nn.LSTM", run_torch, torch_outputs, "float64, inference_mode"))
    return case


def convlstm_case(padding: str, seed: int) -> Case:
    config = {"padding": padding}
    case = Case(f"convlstm2d ({padding})", "convlstm2d", config, dict(CONV_DIMS))
    spec = lstmspec.load_spec("convlstm2d")
    rng = np.random.default_rng(seed)
    params = spec.random_params(config, rng, **case.dims)
    x, state = spec.random_inputs(config, rng, **case.dims)
    case.impls.append(make_reference(spec, x, state, params, config))
    w = spec.layout("keras").to_framework(params)
    case.impls.append(Impl(
        "numpy loop (hand-written, no bar)",
        lambda: numpy_convlstm2d(x, state["h"], state["c"], w["kernel"], w["recurrent_kernel"], w["bias"], padding),
        lambda r: r, "yardstick: im2col GEMMs, gates fused, np.tanh",
    ))
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        case.skipped["keras ConvLSTM2D"] = f"keras/tensorflow not importable: {exc}"
        return case
    if keras.backend.backend() != "tensorflow":  # pragma: no cover
        case.skipped["keras ConvLSTM2D"] = f"KERAS_BACKEND is {keras.backend.backend()}, not tensorflow"
        return case
    d = case.dims
    layer = keras.layers.ConvLSTM2D(
        d["filters"], (d["kernel_rows"], d["kernel_cols"]), padding=padding,
        return_sequences=True, return_state=True, dtype="float64",
    )
    layer.build(x.shape)
    layer.set_weights([w["kernel"], w["recurrent_kernel"], w["bias"]])
    xt, ht, ct = tf.constant(x), tf.constant(state["h"]), tf.constant(state["c"])

    def call(a, h, c):
        return layer(a, initial_state=[h, c])

    graph = tf.function(call)
    xla = tf.function(call, jit_compile=True)

    def outputs(result):
        y, h, c = result
        return y.numpy(), h.numpy(), c.numpy()

    case.impls.append(Impl("keras ConvLSTM2D eager", lambda: call(xt, ht, ct), outputs, "layer(x, initial_state=[h, c])"))
    case.impls.append(Impl("keras ConvLSTM2D tf.function", lambda: graph(xt, ht, ct), outputs, "graph mode"))
    case.impls.append(Impl("keras ConvLSTM2D tf.function(jit_compile=True)", lambda: xla(xt, ht, ct), outputs,
                           "XLA"))
    return case


# --------------------------------------------------------------------------- measurement
def max_error(reference: tuple[np.ndarray, ...], other: tuple[np.ndarray, ...]) -> float:
    errors = []
    for a, b in zip(reference, other):
        b = np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"shape {b.shape} != reference shape {a.shape}")
        errors.append(float(np.max(np.abs(a - b))))
    return max(errors)


def time_blocks(impls: list[Impl], rounds: int, per_block: int, warmup: int) -> dict[str, list[float]]:
    """``rounds`` rounds; in each, every implementation runs one untimed call then ``per_block`` timed ones.

    The order of the implementations rotates from round to round, so slow
    drift of the machine (a shared VM) hits all of them alike. Calls are not
    interleaved one by one: numpy's OpenBLAS, torch's OpenMP and TensorFlow's
    Eigen pools each keep their threads spinning for a while after a call, and
    on a 2-core machine a call right after another library's steals cores
    from it (torch.nn.LSTM measured about 2x slower that way). The untimed
    first call of each block absorbs that hand-over.
    """
    for impl in impls:
        for _ in range(warmup):
            impl.run()
    times: dict[str, list[float]] = {impl.name: [] for impl in impls}
    gc.collect()
    enabled = gc.isenabled()
    try:
        for r in range(rounds):
            shift = r % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                impl.run()  # hand-over call, untimed
                for _ in range(per_block):
                    gc.disable()
                    start = time.perf_counter()
                    impl.run()
                    elapsed = time.perf_counter() - start
                    if enabled:
                        gc.enable()
                    times[impl.name].append(elapsed)
    finally:
        if enabled:
            gc.enable()
    return times


def summary(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1e3
    q25, q50, q75 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": float(q50), "q25_ms": float(q25), "q75_ms": float(q75), "iqr_ms": float(q75 - q25),
            "min_ms": float(ms.min()), "n": int(ms.size)}


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": device_name("cpu"),
        "os.cpu_count": os.cpu_count(),
        "usable cores (sched_getaffinity)": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numpy": np.__version__,
        "numpy OpenBLAS threads": blas.threads(),
        "lstmspec": lstmspec.__version__,
        # what the reference's tanh, sigmoid and GEMMs of large arrays went through ($LSTMSPEC_REFERENCE_MATH)
        "reference math": get_backend("numpy").math.summary(),
    }
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            env[var] = os.environ[var]
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch.get_num_threads()"] = torch.get_num_threads()
        env["torch.get_num_interop_threads()"] = torch.get_num_interop_threads()
    except ImportError:
        pass
    if "tensorflow" in sys.modules:
        import keras
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
        env["keras"] = keras.__version__
        env["tf intra_op threads (0 = all cores)"] = tf.config.threading.get_intra_op_parallelism_threads()
        env["tf inter_op threads (0 = all cores)"] = tf.config.threading.get_inter_op_parallelism_threads()
    return env


def bars() -> list[Bar]:
    keras_all = ["keras ConvLSTM2D eager", "keras ConvLSTM2D tf.function", "keras ConvLSTM2D tf.function(jit_compile=True)"]
    return [
        Bar("lstm", "lstm: reference within 1.5x of the hand-written numpy loop", ["numpy loop (hand-written)"], 1.5),
        Bar("lstm", "lstm: reference within 2x of torch.nn.LSTM (float64, CPU)", ["torch.nn.LSTM"], 2.0),
        Bar("convlstm2d (same)", "convlstm2d same: reference no slower than the fastest Keras ConvLSTM2D", keras_all, 1.0),
        Bar("convlstm2d (valid)", "convlstm2d valid: reference no slower than the fastest Keras ConvLSTM2D", keras_all,
            1.0),
    ]


def fmt_ms(v: float) -> str:
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 3 timed calls, 1 warm-up call")
    parser.add_argument("--rounds", type=int, help="rounds of timing blocks (default 6, quick 2)")
    parser.add_argument("--per-block", type=int, help="timed calls per implementation per round (default 5, quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed calls per implementation first (default 3, quick 1)")
    parser.add_argument("--tol", type=float, default=1e-10, help="largest allowed max-abs difference from the reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default="lstm,convlstm2d-same,convlstm2d-valid",
                        help="comma-separated subset of lstm, convlstm2d-same, convlstm2d-valid")
    parser.add_argument("--json", metavar="FILE", help="save the environment, every timing and the verdicts")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 6)
    per_block = args.per_block or (3 if args.quick else 5)
    reps = rounds * per_block
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)

    builders = {
        "lstm": lambda: lstm_case(args.seed),
        "convlstm2d-same": lambda: convlstm_case("same", args.seed),
        "convlstm2d-valid": lambda: convlstm_case("valid", args.seed),
    }
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in builders]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(builders)}")

    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "rounds": rounds, "per_block": per_block,
                               "reps": reps, "warmup": warmup,
                               "tol": args.tol, "cases": {}}
    disagreement = False
    for key in wanted:
        case = builders[key]()
        print(f"[{case.name}] dims {case.dims} config {case.config}: checking, warming up, "
              f"timing {rounds} rounds x {per_block} calls...", file=sys.stderr, flush=True)
        ref = case.impls[0]
        ref_out = tuple(np.asarray(a) for a in ref.outputs(ref.run()))
        errors: dict[str, float] = {ref.name: 0.0}
        agreeing = [ref]
        for impl in case.impls[1:]:
            err = max_error(ref_out, impl.outputs(impl.run()))
            errors[impl.name] = err
            if err <= args.tol:
                agreeing.append(impl)
            else:
                disagreement = True
                case.skipped[impl.name] = f"disagrees with the reference: max |diff| {err:.3g} > {args.tol:g}; not timed"
        load, speeds_before = ForeignLoad(), core_speeds()
        times = time_blocks(agreeing, rounds, per_block, warmup)
        case_result = {"spec": case.spec, "dims": case.dims, "config": case.config, "impls": {}, "skipped": case.skipped,
                       "foreign_load": load.stop(), "core_ns_per_exp": [speeds_before, core_speeds()]}
        for impl in agreeing:
            case_result["impls"][impl.name] = {
                **summary(times[impl.name]), "max_abs_error": errors[impl.name], "note": impl.note,
                "times_ms": [t * 1e3 for t in times[impl.name]],
            }
        results["cases"][case.name] = case_result

    results["environment"] = environment()

    # ------------------------------------------------------------- report
    lines = ["| case | implementation | median ms | IQR ms (q25–q75) | impl / reference | max abs error |",
             "|---|---|---:|---:|---:|---:|"]
    for name, cr in results["cases"].items():
        ref_median = cr["impls"][REFERENCE]["median_ms"]
        for impl_name, r in cr["impls"].items():
            lines.append(
                f"| {name} | {impl_name} | {fmt_ms(r['median_ms'])} | {fmt_ms(r['iqr_ms'])} "
                f"({fmt_ms(r['q25_ms'])}–{fmt_ms(r['q75_ms'])}) | {r['median_ms'] / ref_median:.2f} "
                f"| {r['max_abs_error']:.1e} |"
            )
        for impl_name, why in cr["skipped"].items():
            lines.append(f"| {name} | {impl_name} | – | – | – | {why} |")
    env = results["environment"]
    print(f"\n## lstmspec reference benchmark ({results['mode']} mode, float64: {warmup} warm-up calls, then "
          f"{rounds} rounds x {per_block} timed calls = {reps} samples per implementation)\n")
    print("\n".join(lines))
    print("\n`impl / reference` is the implementation's median time over the reference's (above 1: the reference is "
          "faster).\n")
    print("Threads: " + ", ".join(
        f"{k} = {env[k]}" for k in ("os.cpu_count", "usable cores (sched_getaffinity)", "numpy OpenBLAS threads",
                                    "torch.get_num_threads()", "torch.get_num_interop_threads()",
                                    "tf intra_op threads (0 = all cores)", "tf inter_op threads (0 = all cores)")
        if k in env))
    print(f"CPU: {env['processor']}; numpy {env['numpy']}, torch {env.get('torch', '-')}, "
          f"tensorflow {env.get('tensorflow', '-')}, keras {env.get('keras', '-')}")
    print(f"Reference math: {env['reference math']}")
    for name, cr in results["cases"].items():
        fl = cr["foreign_load"]
        if fl is not None:
            flag = "  **WARNING: the machine was not quiet, timings are skewed**" if fl["other_share"] > 0.05 else ""
            print(f"Other processes during {name}: {fl['other_cpu_s']:.1f} CPU-s in {fl['wall_s']:.1f} s wall "
                  f"({fl['other_share']:.0%} of the machine){flag}")
        speeds = [s for s in cr["core_ns_per_exp"] if s]
        if speeds:
            flag = "  **WARNING: a core was slowed (by the VM host?), timings are skewed**" if slowed_cores(speeds) else ""
            print(f"Core speeds around {name} (ns per float64 exp, pinned; before / after): "
                  + "; ".join(f"cpu{c} {speeds[0][c]} / {speeds[-1][c]}" for c in speeds[0]) + flag)
    print()

    verdicts = []
    print("### Verdicts\n")
    for bar in bars():
        cr = results["cases"].get(bar.case)
        if cr is None:
            continue
        present = [n for n in bar.against if n in cr["impls"]]
        if not present:
            verdicts.append({"bar": bar.description, "verdict": "SKIP", "reason": "no baseline was timed"})
            print(f"- SKIP  {bar.description}: no baseline was timed")
            continue
        baseline = min(present, key=lambda n: cr["impls"][n]["median_ms"])
        ratio = cr["impls"][REFERENCE]["median_ms"] / cr["impls"][baseline]["median_ms"]
        verdict = "PASS" if ratio <= bar.limit else "FAIL"
        verdicts.append({"bar": bar.description, "case": bar.case, "baseline": baseline, "ratio": ratio,
                         "limit": bar.limit, "verdict": verdict})
        print(f"- **{verdict}**  {bar.description}: reference / {baseline} = {ratio:.2f}x (bar ≤ {bar.limit:g}x)")
    if args.quick:
        print("\n(quick mode: few repetitions, verdicts are indicative only)")
    results["verdicts"] = verdicts

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nsaved {args.json}", file=sys.stderr)
    if disagreement:
        return 2
    return 0 if all(v["verdict"] != "FAIL" for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
