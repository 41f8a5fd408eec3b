"""How long does `lstmspec check` (no arguments) take, and where does the time go?

Runs the command as a user would (a fresh process, CPU), `--repeat` times,
and breaks one run down from its JSON report: seconds per framework and per
spec, the slowest cases, and the cost of importing each framework (measured
in fresh processes, since imports dominate a short run). The target is under
60 s on a 2-core machine with torch, keras and onnxruntime installed.

    python benchmarks/bench_check.py            # 1 run + breakdown
    python benchmarks/bench_check.py --repeat 3
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

IMPORTS = {"numpy": "import numpy", "torch": "import torch", "tensorflow+keras": "import tensorflow, keras",
           "onnxruntime": "import onnx, onnxruntime", "lstmspec": "import lstmspec"}


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--args", default="", help="extra arguments for lstmspec check")
    args = parser.parse_args()
    walls, report = [], None
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            js = Path(tmp) / "check.json"
            cmd = [sys.executable, "-m", "lstmspec", "check", "-q", "--json", str(js), *args.args.split()]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            print(f"run {i + 1}: exit {proc.returncode}, {walls[-1]:.1f} s", file=sys.stderr)
            if proc.returncode not in (0, 1):
                print(proc.stderr, file=sys.stderr)
                return 2
            report = json.loads(js.read_text())
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
    print(f"- wall time: median {statistics.median(walls):.1f} s over {len(walls)} run(s) "
          f"({', '.join(f'{w:.1f}' for w in walls)}); target < 60 s")
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
