"""Bench suites: which configurations of which specs are timed.

Sizes are set by *role*, not per layer: a spec's dims are read as the batch
(``batch``), the steps (the recurrence axis), the hidden size (last axis of
the first state: ``units``, ``filters``), the features (last axis of the
input: ``input``, ``channels``), and the spatial sizes: for convolutional
specs the ``size`` and ``kernel`` of its derived output dims, for a grid
recurrence (MDLSTM) its scanned axes. So a new spec file gets a standard
case and sweeps without an entry here.

Suites (``lstmspec bench --suite NAME``; ``--list`` prints the cases):

- ``tiny``: one very small case per spec (smoke tests).
- ``standard`` / ``standard-gpu``: one case per spec, CPU-sized / GPU-sized.
- ``deepbench-cpu`` / ``deepbench``: LSTM rows modelled on Baidu DeepBench's
  recurrent training problems, ``(hidden, batch, steps)`` with input = hidden;
  ``deepbench-cpu`` keeps the rows a 2-core CPU times in about a minute.
  DeepBench counts only the recurrent FLOPs (``8*H^2*B*T``); reports show
  that convention next to the textbook one, labelled.
- ``sweeps`` / ``sweeps-gpu``: time against sequence length (which should be
  linear), hidden size and batch for dense specs; against image size for
  convolutional ones.
- ``cpu``: standard + deepbench-cpu + sweeps, what ``reports/timing-cpu.md``
  runs (a few minutes on 2 cores); ``gpu``: the GPU-sized equivalent.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, LookupFailed
from ..expr.dims import ConvOut, Sym
from ..registry import Registry
from ..spec.model import BATCH_DIM, Spec


@dataclass(frozen=True)
class BenchCase:
    spec: str
    dims: tuple[tuple[str, int], ...]
    attrs: tuple[tuple[str, Any], ...] = ()
    label: str = ""
    group: str = "standard"  # "standard" | "deepbench" | "sweep" | "tiny"
    sweep: str = ""  # the swept quantity: "time" | "hidden" | "batch" | "image"
    x: int = 0  # its value in this case (plots' x axis)

    def describe(self) -> str:
        return self.label or ", ".join(f"{k}={v}" for k, v in self.dims)


@dataclass(frozen=True)
class Roles:
    """What each of a spec's primary dims stands for (see module docstring)."""

    batch: str | None
    steps: str | None  # None for a grid recurrence: its steps are the spatial cells
    hidden: str | None
    features: str | None
    spatial: tuple[str, ...]
    kernel: tuple[str, ...]

    @property
    def dense(self) -> bool:
        return not self.spatial


def roles(spec: Spec) -> Roles:
    def last_symbol(shape: tuple) -> str | None:
        return shape[-1].name if shape and isinstance(shape[-1], Sym) else None

    first_state = next(iter(spec.states.values()), None)
    first_input = next(iter(spec.inputs.values()), None)
    spatial, kernel = [], []
    grid = bool(getattr(spec.recurrence, "is_grid", False))
    if grid:
        spatial += list(spec.recurrence.scan_axes)
    for decl in spec.dims.values():
        if isinstance(decl.derived, ConvOut):
            spatial += sorted(decl.derived.size.symbols())
            kernel += sorted(decl.derived.kernel.symbols())
    def primary(name: str | None) -> str | None:
        """Only sizes one can set: a derived dim (a conv output, a transform's axis) has no role."""
        decl = spec.dims.get(name) if name else None
        return name if decl is not None and decl.derived is None else None

    return Roles(
        batch=primary(BATCH_DIM),
        steps=None if grid else primary(spec.recurrence.axis),
        hidden=primary(last_symbol(first_state.shape) if first_state else None),
        features=primary(last_symbol(first_input.shape) if first_input else None),
        spatial=tuple(d for d in dict.fromkeys(spatial) if primary(d)),
        kernel=tuple(d for d in dict.fromkeys(kernel) if primary(d)),
    )


@dataclass(frozen=True)
class Sizes:
    """Base sizes of a profile; dense and convolutional specs get their own."""

    batch: int
    steps: int
    hidden: int
    features: int
    conv_batch: int
    conv_steps: int
    conv_hidden: int
    conv_features: int
    spatial: int  # per spatial axis of a 1-d or 2-d spec
    spatial_3d: int
    kernel: int = 3
    hidden_up_to: int = 4  # the hidden sweep goes from hidden/4 to hidden*hidden_up_to


CPU = Sizes(batch=16, steps=50, hidden=256, features=256, conv_batch=4, conv_steps=10, conv_hidden=16,
            conv_features=8, spatial=32, spatial_3d=12, hidden_up_to=2)
GPU = Sizes(batch=64, steps=100, hidden=1024, features=1024, conv_batch=16, conv_steps=20, conv_hidden=64,
            conv_features=16, spatial=64, spatial_3d=24)
TINY = Sizes(batch=2, steps=3, hidden=8, features=4, conv_batch=1, conv_steps=2, conv_hidden=4, conv_features=2,
             spatial=6, spatial_3d=4)


