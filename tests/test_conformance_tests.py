"""``lstmspec.conformance_tests`` (``lstmspec/pytest_plugin.py``, built on ``lstmspec.api.KernelCheck``): one
pytest item per (precision, case), run in a kernel author's own suite made with pytest's ``pytester``."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lstmspec.api import KernelCheck

from numpy_kernels import lstm

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent

SUITE = """
import lstmspec
from numpy_kernels import input_and_forget_gates_swapped, lstm

test_lstm = lstmspec.conformance_tests(lstm, spec="lstm")
test_swapped = lstmspec.conformance_tests(input_and_forget_gates_swapped, spec="lstm", dtypes=("float64",))
"""


def _suite(pytester, body: str = SUITE) -> None:
    pytester.makepyfile(numpy_kernels=(TESTS / "numpy_kernels.py").read_text(), test_kernels=body)


def _run(pytester, *args: str):
    """A fresh pytest process: in-process runs would drop and re-import torch, which crashes."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def _expected_ids(dtypes=("float64", "float32")) -> tuple[list[str], int]:
    """The ids the items should have, and how many of them the kernel's declarations skip."""
    check = KernelCheck(lstm, "lstm", dtypes=dtypes)
    ids, skipped = [], 0
    for precision in check.precisions:
        for case in check.cases:
            ids.append(f"{precision.name}-{case.label or case.key}")
            skipped += check.skip_reason(case, precision) is not None
    return ids, skipped


def test_each_precision_and_case_is_one_item_named_by_the_cases_label(pytester):
    _suite(pytester)
    result = _run(pytester, "--collect-only", "-q", "-k", "test_lstm")
    ids, _ = _expected_ids()
    collected = [line.split("::", 1)[1] for line in result.outlines if line.startswith("test_kernels.py::")]
    assert collected == [f"test_lstm[{i}]" for i in ids]
    assert "test_lstm[float64-one timestep]" in collected and "test_lstm[float32-batch of one]" in collected
    assert len(set(collected)) == len(collected), "item ids repeat"


def test_a_correct_kernel_passes_its_cases_and_its_declared_limits_are_pytest_skips(pytester):
    _suite(pytester)
    result = _run(pytester, "-rs", "-k", "test_lstm")
    ids, skipped = _expected_ids()
    result.assert_outcomes(passed=len(ids) - skipped, skipped=skipped)
    result.stdout.fnmatch_lines(["SKIPPED * numpy_kernels.py:*: declared: lstm supports only direction=forward"])


def test_k_selects_one_precision_and_one_case(pytester):
    _suite(pytester)
    result = _run(pytester, "-k", "test_lstm and float32 and timestep", "--collect-only", "-q")
    items = [line for line in result.outlines if line.startswith("test_kernels.py::")]
    assert items and all("[float32-" in line and "timestep" in line for line in items), items


