"""Known deviations of convolutional recurrences: flipped kernels, ``same``
padding on the wrong side, dilation on the wrong convolution or ignored,
kernel axes swapped; and of masked convolutions (PixelRNN): mask ignored,
the other mask, colour groups ignored or over the stacked gates, the
recurrent convolutions masked too, the mask off by one tap.

Not here: ``same`` padding worked out by another rule (symmetric (k-1)//2, or from the first
axis' size or kernel for every axis) and strides read from the first axis only: on every
case tried these either change the output's shape (a shape error the checker reports) or
compute exactly what "same padding with the extra row/column at the start" does. Nor the
layer's *strides* applied to the recurrent convolution. Its
``same`` padding with stride s > 1 shrinks every axis longer than 1 (and a
stride changes nothing on an axis of length 1), so that bug can only show as
a shape error, which the checker reports already.

Two identities let the spec's own reference (cross-correlation, TensorFlow's
``same``) compute the deviations:

- Flipping the input *and* the kernel of a cross-correlation along an axis
  flips its output and moves ``same``'s odd padding row to the other side:
  with ``x'[m] = x[n-1-m]`` and ``w'[j] = w[k-1-j]`` padded (a, b),
  ``out'[i] = out[n-1-i]`` where ``out`` is padded (b, a). So running the
  whole step on spatially flipped frames, states and kernels, and flipping
  the result back, is the spec with the extra row/column at the start.
- A ``valid`` convolution reads only the first ``(out-1)*stride + span``
  positions, and ``same`` is ``valid`` on the input padded (before, after).
  Padding (or cropping) the input to exactly that window and switching the
  attribute to ``valid`` gives the same result, and a window read exactly is
  unchanged by the flip above, whatever the stride: so the input
  convolution can be put on either side independently of the recurrent one.
"""
from __future__ import annotations

from itertools import permutations
from typing import Any

import numpy as np

from ..errors import SpecError
from ..expr.dims import same_padding
from ..expr.functions import conv_options
from ..expr.ir import Call
from ..expr.masks import MASKS, kernel_mask
from ..reference.binding import leading_axes
from .anatomy import conv_setting, rewrite
from .variant import Inputs, Result, register, spatial_axes


def _kernels(inp: Inputs, role: str | None = None) -> list[str]:
    return [p for p, r in inp.anatomy.conv_kernels.items() if role is None or r == role]


def _kernel_axes(w: np.ndarray) -> tuple[int, ...]:
    return tuple(range(w.ndim - 2))


def _x_lead(inp: Inputs) -> int:
    return leading_axes(inp.spec, inp.spec.first_input)


def _state_shaped(inp: Inputs, param: str) -> bool:
    shape = inp.spec.params[param].shape
    return any(shape == decl.shape[1:] for decl in inp.spec.states.values())


# ------------------------------------------------------------------ flipped kernels
def _flippable(inp: Inputs, role: str | None) -> bool:
    names = _kernels(inp, role)
    return bool(names) and any(max(inp.params[p].shape[:-2], default=1) > 1 for p in names)


def _flip_kernels(inp: Inputs, role: str | None) -> Result:
    return inp.but(params={p: np.flip(inp.params[p], _kernel_axes(inp.params[p])) for p in _kernels(inp, role)}).reference()


register("kernels flipped (convolution instead of cross-correlation)", "conv", 70,
         "Every convolution flips its kernel (a true convolution, e.g. scipy.signal.convolve), where the spec "
         "cross-correlates.",
         lambda inp: _flippable(inp, "input") and _flippable(inp, "recurrent"), lambda inp: _flip_kernels(inp, None))
for _role in ("input", "recurrent"):
    register(f"{_role} kernels flipped (convolution instead of cross-correlation)", "conv", 71,
             f"The {_role} convolutions flip their kernels; the others cross-correlate as the spec says.",
             lambda inp, r=_role: _flippable(inp, r), lambda inp, r=_role: _flip_kernels(inp, r))


