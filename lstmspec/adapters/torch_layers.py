"""PyTorch layers: ``torch.nn.LSTM`` (CPU; CUDA = cuDNN), batch-first or not, and ``nn.LSTMCell`` unrolled.

Each adapter says three things: how its module is built and loaded
(``build``), how it is called on its inputs (``call``, returning ``y`` and
the final states in the spec's layout), and how the gradients of its inputs
map back to the spec's (``input_grads``). ``prepare`` binds them once, for
``check`` and ``bench`` alike.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import Precision, torch_dtype, torch_math_mode
from ..errors import ShapeError
from .base import Adapter, Outcome, Prepared, adapter, as_numpy


@dataclass
class Built:
    """A module on the device, loaded, and its inputs (``x`` and, unless the case starts from zeros, ``h``, ``c``)."""

    module: Any
    inputs: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]  # the framework weight shapes the check compares with the layout's


def tensor(a: np.ndarray, device: str, precision: Precision) -> Any:
    """``a`` on ``device`` in the precision's dtype, through float64 (no float32 round trip)."""
    import torch

    return torch.as_tensor(a, dtype=torch.float64).to(device=device, dtype=torch_dtype(precision))


def load_module(module: Any, tensors: dict[str, np.ndarray], layout: str) -> None:
    """Copy the layout's tensors into the module's parameters of the same name."""
    import torch

    own = dict(module.named_parameters())
    missing = sorted(set(own) - set(tensors))
    if missing:
        raise ShapeError(f"layout {layout} gives no {', '.join(missing)} (the module has {', '.join(own)})")
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(torch.as_tensor(tensors[name]))


def torch_loss(data: CaseData, y: Any, final: dict[str, Any], cotangents: dict[str, Any]) -> Any:
    """L = sum(y * Gy) + sum(h_T * Gh) + sum(c_T * Gc), in float64 whatever the layer's dtype."""
    loss = (y.double() * cotangents["y"]).sum()
    for k, v in final.items():
        loss = loss + (v.double() * cotangents[k]).sum()
    return loss


