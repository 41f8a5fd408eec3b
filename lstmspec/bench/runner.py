"""Run a bench plan: for every case and implementation, check conformance, then time.

Per (case, implementation, precision):

1. **Conformance first.** The case, at the bench's sizes, goes through the
   same ``check_one`` as ``lstmspec check`` (outputs, final states, weight
   shapes; gradients too with ``--backward``), and the output of the very
   callable that is timed is compared with the float64 reference under the
   same bound. An implementation that does not conform is still timed, and
   its rows say ``fail`` with the worst comparison; one that raises is not
   timed (``error``).
2. **Prepare** the timed callable (``Adapter.prepare``, the build path the
   check runs; ``implementations`` for the references): layer, session,
   trace and inputs outside the timed region.
3. **Time** ``forward`` and, with ``--backward``, ``forward_backward``
   (``timing.measure``), under the precision's math mode.
4. **Derive** FLOPs from the spec's equations (``lstmspec.flops``), bytes,
   achieved rates, and fractions of the device's peak.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..check.cases import Case, make_case
from ..check.compare import compare_values
from ..check.oracle import Expected
from ..check.precision import Precision
from ..check.results import ERROR, FAIL, PASS, SKIP, CaseResult
from ..check.runner import Oracle, Plan, Target, check_one
from ..flops import Flops, bytes_moved, count_flops
from ..spec.model import Spec
from .implementations import Implementation
from .peaks import Peak
from .suites import BenchCase
from .timing import Measurement, TimingOptions, measure

FORWARD, FORWARD_BACKWARD = "forward", "forward+backward"
REFERENCE = "reference"  # conformance of the references: they are what the others are compared with
TIMED = "timed"

@dataclass
class BenchRow:
    spec: str
    case: BenchCase
    case_key: str
    implementation: str
    kind: str
    framework: str
    device: str
    precision: str
    pass_: str  # FORWARD | FORWARD_BACKWARD
    status: str  # TIMED | SKIP | ERROR
    conformance: str = ""  # PASS | FAIL | ERROR | REFERENCE | ""
    conformance_detail: str = ""
    reason: str = ""  # why skipped or what went wrong
    note: str = ""  # how it was called
    measurement: Measurement | None = None
    flops: Flops | None = None
    bytes: int = 0
    peak_flops: float | None = None
    peak_bandwidth: float | None = None
    foreign_share: float | None = None  # other processes' share of the CPUs while this row ran (None: unknown)

    @property
    def timed(self) -> bool:
        return self.status == TIMED and self.measurement is not None

    @property
    def conforms(self) -> bool:
        return self.conformance in (PASS, REFERENCE)

    @property
    def seconds(self) -> float | None:
        return self.measurement.median if self.measurement is not None else None

    def flop_count(self, convention: str = "contraction") -> int | None:
        if self.flops is None:
            return None
        return self.flops.convention(convention, backward=self.pass_ == FORWARD_BACKWARD)

    def rate(self, convention: str = "contraction") -> float | None:
        """Achieved FLOP/s under ``convention`` (median time)."""
        flops, seconds = self.flop_count(convention), self.seconds
        return flops / seconds if flops and seconds else None

    @property
    def bandwidth(self) -> float | None:
        return self.bytes / self.seconds if self.bytes and self.seconds else None

    @property
    def intensity(self) -> float | None:
        flops = self.flop_count()
        return flops / self.bytes if flops and self.bytes else None

    @property
    def peak_fraction(self) -> float | None:
        rate = self.rate()
        return rate / self.peak_flops if rate and self.peak_flops else None

    @property
    def roofline(self) -> float | None:
        if self.peak_flops is None or self.intensity is None:
            return None
        if self.peak_bandwidth is None:
            return self.peak_flops
        return min(self.peak_flops, self.intensity * self.peak_bandwidth)

    @property
    def roofline_fraction(self) -> float | None:
        rate, roof = self.rate(), self.roofline
        return rate / roof if rate and roof else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "spec": self.spec, "case": self.case_key, "label": self.case.describe(), "group": self.case.group,
            "sweep": self.case.sweep or None, "x": self.case.x or None, "dims": dict(self.case.dims),
            "attrs": {k: list(v) if isinstance(v, tuple) else v for k, v in self.case.attrs},
            "implementation": self.implementation, "kind": self.kind, "framework": self.framework,
            "device": self.device, "precision": self.precision, "pass": self.pass_, "status": self.status,
            "conformance": self.conformance, "conformance_detail": self.conformance_detail,
            "reason": self.reason, "note": self.note,
            "timing": self.measurement.to_json() if self.measurement is not None else None,
            "foreign_share": self.foreign_share,
        }
        if self.flops is not None:
            backward = self.pass_ == FORWARD_BACKWARD
            out["flops"] = {"contraction": self.flops.convention("contraction", backward=backward),
                            "deepbench": self.flops.convention("deepbench", backward=backward),
                            "forward": {"matmul": self.flops.matmul, "conv": self.flops.conv,
                                        "elementwise": self.flops.elementwise, "activation": self.flops.activation,
                                        "recurrent": self.flops.recurrent, "total": self.flops.total}}
            out["bytes"] = self.bytes
        out.update({"flop_per_s": self.rate(), "deepbench_flop_per_s": self.rate("deepbench"),
                    "bytes_per_s": self.bandwidth, "intensity": self.intensity, "peak_flop_per_s": self.peak_flops,
                    "peak_fraction": self.peak_fraction, "roofline_flop_per_s": self.roofline,
                    "roofline_fraction": self.roofline_fraction})
        return out


@dataclass
class BenchPlan:
    spec: Spec
    spec_arg: str
    cases: list[BenchCase]
    implementations: list[Implementation]
    device: str
    precisions: list[Precision]
    timing: TimingOptions
    backward: bool = False
    seed: int = 0
    peak: Peak | None = None
    formulas: dict[str, str] = field(default_factory=dict)  # convention -> symbolic FLOPs, for reports

    def size(self) -> int:
        passes = 2 if self.backward else 1
        return len(self.cases) * passes * sum(len(self.precisions_of(i)) for i in self.implementations)

    def precisions_of(self, impl: Implementation) -> list[Precision]:
        """The numpy reference runs in float64 only: one row per case whatever --dtype says."""
        if impl.kind == REFERENCE and impl.precisions == ("float64",):
            from ..check.precision import PRECISIONS

            return [PRECISIONS.get("float64")]
        return self.precisions


class _Oracle(Oracle):
    """The check's oracle; without --backward the float64 reference is computed without gradients."""

    def __init__(self, spec: Spec, seed: int, grads: bool) -> None:
        super().__init__(spec, seed)
        self.grads = grads

    def reference(self, case: Case) -> Expected:
        if self.grads:
            return super().reference(case)
        if case.key not in self._ref:
            data = self.data(case)
            y, final = data.spec.reference(data.x, data.state, data.params, data.attrs)
            self._ref[case.key] = Expected(np.asarray(y), {k: np.asarray(v) for k, v in final.items()})
        return self._ref[case.key]


