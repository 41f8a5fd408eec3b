"""The validated, typed form of a spec file.

A ``Spec`` is what every other part of lstmspec reads: the reference, lint,
shape tables, the typesetter and (later) adapters. It is built by
``lstmspec.spec.loader`` and does not change afterwards.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..expr.dims import Dim, Shape, Sym, evaluate_shape
from ..expr.ir import Node
from .attributes import Attribute
from .layouts import Layout

#: The dimension that is the batch axis of inputs and states (data formats keep it first).
BATCH_DIM = "batch"


@dataclass(frozen=True)
class DimDecl:
    name: str
    doc: str
    default: int | None
    derived: Dim | None = None  # e.g. the output size of a convolution axis


@dataclass(frozen=True)
class TensorDecl:
    """An input, parameter, state or output: a name, a symbolic shape, a doc."""

    name: str
    shape: Shape
    doc: str = ""
    next: str | None = None  # states: the equation that gives the next value
    step: str | None = None  # outputs: the equation giving each timestep's value
    line: int | None = None


@dataclass(frozen=True)
class Equation:
    name: str
    text: str
    node: Node
    line: int | None = None


@dataclass(frozen=True)
class Recurrence:
    """How the equations are iterated. ``sequence``: over one axis (time).

    The language leaves room for grid recurrences (``kind = "grid"`` with
    several axes and named predecessor states, as MDLSTM needs); only
    ``sequence`` is implemented so far.
    """

    kind: str
    axis: str
    # Name of a choice attribute with values forward|reverse, or None. In the
    # reverse direction the sequence is processed from its last step to its
    # first, and output step t is the one computed at input position t (ONNX's
    # convention; frameworks that return processing order are re-aligned by
    # their adapter, which states so).
    direction: str | None = None

    def reversed(self, attrs: Mapping[str, Any]) -> bool:
        return self.direction is not None and attrs.get(self.direction) == "reverse"


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    description: str
    references: tuple[str, ...]
    path: str
    dims: dict[str, DimDecl]
    dim_groups: dict[str, tuple[str, ...]]
    attributes: dict[str, Attribute]
    recurrence: Recurrence
    inputs: dict[str, TensorDecl]
    params: dict[str, TensorDecl]
    states: dict[str, TensorDecl]
    outputs: dict[str, TensorDecl]
    equations: dict[str, Equation]
    order: tuple[str, ...]  # equations in dependency order
    gates: dict[str, str]  # gate equation name -> description
    layouts: dict[str, Layout]
    _programs: dict = field(default_factory=dict, compare=False, repr=False)

    # ----------------------------------------------------------------- shapes
    def step_shape(self, decl: TensorDecl) -> Shape:
        """Shape of one timestep of a tensor: the recurrence axis removed."""
        return tuple(d for d in decl.shape if d != Sym(self.recurrence.axis))

    def name_shapes(self) -> dict[str, Shape]:
        """Shapes of the names an equation can use (inputs per step, previous states, params, attributes)."""
        shapes: dict[str, Shape] = {}
        for decl in self.inputs.values():
            shapes[decl.name] = self.step_shape(decl)
        for decl in self.states.values():
            shapes[decl.name] = decl.shape
        for decl in self.params.values():
            shapes[decl.name] = decl.shape
        for attr in self.attributes.values():
            if attr.type == "float":
                shapes[attr.name] = ()
        return shapes

    def param_shapes(self) -> dict[str, Shape]:
        return {n: d.shape for n, d in self.params.items()}

    def layout(self, name: str) -> Layout:
        from ..errors import LookupFailed

        try:
            return self.layouts[name]
        except KeyError:
            raise LookupFailed(f"layout of spec {self.name}", name, self.layouts) from None

    # ------------------------------------------------------------ configuration
    def resolve_config(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every attribute with a checked value: the defaults overridden by ``config``.

        Unknown keys are an error (a typo in ``padding`` must not silently
        fall back to the default).
        """
        config = dict(config or {})
        unknown = sorted(set(config) - set(self.attributes))
        if unknown:
            raise ConfigError(
                f"spec {self.name} has no attribute {unknown[0]!r}; attributes: {', '.join(self.attributes) or '(none)'}"
            )
        return {name: attr.check(config[name]) if name in config else attr.default for name, attr in self.attributes.items()}

    def resolve_dims(self, dims: Mapping[str, int] | None = None, attrs: Mapping[str, Any] | None = None) -> dict[str, int]:
        """All dims (primary from ``dims`` or the spec's defaults, derived ones computed).

        Raises ConfigError for unknown, non-integer or non-positive sizes and
        for a derived size below 1 (a kernel larger than the padded input).
        """
        dims = dict(dims or {})
        attrs = self.resolve_config(attrs) if attrs is None or set(attrs) != set(self.attributes) else dict(attrs)
        out: dict[str, int] = {}
        for name in dims:
            if name not in self.dims:
                raise ConfigError(f"spec {self.name} has no dimension {name!r}; dimensions: {', '.join(self.dims)}")
            if self.dims[name].derived is not None:
                raise ConfigError(f"dimension {name!r} is derived ({self.dims[name].derived.render(attrs)}); it cannot be set")
        for name, decl in self.dims.items():
            if decl.derived is not None:
                continue
            value = dims.get(name, decl.default)
            if value is None:
                raise ConfigError(f"dimension {name!r} needs a value (it has no default)")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"Expected a positive integer but got {name}={value!r}")
            if value < 1:
                raise ConfigError(f"Expected a positive integer but got {name}={value}")
            out[name] = value
        for name, decl in self.dims.items():
            if decl.derived is not None:
                value = decl.derived.evaluate(out, attrs)
                if value < 1:
                    raise ConfigError(
                        f"empty output: {name} = {decl.derived.render(attrs)} = {value} "
                        f"(the kernel is larger than the padded input)"
                    )
                out[name] = value
        return out

    def concrete_shape(self, decl: TensorDecl, dims: Mapping[str, int], attrs: Mapping[str, Any]) -> tuple[int, ...]:
        return evaluate_shape(decl.shape, dims, attrs)

    # ---------------------------------------------------------------- reference
    def reference(
        self,
        x: Any,
        state: Mapping[str, Any],
        params: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        *,
        backend: str = "numpy",
    ) -> tuple[Any, dict[str, Any]]:
        """Run the equations over the whole sequence: ``(y, final_state)``.

        ``y`` holds every timestep's output; float64 numpy by default (the
        oracle); ``backend="torch"`` evaluates the same program with torch so
        that autograd can differentiate the spec's own equations.
        """
        from ..reference.program import run_reference

        return run_reference(self, x, state, params, config, backend=backend)

    def random_params(self, config: Mapping[str, Any] | None = None, rng: Any = None, **dims: int) -> dict[str, Any]:
        """Well-scaled random canonical parameters (uniform ±1/sqrt(fan_in))."""
        from ..reference.random import random_params

        return random_params(self, config, rng, dims)

    def random_inputs(
        self, config: Mapping[str, Any] | None = None, rng: Any = None, **dims: int
    ) -> tuple[Any, dict[str, Any]]:
        """A random input ``x`` and nonzero initial states, laid out as ``config['data_format']`` says."""
        from ..reference.random import random_inputs

        return random_inputs(self, config, rng, dims)

    def __repr__(self) -> str:
        return f"Spec({self.name!r}, path={self.path!r})"
