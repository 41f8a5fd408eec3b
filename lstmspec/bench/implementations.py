"""What is timed: each implementation prepared once for a case, then only its call.

A framework adapter or a user kernel prepares itself (``Adapter.prepare``,
the same build path ``lstmspec check`` runs): the layer, session or kernel
built, loaded with the case's parameters through the spec's layouts, and
given its inputs on the device. The references are prepared here. Building
the layer, the ONNX session or the tf.function trace is never in the timed
region: the timer calls ``forward`` (inference: no autograd graph) or
``forward_backward`` (the forward pass and the gradients of a fixed scalar
function of the outputs with respect to the input, the initial states and
every parameter). ``outputs`` runs ``forward`` once more and returns float64
numpy ``(y, final_state)`` in the spec's layout, so the very call that is
timed is compared with the reference, not only the adapter's own ``run``.

An adapter that declares ``untimed`` is reported as not timed, with that reason.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..adapters.base import Adapter, Outcome, Prepared, as_numpy
from ..check.oracle import CaseData
from ..check.precision import Precision, torch_dtype, torch_math_mode
from ..check.runner import declared_skip
from ..errors import LookupFailed
from ..spec.model import Spec
from . import environment

REFERENCE = "lstmspec.reference(numpy)"
TORCH_REFERENCE = "lstmspec.reference(torch)"

Builder = Callable[["Implementation", CaseData, str, Precision], Prepared]


@dataclass
class Implementation:
    """One row source of the bench: a reference, a framework adapter or a user kernel."""

    name: str
    kind: str  # "reference" | "framework" | "kernel"
    framework: str  # "lstmspec" | "torch" | "keras" | "onnxruntime" | "kernel"
    builder: Builder
    adapter: Adapter | None = None  # what check_one runs for conformance; None for the references
    devices: tuple[str, ...] = ("cpu",)
    precisions: tuple[str, ...] = ("float64",)
    gradients: bool = False
    doc: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def unsupported(self, spec: Spec, data: CaseData | None, case: Any, device: str, precision: Precision,
                    backward: bool) -> str | None:
        """Why this implementation does not run this case/pass here, or None."""
        from ..check.runner import static_skip

        reason = static_skip(self, device, precision)
        if reason:
            return reason
        untimed = getattr(self.adapter, "untimed", "")
        if untimed:
            return f"{self.name} is not timed: {untimed}"
        if backward and not self.gradients:
            return f"{self.name} computes no gradients"
        if self.adapter is not None:
            reason = declared_skip(spec, self.adapter, case)
            if reason:
                return reason
            if data is not None:
                return self.adapter.unsupported(data, device, precision)
        return None


def _tensor(a: np.ndarray, device: str, precision: Precision, grad: bool = False) -> Any:
    import torch

    t = torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64).to(device=device, dtype=torch_dtype(precision))
    return t.requires_grad_(grad)


def _torch_loss(y: Any, final: Mapping[str, Any], cot: Mapping[str, Any]) -> Any:
    loss = (y * cot["y"]).sum()
    for k, v in final.items():
        if k in cot:
            loss = loss + (v * cot[k]).sum()
    return loss


# --------------------------------------------------------------- references
def build_reference(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Prepared:
    spec, x, state, params, attrs = data.spec, data.x, data.state, data.params, data.attrs

    def forward() -> Any:
        return spec.reference(x, state, params, attrs)

    def outputs() -> Outcome:
        y, final = forward()
        return Outcome(np.asarray(y, dtype=np.float64), {k: np.asarray(v, dtype=np.float64) for k, v in final.items()})

    return Prepared(forward, outputs, note="numpy float64, the oracle")


def build_torch_reference(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Prepared:
    import torch

    from ..reference.backends import TorchBackend

    backend = TorchBackend(precision.dtype, device)
    spec, attrs = data.spec, data.attrs
    x = _tensor(data.x, device, precision)
    state = {k: _tensor(v, device, precision) for k, v in data.state.items()}
    params = {k: _tensor(v, device, precision) for k, v in data.params.items()}

    def forward() -> Any:
        with torch.no_grad():
            return spec.reference(x, state, params, attrs, backend=backend)

    def outputs() -> Outcome:
        y, final = forward()
        return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in final.items()})

    leaves = {"x": x.detach().clone().requires_grad_(True),
              **{k: v.detach().clone().requires_grad_(True) for k, v in state.items()},
              **{k: v.detach().clone().requires_grad_(True) for k, v in params.items()}}
    cot = {k: _tensor(v, device, precision) for k, v in data.cotangents.items()}

    def forward_backward() -> Any:
        y, final = spec.reference(leaves["x"], {k: leaves[k] for k in state}, {k: leaves[k] for k in params}, attrs,
                                  backend=backend)
        return torch.autograd.grad(_torch_loss(y, final, cot), list(leaves.values()), allow_unused=True)

    return Prepared(forward, outputs, forward_backward=forward_backward, context=lambda: torch_math_mode(precision),
                    note=f"the spec's equations evaluated by torch in {precision.dtype}")


# ------------------------------------------------- adapters and kernels
def prepare_adapter(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Prepared:
    """The adapter's (or kernel's) own ``prepare``; runtimes with per-session threads get ``--threads``."""
    if impl.adapter is None:
        raise ValueError(f"{impl.name} has no adapter to prepare")
    return impl.adapter.prepare(data, device, precision, threads=environment.threads() or 0)


# ----------------------------------------------------------------- selection
def references() -> list[Implementation]:
    from ..check.precision import PRECISIONS

    out = [Implementation(REFERENCE, "reference", "lstmspec", build_reference, doc="the numpy float64 reference "
                          "derived from the spec's equations (the oracle)")]
    try:
        import torch  # noqa: F401
    except ImportError:
        return out
    out.append(Implementation(TORCH_REFERENCE, "reference", "lstmspec", build_torch_reference,
                              devices=("cpu", "cuda"), precisions=tuple(PRECISIONS.names()), gradients=True,
                              doc="the same equations evaluated by torch (autograd for the backward pass)"))
    return out


def from_adapter(adapter: Adapter) -> Implementation:
    return Implementation(adapter.name, "framework", adapter.framework, prepare_adapter, adapter,
                          tuple(adapter.devices), tuple(adapter.precisions), bool(adapter.gradients), adapter.doc)


def from_kernel(kernel: Any) -> Implementation:
    """``kernel``: a ``KernelAdapter`` (what ``lstmspec check --kernel`` builds)."""
    return Implementation(kernel.name, "kernel", "kernel", prepare_adapter, kernel, tuple(kernel.devices),
                          tuple(kernel.precisions), bool(kernel.gradients), "user kernel")


def select(spec: Spec, wanted: list[str], *, with_frameworks: bool, notes: list[str]) -> list[Implementation]:
    """References and framework adapters of ``spec`` named by ``wanted`` (every one when empty).

    ``wanted`` holds framework names (``torch``), adapter names
    (``torch.nn.LSTM``), ``reference`` (both references) or a reference's name.
    """
    from ..adapters.base import FRAMEWORKS, all_adapters, installed

    refs = references()
    adapters = [a for a in all_adapters()] if with_frameworks else []
    known = ["reference"] + [r.name for r in refs] + list(FRAMEWORKS) + [a.name for a in adapters]
    chosen: list[Implementation] = []
    for name in wanted:
        if name not in known:
            raise LookupFailed("implementation", name, known)
    for ref in refs:
        if not wanted or "reference" in wanted or ref.name in wanted:
            chosen.append(ref)
    for a in adapters:
        if a.spec != spec.name:
            continue
        if wanted and a.framework not in wanted and a.name not in wanted:
            continue
        if not installed(a, bool(wanted), notes):
            continue
        chosen.append(from_adapter(a))
    return chosen


__all__ = ["Implementation", "REFERENCE", "TORCH_REFERENCE", "references", "prepare_adapter", "from_adapter",
           "from_kernel", "select"]
