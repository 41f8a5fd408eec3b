"""Run implementations over cases and turn what they return into results.

Data flow: spec → cases → (inputs, float64 reference, yardstick) → an
implementation's outcome → comparisons → CaseResult. The reference of a case
is computed once and shared by every implementation, device and precision;
the yardstick once per (case, precision, device).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..machine import DEVICES
from ..reference.blas import single_threaded
from ..spec.model import Spec
from .cases import Case, case_values, format_value
from .compare import compare_shape, compare_values
from .oracle import CaseData, Expected, make_data, reference_with_torch64, spec_in_torch
from .precision import Precision, math_mode_note
from .results import ERROR, FAIL, PASS, SKIP, CaseResult, Comparison


@dataclass
class Target:
    """Something to check: a framework adapter or a user kernel, with the same interface."""

    name: str
    kind: str  # "framework" | "kernel"
    impl: Any  # an Adapter (or a kernel wrapper with the Adapter interface)
    isolated: Any = None  # a kernels.isolation.IsolatedKernel running the cases in a worker process


@dataclass
class Plan:
    spec: Spec
    spec_arg: str
    cases: list[Case]
    targets: list[Target]
    devices: list[str]
    precisions: list[Precision]
    seed: int
    grads: bool = True
    excluded: list[Case] = field(default_factory=list)  # by --where / declaration
    diagnose: bool = True  # name the known deviation that reproduces a failure (costs up to ~2 s per failure)

    def size(self) -> int:
        return len(self.cases) * len(self.targets) * len(self.devices) * len(self.precisions)


class Oracle:
    """Caches a case's data, reference and yardsticks across implementations."""

    def __init__(self, spec: Spec, seed: int) -> None:
        self.spec, self.seed = spec, seed
        self._data: dict[str, CaseData] = {}
        self._ref: dict[str, Expected] = {}
        self._yard: dict[tuple[str, str, str, bool], Expected] = {}

    def data(self, case: Case) -> CaseData:
        if case.key not in self._data:
            self._data[case.key] = make_data(self.spec, case, self.seed)
        return self._data[case.key]

    def reference(self, case: Case) -> Expected:
        if case.key not in self._ref:
            with single_threaded():  # the same bits whatever --jobs is (a thread count changes a sum's order)
                self._ref[case.key], torch64 = reference_with_torch64(self.data(case))
            if torch64 is not None:  # the float64 CPU yardstick is that same run
                for grads in (True, False):
                    self._yard[(case.key, "float64", "cpu", grads)] = torch64
        return self._ref[case.key]

    def yardstick(self, case: Case, precision: Precision, device: str, grads: bool) -> Expected:
        key = (case.key, precision.name, device, grads)
        if key not in self._yard:
            with single_threaded() if device == "cpu" else nullcontext():  # bounds equal whatever --jobs is
                self._yard[key] = spec_in_torch(self.data(case), precision.dtype, device, precision,
                                                with_grads=grads)
        return self._yard[key]


def device_available(device: str) -> str | None:
    """None when usable, else why not."""
    if device == "cpu":
        return None
    if device == "cuda":
        try:
            import torch
        except ImportError:
            return "CUDA needs PyTorch, which is not installed"
        return None if torch.cuda.is_available() else "no CUDA device (torch.cuda.is_available() is False)"
    return f"unknown device {device!r}"


def usable_device(name: str) -> str:
    """``name`` when it is a device lstmspec runs on and usable here; else a ConfigError that says why not
    (what ``--device`` of check and bench raise before anything runs)."""
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; devices: {', '.join(DEVICES)}")
    reason = device_available(name)
    if reason:
        raise ConfigError(f"--device {name}: {reason}")
    return name


