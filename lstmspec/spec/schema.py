"""The spec format as data: the tables of a spec file, their fields and the type of every value.

``check_schema`` walks the raw TOML (after ``extends`` is merged) before
anything is built, so a value of the wrong type is one SpecError such as

    specs/x.toml:41: [layouts.onnx.tensors.W.prepend] expected a list of positive integers, got 5

and never reaches code that would trip over it (``sorted(5)``, ``[]``'s first
entry, a list used as a dict key). What the schema cannot say (a name that
must be declared, a shape that must match) is the loader's and lint's job.

The format is the ``SPEC_FILE`` table below: a ``Fields`` is a table with
fixed field names, ``Entries`` a table of names the author chooses (dims,
params, equations), ``Either`` a choice of forms and ``Value`` a leaf with
the words a message uses for it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import SpecError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _list_of(test: Callable[[Any], bool], *, nonempty: bool = False) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and (bool(value) or not nonempty) and all(test(v) for v in value)


@dataclass(frozen=True)
class Value:
    """A leaf: ``name`` completes "expected ...", ``test`` says whether a value is one."""

    name: str
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Fields:
    """A table with fixed field names; ``open`` leaves fields it does not name to the loader
    (the options of a transform or stage depend on its op)."""

    what: str
    fields: Mapping[str, Rule]
    required: tuple[str, ...] = ()
    open: bool = False


@dataclass(frozen=True)
class Entries:
    """A table whose keys the author names (``[dims]``, ``[equations]``); each value follows ``rule``."""

    rule: Rule
    what: str = "a table"


@dataclass(frozen=True)
class Either:
    """One of several forms: a shape written as a list or as a table with ``shape``."""

    forms: tuple[Rule, ...] = field(default=())

    @property
    def name(self) -> str:
        return " or ".join(_name(form) for form in self.forms)


Rule = Union[Value, Fields, Entries, Either]

STRING = Value("a string", lambda v: isinstance(v, str))
NAME = Value("a non-empty string", lambda v: isinstance(v, str) and bool(v))
BOOL = Value("true or false", lambda v: isinstance(v, bool))
INDEX = Value("an integer >= 0", lambda v: _is_int(v) and v >= 0)
POSITIVE = Value("a positive integer", lambda v: _is_int(v) and v >= 1)
ANY = Value("any value", lambda v: True)
STRINGS = Value("a list of strings", _list_of(lambda v: isinstance(v, str)))
INTS = Value("a list of integers", _list_of(_is_int))
INDICES = Value("a list of integers >= 0", _list_of(lambda v: _is_int(v) and v >= 0))
POSITIVES = Value("a list of positive integers", _list_of(lambda v: _is_int(v) and v >= 1))
CHOICES = Value("a list of strings or integers", _list_of(lambda v: isinstance(v, str) or _is_int(v)))
SHAPE = Value("a list of dimension names or positive integers",
              _list_of(lambda v: isinstance(v, str) or (_is_int(v) and v >= 1)))
PARTS = Value("a non-empty list of parameter names (PARAM or PARAM:PART)",
              _list_of(lambda v: isinstance(v, str), nonempty=True))
PADDING = Value('"valid" or "same"', lambda v: v in ("valid", "same"))


def _tensor(extra: Mapping[str, Rule]) -> Either:
    return Either((SHAPE, Fields("a table with shape = [dims...]", {"shape": SHAPE, "doc": STRING, **extra},
                                 required=("shape",))))


CONV = Fields("a table { size = DIM, kernel = DIM, axis = N } (padding, strides, dilation optional)",
              {"size": STRING, "kernel": STRING, "axis": INDEX, "padding": PADDING, "strides": POSITIVE,
               "dilation": POSITIVE}, required=("size", "kernel", "axis"))

SPEC_FILE = Fields("a spec file", {
    "spec": Fields("a table with name and title", {
        "name": NAME, "title": NAME, "description": STRING, "references": STRINGS, "extends": NAME,
        "drop": STRINGS,
    }, required=("name", "title")),
    "recurrence": Fields("a table with kind and axis (or axes)", {
        "kind": STRING, "axis": STRING, "direction": STRING, "axes": STRINGS,
        "directions": Entries(INTS, "a table: VALUE = [+1 or -1 per axis]"),
    }),
    "dims": Entries(Fields("a table with doc and default (or conv, formula, from)", {
        "doc": STRING, "default": POSITIVE, "conv": CONV,
        "formula": Either((STRING, Value("an integer", _is_int))), "from": STRING, "axis": INDEX,
    })),
    "dim_groups": Entries(STRINGS),
    "attributes": Entries(Fields("a table with type and default", {
        "type": STRING, "default": ANY, "doc": STRING, "values": CHOICES, "length": POSITIVE,
    })),
    "inputs": Entries(_tensor({})),
    "transforms": Entries(Fields("a table { op = OP, from = INPUT, options... }",
                                 {"op": STRING, "from": STRING, "doc": STRING}, required=("op", "from"), open=True)),
    "params": Entries(_tensor({})),
    "states": Entries(_tensor({"next": STRING})),
    "predecessors": Entries(Fields("a table { state = STATE, offset = [...], boundary = NAME }",
                                   {"state": STRING, "offset": INTS, "boundary": STRING, "doc": STRING},
                                   required=("state", "offset", "boundary"))),
    "outputs": Entries(_tensor({"step": STRING})),
    "equations": Entries(STRING),
    "gates": Entries(STRING),
    "layouts": Entries(Fields("a table with doc and a [tensors] table", {
        "doc": STRING,
        "tensors": Entries(Fields("a table with concat = [parameters]", {
            "concat": PARTS, "transpose": BOOL, "permute": INDICES, "prepend": POSITIVES, "doc": STRING,
        }, required=("concat",))),
    }, required=("tensors",))),
    "stages": Entries(Fields("a table { op = OP, from = STAGE, options... }",
                             {"op": STRING, "from": STRING, "doc": STRING}, required=("op",), open=True)),
    "example": Fields("a table with dims, doc and trace", {
        "dims": Entries(POSITIVE), "doc": STRING, "trace": BOOL,
    }),
}, required=("spec", "recurrence", "dims", "inputs", "states", "outputs", "equations"))

TABLES = tuple(SPEC_FILE.fields)


def check_schema(raw: Mapping[str, Any], error: Callable[[str, str], SpecError]) -> None:
    """Raise the first value in ``raw`` whose type or field name the format does not allow.

    ``error(message, key)`` makes the located SpecError (file and line of ``key``).
    """
    stack: list[tuple[Rule, Any, str]] = [(SPEC_FILE, raw, "")]
    while stack:  # a loop, not recursion: the raw tables are as deep as TOML allows
        rule, value, key = stack.pop()
        stack.extend(reversed(_children(rule, value, key, error)))


def _children(rule: Rule, value: Any, key: str, error: Callable[[str, str], SpecError]) -> list[tuple[Rule, Any, str]]:
    """Check ``value`` itself against ``rule``; what is under it comes back to be checked next."""
    if isinstance(rule, Either):
        for form in rule.forms:
            if _fits(form, value):
                return [(form, value, key)]
        raise error(f"expected {rule.name}, got {_show(value)}", key)
    if isinstance(rule, Value):
        if not rule.test(value):
            raise error(f"expected {rule.name}, got {_show(value)}", key)
        return []
    if not isinstance(value, dict):
        raise error(f"expected {_name(rule)}, got {_show(value)}", key)
    prefix = f"{key}." if key else ""
    if isinstance(rule, Entries):
        return [(rule.rule, v, f"{prefix}{name}") for name, v in value.items()]
    for name in value:
        if name not in rule.fields and not rule.open:
            if not key:
                raise error(f"unknown table {name!r}; tables: {', '.join(rule.fields)}", name)
            raise error(f"unknown field {name!r} (fields: {', '.join(rule.fields)})", f"{prefix}{name}")
    for name in rule.required:
        if name not in value:
            raise error(f"missing table [{name}]" if not key else f"missing field {name!r}: expected {rule.what}",
                        name if not key else key)
    return [(rule.fields[name], v, f"{prefix}{name}") for name, v in value.items() if name in rule.fields]


def _fits(rule: Rule, value: Any) -> bool:
    """Whether ``value`` has the outer form of ``rule`` (a table for a table), to pick among an Either's forms."""
    if isinstance(rule, Value):
        return rule.test(value)
    if isinstance(rule, Either):
        return any(_fits(form, value) for form in rule.forms)
    return isinstance(value, dict)


def _name(rule: Rule) -> str:
    return rule.name if isinstance(rule, (Value, Either)) else rule.what


def _show(value: Any) -> str:
    """A value as a message shows it: short, TOML's words for tables and booleans."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
