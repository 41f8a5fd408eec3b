"""pytest plugin (entry point ``pytest11``): lstmspec's checks inside a kernel's own test suite.

    test_my_lstm = lstmspec.conformance_tests(my_lstm, spec="lstm")   # one item per (precision, case)

    def test_my_lstm_at_once(lstmspec_conforms):                      # one item for the whole matrix
        lstmspec_conforms(my_lstm, spec="lstm")

The fixture is ``lstmspec.assert_conforms`` with defaults from the command
line: ``--lstmspec-fuzz N``, ``--lstmspec-seed S``, ``--lstmspec-dtypes
float64,float32``, ``--lstmspec-device cpu``. Nothing heavy is imported
until a test uses the fixture.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("lstmspec", "lstmspec kernel conformance")
    group.addoption("--lstmspec-fuzz", type=int, default=0, metavar="N", help="drawn cases per kernel check")
    group.addoption("--lstmspec-seed", type=int, default=0, metavar="S", help="seed of lstmspec's cases")
    group.addoption("--lstmspec-dtypes", default=None, metavar="LIST", help="precisions, e.g. float64,float32")
    group.addoption("--lstmspec-device", default="cpu", metavar="DEVICE", help="cpu or cuda")


@pytest.fixture
def lstmspec_conforms(request: Any) -> Any:
    """``lstmspec_conforms(kernel, spec="lstm", **options)``: assert_conforms with the command line's defaults."""
    from .api import assert_conforms

    config = request.config
    dtypes = config.getoption("--lstmspec-dtypes")
    defaults = {
        "fuzz": config.getoption("--lstmspec-fuzz"),
        "seed": config.getoption("--lstmspec-seed"),
        "device": config.getoption("--lstmspec-device"),
    }
    if dtypes:
        defaults["dtypes"] = tuple(d.strip() for d in dtypes.split(",") if d.strip())

    def run(kernel: Any, spec: str = "lstm", **options: Any) -> Any:
        __tracebackhide__ = True
        return assert_conforms(kernel, spec, **{"replay_from": Path(str(request.path)).parent, **defaults, **options})

    return run


def conformance_tests(kernel: Any, spec: Any = "lstm", *, dtypes: Any = None, device: str = "cpu", fuzz: int = 0,
                      where: Any = None, seed: int = 0, grad: bool | None = None, supports: Any = None,
                      name: str | None = None) -> Any:
    """A test function that pytest collects as one item per (precision, case) of ``spec``'s matrix for ``kernel``.

        test_my_lstm = lstmspec.conformance_tests(my_lstm, spec="lstm")

    Items are named ``test_my_lstm[float64-one timestep]`` (the case's label, or its key where labels repeat),
    so ``-k`` picks precisions and cases and ``pytest -n N`` spreads them. What the kernel declares it does
    not support is a pytest skip with the reason; ``fuzz=N`` adds one item per precision running N drawn
    cases. Wrong arguments (an unknown spec, dtype, device or ``where`` name) are a collection error.
    """
    from .api import KernelCheck
    from .errors import LstmspecError

    problem = None
    try:
        check = KernelCheck(kernel, spec, dtypes=dtypes, device=device, seed=seed, where=where, grad=grad,
                            supports=supports, name=name)
    except LstmspecError as exc:
        problem = str(exc)
    if problem is None and (not isinstance(fuzz, int) or isinstance(fuzz, bool) or fuzz < 0):
        problem = f"Expected fuzz a count >= 0 but got fuzz={fuzz!r}"
    if problem is not None:  # raised outside the except block: one line, no chained traceback
        pytest.fail(f"lstmspec.conformance_tests: {problem}", pytrace=False)

    params = []
    for precision in check.precisions:
        seen: set[str] = set()
        for case in check.cases:
            label = case.label or case.key or "defaults"
            label = label if label not in seen else case.key
            seen.add(label)
            reason = check.skip_reason(case, precision)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            params.append(pytest.param(("case", case, precision), id=f"{precision.name}-{label}", marks=marks))
        if fuzz:
            params.append(pytest.param(("fuzz", fuzz, precision), id=f"{precision.name}-fuzz"))

    @pytest.mark.parametrize("lstmspec_case", params)
    def test(lstmspec_case: Any, request: Any) -> None:
        what, arg, precision = lstmspec_case
        if what == "case":
            results = [check.run(arg, precision)]
        else:
            results = []
            check.fuzz(precision, arg, results.append)
        _outcome(check, results, Path(str(request.path)).parent)

    test.__name__ = test.__qualname__ = f"test_{getattr(kernel, '__name__', 'kernel')}"
    if inspect.isfunction(kernel):  # skips and failures point at the kernel's source, not at this module
        test.place_as = kernel
    test.__doc__ = f"{check.name} against spec {check.spec.name}, one item per (precision, case)."
    return test


def _outcome(check: Any, results: list[Any], start: Path) -> None:
    """Pass, skip with the reason, or fail with lstmspec's failure report (pytrace=False: no traceback)."""
    from .api import cli_replay
    from .check.results import ERROR, FAIL, PASS
    from .report.failure import failure_report

    bad = [r for r in results if r.status in (FAIL, ERROR)]
    if bad:
        replay = cli_replay(check.kernel, check.spec, start)
        pytest.fail("\n".join(failure_report(r, replay=replay(r)) for r in bad), pytrace=False)
    if not any(r.status == PASS for r in results):
        pytest.skip("; ".join(dict.fromkeys(r.reason for r in results if r.reason)) or "nothing ran")