def check_one(plan: Plan, oracle: Oracle, target: Target, case: Case, device: str, precision: Precision,
              *, isolated: bool = True) -> CaseResult:
    impl = target.impl
    result = CaseResult(plan.spec.name, target.name, device, precision.name, case, plan.seed, PASS,
                        math_mode=math_mode_note(precision, device), convention=getattr(impl, "convention", ""),
                        spec_arg=plan.spec_arg, kind=target.kind)
    start = time.perf_counter()
    if isolated and target.isolated is not None:
        reason = static_skip(impl, device, precision) or declared_skip(plan.spec, impl, case)
        if reason:
            return skipped(result, reason)
        return target.isolated.check(result, case, device, precision.name)
    try:
        reason = static_skip(impl, device, precision) or declared_skip(plan.spec, impl, case)
        if reason:
            return skipped(result, reason)
        data = oracle.data(case)
        reason = impl.unsupported(data, device, precision)
        if reason:
            return skipped(result, reason)
        want_grads = plan.grads and impl.gradients
        outcome = impl.run(data, device, precision, want_grads)
    except Exception as exc:  # noqa: BLE001 - an implementation that raises is a result, not a crash
        # a kernel that breaks the protocol fails its case (KernelFault says how); anything else is an error
        fault = getattr(exc, "result_status", None)
        result.status = fault or ERROR
        result.reason = str(exc) if fault else f"{type(exc).__name__}: {exc}".strip()
        result.traceback = getattr(exc, "traceback", "")
        result.seconds = time.perf_counter() - start
        return result
    try:
        expected = oracle.reference(case)
        yard = oracle.yardstick(case, precision, device, want_grads and bool(expected.grads))
    except Exception as exc:  # noqa: BLE001 - lstmspec's own failure: an error of the case, never the kernel's
        result.status = ERROR
        result.reason = (f"lstmspec could not compute the reference for this case ({type(exc).__name__}: {exc}); "
                         "this is a bug in lstmspec, not in the implementation")
        result.seconds = time.perf_counter() - start
        return result
    result.comparisons = compare_outcome(plan.spec, data, impl, outcome, expected, yard, precision, want_grads)
    result.status = PASS if all(c.passed for c in result.comparisons) else FAIL
    result.seconds = time.perf_counter() - start
    if result.status == FAIL and getattr(outcome, "disconnected", ()):
        result.reason = disconnected_note(outcome.disconnected, data)
    if result.status == FAIL and getattr(outcome, "gates", None):
        from .gates import first_divergence

        y_bound = next((c.bound for c in result.comparisons if c.quantity == "y" and c.kind == "value"),
                       precision.bound(0.0))
        result.gates = first_divergence(data, outcome.gates, y_bound)
    if result.status == FAIL and plan.diagnose:
        from ..diagnose import describe_failure

        result.diagnosis = describe_failure(plan.spec, data, outcome, expected, yard, precision)
    return result


def skipped(result: CaseResult, reason: str) -> CaseResult:
    """A skip; a framework's is a capability gap (not applicable: a precision it lacks, an option its installed
    version refuses), reported once per reason rather than as a case. A user kernel's declarations stay skips."""
    result.status, result.reason = SKIP, reason
    result.not_applicable = result.kind == "framework"
    return result


def disconnected_note(names: Iterable[str], data: CaseData) -> str:
    """One line for gradients that never reached some leaves, with the usual cause."""
    names = list(names)
    returned = [n for n in names if n.startswith("final_state[")]
    if returned:  # an output cut off from autograd explains every gradient that follows from it
        return (f"{', '.join(returned)} carries no gradient (it does not require grad): computed under "
                "torch.no_grad(), detached, or returned by a custom autograd.Function without a gradient for it")
    names = [_label(n, data) for n in names]
    params = [n for n in names if n in data.params]
    what = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    share = f" ({len(params)} of {len(data.params)} parameters)" if params else ""
    return (f"no gradient reaches {what}{share}: the outputs do not depend on them through autograd; the usual "
            "causes are weights copied into a module under torch.no_grad(), a .detach() or .data on the way, or a "
            "custom autograd.Function whose backward returns None for them")


def static_skip(impl: Any, device: str, precision: Precision) -> str | None:
    if device not in impl.devices:
        return f"{impl.name} does not run on {device}"
    if precision.name not in impl.precisions:
        return f"{impl.name} has no {precision.name} (it supports {', '.join(impl.precisions)})"
    if precision.cuda_only and device != "cuda":
        return f"{precision.name} is a CUDA math mode"
    return None


