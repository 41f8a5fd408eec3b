"""How long does `lstmspec check` (no arguments) take, and where does the time go?

Runs the command as a user would (a fresh process, CPU), once per ``--jobs``
setting per round, `--repeat` rounds with the settings interleaved (so drift
of a shared machine hits them alike), and breaks the last default run down
from its JSON report: seconds per framework and per spec, the slowest cases,
and the cost of importing each framework (measured in fresh processes, since
imports dominate a short run). Also prints the machine's load from other
processes during the runs. The target is under 60 s on a 2-core machine with
torch, keras and onnxruntime installed.

    python benchmarks/bench_check.py                    # --jobs 1 and the default, 1 round + breakdown
    python benchmarks/bench_check.py --repeat 3
    python benchmarks/bench_check.py --jobs default     # only the default
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from lstmspec.bench.environment import ForeignLoad

IMPORTS = {"numpy": "import numpy", "torch": "import torch", "tensorflow+keras": "import tensorflow, keras",
           "onnxruntime": "import onnx, onnxruntime", "lstmspec": "import lstmspec"}


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")


def auto_jobs_here() -> int:
    from lstmspec.check.parallel import MAX_AUTO_JOBS, available_cpus

    return min(available_cpus(), MAX_AUTO_JOBS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="rounds (default 1)")
    parser.add_argument("--jobs", default="1,default",
                        help="comma-separated --jobs settings to compare; 'default' leaves the option out")
    parser.add_argument("--args", default="", help="extra arguments for lstmspec check")
    args = parser.parse_args()
    settings = [j.strip() for j in args.jobs.split(",") if j.strip()]
    walls: dict[str, list[float]] = {j: [] for j in settings}
    report = None
    load = ForeignLoad()
    for i in range(args.repeat):
        for jobs in settings:
            with tempfile.TemporaryDirectory() as tmp:
                js = Path(tmp) / "check.json"
                cmd = [sys.executable, "-m", "lstmspec", "check", "-q", "--json", str(js), *args.args.split()]
                if jobs != "default":
                    cmd += ["--jobs", jobs]
                start = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                walls[jobs].append(time.perf_counter() - start)
                print(f"round {i + 1}, --jobs {jobs}: exit {proc.returncode}, {walls[jobs][-1]:.1f} s", file=sys.stderr)
                if proc.returncode not in (0, 1):
                    print(proc.stderr, file=sys.stderr)
                    return 2
                if jobs == settings[-1]:
                    report = json.loads(js.read_text())
    foreign = load.stop()
    results = report["results"]
    by_framework: dict[str, float] = defaultdict(float)
    by_spec: dict[str, float] = defaultdict(float)
    for r in results:
        by_framework[r["implementation"].split(".")[0]] += r["seconds"]
        by_spec[r["spec"]] += r["seconds"]
    statuses = defaultdict(int)
    for r in results:
        statuses[r["status"]] += 1
    print(f"## `lstmspec check` (no arguments), {os.cpu_count()} CPUs\n")
    print("| --jobs | median wall time (s) | runs (s) |\n|---|---:|---|")
    for jobs, times in walls.items():
        label = f"default ({auto_jobs_here()} here)" if jobs == "default" else jobs
        print(f"| {label} | {statistics.median(times):.1f} | {', '.join(f'{w:.1f}' for w in times)} |")
    share = f"{foreign['other_share']:.0%}" if foreign else "unknown"
    print(f"\n- target < 60 s; other processes' share of the CPUs during the runs: {share}")
    print(f"- breakdown of the last run with --jobs {settings[-1]}:")
    print(f"- cases: {len(results)} ({', '.join(f'{v} {k}' for k, v in sorted(statuses.items()))})")
    print(f"- time inside cases (adapter + reference + yardstick): {sum(r['seconds'] for r in results):.1f} s")
    print("\n| framework | seconds in cases |\n|---|---:|")
    for k, v in sorted(by_framework.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v:.1f} |")
    print("\n| spec | seconds in cases |\n|---|---:|")
    for k, v in sorted(by_spec.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v:.1f} |")
    print("\n| import (fresh process) | seconds |\n|---|---:|")
    for name, stmt in IMPORTS.items():
        print(f"| {name} | {import_seconds(stmt):.2f} |")
    print("\nslowest cases:")
    for r in sorted(results, key=lambda r: -r["seconds"])[:5]:
        print(f"- {r['seconds']:.2f} s {r['spec']} | {r['implementation']} | {r['precision']} | {r['case']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
