"""Shape tables: every tensor of a spec with its symbolic shape and, given sizes, its numbers.

Everything here is derived from the spec: the canonical parameters and the
states from their declarations, each framework's tensors from the spec's
layouts, the gates and their pre-activations by shape inference over the
parsed equations. Nothing about LSTMs is written in this module, so a new spec
file gets its table for free.

    >>> spec = load_spec("convlstm2d")
    >>> attrs = spec.resolve_config({"padding": "same", "strides": 2})
    >>> table = shape_table(spec, spec.resolve_dims({"rows": 128, "cols": 128}, attrs), attrs)
    >>> print(format_table(table, "github"))

``shapes_report()`` is the Markdown document ``reports/shapes.md``; it also
checks the blog table of seed 004 ("Shapes of LSTM and ConvLSTM") against the
shapes computed here.
"""
from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .expr.dims import Div, Prod, Shape, Sum, Sym, dim_aliases, evaluate_shape, render_shape
from .expr.ir import Call
from .expr.shapes import ShapeInference
from .spec.layouts import LayoutTensor
from .spec.model import BATCH_DIM, Spec

FORMATS = ("github", "markdown", "latex", "html", "json")
REPORT_COMMAND = "lstmspec shapes --all -o reports/shapes.md"
SYMBOLIC = "sizes: symbolic"

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


# ------------------------------------------------------------------ building
def shape_table(
    spec: Spec,
    sizes: Mapping[str, int] | None,
    attrs: Mapping[str, Any],
    partial: Mapping[str, int] | None = None,
) -> ShapeTable:
    """The shape table of ``spec`` for the attributes ``attrs``.

    ``sizes`` are all dims (``spec.resolve_dims``) or None for a symbolic
    table; ``partial`` the dims the user actually gave, so that the title can
    say which sizes are the spec's defaults.
    """
    attrs = spec.resolve_config(attrs) if set(attrs) != set(spec.attributes) else dict(attrs)
    sizes = dict(sizes) if sizes is not None else None
    rows: list[Row] = []
    arrange = _arranger(spec, attrs)

    # a dim given by a formula (a backbone's output rows) is shown by its name; its formula is under derived dims
    aliases = {d.derived.key(): name for name, d in spec.dims.items()
               if d.source == "formula" and isinstance(d.derived, (Div, Prod, Sum))}

    def add(section: str, quantity: str, shape: Shape, note: str = "", *, moves_channels: bool = False) -> None:
        if moves_channels:
            shape = arrange(shape)
        value = evaluate_shape(shape, sizes, attrs) if sizes is not None else None
        with dim_aliases(aliases):
            text = render_shape(shape, attrs)
        rows.append(Row(section, quantity, text, value, note))

    for stage in _stages_before(spec):
        add("stages", stage.name, stage.shape, _stage_note(stage))
    for decl in spec.inputs.values():
        add("input", decl.name, decl.shape, decl.doc, moves_channels=True)
    for transform in spec.transforms.values():
        add("transforms", transform.name, transform.shape, _transform_note(spec, transform, attrs))
    for decl in spec.params.values():
        add("parameters", decl.name, decl.shape, decl.doc)
    params = spec.param_shapes()
    for layout in spec.layouts.values():
        for tensor, shape in zip(layout.tensors, layout.symbolic_shapes(params).values()):
            add(layout.name, tensor.name, shape, _composition(tensor, layout.parts()))

    shapes = equation_shapes(spec, attrs)
    activations = _activation_names(spec, attrs)
    for gate, description in spec.gates.items():
        node = spec.equations[gate].node
        if isinstance(node, Call) and node.func in activations and len(node.args) == 1:
            pre = ShapeInference({**spec.name_shapes(), **shapes}, lambda f: activations.get(f, f)).infer(node.args[0])
            add("gates", f"{gate} pre-activation", pre, f"argument of {_describe_activation(node.func, activations)}",
                moves_channels=True)
        add("gates", gate, shapes[gate], description, moves_channels=True)
    nexts = {s.next for s in spec.states.values()}
    steps = {o.step for o in spec.outputs.values()}
    for name in spec.order:
        if name not in spec.gates and name not in nexts and name not in steps:
            add("intermediates", name, shapes[name], f"`{spec.equations[name].text}`", moves_channels=True)
    for decl in spec.states.values():
        add("states", decl.name, decl.shape, f"{decl.doc}; next value {decl.next}", moves_channels=True)
    for pred in spec.predecessors.values():
        add("predecessors", pred.name, spec.states[pred.state].shape, _predecessor_note(spec, pred))
    for decl in spec.boundaries.values():
        add("boundaries", decl.name, decl.shape, f"{decl.doc}; the final value is the last one scanned")
    for decl in spec.outputs.values():
        if spec.is_grid:
            add("outputs", f"{decl.name}, every cell", decl.shape, decl.doc, moves_channels=True)
            continue
        add("outputs", f"{decl.name}, return_sequences=True", decl.shape, decl.doc, moves_channels=True)
        add("outputs", f"{decl.name}, return_sequences=False", spec.step_shape(decl),
            f"{decl.step} of the last step only", moves_channels=True)
    if spec.is_grid:
        axes = spec.recurrence.axes
        steps = " + ".join(axes) + f" - {len(axes) - 1}"
        value = sum(sizes[a] for a in axes) - len(axes) + 1 if sizes is not None else None
        rows.append(Row("recurrence", "wavefront steps", steps, value,
                        "anti-diagonals: the cells of one are computed at once (the reference's schedule)"))
        count = 1
        for a in axes:
            count *= sizes[a] if sizes is not None else 1
        rows.append(Row("recurrence", "cells", "*".join(axes), count if sizes is not None else None,
                        "one step each in a per-pixel loop"))
    for stage in _stages_after(spec):
        add("stages", stage.name, stage.shape, _stage_note(stage))
    for name, decl in spec.dims.items():
        if decl.derived is None:
            continue
        value = sizes[name] if sizes is not None else None
        others = {k: v for k, v in aliases.items() if v != name}
        with dim_aliases(others):
            rows.append(Row("derived dims", name, decl.derived.render(attrs), value,
                            f"general: {decl.derived.render(None)}"))
    return ShapeTable(
        spec=spec.name,
        title=spec.title,
        attrs=dict(attrs),
        sizes=sizes,
        given=dict(partial) if partial is not None else None,
        rows=tuple(rows),
        layouts={name: layout.doc for name, layout in spec.layouts.items()},
        remarks=_remarks(spec, attrs),
    )


