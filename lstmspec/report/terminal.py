"""The report ``lstmspec check`` prints: a summary table, what failed and how to replay it, one verdict line.

Skips are collapsed to one line per distinct reason: a run over every device
and precision skips hundreds of cases for the same few reasons ("tf32 is a
CUDA math mode"), and a line per case would bury the failures.

    spec    implementation    device    dtype    pass    fail    skip  worst error / bound    quantity      time (s)
    ------  ----------------  --------  -------  ------  ------  ------  ---------------------  ----------  ----------
    lstm    torch.nn.LSTM     cpu       float32      40       0       0  3.1e-07 / 4.4e-06      dL/dW           1.52
    ...
    40 cases: 40 passed, 0 failed, 0 skipped in 1.60 s
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..check.results import CaseResult
from .summary import failed_results, group_results, render_table, skip_reasons, summary_table, totals, verdict


def render_terminal(results: Sequence[CaseResult], meta: Mapping[str, Any] | None = None) -> str:
    """Plain text for a terminal; ``meta`` may hold ``duration_s`` (the run's wall time, used in the verdict)."""
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
            out.append(r.summary_line())
            if r.output:
                out.append(r.printed())
            if r.diagnosis:
                out.append(f"      diagnosis: {r.diagnosis}")
            out.append(f"      replay: {r.replay()}")
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
    out.append(verdict(meta, totals(groups)))
    return "\n".join(out) + "\n"


__all__ = ["render_terminal"]
