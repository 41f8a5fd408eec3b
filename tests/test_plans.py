"""Plans from plain data: lstmspec/check/plans.py (the reduced matrix of export and conversion paths)."""
from __future__ import annotations

import pytest

from lstmspec.check.cases import default_matrix, reduced_matrix
from lstmspec.check.plans import CheckOptions, build_plans
from lstmspec.spec.catalog import load_spec


def test_the_reduced_matrix_keeps_default_attributes_lengths_and_options() -> None:
    spec = load_spec("lstm")
    reduced = reduced_matrix(spec, default_matrix(spec))
    assert 6 <= len(reduced) <= 12
    for case in reduced:
        attrs = dict(case.attrs)
        assert set(attrs) <= {"direction"} and (not attrs or (not case.options and case.dims == reduced[0].dims))
    dims = [dict(c.dims) for c in reduced]
    assert any(d["time"] == 1 for d in dims) and any(d["time"] >= 32 for d in dims) and any(d["batch"] == 1 for d in dims)
    options = {k: v for c in reduced for k, v in c.options}
    assert options == {"state": "zeros", "return_sequences": False, "scale": "large"}


def test_conversion_paths_run_the_reduced_matrix_unless_asked_for_all() -> None:
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    spec = load_spec("lstm")
    plans, _, _, notes = build_plans(CheckOptions(specs=("lstm",), frameworks=("torch", "torch.onnx"),
                                                  devices=("cpu",)))
    by_name = {t.name: p for p in plans for t in p.targets}
    converting = by_name["torch.onnx.export(dynamo=False)->onnxruntime"]
    assert len(converting.cases) == len(reduced_matrix(spec, default_matrix(spec)))
    assert len(by_name["torch.nn.LSTM"].cases) == len(default_matrix(spec))
    assert all(t.impl.matrix == "reduced" for t in converting.targets)
    assert len(by_name["torch.onnx.export(dynamo=True)->onnxruntime"].cases) == 1  # the default case: seconds an export
    assert any("--matrix full runs every case" in n for n in notes)
    full, _, _, notes = build_plans(CheckOptions(specs=("lstm",), frameworks=("torch", "torch.onnx"),
                                                 devices=("cpu",), matrix="full"))
    assert len(full) == 1 and len(full[0].cases) == len(default_matrix(spec))
    assert not any("reduced matrix" in n for n in notes)


def test_paths_that_run_in_a_separate_process_are_checked_only_when_named() -> None:
    pytest.importorskip("onnxscript")
    plans, _, _, notes = build_plans(CheckOptions(specs=("lstm",), devices=("cpu",)))
    names = {t.name for p in plans for t in p.targets}
    assert "torch.onnx.export(dynamo=True)->onnxruntime" not in names
    assert any("not run unless named with --framework" in n for n in notes)
    plans, _, _, _ = build_plans(CheckOptions(specs=("lstm",), frameworks=("torch.onnx",), devices=("cpu",)))
    assert "torch.onnx.export(dynamo=True)->onnxruntime" in {t.name for p in plans for t in p.targets}


def test_the_default_case_is_the_first_case_at_every_default_in_a_direction_the_path_supports() -> None:
    from lstmspec.check.cases import default_case

    spec = load_spec("lstm")
    cases = default_matrix(spec)
    [forward] = default_case(spec, cases)
    assert not forward.attrs and not forward.options
    assert dict(forward.dims) == {n: d.default for n, d in spec.dims.items()}
    [reverse] = default_case(spec, cases, {"direction": ("reverse",)})
    assert dict(reverse.attrs) == {"direction": "reverse"} and reverse.dims == forward.dims
    assert default_case(spec, cases, {"activation": ("nothing there",)}) == []


def test_paths_with_the_same_default_case_share_one_plan_and_each_direction_gets_its_own() -> None:
    pytest.importorskip("tf2onnx")
    pytest.importorskip("tf_keras")
    plans, _, _, notes = build_plans(CheckOptions(specs=("lstm",), frameworks=("tf2onnx",), devices=("cpu",)))
    by_name = {t.name: p for p in plans for t in p.targets}
    forward = by_name["keras.layers.Bidirectional(LSTM)/forward->tf2onnx->onnxruntime"]
    backward = by_name["keras.layers.Bidirectional(LSTM)/backward->tf2onnx->onnxruntime"]
    assert [dict(c.attrs) for c in forward.cases] == [{}]
    assert [dict(c.attrs) for c in backward.cases] == [{"direction": "reverse"}]
    assert by_name["tf_keras.layers.Bidirectional(LSTM)/forward->tf2onnx->onnxruntime"] is forward
    assert sum("default case only" in n for n in notes) == 1
