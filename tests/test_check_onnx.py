"""ONNX Runtime's LSTM operator checked by the runner (lstmspec/adapters/onnx_lstm.py), real ORT, no mocks.

Pinned here: the four adapters pass the default matrix of their spec at
float32 or skip with a true reason; a reverse LSTM's Y is aligned with the
input (reading it in processing order fails); and a wrong model — Keras' gate
order in W, zeroed peepholes — fails on ``y`` from the first step.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import lstmspec  # noqa: E402
from lstmspec.adapters import Outcome, select_adapters  # noqa: E402
from lstmspec.adapters.onnx_lstm import OnnxLSTM, OnnxLSTMPeephole  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP, CaseResult  # noqa: E402
from lstmspec.check.runner import Plan, Target, run_plan  # noqa: E402

FLOAT32 = PRECISIONS.get("float32")
ADAPTERS = {
    "onnxruntime.LSTM": "lstm",
    "onnxruntime.LSTM(layout=1)": "lstm",
    "onnxruntime.LSTM+peepholes": "lstm_peephole",
    "onnxruntime.LSTM+peepholes(layout=1)": "lstm_peephole",
    "onnxruntime.LSTM(bidirectional)/forward": "lstm",
    "onnxruntime.LSTM(bidirectional)/reverse": "lstm",
    "onnxruntime.LSTM+peepholes(bidirectional)/forward": "lstm_peephole",
    "onnxruntime.LSTM+peepholes(bidirectional)/reverse": "lstm_peephole",
}
HALVES = {"/forward": "reverse", "/reverse": "forward"}  # the direction each half declares it does not run
# ORT's own words when it refuses the operator's layout=1 (onnxruntime/core/providers/cpu/rnn/lstm_base.h)
NO_BATCH_MAJOR = "Batchwise recurrent operations (layout == 1) are not supported"


def check(spec, impls, cases) -> list[CaseResult]:
    targets = [Target(impl.name, "framework", impl) for impl in impls]
    return list(run_plan(Plan(spec, spec.name, list(cases), targets, ["cpu"], [FLOAT32], seed=0)))


def failed(result: CaseResult) -> dict[str, int | None]:
    """Failing quantity -> first step over the bound."""
    return {c.quantity: c.first_step for c in result.failures}


@pytest.fixture(scope="module")
def default_results() -> dict[str, list[CaseResult]]:
    """Every onnxruntime adapter over its spec's default matrix, one plan (one oracle) per spec."""
    out: dict[str, list[CaseResult]] = {}
    for name in sorted(set(ADAPTERS.values())):
        spec = lstmspec.load_spec(name)
        impls = [a for a in select_adapters(["onnxruntime"]) if a.spec == name]
        for r in check(spec, impls, default_matrix(spec)):
            out.setdefault(r.implementation, []).append(r)
    return out


def test_onnxruntime_adapters_are_registered_once_per_spec_and_layout():
    found = {a.name: a.spec for a in select_adapters(["onnxruntime"])}
    assert found == ADAPTERS
    assert all(a.precisions == ("float32",) and not a.gradients for a in select_adapters(["onnxruntime"]))


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_adapter_passes_or_skips_with_a_true_reason_on_the_default_matrix(default_results, name):
    results = default_results[name]
    assert results, f"no results for {name}: the default matrix produced nothing"
    for r in results:
        half = next((h for h in HALVES if name.endswith(h)), None)
        if r.status == SKIP and half and dict(r.case.attrs).get("direction", "forward") == HALVES[half]:
            assert r.reason == f"{name} has only direction={half[1:]}", r.summary_line()
        elif r.status == SKIP and not r.case.option("return_sequences"):
            assert r.reason == f"{name} has only return_sequences=true", r.summary_line()
        elif r.status == SKIP:
            assert name.endswith("(layout=1)") and NO_BATCH_MAJOR in r.reason, r.summary_line()
        else:
            assert r.status == PASS, r.summary_line()
            shapes = {c.quantity for c in r.comparisons if c.kind == "shape"}
            expected = {"shape of W", "shape of R", "shape of B"} | ({"shape of P"} if "peepholes" in name else set())
            assert shapes == expected, f"shape checks={sorted(shapes)}, but should be {sorted(expected)} [{name}]"
    if not name.endswith("(layout=1)"):
        every_step = [r for r in results if r.case.option("return_sequences") and " has only " not in r.reason]
        assert every_step and all(r.status == PASS for r in every_step), "only what is declared may skip"


