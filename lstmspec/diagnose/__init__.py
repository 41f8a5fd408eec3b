"""Diagnose a failed case: which known deviation of the spec reproduces what the implementation returned.

    from lstmspec.diagnose import diagnose

    found = diagnose(spec, data, outcome.y, outcome.final, expected, precision, yardstick=yard)
    found.text  # 'matches lstm with gate order i,o,f,g (...): y, h_T, c_T within the bound (...)'

The catalogue (``VARIANTS``) is data: each entry is the spec's own reference
with one deviation (``variant``), registered by ``catalogue``,
``blocks_catalogue`` (gate order, peepholes), ``conv_catalogue``
(convolutions and their masks), ``grid_catalogue`` (grid recurrences) and
``transform_catalogue`` (input transforms); ``engine`` runs it and decides
what matches.
"""
from __future__ import annotations

from . import blocks_catalogue, catalogue, conv_catalogue, grid_catalogue, transform_catalogue  # noqa: F401 - importing registers the entries
from .engine import Diagnosis, describe_failure, diagnose
from .variant import VARIANTS, Inputs, Variant

__all__ = ["diagnose", "describe_failure", "Diagnosis", "VARIANTS", "Variant", "Inputs"]
