"""``lstmspec.assert_conforms`` (``lstmspec/api.py``): a kernel's conformance as one assertion in its own tests.

The kernels are in ``tests/numpy_kernels.py``: a correct numpy LSTM and the same
loop with the input and forget gates swapped.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import lstmspec
from lstmspec.check.results import PASS, SKIP

from numpy_kernels import SUPPORTS, input_and_forget_gates_swapped, lstm


def test_a_correct_kernel_conforms_and_every_result_is_returned():
    results = lstmspec.assert_conforms(lstm, "lstm", dtypes=("float64", "float32"))
    assert {r.status for r in results} == {PASS, SKIP}
    for dtype in ("float64", "float32"):
        passed = [r for r in results if r.status == PASS and r.precision == dtype]
        assert len(passed) >= 4, (f"{dtype} passes={len(passed)}, but should be >= 4 "
                                  "(defaults, one timestep, batch of one, zero state)")


def test_a_kernel_with_swapped_gates_raises_the_failure_report_led_by_the_diagnosis(tmp_path):
    with pytest.raises(AssertionError) as err:
        lstmspec.assert_conforms(input_and_forget_gates_swapped, "lstm", dtypes=("float64",), replay_from=tmp_path)
    report = str(err.value)
    first = report.splitlines()[0]
    assert first.startswith("input_and_forget_gates_swapped does not conform to lstm: "), first
    assert " cases failed; first (float64, direction=forward): diagnosis: matches lstm with gate order f,i,g,o" in first
    assert "\n  case: lstm | input_and_forget_gates_swapped | cpu float64 | " in report
    assert "first over the bound at step 0" in report and "\n  worst element: " in report
    kernels = Path(input_and_forget_gates_swapped.__code__.co_filename)
    ref = f"{Path(os.path.relpath(kernels, tmp_path)).as_posix()}:input_and_forget_gates_swapped"
    assert f"  replay: lstmspec check lstm --kernel {ref} --device cpu --dtype float64 --seed 0 --case batch=" in report


def test_a_kernel_whose_every_case_is_skipped_does_not_conform():
    """A check in which every case was skipped proves nothing, so it is no pass."""

    @lstmspec.kernel(arrays="numpy", supports=SUPPORTS, devices=("cuda",))
    def gpu_only(x, state, params, config):
        raise AssertionError("never called: a kernel declared for CUDA is not run on the CPU")

    with pytest.raises(AssertionError, match="^no case ran \\(every case was skipped\\):"):
        lstmspec.assert_conforms(gpu_only, "lstm", dtypes=("float64",), device="cpu")


def test_options_reach_the_check_a_spec_object_and_where():
    spec = lstmspec.load_spec("lstm")
    results = lstmspec.assert_conforms(lstm, spec, dtypes=("float32",), where={"batch": 1}, seed=3)
    ran = [r for r in results if r.status == PASS]
    assert ran and {r.precision for r in results} == {"float32"} and {r.run_seed for r in results} == {3}
    assert {dict(r.case.dims)["batch"] for r in results} == {1}
