"""What is timed: each implementation built once for a case, then only its call.

A ``Timed`` holds closures over a layer, session or kernel that is already
built, loaded with the case's parameters (through the spec's layouts, as the
conformance check loads them) and given its inputs on the device. Building
the layer, the ONNX session or the tf.function trace is never in the timed
region: the timer calls ``forward`` (inference: no autograd graph) or
``forward_backward`` (the forward pass and the gradients of a fixed scalar
function of the outputs with respect to the input, the initial states and
every parameter). ``outputs`` runs ``forward`` once more and returns float64
numpy ``(y, final_state)`` in the spec's layout, so the very call that is
timed is compared with the reference, not only the adapter's own ``run``.

Builders are registered by adapter name (``torch.nn.LSTM``, ...); an adapter
without a builder is reported as not timed, with that reason.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..adapters.base import Adapter, as_numpy
from ..check.oracle import CaseData
from ..check.precision import Precision, torch_dtype, torch_math_mode
from ..check.runner import declared_skip
from ..errors import ConfigError, LookupFailed
from ..registry import Registry
from ..spec.model import Spec
from . import environment

Arrays = tuple[np.ndarray, dict[str, np.ndarray]]
REFERENCE = "lstmspec.reference(numpy)"
TORCH_REFERENCE = "lstmspec.reference(torch)"


@dataclass
class Timed:
    forward: Callable[[], Any]
    outputs: Callable[[], Arrays]
    forward_backward: Callable[[], Any] | None = None
    context: Callable[[], AbstractContextManager] = nullcontext  # math mode around every call
    note: str = ""  # how it is called (e.g. "through tf.function"), shown in reports


Builder = Callable[["Implementation", CaseData, str, Precision], Timed]


@dataclass
class Implementation:
    """One row source of the bench: a reference, a framework adapter or a user kernel."""

    name: str
    kind: str  # "reference" | "framework" | "kernel"
    framework: str  # "lstmspec" | "torch" | "keras" | "onnxruntime" | "kernel"
    builder: Builder | None
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
        if self.builder is None:
            return f"no timed builder for {self.name} (its adapter builds the layer inside run())"
        if backward and not self.gradients:
            return f"{self.name} computes no gradients"
        if self.adapter is not None:
            reason = declared_skip(spec, self.adapter, case)
            if reason:
                return reason
            if data is not None:
                return self.adapter.unsupported(data, device, precision)
        return None


# ------------------------------------------------------------------ helpers
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


def _load_module(module: Any, tensors: Mapping[str, np.ndarray]) -> None:
    import torch

    own = dict(module.named_parameters())
    missing = sorted(set(own) - set(tensors))
    if missing:
        raise ConfigError(f"the layout gives no {', '.join(missing)}")
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(torch.as_tensor(tensors[name]))


BUILDERS: Registry[Builder] = Registry("timed builder")


# --------------------------------------------------------------- references
def build_reference(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Timed:
    spec, x, state, params, attrs = data.spec, data.x, data.state, data.params, data.attrs

    def forward() -> Any:
        return spec.reference(x, state, params, attrs)

    def outputs() -> Arrays:
        y, final = forward()
        return np.asarray(y, dtype=np.float64), {k: np.asarray(v, dtype=np.float64) for k, v in final.items()}

    return Timed(forward, outputs, note="numpy float64, the oracle")


def build_torch_reference(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Timed:
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

    def outputs() -> Arrays:
        y, final = forward()
        return as_numpy(y), {k: as_numpy(v) for k, v in final.items()}

    leaves = {"x": x.detach().clone().requires_grad_(True),
              **{k: v.detach().clone().requires_grad_(True) for k, v in state.items()},
              **{k: v.detach().clone().requires_grad_(True) for k, v in params.items()}}
    cot = {k: _tensor(v, device, precision) for k, v in data.cotangents.items()}

    def forward_backward() -> Any:
        y, final = spec.reference(leaves["x"], {k: leaves[k] for k in state}, {k: leaves[k] for k in params}, attrs,
                                  backend=backend)
        return torch.autograd.grad(_torch_loss(y, final, cot), list(leaves.values()), allow_unused=True)

    return Timed(forward, outputs, forward_backward, lambda: torch_math_mode(precision),
                 note=f"the spec's equations evaluated by torch in {precision.dtype}")


# --------------------------------------------------------------------- torch
def build_torch_lstm(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Timed:
    import torch

    adapter = impl.adapter
    batch_first = getattr(adapter, "batch_first", True)
    batch, steps, features = data.x.shape
    units = data.state["h"].shape[-1]
    layer = torch.nn.LSTM(features, units, batch_first=batch_first).to(device=device, dtype=torch_dtype(precision))
    _load_module(layer, data.spec.layout(adapter.layout).to_framework(data.params, data.rng("bias split")))
    x_np = data.x if batch_first else data.x.transpose(1, 0, 2)
    x = _tensor(x_np, device, precision)
    h0, c0 = _tensor(data.state["h"][None], device, precision), _tensor(data.state["c"][None], device, precision)

    def forward() -> Any:
        with torch.no_grad():
            return layer(x, (h0, c0))

    def outputs() -> Arrays:
        y, (h, c) = forward()
        if not batch_first:
            y = y.transpose(0, 1)
        return as_numpy(y), {"h": as_numpy(h[0]), "c": as_numpy(c[0])}

    leaves = [t.detach().clone().requires_grad_(True) for t in (x, h0, c0)]
    gy = data.cotangents["y"] if batch_first else data.cotangents["y"].transpose(1, 0, 2)
    cot = {"y": _tensor(gy, device, precision), "h": _tensor(data.cotangents["h"][None], device, precision),
           "c": _tensor(data.cotangents["c"][None], device, precision)}
    weights = list(layer.parameters())

    def forward_backward() -> Any:
        y, (h, c) = layer(leaves[0], (leaves[1], leaves[2]))
        return torch.autograd.grad(_torch_loss(y, {"h": h, "c": c}, cot), leaves + weights)

    return Timed(forward, outputs, forward_backward, lambda: torch_math_mode(precision),
                 note="cuDNN" if device == "cuda" else "")


def build_torch_lstm_cell(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Timed:
    import torch

    adapter = impl.adapter
    batch, steps, features = data.x.shape
    units = data.state["h"].shape[-1]
    cell = torch.nn.LSTMCell(features, units).to(device=device, dtype=torch_dtype(precision))
    _load_module(cell, data.spec.layout(adapter.layout).to_framework(data.params, data.rng("bias split")))
    x = _tensor(data.x, device, precision)
    h0, c0 = _tensor(data.state["h"], device, precision), _tensor(data.state["c"], device, precision)

    def run(x: Any, h: Any, c: Any) -> tuple[Any, Any, Any]:
        hc = (h, c)
        outs = []
        for t in range(steps):
            hc = cell(x[:, t], hc)
            outs.append(hc[0])
        return torch.stack(outs, dim=1), hc[0], hc[1]

    def forward() -> Any:
        with torch.no_grad():
            return run(x, h0, c0)

    def outputs() -> Arrays:
        y, h, c = forward()
        return as_numpy(y), {"h": as_numpy(h), "c": as_numpy(c)}

    leaves = [t.detach().clone().requires_grad_(True) for t in (x, h0, c0)]
    cot = {k: _tensor(v, device, precision) for k, v in data.cotangents.items()}
    weights = list(cell.parameters())

    def forward_backward() -> Any:
        y, h, c = run(*leaves)
        return torch.autograd.grad(_torch_loss(y, {"h": h, "c": c}, cot), leaves + weights)

    return Timed(forward, outputs, forward_backward, lambda: torch_math_mode(precision),
                 note="one nn.LSTMCell call per step")


BUILDERS.register("torch.nn.LSTM", build_torch_lstm)
BUILDERS.register("torch.nn.LSTM(batch_first=False)", build_torch_lstm)
BUILDERS.register("torch.nn.LSTMCell", build_torch_lstm_cell)


# --------------------------------------------------------------------- keras
def build_keras(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Timed:
    """The adapter's layer, loaded through the spec's keras layout, called through ``tf.function``.

    A traced graph, not eager calls: eagerly, Keras runs the recurrence one
    Python-dispatched op at a time, which times the interpreter. The trace
    happens in the warm-up, outside the timed region.
    """
    from ..adapters.keras_layers import _tf_keras

    tf, _ = _tf_keras()
    adapter = impl.adapter
    with tf.device("/CPU:0"):
        layer = adapter.make_layer(data, precision)
        adapter.load(data, layer)
        x = tf.constant(data.x, dtype=precision.dtype)
        h0 = tf.constant(data.state["h"], dtype=precision.dtype)
        c0 = tf.constant(data.state["c"], dtype=precision.dtype)
        cot = {k: tf.constant(v, dtype=precision.dtype) for k, v in data.cotangents.items()}

    reverse = bool(getattr(layer, "go_backwards", False))

    @tf.function
    def call() -> Any:
        y, h, c = layer(x, initial_state=[h0, c0])
        if reverse:
            y = adapter.to_input_order(tf, y)
        return y, h, c

    @tf.function
    def call_grad() -> Any:
        with tf.GradientTape() as tape:
            tape.watch([x, h0, c0])
            y, h, c = layer(x, initial_state=[h0, c0])
            if reverse:
                y = adapter.to_input_order(tf, y)
            loss = tf.reduce_sum(y * cot["y"]) + tf.reduce_sum(h * cot["h"]) + tf.reduce_sum(c * cot["c"])
        return tape.gradient(loss, [x, h0, c0] + list(layer.trainable_weights))

    def forward() -> Any:
        with tf.device("/CPU:0"):
            return call()

    def forward_backward() -> Any:
        with tf.device("/CPU:0"):
            return call_grad()

    def outputs() -> Arrays:
        y, h, c = forward()
        return as_numpy(y), {"h": as_numpy(h), "c": as_numpy(c)}

    return Timed(forward, outputs, forward_backward, note="through tf.function (graph), traced in the warm-up")


for _name in ("keras.layers.LSTM", "keras.layers.ConvLSTM1D", "keras.layers.ConvLSTM2D", "keras.layers.ConvLSTM3D"):
    BUILDERS.register(_name, build_keras)


# --------------------------------------------------------------- onnxruntime
def build_onnx(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Timed:
    """The adapter's one-node graph in a session of our own: the adapter's cached session runs on
    one thread (right for checking many small cases), a timing uses ``--threads`` (0: ORT's default)."""
    import onnxruntime as ort

    from ..adapters.onnx_lstm import build_model

    adapter = impl.adapter
    key = adapter._key(data)
    if isinstance(key, str):
        raise ConfigError(key)
    options = ort.SessionOptions()
    options.intra_op_num_threads = environment.threads() or 0
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 4
    session = ort.InferenceSession(build_model(key).SerializeToString(), options, providers=["CPUExecutionProvider"])
    tensors = data.spec.layout(adapter.layout).to_framework(data.params, data.rng("bias split"))
    feeds = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tensors.items()}
    time_major = adapter.onnx_layout == 0
    feeds["X"] = np.ascontiguousarray(data.x.transpose((1, 0, 2) if time_major else (0, 1, 2)), dtype=np.float32)
    if key.initial_state:
        for name, state in (("initial_h", "h"), ("initial_c", "c")):
            value = data.state[state][None] if time_major else data.state[state][:, None]
            feeds[name] = np.ascontiguousarray(value, dtype=np.float32)
    names = ["Y", "Y_h", "Y_c"]

    def forward() -> Any:
        return session.run(names, feeds)

    def outputs() -> Arrays:
        y, h, c = forward()
        if time_major:
            y, h, c = y[:, 0].transpose(1, 0, 2), h[0], c[0]
        else:
            y, h, c = y[:, :, 0], h[:, 0], c[:, 0]
        return as_numpy(y), {"h": as_numpy(h), "c": as_numpy(c)}

    threads = options.intra_op_num_threads
    return Timed(forward, outputs, note=f"InferenceSession.run, intra_op_num_threads={threads} (0 = all cores)")


