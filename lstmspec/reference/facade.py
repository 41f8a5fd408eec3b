"""What a :class:`~lstmspec.spec.model.Spec`'s own methods reach in the reference.

The spec layer sits below the reference, which reads specs; ``Spec.reference``,
``Spec.random_params`` and ``Spec.random_inputs`` are conveniences over it. They
import this one module, lazily, so the spec layer has a single import that looks
up (``tests/test_architecture.py`` allows exactly that one).
"""
from __future__ import annotations

from .run import run_reference
from .random import random_inputs, random_params

__all__ = ["random_inputs", "random_params", "run_reference"]
