"""Keras 3 and tf-keras LSTM and ConvLSTM2D -> TFLite converter -> LiteRT interpreter as implementations
(lstmspec/adapters/tflite_export.py), and the fused UNIDIRECTIONAL_SEQUENCE_LSTM of a tf-keras LSTM."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

import lstmspec  # noqa: E402
from lstmspec.adapters import tflite_export  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case, reduced_matrix  # noqa: E402
from lstmspec.check.plans import CheckOptions, build_plans  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP  # noqa: E402

from framework_runs import KERAS_GATES, adapter_named, case_data, edited_spec, run  # noqa: E402

KERAS3 = "keras.layers.LSTM->tflite->litert"
TF_KERAS = "tf_keras.layers.LSTM->tflite->litert"
FUSED = "tf_keras.layers.LSTM(outputs only)->tflite->litert"
CONV_KERAS3 = "keras.layers.ConvLSTM2D->tflite->litert"
CONV_TF_KERAS = "tf_keras.layers.ConvLSTM2D->tflite->litert"
FLOAT32 = PRECISIONS.get("float32")


def reduced(spec):
    return reduced_matrix(spec, default_matrix(spec))


def test_keras3_lstm_through_tflite_conforms_on_the_reduced_matrix_reverse_and_last_output_included():
    results = run(lstmspec.load_spec("lstm"), KERAS3, reduced(lstmspec.load_spec("lstm")))
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    labels = {r.case.label for r in results if r.status == PASS}
    assert {"direction=reverse", "last output only", "no initial state (framework default zeros)"} <= labels
    assert len(labels) >= 8


def test_the_converted_graph_is_a_while_loop_and_the_note_says_so():
    spec = lstmspec.load_spec("lstm")
    prepared = adapter_named(KERAS3).prepare(case_data(spec), "cpu", FLOAT32)
    assert "graph: " in prepared.note and "WHILE" in prepared.note, prepared.note
    assert prepared.outputs().y.shape == (3, 5, 6)


def test_tf_keras_paths_run_the_default_case_in_a_plain_check_and_every_case_with_matrix_full():
    pytest.importorskip("tf_keras")
    spec = lstmspec.load_spec("lstm")
    plans, _, _, notes = build_plans(CheckOptions(specs=("lstm",), frameworks=(TF_KERAS, FUSED, KERAS3),
                                                  devices=("cpu",)))
    cases = {t.name: [c.label for c in p.cases] for p in plans for t in p.targets}
    assert cases[TF_KERAS] == cases[FUSED] == ["direction=forward"]
    assert len(cases[KERAS3]) == len(reduced(spec))
    assert any("default case only" in n and TF_KERAS in n for n in notes)
    full, _, _, _ = build_plans(CheckOptions(specs=("lstm",), frameworks=(TF_KERAS,), devices=("cpu",),
                                             matrix="full"))
    assert [len(p.cases) for p in full] == [len(default_matrix(spec))]
    [result] = run(spec, TF_KERAS, [make_case(spec)])
    assert result.status == PASS and {"y", "h_T", "c_T"} <= {c.quantity for c in result.comparisons}


def test_a_case_is_converted_once_and_reused_by_a_second_prepare():
    spec = lstmspec.load_spec("lstm")
    data = case_data(spec, {"units": 5})
    adapter_named(KERAS3).prepare(data, "cpu", FLOAT32)
    before = dict(tflite_export._TfLite._models)
    assert adapter_named(KERAS3).prepare(data, "cpu", FLOAT32).outputs().y.shape == (3, 5, 5)
    assert tflite_export._TfLite._models == before


@pytest.mark.parametrize("name", [KERAS3, CONV_KERAS3])
def test_a_wrong_gate_order_in_the_keras_layout_fails_the_converted_model(tmp_path, name):
    spec = edited_spec(tmp_path, "lstm" if name == KERAS3 else "convlstm2d", *KERAS_GATES)
    assert [r.status for r in run(spec, name, [make_case(spec, {})])] == [FAIL]


def test_keras3_convlstm2d_through_tflite_conforms_on_the_reduced_matrix_as_a_while_loop():
    spec = lstmspec.load_spec("convlstm2d")
    results = run(spec, CONV_KERAS3, reduced(spec))
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    assert len([r for r in results if r.status == PASS]) >= 7  # lengths, a batch of one, zeros, last output only
    prepared = adapter_named(CONV_KERAS3).prepare(case_data(spec), "cpu", FLOAT32)
    assert "WHILE" in prepared.note and prepared.outputs().y.shape == (2, 3, 5, 5, 3)  # valid padding of 7x6


def test_tf_keras_convlstm2d_through_tflite_conforms_with_keras2s_hard_sigmoid_default():
    pytest.importorskip("tf_keras")
    spec = lstmspec.load_spec("convlstm2d")
    cases = [make_case(spec), make_case(spec, {}, {"recurrent_activation": "hard_sigmoid_keras2"})]
    assert [r.status for r in run(spec, CONV_TF_KERAS, cases)] == [PASS, PASS]


def test_tf_keras_lstm_returning_its_outputs_only_is_fused_into_tflites_lstm_op_and_conforms():
    pytest.importorskip("tf_keras")
    spec = lstmspec.load_spec("lstm")
    prepared = adapter_named(FUSED).prepare(case_data(spec), "cpu", FLOAT32)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in prepared.note and "WHILE" not in prepared.note, prepared.note
    cases = [make_case(spec), make_case(spec, {}, {"direction": "reverse"}),
             make_case(spec, {}, options={"return_sequences": False})]
    results = run(spec, FUSED, cases)
    assert [r.status for r in results] == [PASS] * 3, [r.summary_line() for r in results]
    assert {c.quantity for r in results for c in r.comparisons} == {"y"}  # the model returns no final state


def test_the_fused_op_fails_when_the_layout_swaps_gates(tmp_path):
    pytest.importorskip("tf_keras")
    spec = edited_spec(tmp_path, "lstm", *KERAS_GATES)
    [result] = run(spec, FUSED, [make_case(spec)])
    assert result.status == FAIL and [c.quantity for c in result.failures] == ["y"]


def test_converter_message_is_the_sentence_after_error_not_the_mlir_location():
    exc = RuntimeError("<unknown>:0: error: loc(callsite(...)): 'tf.TensorListReserve' op requires element_shape "
                       "to be static during TF Lite transformation pass\n<unknown>:0: note: called from")
    assert tflite_export.converter_message(exc).startswith("'tf.TensorListReserve' op requires element_shape")
