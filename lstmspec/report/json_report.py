"""The machine-readable report: a versioned schema documented in SCHEMA.md next to this file,
and checkable with the JSON Schema ``lstmspec/schemas/check.json``.

Strict JSON has no Infinity or NaN, and an implementation that returns NaN
has an infinite error, so non-finite floats are written as the strings
``"inf"``, ``"-inf"`` and ``"nan"`` (``float(s)`` reads them back in Python).
``null`` stays reserved for "absent" (``first_step``, ``worst``).
Anything else that is not JSON (a Path, a datetime in ``meta``) becomes its ``str()``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..check.results import CaseResult, Comparison
from ..outputs import atomic_write
from .summary import GroupSummary, Totals, group_results, not_applicable, totals

SCHEMA = "lstmspec-check"
VERSION = 1  # bump when a field changes meaning or is removed; adding a field does not bump it


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float as a string and every non-JSON object as its ``str()``."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def _worst(c: Comparison | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"quantity": c.quantity, "kind": c.kind, "error": c.error, "bound": c.bound, "yardstick": c.yardstick,
            "passed": c.passed}


def _group(g: GroupSummary) -> dict[str, Any]:
    return {
        "spec": g.spec, "implementation": g.implementation, "device": g.device, "precision": g.precision,
        "cases": g.total, "passed": g.passed, "failed": g.failed, "errors": g.errors, "skipped": g.skipped,
        "seconds": round(g.seconds, 6), "math_modes": g.math_modes, "conventions": g.conventions,
        "worst": _worst(g.worst),
    }


def _totals(t: Totals) -> dict[str, Any]:
    return {"cases": t.cases, "passed": t.passed, "failed": t.failed, "errors": t.errors, "skipped": t.skipped,
            "seconds": round(t.seconds, 6)}


def to_json(results: Sequence[CaseResult], meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report as a dict that ``json.dumps(..., allow_nan=False)`` accepts (see SCHEMA.md)."""
    groups = group_results(results)
    gaps = not_applicable(results)
    return jsonable({
        "schema": SCHEMA,
        "version": VERSION,
        "meta": dict(meta or {}),
        "summary": [_group(g) for g in groups],
        "totals": {**_totals(totals(groups)), "not_applicable": sum(g.cases for g in gaps)},
        "results": [r.to_json() for r in results if not r.not_applicable],
        "not_applicable": [{"spec": g.spec, "implementation": g.implementation, "reason": g.reason, "cases": g.cases}
                           for g in gaps],
    })


def write_json(path: str | Path, results: Sequence[CaseResult], meta: Mapping[str, Any] | None = None) -> Path:
    """Write the report to ``path`` atomically (parent folders created); returns the path.

    Raises :class:`lstmspec.outputs.OutputError` when it cannot be written; a file already there is kept."""
    return atomic_write(path, json.dumps(to_json(results, meta), indent=2, allow_nan=False) + "\n")


__all__ = ["to_json", "write_json", "jsonable", "SCHEMA", "VERSION"]
