"""`lstmspec check` on real Keras 3 layers (TensorFlow backend, CPU): correct ones pass, plausible bugs fail.

Every skip the adapters report is pinned to what TensorFlow and Keras really do,
so a release that lifts a limitation fails here and the skip can go.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("torch")  # the oracle's gradients and the yardstick run in torch
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import lstmspec  # noqa: E402
from lstmspec.adapters.base import ADAPTERS, all_adapters  # noqa: E402
from lstmspec.adapters.keras_layers import (  # noqa: E402
    _KERAS_STRIDES_DILATION,
    KerasConvLSTM2D,
    KerasLSTM,
)
from lstmspec.check.cases import default_matrix, make_case  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import ERROR, FAIL, PASS, SKIP  # noqa: E402
from lstmspec.check.runner import Plan, Target, run_plan  # noqa: E402
from lstmspec.cli import main  # noqa: E402
from lstmspec.spec.catalog import resolve_path  # noqa: E402

BOTH = ("float64", "float32")


def run(spec, impl, precisions=BOTH, cases=None):
    plan = Plan(spec, spec.name, cases or default_matrix(spec), [Target(impl.name, "framework", impl)],
                ["cpu"], [PRECISIONS.get(p) for p in precisions], 0)
    return list(run_plan(plan))


def registered(name):
    all_adapters()
    return ADAPTERS.get(name)


def not_passing(results):
    return [r.summary_line() for r in results if r.status not in (PASS, SKIP)]


def skip_reasons(results):
    return {r.reason for r in results if r.status == SKIP}


def failing_quantities(results):
    return {c.quantity for r in results if r.status == FAIL for c in r.failures}


def edited_spec(tmp_path, name, *edits):
    text = resolve_path(name).read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return lstmspec.load_spec(str(path))


# --- correct layers conform ------------------------------------------------------------------------------------


def test_keras_lstm_conforms_on_the_default_matrix():
    spec = lstmspec.load_spec("lstm")
    results = run(spec, registered("keras.layers.LSTM"))
    assert not not_passing(results)
    passed = [r for r in results if r.status == PASS]
    assert len(passed) >= 2 * (len(default_matrix(spec)) - 1)  # at most the reversed last-output case skips
    described = {r.case.describe() for r in passed}
    assert {"activation=hard_sigmoid_keras2", "recurrent_activation=hard_sigmoid"} <= described
    assert any("direction=reverse" in d for d in described)
    grads = {c.quantity for r in passed for c in r.comparisons if c.kind == "grad"}
    assert {"dL/dx", "dL/dh0", "dL/dc0", "dL/dW_i", "dL/dU_f", "dL/db_g", "dL/db_o"} <= grads
    shapes = {c.quantity for r in passed for c in r.comparisons if c.kind == "shape" and c.passed}
    assert shapes == {"shape of kernel", "shape of recurrent_kernel", "shape of bias"}


def test_keras_convlstm2d_conforms_on_the_default_matrix():
    spec = lstmspec.load_spec("convlstm2d")
    results = run(spec, registered("keras.layers.ConvLSTM2D"))
    assert not not_passing(results)
    reasons = skip_reasons(results)
    assert any(_KERAS_STRIDES_DILATION in r for r in reasons) and any("NHWC" in r for r in reasons)
    assert all(_KERAS_STRIDES_DILATION in r or r.startswith("channels_first") for r in reasons)
    passed = {r.case.describe() for r in results if r.status == PASS}
    assert {"padding=same strides=2x2 dilation=1x1 kernel_size=2",
            "padding=valid strides=1x1 dilation=2x2 kernel_size=3",
            "no initial state (framework default zeros)", "last output only", "one timestep"} <= passed


def test_keras_convlstm1d_conforms_on_the_default_matrix_in_float64():
    spec = lstmspec.load_spec("convlstm1d")
    results = run(spec, registered("keras.layers.ConvLSTM1D"), precisions=("float64",))
    assert not not_passing(results)
    assert all(_KERAS_STRIDES_DILATION in r or r.startswith("channels_first") for r in skip_reasons(results))
    assert len([r for r in results if r.status == PASS]) >= len(results) - 5


def test_keras_convlstm3d_conforms_with_channels_first_run_through_xla():
    spec = lstmspec.load_spec("convlstm3d")
    cases = [make_case(spec, attrs={"data_format": "channels_first"}),
             make_case(spec, attrs={"padding": "same", "strides": (2, 1, 2)}),
             make_case(spec, attrs={"dilation": (1, 2, 1)}, options={"return_sequences": False})]
    results = run(spec, registered("keras.layers.ConvLSTM3D"), precisions=("float32",), cases=cases)
    assert [r.status for r in results] == [PASS] * 3, not_passing(results)


def test_the_cli_checks_a_keras_case_by_its_key():
    spec = lstmspec.load_spec("convlstm1d")
    key = make_case(spec, attrs={"padding": "same", "strides": (2,)}).key
    assert main(["check", "convlstm1d", "--framework", "keras", "--dtype", "float64", "--case", key, "-q"]) == 0


def test_tf32_stays_off_after_a_keras_run():
    spec = lstmspec.load_spec("lstm")
    run(spec, registered("keras.layers.LSTM"), precisions=("float32",), cases=[make_case(spec)])
    assert not tf.config.experimental.tensor_float_32_execution_enabled()


def test_registering_the_keras_adapters_does_not_import_tensorflow():
    code = ("import sys; from lstmspec.adapters.base import all_adapters; all_adapters(); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --- every skip is true ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer, shape", [("ConvLSTM1D", (1, 2, 3, 5)), ("ConvLSTM2D", (1, 2, 3, 5, 4))])
def test_channels_first_convolution_really_fails_on_the_cpu(layer, shape):
    with tf.device("/CPU:0"):
        conv_lstm = getattr(keras.layers, layer)(2, 3, data_format="channels_first", dtype="float64")
        with pytest.raises(tf.errors.UnimplementedError, match="NHWC"):
            conv_lstm(np.zeros(shape))


def test_strides_with_dilation_skip_quotes_what_keras_raises():
    with pytest.raises(ValueError, match=re.escape(_KERAS_STRIDES_DILATION)):
        keras.layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    spec = lstmspec.load_spec("convlstm2d")
    case = make_case(spec, attrs={"strides": (2, 1), "dilation": (1, 2)})
    [result] = run(spec, registered("keras.layers.ConvLSTM2D"), precisions=("float64",), cases=[case])
    assert result.status == SKIP and _KERAS_STRIDES_DILATION in result.reason


# --- deliberately wrong implementations fail, naming the quantity ---------------------------------------------


class _ZeroBias(KerasLSTM):
    """A loader that forgets the bias (e.g. a converter that drops use_bias tensors)."""

    name = "test: keras LSTM with its bias zeroed after loading"

    def load(self, data, layer):
        variables = super().load(data, layer)
        variables["bias"].assign(np.zeros(variables["bias"].shape))
        return variables


def test_a_zeroed_bias_fails_on_y_from_step_0():
    spec = lstmspec.load_spec("lstm")
    cases = [make_case(spec), make_case(spec, options={"state": "zeros"})]
    results = run(spec, _ZeroBias(), precisions=("float64",), cases=cases)
    assert [r.status for r in results] == [FAIL, FAIL]
    for r in results:
        y = next(c for c in r.failures if c.quantity == "y")
        assert y.first_step == 0 and y.error > 1e-3
    assert {"y", "h_T", "c_T", "dL/db_i", "dL/dx"} <= failing_quantities(results)


def test_gate_order_i_o_f_g_in_the_keras_layout_fails_on_y_at_step_0(tmp_path):
    onnx_order = [(f'{tensor} = {{ concat = ["{p}_i", "{p}_f", "{p}_g", "{p}_o"] }}',
                   f'{tensor} = {{ concat = ["{p}_i", "{p}_o", "{p}_f", "{p}_g"] }}')
                  for tensor, p in [("kernel", "W"), ("recurrent_kernel", "U"), ("bias", "b")]]
    spec = edited_spec(tmp_path, "lstm", *onnx_order)
    results = run(spec, registered("keras.layers.LSTM"), precisions=("float64",), cases=[make_case(spec)])
    [result] = results
    assert result.status == FAIL
    y = next(c for c in result.failures if c.quantity == "y")
    assert y.first_step == 0 and y.error > 1e-3
    assert {"dL/dW_f", "dL/dU_o", "dL/db_g"} <= failing_quantities(results)
    assert not [c for c in result.failures if c.kind == "shape"]  # same shapes: only the values can tell


def test_gate_order_f_i_g_o_in_the_convlstm2d_kernel_fails(tmp_path):
    spec = edited_spec(tmp_path, "convlstm2d", ('kernel = { concat = ["W_i", "W_f", "W_g", "W_o"] }',
                                                'kernel = { concat = ["W_f", "W_i", "W_g", "W_o"] }'))
    [result] = run(spec, KerasConvLSTM2D(), precisions=("float32",), cases=[make_case(spec)])
    assert result.status == FAIL
    assert {"y", "dL/dW_i", "dL/dW_f"} <= {c.quantity for c in result.failures}


def test_a_transposed_keras_kernel_is_an_error_that_names_both_shapes(tmp_path):
    spec = edited_spec(tmp_path, "lstm", ('kernel = { concat = ["W_i", "W_f", "W_g", "W_o"] }',
                                          'kernel = { concat = ["W_i", "W_f", "W_g", "W_o"], transpose = true }'))
    [result] = run(spec, registered("keras.layers.LSTM"), precisions=("float64",), cases=[make_case(spec)])
    assert result.status == ERROR
    assert "kernel" in result.reason and "(24, 4)" in result.reason and "(4, 24)" in result.reason


class _ProcessingOrder(KerasLSTM):
    """go_backwards outputs compared as Keras returns them, in processing order."""

    name = "test: keras LSTM(go_backwards=True) outputs not realigned"

    def arrange(self, raw, data):
        y, final = super().arrange(raw, data)
        return y[:, ::-1], final  # undone: back to processing order


def test_reversed_outputs_left_in_processing_order_fail_on_y_but_not_on_the_final_state():
    spec = lstmspec.load_spec("lstm")
    [result] = run(spec, _ProcessingOrder(), precisions=("float64",),
                   cases=[make_case(spec, attrs={"direction": "reverse"})])
    assert result.status == FAIL
    failed = {c.quantity for c in result.failures}
    assert "y" in failed and "h_T" not in failed and "c_T" not in failed


class _Keras3HardSigmoidForKeras2(KerasLSTM):
    """The porting slip: Keras 2's hard_sigmoid (slope 0.2) replaced by Keras 3's (slope 1/6)."""

    name = "test: keras LSTM with Keras 3 hard_sigmoid for hard_sigmoid_keras2"

    def activation(self, name):
        return super().activation("hard_sigmoid" if name == "hard_sigmoid_keras2" else name)


def test_keras3_hard_sigmoid_in_place_of_keras2_fails_on_y():
    spec = lstmspec.load_spec("lstm")
    case = make_case(spec, attrs={"recurrent_activation": "hard_sigmoid_keras2"})
    [bad] = run(spec, _Keras3HardSigmoidForKeras2(), precisions=("float64",), cases=[case])
    [good] = run(spec, registered("keras.layers.LSTM"), precisions=("float64",), cases=[case])
    assert bad.status == FAIL and "y" in {c.quantity for c in bad.failures}
    assert good.status == PASS


def test_both_halves_of_keras_bidirectional_conform_and_the_backward_half_is_aligned_with_the_input():
    from lstmspec.adapters.keras_layers import KerasBidirectionalBackward, KerasBidirectionalForward

    spec = lstmspec.load_spec("lstm")
    reverse_cases = [make_case(spec, attrs={"direction": "reverse"}), make_case(spec, {"time": 1}, {"direction": "reverse"})]
    forward_cases = [make_case(spec)]
    for half, cases in ((KerasBidirectionalForward(), forward_cases), (KerasBidirectionalBackward(), reverse_cases)):
        results = run(spec, half, precisions=("float64",), cases=cases)
        assert [r.status for r in results] == [PASS] * len(cases), [r.summary_line() for r in results]

    class BackwardReadInProcessingOrder(KerasBidirectionalBackward):
        name = "test: Bidirectional backward half flipped back to processing order"

        def run(self, data, device, precision, want_grads):
            outcome = super().run(data, device, precision, want_grads)
            outcome.y = outcome.y[:, ::-1]
            return outcome

    results = run(spec, BackwardReadInProcessingOrder(), precisions=("float64",), cases=reverse_cases[:1])
    assert results[0].status == FAIL and "y" in {c.quantity for c in results[0].failures}


def test_fuzz_counts_only_configurations_keras_can_run(tmp_path):
    """Keras refuses strides > 1 with dilation > 1; such draws are replaced, so --fuzz 6 checks 6 configurations."""
    js = tmp_path / "fuzz.json"
    assert main(["check", "convlstm1d", "--framework", "keras", "--dtype", "float64", "--no-grad", "--fuzz", "6",
                 "--seed", "3", "--case", "batch=1", "--jobs", "1", "--json", str(js), "-q"]) == 0
    fuzzed = [r for r in json.loads(js.read_text())["results"] if r["label"].startswith("fuzz")]
    assert len(fuzzed) == 6 and all(r["status"] == "pass" for r in fuzzed), [r["reason"] for r in fuzzed]
