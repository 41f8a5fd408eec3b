"""Operations on whole tensors: image-to-sequence transforms and pipeline stages, with their shape rules.

A spec may read its recurrence input through a *transform* of a declared
input (``[transforms] x = { op = "rows", from = "image", step = "step" }``):
the reference computes it, its shapes are in the shape table, and a kernel
is given the declared input, so the transform is part of what is checked.
A *pipeline* (``[stages]``) chains operations around the recurrence; stages
the reference cannot compute (a framework backbone) state their output shape
symbolically, and the shape table follows a batch through every stage.

Ops are registered by name with their options and a shape rule over
symbolic shapes; numeric implementations of the computed ones live with the
backends (``lstmspec.reference.transforms``). Like the function set, a
failed lookup lists what exists.

    rows(image)                 (batch, rows, cols, channels) -> (batch, ceil(rows / step), cols*channels)
    cols(image)                 (batch, rows, cols, channels) -> (batch, ceil(cols / step), rows*channels)
    causal_neighbourhood(image) (batch, rows, cols, channels) -> (batch, rows, cols, 2*radius*(radius + 1)*channels)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from ..registry import Registry
from .dims import Dim, Div, Lit, Prod, Shape, Sum, render_shape

#: Option kinds: "size" (a dim, an integer attribute or an integer), "shape" (a list of dims),
#: "ints" (a list of integers), "text", "bool", or a tuple of allowed strings.
OptionKind = Any


@dataclass(frozen=True)
class Op:
    name: str
    doc: str
    rule: Callable[[Shape | None, Mapping[str, Any]], Shape]
    options: Mapping[str, OptionKind]
    defaults: Mapping[str, Any]
    computed: bool  # True: the reference computes it (a transform); False: a pipeline stage, shapes only
    needs_input: bool = True
    required: tuple[str, ...] = ()

    def shape(self, source: Shape | None, options: Mapping[str, Any], *, text: str = "") -> Shape:
        """The output shape; SpecError quoting ``text`` when the input does not fit."""
        try:
            return self.rule(source, {**self.defaults, **options})
        except SpecError as exc:
            raise SpecError(exc.message, text=exc.text or text) from None


OPS: Registry[Op] = Registry("transform or stage op")


def _image(op: str, shape: Shape | None) -> tuple[Dim, Dim, Dim, Dim]:
    if shape is None or len(shape) != 4:
        got = render_shape(shape) if shape is not None else "nothing"
        raise SpecError(f"{op} takes an image (batch, rows, cols, channels), got {got}")
    return shape  # type: ignore[return-value]


def _rows(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    batch, rows, cols, channels = _image("rows", shape)
    return (batch, Div.of(rows, o["step"]), Prod.of(cols, channels))


def _cols(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    batch, rows, cols, channels = _image("cols", shape)
    return (batch, Div.of(cols, o["step"]), Prod.of(rows, channels))


def neighbourhood_size(radius: Dim) -> Dim:
    """Pixels in the causal neighbourhood: radius rows above (2*radius + 1 wide) and radius to the left."""
    return Prod.of(Lit(2), radius, Sum.of(radius, Lit(1)))


def _causal(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    batch, rows, cols, channels = _image("causal_neighbourhood", shape)
    return (batch, rows, cols, Prod.of(neighbourhood_size(o["radius"]), channels))


def _input(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    return tuple(o["shape"])


def _model(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    out = tuple(o["output"])
    if shape is not None and shape[:1] != out[:1]:
        raise SpecError(f"a model stage keeps the batch axis: input {render_shape(shape)}, output {render_shape(out)}")
    return out


def _permute(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    axes = list(o["axes"])
    if shape is None or sorted(axes) != list(range(len(shape))):
        raise SpecError(f"axes {axes} is not a permutation of the {len(shape or ())} axes of {render_shape(shape or ())}")
    return tuple(shape[a] for a in axes)


def _flatten(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    if shape is None or len(shape) < 2:
        raise SpecError("flatten takes (batch, ...)")
    return (shape[0], Prod.of(*shape[1:]))


def _dense(shape: Shape | None, o: Mapping[str, Any]) -> Shape:
    if shape is None or len(shape) < 2:
        raise SpecError("dense takes (batch, ..., features)")
    return shape[:-1] + (o["units"],)


for _op in (
    Op("rows", "the image read row by row: step t is image row t*step, its cols*channels values (channels fastest)",
       _rows, {"step": "size"}, {"step": Lit(1)}, True),
    Op("cols", "the image read column by column: step t is image column t*step, its rows*channels values "
       "(channels fastest)", _cols, {"step": "size"}, {"step": Lit(1)}, True),
    Op("causal_neighbourhood",
       "at every pixel, the pixels before it in raster order within radius: radius rows above "
       "(2*radius + 1 wide, centred) and radius pixels to the left, zeros outside the image; "
       "pixels in raster order, channels fastest (Theis & Bethge's x_<ij)",
       _causal, {"radius": "size"}, {}, True, required=("radius",)),
    Op("input", "the pipeline's input", _input, {"shape": "shape"}, {}, False, needs_input=False, required=("shape",)),
    Op("model", "a framework model whose output shape the spec states", _model,
       {"output": "shape", "model": "text", "framework": "text", "time_distributed": "bool"},
       {"time_distributed": False}, False, required=("output",)),
    Op("permute", "axes reordered", _permute, {"axes": "ints"}, {}, False, required=("axes",)),
    Op("flatten", "every axis but the batch flattened", _flatten, {}, {}, False),
    Op("dense", "a fully connected layer on the last axis (kernel (features, units), bias (units,))", _dense,
       {"units": "size", "activation": "text"}, {}, False, required=("units",)),
    # the spec's own recurrence; its shape rule is applied by the loader, which knows the outputs
    Op("recurrence", "the spec's recurrence (returns: sequence = y at every step, last = y at the last step)",
       _input, {"returns": ("sequence", "last")}, {"returns": "sequence"}, False),
):
    OPS.register(_op.name, _op)


def computed_ops() -> list[str]:
    return [name for name in OPS if OPS.get(name).computed]
