"""Building a shape table: every tensor of a spec with its symbolic shape and, given sizes, its numbers.

Everything here is derived from the spec: the canonical parameters and the
states from their declarations, each framework's tensors from the spec's
layouts, the gates and their pre-activations by shape inference over the
parsed equations. Nothing about LSTMs is written in this module, so a new spec
file gets its table for free.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..expr.dims import Div, Prod, Shape, Sum, dim_aliases, evaluate_shape, render_shape
from ..expr.functions import FUNCTIONS
from ..expr.ir import Call
from ..expr.shapes import ShapeInference
from ..expr.transforms import OPS
from ..reference.data_format import CHANNELS_LAST, data_format, leading_axes, shape_in
from ..spec.layouts import LayoutTensor
from ..spec.model import Spec
from .model import Row, ShapeTable, format_attr


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
    if data_format(attrs) == CHANNELS_LAST:
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
    fmt = data_format(attrs)
    if fmt == CHANNELS_LAST:
        return lambda shape: shape

    def arrange(shape: Shape) -> Shape:
        return shape_in(shape, leading_axes(spec, shape), fmt)

    return arrange


__all__ = ["shape_table", "equation_shapes", "grid_letters"]
