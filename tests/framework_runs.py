"""Running one framework adapter on chosen cases, as ``lstmspec check`` would: shared by the adapter tests."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lstmspec
from lstmspec.adapters.base import ADAPTERS, Adapter, all_adapters
from lstmspec.check.cases import Case, default_matrix, make_case
from lstmspec.check.oracle import CaseData, make_data
from lstmspec.check.precision import PRECISIONS
from lstmspec.check.results import CaseResult
from lstmspec.check.runner import Plan, Target, run_plan
from lstmspec.spec.catalog import resolve_path
from lstmspec.spec.model import Spec


def adapter_named(impl: Adapter | str) -> Adapter:
    """A registered adapter by name (or ``impl`` itself)."""
    all_adapters()
    return ADAPTERS.get(impl) if isinstance(impl, str) else impl


def run(spec: Spec, impl: Adapter | str, cases: Sequence[Case] | None = None,
        precisions: Sequence[str] = ("float32",)) -> list[CaseResult]:
    """``impl`` checked on ``cases`` (default: the spec's default matrix) on the CPU."""
    impl = adapter_named(impl)
    plan = Plan(spec, spec.name, list(cases or default_matrix(spec)), [Target(impl.name, "framework", impl)],
                ["cpu"], [PRECISIONS.get(p) for p in precisions], 0)
    return list(run_plan(plan))


def case_data(spec: Spec, dims: dict[str, int] | None = None, attrs: dict[str, Any] | None = None) -> CaseData:
    """One case's data (seed 0)."""
    return make_data(spec, make_case(spec, dims or {}, attrs or {}), 0)


def edited_spec(tmp_path: Path, name: str, old: str, new: str) -> Spec:
    """The shipped spec ``name`` with ``old`` replaced by ``new`` (which must be there), loaded from ``tmp_path``."""
    text = resolve_path(name).read_text()
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new))
    return lstmspec.load_spec(str(path))


#: The Keras layout's kernel with gates f and o swapped: every adapter through the Keras layout must fail on it.
KERAS_GATES = ('kernel = { concat = ["W_i", "W_f", "W_g", "W_o"]', 'kernel = { concat = ["W_i", "W_o", "W_g", "W_f"]')
#: The torch layout's input weights with the gates in ONNX's order: every torch-layout adapter must fail on it.
TORCH_GATES = ('weight_ih_l0 = { concat = ["W_i", "W_f", "W_g", "W_o"]',
               'weight_ih_l0 = { concat = ["W_i", "W_o", "W_f", "W_g"]')


def planned_cases(spec_name: str, impl_name: str, **options: Any) -> list[Case]:
    """The cases ``lstmspec check SPEC --framework IMPL`` gives the implementation (its matrix, the notes' own)."""
    from lstmspec.check.plans import CheckOptions, build_plans

    plans, _, _, _ = build_plans(CheckOptions(specs=(spec_name,), frameworks=(impl_name,), devices=("cpu",),
                                              **options))
    return [c for p in plans for t in p.targets if t.name == impl_name for c in p.cases]
