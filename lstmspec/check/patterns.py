"""Failure patterns across cases: what separates an implementation's failing cases from its passing ones.

A list of 12 identical crash messages says less than one line such as

    fails on every case with an even kernel size (kernel_rows or kernel_cols even: 6 of 6) and passes every
    other (9 of 9); all raised RuntimeError at convlstm.py:50

The candidates are plain predicates over what a case is made of (every dim,
attribute and option, its precision and device, the parity of kernel sizes,
a size of 1); the simplest one that holds for every failing case and for no
passing case is the pattern. Crashes count as failures.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..spec.model import Spec
from .cases import case_values, format_value
from .results import ERROR, FAIL, PASS, CaseResult


@dataclass(frozen=True)
class Predicate:
    text: str  # "padding=same", "an even kernel size (kernel_rows or kernel_cols even)"
    other: str  # how the complement reads: "every other", "every odd one"
    test: Callable[[dict[str, Any]], bool]
    weight: int = 1  # lower first: a kernel size's parity explains more than one of its values


@dataclass
class Pattern:
    spec: str
    implementation: str
    line: str
    failing: int
    passing: int
    predicate: str = ""  # "" when no predicate separates them

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "implementation": self.implementation, "pattern": self.line,
                "failing": self.failing, "passing": self.passing, "predicate": self.predicate}


def _features(spec: Spec, result: CaseResult) -> dict[str, Any]:
    return {**case_values(spec, result.case), "precision": result.precision, "device": result.device}


def _predicates(spec: Spec, rows: Sequence[dict[str, Any]]) -> list[Predicate]:
    out: list[Predicate] = []
    names = sorted({k for row in rows for k in row})
    for name in names:
        seen = {repr(row.get(name)): row.get(name) for row in rows}
        if len(seen) < 2:
            continue  # every case has the same value: it cannot separate anything
        for value in seen.values():
            out.append(Predicate(f"{name}={format_value(value)}", "every other",
                                 lambda row, n=name, v=value: row.get(n) == v))
    for group, members in spec.dim_groups.items():
        members = [m for m in members if any(m in row for row in rows)]
        if members:
            who = " or ".join(members)
            out.append(Predicate(f"an even {group.replace('_', ' ')} ({who} even)", "every odd one",
                                 lambda row, ms=tuple(members): any(row.get(m, 1) % 2 == 0 for m in ms), 0))
            out.append(Predicate(f"an odd {group.replace('_', ' ')} (every one of {', '.join(members)} odd)",
                                 "every even one",
                                 lambda row, ms=tuple(members): all(row.get(m, 1) % 2 == 1 for m in ms), 0))
    for name, dim in spec.dims.items():
        if dim.derived is None and any(row.get(name) == 1 for row in rows):
            out.append(Predicate(f"{name}=1", "every larger one", lambda row, n=name: row.get(n) == 1))
    return out


_RAISED = re.compile(r"raised (?P<type>[A-Za-z_][\w.]*)(?:: .*?)? at (?P<where>[^\s:]+:\d+)")


def _crash_note(failing: Sequence[CaseResult]) -> str:
    """'all raised RuntimeError at k.py:50' when every failure is the same crash."""
    found = [_RAISED.search(r.reason or "") for r in failing]
    if not found or not all(found):
        return ""
    kinds = Counter((m["type"], m["where"]) for m in found if m)
    (kind, where), n = kinds.most_common(1)[0]
    if n != len(failing):
        return ""
    return f"all raised {kind} at {where}" if n > 1 else f"it raised {kind} at {where}"


def _counted(text: str, n: int, of: int) -> str:
    """'padding=same (6 of 6)'; a text that ends in parentheses takes the count inside them."""
    if text.endswith(")"):
        return f"{text[:-1]}: {n} of {of})"
    return f"{text} ({n} of {of})"


def find_patterns(spec: Spec, results: Iterable[CaseResult]) -> list[Pattern]:
    """One pattern per (spec, implementation) with failures, in the order they first appear."""
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        if r.spec == spec.name and r.status in (PASS, FAIL, ERROR):
            groups.setdefault(r.implementation, []).append(r)
    out: list[Pattern] = []
    for impl, ran in groups.items():
        failing = [r for r in ran if r.status != PASS]
        passing = [r for r in ran if r.status == PASS]
        if not failing:
            continue
        rows_f = [_features(spec, r) for r in failing]
        rows_p = [_features(spec, r) for r in passing]
        crash = _crash_note(failing)
        tail = f"; {crash}" if crash else ""
        nf, np_ = len(failing), len(passing)
        if not passing:
            out.append(Pattern(spec.name, impl, f"fails on every case it ran ({nf} of {nf}){tail}", nf, 0))
            continue
        exact = [p for p in _predicates(spec, rows_f + rows_p)
                 if all(p.test(row) for row in rows_f) and not any(p.test(row) for row in rows_p)]
        if exact:
            best = min(exact, key=lambda p: (p.weight, len(p.text)))
            line = (f"fails on every case with {_counted(best.text, nf, nf)} and passes {best.other} "
                    f"({np_} of {np_}){tail}")
            out.append(Pattern(spec.name, impl, line, nf, np_, best.text))
            continue
        # no exact separator: the predicate covering most failures and no pass, if any
        partial = [(sum(p.test(row) for row in rows_f), p) for p in _predicates(spec, rows_f + rows_p)
                   if not any(p.test(row) for row in rows_p)]
        partial = [(n, p) for n, p in partial if n >= 2]
        if partial:
            n, best = max(partial, key=lambda item: (item[0], -item[1].weight, -len(item[1].text)))
            line = (f"fails on every case with {_counted(best.text, n, n)}, and on {nf - n} other case(s); "
                    f"passes {np_} case(s){tail}")
            out.append(Pattern(spec.name, impl, line, nf, np_, best.text))
        else:
            line = f"fails on {nf} of {nf + np_} cases with no single value in common{tail}"
            out.append(Pattern(spec.name, impl, line, nf, np_))
    return out


def patterns_of(specs: Iterable[Spec], results: Sequence[CaseResult]) -> list[Pattern]:
    out: list[Pattern] = []
    for spec in specs:
        out += find_patterns(spec, results)
    return out


__all__ = ["Pattern", "find_patterns", "patterns_of"]
