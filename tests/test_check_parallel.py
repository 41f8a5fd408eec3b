"""``lstmspec check --jobs N``: the same results as one process, and a helper that dies costs only its case."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def check(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lstmspec", "check", "-q", *argv], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=600)


def comparable(path: Path) -> list[tuple]:
    """Everything a report says about each case, except how long it took."""
    out = []
    for r in json.loads(path.read_text())["results"]:
        comparisons = [(c["quantity"], c["passed"], c["error"], c["bound"]) for c in r["comparisons"]]
        out.append((r["spec"], r["implementation"], r["precision"], r["case"], r["status"], r["reason"],
                    tuple(comparisons)))
    return out


def test_two_jobs_give_the_same_results_in_the_same_order_as_one(tmp_path):
    argv = ["lstm", "lstm_peephole", "--framework", "torch,onnxruntime"]
    one = check(*argv, "--jobs", "1", "--json", str(tmp_path / "one.json"))
    two = check(*argv, "--jobs", "2", "--json", str(tmp_path / "two.json"))
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    results = comparable(tmp_path / "one.json")
    assert len(results) > 100
    assert comparable(tmp_path / "two.json") == results


#: correct in this process; a --jobs helper that calls it dies in the middle of its case (exit code 3)
CRASHING_KERNEL = f"{ROOT / 'tests' / 'torch_kernels.py'}:dies_in_a_jobs_helper"


def test_a_helper_that_dies_turns_only_its_case_into_an_error(tmp_path):
    out = tmp_path / "out.json"
    proc = check("lstm", "--kernel", CRASHING_KERNEL, "--no-isolate", "--no-grad", "--dtype", "float64",
                 "--jobs", "2", "--json", str(out), env={"LSTMSPEC_TEST_FLAG": str(tmp_path / "flag")})
    assert proc.returncode == 1, proc.stderr
    results = json.loads(out.read_text())["results"]
    errors = [r for r in results if r["status"] == "error"]
    assert len(errors) == 1
    assert "died (exit code 3)" in errors[0]["reason"]
    ran = [r for r in results if r["status"] != "skip"]
    assert len(ran) > 1 and all(r["status"] == "pass" for r in ran if r is not errors[0])
    assert "helper process" in proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_number(value):
    proc = check("lstm", "--jobs", value)
    assert proc.returncode == 2
    assert "--jobs" in proc.stderr and "Traceback" not in proc.stderr


def test_isolated_kernels_run_under_jobs(tmp_path):
    """Helpers are not daemons: a helper may start the worker process an isolated kernel runs in."""
    out = tmp_path / "out.json"
    proc = check("lstm", "--kernel", "examples/lstm_from_scratch.py:lstm", "--jobs", "2", "--dtype", "float64",
                 "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    statuses = {r["status"] for r in json.loads(out.read_text())["results"]}
    assert statuses == {"pass", "skip"}


def test_progress_without_a_terminal_prints_a_count_while_interleaved_groups_are_open(capsys, monkeypatch):
    from lstmspec.check.cases import make_case
    from lstmspec.cli.progress import Progress
    from lstmspec.check.results import PASS, CaseResult

    import lstmspec

    case = make_case(lstmspec.load_spec("lstm"))
    progress = Progress(quiet=False, total=4)
    monkeypatch.setattr(Progress, "HEARTBEAT_S", 0.0)
    for group in ((0, 0, 0, 0, False), (0, 1, 0, 0, False)):
        progress.expect(group, 2)
    for group in [(0, 0, 0, 0, False), (0, 1, 0, 0, False)] * 2:
        progress(group, CaseResult("lstm", f"impl{group[1]}", "cpu", "float64", case, 0, PASS))
    lines = capsys.readouterr().err.splitlines()
    assert lines[:2] == ["[1/4] 0 s, 0 failed so far", "[2/4] 0 s, 0 failed so far"]
    assert lines[2].startswith("[3/4] lstm | impl0 | cpu | float64: 2 passed, 0 failed, 0 skipped")
    assert lines[3].startswith("[4/4] lstm | impl1 | cpu | float64: 2 passed")


def test_a_run_in_this_process_gives_its_thread_counts_back(tmp_path):
    """--jobs gives each process its share of the cores; a caller in Python must get its own counts back."""
    import torch

    from lstmspec.cli import main
    from lstmspec.reference import blas

    if blas.threads() is None or blas.usable_cores() < 2:
        pytest.skip("needs numpy's bundled OpenBLAS and two cores")
    saved_blas, saved_torch = blas.threads(), torch.get_num_threads()
    saved_env = {k: os.environ.pop(k, None) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    blas.set_threads(2)
    torch.set_num_threads(2)
    try:
        out = tmp_path / "run.json"
        assert main(["check", "lstm", "--framework", "torch", "--dtype", "float64", "--no-grad", "--jobs", "2",
                     "--json", str(out), "-q"]) == 0
        assert json.loads(out.read_text())["results"], "nothing ran"
        assert blas.threads() == 2, "numpy's BLAS was left at its --jobs share"
        assert torch.get_num_threads() == 2, "torch was left at its --jobs share"
        assert "OMP_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ
    finally:
        blas.set_threads(saved_blas)
        torch.set_num_threads(saved_torch)
        os.environ.update({k: v for k, v in saved_env.items() if v is not None})
