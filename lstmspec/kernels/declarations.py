"""What a kernel declares it supports, checked against the spec it is checked on.

A typo (``"paddings"``) or a value the attribute cannot take would otherwise
skip cases silently, or check every case against a declaration that never
matches (``"strides": [[1, 1]]`` as JSON writes it is ``((1, 1),)``): both are
one ConfigError naming what is valid. Lists and tuples mean the same.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ..check.cases import OPTIONS, format_value
from ..errors import ConfigError
from ..spec.model import Spec


def _values(raw: Any, per_axis: bool) -> list[Any]:
    """The declared values as a list; a flat sequence of ints is one per-axis value (strides=(1, 1))."""
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple, set, frozenset)):
        return [raw]
    items = list(raw)
    if per_axis and items and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return [tuple(items)]
    return [tuple(v) if isinstance(v, list) else v for v in items]


def check_supports(spec: Spec, declared: Mapping[str, Any], ref: str) -> dict[str, tuple[Any, ...]]:
    """``declared`` normalised to ``{name: (value, ...)}``; ConfigError for an unknown name or a bad value."""
    primary = [n for n, d in spec.dims.items() if d.derived is None]
    known = list(spec.attributes) + list(OPTIONS) + primary
    out: dict[str, tuple[Any, ...]] = {}
    for key, raw in declared.items():
        where = f"{ref}: lstmspec_supports[{key!r}]"
        if key in spec.attributes:
            attr = spec.attributes[key]
            try:
                out[key] = tuple(attr.check(v) for v in _values(raw, attr.type == "ints"))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc} (values of {key}: {attr.describe_values()})") from None
        elif key in OPTIONS:
            values = _values(raw, False)
            bad = [v for v in values if v not in OPTIONS[key]]
            if bad:
                raise ConfigError(f"{where}: {format_value(bad[0])!s} is not a value of {key}; values: "
                                  f"{', '.join(format_value(v) for v in OPTIONS[key])}")
            out[key] = tuple(values)
        elif key in primary:
            values = _values(raw, False)
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
                raise ConfigError(f"{where}: expected positive integers (sizes of {key}) but got {raw!r}")
            out[key] = tuple(values)
        else:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{ref}: lstmspec_supports has no key {key!r}{hint}; spec {spec.name} knows: "
                              f"{', '.join(known)}")
        if not out[key]:
            raise ConfigError(f"{where}: declares no value at all, so no case could run")
    return out
