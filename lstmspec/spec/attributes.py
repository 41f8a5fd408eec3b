"""Attribute types of the spec language and the checking of user-given values.

A spec declares each attribute with a ``type``; the type knows how to check and
normalise a value given in a ``config`` dict or on the command line
(``strides=2`` → ``(2, 2)``; ``step=2`` → ``2``, an ``int`` being one integer
where ``ints`` has one per spatial axis), with messages in the style
``Expected positive integers but got strides=(1.5,)``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, SpecError
from ..expr.functions import ACTIVATIONS
from ..registry import Registry

DATA_FORMATS = ("channels_last", "channels_first")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    default: Any
    doc: str = ""
    values: tuple[Any, ...] = ()  # allowed values for choice-like types
    length: int | None = None  # for "ints": one entry per spatial axis

    def check(self, value: Any) -> Any:
        """The normalised value, or ConfigError saying what was expected."""
        return ATTRIBUTE_TYPES.get(self.type).check(self, value)

    def parse_cli(self, text: str) -> Any:
        """Parse ``value`` of ``attr=value`` from a command line, then check it."""
        return self.check(ATTRIBUTE_TYPES.get(self.type).parse(self, text))

    def describe_values(self) -> str:
        if self.values:
            return "|".join(str(v) for v in self.values)
        if self.type == "ints":
            return f"{self.length} positive integers"
        if self.type == "int":
            return "a positive integer"
        return self.type


@dataclass(frozen=True)
class AttributeType:
    name: str
    check: Callable[[Attribute, Any], Any]
    parse: Callable[[Attribute, str], Any]
    default_values: Callable[[], tuple[Any, ...]] = tuple


def _check_choice(attr: Attribute, value: Any) -> Any:
    if value not in attr.values:
        raise ConfigError(f"Expected one of {', '.join(map(str, attr.values))} but got {attr.name}={value!r}")
    return value


def _check_ints(attr: Attribute, value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * (attr.length or 1)
    if isinstance(value, list):
        value = tuple(value)
    ok = isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    if not ok:
        raise ConfigError(f"Expected positive integers but got {attr.name}={value!r}")
    if attr.length is not None and len(value) != attr.length:
        raise ConfigError(
            f"Expected {attr.length} values (one per spatial axis) but got {attr.name}={value!r}"
        )
    return value


def _check_int(attr: Attribute, value: Any) -> int:
    """One positive integer (``step``, ``radius``), one of ``values`` when the spec lists some."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Expected a positive integer but got {attr.name}={value!r}")
    if attr.values and value not in attr.values:
        raise ConfigError(f"Expected one of {', '.join(map(str, attr.values))} but got {attr.name}={value!r}")
    return value


def _parse_int(attr: Attribute, text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"Expected a positive integer such as 2 but got {attr.name}={text}") from None


def _parse_ints(attr: Attribute, text: str) -> Any:
    parts = [p for p in text.lower().replace("x", ",").split(",") if p.strip()]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"Expected integers such as 2 or 2x1 but got {attr.name}={text}") from None
    return values[0] if len(values) == 1 else values


def _check_float(attr: Attribute, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"Expected a number but got {attr.name}={value!r}")
    return float(value)


def _parse_float(attr: Attribute, text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"Expected a number but got {attr.name}={text}") from None


def _check_bool(attr: Attribute, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"Expected true or false but got {attr.name}={value!r}")
    return value


def _parse_bool(attr: Attribute, text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return text


ATTRIBUTE_TYPES: Registry[AttributeType] = Registry("attribute type")
ATTRIBUTE_TYPES.register("choice", AttributeType("choice", _check_choice, lambda a, t: t))
ATTRIBUTE_TYPES.register(
    "activation", AttributeType("activation", _check_choice, lambda a, t: t, lambda: tuple(ACTIVATIONS))
)
ATTRIBUTE_TYPES.register(
    "data_format", AttributeType("data_format", _check_choice, lambda a, t: t, lambda: DATA_FORMATS)
)
ATTRIBUTE_TYPES.register("int", AttributeType("int", _check_int, _parse_int))
ATTRIBUTE_TYPES.register("ints", AttributeType("ints", _check_ints, _parse_ints))
ATTRIBUTE_TYPES.register("float", AttributeType("float", _check_float, _parse_float))
ATTRIBUTE_TYPES.register("bool", AttributeType("bool", _check_bool, _parse_bool))


def build_attribute(name: str, raw: Any) -> Attribute:
    """Attribute from its TOML table; SpecError (key ``attributes.NAME``) when malformed."""
    key = f"attributes.{name}"
    if not isinstance(raw, dict):
        raise SpecError("an attribute is a table with type and default", key=key)
    unknown = set(raw) - {"type", "default", "doc", "values", "length"}
    if unknown:
        raise SpecError(f"unknown field {sorted(unknown)[0]!r} (fields: type, default, doc, values, length)", key=key)
    type_name = raw.get("type", "choice")
    if type_name not in ATTRIBUTE_TYPES:
        raise SpecError(
            f"unknown attribute type {type_name!r}; available: {', '.join(ATTRIBUTE_TYPES.names())}", key=key
        )
    kind = ATTRIBUTE_TYPES.get(type_name)
    values = tuple(raw.get("values", ())) or kind.default_values()
    if type_name == "activation":
        bad = [v for v in values if v not in ACTIVATIONS]
        if bad:
            raise SpecError(f"unknown activation {bad[0]!r}; available: {', '.join(ACTIVATIONS)}", key=key)
    if type_name == "choice" and not values:
        raise SpecError("a choice attribute needs values", key=key)
    if type_name == "int" and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise SpecError(f"the values of an int attribute are positive integers, got {list(values)}", key=f"{key}.values")
    if "length" in raw and type_name != "ints":
        raise SpecError(f"length belongs to an ints attribute (one entry per axis), not to type {type_name}", key=f"{key}.length")
    if "default" not in raw:
        raise SpecError("an attribute needs a default", key=key)
    attr = Attribute(name, type_name, None, str(raw.get("doc", "")), values, raw.get("length"))
    try:
        default = attr.check(raw["default"])
    except ConfigError as exc:
        raise SpecError(f"bad default: {exc}", key=f"{key}.default") from None
    return Attribute(name, type_name, default, attr.doc, values, attr.length)
