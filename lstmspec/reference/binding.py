"""Bind a spec's symbolic dims to the shapes of concrete arrays, and guard memory.

The reference (and later every kernel check) receives plain arrays; the sizes
are read off them. A mismatch names the argument, the spec's symbolic shape,
the expected numbers and where each dim's value came from.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from math import prod
from typing import Any

from ..errors import ConfigError, ShapeError
from ..expr.dims import Dim, Sym, known_sizes, render_shape
from ..spec.model import Spec, TensorDecl
from .data_format import leading_axes as _leading_axes


def bind_dims(
    spec: Spec, attrs: Mapping[str, Any], arrays: Mapping[str, tuple[str, TensorDecl, tuple[int, ...]]]
) -> dict[str, int]:
    """Dims from ``arrays``: label -> (role, declaration, actual shape), in binding order.

    Primary dims are bound by the first array that has them; derived dims are
    computed and every array is checked against the full shape. A derived dim
    no array lets compute (a backbone's ``ceil(pixel_rows / 32)`` rows, when
    only the feature map is given) is bound to the size the array shows, by
    name, and every other shape is checked with that size.
    """
    dims: dict[str, int] = {}
    source: dict[str, str] = {}
    for label, (_, decl, shape) in arrays.items():
        if len(shape) != len(decl.shape):
            raise ShapeError(
                f"{label} has {len(shape)} axes {tuple(shape)} but spec {spec.name} says {render_shape(decl.shape)}"
            )
        for dim, size in zip(decl.shape, shape):
            if isinstance(dim, Sym) and dim.name not in dims:
                dims[dim.name] = int(size)
                source[dim.name] = label
    shown = _shown_sizes(spec, dims, attrs, arrays)
    with known_sizes(shown):
        for name, decl in spec.dims.items():
            if decl.derived is not None:
                try:
                    value = decl.derived.evaluate(dims, attrs)
                except ConfigError:
                    continue
                if value < 1:
                    raise ConfigError(
                        f"empty output: {name} = {decl.derived.render(attrs)} = {value} (the kernel is larger than the padded input)"
                    )
                dims[name] = value
        for label, (_, decl, shape) in arrays.items():
            expected = tuple(_size(d, dims, attrs) for d in decl.shape)
            if tuple(shape) != expected:
                notes = ", ".join(
                    f"{d.render(attrs)} = {dims[d.name]} from {source[d.name]}"
                    for d in decl.shape
                    if isinstance(d, Sym) and d.name in source and source[d.name] != label
                )
                raise ShapeError(
                    f"{label} has shape {tuple(shape)} but spec {spec.name} says {render_shape(decl.shape, attrs)} "
                    f"= {expected}" + (f" ({notes})" if notes else "")
                )
    return dims


def _shown_sizes(spec: Spec, dims: Mapping[str, int], attrs: Mapping[str, Any],
                 arrays: Mapping[str, tuple[str, TensorDecl, tuple[int, ...]]]) -> dict[tuple, int]:
    """Sizes of derived dims that the arrays show but the bound primary dims cannot compute."""
    named = {d.derived.key(): d.derived for d in spec.dims.values() if d.derived is not None and d.source == "formula"}
    shown: dict[tuple, int] = {}
    for _, (_, decl, shape) in arrays.items():
        for dim, size in zip(decl.shape, shape):
            if dim.key() in named and dim.key() not in shown:
                try:
                    dim.evaluate(dims, attrs)
                except ConfigError:
                    shown[dim.key()] = int(size)
    return shown


def known_derived(spec: Spec, dims: Mapping[str, int]) -> dict[tuple, int]:
    """Derived dims given by name in ``dims`` (bound from arrays), by key, for ``known_sizes``."""
    return {d.derived.key(): dims[n] for n, d in spec.dims.items()
            if d.derived is not None and d.source == "formula" and n in dims}


def _size(dim: Dim, dims: Mapping[str, int], attrs: Mapping[str, Any]) -> int:
    return dim.evaluate(dims, attrs)


def tensor_bytes(spec: Spec, dims: Mapping[str, int], attrs: Mapping[str, Any], itemsize: int = 8) -> int:
    """Bytes a reference run holds at once: inputs, states, params, outputs, and the
    input terms precomputed for all timesteps (one output-sized array per gate)."""
    with known_sizes(known_derived(spec, dims)):
        return _tensor_bytes(spec, dims, attrs, itemsize)


def _tensor_bytes(spec: Spec, dims: Mapping[str, int], attrs: Mapping[str, Any], itemsize: int) -> int:
    total = 0
    core = [d for n, d in spec.core_inputs().items() if n in spec.transforms]
    for group in (spec.inputs, spec.initial_states, spec.params, spec.outputs):
        for decl in group.values():
            total += prod(d.evaluate(dims, attrs) for d in decl.shape)
    for decl in core:  # transformed inputs are held besides the inputs
        total += prod(d.evaluate(dims, attrs) for d in decl.shape)
    for decl in spec.outputs.values():
        # hoisted input terms (one output-sized array per gate); a grid also keeps every cell's states
        per = max(len(spec.gates), 1) + (len(spec.states) if spec.is_grid else 0)
        total += per * prod(d.evaluate(dims, attrs) for d in decl.shape)
    return total * itemsize


MEMORY_FRACTION = 0.5  # of the memory available when a run starts; the estimate leaves out each step's temporaries


def available_memory() -> int:
    """Bytes the system can give without swapping now (Linux's MemAvailable), else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def check_memory(spec: Spec, dims: Mapping[str, int], attrs: Mapping[str, Any], itemsize: int = 8, *,
                 extra: int = 0, what: str = "its tensors") -> None:
    """Refuse, before allocating anything, sizes whose tensors (plus ``extra`` bytes the caller
    keeps besides, described by ``what``) would need more than MEMORY_FRACTION of the available memory."""
    need = tensor_bytes(spec, dims, attrs, itemsize) + extra
    have = available_memory()
    if need > MEMORY_FRACTION * have:
        sizes = ", ".join(f"{k}={v}" for k, v in dims.items() if spec.dims[k].derived is None)
        raise ConfigError(
            f"{spec.name} with {sizes} needs about {_human(need)} for {what}; the limit is "
            f"{MEMORY_FRACTION:.0%} of the {_human(have)} of memory available now"
        )


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def leading_axes(spec: Spec, decl: TensorDecl) -> int:
    """Axes before the spatial ones: the batch axis and the recurrence axis where present."""
    return _leading_axes(spec, decl.shape)
