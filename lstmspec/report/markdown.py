"""The conformance report ``lstmspec check --report DIR`` writes (GitHub-flavoured Markdown).

Meant to be committed or attached to a CI run, so it carries everything a
reader needs to trust or dispute a verdict without the run at hand: how it was
run (command, seed, versions, devices), the tolerance rule with its numbers,
the summary, each implementation's stated conventions, every failure with the
command that replays it, and why cases were skipped.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..check.precision import MULTIPLIER, PRECISIONS
from ..check.results import CaseResult
from ..outputs import atomic_write
from .summary import (conventions, failed_results, format_seconds, group_results, render_table, run_seconds,
                      not_applicable, skip_reasons, summary_table, totals, verdict)

REPORT_NAME = "conformance.md"
TITLE = "lstmspec conformance report"

# meta keys with a dedicated rendering; any other key is listed as "key: value"
_LABELS = {"date": "Date", "seed": "Seed", "duration_s": "Duration (s)"}


def cell(value: Any) -> str:
    """Text safe inside a GFM table cell: a ``|`` or a newline would end the cell or the row."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    """Inline code that survives backticks inside ``text`` (a longer fence, padded)."""
    ticks = "`"
    while ticks in text:
        ticks += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, lang: str = "") -> list[str]:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [ticks + lang, text, ticks]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return render_table([cell(h) for h in headers], [[cell(v) for v in row] for row in rows], tablefmt="github")


def _meta_section(meta: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if "command" in meta:
        cmd = meta["command"]
        out += fence(" ".join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else str(cmd), "sh") + [""]
    lines = [f"- {label}: {meta[key]}" for key, label in _LABELS.items() if key in meta]
    for key, value in meta.items():
        if key in ("command", "versions", "devices", "patterns") or key in _LABELS:  # patterns: their own section
            continue
        if value is None or (isinstance(value, (str, list, tuple, Mapping)) and not value):
            continue
        if isinstance(value, Mapping):
            lines.append(f"- {key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
        elif isinstance(value, (list, tuple)):
            lines += [f"- {key}:"] + [f"  - {item}" for item in value]
        else:
            lines.append(f"- {key}: {value}")
    if lines:
        out += lines + [""]
    for key, headers in (("versions", ["package", "version"]), ("devices", ["device", "name"])):
        value = meta.get(key)
        if isinstance(value, Mapping) and value:
            out += [_table(headers, [[str(k), str(v)] for k, v in value.items()]), ""]
    return out or ["(no run metadata given)", ""]


def tolerance_section() -> list[str]:
    """The rule and its numbers, read from lstmspec.check.precision so the text cannot drift from the code."""
    rows = [[p.name, p.dtype, "yes" if p.tf32 else "no", f"{p.floor:g}", p.doc]
            for p in (PRECISIONS.get(n) for n in PRECISIONS)]
    return [
        "Every quantity (output `y`, final states, gradients) is compared with a float64 reference:",
        "",
        "    error = max|a - e| / max(1, max|e|)",
        "",
        "where `a` is the implementation's value and `e` the reference's. The *yardstick* is the same error "
        "for the spec's own equations evaluated in the same precision, on the same device, with the same math mode. "
        "A quantity passes when",
        "",
        f"    error <= bound = {MULTIPLIER:g} × yardstick + floor",
        "",
        f"with multiplier {MULTIPLIER:g} and a floor per precision (a few hundred units in the last place, "
        "for cases where the yardstick happens to be exact). NaN or Inf anywhere is an infinite error.",
        "",
        _table(["precision", "storage dtype", "TF32", "floor", "meaning"], rows),
        "",
    ]


def render_markdown(results: Sequence[CaseResult], meta: Mapping[str, Any] | None = None) -> str:
    meta = meta or {}
    groups = group_results(results)
    t = totals(groups)
    out = [f"# {TITLE}", "", f"**{verdict(meta, t, sum(g.cases for g in not_applicable(results)))}**", "", "## Run", ""]
    out += _meta_section(meta)
    out += ["## Tolerance rule", ""] + tolerance_section()
    out += ["## Summary", ""]
    if groups:
        headers, rows = summary_table(groups, math_mode=True)
        out += [_table(headers, rows), ""]
    out += [f"Totals: {t.cases} cases, {t.passed} passed, {t.failed} failed ({t.errors} of them errors), "
            f"{t.skipped} skipped; {format_seconds(run_seconds(meta, t))} s.", ""]
    convs = conventions(results)
    if convs:
        out += ["## Conventions", ""]
        out += [f"- **{cell(impl)}**: " + "; ".join(c) for impl, c in convs.items()] + [""]
    failed = failed_results(results)
    out += ["## Failures", ""]
    if not failed:
        out += ["None.", ""]
    for r in failed:
        out += [f"### {r.status.upper()} {code(r.implementation)} {r.device} {r.precision}: {code(r.case.key)}", ""]
        out += fence(r.summary_line(), "text")
        if r.diagnosis:
            out += ["", f"Diagnosis: {r.diagnosis}"]
        out += ["", "Replay:", ""] + fence(r.replay(), "sh") + [""]
    patterns = meta.get("patterns") or []
    if patterns:
        out += ["## Failure patterns", ""]
        out += [f"- {code(p['implementation'])} ({p['spec']}): {p['pattern']}" for p in patterns] + [""]
    reasons = skip_reasons(results)
    if reasons:
        out += ["## Skipped", "", _table(["reason", "cases"], [[reason, n] for reason, n in reasons]), ""]
    gaps = not_applicable(results)
    if gaps:  # capability gaps: not cases, one line per implementation and reason
        out += ["## Not applicable", "", _table(["implementation", "spec", "reason", "cases"],
                                               [[g.implementation, g.spec, g.reason, g.cases] for g in gaps]), ""]
    return "\n".join(out)


def write_report(results: Sequence[CaseResult], meta: Mapping[str, Any] | None, directory: str | Path) -> list[Path]:
    """Write ``DIR/conformance-<device>.md`` (``conformance.md`` when several devices ran); returns the paths."""
    directory = Path(directory)
    devices = sorted({r.device for r in results})
    path = directory / (f"conformance-{devices[0]}.md" if len(devices) == 1 else REPORT_NAME)
    return [atomic_write(path, render_markdown(results, meta))]


__all__ = ["render_markdown", "write_report", "tolerance_section", "REPORT_NAME"]
