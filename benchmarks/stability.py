"""A correct layer never fails by chance: the default matrix over many seeds.

Runs every shipped framework layer (CPU, float64 and float32) on every
spec's default matrix once per seed and counts, per implementation and
precision, the seeds on which every case passed, plus the largest
error/bound ratio seen (the margin: 0.1 means the worst case used a tenth of
its bound). The issue's bar: 100 seeds out of 100.

    python benchmarks/stability.py --seeds 100                 # all installed frameworks
    python benchmarks/stability.py --seeds 100 --framework torch,onnxruntime
    python benchmarks/stability.py --seeds 100 --framework keras --jobs 2 --out keras.md   # two seeds at a time
    python benchmarks/stability.py --seeds 45 --first-seed 11 --framework keras --out k1.md   # table kept up to date

With ``--out FILE`` the table is rewritten after every seed, so a long run
that is stopped keeps the seeds it finished. ``--merge`` adds up tables of
runs over different seeds (a long run split over processes or machines):

    python benchmarks/stability.py --merge k1.md k2.md     # counts summed, worst margins kept
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

from lstmspec.adapters.base import FRAMEWORKS, all_adapters
from lstmspec.check.cases import default_matrix
from lstmspec.check.precision import CPU_DEFAULT, PRECISIONS
from lstmspec.check.results import ERROR, FAIL, PASS
from lstmspec.check.runner import Oracle, Plan, Target, check_one
from lstmspec.spec.catalog import load_spec, shipped_names


def one_seed(seed: int, names: list[str], grads: bool) -> tuple[int, dict[tuple[str, str, str], tuple[bool, float]],
                                                                  list[str]]:
    """Every chosen layer over every spec's default matrix with one seed: {(spec, layer, dtype): (clean, worst)}."""
    adapters = [a for a in all_adapters() if a.name in names]
    outcome: dict[tuple[str, str, str], tuple[bool, float]] = {}
    failures: list[str] = []
    for name in shipped_names():
        spec = load_spec(name)
        targets = [Target(a.name, "framework", a) for a in adapters if a.spec == name]
        if not targets:
            continue
        precisions = [PRECISIONS.get(p) for p in CPU_DEFAULT]
        plan = Plan(spec, name, default_matrix(spec), targets, ["cpu"], precisions, seed, grads=grads)
        oracle = Oracle(spec, seed)
        for target in targets:
            for precision in precisions:
                ok, any_ran, worst = True, False, 0.0
                for case in plan.cases:
                    r = check_one(plan, oracle, target, case, "cpu", precision)
                    if r.status in (FAIL, ERROR):
                        ok = False
                        failures.append(f"seed {seed}: {r.summary_line()}\n      replay: {r.replay()}")
                    if r.status == PASS:
                        any_ran = True
                        w = r.worst
                        if w is not None and w.bound:
                            worst = max(worst, w.error / w.bound)
                if any_ran:
                    outcome[(name, target.name, precision.name)] = (ok, worst)
    return seed, outcome, failures


def _seed_star(args: tuple[int, list[str], bool]) -> tuple[int, dict, list[str]]:
    return one_seed(*args)


def table(first: int, last: int, ran: dict, clean: dict, margin: dict, failures: list[str], seconds: float,
          count: int | None = None) -> str:
    count = last - first + 1 if count is None else count
    lines = [f"## Default matrix over {count} seeds ({first}..{last}), CPU\n",
             "| spec | implementation | dtype | seeds with every case passing | worst error / bound |",
             "|---|---|---|---:|---:|"]
    lines += [f"| {k[0]} | {k[1]} | {k[2]} | {clean[k]} / {ran[k]} | {margin[k]:.3f} |" for k in sorted(ran)]
    lines.append(f"\n{seconds:.0f} s in all.")
    lines += failures[:20]
    return "\n".join(lines) + "\n"


def merge(paths: list[str]) -> int:
    """One table from several runs' tables: seeds and clean seeds summed, the worst margin kept."""
    import re

    ran: dict[tuple[str, str, str], int] = defaultdict(int)
    clean: dict[tuple[str, str, str], int] = defaultdict(int)
    margin: dict[tuple[str, str, str], float] = defaultdict(float)
    spans, seconds = [], 0.0
    for path in paths:
        text = open(path, encoding="utf-8").read()
        span = re.search(r"over \d+ seeds \((\d+)\.\.(\d+)\)", text)
        spans.append(f"{span.group(1)}..{span.group(2)}" if span else "?")
        seconds += float(re.search(r"([\d.]+) s in all", text).group(1)) if "s in all" in text else 0.0
        for row in re.findall(r"^\| (\S+) \| (.+?) \| (\S+) \| (\d+) / (\d+) \| ([\d.]+) \|$", text, re.M):
            key = row[:3]
            clean[key] += int(row[3])
            ran[key] += int(row[4])
            margin[key] = max(margin[key], float(row[5]))
    print(f"## Default matrix, seeds {', '.join(spans)} ({len(paths)} runs), CPU\n")
    print("| spec | implementation | dtype | seeds with every case passing | worst error / bound |")
    print("|---|---|---|---:|---:|")
    for key in sorted(ran):
        print(f"| {key[0]} | {key[1]} | {key[2]} | {clean[key]} / {ran[key]} | {margin[key]:.3f} |")
    print(f"\n{seconds:.0f} s of runs in all.")
    return 0 if all(clean[k] == ran[k] for k in ran) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--framework", help="comma-separated frameworks (default: every installed one)")
    parser.add_argument("--implementation", help="comma-separated implementation names (default: all of the frameworks)")
    parser.add_argument("--no-grad", action="store_true")
    parser.add_argument("--out", metavar="FILE", help="rewrite the Markdown table to FILE after every seed")
    parser.add_argument("--merge", nargs="+", metavar="TABLE", help="add up the tables of runs over other seeds")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in this many processes at once (default 1)")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge)
    wanted = set(filter(None, (args.framework or "").split(",")))
    adapters = [a for a in all_adapters() if (not wanted or a.framework in wanted) and FRAMEWORKS.get(a.framework).available()]
    if args.implementation:
        names = {n.strip() for n in args.implementation.split(",")}
        unknown = names - {a.name for a in adapters}
        if unknown:
            parser.error(f"unknown implementation(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(a.name for a in adapters)}")
        adapters = [a for a in adapters if a.name in names]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    names = [a.name for a in adapters]
    clean: dict[tuple[str, str, str], int] = defaultdict(int)
    ran: dict[tuple[str, str, str], int] = defaultdict(int)
    margin: dict[tuple[str, str, str], float] = defaultdict(float)
    failures: list[str] = []
    start = time.perf_counter()
    pool = None
    if args.jobs > 1:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(args.jobs)
        results = pool.imap_unordered(_seed_star, [(seed, names, not args.no_grad) for seed in seeds])
    else:
        results = (one_seed(seed, names, not args.no_grad) for seed in seeds)
    done: list[int] = []
    for n, (seed, outcome, seed_failures) in enumerate(results, 1):
        done.append(seed)
        for key, (ok, worst) in outcome.items():
            ran[key] += 1
            clean[key] += ok
            margin[key] = max(margin[key], worst)
        failures += seed_failures
        print(f"seed {seed} done ({n}/{args.seeds}, {time.perf_counter() - start:.0f} s)", file=sys.stderr)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(table(args.first_seed, max(done), ran, clean, margin, failures, time.perf_counter() - start,
                              count=len(done)))
    if pool is not None:
        pool.close()
        pool.join()
    sys.stdout.write(table(args.first_seed, seeds[-1], ran, clean, margin, failures, time.perf_counter() - start,
                           count=len(done)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
