"""The fixed function set of the equation language, with their shape rules.

Numeric implementations live with the backends (``lstmspec.reference.backends``);
this module says what each function *means* for shapes and typesetting, so that
lint, shape tables and the reference all read the same definitions.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecError
from ..registry import Registry
from .dims import ConvOptions, ConvOut, Shape, Sum, render_shape
from .ir import Call
from .masks import MASKS


@dataclass(frozen=True)
class Function:
    name: str
    kind: str  # "activation" | "conv" | "concat"
    doc: str
    latex: str
    options: tuple[str, ...] = ()


FUNCTIONS: Registry[Function] = Registry("function")

for _f in (
    Function("sigmoid", "activation", "logistic sigmoid 1/(1+exp(-x))", r"\sigma"),
    Function("tanh", "activation", "hyperbolic tangent", r"\tanh"),
    Function(
        "hard_sigmoid",
        "activation",
        "Keras 3 / PyTorch Hardsigmoid: clip(x/6 + 1/2, 0, 1)",
        r"\operatorname{hard\_sigmoid}",
    ),
    Function(
        "hard_sigmoid_keras2",
        "activation",
        "Keras 2 / ONNX HardSigmoid default: clip(0.2*x + 1/2, 0, 1)",
        r"\operatorname{hard\_sigmoid}_{0.2}",
    ),
    Function("relu", "activation", "max(x, 0)", r"\operatorname{relu}"),
    Function("linear", "activation", "identity", r"\operatorname{id}"),
    Function(
        "conv",
        "conv",
        "N-d cross-correlation, channels last: x (..., spatial..., C) with W (k..., C, F)",
        r"\ast",
        options=("padding", "strides", "dilation", "mask", "mask_groups"),
    ),
    Function("concat", "concat", "concatenation along the last axis", r"\Vert"),
):
    FUNCTIONS.register(_f.name, _f)

ACTIVATIONS = [name for name in FUNCTIONS if FUNCTIONS.get(name).kind == "activation"]


def conv_options(call: Call) -> ConvOptions:
    """Read ``padding=``, ``strides=``, ``dilation=`` of a ``conv`` call.

    A value equal to the attribute's own name (``padding=padding``) or an
    absent option means "from the attribute"; otherwise it is fixed.
    """
    unknown = [k for k, _ in call.kwargs if k not in FUNCTIONS.get("conv").options]
    if unknown:
        raise SpecError(f"conv has no option {unknown[0]!r} (options: {', '.join(FUNCTIONS.get('conv').options)})",
                        text=call.text)
    padding = call.option("padding")
    if padding in (None, "padding"):
        padding = None
    elif padding not in ("valid", "same"):
        raise SpecError(f"conv padding must be valid, same or the attribute padding, got {padding!r}", text=call.text)
    fixed: dict[str, int | None] = {}
    for key, attr in (("strides", "strides"), ("dilation", "dilation")):
        value = call.option(key)
        if value in (None, attr):
            fixed[key] = None
        elif isinstance(value, int) and value >= 1:
            fixed[key] = value
        else:
            raise SpecError(f"conv {key} must be a positive integer or the attribute {attr}, got {value!r}", text=call.text)
    mask = call.option("mask")
    if mask is not None:
        if not isinstance(mask, str):
            raise SpecError(f"conv mask must be {', '.join(CONV_MASKS)} or an attribute naming one, got {mask!r}",
                            text=call.text)
        if padding != "same" or fixed["strides"] != 1 or fixed["dilation"] != 1:
            raise SpecError("a masked conv needs padding=same, strides=1, dilation=1 (the mask is centred on the "
                            "output position)", text=call.text)
    groups = call.option("mask_groups")
    if groups is not None:
        if mask is None:
            raise SpecError("mask_groups splits the channels of a masked conv; it needs mask=", text=call.text)
        if isinstance(groups, bool) or (isinstance(groups, int) and groups < 1):
            raise SpecError(f"conv mask_groups must be a positive integer or an int attribute, got {groups!r}",
                            text=call.text)
    return ConvOptions(padding=padding, stride=fixed["strides"], dilation=fixed["dilation"], mask=mask,
                       mask_groups=groups)


#: Fixed values of conv's mask option (``lstmspec.expr.masks``); any other name is an attribute whose value is one.
CONV_MASKS = tuple(MASKS.names())


def infer_call(call: Call, function: Function, arg_shapes: list[Shape]) -> Shape:
    """Shape of a call given its arguments' shapes; SpecError quoting the call when they do not fit."""
    if function.kind == "activation":
        if len(arg_shapes) != 1 or call.kwargs:
            raise SpecError(f"{call.func} takes exactly one argument", text=call.text)
        return arg_shapes[0]
    if function.kind == "concat":
        if len(arg_shapes) < 2 or call.kwargs:
            raise SpecError("concat takes two or more arguments", text=call.text)
        first = arg_shapes[0]
        for other in arg_shapes[1:]:
            if len(other) != len(first) or other[:-1] != first[:-1]:
                raise SpecError(
                    f"concat needs equal shapes but for the last axis, got "
                    f"{', '.join(render_shape(s) for s in arg_shapes)}",
                    text=call.text,
                )
        return first[:-1] + (Sum.of(*(s[-1] for s in arg_shapes)),)
    if function.kind == "conv":
        if len(arg_shapes) != 2:
            raise SpecError("conv takes two arguments, conv(x, W)", text=call.text)
        x, w = arg_shapes
        n = len(w) - 2
        if n < 1:
            raise SpecError(f"conv kernel must be (k..., channels, filters), got {render_shape(w)}", text=call.text)
        if len(x) < n + 2:
            raise SpecError(
                f"conv input {render_shape(x)} has too few axes for a {n}-d kernel {render_shape(w)}",
                text=call.text,
            )
        if x[-1] != w[-2]:
            raise SpecError(
                f"conv channels differ: input {render_shape(x)} has {x[-1]!r} channels, "
                f"kernel {render_shape(w)} expects {w[-2]!r}",
                text=call.text,
            )
        options = conv_options(call)
        spatial = x[-(n + 1):-1]
        out = tuple(ConvOut.of(spatial[a], w[a], a, options) for a in range(n))
        return x[: -(n + 1)] + out + (w[-1],)
    raise AssertionError(f"no shape rule for function kind {function.kind}")
