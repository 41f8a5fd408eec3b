"""Well-scaled random parameters, inputs and nonzero initial states for any spec.

Scales are chosen so that gates are neither saturated nor linear: weights are
uniform in ±1/sqrt(fan_in) (fan_in: every axis but the last, so a 3x3 conv
kernel over C channels has fan_in 9*C), biases and peephole-like parameters
(no input axis) in ±0.5, inputs in ±1, initial states in ±0.5 (nonzero, so
that an implementation ignoring them fails).
"""
from __future__ import annotations

from collections.abc import Mapping
from math import prod, sqrt
from typing import Any

import numpy as np

from ..spec.model import Spec
from .binding import check_memory, leading_axes
from .data_format import data_format, to_format


def _rng(rng: Any) -> np.random.Generator:
    if rng is None or isinstance(rng, int):
        return np.random.default_rng(rng)
    return rng


def _resolve(spec: Spec, config: Mapping[str, Any] | None, dims: Mapping[str, int]):
    attrs = spec.resolve_config(config)
    sizes = spec.resolve_dims(dims, attrs)
    check_memory(spec, sizes, attrs)
    return attrs, sizes


def random_params(spec: Spec, config: Mapping[str, Any] | None, rng: Any, dims: Mapping[str, int]) -> dict[str, np.ndarray]:
    attrs, sizes = _resolve(spec, config, dims)
    gen = _rng(rng)
    out = {}
    for name, decl in spec.params.items():
        shape = spec.concrete_shape(decl, sizes, attrs)
        is_weight = len(shape) >= 2 and not _is_state_shaped(spec, decl)
        scale = 1.0 / sqrt(prod(shape[:-1])) if is_weight else 0.5
        out[name] = gen.uniform(-scale, scale, size=shape)
    return out


def _is_state_shaped(spec: Spec, decl) -> bool:
    """A Hadamard parameter (ConvLSTM peephole) has a state's shape without batch."""
    return len(decl.shape) >= 2 and any(decl.shape == state.shape[1:] for state in spec.states.values())


def random_inputs(
    spec: Spec, config: Mapping[str, Any] | None, rng: Any, dims: Mapping[str, int]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    attrs, sizes = _resolve(spec, config, dims)
    gen = _rng(rng)
    fmt = data_format(attrs)
    input_decl = spec.first_input
    x = gen.uniform(-1.0, 1.0, size=spec.concrete_shape(input_decl, sizes, attrs))
    x = np.ascontiguousarray(to_format(x, leading_axes(spec, input_decl), fmt))
    state = {}
    for name, decl in spec.initial_states.items():
        value = gen.uniform(-0.5, 0.5, size=spec.concrete_shape(decl, sizes, attrs))
        state[name] = np.ascontiguousarray(to_format(value, leading_axes(spec, decl), fmt))
    return x, state
