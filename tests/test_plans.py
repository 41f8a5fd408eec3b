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
    by_kind = {any(t.impl.converts for t in p.targets): p for p in plans}
    assert len(by_kind[True].cases) == len(reduced_matrix(spec, default_matrix(spec)))
    assert len(by_kind[False].cases) == len(default_matrix(spec))
    assert all(t.impl.converts for t in by_kind[True].targets)
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
