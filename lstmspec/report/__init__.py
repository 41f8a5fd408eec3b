"""Report writers: terminal, Markdown, JSON, JUnit XML.

Each is a pure function of the results and a ``meta`` dict built by the caller
(``command``, ``date``, ``seed``, ``versions``, ``devices``, ``duration_s``...;
every key is optional, and what is present is rendered).
"""
from __future__ import annotations

from .json_report import to_json, write_json
from .junit import to_junit
from .markdown import render_markdown, write_report
from .summary import GroupSummary, Totals, group_results, totals
from .terminal import render_terminal

__all__ = [
    "render_terminal", "render_markdown", "write_report", "to_json", "write_json", "to_junit",
    "group_results", "totals", "GroupSummary", "Totals",
]
