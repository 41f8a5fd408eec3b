"""Hypothesis strategies for any spec: configurations (cases), inputs and parameters.

Derived from the spec's declarations, like the default matrix: every primary
dimension gets a small integer range (kernel dims smaller), every attribute
its declared values, and configurations whose output would be empty are
filtered out. Small sizes keep a fuzzed run fast and make shrunk failures
readable.

    from hypothesis import given
    from lstmspec import load_spec, strategies as lst

    spec = load_spec("convlstm2d")

    @given(lst.cases(spec))
    def test_my_kernel(case): ...
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .check.cases import OPTIONS, Case, make_case
from .errors import ConfigError
from .expr.functions import ACTIVATIONS
from .spec.model import Spec

MAX_SIZE = {"batch": 4, "time": 6}
MAX_KERNEL, MAX_OTHER, MAX_STRIDE = 4, 8, 3


def _dim_max(spec: Spec, name: str) -> int:
    if any(name in members for members in spec.dim_groups.values()):
        return MAX_KERNEL
    return MAX_SIZE.get(name, MAX_OTHER)


def _attribute(attr: Any) -> Any:
    from hypothesis import strategies as st

    if attr.type == "choice":
        return st.sampled_from(list(attr.values))
    if attr.type == "activation":
        return st.sampled_from(ACTIVATIONS)
    if attr.type == "data_format":
        return st.sampled_from(list(attr.values) or ["channels_last", "channels_first"])
    if attr.type == "int":
        return st.sampled_from(list(attr.values)) if attr.values else st.integers(1, MAX_STRIDE)
    if attr.type == "ints":
        n = attr.length or 1
        return st.tuples(*[st.integers(1, MAX_STRIDE)] * n)
    if attr.type == "bool":
        return st.booleans()
    return st.just(attr.default)


def cases(spec: Spec, *, options: bool = True, allowed: Mapping[str, Sequence[Any]] | None = None,
          **fixed: Any) -> Any:
    """Strategy of valid ``Case``s of ``spec``.

    ``fixed`` pins dims, attributes or options by name; ``allowed`` restricts
    names to some values (an implementation's declared support).
    """
    from hypothesis import strategies as st

    allowed = dict(allowed or {})

    def values(name: str, default: Any) -> Any:
        if name in fixed:
            return st.just(fixed[name])
        if name in allowed:
            return st.sampled_from(list(allowed[name]))
        return default

    primary = [n for n, d in spec.dims.items() if d.derived is None]

    @st.composite
    def draw_case(draw: Any) -> Case:
        dims = {n: draw(values(n, st.integers(1, _dim_max(spec, n))), label=n) for n in primary}
        attrs = {n: draw(values(n, _attribute(a)), label=n) for n, a in spec.attributes.items()}
        opts = {}
        if options:
            opts = {n: draw(values(n, st.sampled_from(list(v))), label=n) for n, v in OPTIONS.items()}
        try:
            return make_case(spec, dims, attrs, opts, label="fuzz")
        except ConfigError:
            from hypothesis import assume

            assume(False)
            raise  # unreachable: assume(False) rejects the draw

    return draw_case()


def arrays(shape: tuple[int, ...], scale: float = 1.0) -> Any:
    """Finite float64 arrays in [-scale, scale] (seeded from hypothesis, so shrinkable and replayable)."""
    from hypothesis import strategies as st

    return st.integers(0, 2**32 - 1).map(lambda seed: np.random.default_rng(seed).uniform(-scale, scale, size=shape))


def params(spec: Spec, case: Case) -> Any:
    """Random canonical parameters for ``case`` (well scaled, as ``spec.random_params``)."""
    from hypothesis import strategies as st

    return st.integers(0, 2**32 - 1).map(lambda seed: spec.random_params(case.config, seed, **dict(case.dims)))


def inputs(spec: Spec, case: Case) -> Any:
    """Random ``(x, state)`` for ``case``, in its data format, with nonzero initial states."""
    from hypothesis import strategies as st

    return st.integers(0, 2**32 - 1).map(lambda seed: spec.random_inputs(case.config, seed, **dict(case.dims)))


__all__ = ["cases", "arrays", "params", "inputs"]