class _ProcessingOrderY(OnnxLSTM):
    """Reads a reverse LSTM's Y as if it were in processing order (flipped in time)."""

    name = "test: onnxruntime.LSTM with Y flipped"

    def run(self, data, device, precision, want_grads) -> Outcome:
        outcome = super().run(data, device, precision, want_grads)
        outcome.y = outcome.y[:, ::-1]
        return outcome


def test_reverse_direction_y_is_aligned_with_the_input_and_the_flipped_reading_fails():
    spec = lstmspec.load_spec("lstm")
    case = make_case(spec, attrs={"direction": "reverse"}, label="reverse")
    aligned, flipped = check(spec, [OnnxLSTM(), _ProcessingOrderY()], [case])
    assert aligned.status == PASS, aligned.summary_line()
    assert flipped.status == FAIL, flipped.summary_line()
    assert failed(flipped) == {"y": 0}, flipped.summary_line()  # final h and c are still right


def test_keras_gate_order_in_w_fails_on_y_from_step_0(tmp_path: Path):
    source = Path(lstmspec.load_spec("lstm").path).read_text()
    onnx_w = 'W = { concat = ["W_i", "W_o", "W_f", "W_g"]'
    assert onnx_w in source
    path = tmp_path / "lstm.toml"
    path.write_text(source.replace(onnx_w, 'W = { concat = ["W_i", "W_f", "W_g", "W_o"]', 1))
    spec = lstmspec.load_spec(path)
    results = check(spec, [OnnxLSTM()], [make_case(spec, label="defaults")])
    (r,) = results
    assert r.status == FAIL, r.summary_line()
    assert failed(r).get("y", "passed") == 0, r.summary_line()
    assert all(c.passed for c in r.comparisons if c.kind == "shape"), r.summary_line()  # same shapes, wrong order


class _ZeroPeepholes(OnnxLSTMPeephole):
    name = "test: onnxruntime.LSTM+peepholes with P = 0"

    def run(self, data, device, precision, want_grads) -> Outcome:
        params = {k: np.zeros_like(v) if k.startswith("P_") else v for k, v in data.params.items()}
        return super().run(dataclasses.replace(data, params=params), device, precision, want_grads)


@pytest.mark.parametrize("state", ["random", "zeros"])
def test_zeroed_peepholes_fail_lstm_peephole_on_y_from_step_0(state):
    spec = lstmspec.load_spec("lstm_peephole")
    (r,) = check(spec, [_ZeroPeepholes()], [make_case(spec, options={"state": state}, label=f"state={state}")])
    assert r.status == FAIL, r.summary_line()
    # step 0 already differs: P_i, P_f see c_0 (random state) and P_o sees c_1 (either state)
    assert failed(r).get("y", "passed") == 0, r.summary_line()


def test_the_halves_of_a_bidirectional_lstm_are_told_apart():
    """Y[:, 1] holds the reverse direction: the forward equations checked on it fail."""
    from lstmspec.adapters.onnx_lstm import OnnxLSTMBidirectionalForward

    class ForwardCheckedOnTheReverseHalf(OnnxLSTMBidirectionalForward):
        name = "test: the forward case's weights in the reverse half, read from Y[:, 1]"
        half = 1

    spec = lstmspec.load_spec("lstm")
    case = make_case(spec, label="forward")
    right, wrong = check(spec, [OnnxLSTMBidirectionalForward(), ForwardCheckedOnTheReverseHalf()], [case])
    assert right.status == PASS, right.summary_line()
    assert wrong.status == FAIL and "y" in failed(wrong), wrong.summary_line()


def test_fuzzing_what_cannot_run_says_why_among_the_not_applicable(tmp_path):
    from lstmspec.cli import main

    js = tmp_path / "fuzz.json"
    assert main(["check", "lstm", "--framework", "onnxruntime.LSTM(layout=1)", "--dtype", "float32,float64",
                 "--fuzz", "3", "--case", "batch=1", "--jobs", "1", "--json", str(js), "-q"]) == 1
    gaps = json.loads(js.read_text())["not_applicable"]  # what it cannot run is said once per reason, not as cases
    assert any(NO_BATCH_MAJOR in g["reason"] for g in gaps) and any("has no float64" in g["reason"] for g in gaps)
