"""What a wrong kernel is told: declarations checked (lstmspec/kernels/declarations.py), crashes located in the
user's code, shapes before gradients, disconnected gradients and NaN named (kernels/protocol.py, check/compare.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from lstmspec.api import check_kernel  # noqa: E402
from lstmspec.check.results import ERROR, FAIL, SKIP  # noqa: E402
from lstmspec.cli import main  # noqa: E402
from lstmspec.errors import ConfigError  # noqa: E402
from torch_kernels import lstm  # noqa: E402  (the correct base every faulty kernel here changes in one place)

CASE = {"batch": 3, "time": 5, "input": 4, "units": 6}


FORWARD = {"direction": ("forward",), "activation": ("tanh",), "recurrent_activation": ("sigmoid",)}


def run(kernel, *, grad: bool = False, supports=None):
    kernel.lstmspec_supports = supports if supports is not None else FORWARD
    return [r for r in check_kernel(kernel, "lstm", dtypes=("float64",), grad=grad, where=CASE, diagnose=False)
            if r.status != SKIP]


# --------------------------------------------------------------------------- declarations
def test_a_misspelt_declaration_key_is_an_error_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"no key 'directions' \(did you mean 'direction'\?\).*knows: .*batch"):
        run(lstm, supports={"directions": ("forward",)})


def test_a_value_the_attribute_cannot_take_is_an_error_naming_the_values() -> None:
    with pytest.raises(ConfigError, match=r"lstmspec_supports\['direction'\].*forward\|reverse"):
        run(lstm, supports={"direction": ("forwards",)})


def test_json_style_lists_mean_the_same_as_tuples() -> None:
    from lstmspec.kernels.declarations import check_supports
    from lstmspec.spec.catalog import load_spec

    spec = load_spec("convlstm2d")
    assert check_supports(spec, {"strides": [[1, 1]], "padding": ["same"]}, "k") == \
        check_supports(spec, {"strides": ((1, 1),), "padding": ("same",)}, "k") == \
        {"strides": ((1, 1),), "padding": ("same",)}
    assert check_supports(spec, {"strides": (1, 1)}, "k") == {"strides": ((1, 1),)}  # one per-axis value


def test_declared_is_said_only_of_what_the_kernel_declared() -> None:
    def undeclared(x, state, params, config):
        return lstm(x, state, params, config)

    results = check_kernel(undeclared, "lstm", dtypes=("float64",), diagnose=False)
    skips = {r.reason for r in results if r.status == SKIP}
    assert skips and not any(r.startswith("declared:") for r in skips), skips
    assert any("(the protocol)" in r for r in skips)


def test_a_misspelt_declaration_on_the_command_line_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.py"
    path.write_text("def lstm(x, state, params, config):\n    return x, state\n"
                    "lstm.lstmspec_supports = {'paddings': ('same',)}\n")
    assert main(["check", "convlstm2d", "--kernel", f"{path}:lstm", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'paddings'" in err[0] and "did you mean 'padding'" in err[0]


# --------------------------------------------------------------------------- crashes
def test_a_crash_inside_torch_is_located_at_the_kernels_own_line() -> None:
    def calls_a_module_wrongly(x, state, params, config):
        layer = torch.nn.Linear(99, 4, dtype=x.dtype)
        return layer(x), state  # the line the report must show

    (result, *_) = run(calls_a_module_wrongly)
    assert result.status == FAIL
    assert "test_kernel_faults.py:" in result.reason and "`return layer(x), state" in result.reason
    assert "(raised in " in result.reason  # and where torch raised it, in a word


def test_an_assert_without_a_message_shows_its_source_line() -> None:
    def asserts(x, state, params, config):
        assert x.shape[0] == 99
        return lstm(x, state, params, config)

    (result, *_) = run(asserts)
    assert "AssertionError" in result.reason and " at test_kernel_faults.py:" in result.reason  # pytest adds a message
    assert "`assert x.shape[0] == 99`" in result.reason


# --------------------------------------------------------------------------- shapes, gradients, NaN
def test_a_wrong_output_shape_with_gradients_on_is_a_shape_failure_not_an_error() -> None:
    def drops_last_step(x, state, params, config):
        y, final = lstm(x, state, params, config)
        return y[:, :-1], final

    results = run(drops_last_step, grad=True)
    assert results and all(r.status == FAIL for r in results), [(r.status, r.reason) for r in results]
    assert not any(r.status == ERROR for r in results)
    (y,) = [c for c in results[0].comparisons if c.quantity == "y"]
    assert y.kind == "shape" and "(3, 4, 6)" in y.message


def test_gradients_that_never_reach_the_parameters_are_named_with_the_usual_cause() -> None:
    def copies_weights_under_no_grad(x, state, params, config):
        with torch.no_grad():
            frozen = {k: v.clone() for k, v in params.items()}
        return lstm(x, state, frozen, config)

    results = run(copies_weights_under_no_grad, grad=True)
    assert results and all(r.status == FAIL for r in results)
    reason = results[0].reason
    assert reason.startswith("no gradient reaches W_i") and "(12 of 12 parameters)" in reason
    assert "torch.no_grad()" in reason


def test_nan_is_named_with_its_first_step_and_index() -> None:
    def nan_from_step_2(x, state, params, config):
        y, final = lstm(x, state, params, config)
        y = y.clone()
        y[1, 2:, 3] = float("nan")
        return y, final

    (result, *_) = run(nan_from_step_2)
    (y,) = [c for c in result.comparisons if c.quantity == "y"]
    assert y.describe() == "y: NaN first at step 2, index (1, 2, 3) (3 of 90 values are NaN or Inf)"
    assert y.first_step == 2


def test_a_failed_quantity_names_the_index_of_its_worst_element(tmp_path: Path) -> None:
    def off_at_one_element(x, state, params, config):
        y, final = lstm(x, state, params, config)
        y = y.clone()
        y[2, 4, 1] += 0.5
        return y, final

    (result, *_) = run(off_at_one_element)
    (y,) = [c for c in result.comparisons if c.quantity == "y"]
    assert y.worst_index == (2, 4, 1) and "worst at index (2, 4, 1)" in y.describe()
    assert json.loads(json.dumps(result.to_json()))["comparisons"][0]["worst_index"] == [2, 4, 1]


def test_a_final_state_cut_off_from_autograd_is_named() -> None:
    def detaches_c(x, state, params, config):
        y, final = lstm(x, state, params, config)
        return y, {"h": final["h"], "c": final["c"].detach()}

    results = run(detaches_c, grad=True)
    assert results and results[0].status == FAIL
    assert results[0].reason.startswith("final_state['c'] carries no gradient")


def test_unreached_initial_states_are_named_as_the_report_names_them() -> None:
    def ignores_initial_state_gradients(x, state, params, config):
        return lstm(x, {k: v.detach() for k, v in state.items()}, params, config)

    results = run(ignores_initial_state_gradients, grad=True)
    assert results and results[0].reason.startswith("no gradient reaches h0, c0:")


def test_a_misspelt_declaration_attribute_is_an_error() -> None:
    def k(x, state, params, config):
        return lstm(x, state, params, config)

    k.lstmspec_suports = {"direction": ("forward",)}
    with pytest.raises(ConfigError, match=r"unknown declaration lstmspec_suports \(did you mean lstmspec_supports\?\)"):
        check_kernel(k, "lstm", dtypes=("float64",))


def test_gradients_asked_of_a_numpy_kernel_is_an_error() -> None:
    def k(x, state, params, config):
        return x, state

    k.lstmspec_arrays = "numpy"
    with pytest.raises(ConfigError, match="autograd needs torch tensors"):
        check_kernel(k, "lstm", dtypes=("float64",), grad=True)


def test_a_crash_keeps_every_frame_for_the_reports() -> None:
    def calls_a_module_wrongly(x, state, params, config):
        return torch.nn.Linear(99, 4, dtype=x.dtype)(x), state

    (result, *_) = run(calls_a_module_wrongly)
    assert "Traceback" in result.traceback and "torch/nn/modules" in result.traceback
    assert "calls_a_module_wrongly" in result.traceback and result.to_json()["traceback"] == result.traceback
