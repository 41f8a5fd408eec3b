"""Python entry points for test suites: check a kernel, or assert that it conforms.

    import lstmspec

    test_my_lstm = lstmspec.conformance_tests(my_lstm, spec="lstm")   # one pytest item per case

    def test_my_lstm_at_once():
        lstmspec.assert_conforms(my_lstm, spec="lstm", dtypes=("float64", "float32"))

The kernel runs in this process (so it can be a closure or a test-local
function); a failure message leads with the diagnosis (or the worst quantity
against its bound), then the case, the worst quantities, the worst element
and the command that replays it (``lstmspec.report.failure``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .check.cases import OPTIONS, Case, matrix_for, select
from .check.precision import CPU_DEFAULT, CUDA_DEFAULT, PRECISIONS, Precision
from .check.results import ERROR, FAIL, PASS, SKIP, CaseResult
from .check.runner import Oracle, Plan, Target, check_one, declared_skip, device_available, static_skip
from .errors import ConfigError
from .machine import DEVICES
from .spec.catalog import load_spec
from .spec.model import Spec


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ConfigError(f"Expected device one of {', '.join(DEVICES)} but got device={device!r}")
    return device


def check_where(spec: Spec, where: Mapping[str, Any] | None) -> dict[str, Any]:
    """``where`` names must be dimensions, attributes or case options of ``spec``: a misspelt one restricts nothing."""
    where = dict(where or {})
    known = [*spec.dims, *spec.attributes, *OPTIONS]
    for name in where:
        if name not in known:
            raise ConfigError(f"where={{{name!r}: ...}}: spec {spec.name} has no dimension, attribute or option "
                              f"{name!r}; known: {', '.join(known)}")
    return where


class KernelCheck:
    """A kernel against a spec, one (case, precision) at a time: what ``check_kernel`` and pytest items run.

    Everything the arguments can get wrong (spec, dtypes, device, ``where``) raises a ConfigError, SpecError
    or LookupFailed here, before any case runs. The float64 reference of a case is computed on first use and
    cached for the life of this object (one per process under pytest-xdist).
    """

    def __init__(self, kernel: Any, spec: str | Spec = "lstm", *, dtypes: Sequence[str] | None = None,
                 device: str = "cpu", seed: int = 0, where: Mapping[str, Any] | None = None,
                 grad: bool | None = None, supports: Mapping[str, Any] | None = None, name: str | None = None,
                 diagnose: bool = True) -> None:
        from .kernels.protocol import KernelAdapter

        self.spec = spec if isinstance(spec, Spec) else load_spec(spec)
        self.device = check_device(device)
        if isinstance(dtypes, str):
            dtypes = (dtypes,)
        self.precisions: list[Precision] = [PRECISIONS.get(d) for d in
                                            (dtypes or (CPU_DEFAULT if device == "cpu" else CUDA_DEFAULT))]
        self.where = check_where(self.spec, where)
        self.seed = seed
        self.name = name or getattr(kernel, "__qualname__", None) or repr(kernel)
        self.kernel = kernel
        impl = KernelAdapter(kernel, self.name, self.spec, grad=grad, supports=supports)
        self.target = Target(self.name, "kernel", impl)
        self.cases, _ = select(self.spec, matrix_for(self.spec, [impl.supports]), self.where)
        if not self.cases:
            shown = ", ".join(f"{k}={v!r}" for k, v in self.where.items())
            raise ConfigError(f"where {shown} selects no case of spec {self.spec.name}")
        self.plan = Plan(self.spec, str(self.spec.path) if self.spec.path else self.spec.name, self.cases,
                         [self.target], [device], self.precisions, seed, grads=True, diagnose=diagnose)
        self._oracle: Oracle | None = None

    @property
    def oracle(self) -> Oracle:
        if self._oracle is None:
            self._oracle = Oracle(self.spec, self.seed)
        return self._oracle

    def skip_reason(self, case: Case, precision: Precision) -> str | None:
        """Why this case is skipped without running, from the kernel's declarations alone (None: it runs)."""
        return static_skip(self.target.impl, self.device, precision) or declared_skip(self.spec, self.target.impl, case)

    def run(self, case: Case, precision: Precision) -> CaseResult:
        unavailable = device_available(self.device)
        if unavailable:
            result = CaseResult(self.spec.name, self.name, self.device, precision.name, case, self.seed, SKIP,
                                reason=unavailable, spec_arg=self.plan.spec_arg, kind="kernel")
            return result
        return check_one(self.plan, self.oracle, self.target, case, self.device, precision)

    def fuzz(self, precision: Precision, count: int, on_result: Callable[[CaseResult], None]) -> None:
        """``count`` cases drawn with hypothesis (a failure shrunk to a minimal one)."""
        from .check.fuzz import fuzz as run_fuzz

        run_fuzz(self.plan, self.oracle, self.target, self.device, precision, count, on_result, self.where)


