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
    # how it is derived: "conv" or "formula" (shapes hold the formula, so inference can
    # compare it), "transform" (the size of a transform's output axis; shapes hold the name)
    source: str = ""


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
    """How the equations are iterated.

    ``sequence``: over one axis (time); a state name in an equation is its
    value at the previous step. ``grid``: over several axes at once
    (``axes = ["rows", "cols"]``, MDLSTM); an equation reads a state only
    through a declared *predecessor* (``h_up``: the state ``h`` of the cell
    one step back along one axis), and the states before the first cell
    along each axis are declared boundaries (``h_row0``), the initial states
    a kernel is given. ``directions`` maps each value of the direction
    attribute to +1 (from the first index up) or -1 (from the last index
    down) per axis: the four scan directions of a 2-D LSTM.
    """

    kind: str
    axis: str  # sequence: the iterated axis; grid: the first of ``axes`` (reports name it as the step axis)
    # Name of a choice attribute, or None. Sequence: values forward|reverse; in
    # the reverse direction the sequence is processed from its last step to its
    # first, and output step t is the one computed at input position t (ONNX's
    # convention; frameworks that return processing order are re-aligned by
    # their adapter, which states so). Grid: values are the keys of ``directions``.
    direction: str | None = None
    axes: tuple[str, ...] = ()
    directions: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def is_grid(self) -> bool:
        return self.kind == "grid"

    @property
    def scan_axes(self) -> tuple[str, ...]:
        return self.axes or (self.axis,)

    def reversed(self, attrs: Mapping[str, Any]) -> bool:
        return not self.is_grid and self.direction is not None and attrs.get(self.direction) == "reverse"

    def signs(self, attrs: Mapping[str, Any]) -> tuple[int, ...]:
        """Per scanned axis +1 (first index first) or -1 (last index first) for these attributes."""
        if self.is_grid:
            if self.direction is None:
                return (1,) * len(self.axes)
            return dict(self.directions)[attrs.get(self.direction)]
        return (-1,) if self.reversed(attrs) else (1,)


@dataclass(frozen=True)
class Predecessor:
    """A grid recurrence's view of a state at a neighbouring cell: ``h_up = { state = "h", offset = [-1, 0] }``.

    ``offset`` is -1 along one axis and 0 along the others, in scan order (the
    cell scanned just before along that axis, whatever the direction). Cells
    on the first row (first index along ``axis``) read ``boundary`` instead:
    a declared initial state holding one value per position along the other axes.
    """

    name: str
    state: str
    offset: tuple[int, ...]
    boundary: str
    doc: str = ""
    line: int | None = None

    @property
    def axis(self) -> int:
        return self.offset.index(-1)