def base_case(spec: Spec, sizes: Sizes) -> tuple[dict[str, int], dict[str, Any]]:
    """The standard dims and attributes of ``spec`` at ``sizes``; other dims keep the spec's defaults."""
    r = roles(spec)
    dims: dict[str, int] = {}
    attrs: dict[str, Any] = {}
    if r.dense:
        values = {r.batch: sizes.batch, r.steps: sizes.steps, r.hidden: sizes.hidden, r.features: sizes.features}
    else:
        values = {r.batch: sizes.conv_batch, r.steps: sizes.conv_steps, r.hidden: sizes.conv_hidden,
                  r.features: sizes.conv_features}
        side = sizes.spatial_3d if len(r.spatial) >= 3 else sizes.spatial
        values.update({d: side for d in r.spatial})
        values.update({d: sizes.kernel for d in r.kernel})
        if "padding" in spec.attributes and "same" in (spec.attributes["padding"].values or ()):
            attrs["padding"] = "same"  # states keep the input's size, as in most uses
    dims = {k: values[k] for k in spec.dims if k in values}  # in the spec's order
    return dims, attrs


def _case(spec: Spec, dims: dict[str, int], attrs: dict[str, Any], label: str, group: str, sweep: str = "",
          x: int = 0) -> BenchCase:
    """A case, checked: sizes that give an empty output (a kernel or stride larger than the input) raise."""
    try:
        spec.resolve_dims(dims, spec.resolve_config(attrs))
    except ConfigError as exc:
        raise ConfigError(f"the {group} sizes {_size_label(spec, dims)} do not fit spec {spec.name}: {exc}") from None
    return BenchCase(spec.name, tuple(dims.items()), tuple(attrs.items()), label, group, sweep, x)


def _fitting(make: Any) -> list[BenchCase]:
    """The cases of a sweep whose sizes fit the spec (small images may not)."""
    out = []
    for args in make:
        try:
            out.append(_case(*args))
        except ConfigError:
            continue
    return out


def _size_label(spec: Spec, dims: dict[str, int]) -> str:
    """``batch=4 time=10 ... kernel_size=3x3``: a dim group's members folded into one entry."""
    parts, done = [], set()
    for name, value in dims.items():
        if name in done:
            continue
        group = next((g for g, members in spec.dim_groups.items() if name in members
                      and all(m in dims for m in members)), None)
        if group is None:
            parts.append(f"{name}={value}")
            continue
        members = spec.dim_groups[group]
        done.update(members)
        parts.append(f"{group}={'x'.join(str(dims[m]) for m in members)}")
    return " ".join(parts)


def standard(spec: Spec, sizes: Sizes, group: str = "standard") -> list[BenchCase]:
    dims, attrs = base_case(spec, sizes)
    extra = "".join(f" {k}={v}" for k, v in attrs.items())
    return [_case(spec, dims, attrs, _size_label(spec, dims) + extra, group)]


#: (hidden, batch, steps) of DeepBench's LSTM training problems (baidu-research/DeepBench, rnn_problems.h).
DEEPBENCH_LSTM: tuple[tuple[int, int, int], ...] = (
    (512, 16, 25), (512, 32, 25), (512, 64, 25), (512, 128, 25),
    (1024, 16, 25), (1024, 32, 25), (1024, 64, 25), (1024, 128, 25),
    (2048, 16, 25), (2048, 32, 25), (2048, 64, 25), (2048, 128, 25),
    (4096, 16, 25), (4096, 32, 25), (4096, 64, 25), (4096, 128, 25),
    (1536, 8, 50), (1536, 16, 50), (1536, 32, 50),
    (256, 16, 150), (256, 32, 150), (256, 64, 150),
)
#: The rows a 2-core CPU times in about a minute per implementation set.
DEEPBENCH_CPU: tuple[tuple[int, int, int], ...] = (
    (512, 16, 25), (1024, 16, 25), (1536, 8, 50), (256, 16, 150), (256, 64, 150),
)


def deepbench(spec: Spec, rows: Sequence[tuple[int, int, int]]) -> list[BenchCase]:
    r = roles(spec)
    if not r.dense:
        raise ConfigError(f"the DeepBench suites time dense recurrent layers; spec {spec.name} has spatial "
                          f"dims {', '.join(r.spatial)}")
    missing = [role for role in ("batch", "steps", "hidden", "features") if getattr(r, role) is None]
    if missing:
        raise ConfigError(f"the DeepBench suites set batch, steps, hidden and input sizes; spec {spec.name} "
                          f"has no settable {' or '.join(missing)} dim")
    cases = []
    for hidden, batch, steps in rows:
        dims = {r.batch: batch, r.steps: steps, r.features: hidden, r.hidden: hidden}
        cases.append(_case(spec, {k: v for k, v in dims.items() if k}, {},
                           f"H={hidden} B={batch} T={steps}", "deepbench"))
    return cases


SWEEPS = ("time", "hidden", "batch", "image")