# ------------------------------------------------------------------ same padding side
def _input_setting(inp: Inputs) -> list[tuple[str, int, int, int]] | None:
    """Per spatial axis (padding, stride, dilation, kernel) of the input convolutions, when
    they all agree and take their padding from the attribute (nothing else does)."""
    a = inp.anatomy
    if not a.input_convs or "padding" not in inp.spec.attributes:
        return None
    if any(conv_options(c).padding is not None for c in a.input_convs):
        return None
    if any(conv_options(c).padding is None for c in a.recurrent_convs):
        return None
    settings = {tuple(conv_setting(c, inp.params[c.args[1].id].shape, inp.attrs)) for c in a.input_convs}  # type: ignore[union-attr]
    return list(settings.pop()) if len(settings) == 1 else None


def _lopsided(n: int, padding: str, stride: int, dilation: int, k: int) -> bool:
    if padding != "same":
        return False
    before, after = same_padding(n, k, stride, dilation)
    return before != after


def _input_lopsided(inp: Inputs) -> bool:
    setting = _input_setting(inp)
    if setting is None:
        return False
    sizes = [inp.x.shape[ax] for ax in spatial_axes(inp.x, _x_lead(inp))]
    return any(_lopsided(n, *s) for n, s in zip(sizes, setting))


def _recurrent_lopsided(inp: Inputs) -> bool:
    a = inp.anatomy
    if not a.recurrent_convs or _input_setting(inp) is None:
        return False
    state = next(iter(inp.state.values()))
    sizes = [state.shape[ax] for ax in spatial_axes(state, 1)]
    for call in a.recurrent_convs:
        setting = conv_setting(call, inp.params[call.args[1].id].shape, inp.attrs)  # type: ignore[union-attr]
        if any(_lopsided(n, *s) for n, s in zip(sizes, setting)):
            return True
    return False


def _input_window(inp: Inputs, *, wrong_side: bool) -> Inputs:
    """x padded (same; the odd row on the wrong side if asked) or cropped (valid) to exactly
    what the input convolution reads, with the attribute switched to valid."""
    setting = _input_setting(inp)
    assert setting is not None
    x = inp.x
    for axis, (padding, stride, dilation, k) in zip(spatial_axes(x, _x_lead(inp)), setting):
        n = x.shape[axis]
        if padding == "same":
            before, after = same_padding(n, k, stride, dilation)
            if wrong_side:
                before, after = after, before
            widths = [(0, 0)] * x.ndim
            widths[axis] = (before, after)
            x = np.pad(x, widths)
        else:
            span = dilation * (k - 1) + 1
            used = (n - span) // stride * stride + span
            x = np.take(x, range(used), axis=axis)
    return inp.but(x=x, attrs={"padding": "valid"})


def _flipped_frames(inp: Inputs) -> Inputs:
    """Frames, states and every spatial parameter flipped along every spatial axis."""
    kernels = set(_kernels(inp))
    params = {}
    for name, value in inp.params.items():
        if name in kernels:
            params[name] = np.flip(value, _kernel_axes(value))
        elif _state_shaped(inp, name):
            params[name] = np.flip(value, tuple(range(value.ndim - 1)))
    state = {k: np.flip(v, spatial_axes(v, 1)) for k, v in inp.state.items()}
    return inp.but(x=np.flip(inp.x, spatial_axes(inp.x, _x_lead(inp))), state=state, params=params)


def _unflip(inp: Inputs, result: Result) -> Result:
    y, final = result
    out_lead = leading_axes(inp.spec, inp.spec.first_output)
    return np.flip(y, spatial_axes(y, out_lead)), {k: np.flip(v, spatial_axes(v, 1)) for k, v in final.items()}


def _spatial_params_known(inp: Inputs) -> bool:
    kernels = set(_kernels(inp))
    return all(n in kernels or _state_shaped(inp, n) or v.ndim <= 1 for n, v in inp.params.items())


