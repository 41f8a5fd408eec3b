"""A framework layer of a spec checked on a spec that extends it with a transform.

``row_lstm`` extends ``lstm`` and reads its input through ``x = rows(image)``:
``torch.nn.LSTM`` implements it when it is fed the rows. The wrapper gives
the inner adapter the case with ``x`` transformed
(``lstmspec.reference.transforms.lower_data``) and maps the layer's input
gradient back to the image through the transform's adjoint, so the layer is
compared with the same reference as a kernel given the image, gradients
included. Which adapters qualify is the spec's ``lineage``: the specs it
extends without changing their equations.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..check.oracle import CaseData
from ..check.precision import Precision
from ..reference.transforms import lower_data, pull_back_input_gradient
from .base import Adapter, Outcome, Prepared


class LoweredAdapter(Adapter):
    def __init__(self, inner: Adapter, spec: Any) -> None:
        self.inner = inner
        fed = ", ".join(f"{t.name} = {t.op}({t.source})" for t in spec.transforms.values())
        self.name = f"{inner.name}, fed {fed}" if fed else inner.name  # type: ignore[misc]
        self.framework = inner.framework  # type: ignore[misc]
        self.spec = spec.name  # type: ignore[misc]
        self.layout = inner.layout  # type: ignore[misc]
        self.devices, self.precisions = inner.devices, inner.precisions  # type: ignore[misc]
        self.gradients, self.doc = inner.gradients, inner.doc  # type: ignore[misc]
        self.supports, self.supports_note = inner.supports, inner.supports_note  # type: ignore[misc]
        self.untimed = inner.untimed  # type: ignore[misc]
        note = f"{inner.spec}'s layer given {fed}; its input gradient mapped back through the transform" if fed else ""
        self.convention = "; ".join(c for c in (inner.convention, note) if c)  # type: ignore[misc]

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        return self.inner.unsupported(lower_data(data), device, precision)

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        prepared = self.inner.prepare(lower_data(data), device, precision, threads=threads)
        inner_outcome = prepared.outcome
        if inner_outcome is None:
            return prepared

        def outcome(want_grads: bool) -> Outcome:
            return self._pulled_back(data, inner_outcome(want_grads))

        return dataclasses.replace(prepared, outcome=outcome)

    def _run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        # through the inner adapter's run, so a subclass that changes it (a deliberately wrong layer) is lowered too
        return self._pulled_back(data, self.inner.run(lower_data(data), device, precision, want_grads))

    @staticmethod
    def _pulled_back(data: CaseData, outcome: Outcome) -> Outcome:
        if "x" in outcome.grads and data.spec.transforms:
            outcome.grads["x"] = pull_back_input_gradient(data, outcome.grads["x"])
        return outcome
