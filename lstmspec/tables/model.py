"""What a shape table is: rows of (section, quantity, symbolic shape, value, note).

Plain data shared by the builder (``build.py``), the output formats
(``formats.py``) and the report (``report.py``), so that none of those imports
another just for the table's type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Value = tuple[int, ...] | int | None


@dataclass(frozen=True)
class Row:
    """One line of a shape table.

    ``shape`` is symbolic (formulas simplified for the table's attributes);
    ``value`` is the concrete shape (or the size, for a derived dim) when the
    table has sizes, else None.
    """

    section: str
    quantity: str
    shape: str
    value: Value = None
    note: str = ""


@dataclass(frozen=True)
class ShapeTable:
    spec: str
    title: str
    attrs: dict[str, Any]
    sizes: dict[str, int] | None  # every dim, derived ones included; None: symbolic table
    given: dict[str, int] | None  # the sizes the user gave (the rest are the spec's defaults)
    rows: tuple[Row, ...]
    layouts: dict[str, str] = field(default_factory=dict)  # layout name -> its doc
    remarks: tuple[str, ...] = ()  # said under the title, e.g. how channels_first is shown

    def row(self, section: str, quantity: str) -> Row:
        """The row of ``quantity`` in ``section``; KeyError listing the rows there when absent."""
        for r in self.rows:
            if r.section == section and r.quantity == quantity:
                return r
        there = [r.quantity for r in self.rows if r.section == section]
        raise KeyError(f"no row {quantity!r} in section {section!r}; rows there: {', '.join(there) or '(none)'}")

    def section(self, section: str) -> list[Row]:
        return [r for r in self.rows if r.section == section]


def format_value(value: Value) -> str:
    """A concrete shape as Python writes a tuple (``(64,)``), a derived dim's size as a number, None as ``""``."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"


def format_attr(value: Any) -> str:
    """An attribute value as the command line takes it: ``(2, 1)`` -> ``2x1``."""
    if isinstance(value, (tuple, list)):
        return "x".join(map(str, value))
    return str(value)