ProgressFn = Callable[[BenchRow, int, int], None]


def run_bench(plan: BenchPlan, progress: ProgressFn | None = None) -> Iterator[BenchRow]:
    """Yield rows as they come (an interrupted run keeps what it finished)."""
    total, done = plan.size(), 0
    earlier: dict[str, list[BenchRow]] = {}  # a configuration in several groups (a sweep's centre) runs once
    for bench_case in plan.cases:
        case = make_case(plan.spec, dict(bench_case.dims), dict(bench_case.attrs), label=bench_case.describe())
        if case.key in earlier:
            for row in earlier[case.key]:
                done += 1
                again = replace(row, case=bench_case, note="; ".join(filter(None, [row.note, "same run as the "
                                f"{row.case.group} case {row.case.describe()}"])))
                if progress is not None:
                    progress(again, done, total)
                yield again
            continue
        oracle = _Oracle(plan.spec, plan.seed, plan.backward)
        flops = count_flops(plan.spec, case.config).evaluate(dict(case.dims))
        rows = earlier[case.key] = []
        for impl in plan.implementations:
            for precision in plan.precisions_of(impl):
                for row in bench_one(plan, oracle, bench_case, case, impl, precision, flops):
                    rows.append(row)
                    done += 1
                    if progress is not None:
                        progress(row, done, total)
                    yield row


