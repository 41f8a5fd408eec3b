"""Pieces the kernels share and get right: activations by name, TF `same` padding, a channels-last conv.

A kernel module imports these so that each kernel's own lines hold what
makes it that kernel (its bug, or its way of being right); nothing here reads
lstmspec, as a user's kernel would not.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# The activation attribute's values, as the spec's function table defines them
# (lstmspec/expr/functions.py): written out here as a kernel author would.
ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    # Keras 3 / PyTorch Hardsigmoid: clip(x/6 + 1/2, 0, 1). Not F.hardsigmoid: its backward multiplies
    # by 1/6 rounded to float32 even for float64 tensors (relative error 3e-8), which a float64
    # gradient check rightly fails.
    "hard_sigmoid": lambda z: torch.clamp(z / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras2": lambda z: torch.clamp(0.2 * z + 0.5, 0.0, 1.0),  # Keras 2 / ONNX
    "relu": torch.relu,
    "linear": lambda z: z,
}
ALL_ACTIVATIONS = tuple(ACTIVATIONS)

#: Supports of a kernel that reads both activations from config (and, for lstm, runs both directions).
LSTM_ALL = {"activation": ALL_ACTIVATIONS, "recurrent_activation": ALL_ACTIVATIONS, "direction": ("forward", "reverse")}
CONV_ALL = {"activation": ALL_ACTIVATIONS, "recurrent_activation": ALL_ACTIVATIONS}


def activations(config):
    """(activation, recurrent_activation) callables named by the config."""
    return ACTIVATIONS[config["activation"]], ACTIVATIONS[config["recurrent_activation"]]


def tf_same_pads(size, kernel, stride=1, dilation=1):
    """TensorFlow's `same`: output ceil(size/stride); the odd padding row/column goes after (bottom/right)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def to_oihw(w):
    """(kr, kc, in, out) channels-last kernel -> (out, in, kr, kc) for F.conv2d."""
    return w.permute(3, 2, 0, 1)


def conv2d_cl(x, w, padding="same", strides=(1, 1), dilation=(1, 1)):
    """Cross-correlation of channels-last frames x (N, rows, cols, C) with w (kr, kc, C, F), TF padding rule."""
    pads = [(0, 0), (0, 0)]
    if padding == "same":
        pads = [tf_same_pads(n, k, s, d) for n, k, s, d in zip(x.shape[1:3], w.shape[:2], strides, dilation)]
    return conv2d_padded(x, w, pads, strides, dilation)


def conv2d_padded(x, w, pads, strides=(1, 1), dilation=(1, 1)):
    """Channels-last cross-correlation with explicit ((top, bottom), (left, right)) zero padding."""
    (top, bottom), (left, right) = pads
    xc = F.pad(x.permute(0, 3, 1, 2), (left, right, top, bottom))
    y = F.conv2d(xc, to_oihw(w), stride=tuple(strides), dilation=tuple(dilation))
    return y.permute(0, 2, 3, 1)


def gate_stack(params, prefix, order="ifgo", dim=-1):
    """The four canonical gate tensors of one kind concatenated along ``dim`` (Keras-style stacking)."""
    return torch.cat([params[f"{prefix}_{g}"] for g in order], dim=dim)


def convlstm_step(frame, h, c, params, config):
    """One correct channels-last ConvLSTM2D step on one frame (batch, rows, cols, C): the next (h, c).

    For the kernels whose bug is in the time loop around the step (the state it starts from, the steps it counts).
    """
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")
    z = conv2d_cl(frame, W, config["padding"], config["strides"], config["dilation"]) + conv2d_cl(h, U) + b
    i, f, g, o = z.chunk(4, dim=-1)
    c = rec(f) * c + rec(i) * act(g)
    return rec(o) * act(c), c


def run_convlstm(x, state, params, config, *, input_conv=None, recurrent_conv=None):
    """A correct channels-last ConvLSTM2D loop; a kernel passes the piece it gets wrong.

    ``input_conv(frames, W, config)`` sees every frame at once (batch*time, rows, cols, C) and
    ``recurrent_conv(h, U)`` one step's state; W and U are the four gates stacked (i, f, g, o).
    """
    act, rec = activations(config)
    input_conv = input_conv or (lambda frames, w, cfg: conv2d_cl(frames, w, cfg["padding"], cfg["strides"], cfg["dilation"]))
    recurrent_conv = recurrent_conv or (lambda h, u: conv2d_cl(h, u))
    batch, time = x.shape[:2]
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")
    xw = input_conv(x.reshape((batch * time,) + x.shape[2:]), W, config)
    xw = xw.reshape((batch, time) + xw.shape[1:]) + b
    h, c = state["h"], state["c"]
    ys = []
    for t in range(time):
        i, f, g, o = (xw[:, t] + recurrent_conv(h, U)).chunk(4, dim=-1)
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        ys.append(h)
    return torch.stack(ys, dim=1), {"h": h, "c": c}
