#!/usr/bin/env python
"""Speed of the anti-diagonal wavefront reference of a 2-D LSTM against per-pixel loops.

The bar (from the issue): at 64x64, the wavefront reference of ``mdlstm2d``
(rows + cols - 1 = 127 vectorized steps) is at least 20x faster than a plain
per-pixel loop over the same equations (rows*cols = 4096 Python steps).

Three implementations, float64 on the CPU, the same inputs (the spec's random
parameters and nonzero boundary states, seed ``--seed``):

* ``wavefront``: ``spec.reference(...)``, the compiled equations of one cell
  run on every cell of an anti-diagonal at once (``lstmspec/reference/grid.py``);
* ``compiled, cell by cell``: the *same* compiled step (fused products, input
  terms for the whole image at once) run one cell at a time in row-major
  order, so the ratio isolates what the wavefront schedule buys;
* ``per-pixel loop``: ``run_grid_loop``, the plain loop with the tree-walking
  evaluator, the definition the tests hold the wavefront to (1e-12).

All three must agree to ``--tol`` (1e-12, as max|a - b| / max(1, max|b|): with
random weights Graves' cell state grows geometrically along the diagonals,
to 1e11 at 64x64) before anything is timed. Each is
warmed up, then timed in rounds (one untimed call, then ``--per-block`` timed
calls, the order rotating from round to round); medians and interquartile
ranges are reported. The bar compares the wavefront's median with the
per-pixel loop's; the cell-by-cell ratio is reported alongside.

    python benchmarks/bench_wavefront.py            # 64x64, batch 1 (one image), 1 channel, 16 units
    python benchmarks/bench_wavefront.py --quick    # fewer rounds
    python benchmarks/bench_wavefront.py --units 64 --batch 16 --json out.json

Exit status: 0 when the bar passes, 1 when it fails, 2 on disagreement.
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
from typing import Any

import numpy as np

import lstmspec
from lstmspec.reference.backends import get_backend
from lstmspec.reference.grid import run_grid_loop
from lstmspec.reference.run import program_for

BAR = 20.0


def implementations(spec: Any, config: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    attrs = spec.resolve_config(config)
    program = program_for(spec, attrs, get_backend("numpy"))
    return {
        "wavefront": lambda x, s, p: spec.reference(x, s, p, attrs),
        "compiled, cell by cell": lambda x, s, p: program.run(x, s, p, schedule="cells"),
        "per-pixel loop": lambda x, s, p: run_grid_loop(spec, x, s, p, attrs),
    }


def scaled(a: np.ndarray, ref: np.ndarray) -> float:
    """The project's error: max|a - ref| / max(1, max|ref|) (random MDLSTM cell states grow large)."""
    return float(np.max(np.abs(a - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def agree(results: dict[str, Any], tol: float) -> list[str]:
    (y_ref, final_ref) = results["wavefront"]
    bad = []
    for name, (y, final) in results.items():
        err = max([scaled(y, y_ref)] + [scaled(final[k], final_ref[k]) for k in final_ref])
        if err > tol:
            bad.append(f"{name}: error against the wavefront {err:.3g} > {tol:g}")
    return bad


def timed(fn: Callable[[], Any]) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--direction", default="down_right")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-block", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-12)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 call")
    parser.add_argument("--json", help="write every timing here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.per_block = 2, 1

    spec = lstmspec.load_spec("mdlstm2d")
    config = {"direction": args.direction}
    dims = dict(batch=args.batch, rows=args.rows, cols=args.cols, channels=args.channels, units=args.units)
    rng = np.random.default_rng(args.seed)
    params = spec.random_params(config, rng, **dims)
    x, state = spec.random_inputs(config, rng, **dims)
    impls = implementations(spec, config)

    bad = agree({name: fn(x, state, params) for name, fn in impls.items()}, args.tol)
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 2
    times: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            impls[name](x, state, params)  # untimed: let the previous library's threads settle
            for _ in range(args.per_block):
                times[name].append(timed(lambda: impls[name](x, state, params)))

    median = {name: float(np.median(t)) for name, t in times.items()}
    ref = median["wavefront"]
    print(f"mdlstm2d {args.rows}x{args.cols}, batch {args.batch}, {args.channels} channel(s), {args.units} units, "
          f"direction {args.direction}; float64, numpy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; {args.rounds} rounds x {args.per_block} calls")
    print(f"steps: wavefront {args.rows + args.cols - 1}, per pixel {args.rows * args.cols}")
    print()
    print("| implementation | median ms | q25-q75 ms | x wavefront |")
    print("|---|---|---|---|")
    for name, t in times.items():
        q25, q75 = np.percentile(t, [25, 75])
        print(f"| {name} | {median[name] * 1e3:.1f} | {q25 * 1e3:.1f}-{q75 * 1e3:.1f} | {median[name] / ref:.1f} |")
    speedup = median["per-pixel loop"] / ref
    verdict = "PASS" if speedup >= BAR else "FAIL"
    print()
    print(f"{verdict}: wavefront {speedup:.1f}x faster than the per-pixel loop (bar >= {BAR:g}x); "
          f"{median['compiled, cell by cell'] / ref:.1f}x faster than the same compiled step cell by cell")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"dims": dims, "direction": args.direction, "times_s": times, "median_s": median,
                       "speedup": speedup, "bar": BAR}, f, indent=2)
    return 0 if speedup >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
