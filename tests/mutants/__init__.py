"""Kernels with known answers, for measuring what ``lstmspec check`` catches (tests/test_mutation_score.py).

Each module holds, for one spec, ``CORRECT`` (kernels written in different
ways that must pass) and ``WRONG`` (one plausible real-world bug each, which must
fail).
"""
from __future__ import annotations

from . import convlstm2d_kernels, lstm_kernels

#: spec name -> module of kernels
BY_SPEC = {"lstm": lstm_kernels, "convlstm2d": convlstm2d_kernels}
