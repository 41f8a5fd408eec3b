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
]