def _wrong_side(inp: Inputs, *, input_side: bool, recurrent_side: bool) -> Result:
    window = _input_window(inp, wrong_side=input_side)
    if not recurrent_side:
        return window.reference()
    return _unflip(inp, _flipped_frames(window).reference())


_PAD = "same padding with the extra row/column at the start"
register(f"{_PAD} (both convolutions)", "padding", 72,
         "Both convolutions pad an even kernel's odd row/column before (top/left) instead of after as "
         "TensorFlow does (e.g. a hand-written F.pad(x, (1, 0, 1, 0))).",
         lambda inp: _input_lopsided(inp) and _recurrent_lopsided(inp) and _spatial_params_known(inp),
         lambda inp: _wrong_side(inp, input_side=True, recurrent_side=True))
register(f"{_PAD} (input convolution)", "padding", 73,
         "The input convolution pads the odd row/column before instead of after.",
         _input_lopsided, lambda inp: _wrong_side(inp, input_side=True, recurrent_side=False))
register(f"{_PAD} (recurrent convolution)", "padding", 73,
         "The recurrent convolution pads the odd row/column before instead of after.",
         lambda inp: _recurrent_lopsided(inp) and _spatial_params_known(inp),
         lambda inp: _wrong_side(inp, input_side=False, recurrent_side=True))


# ------------------------------------------------------------------ dilation
def _attr(inp: Inputs, name: str) -> tuple[int, ...]:
    value = inp.attrs.get(name, 1)
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),)


def _recurrent_fixed(inp: Inputs, option: str) -> bool:
    return bool(inp.anatomy.recurrent_convs) and all(isinstance(c.option(option), int) for c in inp.anatomy.recurrent_convs)


def _recurrent_takes(inp: Inputs, option: str) -> Result:
    a = inp.anatomy
    calls = set(a.recurrent_convs)

    def edit(node):  # type: ignore[no-untyped-def]
        if isinstance(node, Call) and node in calls:
            kwargs = tuple((k, option if k == option else v) for k, v in node.kwargs)
            return Call(node.func, node.args, kwargs, node.text)
        return None

    equations = {name: rewrite(inp.spec.equations[name].node, edit) for name in inp.spec.order
                 if any(c in calls for c in inp.spec.equations[name].node.walk())}
    return inp.reference(a.edit(inp.spec, f"{option} applied to the recurrent convolution", equations))


register("dilation applied to the recurrent convolution", "conv", 74,
         "The recurrent convolution uses the layer's dilation_rate, where the spec fixes it at 1 (as Keras does).",
         lambda inp: "dilation" in inp.spec.attributes and set(_attr(inp, "dilation")) != {1}
         and _recurrent_fixed(inp, "dilation"),
         lambda inp: _recurrent_takes(inp, "dilation"))
register("strides applied to the recurrent convolution", "conv", 74,
         "The recurrent convolution uses the layer's strides, where the spec fixes them at 1 (as Keras does): "
         "its output is smaller than the state and, where it is one pixel along an axis, broadcast over it.",
         lambda inp: "strides" in inp.spec.attributes and set(_attr(inp, "strides")) != {1}
         and _recurrent_fixed(inp, "strides"),
         lambda inp: _recurrent_takes(inp, "strides"))
register("dilation ignored", "conv", 75,
         "The input convolution runs undilated (dilation_rate dropped); only visible where the shapes still fit "
         "(same padding).",
         lambda inp: "dilation" in inp.spec.attributes and set(_attr(inp, "dilation")) != {1},
         lambda inp: inp.but(attrs={"dilation": (1,) * len(_attr(inp, "dilation"))}).reference())


# ------------------------------------------------------------------ kernel axes
def _swap_rows_cols(inp: Inputs) -> Result:
    params = {}
    for p in _kernels(inp):
        w = inp.params[p]
        n = w.ndim - 2
        params[p] = np.swapaxes(w, n - 2, n - 1)
    return inp.but(params=params).reference()


