"""JUnit XML for CI dashboards (GitLab, Jenkins, GitHub test reporters).

One ``<testsuite>`` per (spec, implementation, device, precision) and one
``<testcase>`` per case, named by its case key so that a dashboard's history
follows a configuration across runs. CI tools split ``classname`` on dots into
a package tree, so each part is reduced to ``[A-Za-z0-9_-]``:
``torch.nn.LSTM(batch_first=False)`` becomes ``torch_nn_LSTM_batch_first_False``
and the class name stays five levels deep. A failure's ``message`` (what a CI
page shows first) is its diagnosis or its worst quantity in at most 200
characters; the body is the whole report with the command that replays it.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from ..check.results import ERROR, FAIL, SKIP, CaseResult
from .failure import failure_report, short_message
from .summary import GroupSummary, group_results, run_seconds, totals

# characters XML 1.0 cannot hold at all, even escaped (exception text may carry them)
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def name_part(text: str) -> str:
    """One dot-free part of a class name: ``torch.nn.LSTM(batch_first=False)`` -> ``torch_nn_LSTM_batch_first_False``."""
    return _NOT_NAME.sub("_", text).strip("_") or "_"


def classname(group: GroupSummary) -> str:
    return "lstmspec." + ".".join(name_part(p) for p in group.key)


def _seconds(s: float) -> str:
    return f"{s:.3f}"


def _properties(parent: ET.Element, items: Mapping[str, Any]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in items.items():
        ET.SubElement(props, "property", name=xml_text(name), value=xml_text(str(value)))


def _meta_properties(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Flat name -> value pairs: ``versions.torch``, ``devices.cuda``, ``seed``..."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, Mapping):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        elif isinstance(value, (list, tuple)):
            out[key] = "; ".join(map(str, value))
        else:
            out[key] = value
    return out


def _testcase(suite: ET.Element, group: GroupSummary, r: CaseResult) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname(group), name=xml_text(r.case.key),
                         time=_seconds(r.seconds))
    if r.status in (FAIL, ERROR):
        # CI pages show the message first: the diagnosis or the worst quantity, at most 200 characters;
        # the body is the whole report, every failed quantity included
        tag = "failure" if r.status == FAIL else "error"
        element = ET.SubElement(case, tag, message=xml_text(short_message(r)), type=f"lstmspec.{r.status}")
        element.text = xml_text(failure_report(r, every=True))
    elif r.status == SKIP:
        ET.SubElement(case, "skipped", message=xml_text(r.reason))


def _interrupted(root: ET.Element, meta: Mapping[str, Any], finished: int) -> None:
    """An interrupted run is an error on a CI dashboard: the cases that did not run cannot show green."""
    planned = meta.get("cases_planned")
    message = (f"the run was interrupted ({meta.get('interrupted_by', 'SIGINT')}): {finished}"
               + (f" of {planned}" if planned is not None else "") + " cases finished")
    suite = ET.SubElement(root, "testsuite", name="lstmspec.run", tests="1", failures="0", errors="1",
                          skipped="0", time="0.000")
    _properties(suite, {"interrupted": True, "interrupted_by": meta.get("interrupted_by", "SIGINT")})
    case = ET.SubElement(suite, "testcase", classname="lstmspec.run", name="interrupted", time="0.000")
    error = ET.SubElement(case, "error", message=xml_text(message), type="lstmspec.interrupted")
    error.text = xml_text(message + "; the cases that did not finish are not in this report")
    root.set("tests", str(int(root.get("tests", "0")) + 1))
    root.set("errors", str(int(root.get("errors", "0")) + 1))


def to_junit(results: Sequence[CaseResult], meta: Mapping[str, Any] | None = None) -> str:
    """A JUnit XML document (with its XML declaration) as a string."""
    meta = meta or {}
    groups = group_results(results)
    t = totals(groups)
    root = ET.Element("testsuites", name="lstmspec", tests=str(t.cases), failures=str(t.failed - t.errors),
                      errors=str(t.errors), skipped=str(t.skipped), time=_seconds(run_seconds(meta, t)))
    meta_props = _meta_properties(meta)
    for g in groups:
        suite = ET.SubElement(root, "testsuite", name=classname(g), tests=str(g.total),
                              failures=str(g.failed - g.errors), errors=str(g.errors), skipped=str(g.skipped),
                              time=_seconds(g.seconds))
        if "date" in meta:
            suite.set("timestamp", xml_text(str(meta["date"])))
        _properties(suite, {**meta_props, "math_mode": g.math_mode, "convention": g.convention})
        for r in g.results:
            _testcase(suite, g, r)
    if meta.get("interrupted"):
        _interrupted(root, meta, t.cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


__all__ = ["to_junit", "classname", "name_part"]
