#!/usr/bin/env python
"""The mutation score of ``lstmspec check`` on one device, at the precisions you name.

Runs every kernel of ``tests/mutants`` (lstm, convlstm2d: ``WRONG`` ones with
one plausible bug each, ``CORRECT`` ones written in different ways) through
``lstmspec.api.check_kernel`` on its spec's default matrix, without the
mismatch diagnosis, and counts per precision: wrong kernels caught (at least
one case ran and at least one failed on its values) and correct kernels
passing (no failure, no error). ``tests/test_mutation_score.py`` pins the CPU
score at float64 and float32; this script is for the precisions only a GPU
has (TF32) or where a GPU computes differently (float16, bfloat16 through
cuBLAS/cuDNN):

    python benchmarks/mutation_score.py                                   # CPU, float64 and float32
    python benchmarks/mutation_score.py --device cuda                     # float32, tf32, float16, bfloat16
    python benchmarks/mutation_score.py --device cuda --dtype float16 --json score.json

A wrong kernel that only *raises* (say it makes a CPU tensor while the case
runs on CUDA) is listed as an error, not counted as caught. Exit status 0
when every correct kernel passes at every precision, 1 when one does not
(a false alarm: the tolerance, or the kernel, is wrong there), 2 on bad usage.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the mutants package

from lstmspec.api import check_kernel  # noqa: E402
from lstmspec.check.precision import CPU_DEFAULT, CUDA_DEFAULT, PRECISIONS  # noqa: E402
from lstmspec.check.results import ERROR, FAIL, PASS  # noqa: E402
from lstmspec.errors import LookupFailed  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", help="comma-separated precisions (default: float64,float32 on cpu; "
                        "float32,tf32,float16,bfloat16 on cuda)")
    parser.add_argument("--spec", help="comma-separated subset of lstm, convlstm2d")
    parser.add_argument("--json", metavar="FILE", help="also save every kernel's counts")
    args = parser.parse_args(argv)

    import torch

    from mutants import BY_SPEC

    if args.device == "cuda" and not torch.cuda.is_available():
        print("mutation_score.py: error: --device cuda: no CUDA device (torch.cuda.is_available() is False)",
              file=sys.stderr)
        return 2
    dtypes = args.dtype.split(",") if args.dtype else list(CPU_DEFAULT if args.device == "cpu" else CUDA_DEFAULT)
    try:
        for d in dtypes:
            PRECISIONS.get(d)
    except LookupFailed as err:
        print(f"mutation_score.py: error: {err}", file=sys.stderr)
        return 2
    specs = args.spec.split(",") if args.spec else list(BY_SPEC)
    unknown = [s for s in specs if s not in BY_SPEC]
    if unknown:
        print(f"mutation_score.py: error: no mutants for {unknown}; available: {', '.join(BY_SPEC)}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)  # tiny kernels: one thread is faster and spares OpenMP spin-waits

    rows = []
    start = time.perf_counter()
    for spec in specs:
        module = BY_SPEC[spec]
        for kind in ("WRONG", "CORRECT"):
            for fn in getattr(module, kind):
                counts = {d: Counter() for d in dtypes}
                first: dict[str, str] = {}
                for result in check_kernel(fn, spec, dtypes=dtypes, device=args.device, name=fn.__name__,
                                           diagnose=False):
                    counts[result.precision][result.status] += 1
                    if result.status in (FAIL, ERROR) and result.precision not in first:
                        first[result.precision] = result.summary_line()
                rows.append({"spec": spec, "kernel": fn.__name__, "kind": kind.lower(),
                             "counts": {d: dict(c) for d, c in counts.items()}, "first_failure": first})
                print(f"{spec}:{fn.__name__} ({kind.lower()}): "
                      + ", ".join(f"{d} {c[PASS]}p/{c[FAIL]}f/{c[ERROR]}e" for d, c in counts.items()),
                      file=sys.stderr, flush=True)

    def ran(c: dict) -> int:
        return c.get(PASS, 0) + c.get(FAIL, 0) + c.get(ERROR, 0)

    print(f"\n## Mutation score, {args.device}, {', '.join(dtypes)} ({time.perf_counter() - start:.0f} s)\n")
    print("| precision | wrong kernels caught | wrong kernels that only raised | correct kernels passing |")
    print("|---|---:|---:|---:|")
    wrong = [r for r in rows if r["kind"] == "wrong"]
    correct = [r for r in rows if r["kind"] == "correct"]
    false_alarms = []
    for d in dtypes:
        caught = [r for r in wrong if ran(r["counts"][d]) and r["counts"][d].get(FAIL, 0)]
        raised = [r for r in wrong if r not in caught and r["counts"][d].get(ERROR, 0)]
        passing = [r for r in correct if ran(r["counts"][d]) and not r["counts"][d].get(FAIL, 0)
                   and not r["counts"][d].get(ERROR, 0)]
        false_alarms += [(d, r) for r in correct if r not in passing]
        print(f"| {d} | {len(caught)}/{len(wrong)} | {len(raised)} | {len(passing)}/{len(correct)} |")
        missed = [r["kernel"] for r in wrong if r not in caught and r not in raised]
        if missed:
            print(f"|  | not caught at {d}: {', '.join(missed)} | | |")
    for d, r in false_alarms:
        print(f"\nfalse alarm at {d}: {r['spec']}:{r['kernel']}: {r['first_failure'].get(d, 'ran no case')}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "dtypes": dtypes, "kernels": rows}, indent=1))
    return 1 if false_alarms else 0


if __name__ == "__main__":
    sys.exit(main())