register("kernel rows and columns swapped", "conv", 76,
         "Every kernel is read with its last two spatial axes (rows, cols) swapped: a (filters, channels, kh, kw) "
         "weight permuted (3, 2, 1, 0) instead of (2, 3, 1, 0). With equal strides and dilation on both axes, "
         "running on frames with rows and columns swapped and swapping back computes the same, so this also "
         "names that bug.",
         lambda inp: bool(_kernels(inp)) and all(inp.params[p].ndim >= 4 for p in _kernels(inp)),
         _swap_rows_cols)


# ------------------------------------------------------------------ strides and dilation read wrong
def _per_axis(inp: Inputs, *names: str) -> bool:
    return all(n in inp.spec.attributes and inp.spec.attributes[n].type == "ints" for n in names)


register("strides and dilation swapped", "conv", 78,
         "Positional arguments mixed up: the input convolution runs with the dilation as its strides and the "
         "strides as its dilation.",
         lambda inp: _per_axis(inp, "strides", "dilation") and _attr(inp, "strides") != _attr(inp, "dilation"),
         lambda inp: inp.but(attrs={"strides": _attr(inp, "dilation"), "dilation": _attr(inp, "strides")}).reference())
register("dilation of the first axis used for every axis", "conv", 78,
         "dilation_rate read as one int (dilation[0]) and applied to every spatial axis (with dilation[0] = 1 that "
         "is 'dilation ignored').",
         lambda inp: _per_axis(inp, "dilation") and len(set(_attr(inp, "dilation"))) > 1 and _attr(inp, "dilation")[0] != 1,
         lambda inp: inp.but(attrs={"dilation": (_attr(inp, "dilation")[0],) * len(_attr(inp, "dilation"))}).reference())


# ------------------------------------------------------------------ kernel reshaped
def _reshaped(w: np.ndarray) -> np.ndarray:
    # (k..., in, out) reshaped to PyTorch's (out, in, k...) without a permute, then read as (k..., in, out).
    n = w.ndim - 2
    wrong = w.reshape((w.shape[-1], w.shape[-2]) + w.shape[:n])
    return np.transpose(wrong, tuple(range(2, n + 2)) + (1, 0))


def _kernel_layout(inp: Inputs) -> tuple[Any, list[str]] | None:
    """The first layout that stores the convolution kernels as they are (no permute; channels last, the
    gates stacked along the output channels, as Keras does), and its tensors that hold only kernels."""
    kernels = set(_kernels(inp))
    if not kernels:
        return None
    for name in inp.spec.layouts:
        layout = inp.spec.layout(name)
        held = [t for t in layout.tensors if t.segments and {s.param for s in t.segments} <= kernels]
        if (held and not any(t.permute or t.prepend for t in held)
                and {s.param for t in held for s in t.segments} == kernels):
            return layout, [t.name for t in held]
    return None


def _kernels_reshaped(inp: Inputs) -> Result:
    found = _kernel_layout(inp)
    assert found is not None
    layout, names = found
    tensors = layout.to_framework(inp.params)
    tensors.update({n: _reshaped(tensors[n]) for n in names})
    back = layout.from_framework(tensors, {k: np.shape(v) for k, v in inp.params.items()})
    return inp.but(params={p: back[p] for p in _kernels(inp)}).reference()


register("kernels reshaped to (out, in, k...) instead of permuted", "conv", 76,
         "A channels-last kernel (k..., in, out), the gates stacked along out as Keras stores it, converted to "
         "PyTorch's (out, in, k...) with reshape where a permute was needed: the same numbers, scrambled across "
         "taps, channels and gates.",
         lambda inp: _kernel_layout(inp) is not None, _kernels_reshaped,
         note=lambda inp: f"layout {_kernel_layout(inp)[0].name}: {', '.join(_kernel_layout(inp)[1])}")  # type: ignore[index]


