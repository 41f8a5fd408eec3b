"""What a check runs, built from plain data: specs, implementations, devices, precisions and cases.

:class:`CheckOptions` holds the choices of ``lstmspec check`` as plain values,
so that the same plans can be built again in a ``--jobs`` helper process
(:mod:`.parallel`) from a picklable dataclass, never from a command line.
Building is deterministic: every process gets the same plans in the same
order. Usage errors (unknown spec, framework, device, dtype, bad ``--case``
or ``--where``) raise :class:`~lstmspec.errors.ConfigError` before anything runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..reference.backends import get_backend
from ..spec.catalog import load_spec, shipped_names
from ..spec.model import Spec
from .cases import MATRICES, OPTIONS, Case, matrix_for, parse_case_key, select, shard
from .precision import CPU_DEFAULT, CUDA_DEFAULT, PRECISIONS, Precision
from .runner import Plan, Target, device_available, usable_device


@dataclass(frozen=True)
class CheckOptions:
    """The choices of a check, as the command line gives them (empty or ``None``: the defaults).

    ``frameworks``, ``devices`` and ``dtypes`` are names (``None``: not given, so every installed framework,
    and CPU plus CUDA where present); ``where`` holds ``NAME=VALUE`` words and ``cases`` case keys, both read
    against each spec as its plans are built.
    """

    specs: tuple[str, ...] = ()
    frameworks: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] = ()
    kernels: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    shard: tuple[int, int] | None = None
    seed: int = 0
    fuzz: int = 0
    grads: bool = True
    kernel_grad: bool = False  # --grad: gradients through a kernel even where it does not declare them
    isolate: bool = True
    timeout: float = 120.0
    max_memory: int | None = None
    matrix: str = "default"  # "full": export and conversion paths run every case too


def build_plans(options: CheckOptions) -> tuple[list[Plan], list[Target], list[str], list[str]]:
    """(plans, kernel targets, devices, notes); the same in every --jobs process."""
    notes: list[str] = []
    names = list(options.specs) or shipped_names()
    if options.cases and len(names) != 1:
        raise ConfigError("--case needs exactly one SPEC (a case key names one spec's dimensions)")
    if options.fuzz < 0:
        raise ConfigError(f"Expected --fuzz N >= 0 but got {options.fuzz}")
    if options.kernels and not options.specs:
        raise ConfigError("--kernel needs the SPEC it implements, e.g. lstmspec check lstm --kernel my.py:lstm")
    specs = [load_spec(name) for name in names]  # a misspelt spec is reported before any framework import
    check_where_names(specs, options.where)
    get_backend("numpy")  # a bad $LSTMSPEC_REFERENCE_MATH is reported before anything runs, not at the end
    devices = _devices(options.devices, notes)
    plans: list[Plan] = []
    kernels: list[Target] = []
    for name, spec in zip(names, specs):
        # kernels before frameworks: Triton's LLVM aborts the process when loaded after TensorFlow's
        # ("Option ... registered more than once"), not the other way round
        kernel_targets = [_kernel_target(ref, name, spec, options) for ref in options.kernels]
        kernels += kernel_targets
        given = options.frameworks is not None
        targets = _targets(spec, options.frameworks or (), notes) if (given or not options.kernels) else []
        targets += kernel_targets
        cases, excluded = _cases(spec, options, [t.impl.supports for t in kernel_targets])
        groups = _groups(spec, targets, cases, options, notes)
        for device in devices:
            for group_targets, group_cases in groups:
                for targets_at, precisions in _by_precision(group_targets, options.dtypes, device):
                    plans.append(Plan(spec, name, group_cases, targets_at, [device], precisions, options.seed,
                                      grads=options.grads, excluded=excluded))
    if options.frameworks is not None and not any(p.targets for p in plans):
        raise ConfigError(f"no implementation of {', '.join(names)} in --framework {','.join(options.frameworks)}")
    return plans, kernels, devices, notes


_MATRIX_NOTES = {
    "reduced": ("{names} run the reduced matrix, {n} of {total} cases (every attribute at its default but the "
                "direction; lengths, a batch of one, state and output options, saturated gates); --matrix full "
                "runs every case"),
    "default case": ("{names} run the spec's default case only (each conversion takes seconds); "
                     "--matrix full runs every case"),
}


def _groups(spec: Spec, targets: list[Target], cases: list[Case], options: CheckOptions,
            notes: list[str]) -> list[tuple[list[Target], list[Case]]]:
    """(targets, the cases they run): every case for all, unless paths that convert run fewer, which a note says."""
    if options.matrix == "full" or options.cases:
        return [(targets, cases)]
    by: dict[str, list[Target]] = {}
    for target in targets:
        by.setdefault(getattr(target.impl, "matrix", ""), []).append(target)  # kernels: the check's matrix
    groups = [(by.pop("", []), cases)]
    for name, group in by.items():
        chosen: dict[tuple[str, ...], list[Target]] = {}  # the same cases run as one plan
        for target in group:
            picked = MATRICES.get(name)(spec, cases, target.impl.supports or {})
            chosen.setdefault(tuple(c.key for c in picked), []).append(target)
        by_key = {c.key: c for c in cases}
        groups += [(targets, [by_key[k] for k in keys]) for keys, targets in chosen.items()]
        n = max(len(keys) for keys in chosen)
        notes.append(f"{spec.name}: " + _MATRIX_NOTES[name].format(
            names=", ".join(t.name for t in group), n=n, total=len(cases)))
    return groups


def _targets(spec: Spec, wanted: Sequence[str], notes: list[str]) -> list[Target]:
    from ..adapters.base import all_adapters, installed, select_adapters

    adapters = select_adapters(list(wanted)) if wanted else all_adapters()
    out: list[Target] = []
    for a in adapters:
        if a.spec != spec.name and (a.spec not in spec.lineage or not a.on_extending_specs):
            continue  # a layer of a spec this one extends, keeping its equations, implements it too
        if getattr(a, "by_request", False) and not wanted:
            note = ("not run unless named with --framework (each captures or compiles in a separate process, "
                    "seconds a case): torch.export, torch.compile, torch.onnx.export(dynamo=True)")
            if note not in notes:
                notes.append(note)
            continue
        if not installed(a, bool(wanted), notes):
            continue
        if a.spec != spec.name:
            from ..adapters.lowered import LoweredAdapter

            a = LoweredAdapter(a, spec)  # fed the spec's transforms (row_lstm: the rows of the image)
        out.append(Target(a.name, "framework", a))
    return out


def _by_precision(targets: list[Target], dtypes: Sequence[str], device: str) -> list[tuple[list[Target], list[Precision]]]:
    """(targets, the precisions they run at): the check's, except that without --dtype an implementation with a
    precision of its own (OpenVINO's default-precision row) runs at that one alone."""
    precisions = _precisions(dtypes, device)
    own: dict[str, list[Target]] = {}
    rest = []
    for target in targets:
        mine = None if dtypes or device != "cpu" else getattr(target.impl, "own_precision", lambda: None)()
        if mine and mine not in {p.name for p in precisions}:
            own.setdefault(mine, []).append(target)
        else:
            rest.append(target)
    groups = [(rest, precisions)] if rest else []
    return groups + [(group, [PRECISIONS.get(name)]) for name, group in own.items()]


def _devices(wanted: Sequence[str] | None, notes: list[str]) -> list[str]:
    if wanted is not None:
        return [usable_device(d) for d in wanted]
    devices = ["cpu"]
    if device_available("cuda") is None:
        devices.append("cuda")
    else:
        notes.append("CPU only: " + (device_available("cuda") or ""))
    return devices


def _precisions(wanted: Sequence[str], device: str) -> list[Precision]:
    names = list(wanted) or list(CPU_DEFAULT if device == "cpu" else CUDA_DEFAULT)
    return [PRECISIONS.get(n) for n in names]


def where_values(spec: Spec, items: Sequence[str]) -> dict[str, Any]:
    """``--where`` restrictions that apply to ``spec``; a name only another checked spec has is skipped here
    (:func:`check_where_names` has already refused names that no checked spec has)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"Expected --where NAME=VALUE but got {item!r}")
        if name in spec.attributes:
            out[name] = spec.attributes[name].parse_cli(text)
        elif name in spec.dims:
            try:
                out[name] = int(text)
            except ValueError:
                raise ConfigError(f"Expected an integer but got --where {item}") from None
        elif name in OPTIONS:
            values = {str(v).lower(): v for v in OPTIONS[name]}
            if text.lower() not in values:
                raise ConfigError(f"Expected --where {name}=VALUE with VALUE one of {', '.join(map(str, OPTIONS[name]))} "
                                  f"but got {text!r}")
            out[name] = values[text.lower()]
    return out


def check_where_names(specs: Sequence[Spec], items: Sequence[str]) -> None:
    """A ``--where`` name must be a dimension, attribute or case option of at least one checked spec:
    a misspelt name would otherwise restrict nothing, and every case would run."""
    for item in items:
        name, sep, _ = item.partition("=")
        if not sep:
            raise ConfigError(f"Expected --where NAME=VALUE but got {item!r}")
        if name in OPTIONS or any(name in spec.dims or name in spec.attributes for spec in specs):
            continue
        known = dict.fromkeys([n for spec in specs for n in (*spec.dims, *spec.attributes)] + list(OPTIONS))
        which = specs[0].name if len(specs) == 1 else f"any of the {len(specs)} specs checked"
        raise ConfigError(f"--where {name!r}: no dimension, attribute or option of that name in {which}; "
                          f"known: {', '.join(known)}")


def _cases(spec: Spec, options: CheckOptions, supports: Sequence[dict[str, Any]] = ()) -> tuple[list[Case], list[Case]]:
    if options.cases:
        cases = [parse_case_key(spec, key) for key in options.cases]
    else:
        cases = matrix_for(spec, supports)  # kernels' declared support centres more cases on what they compute
    kept, excluded = select(spec, cases, where_values(spec, options.where))
    if options.shard:
        kept = shard(kept, *options.shard)
    return kept, excluded


def _kernel_target(ref: str, spec_arg: str, spec: Spec, options: CheckOptions) -> Target:
    """The kernel's file is imported in a worker first, under the timeout: whatever it does there (exit, hang,
    raise) is one ConfigError, never the end of this process. Isolated, the worker then runs the cases and
    this process sees only what the kernel declares; not isolated, it is imported here as well."""
    from ..kernels.isolation import IsolatedKernel, load_in_process
    from ..kernels.protocol import KernelAdapter

    grad = True if options.kernel_grad else None
    if not options.isolate:
        return Target(ref, "kernel", KernelAdapter(load_in_process(ref, spec_arg, timeout=options.timeout), ref,
                                                   spec, grad=grad))
    isolated = IsolatedKernel(ref, spec_arg, grad=grad, seed=options.seed, want_grads=options.grads,
                              timeout=options.timeout, max_memory=options.max_memory)
    return Target(ref, "kernel", isolated.start(), isolated=isolated)


def unique_specs(plans: Sequence[Plan]) -> list[Spec]:
    """The specs of ``plans``, each once, in order."""
    out: list[Spec] = []
    for plan in plans:
        if all(plan.spec is not s for s in out):
            out.append(plan.spec)
    return out


__all__ = ["CheckOptions", "build_plans", "check_where_names", "unique_specs", "where_values"]
