"""Build a ``Spec`` from a TOML file: structure first, then the static analysis.

``load_spec`` raises the first problem as a SpecError (file, key, line);
``lint_file`` returns every problem it can find, for ``lstmspec lint``.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..expr.dims import ConvOptions, ConvOut, Lit, Sym
from ..expr.functions import FUNCTIONS
from ..expr.parse import parse_expression
from .analysis import Finding, analyze, dependency_order
from .attributes import build_attribute
from .layouts import build_layout
from .model import DimDecl, Equation, Recurrence, Spec, TensorDecl
from .toml_lines import LineIndex

TOP_LEVEL = (
    "spec", "recurrence", "dims", "dim_groups", "attributes", "inputs", "params",
    "states", "outputs", "equations", "gates", "layouts",
)
RECURRENCE_KINDS = ("sequence",)
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class _Builder:
    def __init__(self, raw: dict[str, Any], file: str, lines: LineIndex) -> None:
        self.raw = raw
        self.file = file
        self.lines = lines
        self.errors: list[SpecError] = []

    def error(self, message: str, key: str, text: str | None = None) -> SpecError:
        return SpecError(message, file=self.file, key=key, line=self.lines.line(key), text=text)

    def locate(self, exc: SpecError, key: str) -> SpecError:
        full_key = exc.key if exc.key and "." in exc.key else key
        return exc.located(file=self.file, key=full_key, line=self.lines.line(full_key))

    def table(self, name: str, required: bool = True) -> dict[str, Any]:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.error(f"missing table [{name}]", name)
            return {}
        if not isinstance(value, dict):
            raise self.error(f"[{name}] must be a table", name)
        return value

    # ------------------------------------------------------------------ pieces
    def header(self) -> dict[str, Any]:
        unknown = sorted(set(self.raw) - set(TOP_LEVEL))
        if unknown:
            raise self.error(f"unknown table {unknown[0]!r}; tables: {', '.join(TOP_LEVEL)}", unknown[0])
        head = self.table("spec")
        for key in ("name", "title"):
            if not isinstance(head.get(key), str) or not head[key]:
                raise self.error(f"[spec] needs a {key} string", f"spec.{key}")
        if not _IDENT.match(head["name"]):
            raise self.error("a spec name is letters, digits and _", "spec.name", head["name"])
        refs = head.get("references", [])
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise self.error("references is a list of strings", "spec.references")
        return head

    def dims(self) -> dict[str, DimDecl]:
        out: dict[str, DimDecl] = {}
        for name, raw in self.table("dims").items():
            key = f"dims.{name}"
            self.check_ident(name, key)
            if not isinstance(raw, dict):
                raise self.error("a dimension is a table with doc and default (or conv)", key)
            bad = set(raw) - {"doc", "default", "conv"}
            if bad:
                raise self.error(f"unknown field {sorted(bad)[0]!r} (fields: doc, default, conv)", key)
            default = raw.get("default")
            if default is not None and (isinstance(default, bool) or not isinstance(default, int) or default < 1):
                raise self.error("a default size is a positive integer", f"{key}.default", repr(default))
            derived = None
            if "conv" in raw:
                derived = self.conv_dim(raw["conv"], f"{key}.conv", out)
            elif default is None:
                raise self.error("a dimension needs a default size (or conv = {...} for a derived one)", key)
            out[name] = DimDecl(name, str(raw.get("doc", "")), default, derived)
        return out

    def conv_dim(self, raw: Any, key: str, known: dict[str, DimDecl]) -> ConvOut:
        if not isinstance(raw, dict) or not {"size", "kernel", "axis"} <= set(raw):
            raise self.error("conv = { size = DIM, kernel = DIM, axis = N } (padding, strides, dilation optional)", key)
        for part in ("size", "kernel"):
            if raw[part] not in known:
                raise self.error(f"conv {part} {raw[part]!r} is not a dimension declared above", key, str(raw[part]))
        options = ConvOptions(raw.get("padding"), raw.get("strides"), raw.get("dilation"))
        return ConvOut(Sym(raw["size"]), Sym(raw["kernel"]), int(raw["axis"]), options)

    def dim_groups(self, dims: dict[str, DimDecl]) -> dict[str, tuple[str, ...]]:
        out = {}
        for name, members in self.table("dim_groups", required=False).items():
            key = f"dim_groups.{name}"
            if not isinstance(members, list) or not all(m in dims for m in members):
                raise self.error("a dimension group is a list of declared dimensions", key, str(members))
            if name in dims:
                raise self.error(f"dimension group {name!r} has the name of a dimension", key)
            out[name] = tuple(members)
        return out

    def tensors(self, table: str, dims: dict[str, DimDecl], fields: set[str]) -> dict[str, TensorDecl]:
        out: dict[str, TensorDecl] = {}
        for name, raw in self.table(table, required=table != "params").items():
            key = f"{table}.{name}"
            self.check_ident(name, key)
            if isinstance(raw, list):
                raw = {"shape": raw}
            if not isinstance(raw, dict) or "shape" not in raw:
                raise self.error("expected a table with shape = [dims...]", key)
            bad = set(raw) - {"shape", "doc"} - fields
            if bad:
                allowed = ", ".join(sorted({"shape", "doc"} | fields))
                raise self.error(f"unknown field {sorted(bad)[0]!r} (fields: {allowed})", key)
            shape = []
            for entry in raw["shape"]:
                if isinstance(entry, int) and not isinstance(entry, bool) and entry >= 1:
                    shape.append(Lit(entry))
                elif isinstance(entry, str) and entry in dims:
                    shape.append(Sym(entry))
                else:
                    raise self.error(
                        f"shape entry {entry!r} is not a declared dimension (dimensions: {', '.join(dims)})",
                        f"{key}.shape",
                        str(entry),
                    )
            out[name] = TensorDecl(
                name, tuple(shape), str(raw.get("doc", "")), raw.get("next"), raw.get("step"), self.lines.line(key)
            )
        return out

    def equations(self, functions: set[str]) -> dict[str, Equation]:
        out = {}
        for name, text in self.table("equations").items():
            key = f"equations.{name}"
            self.check_ident(name, key)
            try:
                node = parse_expression(text, functions=functions)
            except SpecError as exc:
                self.errors.append(self.locate(exc, key))
                continue
            out[name] = Equation(name, str(text), node, self.lines.line(key))
        return out

    def check_ident(self, name: str, key: str) -> None:
        if not _IDENT.match(name) or name.startswith("__"):
            raise self.error("names are letters, digits and _, starting with a letter", key, name)

    # -------------------------------------------------------------------- whole
    def build(self) -> Spec:
        head = self.header()
        dims = self.dims()
        groups = self.dim_groups(dims)
        attributes = {}
        for name, raw in self.table("attributes", required=False).items():
            try:
                attributes[name] = build_attribute(name, raw)
            except SpecError as exc:
                raise self.locate(exc, f"attributes.{name}") from None
        rec_raw = self.table("recurrence")
        kind = rec_raw.get("kind", "sequence")
        if kind not in RECURRENCE_KINDS:
            raise self.error(
                f"recurrence kind {kind!r} is not implemented; kinds: {', '.join(RECURRENCE_KINDS)}", "recurrence.kind"
            )
        if rec_raw.get("axis") not in dims:
            raise self.error("recurrence axis must be a declared dimension", "recurrence.axis", str(rec_raw.get("axis")))
        direction = rec_raw.get("direction")
        if direction is not None:
            attr = attributes.get(direction)
            if attr is None or attr.type != "choice" or set(attr.values) - {"forward", "reverse"} or attr.default != "forward":
                raise self.error(
                    "recurrence direction must name a choice attribute with values forward and reverse (default forward)",
                    "recurrence.direction", str(direction),
                )
        recurrence = Recurrence(kind, rec_raw["axis"], direction)
        # derived dims appear in shapes as their formula so that shape inference can compare them
        inputs = self.tensors("inputs", dims, set())
        params = self.tensors("params", dims, set())
        states = self.tensors("states", dims, {"next"})
        outputs = self.tensors("outputs", dims, {"step"})
        inputs, params, states, outputs = (
            {n: _expand_derived(t, dims) for n, t in group.items()} for group in (inputs, params, states, outputs)
        )
        seen: dict[str, str] = {}
        for table, group in (("inputs", inputs), ("params", params), ("states", states), ("attributes", attributes)):
            for name in group:
                if name in seen:
                    raise self.error(f"{name!r} is declared in both [{seen[name]}] and [{table}]", f"{table}.{name}")
                seen[name] = table
        functions = set(FUNCTIONS.names()) | {a.name for a in attributes.values() if a.type == "activation"}
        equations = self.equations(functions)
        for name in equations:
            if name in seen:
                self.errors.append(self.error(f"equation {name!r} has the name of a declared {seen[name][:-1]}", f"equations.{name}"))
        gates_raw = self.table("gates", required=False)
        gates = {str(k): str(v) for k, v in gates_raw.items()}
        for gate in gates:
            if gate not in equations:
                self.errors.append(self.error(f"gate {gate!r} has no equation", f"gates.{gate}"))
        layouts = {}
        for lname, lraw in self.table("layouts", required=False).items():
            try:
                layouts[lname] = build_layout(lname, lraw, {n: p.shape for n, p in params.items()})
            except SpecError as exc:
                self.errors.append(self.locate(exc, f"layouts.{lname}"))
        order, cycle = dependency_order(equations)
        if cycle:
            self.errors.append(
                self.error(f"equations form a cycle: {' -> '.join(cycle)}", f"equations.{cycle[0]}")
            )
        return Spec(
            name=head["name"],
            title=head["title"],
            description=str(head.get("description", "")).strip(),
            references=tuple(head.get("references", [])),
            path=self.file,
            dims=dims,
            dim_groups=groups,
            attributes=attributes,
            recurrence=recurrence,
            inputs=inputs,
            params=params,
            states=states,
            outputs=outputs,
            equations=equations,
            order=tuple(order),
            gates=gates,
            layouts=layouts,
        )


def _expand_derived(decl: TensorDecl, dims: dict[str, DimDecl]) -> TensorDecl:
    shape = tuple(dims[d.name].derived if isinstance(d, Sym) and dims[d.name].derived is not None else d for d in decl.shape)
    return TensorDecl(decl.name, shape, decl.doc, decl.next, decl.step, decl.line)


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


def lint_file(path: Path, display: str | None = None) -> tuple[Spec | None, list[Finding]]:
    """Every problem of one spec file (structural errors stop at the first)."""
    display = display or str(path)
    try:
        raw, text = read_toml(path)
    except SpecError as exc:
        return None, [Finding("error", exc.located(file=display))]
    builder = _Builder(raw, display, LineIndex(text))
    try:
        spec = builder.build()
    except SpecError as exc:
        return None, [Finding("error", exc)]
    findings = [Finding("error", e) for e in builder.errors]
    findings += analyze(spec, locate=lambda exc, key: builder.locate(exc, key), skip_equations=_failed(builder))
    return spec, findings


def _failed(builder: _Builder) -> set[str]:
    return {e.key.split(".", 1)[1] for e in builder.errors if e.key and e.key.startswith("equations.")}


def load_file(path: Path, display: str | None = None) -> Spec:
    spec, findings = lint_file(path, display)
    errors = [f.error for f in findings if f.severity == "error"]
    if errors:
        raise errors[0]
    assert spec is not None
    return spec


LocateFn = Callable[[SpecError, str], SpecError]