def declared_skip(spec: Spec, impl: Any, case: Case) -> str | None:
    """Skipped by declaration: the implementation does not compute this value.

    "declared:" is said only of what a user's kernel declared itself; a
    framework's limits, and the kernel protocol's, are said as theirs.
    """
    supports = getattr(impl, "supports", None) or {}
    if not supports:
        return None
    values = case_values(spec, case)
    for name, allowed in supports.items():
        if name in values and values[name] not in allowed:
            only = ", ".join(format_value(v) for v in allowed)
            if name in getattr(impl, "declared", ()):
                return f"declared: {impl.name} supports only {name}={only}"
            limit = getattr(impl, "limits", {}).get(name)
            return limit or f"{impl.name} has only {name}={only}"
    return None


def compare_outcome(spec: Spec, data: CaseData, impl: Any, outcome: Any, expected: Expected, yard: Expected,
                    precision: Precision, want_grads: bool) -> list[Comparison]:
    out: list[Comparison] = []
    layout = spec.layout(impl.layout) if getattr(impl, "layout", None) else None
    if layout is not None and outcome.tensors:
        from ..expr.dims import evaluate_shape

        expected_shapes = layout.symbolic_shapes(spec.param_shapes())
        for name, shape in expected_shapes.items():
            concrete = evaluate_shape(shape, data.dims, data.attrs)
            actual = outcome.tensors.get(name)
            if actual is None:
                out.append(Comparison(f"shape of {name}", "shape", False,
                                      message=f"the framework has no tensor {name} (layout {layout.name})"))
            else:
                out.append(compare_shape(f"shape of {name}", actual, concrete, f"layout {layout.name}"))
    y_ref, y_yard, axis = expected.y, yard.y, data.time_axis
    if not data.return_sequences:
        y_ref, y_yard, axis = data.last_step(y_ref), data.last_step(y_yard), None
    out.append(compare_values("y", "value", outcome.y, y_ref, y_yard, precision, axis))
    returned = getattr(impl, "final_states", None)
    for name, ref in expected.final.items():
        if returned is not None and name not in returned:
            continue  # declared: this implementation returns no such state (a converted model's outputs only)
        if name not in outcome.final:
            out.append(Comparison(f"{name}_T", "shape", False, message="the implementation returned no such state"))
            continue
        out.append(compare_values(f"{name}_T", "value", outcome.final[name], ref, yard.final.get(name), precision))
    if want_grads and expected.grads and outcome.grads:
        grads = dict(outcome.grads)
        if layout is not None:
            fw = {t.name: grads.pop(t.name) for t in layout.tensors if t.name in grads}
            shapes = {k: v.shape for k, v in data.params.items()}
            try:
                grads.update(layout.from_framework(fw, shapes, gradient=True))
            except Exception as exc:  # noqa: BLE001
                out.append(Comparison("gradients", "shape", False, message=f"cannot map back through the layout: {exc}"))
                return out
        for name, ref in expected.grads.items():
            if name in data.state and data.zero_state:
                continue  # no initial state was passed, so there is no gradient for it
            if name not in grads:
                out.append(Comparison(f"dL/d{_label(name, data)}", "shape", False, message="no gradient returned"))
                continue
            out.append(compare_values(f"dL/d{_label(name, data)}", "grad", grads[name], ref, yard.grads.get(name),
                                      precision, data.time_axis if name == "x" else None))
    return out


def _label(name: str, data: CaseData) -> str:
    return f"{name}0" if name in data.state else name


ProgressFn = Callable[[CaseResult, int, int], None]


def run_plan(plan: Plan, progress: ProgressFn | None = None) -> Iterator[CaseResult]:
    """Yield results as they come (so an interrupted run keeps what it finished)."""
    oracle = Oracle(plan.spec, plan.seed)
    total, done = plan.size(), 0
    for target in plan.targets:
        for device in plan.devices:
            for precision in plan.precisions:
                for case in plan.cases:
                    result = check_one(plan, oracle, target, case, device, precision)
                    done += 1
                    if progress is not None:
                        progress(result, done, total)
                    yield result


def exit_code(results: Iterable[CaseResult]) -> int:
    return 1 if any(r.status in (FAIL, ERROR) for r in results) else 0


__all__ = ["Plan", "Target", "Oracle", "run_plan", "check_one", "exit_code", "device_available",
           "usable_device"]