def _stages_before(spec: Spec) -> list[Any]:
    """Pipeline stages up to the one that gives the spec's input (shown before the input)."""
    out = []
    for stage in spec.stages:
        if stage.op == "recurrence":
            return out
        out.append(stage)
    return out


def _stages_after(spec: Spec) -> list[Any]:
    """The recurrence stage and what follows it."""
    return list(spec.stages[len(_stages_before(spec)):])


def _stage_note(stage: Any) -> str:
    from .expr.transforms import OPS

    opts = dict(stage.options)
    if stage.op == "model":
        text = opts.get("model", "a model")
        if opts.get("framework"):
            text = f"{opts['framework']}: {text}"
        if opts.get("time_distributed"):
            text += ", applied to every frame (TimeDistributed)"
        text += "; output shape as the spec states it"
    elif stage.op == "recurrence":
        text = "the spec's recurrence: " + ("y at every step" if opts.get("returns", "sequence") == "sequence"
                                             else "y at the last step only")
    elif stage.op == "dense":
        text = "dense" + (f", {opts['activation']}" if opts.get("activation") else "")
    elif stage.op == "permute":
        text = f"axes permuted {tuple(opts['axes'])}"
    else:
        text = OPS.get(stage.op).doc
    if stage.source:
        text = f"{stage.op}({stage.source}): {text}"
    return f"{text}; {stage.doc}" if stage.doc else text


def _transform_note(spec: Spec, transform: Any, attrs: Mapping[str, Any]) -> str:
    from .expr.transforms import OPS

    op = transform.op_name(attrs)
    options = ", ".join(f"{k}={format_attr(attrs.get(v, v)) if isinstance(v, str) else v}" for k, v in transform.options)
    chosen = f" ({transform.op}={op})" if transform.op in spec.attributes else ""
    return f"{op}({transform.source}{', ' + options if options else ''}){chosen}: {OPS.get(op).doc}"


