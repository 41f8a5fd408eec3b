"""Keras 3 and tf-keras LSTM -> TFLite converter -> LiteRT interpreter as implementations
(lstmspec/adapters/tflite_export.py)."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

import lstmspec  # noqa: E402
from lstmspec.adapters import tflite_export  # noqa: E402
from lstmspec.adapters.base import ADAPTERS, all_adapters  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case, reduced_matrix  # noqa: E402
from lstmspec.check.oracle import make_data  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP  # noqa: E402
from lstmspec.check.runner import Plan, Target, run_plan  # noqa: E402
from lstmspec.spec.catalog import resolve_path  # noqa: E402

KERAS3 = "keras.layers.LSTM->tflite->litert"
TF_KERAS = "tf_keras.layers.LSTM->tflite->litert"
FLOAT32 = PRECISIONS.get("float32")


def run(spec, name, cases=None):
    all_adapters()
    impl = ADAPTERS.get(name)
    plan = Plan(spec, spec.name, cases or reduced_matrix(spec, default_matrix(spec)),
                [Target(impl.name, "framework", impl)], ["cpu"], [FLOAT32], 0)
    return list(run_plan(plan))


def test_keras3_lstm_through_tflite_conforms_on_the_reduced_matrix_reverse_and_last_output_included():
    results = run(lstmspec.load_spec("lstm"), KERAS3)
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    labels = {r.case.label for r in results if r.status == PASS}
    assert {"direction=reverse", "last output only", "no initial state (framework default zeros)"} <= labels
    assert len(labels) >= 8


def test_the_converted_graph_is_a_while_loop_and_the_note_says_so():
    all_adapters()
    spec = lstmspec.load_spec("lstm")
    prepared = ADAPTERS.get(KERAS3).prepare(make_data(spec, make_case(spec, {}), 0), "cpu", FLOAT32)
    assert "graph: " in prepared.note and "WHILE" in prepared.note, prepared.note
    assert prepared.outputs().y.shape == (3, 5, 6)


def test_tf_keras_lstm_through_tflite_runs_the_default_case_and_says_why_not_the_others():
    pytest.importorskip("tf_keras")
    results = run(lstmspec.load_spec("lstm"), TF_KERAS)
    assert [r.case.label for r in results if r.status == PASS] == ["direction=forward"]
    assert not [r for r in results if r.status not in (PASS, SKIP)]
    assert any("default case only" in r.reason for r in results if r.status == SKIP)


def test_a_case_is_converted_once_and_reused_by_a_second_prepare():
    all_adapters()
    spec = lstmspec.load_spec("lstm")
    data = make_data(spec, make_case(spec, {"units": 5}), 0)
    ADAPTERS.get(KERAS3).prepare(data, "cpu", FLOAT32)
    before = dict(tflite_export._MODELS)
    assert ADAPTERS.get(KERAS3).prepare(data, "cpu", FLOAT32).outputs().y.shape == (3, 5, 5)
    assert tflite_export._MODELS == before


def test_a_wrong_gate_order_in_the_keras_layout_fails_the_converted_model(tmp_path):
    text = resolve_path("lstm").read_text()
    old = 'kernel = { concat = ["W_i", "W_f", "W_g", "W_o"]'
    assert old in text
    path = tmp_path / "lstm.toml"
    path.write_text(text.replace(old, 'kernel = { concat = ["W_i", "W_o", "W_g", "W_f"]'))
    spec = lstmspec.load_spec(str(path))
    assert [r.status for r in run(spec, KERAS3, [make_case(spec, {})])] == [FAIL]


def test_converter_message_is_the_sentence_after_error_not_the_mlir_location():
    exc = RuntimeError("<unknown>:0: error: loc(callsite(...)): 'tf.TensorListReserve' op requires element_shape "
                       "to be static during TF Lite transformation pass\n<unknown>:0: note: called from")
    assert tflite_export.converter_message(exc).startswith("'tf.TensorListReserve' op requires element_shape")