# ------------------------------------------------------------------ masks (PixelRNN, PixelCNN)
# A mask is data (``lstmspec.expr.masks``): a variant edits the conv calls' ``mask=`` / ``mask_groups=``
# options in a copy of the equations, or applies a mask the reference cannot express (shifted, or over
# stacked gates) to the kernels by hand and runs the calls unmasked.
def _masked(inp: Inputs) -> list[Call]:
    return [c for c in inp.anatomy.input_convs if c.option("mask") is not None]


def _mask_of(call: Call, attrs: Any) -> tuple[str, int]:
    """(the mask a call applies, its colour groups) under the case's attributes."""
    name, groups = call.option("mask"), call.option("mask_groups")
    name = name if name in MASKS else attrs[name]
    groups = 1 if groups is None else int(attrs[groups]) if isinstance(groups, str) else int(groups)
    return str(name), groups


def _one_mask(inp: Inputs) -> tuple[str, int] | None:
    """The mask and groups every masked input convolution applies, when they agree and mask something."""
    found = {_mask_of(c, inp.attrs) for c in _masked(inp)}
    return found.pop() if len(found) == 1 and next(iter(found))[0] != "none" else None


def _edit_calls(inp: Inputs, key: str, calls: list[Call], fn: Any) -> Result:
    """The reference with each of ``calls`` replaced by ``fn(call)`` wherever it is written."""
    targets = set(calls)
    equations = {name: rewrite(eq.node, lambda n: fn(n) if isinstance(n, Call) and n in targets else None)
                 for name, eq in inp.spec.equations.items() if any(c in targets for c in eq.node.walk())}
    return inp.reference(inp.anatomy.edit(inp.spec, key, equations))


def _without(call: Call, *keys: str) -> Call:
    return Call(call.func, call.args, tuple((k, v) for k, v in call.kwargs if k not in keys), call.text)


def _with(call: Call, **options: Any) -> Call:
    return Call(call.func, call.args, _without(call, *options).kwargs + tuple(options.items()), call.text)


def _unmasked(inp: Inputs, params: dict[str, np.ndarray] | None = None) -> Result:
    run = inp.but(params=params) if params else inp
    return _edit_calls(run, "masks ignored", _masked(inp), lambda c: _without(c, "mask", "mask_groups"))


def _mask_instead(inp: Inputs, new: str) -> Result:
    call = _masked(inp)[0]
    attr = call.option("mask")
    if attr not in MASKS:  # the mask is an attribute: the kernel read another value of it
        return inp.but(attrs={attr: new}).reference()
    return _edit_calls(inp, f"mask {new}", _masked(inp), lambda c: _with(c, mask=new))


def _recurrent_maskable(inp: Inputs) -> bool:
    calls = inp.anatomy.recurrent_convs
    if _one_mask(inp) is None or not calls or any(c.option("mask") is not None for c in calls):
        return False
    try:
        for c in calls:
            conv_options(_with(c, mask="B"))
    except SpecError:  # not same/stride 1/dilation 1: no mask can be centred on it
        return False
    return True


def _recurrent_masked(inp: Inputs, mask: str) -> Result:
    groups = _masked(inp)[0].option("mask_groups")
    extra = {"mask": mask, **({"mask_groups": groups} if groups is not None else {})}
    return _edit_calls(inp, f"recurrent convolutions masked {mask}", list(inp.anatomy.recurrent_convs),
                       lambda c: _with(c, **extra))


def _shifted_mask(inp: Inputs) -> Result:
    # Mask centred at tap centre + 1: every tap up to the pixel read whole, the pixel's rule one tap later.
    name, groups = _one_mask(inp)  # type: ignore[misc]
    params = {}
    for call in _masked(inp):
        w = inp.params[call.args[1].id]  # type: ignore[union-attr]
        mask = kernel_mask(name, w.shape, groups)
        shifted = np.concatenate([np.ones_like(mask[:1]), mask[:-1]], axis=0)
        params[call.args[1].id] = w * shifted  # type: ignore[union-attr]
    return _unmasked(inp, params)


