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

from typing import Any

from ..check.oracle import CaseData
from ..check.precision import Precision
from ..reference.transforms import lower_data, pull_back_input_gradient
from .base import Adapter, Outcome


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
        note = f"{inner.spec}'s layer given {fed}; its input gradient mapped back through the transform" if fed else ""
        self.convention = "; ".join(c for c in (inner.convention, note) if c)  # type: ignore[misc]

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        return self.inner.unsupported(lower_data(data), device, precision)

    def run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        outcome = self.inner.run(lower_data(data), device, precision, want_grads)
        if "x" in outcome.grads and data.spec.transforms:
            outcome.grads["x"] = pull_back_input_gradient(data, outcome.grads["x"])
        return outcome
