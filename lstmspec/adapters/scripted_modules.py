"""Modules that call an ``nn.LSTM`` (with, and without, an initial state): what a user hands ``torch.jit.script``.

Their own module, imported only when a case is scripted: TorchScript compiles
``forward`` from its source and resolves the annotations in this module's
globals, so ``torch`` is imported at the top and the annotations are objects
(no ``from __future__ import annotations``, which would make them strings that
TorchScript must look up again).
"""
import torch


class WithState(torch.nn.Module):
    def __init__(self, lstm: torch.nn.LSTM) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  torch.Tensor]:
        y, (h_n, c_n) = self.lstm(x, (h, c))
        return y, h_n, c_n


class ZeroState(torch.nn.Module):
    def __init__(self, lstm: torch.nn.LSTM) -> None:
        super().__init__()
        self.lstm = lstm

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y, (h_n, c_n) = self.lstm(x)
        return y, h_n, c_n
