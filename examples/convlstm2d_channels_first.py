"""A ConvLSTM2D written the way community PyTorch implementations are, checked against Keras semantics.

    lstmspec check convlstm2d --kernel examples/convlstm2d_channels_first.py:convlstm2d --grad

The model (``ConvLSTMCell``, ``ConvLSTM``) knows nothing of lstmspec: it is
channels-first, keeps its gates in the order i, f, o, g (as the popular
PyTorch ConvLSTM repositories do, where Keras and the spec use i, f, g, o),
and has two fused convolutions per step, each producing all four gates at
once: ``conv_x`` over the input frame (with the layer's padding, strides and
dilation) and ``conv_h`` over the hidden state (always ``same``, stride 1,
dilation 1, as in Keras). ``convlstm2d`` at the bottom is the thin adapter to
lstmspec's kernel protocol: it reorders the canonical channels-last
parameters into the model's layout and runs the model with them, so that
gradients flow back to the canonical tensors (``--grad`` checks them).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def tf_same_padding(size, kernel, stride, dilation):
    """(before, after) zero padding of TensorFlow's ``same``.

    TF sizes the output as ceil(size / stride) and pads whatever that takes;
    when the total is odd the extra row/column goes after (bottom/right).
    PyTorch's ``padding="same"`` agrees for stride 1 but refuses strides > 1,
    and a symmetric ``padding=kernel_size // 2`` (what many ConvLSTM ports use)
    is one row too many for even kernels and off by one with some strides.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class ConvLSTMCell(nn.Module):
    """One step. Gates i, f, o, g along the channel axis of both convolutions' outputs."""

    def __init__(self, input_dim, hidden_dim, kernel_size, padding="same", stride=(1, 1), dilation=(1, 1)):
        super().__init__()
        self.hidden_dim, self.kernel_size = hidden_dim, tuple(kernel_size)
        self.padding, self.stride, self.dilation = padding, tuple(stride), tuple(dilation)
        self.conv_x = nn.Conv2d(input_dim, 4 * hidden_dim, self.kernel_size, stride=self.stride,
                                dilation=self.dilation, bias=True)
        self.conv_h = nn.Conv2d(hidden_dim, 4 * hidden_dim, self.kernel_size, bias=False)

    def _pad_same(self, t, stride=(1, 1), dilation=(1, 1)):
        (top, bottom), (left, right) = (tf_same_padding(n, k, s, d) for n, k, s, d in
                                        zip(t.shape[-2:], self.kernel_size, stride, dilation))
        return F.pad(t, (left, right, top, bottom))

    def input_to_state(self, frames):
        """conv_x over (N, C, rows, cols) frames: one call can take every timestep at once."""
        if self.padding == "same":
            frames = self._pad_same(frames, self.stride, self.dilation)
        return self.conv_x(frames)

    def forward(self, x_conv, state):
        h_cur, c_cur = state
        combined = x_conv + self.conv_h(self._pad_same(h_cur))  # recurrent conv: same, stride 1, dilation 1
        cc_i, cc_f, cc_o, cc_g = torch.split(combined, self.hidden_dim, dim=1)
        i = torch.sigmoid(cc_i)
        f = torch.sigmoid(cc_f)
        o = torch.sigmoid(cc_o)
        g = torch.tanh(cc_g)
        c_next = f * c_cur + i * g
        h_next = o * torch.tanh(c_next)
        return h_next, c_next


class ConvLSTM(nn.Module):
    """A single ConvLSTM layer over (batch, time, channels, rows, cols); returns every step's h and (h, c)."""

    def __init__(self, input_dim, hidden_dim, kernel_size, padding="same", stride=(1, 1), dilation=(1, 1)):
        super().__init__()
        self.cell = ConvLSTMCell(input_dim, hidden_dim, kernel_size, padding, stride, dilation)

    def forward(self, x, state):
        batch, time = x.shape[:2]
        x_conv = self.cell.input_to_state(x.flatten(0, 1))  # the input convolution of every frame, batched
        x_conv = x_conv.unflatten(0, (batch, time))
        h, c = state
        outputs = []
        for t in range(time):
            h, c = self.cell(x_conv[:, t], (h, c))
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)


# ----------------------------------------------------------------------------------------------
# Adapter to lstmspec's protocol: fn(x, state, params, config) -> (y, {"h", "c"})
# ----------------------------------------------------------------------------------------------

GATE_ORDER = "ifog"  # the model's order; the canonical names are W_i, W_f, W_g, W_o


def model_weights(params):
    """Canonical channels-last tensors -> the model's parameters (gates i, f, o, g; (out, in, kr, kc) kernels).

    W_* (kr, kc, channels, filters) and U_* (kr, kc, filters, filters) become
    conv_x.weight (4*filters, channels, kr, kc) and conv_h.weight (4*filters, filters, kr, kc);
    the Keras-style single bias b_* becomes conv_x.bias (conv_h has none).
    """
    def stacked(prefix):
        return torch.cat([params[f"{prefix}_{g}"] for g in GATE_ORDER], dim=-1).permute(3, 2, 0, 1)

    return {
        "cell.conv_x.weight": stacked("W"),
        "cell.conv_x.bias": torch.cat([params[f"b_{g}"] for g in GATE_ORDER]),
        "cell.conv_h.weight": stacked("U"),
    }


def convlstm2d(x, state, params, config):
    """lstmspec kernel: x (batch, time, rows, cols, channels) and states channels-last, unless
    config["data_format"] is "channels_first", where they come as the model takes them."""
    channels_last = config["data_format"] == "channels_last"
    h, c = state["h"], state["c"]
    if channels_last:
        x, h, c = x.permute(0, 1, 4, 2, 3), h.permute(0, 3, 1, 2), c.permute(0, 3, 1, 2)
    kr, kc, channels, filters = params["W_i"].shape
    model = ConvLSTM(channels, filters, (kr, kc), config["padding"], config["strides"], config["dilation"])
    # functional_call runs the model with these tensors as its parameters, so autograd reaches params
    y, (h, c) = torch.func.functional_call(model.to(x.dtype), model_weights(params), (x, (h, c)))
    if channels_last:
        y, h, c = y.permute(0, 1, 3, 4, 2), h.permute(0, 2, 3, 1), c.permute(0, 2, 3, 1)
    return y, {"h": h, "c": c}


# Any padding, strides and dilation; both data formats; the activations are fixed in the cell.
convlstm2d.lstmspec_supports = {
    "activation": ["tanh"],
    "recurrent_activation": ["sigmoid"],
    "data_format": ["channels_last", "channels_first"],
}
convlstm2d.lstmspec_grad = True
