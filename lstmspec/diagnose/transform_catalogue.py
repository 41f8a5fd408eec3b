"""Known deviations of input transforms (an image read as a sequence, or through a neighbourhood):
features flattened channels-major, an integer option ignored, the pixel itself in its causal neighbourhood.

As everywhere in the catalogue, a variant transforms the case's inputs or parameters, or edits a copy
of the spec (here: the transform replaced by the array a kernel with that bug computes, read as the
equations' input), and runs the spec's own reference.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..expr.ir import BinOp, Name
from ..reference.transforms import concrete_options, neighbourhood_offsets
from ..spec.model import TensorDecl
from .variant import Inputs, Result, register


# ------------------------------------------------------------------ an image read as a sequence
def _flattened(inp: Inputs) -> tuple[int, int, list[str]] | None:
    """(length, channels, weights) when a transform's last axis flattens (length, channels) of an input
    with channels > 1 on its last axis, and these weights multiply the transform's output as it is."""
    spec = inp.spec
    for t in spec.transforms.values():
        if t.source not in spec.inputs:
            continue
        channels = int(inp.x.shape[-1])
        weights = {n.right.id for eq in spec.gates if eq in spec.equations for n in spec.equations[eq].node.walk()
                   if isinstance(n, BinOp) and n.op == "@" and n.left == Name(t.name) and isinstance(n.right, Name)
                   and n.right.id in spec.params}
        features = {inp.params[w].shape[0] for w in weights}
        if channels > 1 and len(features) == 1:
            (f,) = features
            if f % channels == 0 and f // channels > 1:
                return f // channels, channels, sorted(weights)
    return None


def _channels_major(inp: Inputs) -> Result:
    # The kernel's feature c*L + j holds what the spec's feature j*C + c holds, so its x @ W is the
    # spec's x @ W' with W'[j*C + c] = W[c*L + j]: the rows of every input weight permuted.
    found = _flattened(inp)
    assert found is not None
    length, channels, weights = found
    params = {}
    for w in weights:
        v = inp.params[w]
        params[w] = v.reshape((channels, length) + v.shape[1:]).swapaxes(0, 1).reshape(v.shape)
    return inp.but(params=params).reference()


def _int_options(inp: Inputs) -> dict[str, int]:
    """Int attributes that a transform's options name, where they are not 1."""
    out = {}
    for t in inp.spec.transforms.values():
        for _key, value in t.options:
            attr = inp.spec.attributes.get(value) if isinstance(value, str) else None
            if attr is not None and attr.type == "int" and int(inp.attrs[value]) != 1:
                out[value] = int(inp.attrs[value])
    return out


register("each step's features flattened channels-major ((channels, length), not (length, channels))", "transform", 57,
         "A transform flattens each step's pixels with the channels fastest; the kernel flattens them channels "
         "first (view(B, -1) of a channels-first row), so every input weight reads the features permuted.",
         lambda inp: _flattened(inp) is not None, _channels_major,
         note=lambda inp: "{} pixels x {} channels".format(*_flattened(inp)[:2]))  # type: ignore[index]
register("the input transform's integer option ignored (1 used)", "transform", 57,
         "An int attribute of the transform (row_lstm's step, the spatial LSTM's radius) is not read: every row "
         "is taken, or the smallest neighbourhood; shown where the shapes still fit (the sequence is longer).",
         lambda inp: bool(_int_options(inp)),
         lambda inp: inp.but(attrs={k: 1 for k in _int_options(inp)}).reference(),
         note=lambda inp: ", ".join(f"{k}={v} read as 1" for k, v in _int_options(inp).items()))



# ------------------------------------------------------------------ causal neighbourhood
NEIGHBOURHOOD = "causal_neighbourhood"


def _neighbourhood(inp: Inputs) -> tuple[str, int] | None:
    """(the transform's name, its radius) when the spec reads a causal neighbourhood of its input image."""
    spec = inp.spec
    for t in spec.transforms.values():
        if t.op_name(inp.attrs) == NEIGHBOURHOOD and t.source in spec.inputs:
            dims = {d: int(n) for d, n in zip((x.render() for x in spec.first_input.shape), inp.x.shape)}
            return t.name, int(concrete_options(t, dims, inp.attrs)["radius"])
    return None


def _with_pixel(inp: Inputs) -> Result:
    # The kernel's neighbourhood drops the farthest neighbour (the first in raster order) and appends the
    # pixel itself: the same number of features, so only the values show it. The edited spec reads that
    # array directly as the equations' input, its transform removed.
    name, radius = _neighbourhood(inp)  # type: ignore[misc]
    spec = inp.spec
    image = np.asarray(inp.x)
    rows, cols = image.shape[1], image.shape[2]
    padded = np.pad(image, [(0, 0), (radius, 0), (radius, radius), (0, 0)])
    offsets = neighbourhood_offsets(radius)[1:] + [(0, 0)]
    x = np.concatenate([padded[:, radius + di:radius + di + rows, radius + dj:radius + dj + cols]
                        for di, dj in offsets], axis=-1)
    key = "the pixel in its causal neighbourhood"
    edited = inp.anatomy.edited.get(key)
    if edited is None:
        t = spec.transforms[name]
        edited = inp.anatomy.edited[key] = replace(
            spec, inputs={name: TensorDecl(name, t.shape, t.doc, line=t.line)}, transforms={})
    return replace(inp, x=x).reference(edited)


register("the pixel itself in its causal neighbourhood (in place of the farthest neighbour)", "transform", 58,
         "The neighbourhood x_<ij a gate reads includes the pixel x_ij (not causal: the model sees what it is to "
         "predict), in place of the first neighbour in raster order, radius rows up and radius columns left; "
         "as many features as the spec's, so no shape shows it.",
         lambda inp: _neighbourhood(inp) is not None, _with_pixel,
         note=lambda inp: "radius {}".format(_neighbourhood(inp)[1]))  # type: ignore[index]
