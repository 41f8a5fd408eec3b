"""The computed transforms of ``lstmspec.expr.transforms``, on numpy or torch arrays; and lowering.

Each op is a few lines of slicing and reshaping that can be checked by eye
against its shape rule. They are linear, so torch autograd carries
gradients through them to the image.

*Lowering* serves framework layers that implement the spec a transform
feeds (``torch.nn.LSTM`` for ``row_lstm``): ``lower_data`` gives a case's
data with ``x`` replaced by the transformed sequence, and
``pull_back_input_gradient`` maps a gradient with respect to that sequence
back to the image (the adjoint of the transform), so the layer is compared
with the same reference, image gradients included.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..expr.dims import attr_int
from ..registry import Registry
from ..spec.model import Spec, Transform
from .backends import Backend, get_backend

ApplyFn = Callable[[Backend, Any, Mapping[str, int]], Any]

IMPLEMENTATIONS: Registry[ApplyFn] = Registry("transform implementation")


def _rows(be: Backend, image: Any, o: Mapping[str, int]) -> Any:
    """(batch, rows, cols, channels) -> (batch, ceil(rows / step), cols*channels): rows 0, step, 2*step, ..."""
    picked = image[:, ::o["step"]]
    return picked.reshape(tuple(picked.shape[:2]) + (-1,))


def _cols(be: Backend, image: Any, o: Mapping[str, int]) -> Any:
    """(batch, rows, cols, channels) -> (batch, ceil(cols / step), rows*channels): column j is x[:, j]."""
    picked = be.moveaxis(image[:, :, ::o["step"]], 2, 1)  # (batch, cols', rows, channels)
    return picked.reshape(tuple(picked.shape[:2]) + (-1,))


def neighbourhood_offsets(radius: int) -> list[tuple[int, int]]:
    """(row, col) offsets of the causal neighbourhood in raster order: radius rows above, radius to the left."""
    above = [(di, dj) for di in range(-radius, 0) for dj in range(-radius, radius + 1)]
    return above + [(0, dj) for dj in range(-radius, 0)]


def _causal_neighbourhood(be: Backend, image: Any, o: Mapping[str, int]) -> Any:
    """(batch, rows, cols, channels) -> (batch, rows, cols, pixels*channels), zeros outside the image."""
    k = o["radius"]
    rows, cols = int(image.shape[1]), int(image.shape[2])
    padded = be.pad(image, [(0, 0), (k, 0), (k, k), (0, 0)])
    shifted = [padded[:, k + di:k + di + rows, k + dj:k + dj + cols] for di, dj in neighbourhood_offsets(k)]
    return be.concat(shifted)


for _name, _fn in (("rows", _rows), ("cols", _cols), ("causal_neighbourhood", _causal_neighbourhood)):
    IMPLEMENTATIONS.register(_name, _fn)


def concrete_options(transform: Transform, dims: Mapping[str, int], attrs: Mapping[str, Any]) -> dict[str, int]:
    """The transform's options as integers: ``step`` from its attribute, ``radius`` from its dim."""
    out: dict[str, int] = {"step": 1}
    for key, value in transform.options:
        if isinstance(value, str) and value in attrs:
            out[key] = attr_int(attrs, value)
        elif isinstance(value, str) and value in dims:
            out[key] = int(dims[value])
        else:
            out[key] = value
    return out


def apply_transforms(spec: Spec, attrs: Mapping[str, Any], inputs: Mapping[str, Any], be: Backend,
                     dims: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The core inputs (what the equations read) from the declared inputs."""
    if dims is None:
        dims = _dims_from(spec, attrs, inputs)
    out: dict[str, Any] = {}
    for name in spec.core_inputs():
        transform = spec.transforms.get(name)
        if transform is None:
            out[name] = inputs[name]
            continue
        fn = IMPLEMENTATIONS.get(transform.op_name(attrs))
        out[name] = fn(be, inputs[transform.source], concrete_options(transform, dims, attrs))
    return out


def _dims_from(spec: Spec, attrs: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, int]:
    from ..expr.dims import Sym

    dims: dict[str, int] = {}
    for name, value in inputs.items():
        for d, size in zip(spec.inputs[name].shape, value.shape):
            if isinstance(d, Sym):
                dims[d.name] = int(size)
    for name, decl in spec.dims.items():
        if decl.derived is None and name not in dims and decl.default is not None:
            dims[name] = decl.default  # a size no input shows (a radius): the spec's default
    return dims


# ----------------------------------------------------------------- lowering
def lower_data(data: Any, *, dims: Mapping[str, int] | None = None) -> Any:
    """A case's data as the spec the transform feeds sees it: ``x`` is the transformed sequence.

    Everything else (states, parameters, cotangents of the outputs) is the same;
    the spec stays the same object, so layouts, attributes and the recurrence
    are those of the case.
    """
    spec = data.spec
    (input_name, _), = spec.inputs.items()
    x = apply_transforms(spec, data.attrs, {input_name: data.x}, get_backend("numpy"), dims or data.dims)
    (seq,) = x.values()
    return dataclasses.replace(data, x=np.ascontiguousarray(seq))


def pull_back_input_gradient(data: Any, grad_sequence: np.ndarray) -> np.ndarray:
    """dL/d(image) from dL/d(sequence): the adjoint of the (linear) transform, by torch autograd."""
    import torch

    from .backends import TorchBackend

    spec = data.spec
    (input_name, _), = spec.inputs.items()
    image = torch.as_tensor(np.asarray(data.x, dtype=np.float64)).requires_grad_(True)
    (seq,) = apply_transforms(spec, data.attrs, {input_name: image}, TorchBackend("float64", "cpu"),
                              data.dims).values()
    (grad,) = torch.autograd.grad(seq, image, torch.as_tensor(np.asarray(grad_sequence, dtype=np.float64)))
    return grad.numpy()