def _predecessor_note(spec: Spec, pred: Any) -> str:
    index = ", ".join(f"{letter}{o:+d}" if o else letter for letter, o in zip(grid_letters(spec), pred.offset))
    return f"{pred.state} of cell ({index}) in scan order; the first along {spec.recurrence.axes[pred.axis]} reads {pred.boundary}"


def grid_letters(spec: Spec) -> tuple[str, ...]:
    return tuple("ijklmn"[: len(spec.recurrence.scan_axes)]) if spec.is_grid else ("t",)


def _remarks(spec: Spec, attrs: Mapping[str, Any]) -> tuple[str, ...]:
    if attrs.get("data_format") != "channels_first":
        return ()
    return ("data_format=channels_first: x, the gates, states and outputs are shown with the channel axis "
            "before the spatial axes (the spec declares them channels last); parameters keep their layout",)


def equation_shapes(spec: Spec, attrs: Mapping[str, Any]) -> dict[str, Shape]:
    """The symbolic shape of every equation (in dependency order)."""
    activations = _activation_names(spec, attrs)
    known = dict(spec.name_shapes())
    inference = ShapeInference(known, lambda f: activations.get(f, f))
    out: dict[str, Shape] = {}
    for name in spec.order:
        out[name] = known[name] = inference.infer(spec.equations[name].node)
    return out


def _activation_names(spec: Spec, attrs: Mapping[str, Any]) -> dict[str, str]:
    """Attributes that name an activation -> the activation they name in ``attrs``."""
    from .expr.functions import FUNCTIONS

    out = {a.name: attrs.get(a.name, a.default) for a in spec.attributes.values() if a.type == "activation"}
    out.update({f: f for f in FUNCTIONS if FUNCTIONS.get(f).kind == "activation"})
    return out


def _describe_activation(func: str, activations: Mapping[str, str]) -> str:
    return func if activations[func] == func else f"{func} ({activations[func]})"


def _composition(tensor: LayoutTensor, parts: Mapping[str, int]) -> str:
    """How a framework tensor is made of canonical parameters, e.g. ``concat(W_i, W_f, W_g, W_o), transposed``."""
    text = f"concat({', '.join(s.param if s.part is None else f'{s.param}:{s.part}' for s in tensor.segments)})"
    if tensor.permute is not None:
        reverse = tuple(reversed(range(len(tensor.permute))))
        text += ", transposed" if tensor.permute == reverse else f", axes permuted {tensor.permute}"
    if tensor.prepend:
        text += f", leading axes {tuple(tensor.prepend)}" if len(tensor.prepend) > 1 else f", leading axis of size {tensor.prepend[0]}"
    split = [s.param for s in tensor.segments if s.part is not None]
    if split:
        p = split[0]
        text += f"; {p} = " + " + ".join(f"{p}:{k}" for k in range(parts[p])) + (" etc." if len(set(split)) > 1 else "")
    if tensor.doc:
        text += f"; {tensor.doc}"
    return text


def _arranger(spec: Spec, attrs: Mapping[str, Any]) -> Callable[[Shape], Shape]:
    """channels_first: move the channel axis of batch-led tensors in front of the spatial axes.

    The spec declares channels-last shapes; the reference transposes in and out
    the same way, so the table shows what a channels_first user passes and gets.
    """
    if attrs.get("data_format") != "channels_first":
        return lambda shape: shape
    leading = {BATCH_DIM, spec.recurrence.axis}

    def arrange(shape: Shape) -> Shape:
        lead = 0
        while lead < len(shape) and isinstance(shape[lead], Sym) and shape[lead].name in leading:
            lead += 1
        if lead == 0 or len(shape) <= lead + 1:
            return shape
        return shape[:lead] + shape[-1:] + shape[lead:-1]

    return arrange


# ---------------------------------------------------------------- formatting
def format_value(value: Value) -> str:
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


def describe(table: ShapeTable) -> list[str]:
    """The title lines: spec, attributes, sizes (which ones are defaults)."""
    lines = [f"{table.spec}: {table.title}"]
    if table.attrs:
        lines.append("attributes: " + " ".join(f"{k}={format_attr(v)}" for k, v in table.attrs.items()))
    if table.sizes is None:
        lines.append(SYMBOLIC)
    else:
        derived = {r.quantity for r in table.section("derived dims")}
        primary = {k: v for k, v in table.sizes.items() if k not in derived}
        given = table.given if table.given is not None else primary
        parts = [" ".join(f"{k}={v}" for k, v in primary.items() if k in given)]
        defaults = {k: v for k, v in primary.items() if k not in given}
        if defaults:
            parts.append("spec defaults: " + " ".join(f"{k}={v}" for k, v in defaults.items()))
        lines.append("sizes: " + "; ".join(p for p in parts if p))
    return lines + list(table.remarks)


