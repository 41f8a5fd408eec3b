"""Keras 3 and tf-keras LSTM, Bidirectional(LSTM) and ConvLSTM1D/2D/3D -> tf2onnx -> ONNX Runtime as implementations
(lstmspec/adapters/tf2onnx_export.py, lstmspec/adapters/keras_convert.py)."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

import lstmspec  # noqa: E402
from lstmspec.adapters.tf2onnx_export import PATHS  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case, reduced_matrix  # noqa: E402
from lstmspec.check.oracle import make_data  # noqa: E402
from lstmspec.check.plans import CheckOptions, build_plans  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP  # noqa: E402

from framework_runs import KERAS_GATES, adapter_named, case_data, edited_spec, run  # noqa: E402

KERAS3 = "keras.layers.LSTM->tf2onnx->onnxruntime"
TF_KERAS = "tf_keras.layers.LSTM->tf2onnx->onnxruntime"
BIDIRECTIONAL = "keras.layers.Bidirectional(LSTM)/{half}->tf2onnx->onnxruntime"
CONV = ["keras.layers.ConvLSTM1D", "keras.layers.ConvLSTM2D", "keras.layers.ConvLSTM3D",
        "tf_keras.layers.ConvLSTM1D", "tf_keras.layers.ConvLSTM2D", "tf_keras.layers.ConvLSTM3D"]
FLOAT32 = PRECISIONS.get("float32")


def test_every_keras_layer_kind_of_both_versions_has_a_tf2onnx_path():
    sources = {p.source.name for p in PATHS}
    for kind in ("LSTM", "Bidirectional(LSTM)/forward", "Bidirectional(LSTM)/backward", "ConvLSTM1D", "ConvLSTM2D",
                 "ConvLSTM3D"):
        assert {f"keras.layers.{kind}", f"tf_keras.layers.{kind}"} <= sources
    assert all(p.name == f"{p.source.name}->tf2onnx->onnxruntime" and p.spec == p.source.spec for p in PATHS)


def test_keras3_lstm_through_tf2onnx_conforms_on_every_case_and_is_one_lstm_node():
    spec = lstmspec.load_spec("lstm")
    results = run(spec, KERAS3)
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    assert len([r for r in results if r.status == PASS]) >= 30  # activations, reverse, last output only
    prepared = adapter_named(KERAS3).prepare(case_data(spec), "cpu", FLOAT32)
    assert "graph: LSTM" in prepared.note


def test_tf2onnx_hard_sigmoid_slope_is_checked_not_assumed():
    """tf2onnx folds a tf-keras gate activation clip(x/6 + 0.5) into the LSTM node as HardSigmoid; whether it
    keeps the slope 1/6 (alpha) decides the case, and the check must see the difference."""
    pytest.importorskip("tf_keras")
    import onnx

    spec = lstmspec.load_spec("lstm")
    case = make_case(spec, {}, {"recurrent_activation": "hard_sigmoid"})
    model, _ = adapter_named(TF_KERAS).converted(make_data(spec, case, 0))
    lstm = [n for n in onnx.load_from_string(model).graph.node if n.op_type == "LSTM"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in (lstm[0].attribute if lstm else [])}
    alphas = attrs.get("activation_alpha", [0.2])  # ONNX HardSigmoid's default alpha is 0.2 (Keras 2's)
    slope_kept = bool(lstm) and attrs["activations"][0] == b"HardSigmoid" and abs(alphas[0] - 1 / 6) < 1e-6
    results = run(spec, TF_KERAS, cases=[case])
    if lstm and attrs["activations"][0] == b"HardSigmoid" and not slope_kept:
        assert [r.status for r in results] == [FAIL]
        assert "hard_sigmoid_keras2" in results[0].diagnosis
    else:
        assert [r.status for r in results] == [PASS]


def test_both_halves_of_keras3_bidirectional_conform_as_one_bidirectional_onnx_lstm():
    spec = lstmspec.load_spec("lstm")
    reduced = reduced_matrix(spec, default_matrix(spec))
    for half, direction in (("forward", "forward"), ("backward", "reverse")):
        results = run(spec, BIDIRECTIONAL.format(half=half), reduced)
        assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
        passed = [r for r in results if r.status == PASS]
        assert passed and all(dict(r.case.attrs).get("direction", "forward") == direction for r in passed)
    import onnx

    model, _ = adapter_named(BIDIRECTIONAL.format(half="forward")).converted(case_data(spec))
    [node] = [n for n in onnx.load_from_string(model).graph.node if n.op_type == "LSTM"]
    assert {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}["direction"] == b"bidirectional"


def test_the_backward_half_read_in_processing_order_fails():
    """The converted Bidirectional re-aligns its backward half to input positions; reading it as a bare
    go_backwards layer's outputs (processing order) must not pass."""
    spec = lstmspec.load_spec("lstm")
    backward = adapter_named(BIDIRECTIONAL.format(half="backward"))

    class ProcessingOrder(type(backward)):
        name = "test: tf2onnx Bidirectional backward half flipped to processing order"

        def arrange(self, raw, data):
            y, final = super().arrange(raw, data)
            return y[:, ::-1], final

    [result] = run(spec, ProcessingOrder(), [make_case(spec, {}, {"direction": "reverse"})])
    assert result.status == FAIL and "y" in {c.quantity for c in result.failures}


@pytest.mark.parametrize("source", CONV)
def test_convlstm_through_tf2onnx_conforms_on_the_default_case_as_an_onnx_loop(source):
    pytest.importorskip(source.split(".")[0])
    name = f"{source}->tf2onnx->onnxruntime"
    spec = lstmspec.load_spec(adapter_named(name).spec)
    [result] = run(spec, name, [make_case(spec)])
    assert result.status == PASS, result.summary_line()
    assert {"y", "h_T", "c_T"} <= {c.quantity for c in result.comparisons}
    assert "Loop" in adapter_named(name).prepare(case_data(spec), "cpu", FLOAT32).note


def test_a_wrong_gate_order_in_the_keras_layout_fails_the_converted_convlstm(tmp_path):
    spec = edited_spec(tmp_path, "convlstm2d", *KERAS_GATES)
    assert [r.status for r in run(spec, "keras.layers.ConvLSTM2D->tf2onnx->onnxruntime", [make_case(spec)])] == [FAIL]


def test_convlstm_paths_run_the_default_case_in_a_plain_check_and_the_lstm_paths_the_reduced_matrix():
    plans, _, _, notes = build_plans(CheckOptions(specs=("lstm", "convlstm2d"), frameworks=("tf2onnx",),
                                                  devices=("cpu",)))
    cases = {t.name: len(p.cases) for p in plans for t in p.targets}
    lstm = lstmspec.load_spec("lstm")
    assert cases[KERAS3] == len(reduced_matrix(lstm, default_matrix(lstm)))
    assert cases["keras.layers.ConvLSTM2D->tf2onnx->onnxruntime"] == 1
    assert any(n.startswith("convlstm2d:") and "default case only" in n for n in notes)