def check_kernel(kernel: Any, spec: str | Spec = "lstm", *, dtypes: Sequence[str] | None = None, device: str = "cpu",
                 fuzz: int = 0, seed: int = 0, where: Mapping[str, Any] | None = None, grad: bool | None = None,
                 supports: Mapping[str, Any] | None = None, name: str | None = None, diagnose: bool = True,
                 on_result: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Run ``kernel`` on ``spec``'s default matrix (plus ``fuzz`` drawn cases); every result."""
    check = KernelCheck(kernel, spec, dtypes=dtypes, device=device, seed=seed, where=where, grad=grad,
                        supports=supports, name=name, diagnose=diagnose)
    results: list[CaseResult] = []

    def keep(result: CaseResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for precision in check.precisions:
        for case in check.cases:
            keep(check.run(case, precision))
        if fuzz:
            check.fuzz(precision, fuzz, keep)
    return results


def nonconformance(results: Sequence[CaseResult], *, replay: Callable[[CaseResult], str] | None = None) -> str | None:
    """The failure message for a list of results, or None when they conform (some case passed, none failed).

    Its first line is the first failure's headline with the count; each failed case follows, short.
    """
    from .report.failure import failure_report, headline

    bad = [r for r in results if r.status in (FAIL, ERROR)]
    if bad:
        first = bad[0]
        head = (f"{first.implementation} does not conform to {first.spec}: {len(bad)} of {len(results)} cases "
                f"failed; first ({first.precision}, {first.case.describe()}): {headline(first)}")
        body = [failure_report(r, replay=replay(r) if replay else None, indent="  ") for r in bad]
        return "\n".join([head, *body])
    if not any(r.status == PASS for r in results):
        reasons = sorted({r.reason for r in results if r.reason})
        return "no case ran (every case was skipped): " + "; ".join(reasons[:3]) + \
            (f"; and {len(reasons) - 3} more reasons" if len(reasons) > 3 else "")
    return None


def cli_replay(kernel: Any, spec: Spec, start: str | Path | None = None) -> Callable[[CaseResult], str]:
    """The replay command of a result as it runs from ``start`` (default: the current folder): the spec by name
    when it is shipped, the kernel as ``FILE.py:NAME``; for a kernel the command line cannot load, says so."""
    from .report.failure import kernel_reference, spec_reference

    start = Path.cwd() if start is None else Path(start)
    ref, why = kernel_reference(kernel, start)
    spec_arg = spec_reference(spec, start)

    def replay(r: CaseResult) -> str:
        if ref is None:
            return f"none from the command line: {why}; --case {r.case.key} --seed {r.run_seed} names the case"
        # --grad where gradients were compared: the kernel may have been given grad=True rather than declaring it
        grad = " --grad" if any(c.kind == "grad" for c in r.comparisons) else ""
        return r.replay(spec=spec_arg, implementation=ref) + grad

    return replay


def assert_conforms(kernel: Any, spec: str | Spec = "lstm", *, replay_from: str | Path | None = None,
                    **options: Any) -> list[CaseResult]:
    """``check_kernel``, raising AssertionError (the failure report) unless every case passes or is skipped.

    Also raises when nothing ran at all: a check that skipped every case proves nothing. Replay commands
    run as printed from ``replay_from`` (default: the current folder).
    """
    spec_obj = spec if isinstance(spec, Spec) else load_spec(spec)
    results = check_kernel(kernel, spec_obj, **options)
    message = nonconformance(results, replay=cli_replay(kernel, spec_obj, replay_from))
    if message:
        raise AssertionError(message)
    return results


__all__ = ["KernelCheck", "check_kernel", "assert_conforms", "nonconformance", "cli_replay", "check_device", "check_where"]
