"""pytest plugin (entry point ``pytest11``): lstmspec's checks inside a kernel's own test suite.

    def test_my_lstm(lstmspec_conforms):
        lstmspec_conforms(my_lstm, spec="lstm")

The fixture is ``lstmspec.assert_conforms`` with defaults from the command
line: ``--lstmspec-fuzz N``, ``--lstmspec-seed S``, ``--lstmspec-dtypes
float64,float32``, ``--lstmspec-device cpu``. Nothing heavy is imported
until a test uses the fixture.
"""
from __future__ import annotations

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
        return assert_conforms(kernel, spec, **{**defaults, **options})

    return run