@dataclass(frozen=True)
class Transform:
    """A whole-tensor op on a declared input whose result the equations read (``x = rows(image)``).

    ``op`` is a registered op or a choice attribute naming one (``scan``:
    rows or cols); ``options`` hold Dims (``step``) and plain values.
    """

    name: str
    op: str
    source: str
    options: tuple[tuple[str, Any], ...]
    shape: Shape
    doc: str = ""
    line: int | None = None

    def op_name(self, attrs: Mapping[str, Any]) -> str:
        return str(attrs.get(self.op, self.op))

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class Stage:
    """One stage of a pipeline (``[stages]``): shapes only, in the order written."""

    name: str
    op: str
    source: str | None
    options: tuple[tuple[str, Any], ...]
    shape: Shape
    doc: str = ""
    line: int | None = None

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


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
    predecessors: dict[str, Predecessor] = field(default_factory=dict)  # grid recurrences
    boundaries: dict[str, TensorDecl] = field(default_factory=dict)  # grid: the initial states, derived
    transforms: dict[str, Transform] = field(default_factory=dict)
    stages: tuple[Stage, ...] = ()
    extends: str | None = None  # the spec whose declarations this one starts from
    # the specs it extends whose equations it keeps, nearest first (cnn_lstm: row_lstm, lstm): a framework
    # layer implementing one of them implements this spec, fed its transforms
    lineage: tuple[str, ...] = ()
    example: dict[str, int] = field(default_factory=dict)  # sizes of the worked example in reports/shapes.md
    trace_example: bool = False  # True: `lstmspec trace` uses the example's sizes too (small enough to read)

    # ------------------------------------------------------------ recurrence
    @property
    def is_grid(self) -> bool:
        return self.recurrence.is_grid

    @property
    def initial_states(self) -> dict[str, TensorDecl]:
        """What the ``state`` argument of the reference and of a kernel holds (and the final state returns).

        Sequence: the states. Grid: the boundaries, e.g. ``h_row0`` (batch, cols, units)
        and ``h_col0`` (batch, rows, units); their final values are the states on the
        last row and column scanned, the boundary a continuation of the scan would read.
        """
        return self.boundaries if self.is_grid else self.states

    @property
    def first_input(self) -> TensorDecl:
        """The declared input a kernel is given as ``x`` (an image, for a spec that transforms it)."""
        return next(iter(self.inputs.values()))

    @property
    def first_output(self) -> TensorDecl:
        """The output the reference and a kernel return as ``y``: every step's (cell's) value."""
        return next(iter(self.outputs.values()))

    @property
    def core_input(self) -> TensorDecl:
        """The input the equations read: the transform of ``first_input`` where there is one."""
        return next(iter(self.core_inputs().values()))

    def time_axis(self, decl: TensorDecl) -> int:
        """Position of the recurrence axis (the first scanned axis of a grid) in ``decl``'s shape."""
        return [d.render() for d in decl.shape].index(self.recurrence.axis)

    def recurrent_names(self) -> set[str]:
        """Names whose value comes from earlier steps: states (sequence) or predecessors (grid)."""
        return set(self.predecessors) if self.is_grid else set(self.states)

    def core_inputs(self) -> dict[str, TensorDecl]:
        """The inputs the equations read: transforms in place of the inputs they read."""
        sources = {t.source for t in self.transforms.values()}
        out = {n: d for n, d in self.inputs.items() if n not in sources}
        for t in self.transforms.values():
            out[t.name] = TensorDecl(t.name, t.shape, t.doc, line=t.line)
        return out

    # ----------------------------------------------------------------- shapes
    def step_shape(self, decl: TensorDecl) -> Shape:
        """Shape of one step (one cell of a grid) of a tensor: the recurrence axes removed."""
        axes = {Sym(a) for a in self.recurrence.scan_axes}
        return tuple(d for d in decl.shape if d not in axes)

    def name_shapes(self) -> dict[str, Shape]:
        """Shapes of the names an equation can use (inputs per step, previous states or predecessors,
        params, attributes)."""
        shapes: dict[str, Shape] = {}
        for decl in self.core_inputs().values():
            shapes[decl.name] = self.step_shape(decl)
        if self.is_grid:
            for pred in self.predecessors.values():
                if pred.state in self.states:
                    shapes[pred.name] = self.states[pred.state].shape
        else:
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
        """Run the equations over the whole sequence (every cell of a grid): ``(y, final_state)``.

        ``x`` is the declared input (an image, for a spec that transforms it);
        ``state`` holds ``spec.initial_states`` (a grid's boundaries).
        ``y`` holds every timestep's output; float64 numpy by default (the
        oracle); ``backend="torch"`` evaluates the same program with torch so
        that autograd can differentiate the spec's own equations. The kernel
        protocol's ``return_sequences`` in ``config`` is accepted and ignored (``y``
        always holds every step), so ``spec.reference`` is itself a kernel.
        """
        if config and "return_sequences" in config and "return_sequences" not in self.attributes:
            config = {k: v for k, v in config.items() if k != "return_sequences"}
        return _reference().run_reference(self, x, state, params, config, backend=backend)

    def random_params(self, config: Mapping[str, Any] | None = None, rng: Any = None, **dims: int) -> dict[str, Any]:
        """Well-scaled random canonical parameters (uniform ±1/sqrt(fan_in))."""
        return _reference().random_params(self, config, rng, dims)

    def random_inputs(
        self, config: Mapping[str, Any] | None = None, rng: Any = None, **dims: int
    ) -> tuple[Any, dict[str, Any]]:
        """A random input ``x`` and nonzero initial states, laid out as ``config['data_format']`` says."""
        return _reference().random_inputs(self, config, rng, dims)

    def __repr__(self) -> str:
        return f"Spec({self.name!r}, path={self.path!r})"


def _reference() -> Any:
    """The reference layer, imported on first use: it sits above the spec layer (it reads specs), so this
    facade is the spec layer's one import that looks up."""
    from ..reference import facade

    return facade
