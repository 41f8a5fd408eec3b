"""The ``lstmspec_conforms`` fixture (``lstmspec/pytest_plugin.py``, registered through the ``pytest11``
entry point), run in a kernel author's own test suite made with pytest's ``pytester``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent

SUITE = """
from numpy_kernels import input_and_forget_gates_swapped, lstm


def test_correct(lstmspec_conforms):
    results = lstmspec_conforms(lstm)
    print("precisions", sorted({r.precision for r in results}), "seeds", sorted({r.run_seed for r in results}),
          "fuzzed", sum(r.case.label.startswith("fuzz") for r in results))


def test_swapped(lstmspec_conforms):
    lstmspec_conforms(input_and_forget_gates_swapped, spec="lstm", dtypes=("float64",))
"""


def _run(pytester, *args: str):
    """The suite in a fresh pytest process: in-process runs would drop and re-import torch, which crashes."""
    pytester.makepyfile(numpy_kernels=(TESTS / "numpy_kernels.py").read_text(), test_kernels=SUITE)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_the_fixture_passes_a_conforming_kernel_and_fails_a_wrong_one_with_lstmspecs_report(pytester):
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "E * input_and_forget_gates_swapped does not conform to lstm: * cases failed; first (float64, *): "
        "diagnosis: matches lstm with gate order f,i,g,o*",
        "E * case: lstm | input_and_forget_gates_swapped | cpu float64 | *",
        "E * y: error * > bound *, first over the bound at step 0*",
        "E * replay: lstmspec check lstm --kernel numpy_kernels.py:input_and_forget_gates_swapped * --case batch=*",
    ])


def test_command_line_options_set_the_fixtures_defaults(pytester):
    result = _run(pytester, "-rP", "-k", "correct", "--lstmspec-dtypes", "float32", "--lstmspec-seed", "7",
                  "--lstmspec-fuzz", "2")
    result.assert_outcomes(passed=1)
    seen = next(line for line in result.outlines if line.startswith("precisions "))
    assert seen.startswith("precisions ['float32'] seeds [7] fuzzed "), seen
    fuzzed = int(seen.split()[-1])
    assert fuzzed >= 1, f"fuzzed cases={fuzzed}, but should be >= 1 with --lstmspec-fuzz 2"


def test_options_given_to_the_fixture_win_over_the_command_line(pytester):
    result = _run(pytester, "-k", "swapped", "--lstmspec-dtypes", "float32")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*case: lstm | input_and_forget_gates_swapped | cpu float64 | *"])
    assert "cpu float32" not in result.stdout.str()


def test_the_plugin_is_found_through_its_entry_point_and_documents_its_options(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["lstmspec kernel conformance:", "*--lstmspec-fuzz=N*", "*--lstmspec-dtypes=LIST*"])


def test_loading_the_plugin_imports_no_framework():
    """Every pytest run in an environment with lstmspec loads the plugin: it must stay light."""
    code = ("import sys, lstmspec.pytest_plugin; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'onnxruntime', 'hypothesis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