def _stacked_layout(inp: Inputs) -> tuple[Any, str] | None:
    """A layout with one tensor concatenating every masked kernel along its output axis (the paper's K_is)."""
    kernels = {c.args[1].id for c in _masked(inp)}  # type: ignore[union-attr]
    for name in inp.spec.layouts:
        layout = inp.spec.layout(name)
        for t in layout.tensors:
            if (t.segments and {s.param for s in t.segments} == kernels and len(t.segments) > 1
                    and not (t.permute or t.prepend)):
                return layout, t.name
    return None


def _stacked_mask(inp: Inputs) -> Result:
    name, groups = _one_mask(inp)  # type: ignore[misc]
    layout, tensor = _stacked_layout(inp)  # type: ignore[misc]
    tensors = layout.to_framework(inp.params)
    stacked = np.asarray(tensors[tensor])
    tensors[tensor] = stacked * kernel_mask(name, stacked.shape, groups)
    back = layout.from_framework(tensors, {k: np.shape(v) for k, v in inp.params.items()})
    return _unmasked(inp, {c.args[1].id: back[c.args[1].id] for c in _masked(inp)})  # type: ignore[union-attr]


register("masks ignored (the masked convolutions run unmasked)", "mask", 64,
         "The input convolution is not masked: a pixel reads the pixels after it (and all of itself).",
         lambda inp: _one_mask(inp) is not None, lambda inp: _unmasked(inp))
for _new, _old in permutations([m for m in MASKS.names() if m != "none"], 2):
    register(f"mask {_new} instead of {_old}", "mask", 64,
             f"The masked convolutions apply mask {_new} where the spec (or the case's attribute) says {_old}: "
             f"{MASKS.get(_new).doc}.",
             lambda inp, o=_old: _one_mask(inp) is not None and _one_mask(inp)[0] == o,  # type: ignore[index]
             lambda inp, n=_new: _mask_instead(inp, n))
register("colour groups ignored (purely spatial masks)", "mask", 65,
         "The mask's colour groups are not split (one group): mask A hides the whole pixel, so G cannot read R, "
         "and mask B shows all of it.",
         lambda inp: (_one_mask(inp) or ("", 1))[1] > 1,
         lambda inp: _edit_calls(inp, "colour groups ignored", _masked(inp), lambda c: _without(c, "mask_groups")))
register("recurrent convolutions masked too (mask B)", "mask", 66,
         "The state-to-state convolutions are masked like the input ones, with mask B (a layer built from one "
         "masked-conv class; B, which keeps the pixel, is the later layers' mask): the row above is read only up "
         "to the pixel.",
         _recurrent_maskable, lambda inp: _recurrent_masked(inp, "B"))
register("mask centred one tap after the pixel", "mask", 67,
         "An off-by-one centre: the taps up to the pixel are read whole and the pixel's rule falls on the next "
         "tap (1-D kernels).",
         lambda inp: _one_mask(inp) is not None and all(inp.params[c.args[1].id].ndim == 3 for c in _masked(inp)),  # type: ignore[union-attr]
         _shifted_mask)
register("colour groups split over the stacked gates (not within each gate)", "mask", 67,
         "The mask is built for the gates' stacked kernel (k, channels, 4*units) as one tensor, so its colour "
         "groups split the stacked gates (the output gate is all R) instead of each gate's units.",
         lambda inp: (_one_mask(inp) or ("", 1))[1] > 1 and _stacked_layout(inp) is not None, _stacked_mask,
         note=lambda inp: f"layout {_stacked_layout(inp)[0].name}: {_stacked_layout(inp)[1]}")  # type: ignore[index]
