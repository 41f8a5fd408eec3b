"""PyTorch's LSTM with a recurrent projection: ``torch.nn.LSTM(proj_size=...)`` for specs/lstm_projection.toml.

The module is ``torch.nn.LSTM`` with ``proj_size > 0``: its weights are loaded
through the spec's ``torch`` layout (``weight_hr_l0`` (proj, units) is
``W_hr`` transposed; ``weight_hh_l0`` is (4*units, proj)), and its states
differ in size (``h_n`` (1, batch, proj), ``c_n`` (1, batch, units)). Calling
it, its gradients and ``prepare`` are those of the plain ``torch.nn.LSTM``
adapter.
"""
from __future__ import annotations

from ..check.oracle import CaseData
from ..check.precision import Precision, torch_dtype
from .base import adapter
from .torch_layers import Built, _NNLSTM, load_module, tensor


class _NNLSTMProjection(_NNLSTM):
    spec = "lstm_projection"
    supports_note = ("PyTorch's LSTM has fixed activations, always returns every step, has no reverse-only "
                     "direction, and requires proj_size < hidden_size")

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        proj, units = data.state["h"].shape[-1], data.state["c"].shape[-1]
        if proj >= units:
            return f"torch.nn.LSTM requires proj_size < hidden_size, but proj={proj} and units={units}"
        return None

    def build(self, data: CaseData, device: str, precision: Precision) -> Built:
        import torch

        features, units, proj = data.x.shape[-1], data.state["c"].shape[-1], data.state["h"].shape[-1]
        layer = torch.nn.LSTM(features, units, proj_size=proj, batch_first=self.batch_first)
        layer = layer.to(device=device, dtype=torch_dtype(precision))  # before loading: no float32 round trip
        load_module(layer, data.spec.layout(self.layout).to_framework(data.params, data.rng("bias split")),
                    self.layout)
        inputs = {"x": tensor(data.x if self.batch_first else data.x.transpose(1, 0, 2), device, precision)}
        if not data.zero_state:
            inputs.update({k: tensor(data.state[k][None], device, precision) for k in ("h", "c")})
        return Built(layer, inputs, {name: tuple(p.shape) for name, p in layer.named_parameters()})


@adapter
class NNLSTMProjection(_NNLSTMProjection):
    name = "torch.nn.LSTM(proj_size)"
    doc = "torch.nn.LSTM(proj_size=proj, batch_first=True), one layer; cuDNN on CUDA"
    batch_first = True


@adapter
class NNLSTMProjectionTimeFirst(_NNLSTMProjection):
    name = "torch.nn.LSTM(proj_size)(batch_first=False)"
    on_extending_specs = False
    doc = "torch.nn.LSTM(proj_size=proj) with (time, batch, features) input, one layer; cuDNN on CUDA"
    batch_first = False
