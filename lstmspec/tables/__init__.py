"""Shape tables: every tensor of a spec with its symbolic shape and, given sizes, its numbers.

One job per module: ``build`` derives a table from a spec, ``formats`` writes
it as github, markdown, latex, html or json, ``report`` assembles
``reports/shapes.md`` from every shipped spec; ``model`` holds the table's
plain data. The names below are the public ones.

    >>> spec = load_spec("convlstm2d")
    >>> attrs = spec.resolve_config({"padding": "same", "strides": 2})
    >>> table = shape_table(spec, spec.resolve_dims({"rows": 128, "cols": 128}, attrs), attrs)
    >>> print(format_table(table, "github"))
"""
from __future__ import annotations

from .build import equation_shapes, grid_letters, shape_table
from .formats import FORMATS, SCHEMA, SYMBOLIC, VERSION, describe, format_table, markdown_section, to_json
from .model import Row, ShapeTable, Value, format_attr, format_value
from .report import EXAMPLE_SIZES, REPORT_COMMAND, assignment_words, example_command, example_sizes, shapes_report

__all__ = [
    "shape_table", "equation_shapes", "grid_letters",
    "FORMATS", "SCHEMA", "VERSION", "SYMBOLIC", "describe", "format_table", "markdown_section", "to_json",
    "Row", "ShapeTable", "Value", "format_attr", "format_value",
    "EXAMPLE_SIZES", "REPORT_COMMAND", "assignment_words", "example_command", "example_sizes", "shapes_report",
]
