"""PyTorch's LSTM with a recurrent projection: ``torch.nn.LSTM(proj_size=...)`` for specs/lstm_projection.toml.

The module is ``torch.nn.LSTM`` with ``proj_size > 0``: its weights are loaded
through the spec's ``torch`` layout (``weight_hr_l0`` (proj, units) is
``W_hr`` transposed; ``weight_hh_l0`` is (4*units, proj)), and its states
differ in size (``h_n`` (1, batch, proj), ``c_n`` (1, batch, units)). Calling
it, its gradients and ``prepare`` are those of the plain ``torch.nn.LSTM``
adapter.
"""
from __future__ import annotations

from typing import Any

from ..check.oracle import CaseData
from ..check.precision import Precision
from .base import adapter
from .torch_layers import _NNLSTM


class _NNLSTMProjection(_NNLSTM):
    spec = "lstm_projection"
    supports_note = ("PyTorch's LSTM has fixed activations, always returns every step, has no reverse-only "
                     "direction, and requires proj_size < hidden_size")

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        proj, units = data.state["h"].shape[-1], data.state["c"].shape[-1]
        if proj >= units:
            return f"torch.nn.LSTM requires proj_size < hidden_size, but proj={proj} and units={units}"
        return None

    def make_module(self, data: CaseData) -> Any:
        import torch

        features, units, proj = data.x.shape[-1], data.state["c"].shape[-1], data.state["h"].shape[-1]
        return torch.nn.LSTM(features, units, proj_size=proj, batch_first=self.batch_first)


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
