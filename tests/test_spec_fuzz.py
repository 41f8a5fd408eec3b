"""Mutated spec files load as a Spec or fail with one SpecError, never with another exception.

Each shipped spec is read, changed the way a careless or hostile author
would change it (a value of another type, a deleted key, a very long or deep
expression, a non-ASCII character), written back as TOML and loaded. Both
``load_file`` (what every command uses) and ``lint_file`` (which collects
every finding) are held to it. ``LSTMSPEC_FUZZ_EXAMPLES=3000`` searches longer.
"""
from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmspec.errors import SpecError
from lstmspec.spec import shipped_names, specs_dir
from lstmspec.spec.loader import lint_file, load_file

RAW = {name: tomllib.loads((specs_dir() / f"{name}.toml").read_text()) for name in shipped_names()}
EXAMPLES = int(os.environ.get("LSTMSPEC_FUZZ_EXAMPLES", "40"))  # a few seconds; raise it for a longer search
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(st.integers(), st.integers(-2, 3), st.floats(), st.booleans(), TEXT)
OTHER_VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=4),
    st.just([]),
    st.just({}),
    st.dictionaries(st.sampled_from(["doc", "shape", "op", "from", "x", "default"]), SCALARS, max_size=3),
    st.integers(10**19, 10**30),
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_text(raw: dict[str, Any]) -> str:
    """TOML for a spec's raw tables: one [table] per top-level key, inline tables below it."""
    lines = []
    for table, body in raw.items():
        if isinstance(body, dict):
            lines.append(f"[{toml_value(table)}]")
            lines += [f"{toml_value(str(k))} = {toml_value(v)}" for k, v in body.items()]
        else:
            lines.insert(0, f"{toml_value(table)} = {toml_value(body)}")
    return "\n".join(lines) + "\n"


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into the raw tables (list positions included)."""
    found = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found += paths(value, prefix + (key,))
    return found


def copy(raw: Any) -> Any:
    return json.loads(json.dumps(raw))


def set_at(raw: dict[str, Any], path: tuple, value: Any) -> None:
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def delete_at(raw: dict[str, Any], path: tuple) -> None:
    node = raw
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


def outcome(tmp: Path, raw: dict[str, Any]) -> str:
    """Load and lint the file; only SpecError may come out of loading, nothing out of linting."""
    path = tmp / "mutant.toml"
    path.write_text(toml_text(raw), encoding="utf-8")
    lint_file(path, str(path))
    try:
        load_file(path, str(path))
    except SpecError as exc:
        assert "\n" not in str(exc), str(exc)
        return "error"
    return "loaded"


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_writer_round_trips_every_shipped_spec(tmp):
    for name, raw in RAW.items():
        assert tomllib.loads(toml_text(raw)) == raw, name
        assert outcome(tmp, copy(raw)) == "loaded", name


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(RAW)))
def test_a_value_of_another_type_is_a_spec_error_or_loads(tmp, data, name):
    raw = copy(RAW[name])
    path = data.draw(st.sampled_from(paths(raw)))
    set_at(raw, path, data.draw(OTHER_VALUES))
    outcome(tmp, raw)


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(RAW)))
def test_a_deleted_key_is_a_spec_error_or_loads(tmp, data, name):
    raw = copy(RAW[name])
    path = data.draw(st.sampled_from(paths(raw)))
    delete_at(raw, path)
    outcome(tmp, raw)


LONG = st.builds(lambda piece, n, end: piece * n + end, st.sampled_from(["x + ", "x * ", "-", "+", "sigmoid(", "(",
                                                                          "x - ", "1 + ", "(x + "]),
                 st.sampled_from([99, 100, 101, 600, 3000, 20000]), st.sampled_from(["x", "h", "x" + ")" * 600]))


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(n for n in RAW if "equations" in RAW[n])))
def test_long_and_deep_expressions_are_spec_errors_or_load(tmp, data, name):
    raw = copy(RAW[name])
    equation = data.draw(st.sampled_from(sorted(raw["equations"])))
    raw["equations"][equation] = data.draw(LONG)
    outcome(tmp, raw)


NON_ASCII = st.characters(min_codepoint=0x80, blacklist_categories=("Cs",))


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(RAW)))
def test_a_non_ascii_character_anywhere_is_a_spec_error_or_loads(tmp, data, name):
    raw = copy(RAW[name])
    strings = [p for p in paths(raw) if isinstance(_at(raw, p), str)]
    path = data.draw(st.sampled_from(strings))
    text = _at(raw, path)
    where = data.draw(st.integers(0, len(text)))
    set_at(raw, path, text[:where] + data.draw(NON_ASCII) + text[where:])
    outcome(tmp, raw)


def _at(raw: Any, path: tuple) -> Any:
    for key in path:
        raw = raw[key]
    return raw
