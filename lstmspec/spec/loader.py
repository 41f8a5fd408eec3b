"""Build a ``Spec`` from a TOML file: structure first, then the static analysis.

``load_spec`` raises the first problem as a SpecError (file, key, line);
``lint_file`` returns every problem it can find, for ``lstmspec lint``.

A spec may start from another (``[spec] extends = "lstm"``): the parent's
tables are taken entry by entry, the child's entries replace or add to them,
and a child transform named like a parent input takes that input's place.
Errors in inherited entries point at the parent's file and line.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..expr.dims import AttrValue, ConvOptions, ConvOut, Dim, Lit, Pick, Shape, Sym, render_shape
from ..expr.formula import parse_formula
from ..expr.functions import FUNCTIONS
from ..expr.parse import parse_expression
from ..expr.transforms import OPS, Op, computed_ops
from .analysis import Finding, analyze, dependency_order
from .attributes import Attribute, build_attribute
from .layouts import build_layout
from .model import DimDecl, Equation, Predecessor, Recurrence, Spec, Stage, TensorDecl, Transform
from .inherit import Origins, read_layers, read_toml  # noqa: F401 - read_toml is re-exported
from .schema import check_schema

RECURRENCE_KINDS = ("sequence", "grid")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _is_integer(attr: Attribute) -> bool:
    """An attribute whose value is one integer, usable as a size: type int (or ints of length 1, as before int)."""
    return attr.type == "int" or (attr.type == "ints" and attr.length == 1)


class _Builder:
    def __init__(self, raw: dict[str, Any], file: str, origins: Origins, lineage: list[str] | None = None) -> None:
        self.raw = raw
        self.file = file
        self.origins = origins
        self.lineage = tuple(lineage or ())
        self.errors: list[SpecError] = []
        self.expanded: dict[str, Dim] = {}  # dim name -> what a shape entry of that name stands for

    def error(self, message: str, key: str, text: str | None = None) -> SpecError:
        file, line = self.origins.where(key)
        return SpecError(message, file=file, key=key, line=line, text=text)

    def locate(self, exc: SpecError, key: str) -> SpecError:
        full_key = exc.key if exc.key and "." in exc.key else key
        file, line = self.origins.where(full_key)
        return exc.located(file=file, key=full_key, line=line)

    def table(self, name: str) -> dict[str, Any]:
        """A top-level table (the schema has checked its type and that a required one is there)."""
        return self.raw.get(name, {})

    # ------------------------------------------------------------------ pieces
    def header(self) -> dict[str, Any]:
        head = self.table("spec")
        if not _IDENT.match(head["name"]):
            raise self.error("a spec name is letters, digits and _", "spec.name", head["name"])
        return head

    def dims(self, attributes: dict[str, Attribute]) -> dict[str, DimDecl]:
        """The dims; a derived one may use any other (resolved in dependency order, cycles are errors)."""
        table = self.table("dims")
        int_attrs = {a.name for a in attributes.values() if _is_integer(a)}
        for name, raw in table.items():
            key = f"dims.{name}"
            self.check_ident(name, key)
            kinds = [k for k in ("conv", "formula", "from") if k in raw]
            if len(kinds) > 1:
                raise self.error(f"a dimension is derived one way, not by {' and '.join(kinds)}", key)
            if ("from" in raw) != ("axis" in raw):
                raise self.error("from = TRANSFORM, axis = N: the size of axis N of a transform's output", key)
            if not kinds and raw.get("default") is None:
                raise self.error("a dimension needs a default size (or conv, formula or from for a derived one)", key)
        decls: dict[str, DimDecl] = {}
        resolving: list[str] = []

        def resolve(name: str) -> Dim:
            if name in self.expanded:
                return self.expanded[name]
            raw, key = table[name], f"dims.{name}"
            if name in resolving:
                raise self.error(f"dimensions derived from each other: {' -> '.join(resolving[resolving.index(name):] + [name])}",
                                 key)
            resolving.append(name)
            try:
                derived: Dim | None = None
                source = ""
                if "conv" in raw:
                    derived, source = self.conv_dim(raw["conv"], f"{key}.conv", table, attributes, resolve), "conv"
                elif "formula" in raw:
                    try:
                        derived = parse_formula(raw["formula"], dims=table, attrs=int_attrs, resolve=resolve)
                    except SpecError as exc:
                        raise self.locate(exc, f"{key}.formula") from None
                    source = "formula"
                elif "from" in raw:
                    derived, source = Lit(0), "transform"  # set when the transform is built
            finally:
                resolving.pop()
            decls[name] = DimDecl(name, str(raw.get("doc", "")), raw.get("default"), derived, source)
            self.expanded[name] = derived if source in ("conv", "formula") else Sym(name)
            return self.expanded[name]

        for name in table:
            resolve(name)
        return {name: decls[name] for name in table}

    def expand(self, name: str) -> Dim:
        return self.expanded.get(name, Sym(name))

    def conv_dim(self, raw: Any, key: str, known: dict[str, Any], attributes: dict[str, Attribute],
                 resolve: Callable[[str], Dim]) -> ConvOut:
        for part in ("size", "kernel"):
            if raw[part] not in known:
                raise self.error(f"conv {part} {raw[part]!r} is not a declared dimension", key, str(raw[part]))
        for option in ("strides", "dilation"):  # taken from the attribute, one entry per axis, where not fixed here
            attr = attributes.get(option)
            if option not in raw and attr is not None and attr.length is not None and raw["axis"] >= attr.length:
                raise self.error(f"conv axis {raw['axis']} has no entry in attribute {option} ({attr.length} entries, "
                                 f"axes 0..{attr.length - 1})", key)
        options = ConvOptions(raw.get("padding"), raw.get("strides"), raw.get("dilation"))
        return ConvOut(resolve(raw["size"]), resolve(raw["kernel"]), raw["axis"], options)

    def dim_groups(self, dims: dict[str, DimDecl]) -> dict[str, tuple[str, ...]]:
        out = {}
        for name, members in self.table("dim_groups").items():
            key = f"dim_groups.{name}"
            if not all(m in dims for m in members):
                raise self.error("a dimension group is a list of declared dimensions", key, str(members))
            if name in dims:
                raise self.error(f"dimension group {name!r} has the name of a dimension", key)
            out[name] = tuple(members)
        return out

    def shape_of(self, entries: Any, key: str, dims: dict[str, DimDecl]) -> Shape:
        if not isinstance(entries, list):
            raise self.error("a shape is a list of dimensions", key, repr(entries))
        shape = []
        for entry in entries:
            if isinstance(entry, int) and not isinstance(entry, bool) and entry >= 1:
                shape.append(Lit(entry))
            elif isinstance(entry, str) and entry in dims:
                shape.append(self.expand(entry))
            else:
                raise self.error(
                    f"shape entry {entry!r} is not a declared dimension (dimensions: {', '.join(dims)})", key, str(entry)
                )
        return tuple(shape)

    def tensors(self, table: str, dims: dict[str, DimDecl]) -> dict[str, TensorDecl]:
        out: dict[str, TensorDecl] = {}
        for name, raw in self.table(table).items():
            key = f"{table}.{name}"
            self.check_ident(name, key)
            if isinstance(raw, list):
                raw = {"shape": raw}
            shape = self.shape_of(raw["shape"], f"{key}.shape", dims)
            out[name] = TensorDecl(
                name, shape, str(raw.get("doc", "")), raw.get("next"), raw.get("step"), self.origins.where(key)[1]
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
            out[name] = Equation(name, str(text), node, self.origins.where(key)[1])
        return out

    def check_ident(self, name: str, key: str) -> None:
        if not _IDENT.match(name) or name.startswith("__"):
            raise self.error("names are letters, digits and _, starting with a letter", key, name)

    # ------------------------------------------------------------ recurrence
    def recurrence(self, dims: dict[str, DimDecl], attributes: dict[str, Attribute]) -> Recurrence:
        rec_raw = self.table("recurrence")
        kind = rec_raw.get("kind", "sequence")
        if kind not in RECURRENCE_KINDS:
            raise self.error(
                f"recurrence kind {kind!r} is not implemented; kinds: {', '.join(RECURRENCE_KINDS)}", "recurrence.kind"
            )
        if kind == "grid":
            return self.grid_recurrence(rec_raw, dims, attributes)
        bad = set(rec_raw) - {"kind", "axis", "direction"}
        if bad:
            raise self.error(f"unknown field {sorted(bad)[0]!r} (fields of a sequence: kind, axis, direction)",
                             f"recurrence.{sorted(bad)[0]}")
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
        return Recurrence(kind, rec_raw["axis"], direction, (rec_raw["axis"],))

    def grid_recurrence(self, rec_raw: dict[str, Any], dims: dict[str, DimDecl],
                        attributes: dict[str, Attribute]) -> Recurrence:
        bad = set(rec_raw) - {"kind", "axes", "direction", "directions"}
        if bad:
            raise self.error(f"unknown field {sorted(bad)[0]!r} (fields of a grid: kind, axes, direction, directions)",
                             f"recurrence.{sorted(bad)[0]}")
        axes = rec_raw.get("axes")
        if not isinstance(axes, list) or not axes or not all(isinstance(a, str) and a in dims for a in axes):
            raise self.error("a grid recurrence needs axes = [DIM, ...], declared dimensions", "recurrence.axes", str(axes))
        if len(set(axes)) != len(axes):
            raise self.error("grid axes must differ", "recurrence.axes", str(axes))
        for a in axes:
            if dims[a].derived is not None and dims[a].source != "transform":
                raise self.error(f"grid axis {a} must be a primary dimension", "recurrence.axes", a)
        direction = rec_raw.get("direction")
        table = rec_raw.get("directions", {})
        directions: list[tuple[str, tuple[int, ...]]] = []
        if direction is not None:
            attr = attributes.get(direction)
            if attr is None or attr.type != "choice":
                raise self.error("recurrence direction must name a choice attribute", "recurrence.direction", str(direction))
            if set(attr.values) != set(table):
                raise self.error(
                    f"[recurrence.directions] must give every value of attribute {direction} "
                    f"({', '.join(attr.values)}) as a list of +1/-1 per axis", "recurrence.directions",
                    ", ".join(table) or "(none)")
            for value in attr.values:
                signs = table[value]
                if not isinstance(signs, list) or len(signs) != len(axes) or any(s not in (1, -1) for s in signs):
                    raise self.error(f"direction {value} is +1 (first index first) or -1 (last index first) for each "
                                     f"of the {len(axes)} axes", f"recurrence.directions.{value}", str(signs))
                directions.append((value, tuple(int(s) for s in signs)))
        elif table:
            raise self.error("directions needs direction = ATTRIBUTE, the choice attribute that picks one",
                             "recurrence.directions")
        return Recurrence("grid", axes[0], direction, tuple(axes), tuple(directions))

    def predecessors(self, recurrence: Recurrence, states: dict[str, TensorDecl],
                     dims: dict[str, DimDecl]) -> tuple[dict[str, Predecessor], dict[str, TensorDecl]]:
        raw = self.table("predecessors")
        if not recurrence.is_grid:
            if raw:
                raise self.error("[predecessors] belong to a grid recurrence (kind = \"grid\")", "predecessors")
            return {}, {}
        if not raw:
            raise self.error("a grid recurrence reads its states through [predecessors], e.g. "
                             "h_up = { state = \"h\", offset = [-1, 0], boundary = \"h_row0\" }", "predecessors")
        preds: dict[str, Predecessor] = {}
        bounds: dict[str, TensorDecl] = {}
        axes = recurrence.axes
        for decl in states.values():
            inside = [d for d in decl.shape if d in {Sym(a) for a in axes}]
            if inside:
                raise self.error(f"state {decl.name} is one cell's state and has no {inside[0]!r} axis "
                                 f"(the grid's axes are {', '.join(axes)})", f"states.{decl.name}.shape")
        seen: dict[tuple[str, tuple[int, ...]], str] = {}
        for name, entry in raw.items():
            key = f"predecessors.{name}"
            self.check_ident(name, key)
            state = entry["state"]
            if state not in states:
                raise self.error(f"{state!r} is not a declared state (states: {', '.join(states)})", f"{key}.state",
                                 str(state))
            offset = entry["offset"]
            if len(offset) != len(axes) or sorted(offset) != [-1] + [0] * (len(axes) - 1):
                raise self.error(f"an offset is -1 along one of the axes ({', '.join(axes)}) and 0 along the others: "
                                 "the cell scanned just before", f"{key}.offset", str(offset))
            offset_t = tuple(offset)
            if (state, offset_t) in seen:
                raise self.error(f"{name} reads the same cell and state as {seen[state, offset_t]}", key)
            seen[state, offset_t] = name
            boundary = entry["boundary"]
            if not _IDENT.match(boundary):
                raise self.error("boundary is the name of the initial state this predecessor reads before the first "
                                 "cell along its axis", f"{key}.boundary", str(boundary))
            if boundary in bounds or boundary in preds or boundary == name:
                raise self.error(f"boundary name {boundary!r} is used twice", f"{key}.boundary", boundary)
            decl = states[state]
            if not decl.shape or decl.shape[0] != Sym("batch"):
                raise self.error(f"state {state} must start with the batch axis to have a boundary", f"states.{state}")
            axis = offset_t.index(-1)
            along = [a for i, a in enumerate(axes) if i != axis]
            shape = (decl.shape[0],) + tuple(self.expand(a) for a in along) + decl.shape[1:]
            doc = (f"initial {state} before the first index of {axes[axis]} scanned"
                   + (f", indexed by {', '.join(along)}" if along else "") + f"; read by {name}")
            preds[name] = Predecessor(name, state, offset_t, boundary, str(entry.get("doc", "")), self.origins.where(key)[1])
            bounds[boundary] = TensorDecl(boundary, shape, doc, line=self.origins.where(f"{key}.boundary")[1])
        return preds, bounds

    # ------------------------------------------------------- transforms, stages
    def option_values(self, op: Op, raw: dict[str, Any], key: str, dims: dict[str, DimDecl],
                      attributes: dict[str, Attribute]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in raw.items():
            kind = op.options.get(name)
            okey = f"{key}.{name}"
            if kind is None:
                raise self.error(f"{op.name} has no option {name!r} (options: {', '.join(op.options) or 'none'})", okey)
            if kind == "size":
                if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                    out[name] = Lit(value)
                elif isinstance(value, str) and value in dims:
                    out[name] = self.expand(value)
                elif isinstance(value, str) and value in attributes and _is_integer(attributes[value]):
                    out[name] = AttrValue(value)
                else:
                    raise self.error(f"{name} is a positive integer, a dimension or an integer attribute "
                                     "(type int)", okey, str(value))
            elif kind == "shape":
                out[name] = self.shape_of(value, okey, dims)
            elif kind == "ints":
                if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                    raise self.error(f"{name} is a list of integers", okey, str(value))
                out[name] = tuple(value)
            elif kind == "text":
                if not isinstance(value, str):
                    raise self.error(f"{name} is a string", okey, repr(value))
                out[name] = value
            elif kind == "bool":
                if not isinstance(value, bool):
                    raise self.error(f"{name} is true or false", okey, repr(value))
                out[name] = value
            else:
                if value not in kind:
                    raise self.error(f"{name} is one of {', '.join(kind)}", okey, str(value))
                out[name] = value
        missing = [n for n in op.required if n not in out]
        if missing:
            raise self.error(f"{op.name} needs option {missing[0]!r}", key)
        return out

    def transforms(self, inputs: dict[str, TensorDecl], dims: dict[str, DimDecl],
                   attributes: dict[str, Attribute]) -> dict[str, Transform]:
        out: dict[str, Transform] = {}
        for name, raw in self.table("transforms").items():
            key = f"transforms.{name}"
            self.check_ident(name, key)
            op_name, source = raw["op"], raw["from"]
            if source not in inputs:
                raise self.error(f"a transform reads a declared input ({', '.join(inputs) or 'none'})", f"{key}.from",
                                 str(source))
            attr = attributes.get(op_name)
            if attr is not None:
                if attr.type != "choice":
                    raise self.error(f"attribute {op_name} must be a choice of ops to name the op", f"{key}.op")
                choices = list(attr.values)
            else:
                choices = [op_name]
            for choice in choices:
                if choice not in OPS or not OPS.get(choice).computed:
                    raise self.error(f"unknown transform op {choice!r}; transform ops: {', '.join(computed_ops())}",
                                     f"{key}.op", str(choice))
            options_raw = {k: v for k, v in raw.items() if k not in ("op", "from", "doc")}
            shapes: dict[str, Shape] = {}
            for choice in choices:
                op = OPS.get(choice)
                options = self.option_values(op, options_raw, key, dims, attributes)
                try:
                    shapes[choice] = op.shape(inputs[source].shape, options, text=f"{choice}({source})")
                except SpecError as exc:
                    raise self.locate(exc, key) from None
            ranks = {len(s) for s in shapes.values()}
            if len(ranks) != 1:
                raise self.error(f"the ops of attribute {op_name} give different ranks", f"{key}.op")
            shape = tuple(
                Pick.of(op_name, {c: shapes[c][i] for c in choices}) if attr is not None else shapes[choices[0]][i]
                for i in range(ranks.pop())
            )
            # dims declared `from = this transform` take its sizes and stand for them by name
            shape_list = list(shape)
            for dname, decl in list(dims.items()):
                spec_raw = self.table("dims")[dname]
                if decl.source == "transform" and spec_raw.get("from") == name:
                    axis = spec_raw["axis"]
                    if not 0 <= axis < len(shape_list):
                        raise self.error(f"{name} has {len(shape_list)} axes; axis {axis} does not exist",
                                         f"dims.{dname}.axis")
                    dims[dname] = DimDecl(dname, decl.doc, decl.default, shape[axis], "transform")
                    shape_list[axis] = Sym(dname)
            out[name] = Transform(name, op_name, source, tuple(options_raw.items()), tuple(shape_list),
                                  str(raw.get("doc", "")), self.origins.where(key)[1])
        for dname, decl in dims.items():
            if decl.source == "transform" and isinstance(decl.derived, Lit) and decl.derived.value == 0:
                raise self.error(f"dimension {dname} is from transform {self.table('dims')[dname]['from']!r}, "
                                 f"which is not declared (transforms: {', '.join(out) or 'none'})", f"dims.{dname}.from")
        return out

    def stages(self, inputs: dict[str, TensorDecl], outputs: dict[str, TensorDecl], recurrence: Recurrence,
               dims: dict[str, DimDecl], attributes: dict[str, Attribute]) -> tuple[Stage, ...]:
        out: list[Stage] = []
        shapes: dict[str, Shape] = {}
        recurrent = 0
        for name, raw in self.table("stages").items():
            key = f"stages.{name}"
            self.check_ident(name, key)
            op_name = raw["op"]
            if op_name not in OPS:
                raise self.error(f"unknown stage op {op_name!r}; ops: {', '.join(OPS.names())}", f"{key}.op", str(op_name))
            op = OPS.get(op_name)
            source = raw.get("from")
            if op.needs_input:
                if source not in shapes and source not in inputs:
                    raise self.error(f"from must name an earlier stage or an input "
                                     f"({', '.join(list(shapes) + list(inputs)) or 'none'})", f"{key}.from", str(source))
            elif source is not None:
                raise self.error(f"an {op_name} stage reads nothing (no from)", f"{key}.from")
            options = self.option_values(op, {k: v for k, v in raw.items() if k not in ("op", "from", "doc")}, key,
                                         dims, attributes)
            source_shape = shapes.get(source) if source in shapes else inputs[source].shape if source else None
            if op_name == "recurrence":
                recurrent += 1
                if len(inputs) != 1:
                    raise self.error("a pipeline's recurrence reads the spec's one input", f"{key}.from")
                in_decl = next(iter(inputs.values()))
                if source_shape != in_decl.shape:
                    got = render_shape(source_shape) if source_shape is not None else "nothing"
                    raise self.error(f"the recurrence reads its input {in_decl.name} {render_shape(in_decl.shape)}, "
                                     f"but stage {source} gives {got}", f"{key}.from")
                (out_decl,) = list(outputs.values())[:1]
                axes = {Sym(a) for a in recurrence.scan_axes}
                shape = out_decl.shape if options.get("returns", "sequence") == "sequence" else \
                    tuple(d for d in out_decl.shape if d not in axes)
            else:
                try:
                    shape = op.shape(source_shape, options, text=f"{op_name}({source or ''})")
                except SpecError as exc:
                    raise self.locate(exc, key) from None
            shapes[name] = shape
            out.append(Stage(name, op_name, source, tuple(options.items()), shape, str(raw.get("doc", "")),
                             self.origins.where(key)[1]))
        if out and recurrent != 1:
            raise self.error(f"a pipeline has exactly one stage with op = \"recurrence\" (found {recurrent})", "stages")
        return tuple(out)

    def _extends(self) -> str | None:
        extends = self.origins.layers[0][2].get("spec", {}).get("extends")
        if extends is None:
            return None
        parent = self.origins.layers[1][2].get("spec", {}) if len(self.origins.layers) > 1 else {}
        return str(parent.get("name", extends))

    def example(self, dims: dict[str, DimDecl]) -> dict[str, int]:
        out = {}
        for name, value in self.table("example").get("dims", {}).items():
            if name not in dims or dims[name].derived is not None:
                raise self.error(f"{name!r} is not a primary dimension", f"example.dims.{name}")
            out[name] = value
        return out

    # -------------------------------------------------------------------- whole
    def build(self) -> Spec:
        check_schema(self.raw, self.error)
        head = self.header()
        attributes = {}
        for name, raw in self.table("attributes").items():
            try:
                attributes[name] = build_attribute(name, raw)
            except SpecError as exc:
                raise self.locate(exc, f"attributes.{name}") from None
        dims = self.dims(attributes)
        groups = self.dim_groups(dims)
        recurrence = self.recurrence(dims, attributes)
        inputs = self.tensors("inputs", dims)
        transforms = self.transforms(inputs, dims, attributes)
        params = self.tensors("params", dims)
        states = self.tensors("states", dims)
        outputs = self.tensors("outputs", dims)
        predecessors, boundaries = self.predecessors(recurrence, states, dims)
        stages = self.stages(inputs, outputs, recurrence, dims, attributes)
        seen: dict[str, str] = {}
        for table, group in (("inputs", inputs), ("transforms", transforms), ("params", params), ("states", states),
                             ("predecessors", predecessors), ("boundaries", boundaries), ("attributes", attributes)):
            for name in group:
                if name in seen:
                    key = f"predecessors.{next(p.name for p in predecessors.values() if p.boundary == name)}.boundary" \
                        if table == "boundaries" else f"{table}.{name}"
                    raise self.error(f"{name!r} is declared in both [{seen[name]}] and [{table}]", key)
                seen[name] = table
        functions = set(FUNCTIONS.names()) | {a.name for a in attributes.values() if a.type == "activation"}
        equations = self.equations(functions)
        for name in equations:
            if name in seen:
                self.errors.append(self.error(f"equation {name!r} has the name of a declared {seen[name][:-1]}", f"equations.{name}"))
        gates = dict(self.table("gates"))
        for gate in gates:
            if gate not in self.table("equations"):  # one that did not parse is reported there
                self.errors.append(self.error(f"gate {gate!r} has no equation", f"gates.{gate}"))
        layouts = {}
        for lname, lraw in self.table("layouts").items():
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
            predecessors=predecessors,
            boundaries=boundaries,
            transforms=transforms,
            stages=stages,
            extends=self._extends(),
            lineage=self.lineage,
            example=self.example(dims),
            trace_example=self.table("example").get("trace", False),
        )


def lint_file(path: Path, display: str | None = None) -> tuple[Spec | None, list[Finding]]:
    """Every problem of one spec file (structural errors stop at the first)."""
    display = display or str(path)
    try:
        raw, layers, lineage = read_layers(path, display)
    except SpecError as exc:
        return None, [Finding("error", exc.located(file=display))]
    builder = _Builder(raw, display, Origins(layers), lineage)
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
