"""Find the line of a key in TOML text, so that a SpecError can say where.

``tomllib`` returns plain dicts without positions. Spec files are small and
written by hand, so a line scanner that follows ``[table]`` headers and
``key = value`` lines (including ``key = { ... }`` inline tables) is enough to
point at the right line; when it cannot, errors simply carry no line.
"""
from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_\-]+)\s*=')


def _unquote(part: str) -> str:
    part = part.strip()
    if len(part) >= 2 and part[0] == part[-1] == '"':
        return part[1:-1]
    return part


class LineIndex:
    """Maps dotted key paths (``equations.i``, ``dims.out_rows.conv_output``) to 1-based lines."""

    def __init__(self, text: str) -> None:
        self._lines: dict[str, int] = {}
        table: list[str] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(raw)
            if header:
                table = [_unquote(p) for p in header.group(1).split(".")]
                self._lines.setdefault(".".join(table), number)
                continue
            key = _KEY.match(raw)
            if key:
                path = ".".join(table + [_unquote(key.group(1))])
                self._lines.setdefault(path, number)
                # inline table members: record `path.member` on the same line
                rest = raw[key.end():]
                for member in re.finditer(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=", rest):
                    self._lines.setdefault(f"{path}.{member.group(1)}", number)

    def line(self, path: str) -> int | None:
        """The line of ``path`` or, failing that, of its nearest enclosing key."""
        parts = path.split(".")
        while parts:
            found = self._lines.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return None