def bench_one(plan: BenchPlan, oracle: Oracle, bench_case: BenchCase, case: Case, impl: Implementation,
              precision: Precision, flops: Flops) -> list[BenchRow]:
    passes = [FORWARD, FORWARD_BACKWARD] if plan.backward else [FORWARD]
    attrs = plan.spec.resolve_config(case.config)
    sizes = plan.spec.resolve_dims(dict(case.dims), attrs)

    def row(pass_: str, status: str, **kw: Any) -> BenchRow:
        backward = pass_ == FORWARD_BACKWARD
        peak = plan.peak
        return BenchRow(plan.spec.name, bench_case, case.key, impl.name, impl.kind, impl.framework, plan.device,
                        precision.name, pass_, status, flops=flops,
                        bytes=bytes_moved(plan.spec, sizes, attrs, precision.itemsize, backward=backward),
                        peak_flops=peak.flops_for(precision.name) if peak else None,
                        peak_bandwidth=peak.bandwidth if peak else None, **kw)

    reason = impl.unsupported(plan.spec, None, case, plan.device, precision, False)
    if reason:
        return [row(p, SKIP, reason=reason) for p in passes]
    data = oracle.data(case)
    reason = impl.unsupported(plan.spec, data, case, plan.device, precision, False)
    if reason:
        return [row(p, SKIP, reason=reason) for p in passes]
    # 1. conformance
    conformance, detail = conformance_of(plan, oracle, case, impl, precision)
    if conformance == ERROR:
        return [row(p, ERROR, conformance=ERROR, reason=detail) for p in passes]
    if conformance == SKIP:
        return [row(p, SKIP, reason=detail) for p in passes]
    # 2. prepare, and compare what the timed call returns
    try:
        timed = impl.builder(impl, data, plan.device, precision)
        with timed.context():
            returned = timed.outputs()
        y, final = returned.y, returned.final
    except Exception as exc:  # noqa: BLE001 - an implementation that cannot be built is a result
        return [row(p, ERROR, conformance=conformance, conformance_detail=detail,
                    reason=f"building the timed call raised {type(exc).__name__}: {exc}") for p in passes]
    if conformance == PASS:  # the adapter's run conforms; does the call we time?
        bad = _compare_timed(oracle, case, precision, plan.device, y, final)
        if bad:
            conformance, detail = FAIL, f"the timed call (not the adapter's run): {bad}"
    # 3. time
    rows = []
    for pass_ in passes:
        fn = timed.forward if pass_ == FORWARD else timed.forward_backward
        if fn is None:
            reason = impl.unsupported(plan.spec, data, case, plan.device, precision, True) or \
                f"{impl.name}: no backward pass to time"
            rows.append(row(pass_, SKIP, reason=reason))
            continue
        try:
            with timed.context():
                measurement = measure(fn, plan.timing, device=plan.device)
        except Exception as exc:  # noqa: BLE001
            rows.append(row(pass_, ERROR, conformance=conformance, conformance_detail=detail,
                            reason=f"timing raised {type(exc).__name__}: {exc}"))
            continue
        rows.append(row(pass_, TIMED, conformance=conformance, conformance_detail=detail, note=timed.note,
                        measurement=measurement))
    return rows


def conformance_of(plan: BenchPlan, oracle: Oracle, case: Case, impl: Implementation,
                   precision: Precision) -> tuple[str, str]:
    """(PASS | FAIL | ERROR | SKIP | REFERENCE, detail) from the check's own ``check_one``."""
    if impl.adapter is None:
        return REFERENCE, "derived from the spec's equations"
    check_plan = Plan(plan.spec, plan.spec_arg, [case], [], [plan.device], [precision], plan.seed,
                      grads=plan.backward)
    target = Target(impl.name, impl.kind, impl.adapter)
    result: CaseResult = check_one(check_plan, oracle, target, case, plan.device, precision, isolated=False)
    if result.status == PASS:
        return PASS, ""
    if result.status == FAIL:
        return FAIL, "; ".join(c.describe() for c in result.failures[:2]) or result.reason
    if result.status == SKIP:
        return SKIP, result.reason
    return ERROR, result.reason


def _compare_timed(oracle: Oracle, case: Case, precision: Precision, device: str, y: np.ndarray,
                   final: dict[str, np.ndarray]) -> str:
    """'' when the timed call's outputs are within the bound, else the worst failure."""
    expected = oracle.reference(case)
    yard = oracle.yardstick(case, precision, device, False)
    comparisons = [compare_values("y", "value", y, expected.y, yard.y, precision)]
    for name, ref in expected.final.items():
        if name in final:
            comparisons.append(compare_values(f"{name}_T", "value", final[name], ref, yard.final.get(name),
                                              precision))
    failed = [c for c in comparisons if not c.passed]
    return "; ".join(c.describe() for c in failed)


__all__ = ["BenchRow", "BenchPlan", "run_bench", "bench_one", "FORWARD", "FORWARD_BACKWARD", "REFERENCE", "TIMED"]