for _name in ("onnxruntime.LSTM", "onnxruntime.LSTM(layout=1)", "onnxruntime.LSTM+peepholes",
              "onnxruntime.LSTM+peepholes(layout=1)"):
    BUILDERS.register(_name, build_onnx)


# ------------------------------------------------------------------- kernels
def build_kernel(impl: Implementation, data: CaseData, device: str, precision: Precision) -> Timed:
    """A user kernel called as the check calls it (``lstmspec.kernels.protocol``), inputs prepared once."""
    import torch

    kernel = impl.adapter
    x = _tensor(data.x, device, precision)
    state = {k: _tensor(v, device, precision) for k, v in data.state.items()}
    layout = data.spec.layout(kernel.layout) if kernel.layout else None
    source = layout.to_framework(data.params, data.rng("bias split")) if layout else data.params
    params = {k: _tensor(v, device, precision) for k, v in source.items()}
    config = {**data.attrs, "return_sequences": True}

    if kernel.module_class:
        module = kernel.fn(data.x.shape[-1], data.state["h"].shape[-1], batch_first=True)
        module = module.to(device=device, dtype=torch_dtype(precision))
        _load_module(module, {k: v.detach().cpu().double().numpy() for k, v in params.items()})

        def call(x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
            y, (h, c) = module(x, (state["h"][None], state["c"][None]))
            return y, {"h": h[0], "c": c[0]}
        weights = list(module.parameters())
    elif kernel.arrays == "numpy":
        def to_np(t: Any) -> np.ndarray:
            return t.detach().cpu().numpy().copy()
        np_args = (to_np(x), {k: to_np(v) for k, v in state.items()}, {k: to_np(v) for k, v in params.items()})

        def call(x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
            return kernel.fn(*np_args, config)
        weights = []
    else:
        def call(x: Any, state: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
            return kernel.fn(x, dict(state), dict(params), config)
        weights = []

    def forward() -> Any:
        with torch.no_grad():
            return call(x, state, params)

    def outputs() -> Arrays:
        y, final = forward()
        return as_numpy(y), {k: as_numpy(v) for k, v in dict(final).items()}

    leaves = {"x": x.detach().clone().requires_grad_(True),
              **{k: v.detach().clone().requires_grad_(True) for k, v in state.items()}}
    grad_params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    cot = {k: _tensor(v, device, precision) for k, v in data.cotangents.items()}

    def forward_backward() -> Any:
        y, final = call(leaves["x"], {k: leaves[k] for k in state}, grad_params)
        targets = list(leaves.values()) + (weights or list(grad_params.values()))
        return torch.autograd.grad(_torch_loss(y, dict(final), cot), targets, allow_unused=True)

    return Timed(forward, outputs, forward_backward if kernel.gradients and kernel.arrays == "torch" else None,
                 lambda: torch_math_mode(precision), note=f"{kernel.arrays} arrays")


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
    builder = BUILDERS.get(adapter.name) if adapter.name in BUILDERS else None
    return Implementation(adapter.name, "framework", adapter.framework, builder, adapter, tuple(adapter.devices),
                          tuple(adapter.precisions), bool(adapter.gradients), adapter.doc)


def from_kernel(kernel: Any) -> Implementation:
    """``kernel``: a ``KernelAdapter`` (what ``lstmspec check --kernel`` builds)."""
    return Implementation(kernel.name, "kernel", "kernel", build_kernel, kernel, tuple(kernel.devices),
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


__all__ = ["Timed", "Implementation", "BUILDERS", "REFERENCE", "TORCH_REFERENCE", "references", "from_adapter",
           "from_kernel", "select"]
