"""``--fuzz N``: more configurations drawn with hypothesis, failures shrunk.

Each implementation (per device and precision) gets N drawn cases; a failing
one is shrunk by hypothesis to a minimal configuration, which is what gets
reported (with the usual replay command: ``--case KEY --seed S`` replays it
without hypothesis). Draws are derandomized from ``--seed``.

A drawn configuration that the implementation cannot run (Keras refuses
strides > 1 with dilation > 1, a constraint between two attributes that
``supports`` cannot declare) is rejected and another is drawn, so N means N
checked configurations; when nothing drawn can run, one skip says why.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .precision import Precision
from .results import ERROR, FAIL, SKIP, CaseResult
from .runner import Oracle, Plan, Target, check_one, static_skip


class _Failed(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.summary_line())
        self.result = result


def fuzz(plan: Plan, oracle: Oracle, target: Target, device: str, precision: Precision, count: int,
         on_result: Callable[[CaseResult], None], where: Mapping[str, Any] | None = None) -> None:
    """Run ``count`` drawn cases; report passes as they come and the shrunk failure, if any."""
    from hypothesis import HealthCheck, Phase, given, reject, seed, settings
    from hypothesis.errors import Unsatisfiable

    from ..strategies import cases

    seen: set[str] = set()
    skipped: list[CaseResult] = []

    @seed(plan.seed)
    @settings(max_examples=count, database=None, deadline=None, derandomize=False, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(cases(plan.spec, allowed=getattr(target.impl, "supports", None), **dict(where or {})))
    def one(case):  # noqa: ANN001 - hypothesis draws it
        result = check_one(plan, oracle, target, case, device, precision)
        if result.status in (FAIL, ERROR):
            raise _Failed(result)
        if result.status == SKIP:
            skipped.append(result)
            reject()
        if case.key not in seen:
            seen.add(case.key)
            on_result(result)

    if plan.cases and static_skip(target.impl, device, precision):
        base = check_one(plan, oracle, target, plan.cases[0], device, precision)  # a skip, nothing runs
        base.case = replace(base.case, label="fuzz: not run")
        on_result(base)  # a precision or device the implementation does not have: no draw could run
        return
    try:
        one()
    except Unsatisfiable:
        if skipped:  # every draw was refused: say why once
            on_result(skipped[0])
    except _Failed as failed:
        failed.result.case = replace(failed.result.case, label="fuzz: minimal failing configuration")
        on_result(failed.result)
