"""``lstmspec check --kernel ... --timeout S`` (``lstmspec/kernels/isolation.py``): a kernel that hangs fails
its case with a reason, the worker is killed, and the run still writes its reports and exits 1.

The kernel (``tests/numpy_kernels.py:hangs_on_a_batch_of_one``) sleeps for ten minutes; the
subprocess's own limit is only a guard that turns a missing timeout into a failure instead
of a stuck test run.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

KERNEL = Path(__file__).resolve().parent / "numpy_kernels.py"
BATCH_OF_ONE = "batch=1,time=5,input=4,units=6"


def test_a_kernel_that_hangs_fails_its_case_and_the_run_still_reports_and_exits_1(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lstmspec", "check", "lstm", "--kernel",
                          f"{KERNEL}:hangs_on_a_batch_of_one", "--timeout", "2", "--device", "cpu", "--dtype",
                          "float64", "--no-grad", "--case", BATCH_OF_ONE, "--json", "out.json", "-q"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 1, out.stderr
    assert "did not return within 2 s (per-case timeout; the worker was killed)" in out.stdout
    assert "1 cases: 0 passed, 1 failed, 0 skipped" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
    [result] = json.loads((tmp_path / "out.json").read_text())["results"]
    assert (result["case"], result["status"]) == (BATCH_OF_ONE, "fail")
    assert result["reason"].startswith("did not return within 2 s")
    assert f"--case {BATCH_OF_ONE}" in result["replay"], "the failure does not say how to replay it"
