"""specs/lstm_projection.toml (LSTMP) and torch.nn.LSTM(proj_size) through lstmspec check."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstmspec  # noqa: E402
from lstmspec.adapters.base import ADAPTERS, all_adapters  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import ERROR, FAIL, PASS, SKIP  # noqa: E402
from lstmspec.check.runner import Plan, Target, run_plan  # noqa: E402
from lstmspec.cli import main  # noqa: E402
from lstmspec.spec.catalog import resolve_path  # noqa: E402

PROJECTION_ADAPTERS = ["torch.nn.LSTM(proj_size)", "torch.nn.LSTM(proj_size)(batch_first=False)"]
SUPPORTS = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",), "direction": ("forward",)}


def run(spec, impl, precisions=("float64", "float32"), cases=None):
    all_adapters()
    plan = Plan(spec, spec.name, cases or default_matrix(spec), [Target(impl.name, "framework", impl)],
                ["cpu"], [PRECISIONS.get(p) for p in precisions], 0)
    return list(run_plan(plan))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _lstmp(x, state, params, project):
    h, c = state["h"], state["c"]
    ys = []
    for t in range(x.shape[1]):
        z = {g: x[:, t] @ params[f"W_{g}"] + h @ params[f"U_{g}"] + params[f"b_{g}"] for g in "ifgo"}
        c = _sigmoid(z["f"]) * c + _sigmoid(z["i"]) * np.tanh(z["g"])
        h = project(_sigmoid(z["o"]) * np.tanh(c), params["W_hr"])
        ys.append(h)
    return np.stack(ys, axis=1), {"h": h, "c": c}


@lstmspec.kernel(arrays="numpy", supports=SUPPORTS)
def lstmp(x, state, params, config):
    """Correct: h = (o * tanh(c)) @ W_hr."""
    return _lstmp(x, state, params, lambda h, w: h @ w)


@lstmspec.kernel(arrays="numpy", supports=SUPPORTS)
def lstmp_without_projection(x, state, params, config):
    """Wrong: h keeps the first proj cell outputs instead of projecting them (W_hr forgotten)."""
    return _lstmp(x, state, params, lambda h, w: h[:, : w.shape[1]])


def test_spec_lints_and_declares_the_torch_projection_layout(capsys):
    assert main(["lint", "lstm_projection"]) == 0
    spec = lstmspec.load_spec("lstm_projection")
    assert spec.params["W_hr"].shape and spec.states["h"].shape[-1].render() == "proj"
    names = [t.name for t in spec.layout("torch").tensors]
    assert names == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]


def test_shape_table_gives_the_torch_weight_shapes_with_a_projection(capsys):
    assert main(["shapes", "lstm_projection", "batch=2", "time=7", "input=5", "units=8", "proj=3"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[2].strip(): line.split("|")[4].strip() for line in out.splitlines()
            if line.startswith("|") and line.count("|") >= 6}
    assert rows["weight_hh_l0"] == "(32, 3)"
    assert rows["weight_hr_l0"] == "(3, 8)"
    assert rows["U_i"] == "(3, 8)"
    assert rows["y, return_sequences=True"] == "(2, 7, 3)"


@pytest.mark.parametrize("name", PROJECTION_ADAPTERS)
def test_torch_lstm_with_proj_size_conforms_on_the_default_matrix(name):
    spec = lstmspec.load_spec("lstm_projection")
    all_adapters()
    results = run(spec, ADAPTERS.get(name))
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    passed = [r for r in results if r.status == PASS]
    assert len(passed) >= 6
    grads = {c.quantity for r in passed for c in r.comparisons if c.kind == "grad"}
    assert {"dL/dx", "dL/dh0", "dL/dc0", "dL/dW_hr", "dL/dU_o", "dL/db_g"} <= grads
    shapes = {c.quantity for r in passed for c in r.comparisons if c.kind == "shape"}
    assert any("weight_hr_l0" in s for s in shapes)


def test_torch_cases_with_proj_not_below_units_are_skipped_with_the_reason():
    spec = lstmspec.load_spec("lstm_projection")
    all_adapters()
    results = run(spec, ADAPTERS.get("torch.nn.LSTM(proj_size)"), precisions=("float64",),
                  cases=[make_case(spec, {"units": 3, "proj": 3})])
    assert [r.status for r in results] == [SKIP]
    assert "proj_size < hidden_size" in results[0].summary_line()


def test_a_projection_loaded_untransposed_does_not_pass(tmp_path):
    text = resolve_path("lstm_projection").read_text()
    old = 'weight_hr_l0 = { concat = ["W_hr"], transpose = true }'
    assert old in text
    path = tmp_path / "lstm_projection.toml"
    path.write_text(text.replace(old, 'weight_hr_l0 = { concat = ["W_hr"] }'))
    spec = lstmspec.load_spec(str(path))
    results = run(spec, ADAPTERS.get("torch.nn.LSTM(proj_size)"), precisions=("float64",),
                  cases=[make_case(spec, {})])
    assert [r.status for r in results] in ([FAIL], [ERROR])


def test_a_kernel_that_projects_conforms_and_one_that_forgets_the_projection_fails():
    good = lstmspec.check_kernel(lstmp, "lstm_projection", dtypes=["float64"])
    bad = lstmspec.check_kernel(lstmp_without_projection, "lstm_projection", dtypes=["float64"])
    assert {r.status for r in good} <= {PASS, SKIP} and any(r.status == PASS for r in good)
    failed = [r for r in bad if r.status == FAIL]
    assert failed and not [r for r in bad if r.status == PASS]
    y = next(c for c in failed[0].failures if c.quantity == "y")
    assert y.first_step == 0