def sweep(spec: Spec, sizes: Sizes, kind: str) -> list[BenchCase]:
    """One quantity varied around the standard case, the rest fixed."""
    r = roles(spec)
    dims, attrs = base_case(spec, sizes)
    points: list[tuple] = []
    if kind == "time" and r.steps:
        base = dims[r.steps]
        for v in [max(1, base * k // 4) for k in (1, 2, 4, 8, 16)]:  # base/4 ... 4*base
            points.append((spec, {**dims, r.steps: v}, attrs, f"{r.steps}={v}", "sweep", "time", v))
    elif kind == "hidden" and r.hidden:
        base = dims[r.hidden]
        factors = [f for f in (1, 2, 4, 8, 16) if f <= 4 * sizes.hidden_up_to]
        for v in (base * f // 4 for f in factors):
            changed = {r.hidden: v}
            if r.dense and r.features:
                changed[r.features] = v  # input = hidden, as DeepBench
            label = " ".join(f"{k}={x}" for k, x in changed.items())
            points.append((spec, {**dims, **changed}, attrs, label, "sweep", "hidden", v))
    elif kind == "batch" and r.batch:
        base = dims[r.batch]
        for v in sorted({max(1, base // 16), max(1, base // 4), base, base * 4}):
            points.append((spec, {**dims, r.batch: v}, attrs, f"{r.batch}={v}", "sweep", "batch", v))
    elif kind == "image" and r.spatial:
        base = dims[r.spatial[0]]
        for v in (base // 4, base // 2, base, base * 2):
            label = "x".join(str(v) for _ in r.spatial)
            points.append((spec, {**dims, **{d: v for d in r.spatial}}, attrs, f"image {label}", "sweep", "image", v))
    return _fitting(points)


def sweeps(spec: Spec, sizes: Sizes) -> list[BenchCase]:
    """time, hidden and batch for a dense spec; image for a convolutional or grid one."""
    kinds = ("time", "hidden", "batch") if roles(spec).dense else ("image",)
    return [c for kind in kinds for c in sweep(spec, sizes, kind)]


@dataclass(frozen=True)
class Suite:
    name: str
    doc: str
    build: Callable[[Spec], list[BenchCase]]
    default_specs: tuple[str, ...] | None = None  # None: every shipped spec

    def cases(self, specs: Sequence[Spec], *, explicit: bool, notes: list[str] | None = None) -> list[BenchCase]:
        """Cases for ``specs``; a spec named on the command line that the suite does not cover is an
        error (the builder's ConfigError says why), one taken by default is left out (with a note)."""
        out: list[BenchCase] = []
        for spec in specs:
            try:
                out += self.build(spec)
            except ConfigError as exc:
                if explicit:
                    raise
                if notes is not None:
                    notes.append(f"suite {self.name}: no case for {spec.name}: {exc}")
        return out


def _deepbench_or_none(spec: Spec, rows: Sequence[tuple[int, int, int]]) -> list[BenchCase]:
    try:
        return deepbench(spec, rows)
    except ConfigError:
        return []


SUITES: Registry[Suite] = Registry("bench suite")
for _suite in (
    Suite("tiny", "one very small case per spec", lambda s: standard(s, TINY, "tiny")),
    Suite("standard", "one CPU-sized case per spec", lambda s: standard(s, CPU)),
    Suite("standard-gpu", "one GPU-sized case per spec", lambda s: standard(s, GPU)),
    Suite("deepbench-cpu", "DeepBench LSTM rows a 2-core CPU can time, dense specs only",
          lambda s: deepbench(s, DEEPBENCH_CPU), ("lstm",)),
    Suite("deepbench", "DeepBench's LSTM training rows (H, B, T), input = hidden, dense specs only",
          lambda s: deepbench(s, DEEPBENCH_LSTM), ("lstm",)),
    Suite("sweeps", "time, hidden and batch sweeps (dense) or image sweep (conv), CPU-sized",
          lambda s: sweeps(s, CPU), ("lstm", "convlstm2d")),
    Suite("sweeps-gpu", "the sweeps, GPU-sized", lambda s: sweeps(s, GPU), ("lstm", "convlstm2d")),
    Suite("cpu", "standard + deepbench-cpu + sweeps: reports/timing-cpu.md",
          lambda s: standard(s, CPU) + _deepbench_or_none(s, DEEPBENCH_CPU) + sweeps(s, CPU),
          ("lstm", "convlstm2d")),
    Suite("gpu", "standard-gpu + deepbench + GPU sweeps: reports/timing-cuda.md",
          lambda s: standard(s, GPU) + _deepbench_or_none(s, DEEPBENCH_LSTM) + sweeps(s, GPU),
          ("lstm", "convlstm2d")),
):
    SUITES.register(_suite.name, _suite)


def get_suite(name: str) -> Suite:
    try:
        return SUITES.get(name)
    except LookupFailed:
        raise LookupFailed("bench suite", name, SUITES.names()) from None


__all__ = ["BenchCase", "Roles", "roles", "Sizes", "CPU", "GPU", "TINY", "DEEPBENCH_LSTM", "DEEPBENCH_CPU",
           "Suite", "SUITES", "get_suite", "standard", "deepbench", "sweep", "sweeps", "base_case"]
