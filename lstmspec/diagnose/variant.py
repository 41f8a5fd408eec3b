"""A known deviation: the spec's own reference, run with exactly one thing done differently.

A ``Variant`` never computes an LSTM itself. Its ``run`` transforms the
case's inputs, parameters or attributes, or edits a copy of the spec's
equations, and calls the spec's reference (``Inputs.reference``); what comes
back is what an implementation with that one bug would return. So the
catalogue works for every spec whose equations have the structure a variant
looks for (``applies``), and each variant's math is a few lines that can be
checked by eye.

Variants see the case in channels-last layout (``Inputs``); the engine
converts the result back to the case's data format.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import MANTISSA, Precision
from ..reference.binding import leading_axes
from ..reference.data_format import CHANNELS_LAST, data_format, from_format
from ..reference.run import run_reference
from ..registry import Registry
from ..spec.model import Spec
from .anatomy import Anatomy, anatomy

Result = tuple[np.ndarray, dict[str, np.ndarray]]


@dataclass(frozen=True)
class Inputs:
    """One case as a variant sees it: float64, channels last, attributes resolved."""

    spec: Spec
    x: np.ndarray
    state: Mapping[str, np.ndarray]
    params: Mapping[str, np.ndarray]
    attrs: Mapping[str, Any]
    mantissa: int = 53  # of the precision under test: a rounding is only a deviation if coarser
    #: the case's side generators (CaseData.rng): "bias split" redoes the split a framework layout was given
    rng: Callable[[str], np.random.Generator] | None = None

    @classmethod
    def from_data(cls, data: CaseData, precision: Precision | None = None) -> "Inputs":
        spec, attrs = data.spec, dict(data.attrs)
        fmt = data_format(attrs)
        x = from_format(data.x, leading_axes(spec, spec.first_input), fmt)
        state = {k: from_format(v, leading_axes(spec, spec.initial_states[k]), fmt) for k, v in data.state.items()}
        if "data_format" in attrs:
            attrs["data_format"] = CHANNELS_LAST
        mantissa = precision.mantissa if precision is not None else MANTISSA["float64"]
        return cls(spec, np.asarray(x, dtype=np.float64), state, dict(data.params), attrs, mantissa, data.rng)

    @property
    def anatomy(self) -> Anatomy:
        return anatomy(self.spec)

    @property
    def time_axis(self) -> int:
        return self.spec.time_axis(self.spec.first_input)

    @property
    def out_time_axis(self) -> int:
        return self.spec.time_axis(self.spec.first_output)

    @property
    def reversed(self) -> bool:
        return self.spec.recurrence.reversed(self.attrs)

    def but(self, **changes: Any) -> "Inputs":
        """A copy with some fields changed; ``attrs``/``params``/``state`` changes are merged."""
        for name in ("attrs", "params", "state"):
            if name in changes:
                changes[name] = {**getattr(self, name), **changes[name]}
        return replace(self, **changes)

    def reference(self, spec: Spec | None = None) -> Result:
        y, final = run_reference(spec or self.spec, self.x, self.state, self.params, self.attrs)
        return np.asarray(y), {k: np.asarray(v) for k, v in final.items()}


@dataclass(frozen=True)
class Variant:
    """One entry of the catalogue.

    ``name`` completes the sentence "matches <spec> with ..."; ``note``, where
    given, says what the name means on this spec (which parameters moved).
    """

    name: str
    family: str
    rank: int  # the engine tries low ranks first: cheap and common deviations
    doc: str
    applies: Callable[[Inputs], bool]
    run: Callable[[Inputs], Result]
    note: Callable[[Inputs], str] | None = None


VARIANTS: Registry[Variant] = Registry("deviation")


def register(name: str, family: str, rank: int, doc: str, applies: Callable[[Inputs], bool],
             run: Callable[[Inputs], Result], note: Callable[[Inputs], str] | None = None) -> Variant:
    return VARIANTS.register(name, Variant(name, family, rank, doc, applies, run, note))


#: Makers of the entries a spec's own names spell (its gates, states, peepholes): "gate order i,o,f,g",
#: "initial h ignored (zeros used)". Each takes the spec and yields ``register``'s arguments.
Maker = Callable[[Spec], Iterable[tuple]]
_MAKERS: list[Maker] = []


def per_spec(maker: Maker) -> Maker:
    """Register ``maker``: the catalogue entries it yields for a spec join ``VARIANTS`` when that spec is
    diagnosed (``expand``). An entry another spec already registered under the same name is kept: a name
    says what the deviation does relative to the spec diagnosed ("block k drives gate order[k]"), and its
    ``applies`` decides for each case."""
    _MAKERS.append(maker)
    return maker


def expand(spec: Spec) -> None:
    """Register the entries that ``spec``'s gates, states and peepholes name (once per name)."""
    for maker in _MAKERS:
        for args in maker(spec):
            if args[0] not in VARIANTS:
                register(*args)


def ordered(names: list[str] | None = None, spec: Spec | None = None) -> list[Variant]:
    """The catalogue (or the named part of it) in the order the engine tries it; with ``spec``,
    the entries its own names spell included."""
    if spec is not None:
        expand(spec)
    variants = [VARIANTS.get(n) for n in (names if names is not None else VARIANTS.names())]
    return sorted(variants, key=lambda v: v.rank)


# ------------------------------------------------------------- run helpers
def stepwise(inp: Inputs, *, before: Callable[[int, dict], dict] | None = None,
             after: Callable[[int, dict], dict] | None = None) -> Result:
    """The reference one timestep at a time, in processing order, with a hook on
    the state before and after each step (``k`` counts processed steps)."""
    tx, ty = inp.time_axis, inp.out_time_axis
    steps = inp.x.shape[tx]
    order = range(steps - 1, -1, -1) if inp.reversed else range(steps)
    ys: list[Any] = [None] * steps
    state = dict(inp.state)
    for k, t in enumerate(order):
        if before is not None:
            state = before(k, state)
        one = replace(inp, x=np.take(inp.x, [t], axis=tx), state=state)
        y, state = one.reference()
        if after is not None:
            state = after(k, state)
        ys[t] = y
    return np.concatenate(ys, axis=ty), state


def spatial_axes(a: np.ndarray, lead: int) -> tuple[int, ...]:
    """Axes between the leading (batch, time) axes and the channels of a channels-last array."""
    return tuple(range(lead, a.ndim - 1))


__all__ = ["Inputs", "Variant", "VARIANTS", "register", "per_spec", "expand", "ordered", "stepwise"]