def _cells(table: ShapeTable, *, code: bool = False, repeat_section: bool = False) -> tuple[list[str], list[list[str]]]:
    concrete = table.sizes is not None
    headers = ["section", "quantity", "symbolic shape"] + (["shape"] if concrete else []) + ["note"]
    body = []
    previous = None
    for r in table.rows:
        shape = f"`{r.shape}`" if code else r.shape
        cells = [r.section if repeat_section or r.section != previous else "", r.quantity, shape]
        if concrete:
            cells.append(f"`{format_value(r.value)}`" if code else format_value(r.value))
        cells.append(r.note)
        body.append(cells)
        previous = r.section
    return headers, body


def _layout_lines(table: ShapeTable) -> list[str]:
    return [f"{name}: {doc}" for name, doc in table.layouts.items() if doc]


def _github(table: ShapeTable) -> str:
    from tabulate import tabulate

    headers, body = _cells(table)
    title = [line + " (add NAME=VALUE sizes for numbers)" if line == SYMBOLIC else line for line in describe(table)]
    out = title + ["", tabulate(body, headers, tablefmt="github")]
    layouts = _layout_lines(table)
    if layouts:
        out += ["", "layouts:"] + [f"  {line}" for line in layouts]
    return "\n".join(out) + "\n"


def _markdown(table: ShapeTable, *, level: int = 3, heading: str | None = None) -> str:
    from tabulate import tabulate

    title, *config = describe(table)
    headers, body = _cells(table, code=True)
    out = [f"{'#' * level} {heading or title}", "", "  \n".join(config), "", tabulate(body, headers, tablefmt="github")]
    layouts = _layout_lines(table)
    if layouts:
        out += ["", "Layouts:", ""] + [f"- {line}" for line in layouts]
    return "\n".join(out) + "\n"


