"""lstmspec: LSTM-family layers as declarative specs, a reference derived from the
equations, and checks of real implementations against it.

    >>> import lstmspec, numpy as np
    >>> spec = lstmspec.load_spec("lstm")
    >>> params = spec.random_params({}, np.random.default_rng(0), units=8)
    >>> x, state = spec.random_inputs({}, np.random.default_rng(1), units=8)
    >>> y, final = spec.reference(x, state, params, {})
"""
from __future__ import annotations

from .errors import ConfigError, LookupFailed, LstmspecError, ShapeError, SpecError
from .spec import Spec, load_spec, shipped_names

__version__ = "0.1.0"

_LAZY = {  # heavy or optional pieces, imported on first use so `import lstmspec` stays light
    "assert_conforms": ("lstmspec.api", "assert_conforms"),
    "check_kernel": ("lstmspec.api", "check_kernel"),
    "conformance_tests": ("lstmspec.pytest_plugin", "conformance_tests"),
    "kernel": ("lstmspec.kernels.protocol", "kernel"),
    "strategies": ("lstmspec.strategies", None),
}


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 lazy attributes
    if name not in _LAZY:
        raise AttributeError(f"module 'lstmspec' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)


__all__ = [
    "ConfigError",
    "LookupFailed",
    "LstmspecError",
    "ShapeError",
    "Spec",
    "SpecError",
    "load_spec",
    "shipped_names",
    "__version__",
    "assert_conforms",
    "check_kernel",
    "conformance_tests",
    "kernel",
    "strategies",
]