def test_a_failure_leads_with_the_diagnosis_and_its_replay_runs_as_printed_from_the_tests_folder(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # pytest cuts the -rf summary line to the terminal's width
    _suite(pytester)
    result = _run(pytester, "-rf", "-k", "test_swapped and float64-one and timestep and not reverse")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    summary = next(line for line in result.outlines if line.startswith("FAILED "))
    assert summary.startswith("FAILED test_kernels.py::test_swapped[float64-one timestep] - Failed: diagnosis: "
                              "matches lstm with gate order f,i,g,o"), summary
    body = out[out.index("diagnosis: matches"):]
    assert "\ncase: lstm | input_and_forget_gates_swapped | cpu float64 | one timestep (batch=3,time=1," in body
    assert re.search(r"\nworst element: \S+ at index \(\d+, \d+\)", body), body
    assert "Traceback" not in out and "pytest_plugin.py" not in out
    replay = re.search(r"^replay: (lstmspec check .*)$", out, re.M).group(1)
    assert replay.startswith("lstmspec check lstm --kernel numpy_kernels.py:input_and_forget_gates_swapped ")
    argv = [sys.executable, "-m", "lstmspec", *shlex.split(replay)[1:]]
    ran = subprocess.run(argv, cwd=pytester.path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stderr  # it runs, and the case fails there too
    assert "gate order f,i,g,o" in ran.stdout and "1 cases: 0 passed, 1 failed" in ran.stdout


def test_pytest_xdist_spreads_the_items_and_gives_the_same_results(pytester):
    pytest.importorskip("xdist")
    _suite(pytester)
    ids, skipped = _expected_ids()
    swapped, _ = _expected_ids(("float64",))
    one = _run(pytester, "-q")
    two = _run(pytester, "-q", "-n", "2")
    outcomes = one.parseoutcomes()
    assert two.parseoutcomes() == outcomes
    assert outcomes["passed"] + outcomes["failed"] + outcomes["skipped"] == len(ids) + len(swapped)
    assert outcomes["failed"] >= 4


def test_a_kernel_the_command_line_cannot_load_says_so_instead_of_a_replay_that_fails(pytester):
    _suite(pytester, """
import lstmspec
from numpy_kernels import SUPPORTS, input_and_forget_gates_swapped


def make():
    @lstmspec.kernel(arrays="numpy", supports=SUPPORTS)
    def inner(x, state, params, config):
        return input_and_forget_gates_swapped(x, state, params, config)
    return inner


test_closure = lstmspec.conformance_tests(make(), dtypes=("float64",), where={"time": 1})
""")
    result = _run(pytester, "-k", "not reverse")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["replay: none from the command line: make.<locals>.inner is a closure*; --case batch=3,time=1,* "
                                 "--seed 0 names the case"])


def test_fuzz_adds_one_item_per_precision(pytester):
    _suite(pytester, """
import lstmspec
from numpy_kernels import lstm

test_lstm = lstmspec.conformance_tests(lstm, dtypes=("float64",), fuzz=2, where={"batch": 1})
""")
    result = _run(pytester, "-k", "fuzz", "-q")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 passed*"])


@pytest.mark.parametrize("arguments, says", [
    ('spec="lstmm"', "unknown spec 'lstmm'; available: *lstm*"),
    ('dtypes=("float65",)', "unknown precision 'float65'; available: *float64*"),
    ('device="gpu"', "Expected device one of cpu, cuda but got device='gpu'"),
    ('where={"batchh": 1}', "where={'batchh': ...}: spec lstm has no dimension, attribute or option 'batchh'; known: *"),
    ('where={"batch": 99}', "where batch=99 selects no case of spec lstm"),
    ("fuzz=-1", "Expected fuzz a count >= 0 but got fuzz=-1"),
])
def test_wrong_arguments_are_a_collection_error_of_one_line(pytester, arguments, says):
    _suite(pytester, f"""
import lstmspec
from numpy_kernels import lstm

test_lstm = lstmspec.conformance_tests(lstm, {arguments})
""")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    block = out[out.index("ERROR collecting test_kernels.py"):out.index("short test summary")]
    lines = [line for line in block.splitlines()[1:] if line.strip() and not line.startswith("=")]
    assert len(lines) == 1, block
    result.stdout.fnmatch_lines([f"lstmspec.conformance_tests: {says}"])
    assert "Traceback" not in out and "During handling" not in out


def test_the_replay_of_a_kernel_checked_with_grad_true_checks_gradients_too(pytester):
    pytest.importorskip("torch")
    _suite(pytester, '''
import lstmspec
import torch


def swapped(x, state, params, config):
    h, c = state["h"], state["c"]
    ys = []
    for t in range(x.shape[1]):
        z = {g: x[:, t] @ params[f"W_{g}"] + h @ params[f"U_{g}"] + params[f"b_{g}"] for g in "ifgo"}
        c = torch.sigmoid(z["i"]) * c + torch.sigmoid(z["f"]) * torch.tanh(z["g"])
        h = torch.sigmoid(z["o"]) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys, dim=1), {"h": h, "c": c}


swapped.lstmspec_supports = {"activation": ["tanh"], "recurrent_activation": ["sigmoid"], "direction": ["forward"]}
test_swapped = lstmspec.conformance_tests(swapped, dtypes=("float64",), grad=True,
                                          where={"time": 1, "direction": "forward", "state": "random"})
''')
    result = _run(pytester, "-k", "float64-one")
    result.assert_outcomes(failed=1)
    replay = re.search(r"^replay: (lstmspec check .*)$", result.stdout.str(), re.M).group(1)
    assert replay.startswith("lstmspec check lstm --kernel test_kernels.py:swapped ") and replay.endswith(" --grad")
    ran = subprocess.run([sys.executable, "-m", "lstmspec", *shlex.split(replay)[1:]], cwd=pytester.path,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1 and "dL/dW_" in ran.stdout, ran.stdout + ran.stderr