def _latex(table: ShapeTable) -> str:
    from tabulate import tabulate

    title, *config = describe(table)
    headers, body = _cells(table)
    out = [
        f"% {title}",
        *[f"% {line}" for line in config],
        r"% needs \usepackage{booktabs}",
        r"\begin{table}[ht]",
        r"\centering",
        r"\scriptsize",
        rf"\caption{{{_latex_escape(title)}. {_latex_escape('; '.join(config))}}}",
        tabulate(body, headers, tablefmt="latex_booktabs"),
    ]
    for line in _layout_lines(table):
        out.append(rf"\par\smallskip {_latex_escape(line)}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
    "$": r"\$", "{": r"\{", "}": r"\}", "^": r"\^{}", "~": r"\~{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def _html(table: ShapeTable) -> str:
    from tabulate import tabulate

    title, *config = describe(table)
    headers, body = _cells(table, repeat_section=True)
    out = [f"<h3>{html.escape(title)}</h3>", "<p>" + "<br>\n".join(html.escape(c) for c in config) + "</p>",
           tabulate(body, headers, tablefmt="html")]
    layouts = _layout_lines(table)
    if layouts:
        out += ["<ul>"] + [f"<li>{html.escape(line)}</li>" for line in layouts] + ["</ul>"]
    return "\n".join(out) + "\n"


def to_json(table: ShapeTable) -> dict[str, Any]:
    """The table as plain data.

    Keys: ``spec`` (name), ``title``, ``attrs`` (attribute -> value, tuples as
    lists), ``dims`` (dim -> size, every dim; null in a symbolic table),
    ``given`` (the dims the user gave, null when not known), ``rows`` (list of
    ``{section, quantity, shape, value, note}``: ``shape`` the symbolic shape
    string, ``value`` the concrete shape as a list or a derived dim's size, null
    when symbolic), ``layouts`` (layout name -> its description), ``remarks`` (sentences
    about how the table is shown, e.g. for ``data_format=channels_first``).
    """
    derived = {r.quantity for r in table.section("derived dims")}
    return {
        "spec": table.spec,
        "title": table.title,
        "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in table.attrs.items()},
        "dims": dict(table.sizes) if table.sizes is not None else None,
        "derived_dims": sorted(derived),
        "given": dict(table.given) if table.given is not None else None,
        "rows": [
            {
                "section": r.section,
                "quantity": r.quantity,
                "shape": r.shape,
                "value": list(r.value) if isinstance(r.value, tuple) else r.value,
                "note": r.note,
            }
            for r in table.rows
        ],
        "layouts": dict(table.layouts),
        "remarks": list(table.remarks),
    }


_FORMATTERS: dict[str, Callable[[ShapeTable], str]] = {
    "github": _github,
    "markdown": _markdown,
    "latex": _latex,
    "html": _html,
    "json": lambda table: json.dumps(to_json(table), indent=2) + "\n",
}


def format_table(table: ShapeTable, fmt: str = "github") -> str:
    """``table`` as text: github (terminal and GitHub), markdown (a document section), latex, html or json."""
    from .errors import LookupFailed

    try:
        formatter = _FORMATTERS[fmt]
    except KeyError:
        raise LookupFailed("table format", fmt, _FORMATTERS) from None
    return formatter(table)


# -------------------------------------------------------------------- report
#: Sizes of the worked examples, by dim name; dims not listed keep the spec's default.
EXAMPLE_SIZES = {
    "batch": 8, "time": 100, "input": 20, "units": 64,
    "depth": 16, "rows": 128, "cols": 128, "channels": 3, "filters": 64,
    "kernel_depth": 3, "kernel_rows": 3, "kernel_cols": 3,
}


def example_sizes(spec: Spec) -> dict[str, int]:
    """The worked example's sizes: the spec's own ``[example]`` (a seed's numbers) or the common ones."""
    if spec.example:
        return dict(spec.example)
    return {k: v for k, v in EXAMPLE_SIZES.items() if k in spec.dims and spec.dims[k].derived is None}


def example_command(spec: Spec, sizes: Mapping[str, int], attrs: Mapping[str, Any] | None = None) -> str:
    """The ``lstmspec shapes`` command line for these sizes; dim groups as ``kernel_size=3x3``."""
    return " ".join(["lstmspec shapes", spec.name, *assignment_words(spec, sizes, attrs)])


def assignment_words(spec: Spec, sizes: Mapping[str, int], attrs: Mapping[str, Any] | None = None) -> list[str]:
    words = []
    grouped: set[str] = set()
    for group, members in spec.dim_groups.items():
        if all(m in sizes for m in members):
            words.append(f"{group}={format_attr(tuple(sizes[m] for m in members))}")
            grouped |= set(members)
    words = [f"{k}={v}" for k, v in sizes.items() if k not in grouped] + words
    return words + [f"{k}={format_attr(v)}" for k, v in (attrs or {}).items()]


def shapes_report() -> str:
    """The Markdown document ``reports/shapes.md``: every shipped spec, and the seed-004 check."""
    from .spec import load_spec, shipped_names

    names = shipped_names()
    out = [
        "# Shape tables of the shipped specs",
        "",
        f"<!-- Generated file, do not edit. Regenerate with: {REPORT_COMMAND} -->",
        "",
        f"Generated by `{REPORT_COMMAND}` from the spec files in `specs/`; "
        "`tests/test_tables.py` fails when this file is out of date. Every shape is derived from a spec: "
        "parameters and states from their declarations, framework tensors from the spec's layouts, "
        "gates and pre-activations by symbolic shape inference over the parsed equations. "
        "Symbolic shapes are simplified for the attributes in the table's title "
        "(the spec's defaults unless stated); the derived dims give the general formula too.",
        "",
        "Contents:",
        "",
        "- [Checking a published shape table (seed 004)](#checking-a-published-shape-table-seed-004)",
    ]
    out += [f"- [{name}](#{name})" for name in names]
    out += ["", seed_section(), ""]
    for name in names:
        spec = load_spec(name)
        attrs = spec.resolve_config()
        sizes = example_sizes(spec)
        out += [
            f"## {name}",
            "",
            f"{spec.title}. Spec file `specs/{name}.toml`.",
            "",
            _markdown(shape_table(spec, None, attrs), level=3, heading=f"Symbolic: `lstmspec shapes {name}`").rstrip("\n"),
            "",
            _markdown(shape_table(spec, spec.resolve_dims(sizes, attrs), attrs, partial=sizes), level=3,
                      heading=f"Worked example: `{example_command(spec, sizes)}`").rstrip("\n"),
            "",
        ]
    return "\n".join(out).rstrip("\n") + "\n"


# ------------------------------------------------------ seed 004: a blog table
# xysun/blog issue #10, "Shapes of LSTM and ConvLSTM" (TensorFlow r1.12), as
# written there. Its names map to ours: input_dim -> input, timestep -> time,
# width -> rows (its first spatial axis), height -> cols, conv_kernel_x ->
# kernel_rows, conv_kernel_y -> kernel_cols, channel -> channels.
SEED_SOURCE = "xysun/blog, issue #10 \"Shapes of LSTM and ConvLSTM\" (TensorFlow r1.12)"


@dataclass(frozen=True)
class SeedClaim:
    label: str  # the seed's row
    claim: str  # what the seed writes ("" where it says nothing)
    value: Callable[[Mapping[str, int]], tuple[int, ...]] | None  # the seed's formula with our sizes
    row: tuple[str, str]  # the lstmspec row it is compared with
    comment: str
    per_sample: bool = False  # the seed says "without batch"


def _seed_conv_out(d: Mapping[str, int]) -> tuple[int, ...]:
    return (d["rows"] - d["kernel_rows"] + 1, d["cols"] - d["kernel_cols"] + 1, d["filters"])


SEED_CONV_OUT = "(width - conv_kernel_x + 1, height - conv_kernel_y + 1, filters)"

SEED_LSTM = (
    SeedClaim("input", "(batch, timestep, input_dim)", lambda d: (d["batch"], d["time"], d["input"]), ("input", "x"),
              "correct"),
    SeedClaim("gates", "(units, 1)", lambda d: (d["units"], 1), ("gates", "i"),
              "no batch axis, and a column vector: Keras computes row vectors for the whole batch, "
              "x_t (batch, input) @ W_i (input, units) -> (batch, units)"),
    SeedClaim("kernel", "(units, input_dim)", lambda d: (d["units"], d["input"]), ("parameters", "W_i"),
              "transposed: Keras multiplies x_t @ W, so one gate's kernel is (input_dim, units); "
              "(units, input_dim) is PyTorch's orientation (weight_ih_l0 is (4*units, input))"),
    SeedClaim("kernel (the Keras variable)", "", None, ("keras", "kernel"),
              "missing: Keras stores the four gates in one variable, (input_dim, 4*units), gates i, f, c, o "
              "along the last axis"),
    SeedClaim("recurrent_kernel", "(units, units)", lambda d: (d["units"], d["units"]), ("parameters", "U_i"),
              "correct per gate (square, so the orientation does not show)"),
    SeedClaim("recurrent_kernel (the Keras variable)", "", None, ("keras", "recurrent_kernel"),
              "missing: (units, 4*units), gates i, f, c, o"),
    SeedClaim("cell_state", "(units, 1)", lambda d: (d["units"], 1), ("states", "c"),
              "no batch axis; a column vector where Keras has (batch, units)"),
    SeedClaim("hidden_state/output (without batch)", "(units, 1)", lambda d: (d["units"], 1),
              ("outputs", "y, return_sequences=False"),
              "without batch one sample's state is a vector (units,), not a (units, 1) matrix", per_sample=True),
    SeedClaim("output, return_sequences=True", "", None, ("outputs", "y, return_sequences=True"),
              "missing: every timestep's h, (batch, timestep, units)"),
)

SEED_CONVLSTM2D = (
    SeedClaim("input", "(batch, timestep, width, height, channel)",
              lambda d: (d["batch"], d["time"], d["rows"], d["cols"], d["channels"]), ("input", "x"),
              "numbers right for square frames, axes misnamed: Keras/TF order is (rows, cols) = (height, width), "
              "see the 96x128 row below"),
    SeedClaim("gates", SEED_CONV_OUT, _seed_conv_out, ("gates", "i"),
              "no batch axis; the formula holds only for padding=valid, stride 1, dilation 1 (general formula below)"),
    SeedClaim("kernel", "(conv_kernel_x, conv_kernel_y, channel, filters)",
              lambda d: (d["kernel_rows"], d["kernel_cols"], d["channels"], d["filters"]), ("parameters", "W_i"),
              "correct per gate"),
    SeedClaim("kernel (the Keras variable)", "", None, ("keras", "kernel"),
              "missing: Keras stores the four gates in one variable, last axis 4*filters, gates i, f, c, o"),
    SeedClaim("recurrent_kernel", "(conv_kernel_x, conv_kernel_y, filters, filters)",
              lambda d: (d["kernel_rows"], d["kernel_cols"], d["filters"], d["filters"]), ("parameters", "U_i"),
              "correct per gate; always applied with padding=same, stride 1, dilation 1, so the state keeps its size"),
    SeedClaim("recurrent_kernel (the Keras variable)", "", None, ("keras", "recurrent_kernel"),
              "missing: last axis 4*filters"),
    SeedClaim("cell_state", SEED_CONV_OUT, _seed_conv_out, ("states", "c"), "no batch axis; valid/stride 1 only"),
    SeedClaim("hidden_state/output (without batch)", SEED_CONV_OUT, _seed_conv_out,
              ("outputs", "y, return_sequences=False"), "right per sample for valid/stride 1 only", per_sample=True),
    SeedClaim("output, return_sequences=True", "", None, ("outputs", "y, return_sequences=True"),
              "missing: (batch, timestep, out_rows, out_cols, filters)"),
)

#: The seed's example: 8 sequences of 100 steps; LSTM input_dim 20; ConvLSTM2D frames 128x128x3
#: with a 3x3 kernel. The seed gives no units or filters: 64 is our choice.
SEED_SIZES = {
    "lstm": {"batch": 8, "time": 100, "input": 20, "units": 64},
    "convlstm2d": {"batch": 8, "time": 100, "rows": 128, "cols": 128, "channels": 3, "filters": 64,
                   "kernel_rows": 3, "kernel_cols": 3},
}

#: ConvLSTM2D variants around the seed's example: its assumption first, then what it leaves out.
SEED_VARIANTS: tuple[tuple[dict[str, int], dict[str, Any], str], ...] = (
    ({}, {}, "the seed's assumption: valid, stride 1, dilation 1"),
    ({}, {"padding": "same"}, "same padding keeps the size at stride 1"),
    ({}, {"strides": 2}, "valid, stride 2"),
    ({}, {"padding": "same", "strides": 2}, "same, stride 2: ceil(n / 2)"),
    ({}, {"dilation": 2}, "valid, dilation 2: the 3x3 kernel spans 5x5"),
    ({"rows": 96, "cols": 128}, {}, "96x128 (height x width) frames: rows come first; "
     "the seed's width-first formula would give (126, 94, 64)"),
)


def _seed_table(spec: Spec, claims: tuple[SeedClaim, ...], sizes: Mapping[str, int]) -> str:
    from tabulate import tabulate

    attrs = spec.resolve_config()
    all_sizes = spec.resolve_dims(sizes, attrs)
    symbolic = shape_table(spec, None, attrs)
    concrete = shape_table(spec, all_sizes, attrs, partial=sizes)
    body = []
    for c in claims:
        seed_value = c.value(all_sizes) if c.value is not None else None
        ours = concrete.row(*c.row).value
        mark = "—" if seed_value is None else "✓" if seed_value == ours else (
            "✓ per sample" if c.per_sample and isinstance(ours, tuple) and seed_value == ours[1:] else "✗")
        body.append([
            c.label,
            f"`{c.claim}`" if c.claim else "—",
            f"`{format_value(seed_value)}`" if seed_value is not None else "—",
            f"{c.row[1]}: `{symbolic.row(*c.row).shape}`",
            f"`{format_value(ours)}`",
            mark,
            c.comment,
        ])
    headers = ["seed row", "seed says", "seed, evaluated", "lstmspec", "lstmspec, evaluated", "", "comment"]
    return tabulate(body, headers, tablefmt="github")


def _variants_table(spec: Spec, base: Mapping[str, int]) -> str:
    from tabulate import tabulate

    body = []
    for dims, config, comment in SEED_VARIANTS:
        attrs = spec.resolve_config(config)
        sizes = {**base, **dims}
        table = shape_table(spec, spec.resolve_dims(sizes, attrs), attrs, partial=sizes)
        words = " ".join([f"{k}={v}" for k, v in dims.items()] + [f"{k}={format_attr(v)}" for k, v in config.items()])
        body.append([
            f"`{words}`" if words else "(defaults)",
            f"`{table.row('derived dims', 'out_rows').shape}`",
            f"`{table.row('derived dims', 'out_cols').shape}`",
            f"`{format_value(table.row('gates', 'i').value)}`",
            comment,
        ])
    headers = ["configuration", "out_rows", "out_cols", "gates, states (batch, out_rows, out_cols, filters)", "note"]
    return tabulate(body, headers, tablefmt="github")


def seed_section() -> str:
    """The report section that reproduces seed 004's example and checks its table."""
    from .spec import load_spec

    lstm, conv = load_spec("lstm"), load_spec("convlstm2d")
    lstm_sizes, conv_sizes = SEED_SIZES["lstm"], SEED_SIZES["convlstm2d"]
    out_rows = conv.dims["out_rows"].derived
    return "\n".join([
        "## Checking a published shape table (seed 004)",
        "",
        f"Source: {SEED_SOURCE}. Its example: 8 sequences of 100 timesteps; for LSTM each step a "
        "vector of 20 features, input `(8, 100, 20)`; for ConvLSTM2D each step a 128x128x3 frame, input "
        "`(8, 100, 128, 128, 3)`, with a 3x3 kernel. The seed gives no number of units or filters; "
        "**we choose units = filters = 64**. The seed's table assumes \"1x1 stride and no padding\" "
        "for ConvLSTM2D. Below, each of its rows next to what lstmspec derives from `specs/lstm.toml` "
        "and `specs/convlstm2d.toml` (Keras semantics) for the same sizes; \"seed, evaluated\" is the "
        "seed's formula with these sizes. ✓ agrees, ✗ disagrees, — the seed has no such row.",
        "",
        f"### LSTM (`{example_command(lstm, lstm_sizes)}`)",
        "",
        _seed_table(lstm, SEED_LSTM, lstm_sizes),
        "",
        f"### ConvLSTM2D (`{example_command(conv, conv_sizes)}`)",
        "",
        _seed_table(conv, SEED_CONVLSTM2D, conv_sizes),
        "",
        "### What the seed gets wrong or leaves out",
        "",
        "- **No batch axis.** Gates, cell state and hidden state are `(batch, units)` for LSTM and "
        "`(batch, out_rows, out_cols, filters)` for ConvLSTM2D; the seed writes LSTM's as `(units, 1)`, "
        "a column vector of one sample, and ConvLSTM2D's without the batch.",
        "- **Kernel orientation and storage.** Keras computes `x_t @ W`, so one gate's kernel is "
        "`(input_dim, units)`, not the seed's `(units, input_dim)` (that is PyTorch's orientation, whose "
        "`weight_ih_l0` is `(4*units, input_dim)`). And Keras does not keep one kernel per gate: its "
        "`kernel` variable is the four gates concatenated, `(input_dim, 4*units)` = `(20, 256)` here, "
        "gates in the order i, f, c, o; ConvLSTM2D's is `(3, 3, 3, 256)`. The seed's ConvLSTM2D kernels "
        "are right per gate.",
        "- **Axis names.** The seed calls the spatial axes (width, height). Keras and TensorFlow order "
        "them (rows, cols) = (height, width), channels last: a 96-high, 128-wide frame is "
        "`(batch, time, 96, 128, 3)`. With square frames the mix-up does not show in the numbers.",
        "- **Only stride 1, no padding.** The seed's `width - conv_kernel_x + 1` is the `valid` case with "
        "stride 1 and dilation 1. In general (TensorFlow's rule, per spatial axis; `out_cols` alike):",
        "",
        "  ```",
        f"  out_rows = {out_rows.render(None).replace('; same: ', chr(10) + '  out_rows = ').replace('valid: ', '', 1)}",
        "  ```",
        "",
        "  the first line for `padding=valid`, the second for `padding=same`, whose total padding "
        "`max((out - 1)*stride + dilation*(k - 1) + 1 - n, 0)` is split with the odd row or column at the "
        "bottom/right. The recurrent convolution is always `same` with stride 1, so the states keep the "
        "size of the input convolution's output. Around the seed's example:",
        "",
        _variants_table(conv, conv_sizes),
    ])
