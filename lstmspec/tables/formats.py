"""A shape table as text: github (terminal and GitHub), markdown (a document section), latex, html or json.

Each format is one function from a ``ShapeTable`` to a string, registered by
name in the ``_FORMATTERS`` registry; ``format_table`` looks the name up, and a
failed lookup lists the known ones.
"""
from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from tabulate import tabulate

from ..registry import Registry
from .model import ShapeTable, format_attr, format_value

FORMATS = ("github", "markdown", "latex", "html", "json")
SYMBOLIC = "sizes: symbolic"
#: What ``shapes --format json`` writes: its name and its version (bump when a field changes
#: meaning or is removed; adding a field does not bump it).
SCHEMA = "lstmspec-shapes"
VERSION = 1


def describe(table: ShapeTable) -> list[str]:
    """The title lines: spec, attributes, sizes (which ones are defaults)."""
    lines = [f"{table.spec}: {table.title}"]
    if table.attrs:
        lines.append("attributes: " + " ".join(f"{k}={format_attr(v)}" for k, v in table.attrs.items()))
    if table.sizes is None:
        lines.append(SYMBOLIC)
    else:
        derived = {r.quantity for r in table.section("derived dims")}
        primary = {k: v for k, v in table.sizes.items() if k not in derived}
        given = table.given if table.given is not None else primary
        parts = [" ".join(f"{k}={v}" for k, v in primary.items() if k in given)]
        defaults = {k: v for k, v in primary.items() if k not in given}
        if defaults:
            parts.append("spec defaults: " + " ".join(f"{k}={v}" for k, v in defaults.items()))
        lines.append("sizes: " + "; ".join(p for p in parts if p))
    return lines + list(table.remarks)


def _cells(table: ShapeTable, *, code: bool = False, repeat_section: bool = False) -> tuple[list[str], list[list[str]]]:
    concrete = table.sizes is not None
    headers = ["section", "quantity", "symbolic shape"] + (["shape"] if concrete else []) + ["note"]
    body = []
    previous = None
    for r in table.rows:
        shape = f"`{r.shape}`" if code else r.shape
        cells = [r.section if repeat_section or r.section != previous else "", r.quantity, shape]
        if concrete:
            cells.append(f"`{format_value(r.value)}`" if code else format_value(r.value))
        cells.append(r.note)
        body.append(cells)
        previous = r.section
    return headers, body


def _layout_lines(table: ShapeTable) -> list[str]:
    return [f"{name}: {doc}" for name, doc in table.layouts.items() if doc]


def _github(table: ShapeTable) -> str:
    headers, body = _cells(table)
    title = [line + " (add NAME=VALUE sizes for numbers)" if line == SYMBOLIC else line for line in describe(table)]
    out = title + ["", tabulate(body, headers, tablefmt="github")]
    layouts = _layout_lines(table)
    if layouts:
        out += ["", "layouts:"] + [f"  {line}" for line in layouts]
    return "\n".join(out) + "\n"


def markdown_section(table: ShapeTable, *, level: int = 3, heading: str | None = None) -> str:
    """The table as a Markdown section under a ``level`` heading (the table's title unless ``heading``)."""
    title, *config = describe(table)
    headers, body = _cells(table, code=True)
    out = [f"{'#' * level} {heading or title}", "", "  \n".join(config), "", tabulate(body, headers, tablefmt="github")]
    layouts = _layout_lines(table)
    if layouts:
        out += ["", "Layouts:", ""] + [f"- {line}" for line in layouts]
    return "\n".join(out) + "\n"


def _latex(table: ShapeTable) -> str:
    title, *config = describe(table)
    headers, body = _cells(table)
    out = [
        f"% {title}",
        *[f"% {line}" for line in config],
        r"% needs \usepackage{booktabs}",
        r"\begin{table}[ht]",
        r"\centering",
        r"\scriptsize",
        rf"\caption{{{_latex_escape(title)}. {_latex_escape('; '.join(config))}}}",
        tabulate(body, headers, tablefmt="latex_booktabs"),
    ]
    for line in _layout_lines(table):
        out.append(rf"\par\smallskip {_latex_escape(line)}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
    "$": r"\$", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def _html(table: ShapeTable) -> str:
    title, *config = describe(table)
    headers, body = _cells(table, repeat_section=True)
    out = [f"<h3>{html.escape(title)}</h3>", "<p>" + "<br>\n".join(html.escape(c) for c in config) + "</p>",
           tabulate(body, headers, tablefmt="html")]
    layouts = _layout_lines(table)
    if layouts:
        out += ["<ul>"] + [f"<li>{html.escape(line)}</li>" for line in layouts] + ["</ul>"]
    return "\n".join(out) + "\n"


def to_json(table: ShapeTable) -> dict[str, Any]:
    """The table as plain data.

    Keys: ``schema`` (``"lstmspec-shapes"``) and ``version`` (an integer), so a
    reader can tell this document from lstmspec's other JSON outputs; ``spec``
    (name), ``title``, ``attrs`` (attribute -> value, tuples as lists), ``dims``
    (dim -> size, every dim; null in a symbolic table), ``derived_dims`` (the
    dims computed from others), ``given`` (the dims the user gave, null when not
    known), ``rows`` (list of ``{section, quantity, shape, value, note}``:
    ``shape`` the symbolic shape string, ``value`` the concrete shape as a list
    or a derived dim's size, null when symbolic), ``layouts`` (layout name -> its
    description), ``remarks`` (sentences about how the table is shown, e.g. for
    ``data_format=channels_first``).
    """
    derived = {r.quantity for r in table.section("derived dims")}
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "spec": table.spec,
        "title": table.title,
        "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in table.attrs.items()},
        "dims": dict(table.sizes) if table.sizes is not None else None,
        "derived_dims": sorted(derived),
        "given": dict(table.given) if table.given is not None else None,
        "rows": [
            {
                "section": r.section,
                "quantity": r.quantity,
                "shape": r.shape,
                "value": list(r.value) if isinstance(r.value, tuple) else r.value,
                "note": r.note,
            }
            for r in table.rows
        ],
        "layouts": dict(table.layouts),
        "remarks": list(table.remarks),
    }


_FORMATTERS: Registry[Callable[[ShapeTable], str]] = Registry("table format", {
    "github": _github,
    "markdown": markdown_section,
    "latex": _latex,
    "html": _html,
    "json": lambda table: json.dumps(to_json(table), indent=2) + "\n",
})


def format_table(table: ShapeTable, fmt: str = "github") -> str:
    """``table`` as text: github (terminal and GitHub), markdown (a document section), latex, html or json."""
    return _FORMATTERS.get(fmt)(table)


__all__ = ["FORMATS", "SCHEMA", "VERSION", "SYMBOLIC", "describe", "format_table", "markdown_section", "to_json"]
