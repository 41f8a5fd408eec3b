"""Kernels that return their gates are told at which step which gate first left the equations."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import lstmspec  # noqa: E402
from lstmspec.api import check_kernel  # noqa: E402
from lstmspec.check.results import ERROR, FAIL, PASS, SKIP  # noqa: E402

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}


def gated_lstm(*, forget_bias: float = 0.0, g_activation=torch.tanh, o_uses_input_weights: bool = False):
    """An LSTM written from scratch that returns its gates; the keyword arguments plant one bug each."""

    @lstmspec.kernel(supports={"activation": ["tanh"], "recurrent_activation": ["sigmoid"]}, gates=True)
    def lstm(x, state, params, config):
        h, c = state["h"], state["c"]
        steps = range(x.shape[1])
        order = list(steps)[::-1] if config.get("direction") == "reverse" else list(steps)
        ys, gates = [None] * len(order), {g: [None] * len(order) for g in "ifgo"}
        for t in order:
            pre = {g: x[:, t] @ params[f"W_{g}"] + h @ params[f"U_{g}"] + params[f"b_{g}"] for g in "ifgo"}
            if o_uses_input_weights:
                pre["o"] = x[:, t] @ params["W_i"] + h @ params["U_o"] + params["b_o"]
            i, f = torch.sigmoid(pre["i"]), torch.sigmoid(pre["f"] + forget_bias)
            g, o = g_activation(pre["g"]), torch.sigmoid(pre["o"])
            c = f * c + i * g
            h = o * torch.tanh(c)
            ys[t] = h
            for name, value in zip("ifgo", (i, f, g, o)):
                gates[name][t] = value
        return torch.stack(ys, 1), {"h": h, "c": c}, {k: torch.stack(v, 1) for k, v in gates.items()}

    return lstm


def results_of(kernel, **where):
    return check_kernel(kernel, "lstm", dtypes=("float64",), where=where or None, diagnose=False)


def test_a_correct_kernel_that_returns_its_gates_passes():
    results = results_of(gated_lstm())
    assert {r.status for r in results} <= {PASS, SKIP} and sum(r.status == PASS for r in results) >= 4
    assert all(r.gates == "" for r in results)


def test_a_forget_bias_plus_one_is_located_in_gate_f_at_the_first_step():
    failed = [r for r in results_of(gated_lstm(forget_bias=1.0)) if r.status == FAIL]
    assert failed
    assert failed[0].gates.startswith("gates: first over the bound"), failed[0].gates
    assert "at step 0: f (error" in failed[0].gates and "i, g, o within the bound there" in failed[0].gates
    assert failed[0].gates in failed[0].summary_line()


def test_the_output_gate_reading_the_wrong_weights_is_located_in_gate_o():
    failed = [r for r in results_of(gated_lstm(o_uses_input_weights=True)) if r.status == FAIL]
    assert failed and "at step 0: o (error" in failed[0].gates, failed[0].gates


def test_in_a_reverse_lstm_the_first_step_is_the_last_input_position():
    failed = [r for r in results_of(gated_lstm(g_activation=torch.sigmoid), direction="reverse")
              if r.status == FAIL and dict(r.case.dims).get("time", 1) > 1]
    assert failed
    steps = dict(failed[0].case.dims)["time"]
    assert f"at step 0 (input position {steps - 1}): g (error" in failed[0].gates, failed[0].gates


def test_a_kernel_that_declares_gates_but_returns_two_values_fails_saying_so():
    plain = gated_lstm()

    def two_values(x, state, params, config):
        y, final, _ = plain(x, state, params, config)
        return y, final

    two_values.lstmspec_gates = True
    two_values.lstmspec_supports = plain.lstmspec_supports
    results = results_of(two_values)
    bad = [r for r in results if r.status in (FAIL, ERROR)]
    assert bad and all("should return (y, final_state, gates)" in r.reason for r in bad), bad[0].summary_line()
