"""Results folded into what every report shows: per-group counts, the worst error, skip reasons.

A *group* is one (spec, implementation, device, precision): the unit a reader
asks "does it conform?" about, and the row of every summary table. Groups keep
the order in which the run produced them, so reports read like the run.

The renderers (terminal, Markdown, JSON, JUnit) all start from here, so a
count or a "worst" means the same thing in each of them.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..check.results import ERROR, FAIL, PASS, SKIP, CaseResult, Comparison

GroupKey = tuple[str, str, str, str]  # (spec, implementation, device, precision)


def ratio(comparison: Comparison) -> float:
    """How far a comparison used its bound: error / bound (an infinite error is an infinite ratio)."""
    if comparison.bound > 0:
        return comparison.error / comparison.bound
    return float("inf") if comparison.error > 0 else 0.0


def worst_of(comparisons: Iterable[Comparison | None]) -> Comparison | None:
    """The comparison closest to (or furthest over) its bound; shape comparisons have no error and are left out."""
    values = [c for c in comparisons if c is not None and c.kind != "shape"]
    return max(values, key=ratio) if values else None


@dataclass
class GroupSummary:
    spec: str
    implementation: str
    device: str
    precision: str
    passed: int = 0
    failed: int = 0  # FAIL and ERROR: everything that makes the check exit 1
    errors: int = 0  # the ERROR part of `failed` (JUnit tells the two apart)
    skipped: int = 0
    seconds: float = 0.0
    worst: Comparison | None = None
    math_modes: list[str] = field(default_factory=list)  # distinct, in order of appearance
    conventions: list[str] = field(default_factory=list)
    results: list[CaseResult] = field(default_factory=list)

    @property
    def key(self) -> GroupKey:
        return (self.spec, self.implementation, self.device, self.precision)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    @property
    def math_mode(self) -> str:
        return ", ".join(self.math_modes)

    @property
    def convention(self) -> str:
        return "; ".join(self.conventions)

    def add(self, result: CaseResult) -> None:
        if result.status == PASS:
            self.passed += 1
        elif result.status in (FAIL, ERROR):
            self.failed += 1
            self.errors += result.status == ERROR
        elif result.status == SKIP:
            self.skipped += 1
        else:
            raise ValueError(f"Expected one of {PASS}, {FAIL}, {SKIP}, {ERROR} but got status={result.status!r} "
                             f"[{result.replay()}]")
        self.seconds += result.seconds
        self.worst = worst_of([self.worst, result.worst])
        _add_distinct(self.math_modes, result.math_mode)
        _add_distinct(self.conventions, result.convention)
        self.results.append(result)


@dataclass
class Totals:
    cases: int = 0
    passed: int = 0
    failed: int = 0  # FAIL and ERROR
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0  # sum of the cases' own times


def _add_distinct(items: list[str], value: str) -> None:
    if value and value not in items:
        items.append(value)


def group_results(results: Iterable[CaseResult]) -> list[GroupSummary]:
    """One GroupSummary per (spec, implementation, device, precision), in order of first appearance.

    Results that are not applicable (a framework's capability gap) are left out: see :func:`not_applicable`."""
    groups: dict[GroupKey, GroupSummary] = {}
    for r in results:
        if r.not_applicable:
            continue  # a capability gap is no case of the group (see not_applicable)
        key = (r.spec, r.implementation, r.device, r.precision)
        if key not in groups:
            groups[key] = GroupSummary(*key)
        groups[key].add(r)
    return list(groups.values())


def totals(groups: Iterable[GroupSummary]) -> Totals:
    t = Totals()
    for g in groups:
        t.cases += g.total
        t.passed += g.passed
        t.failed += g.failed
        t.errors += g.errors
        t.skipped += g.skipped
        t.seconds += g.seconds
    return t


def failed_results(results: Iterable[CaseResult]) -> list[CaseResult]:
    return [r for r in results if r.status in (FAIL, ERROR)]


def skip_reasons(results: Iterable[CaseResult]) -> list[tuple[str, int]]:
    """(reason, count) per distinct skip reason, most frequent first: a skip matrix collapses to a few lines."""
    counts = Counter(r.reason or "(no reason given)" for r in results if r.status == SKIP and not r.not_applicable)
    return counts.most_common()


@dataclass(frozen=True)
class Gap:
    """What an implementation can never run here, once per reason: ``onnxruntime.LSTM has no float64``."""

    spec: str
    implementation: str
    reason: str
    cases: int


def not_applicable(results: Iterable[CaseResult]) -> list[Gap]:
    """One Gap per (spec, implementation, reason) of the not-applicable results, in order of appearance."""
    counts: Counter[tuple[str, str, str]] = Counter(
        (r.spec, r.implementation, r.reason or "(no reason given)") for r in results if r.not_applicable)
    return [Gap(*key, n) for key, n in counts.items()]


def conventions(results: Iterable[CaseResult]) -> dict[str, list[str]]:
    """implementation -> the conventions it states (output order of a reverse direction, gate order...)."""
    out: dict[str, list[str]] = {}
    for r in results:
        _add_distinct(out.setdefault(r.implementation, []), r.convention)
    return {impl: conv for impl, conv in out.items() if conv}


def format_float(value: float) -> str:
    """Two significant digits, as errors and bounds are read: ``3.1e-07``, ``inf``, ``nan``."""
    return f"{value:.2g}"


def format_worst(comparison: Comparison | None) -> str:
    """``3.1e-07 / 4.4e-06``: the error against its bound, or an empty cell when nothing was compared."""
    if comparison is None:
        return ""
    return f"{format_float(comparison.error)} / {format_float(comparison.bound)}"


def format_seconds(seconds: float) -> str:
    return f"{seconds:.2f}"


def run_seconds(meta: Mapping[str, Any], t: Totals) -> float:
    """The run's wall time when the caller measured it, else the sum of the cases' times."""
    duration = meta.get("duration_s")
    return float(duration) if isinstance(duration, (int, float)) else t.seconds


def verdict(meta: Mapping[str, Any], t: Totals, gaps: int = 0) -> str:
    """``N cases: P passed, F failed, S skipped in T s``: the last line of a terminal report.

    ``gaps``: results not applicable (not among the N cases), said as ``, G not applicable`` when there are any."""
    line = (f"{t.cases} cases: {t.passed} passed, {t.failed} failed, {t.skipped} skipped"
            + (f", {gaps} not applicable" if gaps else "") + f" in {format_seconds(run_seconds(meta, t))} s")
    if meta.get("interrupted"):
        planned = meta.get("cases_planned")
        line += (f"; INTERRUPTED ({meta.get('interrupted_by', 'SIGINT')})"
                 + (f" after {t.cases} of {planned} cases" if planned is not None else ""))
    return line


def summary_table(groups: Iterable[GroupSummary], *, math_mode: bool = False) -> tuple[list[str], list[list[Any]]]:
    """(headers, rows) of the summary table every text report shows (render with ``render_table``)."""
    headers = ["spec", "implementation", "device", "dtype", "pass", "fail", "skip", "worst error / bound",
               "quantity", "time (s)"]
    if math_mode:
        headers.append("math mode")
    rows = []
    for g in groups:
        row = [g.spec, g.implementation, g.device, g.precision, g.passed, g.failed, g.skipped,
               format_worst(g.worst), g.worst.quantity if g.worst else "", format_seconds(g.seconds)]
        if math_mode:
            row.append(g.math_mode)
        rows.append(row)
    return headers, rows


_NUMBER = re.compile(r"-?(\d+\.?\d*(e[-+]?\d+)?|inf|nan)", re.IGNORECASE)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, tablefmt: str = "simple") -> str:
    """tabulate, printing every cell as given: its number parsing would turn a floor of 1e-12 into ``0.00``.

    Columns whose cells are all numbers are right-aligned, the rest left-aligned.
    """
    from tabulate import tabulate

    cells = [[str(v) for v in row] for row in rows]
    align = ["right" if cells and all(_NUMBER.fullmatch(row[i]) for row in cells) else "left"
             for i in range(len(headers))]
    return tabulate(cells, list(headers), tablefmt=tablefmt, disable_numparse=True, colalign=align)


__all__ = [
    "GroupSummary", "Totals", "Gap", "group_results", "totals", "failed_results", "skip_reasons", "not_applicable",
    "conventions",
    "worst_of", "ratio", "format_float", "format_worst", "format_seconds", "run_seconds", "verdict", "summary_table",
    "render_table",
]
