"""Channels-last and channels-first: the one rule for moving the channel axis.

A spec declares every tensor channels last. With ``data_format=channels_first``
the arrays a user passes and gets have the channel axis (the last one)
right after the leading axes (batch, and time where present), before the
spatial axes; tensors with no spatial axis, and parameters, keep their layout.
The reference, random inputs, the diagnosis and the shape tables all move
axes through ``to_format`` and ``from_format`` (arrays) or ``shape_in`` (a
shape), so the rule is written once:

    >>> to_format(np.zeros((2, 3, 7, 6, 4)), 2, "channels_first").shape
    (2, 3, 4, 7, 6)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..expr.dims import Sym
from ..spec.model import BATCH_DIM, Spec

CHANNELS_LAST = "channels_last"
CHANNELS_FIRST = "channels_first"


def leading_axes(spec: Spec, shape: Sequence[Any]) -> int:
    """Axes of a (symbolic) shape before the spatial ones: the batch axis and the recurrence axis where present."""
    lead = 0
    for d in shape:
        if not (isinstance(d, Sym) and d.name in (BATCH_DIM, spec.recurrence.axis)):
            break
        lead += 1
    return lead


def data_format(attrs: Mapping[str, Any]) -> str:
    """The data format the attributes ask for (channels last when the spec has no such attribute)."""
    return str(attrs.get("data_format") or CHANNELS_LAST)


def _moves(ndim: int, lead: int, fmt: str) -> bool:
    # a tensor without leading axes (a parameter) or without spatial axes keeps its layout
    return fmt == CHANNELS_FIRST and 0 < lead and ndim > lead + 1


def to_format(a: Any, lead: int, fmt: str, be: Any = None) -> Any:
    """A channels-last array ``a`` (``lead`` leading axes) in data format ``fmt``; ``be``: a reference
    backend (numpy when None)."""
    if not _moves(a.ndim, lead, fmt):
        return a
    return _moveaxis(a, -1, lead, be)


def from_format(a: Any, lead: int, fmt: str, be: Any = None) -> Any:
    """An array in data format ``fmt`` as channels last (the spec's layout)."""
    if not _moves(a.ndim, lead, fmt):
        return a
    return _moveaxis(a, lead, -1, be)


def shape_in(shape: Sequence[Any], lead: int, fmt: str) -> tuple[Any, ...]:
    """A channels-last shape (sizes or symbolic dims) as data format ``fmt`` lays it out."""
    shape = tuple(shape)
    if not _moves(len(shape), lead, fmt):
        return shape
    return shape[:lead] + shape[-1:] + shape[lead:-1]


def _moveaxis(a: Any, source: int, destination: int, be: Any) -> Any:
    if be is not None:
        return be.moveaxis(a, source, destination)
    import numpy as np

    return np.moveaxis(a, source, destination)


__all__ = ["CHANNELS_FIRST", "CHANNELS_LAST", "data_format", "leading_axes", "to_format", "from_format", "shape_in"]