class _TorchLSTMBase(Adapter):
    framework = "torch"
    spec = "lstm"
    devices = ("cpu", "cuda")
    precisions = ("float64", "float32", "tf32", "float16", "bfloat16")
    supports = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",), "direction": ("forward",),
                "return_sequences": (True,)}
    supports_note = ("PyTorch's LSTM has fixed activations, always returns every step, and has no reverse-only "
                     "direction (the halves of bidirectional=True are checked as their own implementations)")
    note = ""

    def build(self, data: CaseData, device: str, precision: Precision) -> Built:
        raise NotImplementedError

    def call(self, module: Any, inputs: dict[str, Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        """(y (batch, time, units), {"h": ..., "c": ...} (batch, units)) from the module called on ``inputs``."""
        raise NotImplementedError

    def input_grads(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Gradients of ``x``, ``h``, ``c`` in the layer's shapes, brought to the spec's."""
        return grads

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        import torch

        built = self.build(data, device, precision)
        module, inputs = built.module, built.inputs

        @functools.cache
        def differentiable() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            """(leaves, every source of a gradient, float64 cotangents), made on the first backward pass."""
            leaves = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
            dev = inputs["x"].device
            cotangents = {k: torch.as_tensor(v, device=dev) for k, v in data.cotangents.items()}
            return leaves, {**leaves, **dict(module.named_parameters())}, cotangents

        def to_outcome(y: Any, final: dict[str, Any], grads: dict[str, np.ndarray] | None = None) -> Outcome:
            return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in final.items()}, dict(built.shapes), grads or {})

        def forward() -> Any:
            with torch.no_grad():
                return self.call(module, inputs, data)

        def forward_backward() -> tuple[Any, dict[str, Any], dict[str, Any]]:
            leaves, sources, cotangents = differentiable()
            y, final = self.call(module, leaves, data)
            loss = torch_loss(data, y, final, cotangents)
            return y, final, dict(zip(sources, torch.autograd.grad(loss, list(sources.values()), allow_unused=True)))

        def outcome(want_grads: bool) -> Outcome:
            if not want_grads:  # autograd on (the weights require grad), as a user's forward call runs
                return to_outcome(*self.call(module, inputs, data))
            y, final, grads = forward_backward()
            sources = differentiable()[1]
            arrays = {k: as_numpy(g) if g is not None else np.zeros(tuple(sources[k].shape)) for k, g in grads.items()}
            return to_outcome(y, final, self.input_grads(arrays))

        return Prepared(forward, lambda: to_outcome(*forward()), outcome, forward_backward,
                        lambda: torch_math_mode(precision),
                        note=self.note or ("cuDNN" if device == "cuda" else ""))


class _NNLSTM(_TorchLSTMBase):
    layout = "torch"
    batch_first: bool = True

    def make_module(self, data: CaseData) -> Any:
        """The ``torch.nn.LSTM`` for the case's sizes, before its weights are loaded."""
        import torch

        return torch.nn.LSTM(data.x.shape[-1], data.state["h"].shape[-1], batch_first=self.batch_first)

    def build(self, data: CaseData, device: str, precision: Precision) -> Built:
        layer = self.make_module(data)
        layer = layer.to(device=device, dtype=torch_dtype(precision))  # before loading: no float32 round trip
        load_module(layer, data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split")),
                    self.layout)
        inputs = {"x": tensor(data.x if self.batch_first else data.x.transpose(1, 0, 2), device, precision)}
        if not data.zero_state:
            inputs.update({k: tensor(data.state[k][None], device, precision) for k in ("h", "c")})
        return Built(layer, inputs, {name: tuple(p.shape) for name, p in layer.named_parameters()})

    def call(self, module: Any, inputs: dict[str, Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        if "h" in inputs:
            y, (h, c) = module(inputs["x"], (inputs["h"], inputs["c"]))
        else:
            y, (h, c) = module(inputs["x"])
        return (y if self.batch_first else y.transpose(0, 1)), {"h": h[0], "c": c[0]}

    def input_grads(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self.batch_first:
            grads["x"] = grads["x"].transpose(1, 0, 2)
        for k in ("h", "c"):
            if k in grads:
                grads[k] = grads[k][0]
        return grads


@adapter
class NNLSTMBatchFirst(_NNLSTM):
    name = "torch.nn.LSTM"
    doc = "torch.nn.LSTM(batch_first=True), one layer; cuDNN on CUDA"
    batch_first = True


@adapter
class NNLSTMTimeFirst(_NNLSTM):
    name = "torch.nn.LSTM(batch_first=False)"
    on_extending_specs = False
    doc = "torch.nn.LSTM with (time, batch, features) input, one layer; cuDNN on CUDA"
    batch_first = False


@adapter
class NNLSTMCell(_TorchLSTMBase):
    name = "torch.nn.LSTMCell"
    on_extending_specs = False
    layout = "torch_cell"
    doc = "torch.nn.LSTMCell called once per timestep"
    note = "one nn.LSTMCell call per step"

    def build(self, data: CaseData, device: str, precision: Precision) -> Built:
        import torch

        features, units = data.x.shape[-1], data.state["h"].shape[-1]
        cell = torch.nn.LSTMCell(features, units)
        cell = cell.to(device=device, dtype=torch_dtype(precision))  # before loading: no float32 round trip
        load_module(cell, data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split")),
                    self.layout)
        inputs = {"x": tensor(data.x, device, precision)}
        if not data.zero_state:
            inputs.update({k: tensor(data.state[k], device, precision) for k in ("h", "c")})
        return Built(cell, inputs, {name: tuple(p.shape) for name, p in cell.named_parameters()})

    def call(self, module: Any, inputs: dict[str, Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        import torch

        x = inputs["x"]
        hc = (inputs["h"], inputs["c"]) if "h" in inputs else None
        outputs = []
        for t in range(x.shape[1]):
            hc = module(x[:, t], hc)
            outputs.append(hc[0])
        return torch.stack(outputs, dim=1), {"h": hc[0], "c": hc[1]}


class _BidirectionalHalf(_TorchLSTMBase):
    """One half of a bidirectional nn.LSTM, checked on its own.

    The other half gets unrelated random weights and a zero cotangent, so the
    check sees this half alone: ``y[..., half*units:(half+1)*units]``,
    ``h_n[half]``, ``c_n[half]``. Checking both halves proves PyTorch's
    layout of a bidirectional output: forward features first, then the
    reverse half's, each aligned with the input positions.
    """

    half: int = 0
    other_name: str = ""
    on_extending_specs = False
    untimed = "one half of a bidirectional layer: its timing would be that of both directions"

    def build(self, data: CaseData, device: str, precision: Precision) -> Built:
        import torch

        batch, units = data.x.shape[0], data.state["h"].shape[-1]
        layer = torch.nn.LSTM(data.x.shape[-1], units, batch_first=True, bidirectional=True)
        layer = layer.to(device=device, dtype=torch_dtype(precision))
        tensors = data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split"))
        other = data.rng(self.other_name)
        with torch.no_grad():
            for name, p in layer.named_parameters():
                value = tensors[name] if name in tensors else other.uniform(-0.5, 0.5, tuple(p.shape))
                p.copy_(torch.as_tensor(value))
        inputs = {"x": tensor(data.x, device, precision)}
        if not data.zero_state:
            rand = other.uniform(-0.5, 0.5, (2, batch, units))
            hs, cs = [rand[0], rand[0]], [rand[1], rand[1]]
            hs[self.half], cs[self.half] = data.state["h"], data.state["c"]
            inputs.update(h=tensor(np.stack(hs), device, precision), c=tensor(np.stack(cs), device, precision))
        shapes = {name: tuple(p.shape) for name, p in layer.named_parameters() if name in tensors}
        return Built(layer, inputs, shapes)

    def call(self, module: Any, inputs: dict[str, Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        k, units = self.half, data.state["h"].shape[-1]
        if "h" in inputs:
            y, (h, c) = module(inputs["x"], (inputs["h"], inputs["c"]))
        else:
            y, (h, c) = module(inputs["x"])
        return y[..., k * units:(k + 1) * units], {"h": h[k], "c": c[k]}

    def input_grads(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name in ("h", "c"):
            if name in grads:
                grads[name] = grads[name][self.half]
        return grads


@adapter
class NNLSTMForwardHalf(_BidirectionalHalf):
    name = "torch.nn.LSTM(bidirectional=True)/forward"
    layout = "torch"
    half, other_name = 0, "reverse half"
    doc = "the forward half of torch.nn.LSTM(bidirectional=True, batch_first=True)"
    convention = "bidirectional=True: y[..., :units] is the forward half, h_n[0] its final state"
    supports = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",), "direction": ("forward",),
                "return_sequences": (True,)}
    supports_note = "the forward half of a bidirectional LSTM"


@adapter
class NNLSTMReverseHalf(_BidirectionalHalf):
    name = "torch.nn.LSTM(bidirectional=True)/reverse"
    layout = "torch_reverse"
    half, other_name = 1, "forward half"
    doc = "the reverse half of torch.nn.LSTM(bidirectional=True, batch_first=True)"
    convention = ("bidirectional=True: the reverse half's output y[:, t, units:] is the one at input position t "
                  "(aligned with the input, like ONNX reverse), h_n[1] is its state after input position 0")
    supports = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",), "direction": ("reverse",),
                "return_sequences": (True,)}
    supports_note = "the reverse half of a bidirectional LSTM"
