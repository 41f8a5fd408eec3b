"""Python entry points for test suites: check a kernel, or assert that it conforms.

    import lstmspec

    def test_my_lstm():
        lstmspec.assert_conforms(my_lstm, spec="lstm", dtypes=("float64", "float32"))

The kernel runs in this process (so it can be a closure or a test-local
function); the failure message is lstmspec's report: each failing case with
the quantity, the error against its bound, the first diverging step, the
diagnosis where one matched, and the command that replays it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .check.cases import matrix_for, select
from .check.precision import CPU_DEFAULT, CUDA_DEFAULT, PRECISIONS
from .check.results import ERROR, FAIL, PASS, CaseResult
from .check.runner import Oracle, Plan, Target, check_one
from .spec.catalog import load_spec
from .spec.model import Spec


def check_kernel(kernel: Any, spec: str | Spec = "lstm", *, dtypes: Sequence[str] | None = None, device: str = "cpu",
                 fuzz: int = 0, seed: int = 0, where: Mapping[str, Any] | None = None, grad: bool | None = None,
                 supports: Mapping[str, Any] | None = None, name: str | None = None, diagnose: bool = True,
                 on_result: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Run ``kernel`` on ``spec``'s default matrix (plus ``fuzz`` drawn cases); every result."""
    from .kernels.protocol import KernelAdapter

    spec_obj = spec if isinstance(spec, Spec) else load_spec(spec)
    label = name or getattr(kernel, "__qualname__", None) or repr(kernel)
    impl = KernelAdapter(kernel, label, spec_obj, grad=grad, supports=supports)
    target = Target(label, "kernel", impl)
    cases, _ = select(spec_obj, matrix_for(spec_obj, [impl.supports]), dict(where or {}))
    precisions = [PRECISIONS.get(d) for d in (dtypes or (CPU_DEFAULT if device == "cpu" else CUDA_DEFAULT))]
    plan = Plan(spec_obj, spec_obj.path if spec_obj.path else spec_obj.name, cases, [target], [device], precisions,
                seed, grads=True, diagnose=diagnose)
    oracle = Oracle(spec_obj, seed)
    results: list[CaseResult] = []

    def keep(result: CaseResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for precision in precisions:
        for case in cases:
            keep(check_one(plan, oracle, target, case, device, precision))
        if fuzz:
            from .check.fuzz import fuzz as run_fuzz

            run_fuzz(plan, oracle, target, device, precision, fuzz, keep, where)
    return results


def assert_conforms(kernel: Any, spec: str | Spec = "lstm", **options: Any) -> list[CaseResult]:
    """``check_kernel``, raising AssertionError (the failure report) unless every case passes or is skipped.

    Also raises when nothing ran at all: a check that skipped every case proves nothing.
    """
    from .report.terminal import render_terminal

    results = check_kernel(kernel, spec, **options)
    bad = [r for r in results if r.status in (FAIL, ERROR)]
    if bad:
        raise AssertionError("kernel does not conform to the spec:\n" + render_terminal(results, {}))
    if not any(r.status == PASS for r in results):
        raise AssertionError("no case ran (every case was skipped):\n" + render_terminal(results, {}))
    return results
