"""An LSTM written from scratch in PyTorch, against lstmspec's kernel protocol.

    lstmspec check lstm --kernel examples/lstm_from_scratch.py:lstm --grad

No import of lstmspec is needed: the function takes the canonical parameters
(W_i ... b_o) and returns every step's output and the final states. The
attributes below tell lstmspec what it supports and that autograd works
through it (the same as decorating it with ``lstmspec.kernel(...)``).
"""
import torch


def lstm(x, state, params, config):
    """x (batch, time, input); state {"h", "c"} (batch, units); returns (y, {"h", "c"})."""
    h, c = state["h"], state["c"]
    W = torch.cat([params[f"W_{g}"] for g in "ifgo"], dim=1)  # (input, 4*units), gates i, f, g, o
    U = torch.cat([params[f"U_{g}"] for g in "ifgo"], dim=1)
    b = torch.cat([params[f"b_{g}"] for g in "ifgo"])
    xw = x @ W + b  # every timestep's input term at once
    outputs = []
    for t in range(x.shape[1]):
        i, f, g, o = (xw[:, t] + h @ U).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1), {"h": h, "c": c}


lstm.lstmspec_grad = True
lstm.lstmspec_supports = {"activation": ["tanh"], "recurrent_activation": ["sigmoid"], "direction": ["forward"]}
