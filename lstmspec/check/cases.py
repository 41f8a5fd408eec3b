"""Check cases: one configuration of a spec (sizes, attributes, options) and its seed.

The default matrix is derived from the spec's declarations, not written per
layer: every value of every choice attribute (padding), 1 and 2 for every
integer attribute (step) and per-axis integer attribute (strides, dilation),
odd and even sizes for every kernel dim group, all in one product; then every
choice value once more with the spec's default (non-square) kernel and with
per-axis attributes whose axes differ (strides 2x1, dilation 1x2: the
product's are square, so a kernel reading strides[0] for every axis would pass
it); then, one at a time, every activation for every activation attribute, the
other data format, one timestep (a grid: one row, and one column; an axis
derived from an image: the image that gives one step), a batch of one, a zero
initial state left to the framework's default, and only the last output
(``return_sequences`` off). The spec's default sizes are non-square with
batch != time, so every case carries those too.

A case is named by its *key*, ``batch=2,time=3,...,padding=same,strides=2x2``:
the key plus the run's seed replays it exactly (``--case KEY --seed S``).
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

from ..errors import ConfigError
from ..expr.functions import ACTIVATIONS
from ..registry import Registry
from ..spec.attributes import Attribute
from ..spec.model import Spec

#: Case options that are not spec attributes: how the case is fed to an implementation.
OPTIONS = {
    "state": ("random", "zeros"),  # zeros: no initial state is passed (framework default)
    "return_sequences": (True, False),  # False: only the last output is returned and compared
    "scale": ("normal", "large"),  # large: inputs and parameters 4x larger, so gates saturate
}
DEFAULT_OPTIONS = {"state": "random", "return_sequences": True, "scale": "normal"}
LONG_SEQUENCE = 33  # steps: errors that accumulate over a sequence show
WIDE_UNITS = 37  # more units than one tile of a fused kernel (16, 32), and not a multiple of either
ODD_KERNEL, EVEN_KERNEL = 3, 2


def format_value(value: Any) -> str:
    """A value as case keys and the command line spell it: 2x1, true, same."""
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Case:
    spec: str
    dims: tuple[tuple[str, int], ...]  # primary dims, every one
    attrs: tuple[tuple[str, Any], ...]  # attributes that differ from the spec's defaults
    options: tuple[tuple[str, Any], ...] = ()  # options that differ from DEFAULT_OPTIONS
    label: str = ""  # why the case is in the matrix

    @property
    def key(self) -> str:
        return ",".join(f"{k}={format_value(v)}" for k, v in self.dims + self.attrs + self.options)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.attrs)

    def option(self, name: str) -> Any:
        return dict(self.options).get(name, DEFAULT_OPTIONS[name])

    def seed(self, run_seed: int) -> int:
        """Per-case seed: stable under filtering, sharding and reordering of cases."""
        return zlib.crc32(f"{run_seed}:{self.spec}:{self.key}".encode()) & 0x7FFFFFFF

    def describe(self) -> str:
        """Short text for tables: what sets this case apart (its label, or its settings)."""
        return self.label or " ".join(f"{k}={format_value(v)}" for k, v in self.attrs + self.options) or "defaults"


def make_case(spec: Spec, dims: Mapping[str, int] | None = None, attrs: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | None = None, label: str = "") -> Case:
    """A validated case: unknown names, bad values and empty outputs raise ConfigError."""
    resolved_attrs = spec.resolve_config(attrs)
    sizes = spec.resolve_dims(dims, resolved_attrs)
    primary = tuple((n, sizes[n]) for n, d in spec.dims.items() if d.derived is None)
    changed = tuple((n, v) for n, v in resolved_attrs.items() if v != spec.attributes[n].default)
    opts = dict(DEFAULT_OPTIONS)
    for name, value in (options or {}).items():
        if name not in OPTIONS:
            raise ConfigError(f"unknown case option {name!r}; options: {', '.join(OPTIONS)}")
        if value not in OPTIONS[name]:
            raise ConfigError(f"Expected one of {', '.join(map(format_value, OPTIONS[name]))} but got {name}={format_value(value)}")
        opts[name] = value
    changed_opts = tuple((n, v) for n, v in opts.items() if v != DEFAULT_OPTIONS[n])
    return Case(spec.name, primary, changed, changed_opts, label)


def parse_case_key(spec: Spec, key: str) -> Case:
    """Inverse of ``Case.key``: ``batch=2,padding=same,strides=2x2,state=zeros``."""
    dims: dict[str, int] = {}
    attrs: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in key.split(","))):
        name, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"Expected name=value in --case but got {item!r}")
        if name in spec.dims:
            try:
                dims[name] = int(text)
            except ValueError:
                raise ConfigError(f"Expected a positive integer but got {name}={text}") from None
        elif name in spec.attributes:
            attrs[name] = spec.attributes[name].parse_cli(text)
        elif name in OPTIONS:
            options[name] = {"true": True, "false": False}.get(text.lower(), text)
        else:
            known = list(spec.dims) + list(spec.attributes) + list(OPTIONS)
            raise ConfigError(f"spec {spec.name} has no dimension, attribute or option {name!r}; known: {', '.join(known)}")
    return make_case(spec, dims, attrs, options, label="replay")


def _matrix_values(attr: Attribute) -> list[Any] | None:
    """The values the product takes for a structural attribute, None for the others (activations, formats).

    Every choice; 1 and 2 for an integer (its declared values when it has
    some) and for every axis of a per-axis one.
    """
    if attr.type == "choice":
        return list(attr.values)
    if attr.type == "int":
        return list(attr.values) or [1, 2]
    if attr.type == "ints":
        n = attr.length or 1
        return [(1,) * n, (2,) * n]
    return None


def _structural_axes(spec: Spec) -> list[tuple[str, str, list[Any]]]:
    """(kind, name, values) for every axis of the full product."""
    axes: list[tuple[str, str, list[Any]]] = []
    for name, attr in spec.attributes.items():
        values = _matrix_values(attr)
        if values is not None:
            axes.append(("attr", name, values))
    for group, members in spec.dim_groups.items():
        axes.append(("group", group, [ODD_KERNEL, EVEN_KERNEL]))
    return axes


def _structural_product(spec: Spec) -> Iterator[tuple[dict[str, int], dict[str, Any], str]]:
    """(sizes, attributes, label) of every configuration of the structural product, in order."""
    axes = _structural_axes(spec)
    for values in product(*(values for _, _, values in axes)):
        dims: dict[str, int] = {}
        attrs: dict[str, Any] = {}
        for (kind, name, _), value in zip(axes, values):
            if kind == "attr":
                attrs[name] = value
            else:
                dims.update({m: value for m in spec.dim_groups[name]})
        yield dims, attrs, " ".join(f"{name}={format_value(v)}" for (_, name, _), v in zip(axes, values)) or "defaults"


def _mixed_per_axis(spec: Spec) -> dict[str, tuple[int, ...]]:
    """Per-axis attributes whose axes differ: (2, 1, ...) for the first one, (1, 2, ...) for the next, ..."""
    names = [n for n, a in spec.attributes.items() if a.type == "ints" and (a.length or 1) > 1]
    return {n: tuple(2 - (axis + k) % 2 for axis in range(spec.attributes[n].length or 1)) for k, n in enumerate(names)}


def _batch_dim(spec: Spec) -> str | None:
    """The leading axis of the first input when it is a plain dim and not a scanned axis (``batch``)."""
    first = next(iter(spec.inputs.values())).shape[0].render()
    return first if first in spec.dims and first not in spec.recurrence.scan_axes else None


def _one_step(spec: Spec, axis: str, attrs: Mapping[str, Any]) -> dict[str, int] | None:
    """Primary sizes that make the scanned ``axis`` one step long under ``attrs``, or None.

    A primary axis is set to 1. An axis derived from others (row_lstm's
    ``time``, ``ceil(rows / step)`` rows or ``ceil(cols / step)`` columns of
    the image) is made one step long through one primary dim it derives
    from: the first, in declaration order, that can do it, at the largest
    size up to its default that does (rows=2 with step=2, so the skipped row
    is still there to be wrongly read).
    """
    decl = spec.dims[axis]
    if decl.derived is None:
        return {axis: 1}
    sources = decl.derived.symbols()
    for name, source in spec.dims.items():
        if name not in sources or source.derived is not None or source.default is None:
            continue
        for size in range(source.default, 0, -1):
            try:
                if spec.resolve_dims({name: size}, attrs)[axis] == 1:
                    return {name: size}
            except ConfigError:
                continue  # e.g. a kernel larger than the smaller image: try the next size
    return None


def _one_step_cases(spec: Spec) -> list[tuple[dict[str, int], dict[str, Any], str]]:
    """(sizes, attributes, label) of the cases with a single step along each scanned axis.

    A sequence gets "one timestep"; a grid one case per axis ("one along
    rows", "one along cols"): a kernel that mixes up the axes, or reads a
    boundary along the wrong one, shows when only one of them is 1. When the
    axis is derived from attributes too (row_lstm's scan and step), in every
    combination of their matrix values, since the size that gives one step
    depends on them.
    """
    out: list[tuple[dict[str, int], dict[str, Any], str]] = []
    for axis in spec.recurrence.scan_axes:
        base = "one timestep" if not spec.is_grid else f"one along {axis}"
        decl = spec.dims[axis]
        names = sorted(decl.derived.attributes() & set(spec.attributes)) if decl.derived is not None else []
        choices = [_matrix_values(spec.attributes[n]) or [spec.attributes[n].default] for n in names]
        for values in product(*choices):
            picked = dict(zip(names, values))
            sizes = _one_step(spec, axis, spec.resolve_config(picked))
            if sizes is None:
                continue
            detail = {**picked, **sizes} if decl.derived is not None else {}
            label = base + (f" ({', '.join(f'{k}={format_value(v)}' for k, v in detail.items())})" if detail else "")
            out.append((sizes, picked, label))
    return out


@dataclass(frozen=True)
class Roles:
    """What each primary dim is, read off the spec's first input and first state (channels-last)."""

    batch: str | None
    time: str | None  # the scanned sequence axis, when it is a primary dim
    features: str | None  # the input's last axis
    units: str | None  # the state's last axis
    spatial: tuple[str, ...]  # the input's other primary axes (image rows, cols, ...)


def dim_roles(spec: Spec) -> Roles:
    primary = {n for n, d in spec.dims.items() if d.derived is None}
    x_axes = [d.render() for d in next(iter(spec.inputs.values())).shape]
    state_axes = [d.render() for d in next(iter(spec.states.values())).shape] if spec.states else []
    batch = _batch_dim(spec)
    time = spec.recurrence.axis if (not spec.is_grid and spec.recurrence.axis in primary) else None
    features = x_axes[-1] if x_axes and x_axes[-1] in primary else None
    units = state_axes[-1] if state_axes and state_axes[-1] in primary and state_axes[-1] != features else None
    spatial = tuple(a for a in x_axes[:-1] if a in primary and a not in (batch, time))
    return Roles(batch, time, features, units, spatial)


def size_variations(spec: Spec) -> list[tuple[dict[str, int], dict[str, Any], str]]:
    """(sizes, options, label): the sizes that break kernels written for one shape, from the dims' roles."""
    roles = dim_roles(spec)
    default = {n: d.default for n, d in spec.dims.items() if d.default is not None}
    out: list[tuple[dict[str, int], dict[str, Any], str]] = []
    if roles.units:
        units = default.get(roles.units, 4)
        out.append(({roles.units: 1}, {}, f"one unit ({roles.units}=1)"))
        out.append(({roles.units: WIDE_UNITS}, {}, f"{roles.units}={WIDE_UNITS}, more than one tile"))
        if roles.features:
            out.append(({roles.features: units + 5, roles.units: units}, {}, f"{roles.features} > {roles.units}"))
            out.append(({roles.features: 2, roles.units: units + 5}, {}, f"{roles.features} < {roles.units}"))
    if roles.features:
        out.append(({roles.features: 1}, {}, f"one feature ({roles.features}=1)"))
    if roles.time:
        out.append(({roles.time: 2}, {}, "two timesteps (the state carried once)"))
        out.append(({roles.time: LONG_SEQUENCE}, {}, f"{LONG_SEQUENCE} timesteps (errors that accumulate)"))
    if roles.spatial:
        odd = {name: 5 + 2 * k for k, name in enumerate(roles.spatial)}  # 5, 7, 9: odd and all different
        out.append((odd, {}, "odd, non-square image (" + "x".join(str(v) for v in odd.values()) + ")"))
    out.append(({}, {"scale": "large"}, "large inputs and weights (saturated gates)"))
    if roles.batch and roles.time:  # batch != time, so that a kernel swapping the two axes cannot pass
        for sizes, _, _ in out:
            steps = sizes.get(roles.time, default.get(roles.time))
            if steps != 1 and sizes.get(roles.batch, default.get(roles.batch)) == steps:
                sizes[roles.batch] = steps + 1
    return out


def _allowed(spec: Spec, supports: Mapping[str, tuple[Any, ...]], dims: Mapping[str, int],
             attrs: Mapping[str, Any], options: Mapping[str, Any]) -> bool:
    values = {**{n: d.default for n, d in spec.dims.items()}, **dims, **spec.resolve_config(attrs),
              **DEFAULT_OPTIONS, **options}
    return all(values.get(name, allowed[0] if allowed else None) in allowed for name, allowed in supports.items()
               if name in values)


def default_matrix(spec: Spec, supports: Mapping[str, tuple[Any, ...]] | None = None) -> list[Case]:
    """The cases every implementation of ``spec`` must pass (see module docstring).

    With ``supports`` (what a kernel declares it computes), the one-at-a-time
    variations are centred on the configurations it supports: taken in turn
    around each supported base of the structural product (a covering design:
    every variation once, every base some), instead of around the spec's
    default, which such a kernel may not support at all (padding=same only).
    """
    if supports:
        return _supported_matrix(spec, supports)
    cases: list[Case] = []
    seen: set[str] = set()

    def add(dims: dict[str, int], attrs: dict[str, Any], options: dict[str, Any], label: str) -> None:
        try:
            case = make_case(spec, dims, attrs, options, label)
        except ConfigError:
            return  # e.g. a dilated kernel larger than the input: not a configuration
        if case.key not in seen:
            seen.add(case.key)
            cases.append(case)

    for dims, attrs, label in _structural_product(spec):
        add(dims, attrs, {}, label)
    add({}, {}, {}, "spec default sizes")
    # The product's per-axis values and kernels are square: a kernel that reads
    # strides[0], dilation[0] or kernel_size[0] for every axis passes all of it.
    # So every choice (padding) once more with the spec's default (non-square)
    # kernel, and once with per-axis attributes that differ between axes.
    mixed = _mixed_per_axis(spec)
    choices = [(n, a.values) for n, a in spec.attributes.items() if a.type == "choice" and n != spec.recurrence.direction]
    if mixed:
        for values in product(*(v for _, v in choices)):
            picked = dict(zip((n for n, _ in choices), values))
            label = " ".join(f"{k}={format_value(v)}" for k, v in picked.items())
            add({}, picked, {}, f"{label} default kernel".strip())
            add({}, {**picked, **mixed}, {}, " ".join([label] + [f"{k}={format_value(v)}" for k, v in mixed.items()]).strip())
    # The one-at-a-time variants run in every direction: which step is "last"
    # and which initial state is read first depend on it.
    direction = spec.recurrence.direction
    directions = [{}] + ([{direction: v} for v in spec.attributes[direction].values if v != "forward"]
                         if direction else [])
    for extra in directions:
        suffix = "".join(f", {k}={v}" for k, v in extra.items())
        for name, attr in spec.attributes.items():
            if attr.type == "activation":
                for act in ACTIVATIONS:
                    add({}, {**extra, name: act}, {}, f"{name}={act}{suffix}")
            elif attr.type == "data_format":
                for fmt in attr.values or ("channels_last", "channels_first"):
                    add({}, {**extra, name: fmt}, {}, f"{name}={fmt}{suffix}")
        for sizes, picked, label in _one_step_cases(spec):
            add(sizes, {**picked, **extra}, {}, f"{label}{suffix}")
        batch = _batch_dim(spec)
        if batch:
            add({batch: 1}, extra, {}, f"batch of one{suffix}")
        add({}, extra, {"state": "zeros"}, f"no initial state (framework default zeros){suffix}")
        add({}, extra, {"return_sequences": False}, f"last output only{suffix}")
    for sizes, options, label in size_variations(spec):
        add(sizes, {}, options, label)
    return cases


def _variations(spec: Spec) -> list[tuple[dict[str, int], dict[str, Any], dict[str, Any], str]]:
    """(sizes, attributes, options, label) of every one-at-a-time variation, without a base."""
    out: list[tuple[dict[str, int], dict[str, Any], dict[str, Any], str]] = []
    for name, attr in spec.attributes.items():
        if attr.type == "activation":
            out += [({}, {name: act}, {}, f"{name}={act}") for act in ACTIVATIONS]
        elif attr.type == "data_format":
            out += [({}, {name: fmt}, {}, f"{name}={fmt}") for fmt in attr.values or ("channels_last", "channels_first")]
    out += [(sizes, picked, {}, label) for sizes, picked, label in _one_step_cases(spec)]
    batch = _batch_dim(spec)
    if batch:
        out.append(({batch: 1}, {}, {}, "batch of one"))
    out.append(({}, {}, {"state": "zeros"}, "no initial state (framework default zeros)"))
    out.append(({}, {}, {"return_sequences": False}, "last output only"))
    out += [(sizes, {}, options, label) for sizes, options, label in size_variations(spec)]
    return out


def _supported_matrix(spec: Spec, supports: Mapping[str, tuple[Any, ...]]) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()

    def add(dims: Mapping[str, int], attrs: Mapping[str, Any], options: Mapping[str, Any], label: str) -> bool:
        """Whether the case is supported and valid (and so now in the matrix)."""
        if not _allowed(spec, supports, dims, attrs, options):
            return False
        try:
            case = make_case(spec, dict(dims), dict(attrs), dict(options), label)
        except ConfigError:
            return False
        if case.key not in seen:
            seen.add(case.key)
            cases.append(case)
        return True

    def new_base(dims: Mapping[str, int], attrs: Mapping[str, Any], label: str) -> bool:
        before = len(cases)
        return add(dims, attrs, {}, label) and len(cases) > before

    bases: list[tuple[dict[str, int], dict[str, Any], str]] = []
    if new_base({}, {}, "spec default sizes"):
        bases.append(({}, {}, "defaults"))
    for dims, attrs, label in _structural_product(spec):
        if new_base(dims, attrs, label):
            bases.append((dims, attrs, label))
    mixed = _mixed_per_axis(spec)
    for dims, attrs, label in list(bases):
        add({}, attrs, {}, f"{label} default kernel")
        if mixed:
            add(dims, {**attrs, **mixed}, {}, f"{label} " + " ".join(f"{k}={format_value(v)}" for k, v in mixed.items()))
    if not bases:
        return cases
    turn = 0
    for sizes, attrs, options, label in _variations(spec):
        # the next base that admits this variation, taken in turn so each base gets some
        for k in range(len(bases)):
            base_dims, base_attrs, base_label = bases[(turn + k) % len(bases)]
            if add({**base_dims, **sizes}, {**base_attrs, **attrs}, options,
                   f"{label} ({base_label})" if base_label != "defaults" else label):
                turn = (turn + k + 1) % len(bases)
                break
    return cases


def reduced_matrix(spec: Spec, cases: Iterable[Case]) -> list[Case]:
    """The cases an export or conversion path runs by default (each costs a conversion, seconds apiece):
    every attribute at its default but the direction; reversed, only the plain case; with the defaults,
    sequence lengths and a batch of one, no initial state, last output only and saturated gates."""
    direction = spec.recurrence.direction
    roles = dim_roles(spec)
    default = {n: d.default for n, d in spec.dims.items()}
    out: list[Case] = []
    for case in cases:
        attrs = dict(case.attrs)
        changed = {k for k, v in case.dims if v != default.get(k)}
        if set(attrs) - {direction}:
            continue
        if attrs and (changed or case.options):
            continue
        if changed - {roles.time, roles.batch}:
            continue
        out.append(case)
    return out


def default_case(spec: Spec, cases: Iterable[Case], supports: Mapping[str, tuple[Any, ...]] | None = None) -> list[Case]:
    """The spec's default case among ``cases`` (every size, attribute and option at its default but the
    direction), the first that ``supports`` allows: what a path whose conversions take seconds runs by default."""
    direction = spec.recurrence.direction
    default = {n: d.default for n, d in spec.dims.items() if d.default is not None}
    for case in cases:
        attrs = dict(case.attrs)
        if set(attrs) - {direction} or case.options or any(default.get(k, v) != v for k, v in case.dims):
            continue
        if _allowed(spec, supports or {}, dict(case.dims), attrs, {}):
            return [case]
    return []


#: The case matrices an implementation may run without ``--matrix full`` (``Adapter.matrix``), by name:
#: (spec, cases, what the implementation supports) -> the cases it runs.
MATRICES: Registry[Callable[[Spec, list[Case], Mapping[str, tuple[Any, ...]]], list[Case]]] = Registry(
    "case matrix", {"reduced": lambda spec, cases, supports: reduced_matrix(spec, cases), "default case": default_case})


def matrix_for(spec: Spec, supports: Iterable[Mapping[str, tuple[Any, ...]]] = ()) -> list[Case]:
    """The default matrix, followed by the cases centred on each kernel's declared support (no repeats)."""
    cases = default_matrix(spec)
    seen = {c.key for c in cases}
    for declared in supports:
        for case in default_matrix(spec, declared) if declared else []:
            if case.key not in seen:
                seen.add(case.key)
                cases.append(case)
    return cases


def shard(cases: Iterable[Case], index: int, count: int) -> list[Case]:
    """Deterministic K/N split by case key, independent of the order of discovery."""
    if not (count >= 1 and 1 <= index <= count):
        raise ConfigError(f"Expected --shard K/N with 1 <= K <= N but got {index}/{count}")
    return [c for c in cases if zlib.crc32(f"{c.spec}:{c.key}".encode()) % count == index - 1]


def case_values(spec: Spec, case: Case) -> dict[str, Any]:
    """Every dim, attribute (defaults included) and option of a case, by name."""
    return {**dict(case.dims), **spec.resolve_config(case.config), **{k: case.option(k) for k in OPTIONS}}


def select(spec: Spec, cases: Iterable[Case], where: Mapping[str, Any]) -> tuple[list[Case], list[Case]]:
    """Split cases into (kept, excluded) by ``--where name=value`` restrictions."""
    kept, excluded = [], []
    for case in cases:
        values = case_values(spec, case)
        (kept if all(values.get(k) == v for k, v in where.items()) else excluded).append(case)
    return kept, excluded


__all__ = ["Case", "format_value", "make_case", "parse_case_key", "default_matrix", "matrix_for", "reduced_matrix", "default_case", "MATRICES",
           "dim_roles", "shard", "select", "OPTIONS", "DEFAULT_OPTIONS"]
