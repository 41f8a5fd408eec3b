"""Export paths as implementations (lstmspec/adapters/torch_onnx.py): torch.onnx.export, both exporters, -> ONNX Runtime."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import lstmspec  # noqa: E402
from lstmspec.adapters import torch_onnx  # noqa: E402
from lstmspec.adapters.base import ADAPTERS, all_adapters  # noqa: E402
from lstmspec.check.cases import make_case  # noqa: E402
from lstmspec.check.precision import PRECISIONS  # noqa: E402
from lstmspec.check.results import FAIL, PASS, SKIP  # noqa: E402
from lstmspec.check.runner import Plan, Target, run_plan  # noqa: E402

from framework_runs import TORCH_GATES, adapter_named, case_data, edited_spec, planned_cases, run  # noqa: E402

TORCHSCRIPT = "torch.onnx.export(dynamo=False)->onnxruntime"
DYNAMO = "torch.onnx.export(dynamo=True)->onnxruntime"
FLOAT32 = PRECISIONS.get("float32")


def test_torchscript_export_of_torch_lstm_conforms_on_every_supported_case():
    results = run(lstmspec.load_spec("lstm"), TORCHSCRIPT)
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    passed = [r for r in results if r.status == PASS]
    assert len(passed) >= 10  # sizes, one and 33 timesteps, zero state, saturated gates
    assert {c.quantity for r in passed for c in r.comparisons} >= {"y", "h_T", "c_T"}


def test_dynamo_export_runs_the_default_case_unless_matrix_full_and_conforms_there():
    cases = planned_cases("lstm", DYNAMO)
    assert [c.label for c in cases] == ["direction=forward"]
    assert len(planned_cases("lstm", DYNAMO, matrix="full")) > 30
    assert [r.status for r in run(lstmspec.load_spec("lstm"), DYNAMO, cases)] == [PASS]


def test_the_exported_graph_holds_one_onnx_lstm_node_and_the_note_says_so():
    all_adapters()
    spec = lstmspec.load_spec("lstm")
    for name in (TORCHSCRIPT, DYNAMO):
        prepared = ADAPTERS.get(name).prepare(case_data(spec), "cpu", FLOAT32)
        assert "graph: LSTM," in prepared.note, prepared.note
        assert f"dynamo={name == DYNAMO}" in prepared.note


def test_a_case_is_exported_once_and_reused_by_a_second_prepare():
    all_adapters()
    adapter = ADAPTERS.get(TORCHSCRIPT)
    data = case_data(lstmspec.load_spec("lstm"), {"units": 5})
    adapter.prepare(data, "cpu", FLOAT32)
    before = dict(torch_onnx._EXPORTS)
    second = adapter.prepare(data, "cpu", FLOAT32)
    assert torch_onnx._EXPORTS == before  # no new export
    assert second.outputs().y.shape == (3, 5, 5)


def test_torchscript_exporter_refusing_projections_is_a_skip_with_its_message():
    results = run(lstmspec.load_spec("lstm_projection"), TORCHSCRIPT + "(proj_size)",
                  cases=[make_case(lstmspec.load_spec("lstm_projection"), {})])
    assert [r.status for r in results] == [SKIP]
    assert "LSTMs with projections" in results[0].reason
    assert "[Caused by" not in results[0].reason  # the exporter's graph dump is cut


def test_dynamo_export_of_a_projection_writes_a_model_onnxruntime_refuses_a_failed_case_with_its_message():
    spec = lstmspec.load_spec("lstm_projection")
    results = run(spec, DYNAMO + "(proj_size)", cases=[make_case(spec, {})])
    assert [r.status for r in results] == [FAIL]
    assert "onnxruntime" in results[0].reason and "initial_c" in results[0].reason


def test_a_wrong_gate_order_in_the_torch_layout_fails_the_exported_model_at_step_0(tmp_path):
    spec = edited_spec(tmp_path, "lstm", *TORCH_GATES)
    results = run(spec, TORCHSCRIPT, cases=[make_case(spec, {})])
    assert [r.status for r in results] == [FAIL]
    y = next(c for c in results[0].failures if c.quantity == "y")
    assert y.first_step == 0


def test_dynamo_export_survives_tensorflow_and_triton_installed_in_the_checking_process():
    """Triton (imported by the dynamo exporter) and TensorFlow in one process abort in LLVM: the export runs apart."""
    import importlib.util
    import subprocess
    import sys

    missing = [m for m in ("tensorflow", "triton") if importlib.util.find_spec(m) is None]
    if missing:  # found, not imported: importing both here would abort this process
        pytest.skip(f"needs {' and '.join(missing)}")

    script = (
        "import tensorflow, lstmspec\n"
        "from lstmspec.adapters.base import ADAPTERS, all_adapters\n"
        "from lstmspec.check.cases import make_case\n"
        "from lstmspec.check.oracle import make_data\n"
        "from lstmspec.check.precision import PRECISIONS\n"
        "all_adapters(); spec = lstmspec.load_spec('lstm')\n"
        f"p = ADAPTERS.get({DYNAMO!r}).prepare(make_data(spec, make_case(spec, {{}}), 0), 'cpu', PRECISIONS.get('float32'))\n"
        "print('shape', p.outputs().y.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shape (3, 5, 6)" in done.stdout


def test_openvino_f32_conforms_and_its_note_names_the_precision():
    pytest.importorskip("openvino")
    spec = lstmspec.load_spec("lstm")
    results = run(spec, "torch.onnx.export(dynamo=False)->openvino(f32)")
    assert not [r.summary_line() for r in results if r.status not in (PASS, SKIP)]
    assert len([r for r in results if r.status == PASS]) >= 10
    prepared = ADAPTERS.get("torch.onnx.export(dynamo=False)->openvino(f32)").prepare(case_data(spec), "cpu", FLOAT32)
    assert "inference precision f32" in prepared.note and "graph: LSTM," in prepared.note


def test_openvino_default_precision_row_runs_at_the_devices_precision_and_is_held_to_its_bound():
    pytest.importorskip("openvino")
    from lstmspec.adapters.openvino_export import _PRECISIONS, default_hint

    all_adapters()
    spec = lstmspec.load_spec("lstm")
    name = "torch.onnx.export(dynamo=False)->openvino(default precision)"
    own = PRECISIONS.get(_PRECISIONS[default_hint()])
    plan = Plan(spec, spec.name, [make_case(spec, {})], [Target(name, "framework", ADAPTERS.get(name))],
                ["cpu"], [own, FLOAT32] if own is not FLOAT32 else [own], 0)
    results = {r.precision: r for r in run_plan(plan)}
    assert results[own.name].status == PASS
    if own is not FLOAT32:  # e.g. bf16 on a CPU with AMX: not a float32 result, so not held to float32's bound
        assert results["float32"].status == SKIP and default_hint() in results["float32"].reason


def test_a_check_without_dtype_runs_openvinos_default_row_at_the_devices_precision():
    pytest.importorskip("openvino")
    from lstmspec.adapters.openvino_export import _PRECISIONS, default_hint
    from lstmspec.check.plans import CheckOptions, build_plans

    name = "torch.onnx.export(dynamo=False)->openvino(default precision)"
    plans, _, _, _ = build_plans(CheckOptions(specs=("lstm",), frameworks=(name,), devices=("cpu",)))
    own = _PRECISIONS[default_hint()]
    expected = [["float64", "float32"]] if own in ("float64", "float32") else [[own]]
    assert [[p.name for p in plan.precisions] for plan in plans] == expected
    given, _, _, _ = build_plans(CheckOptions(specs=("lstm",), frameworks=(name,), devices=("cpu",),
                                              dtypes=("float32",)))
    assert [[p.name for p in plan.precisions] for plan in given] == [["float32"]]  # --dtype is obeyed


def test_the_dynamo_export_compiled_by_openvino_conforms_on_the_default_case():
    pytest.importorskip("openvino")
    name = "torch.onnx.export(dynamo=True)->openvino(f32)"
    cases = planned_cases("lstm", name)
    assert [c.label for c in cases] == ["direction=forward"]
    [result] = run(lstmspec.load_spec("lstm"), name, cases)
    assert result.status == PASS, result.summary_line()
    note = adapter_named(name).prepare(case_data(lstmspec.load_spec("lstm")), "cpu", FLOAT32).note
    assert "dynamo=True" in note and "inference precision f32" in note
