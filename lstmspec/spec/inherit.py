"""``[spec] extends = "lstm"``: a spec file that starts from another's tables.

The parent's tables are taken entry by entry and the child's entries replace
or add to them (``[dims] rows = ...`` in the child replaces the parent's
``rows``); ``[spec]`` and ``[example]`` are the child's own. A child
transform named like a parent input takes that input's place, which is how
``row_lstm`` feeds lstm's ``x`` from an image. Chains are followed
(``cnn_lstm`` -> ``row_lstm`` -> ``lstm``) and cycles refused. Every key
remembers the file it comes from, so an error in an inherited entry points at
the parent's file and line.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ..errors import LookupFailed, SpecError
from .toml_lines import LineIndex

_NOT_INHERITED = ("spec", "example")

Layer = tuple[str, LineIndex, dict[str, Any]]  # display file, line index, raw tables


class Origins:
    """File and line of every key of a (possibly merged) spec: the child's file first, then its parents'."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers  # (display file, line index, raw table) child first

    def where(self, key: str) -> tuple[str, int | None]:
        parts = key.split(".")
        for file, lines, raw in self.layers:
            node: Any = raw
            found = True
            for part in parts[:2]:
                if isinstance(node, dict) and part in node:
                    node = node[part]
                else:
                    found = False
                    break
            if found:
                return file, lines.line(key)
        file, lines, _ = self.layers[0]
        return file, lines.line(key)


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    if not path.is_file():
        raise SpecError("no such spec file", file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file ({exc})", file=str(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise SpecError(
            f"malformed TOML: {str(exc).split(' (at')[0]}", file=str(path), line=int(match.group(1)) if match else None
        ) from None


def _parent_path(name: str, child: Path) -> Path:
    from .catalog import resolve_path

    if name.endswith(".toml") or "/" in name:
        candidate = child.parent / name
        return candidate if candidate.is_file() else Path(name)
    return resolve_path(name)


def read_layers(path: Path, display: str) -> tuple[dict[str, Any], list[Layer], list[str]]:
    """The spec's raw tables with its ``extends`` chain merged in, each file's layer (child first), and the
    names of the ancestors whose equations it keeps (nearest first)."""
    raw, text = read_toml(path)
    layers = [(display, LineIndex(text), raw)]
    head = raw.get("spec") if isinstance(raw.get("spec"), dict) else {}
    parent_name = head.get("extends")
    if parent_name is None:
        return raw, layers, []
    if not isinstance(parent_name, str) or not parent_name:
        raise SpecError("extends names a shipped spec or a path", file=display, key="spec.extends",
                        line=layers[0][1].line("spec.extends"))
    chain = [str(path.resolve())]
    lineage: list[str] = []
    merged = raw
    current, current_path = parent_name, path
    while current is not None:
        try:
            parent_path = _parent_path(current, current_path)
            if str(parent_path.resolve()) in chain:
                raise SpecError(f"extends forms a cycle: {' -> '.join(Path(c).stem for c in chain)} -> {current}",
                                file=display, key="spec.extends", line=layers[0][1].line("spec.extends"))
            parent_raw, parent_text = read_toml(parent_path)
        except SpecError as exc:
            raise exc.located(file=display, key="spec.extends", line=layers[0][1].line("spec.extends")) from None
        except LookupFailed as exc:
            raise SpecError(str(exc), file=display, key="spec.extends", line=layers[0][1].line("spec.extends"),
                            text=current) from None
        chain.append(str(parent_path.resolve()))
        layers.append((str(parent_path), LineIndex(parent_text), parent_raw))
        merged = _merge(parent_raw, merged)
        parent_spec = parent_raw.get("spec") if isinstance(parent_raw.get("spec"), dict) else {}
        # an ancestor counts while no spec between keeps its own equations
        if not any("equations" in layer[2] for layer in layers[:-1]):
            lineage.append(str(parent_spec.get("name", current)))
        parent_head = parent_raw.get("spec") if isinstance(parent_raw.get("spec"), dict) else {}
        current, current_path = parent_head.get("extends"), parent_path
    return merged, layers, lineage


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Entry-level merge: the child's entries replace or add to the parent's, table by table."""
    out: dict[str, Any] = {}
    for table, value in parent.items():
        if table in _NOT_INHERITED:
            continue
        out[table] = dict(value) if isinstance(value, dict) else value
    for table, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(table), dict) and table not in _NOT_INHERITED:
            out[table] = {**out[table], **value}
        else:
            out[table] = value
    child_inputs = child.get("inputs") if isinstance(child.get("inputs"), dict) else {}
    for name in child.get("transforms", {}) if isinstance(child.get("transforms"), dict) else ():
        if isinstance(out.get("inputs"), dict) and name in out["inputs"] and name not in child_inputs:
            out["inputs"] = {k: v for k, v in out["inputs"].items() if k != name}
    return out


