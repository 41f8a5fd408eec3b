"""Framework layouts: how canonical parameters are stored in a framework's own tensors.

A layout is data in the spec file. Each framework tensor is the concatenation
(along the last axis) of canonical parameters, optionally permuted and given
leading axes of size 1. A parameter that a framework stores as a *sum* of
tensors (PyTorch's ``bias_ih + bias_hh``, ONNX's ``Wb + Rb``) is written
``b_i:0`` and ``b_i:1``: part 0 and part 1, which add up to ``b_i``.

    [layouts.torch.tensors]
    weight_ih_l0 = { concat = ["W_i", "W_f", "W_g", "W_o"], transpose = true }  # (4*units, input)
    bias_ih_l0   = { concat = ["b_i:0", "b_f:0", "b_g:0", "b_o:0"] }
    bias_hh_l0   = { concat = ["b_i:1", "b_f:1", "b_g:1", "b_o:1"] }

Adapters never permute gates by hand: they call ``to_framework`` and
``from_framework`` here.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ShapeError, SpecError
from ..expr.dims import Lit, Shape, Sum

_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::([0-9]+))?$")


@dataclass(frozen=True)
class Segment:
    param: str
    part: int | None  # None: the whole parameter; k: part k of a sum split


@dataclass(frozen=True)
class LayoutTensor:
    name: str
    segments: tuple[Segment, ...]
    permute: tuple[int, ...] | None  # applied after concatenation; None: keep axes
    prepend: tuple[int, ...]  # leading axes of size 1 (ONNX num_directions)
    doc: str = ""


@dataclass(frozen=True)
class Layout:
    name: str
    doc: str
    tensors: tuple[LayoutTensor, ...]

    def parts(self) -> dict[str, int]:
        """Number of summands each split parameter is stored as."""
        counts: dict[str, int] = {}
        for t in self.tensors:
            for s in t.segments:
                if s.part is not None:
                    counts[s.param] = max(counts.get(s.param, 0), s.part + 1)
        return counts

    def symbolic_shapes(self, params: Mapping[str, Shape]) -> dict[str, Shape]:
        """Each framework tensor's shape from the canonical parameter shapes."""
        out = {}
        for t in self.tensors:
            shapes = [params[s.param] for s in t.segments]
            shape = shapes[0][:-1] + (Sum.of(*(s[-1] for s in shapes)),)
            if t.permute is not None:
                shape = tuple(shape[a] for a in t.permute)
            out[t.name] = tuple(Lit(n) for n in t.prepend) + shape
        return out

    def to_framework(
        self, params: Mapping[str, np.ndarray], rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        """Framework tensors holding ``params``.

        Split parameters are divided at random when ``rng`` is given (so a
        framework that ignores one summand fails a check), else evenly.
        """
        split: dict[str, list[np.ndarray]] = {}
        for name, n in self.parts().items():
            value = np.asarray(params[name])
            if rng is not None:
                pieces = [rng.uniform(-0.5, 0.5, size=value.shape).astype(value.dtype) for _ in range(n - 1)]
            else:
                pieces = [value / n for _ in range(n - 1)]
            split[name] = pieces + [value - sum(pieces)] if pieces else [value]
        out = {}
        for t in self.tensors:
            blocks = [
                split[s.param][s.part] if s.part is not None else np.asarray(params[s.param]) for s in t.segments
            ]
            tensor = np.concatenate(blocks, axis=-1)
            if t.permute is not None:
                tensor = np.transpose(tensor, t.permute)
            out[t.name] = np.ascontiguousarray(tensor.reshape(t.prepend + tensor.shape))
        return out

    def from_framework(
        self, tensors: Mapping[str, Any], param_shapes: Mapping[str, tuple[int, ...]], *, gradient: bool = False
    ) -> dict[str, np.ndarray]:
        """Canonical parameters from framework tensors (inverse of ``to_framework``).

        Split parameters are the sum of their parts. With ``gradient=True`` the
        tensors are gradients: every part of a sum has the gradient of the whole,
        so the parts must agree and part 0 is returned.
        """
        out: dict[str, np.ndarray] = {}
        seen_parts: dict[str, list[np.ndarray]] = {}
        for t in self.tensors:
            if t.name not in tensors:
                raise ShapeError(f"layout {self.name!r} needs tensor {t.name!r}, which is missing")
            tensor = np.asarray(tensors[t.name])
            lead = len(t.prepend)
            if tensor.shape[:lead] != t.prepend:
                raise ShapeError(f"{self.name} tensor {t.name} has shape {tensor.shape}, expected leading {t.prepend}")
            tensor = tensor.reshape(tensor.shape[lead:])
            if t.permute is not None:
                tensor = np.transpose(tensor, np.argsort(t.permute))
            sizes = [param_shapes[s.param][-1] for s in t.segments]
            if tensor.shape[-1] != sum(sizes):
                raise ShapeError(
                    f"{self.name} tensor {t.name} has {tensor.shape[-1]} entries on its gate axis, expected {sum(sizes)}"
                )
            pieces = np.split(tensor, np.cumsum(sizes)[:-1], axis=-1)
            for s, piece in zip(t.segments, pieces):
                if s.part is None:
                    out[s.param] = piece
                else:
                    seen_parts.setdefault(s.param, []).append(piece)
        for name, pieces in seen_parts.items():
            out[name] = pieces[0] if gradient else sum(pieces[1:], pieces[0])
        return out


def build_layout(name: str, raw: Mapping[str, Any], params: Mapping[str, Shape]) -> Layout:
    """The layout of ``[layouts.NAME]``; the schema has checked the types of its fields."""
    key = f"layouts.{name}"
    tensors = []
    for tname, traw in raw["tensors"].items():
        tkey = f"{key}.tensors.{tname}"
        segments = []
        for entry in traw["concat"]:
            m = _PART.match(entry)
            if not m:
                raise SpecError("expected PARAM or PARAM:PART", key=tkey, text=entry)
            if m.group(1) not in params:
                raise SpecError(f"layout refers to undeclared parameter {m.group(1)!r}", key=tkey, text=entry)
            segments.append(Segment(m.group(1), int(m.group(2)) if m.group(2) is not None else None))
        first = params[segments[0].param]
        for s in segments[1:]:
            if params[s.param][:-1] != first[:-1]:
                raise SpecError(
                    f"cannot concatenate {segments[0].param} and {s.param}: their shapes differ before the last axis",
                    key=tkey,
                )
        rank = len(first)
        permute = traw.get("permute")
        if traw.get("transpose"):
            permute = list(reversed(range(rank)))
        if permute is not None and sorted(permute) != list(range(rank)):
            raise SpecError(f"permute must be a permutation of 0..{rank - 1}", key=tkey, text=str(permute))
        tensors.append(LayoutTensor(tname, tuple(segments), tuple(permute) if permute is not None else None,
                                    tuple(traw.get("prepend", ())), traw.get("doc", "")))
    layout = Layout(name, raw.get("doc", ""), tuple(tensors))
    for pname in {s.param for t in layout.tensors for s in t.segments if s.part is not None}:
        # compared as sets, so that a part number in the billions is refused without counting up to it
        found = {s.part for t in layout.tensors for s in t.segments if s.param == pname and s.part is not None}
        if found != set(range(len(found))):
            raise SpecError(f"parameter {pname} is split into parts {sorted(found)}; parts must be 0..{len(found) - 1}",
                            key=key)
    missing = set(params) - {s.param for t in layout.tensors for s in t.segments}
    if missing:
        raise SpecError(f"layout does not store parameter(s) {', '.join(sorted(missing))}", key=key)
    return layout
