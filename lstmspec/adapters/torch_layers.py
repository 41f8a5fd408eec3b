"""PyTorch layers: ``torch.nn.LSTM`` (CPU; CUDA = cuDNN), batch-first or not, and ``nn.LSTMCell`` unrolled."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import Precision, torch_dtype, torch_math_mode
from .base import Adapter, Outcome, adapter, as_numpy

class _TorchLSTMBase(Adapter):
    framework = "torch"
    spec = "lstm"
    devices = ("cpu", "cuda")
    precisions = ("float64", "float32", "tf32", "float16", "bfloat16")
    supports = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",), "direction": ("forward",),
                "return_sequences": (True,)}
    supports_note = ("PyTorch's LSTM has fixed activations, always returns every step, and has no reverse-only "
                     "direction (the halves of bidirectional=True are checked as their own implementations)")

    def _leaf(self, a: np.ndarray, device: str, precision: Precision, grad: bool) -> Any:
        import torch

        t = torch.as_tensor(a, dtype=torch.float64).to(device=device, dtype=torch_dtype(precision))
        return t.requires_grad_(grad)

    def _backward(self, data: CaseData, y: Any, final: dict[str, Any], leaves: dict[str, Any]) -> dict[str, np.ndarray]:
        import torch

        dev = y.device
        loss = (y.double() * torch.as_tensor(data.cotangents["y"], device=dev)).sum()
        for k, v in final.items():
            loss = loss + (v.double() * torch.as_tensor(data.cotangents[k], device=dev)).sum()
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        return {k: as_numpy(g) if g is not None else np.zeros(tuple(leaves[k].shape)) for k, g in zip(leaves, grads)}


class _NNLSTM(_TorchLSTMBase):
    layout = "torch"
    batch_first: bool = True

    def run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        import torch

        batch, steps, features = data.x.shape
        units = data.state["h"].shape[-1]
        layer = torch.nn.LSTM(features, units, batch_first=self.batch_first)
        tensors = data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split"))
        layer = layer.to(device=device, dtype=torch_dtype(precision))  # before loading: no float32 round trip
        with torch.no_grad():
            for name, p in layer.named_parameters():
                p.copy_(torch.as_tensor(tensors[name]))
        x = self._leaf(data.x if self.batch_first else data.x.transpose(1, 0, 2), device, precision, want_grads)
        leaves: dict[str, Any] = {"x": x}
        with torch_math_mode(precision):
            if data.zero_state:
                y, (h, c) = layer(x)
            else:
                h0 = self._leaf(data.state["h"][None], device, precision, want_grads)
                c0 = self._leaf(data.state["c"][None], device, precision, want_grads)
                leaves.update(h=h0, c=c0)
                y, (h, c) = layer(x, (h0, c0))
            if not self.batch_first:
                y = y.transpose(0, 1)
            final = {"h": h[0], "c": c[0]}
            grads: dict[str, np.ndarray] = {}
            if want_grads:
                named = dict(layer.named_parameters())
                grads = self._backward(data, y, final, {**leaves, **named})
                if not self.batch_first:
                    grads["x"] = grads["x"].transpose(1, 0, 2)
                for k in ("h", "c"):
                    if k in grads:
                        grads[k] = grads[k][0]
        shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
        return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in final.items()}, shapes, grads)


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

    def run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        import torch

        batch, steps, features = data.x.shape
        units = data.state["h"].shape[-1]
        cell = torch.nn.LSTMCell(features, units)
        tensors = data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split"))
        cell = cell.to(device=device, dtype=torch_dtype(precision))  # before loading: no float32 round trip
        with torch.no_grad():
            for name, p in cell.named_parameters():
                p.copy_(torch.as_tensor(tensors[name]))
        x = self._leaf(data.x, device, precision, want_grads)
        leaves: dict[str, Any] = {"x": x}
        with torch_math_mode(precision):
            if data.zero_state:
                hc = None
            else:
                hc = (self._leaf(data.state["h"], device, precision, want_grads),
                      self._leaf(data.state["c"], device, precision, want_grads))
                leaves.update(h=hc[0], c=hc[1])
            outputs = []
            for t in range(steps):
                hc = cell(x[:, t], hc)
                outputs.append(hc[0])
            y = torch.stack(outputs, dim=1)
            final = {"h": hc[0], "c": hc[1]}
            grads = self._backward(data, y, final, {**leaves, **dict(cell.named_parameters())}) if want_grads else {}
        shapes = {name: tuple(p.shape) for name, p in cell.named_parameters()}
        return Outcome(as_numpy(y), {k: as_numpy(v) for k, v in final.items()}, shapes, grads)


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

    def run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        import torch

        batch, steps, features = data.x.shape
        units = data.state["h"].shape[-1]
        layer = torch.nn.LSTM(features, units, batch_first=True, bidirectional=True)
        layer = layer.to(device=device, dtype=torch_dtype(precision))
        tensors = data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split"))
        other = data.rng(self.other_name)
        with torch.no_grad():
            for name, p in layer.named_parameters():
                value = tensors[name] if name in tensors else other.uniform(-0.5, 0.5, tuple(p.shape))
                p.copy_(torch.as_tensor(value))
        x = self._leaf(data.x, device, precision, want_grads)
        leaves: dict[str, Any] = {"x": x}
        k = self.half
        with torch_math_mode(precision):
            if data.zero_state:
                y, (h, c) = layer(x)
            else:
                rand = other.uniform(-0.5, 0.5, (2, batch, units))
                hs, cs = [rand[0], rand[0]], [rand[1], rand[1]]
                hs[k], cs[k] = data.state["h"], data.state["c"]
                h0 = self._leaf(np.stack(hs), device, precision, want_grads)
                c0 = self._leaf(np.stack(cs), device, precision, want_grads)
                leaves.update(h=h0, c=c0)
                y, (h, c) = layer(x, (h0, c0))
            y = y[..., k * units:(k + 1) * units]
            final = {"h": h[k], "c": c[k]}
            grads: dict[str, np.ndarray] = {}
            if want_grads:
                grads = self._backward(data, y, final, {**leaves, **dict(layer.named_parameters())})
                for name in ("h", "c"):
                    if name in grads:
                        grads[name] = grads[name][k]
        shapes = {name: tuple(p.shape) for name, p in layer.named_parameters() if name in tensors}
        return Outcome(as_numpy(y), {k2: as_numpy(v) for k2, v in final.items()}, shapes, grads)


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
