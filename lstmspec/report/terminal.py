"""The report ``lstmspec check`` prints: a summary table, what failed and how to replay it, one verdict line.

Each failure is told once, cause first (``report/failure.py``): the diagnosis,
at most three quantities and how many more (``every=True``, ``check -v``,
lists them all), the worst element and the replay command. Skips are
collapsed to one line per distinct reason, and what an implementation can
never run (a precision it lacks, an option its installed version refuses) is
one "not applicable" line per implementation and reason, outside the table
and the counts of cases.

    spec    implementation    device    dtype    pass    fail    skip  worst error / bound    quantity      time (s)
    ------  ----------------  --------  -------  ------  ------  ------  ---------------------  ----------  ----------
    lstm    torch.nn.LSTM     cpu       float32      40       0       0  3.1e-07 / 4.4e-06      dL/dW           1.52
    ...
    40 cases: 40 passed, 0 failed, 0 skipped, 30 not applicable in 1.60 s
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..check.results import CaseResult
from .failure import case_line, failure_report
from .summary import (failed_results, group_results, not_applicable, render_table, skip_reasons, summary_table,
                      totals, verdict)


def render_terminal(results: Sequence[CaseResult], meta: Mapping[str, Any] | None = None, *,
                    every: bool = False) -> str:
    """Plain text for a terminal; ``meta`` may hold ``duration_s`` (the run's wall time, used in the verdict).

    ``every``: each failure lists every quantity over its bound, not the three worst.
    """
    meta = meta or {}
    groups = group_results(results)
    out: list[str] = []
    if groups:
        headers, rows = summary_table(groups)
        out += [render_table(headers, rows), ""]
    failed = failed_results(results)
    if failed:
        out.append(f"Failed ({len(failed)}):")
        for r in failed:
            out.append(case_line(r))
            out.append(failure_report(r, every=every, indent="      ", case=False))
        out.append("")
    patterns = meta.get("patterns") or []
    if patterns:
        out.append("Failure patterns:")
        out += [f"  {p['implementation']} ({p['spec']}): {p['pattern']}" for p in patterns]
        out.append("")
    reasons = skip_reasons(results)
    if reasons:
        out.append(f"Skipped ({sum(n for _, n in reasons)}):")
        out += [f"  {n:>4} x {reason}" for reason, n in reasons]
        out.append("")
    gaps = not_applicable(results)
    if gaps:
        out.append(f"Not applicable ({sum(g.cases for g in gaps)}; what these implementations cannot run):")
        out += [f"  {'' if g.reason.startswith(g.implementation) else g.implementation + ': '}{g.reason} "
                f"({g.spec}, {g.cases} case{'s' * (g.cases != 1)})" for g in gaps]
        out.append("")
    out.append(verdict(meta, totals(groups), sum(g.cases for g in gaps)))
    return "\n".join(out) + "\n"


__all__ = ["render_terminal"]
