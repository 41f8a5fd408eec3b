"""``[spec] extends = "lstm"``: a spec file that starts from another's tables.

The parent's tables are taken entry by entry and the child's entries replace
or add to them (``[dims] rows = ...`` in the child replaces the parent's
``rows``); ``[spec]`` and ``[example]`` are the child's own. A child
transform named like a parent input takes that input's place, which is how
``row_lstm`` feeds lstm's ``x`` from an image. Layouts merge one level
deeper: a child's ``[layouts.onnx]`` replaces the parent's doc and adds to or
replaces its tensors (``lstm_peephole`` adds ONNX's ``P`` to lstm's ``W``,
``R``, ``B``). ``[spec] drop = ["layouts.keras", "dims.cols", "equations"]``
leaves out parent entries (or a whole table) the child does not have: a
ConvLSTM1D has no columns, a peephole LSTM no Keras layout. Chains are followed
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
from .paths import resolve_path
from .toml_lines import LineIndex

_NOT_INHERITED = ("spec", "example")
_DEEP = ("layouts",)  # tables whose entries merge field by field, their tensors entry by entry
#: tables whose change means a framework layer of the parent no longer implements the child
_OWN_LAYER = ("equations", "params", "states", "outputs")

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
            for part in parts[:4] if parts[0] in _DEEP else parts[:2]:
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
        if "drop" in head:
            raise SpecError("drop leaves out entries of the spec named by extends; this spec extends none",
                            file=display, key="spec.drop", line=layers[0][1].line("spec.drop"))
        return raw, layers, []
    if not isinstance(parent_name, str) or not parent_name:
        raise SpecError("extends names a shipped spec or a path", file=display, key="spec.extends",
                        line=layers[0][1].line("spec.extends"))
    chain = [str(path.resolve())]
    lineage: list[str] = []
    merged = raw
    current, current_path = parent_name, path
    drops, drops_at = _drops(head, display, layers[0][1]), (display, layers[0][1].line("spec.drop"))
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
        try:
            merged = _merge(_dropped(parent_raw, drops, current), merged)
        except SpecError as exc:
            raise exc.located(file=drops_at[0], line=drops_at[1]) from None
        parent_spec = parent_raw.get("spec") if isinstance(parent_raw.get("spec"), dict) else {}
        # an ancestor counts while no spec between has its own equations, parameters, states or outputs
        if not any(table in layer[2] for layer in layers[:-1] for table in _OWN_LAYER):
            lineage.append(str(parent_spec.get("name", current)))
        parent_head = parent_raw.get("spec") if isinstance(parent_raw.get("spec"), dict) else {}
        drops = _drops(parent_head, str(parent_path), layers[-1][1])
        drops_at = (str(parent_path), layers[-1][1].line("spec.drop"))
        current, current_path = parent_head.get("extends"), parent_path
    return merged, layers, lineage


def _drops(head: dict[str, Any], file: str, lines: LineIndex) -> list[str]:
    drops = head.get("drop", [])
    if not isinstance(drops, list) or not all(isinstance(d, str) and d for d in drops):
        raise SpecError("drop is a list of TABLE or TABLE.ENTRY names of the parent's", file=file, key="spec.drop",
                        line=lines.line("spec.drop"))
    return drops


def _dropped(parent: dict[str, Any], drops: list[str], parent_name: str) -> dict[str, Any]:
    """The parent's tables without the entries (or tables) the child's ``drop`` names; a name the parent
    does not have is refused, so a typo does not silently keep an entry."""
    out = {table: dict(value) if isinstance(value, dict) else value for table, value in parent.items()}
    for name in drops:
        table, _, entry = name.partition(".")
        if table in _NOT_INHERITED or table not in out or (entry and not (isinstance(out[table], dict)
                                                                         and entry in out[table])):
            raise SpecError(f"drop names {name!r}, which {parent_name} does not declare", key="spec.drop")
        if entry:
            del out[table][entry]
        else:
            del out[table]
    return out


def _deep(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Child entries of a ``_DEEP`` table merged into the parent's entry of the same name: fields replaced,
    ``tensors`` entry by entry."""
    out = dict(child)
    for name, entry in child.items():
        inherited = parent.get(name)
        if isinstance(entry, dict) and isinstance(inherited, dict):
            merged = {**inherited, **entry}
            if isinstance(entry.get("tensors"), dict) and isinstance(inherited.get("tensors"), dict):
                merged["tensors"] = {**inherited["tensors"], **entry["tensors"]}
            out[name] = merged
    return out


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Entry-level merge: the child's entries replace or add to the parent's, table by table."""
    out: dict[str, Any] = {}
    for table, value in parent.items():
        if table in _NOT_INHERITED:
            continue
        out[table] = dict(value) if isinstance(value, dict) else value
    for table, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(table), dict) and table not in _NOT_INHERITED:
            out[table] = {**out[table], **(_deep(out[table], value) if table in _DEEP else value)}
        else:
            out[table] = value
    child_inputs = child.get("inputs") if isinstance(child.get("inputs"), dict) else {}
    for name in child.get("transforms", {}) if isinstance(child.get("transforms"), dict) else ():
        if isinstance(out.get("inputs"), dict) and name in out["inputs"] and name not in child_inputs:
            out["inputs"] = {k: v for k, v in out["inputs"].items() if k != name}
    return out


