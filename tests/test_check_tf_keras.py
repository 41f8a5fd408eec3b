"""tf-keras (Keras 2) layers through lstmspec check (lstmspec/adapters/tf_keras_layers.py)."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

import lstmspec  # noqa: E402
from lstmspec.adapters.base import ADAPTERS, all_adapters  # noqa: E402
from lstmspec.adapters.keras_layers import KERAS_ACTIVATIONS  # noqa: E402
from lstmspec.adapters.tf_keras_layers import TfKerasLSTM  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP  # noqa: E402
from lstmspec.check.runner import Plan, Target, run_plan  # noqa: E402


def run(spec, impl, cases=None, precisions=("float64", "float32")):
    all_adapters()
    plan = Plan(spec, spec.name, cases or default_matrix(spec), [Target(impl.name, "framework", impl)],
                ["cpu"], [PRECISIONS.get(p) for p in precisions], 0)
    return list(run_plan(plan))


@pytest.mark.parametrize(("spec", "name"), [("lstm", "tf_keras.layers.LSTM"),
                                            ("convlstm2d", "tf_keras.layers.ConvLSTM2D")])
def test_tf_keras_layers_conform_on_the_default_matrix(spec, name):
    all_adapters()
    results = run(lstmspec.load_spec(spec), ADAPTERS.get(name))
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    passed = [r for r in results if r.status == PASS]
    assert len(passed) >= 40
    labels = {r.case.label for r in passed}
    assert {"activation=hard_sigmoid", "activation=hard_sigmoid_keras2"} <= labels  # Keras 3's and Keras 2's
    assert any(c.kind == "grad" for r in passed for c in r.comparisons)


class _Keras3Names(TfKerasLSTM):
    """A port that passes Keras 3's activation names to Keras 2: its "hard_sigmoid" is clip(0.2x + 0.5)."""

    name = "test: tf_keras LSTM given Keras 3's activation names"

    def activation(self, name):
        value = KERAS_ACTIVATIONS.get(name)
        return value if isinstance(value, str) else "hard_sigmoid"


def test_keras2_hard_sigmoid_is_not_keras3s_a_port_that_passes_the_name_fails():
    spec = lstmspec.load_spec("lstm")
    cases = [make_case(spec, {}, {"recurrent_activation": "hard_sigmoid"})]
    assert [r.status for r in run(spec, _Keras3Names(), cases, ("float64",))] == [FAIL]
    assert [r.status for r in run(spec, TfKerasLSTM(), cases, ("float64",))] == [PASS]


@pytest.mark.parametrize(("spec", "name"), [("convlstm1d", "tf_keras.layers.ConvLSTM1D"),
                                            ("convlstm3d", "tf_keras.layers.ConvLSTM3D")])
def test_tf_keras_convlstm1d_and_3d_conform_on_the_default_matrix_at_float32(spec, name):
    all_adapters()
    results = run(lstmspec.load_spec(spec), ADAPTERS.get(name), precisions=("float32",))
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    passed = [r for r in results if r.status == PASS]
    assert len(passed) >= 30
    assert any(c.kind == "grad" for r in passed for c in r.comparisons)


def test_both_halves_of_tf_keras_bidirectional_conform_keras3s_hard_sigmoid_passed_as_a_function_included():
    all_adapters()
    spec = lstmspec.load_spec("lstm")
    keras3_gate = {"recurrent_activation": "hard_sigmoid"}  # not a Keras 2 name: Bidirectional must rebuild it
    for half, extra in (("forward", {}), ("backward", {"direction": "reverse"})):
        cases = [make_case(spec, {}, extra), make_case(spec, {}, {**extra, **keras3_gate}),
                 make_case(spec, {}, extra, {"state": "zeros"})]
        results = run(spec, ADAPTERS.get(f"tf_keras.layers.Bidirectional(LSTM)/{half}"), cases, ("float64",))
        assert [r.status for r in results] == [PASS] * 3, [r.summary_line() for r in results]
