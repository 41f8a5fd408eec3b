"""PyTorch's graph captures as implementations (lstmspec/adapters/torch_export.py): torch.jit.script, torch.export
(with and without run_decompositions), torch.compile with allow_rnn."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import lstmspec  # noqa: E402
from lstmspec.adapters import torch_export  # noqa: E402
from lstmspec.adapters.base import ADAPTERS, all_adapters  # noqa: E402
from lstmspec.check.cases import default_matrix, make_case, reduced_matrix  # noqa: E402
from lstmspec.check.oracle import make_data  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP  # noqa: E402

import framework_runs  # noqa: E402
from framework_runs import TORCH_GATES, edited_spec, planned_cases  # noqa: E402

SCRIPT = "torch.jit.script(nn.LSTM)"
EXPORT = "torch.export(nn.LSTM)"
DECOMPOSED = "torch.export(nn.LSTM).run_decompositions()"
COMPILE = "torch.compile(nn.LSTM, allow_rnn)"
COMPILE_AUTOGRAD = "torch.compile(nn.LSTM, allow_rnn)/autograd"


def run(spec, name, cases=None, precisions=("float32",)):
    return framework_runs.run(spec, name, cases or reduced_matrix(spec, default_matrix(spec)), precisions)


def prepared_note(name):
    all_adapters()
    spec = lstmspec.load_spec("lstm")
    return ADAPTERS.get(name).prepare(make_data(spec, make_case(spec, {}), 0), "cpu", PRECISIONS.get("float32")).note


def test_scripted_lstm_saved_and_loaded_conforms_with_gradients_at_float64_and_float32():
    results = run(lstmspec.load_spec("lstm"), SCRIPT, precisions=("float64", "float32"))
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    passed = [r for r in results if r.status == PASS]
    assert {r.precision for r in passed} == {"float64", "float32"} and len(passed) >= 12
    grads = {c.quantity for r in passed for c in r.comparisons if c.kind == "grad"}
    assert {"dL/dx", "dL/dW_i"} <= grads  # the loaded module's lstm.* parameters map back through the layout
    assert "graph: aten::lstm" in prepared_note(SCRIPT)


def test_a_wrong_gate_order_in_the_torch_layout_fails_the_scripted_module(tmp_path):
    spec = edited_spec(tmp_path, "lstm", *TORCH_GATES)
    assert [r.status for r in run(spec, SCRIPT, [make_case(spec, {})])] == [FAIL]


@pytest.mark.parametrize("name", [EXPORT, DECOMPOSED])
def test_exported_program_conforms_on_the_reduced_matrix(name):
    results = run(lstmspec.load_spec("lstm"), name)
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    assert len([r for r in results if r.status == PASS]) >= 6  # lengths, a batch of one, zero state, saturation


def test_export_holds_one_lstm_op_and_its_decomposition_the_unrolled_cell():
    assert "graph: aten.lstm.input" in prepared_note(EXPORT)
    decomposed = prepared_note(DECOMPOSED)
    assert "aten.lstm" not in decomposed
    assert "aten.addmm.default x5" in decomposed and "aten.sigmoid.default" in decomposed  # 5 steps, unrolled


def test_compiled_lstm_with_allow_rnn_captures_a_graph_and_conforms_under_no_grad():
    results = run(lstmspec.load_spec("lstm"), COMPILE)
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    assert len([r for r in results if r.status == PASS]) >= 6
    assert "1 graph(s) captured by Dynamo" in prepared_note(COMPILE)


def test_compile_that_captures_no_graph_is_a_failure_not_a_pass():
    """Without allow_rnn Dynamo skips the module and it runs eagerly: nothing compiled, so nothing checked."""
    from lstmspec.adapters.torch_onnx import run_isolated

    spec = lstmspec.load_spec("lstm")
    built = ADAPTERS.get(COMPILE).build(make_data(spec, make_case(spec, {}), 0), "cpu", PRECISIONS.get("float32"))
    args = (built.inputs["x"], (built.inputs["h"], built.inputs["c"]))
    # in the spawned worker, as the adapter runs it (Triton must not load beside TensorFlow in this process)
    eager = run_isolated("test", torch_export.compile_and_run, built.module, args, None, False)
    assert eager.graph.startswith("0 graph(s)") and "captured no graph" in eager.failed
    compiled = run_isolated("test", torch_export.compile_and_run, built.module, args, None, True)
    assert compiled.graph.startswith("1 graph(s)") and not compiled.failed


def test_compiled_lstm_with_autograd_on_runs_the_default_case_only_and_a_raise_is_a_failed_case():
    cases = planned_cases("lstm", COMPILE_AUTOGRAD)
    assert [c.label for c in cases] == ["direction=forward"]
    assert len(planned_cases("lstm", COMPILE_AUTOGRAD, matrix="full")) > 30
    (result,) = run(lstmspec.load_spec("lstm"), COMPILE_AUTOGRAD, cases)
    if result.status == FAIL:  # torch 2.13 on the CPU: aten.mkldnn_rnn_layer in the compiled backward
        assert "torch.compile(allow_rnn=True) with autograd" in result.reason
    else:
        assert any(c.kind == "grad" for c in result.comparisons)


def _use_the_isolated_process() -> None:
    import operator

    assert torch_export.run_isolated("a sum", operator.add, 1, 2) == 3


def test_a_multiprocessing_child_that_used_the_isolated_process_exits():
    """A --jobs helper is such a child: multiprocessing joins its children when it exits and runs no atexit
    callbacks, so an idle pool worker left running kept the helper, and the whole check, waiting forever."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=_use_the_isolated_process)
    child.start()
    child.join(180)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0


def test_check_with_jobs_helpers_running_captures_in_their_own_processes_finishes():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "lstmspec", "check", "lstm", "--framework", "torch.export",
                           "--jobs", "2", "-q"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "leaked semaphore" not in done.stderr
