"""ConvLSTM2D kernels for the mutation score: correct ones written in different ways, and wrong ones.

Protocol: x (batch, time, rows, cols, channels) channels-last, state {"h", "c"}
(batch, out_rows, out_cols, filters), canonical W_* (kr, kc, channels, filters),
U_* (kr, kc, filters, filters), b_* (filters,). Keras semantics: the input conv
takes padding/strides/dilation (TF `same`: the odd padding row/column at the
bottom/right), the recurrent conv is always `same`, stride 1, dilation 1.
A wrong kernel's docstring names the real-world bug it models, in one line; one
without ``lstmspec_supports`` claims every padding, stride, dilation and
activation (channels-first cases are skipped unless ``data_format`` is declared).

Replay one by hand (from the repository root):

    PYTHONPATH=tests lstmspec check convlstm2d --kernel mutants.convlstm2d_kernels:dilation_ignored --no-isolate
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._ops import (CONV_ALL, activations, conv2d_cl, conv2d_padded, convlstm_step, gate_stack, run_convlstm,
                   tf_same_pads, to_oihw)

BOTH_FORMATS = ("channels_last", "channels_first")


def _pad_lrtb(rows, cols, kernel, strides=(1, 1), dilation=(1, 1)):
    """F.pad's (left, right, top, bottom) for TF `same` on a channels-first frame."""
    (top, bottom), (left, right) = (tf_same_pads(n, k, s, d) for n, k, s, d in zip((rows, cols), kernel, strides, dilation))
    return left, right, top, bottom


# --------------------------------------------------------------------------------------------------
# Correct kernels, each written another way
# --------------------------------------------------------------------------------------------------

def channels_first_concat_fused_ifog(x, state, params, config):
    """Channels-first, gates i, f, o, g, one conv over concat([x_t, h]) with a (4F, C+F, kr, kc) kernel.

    One fused conv needs the input conv to be `same`, stride 1, dilation 1 like the recurrent one,
    so that is all it claims (lstmspec_supports below).
    """
    act, rec = activations(config)
    last = config["data_format"] == "channels_last"
    h, c = state["h"], state["c"]
    if last:
        x, h, c = x.permute(0, 1, 4, 2, 3), h.permute(0, 3, 1, 2), c.permute(0, 3, 1, 2)
    order = "ifog"
    kernel = torch.cat([torch.cat([params[f"W_{g}"], params[f"U_{g}"]], dim=2) for g in order], dim=3)
    weight, bias = to_oihw(kernel), gate_stack(params, "b", order)
    pad = _pad_lrtb(x.shape[-2], x.shape[-1], kernel.shape[:2])
    ys = []
    for t in range(x.shape[1]):
        z = F.conv2d(F.pad(torch.cat([x[:, t], h], dim=1), pad), weight, bias)
        i, f, o, g = torch.split(z, h.shape[1], dim=1)
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        ys.append(h)
    y = torch.stack(ys, dim=1)
    if last:
        y, h, c = y.permute(0, 1, 3, 4, 2), h.permute(0, 2, 3, 1), c.permute(0, 2, 3, 1)
    return y, {"h": h, "c": c}


channels_first_concat_fused_ifog.lstmspec_supports = {
    **CONV_ALL, "padding": ("same",), "strides": ((1, 1),), "dilation": ((1, 1),), "data_format": BOTH_FORMATS}
channels_first_concat_fused_ifog.lstmspec_grad = True


def channels_first_two_convs_figo(x, state, params, config):
    """Channels-first, gates f, i, g, o: one strided/dilated input conv for all steps, one `same` recurrent conv per step."""
    act, rec = activations(config)
    last = config["data_format"] == "channels_last"
    h, c = state["h"], state["c"]
    if last:
        x, h, c = x.permute(0, 1, 4, 2, 3), h.permute(0, 3, 1, 2), c.permute(0, 3, 1, 2)
    order = "figo"
    w_x, w_h = to_oihw(gate_stack(params, "W", order)), to_oihw(gate_stack(params, "U", order))
    bias = gate_stack(params, "b", order)
    batch, time, channels, rows, cols = x.shape
    strides, dilation = tuple(config["strides"]), tuple(config["dilation"])
    frames = x.reshape(batch * time, channels, rows, cols)
    if config["padding"] == "same":
        frames = F.pad(frames, _pad_lrtb(rows, cols, w_x.shape[2:], strides, dilation))
    xw = F.conv2d(frames, w_x, bias, stride=strides, dilation=dilation)
    xw = xw.reshape((batch, time) + xw.shape[1:])
    pad_h = _pad_lrtb(h.shape[2], h.shape[3], w_h.shape[2:])
    ys = []
    for t in range(time):
        f, i, g, o = (xw[:, t] + F.conv2d(F.pad(h, pad_h), w_h)).chunk(4, dim=1)
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        ys.append(h)
    y = torch.stack(ys, dim=1)
    if last:
        y, h, c = y.permute(0, 1, 3, 4, 2), h.permute(0, 2, 3, 1), c.permute(0, 2, 3, 1)
    return y, {"h": h, "c": c}


channels_first_two_convs_figo.lstmspec_supports = {**CONV_ALL, "data_format": BOTH_FORMATS}
channels_first_two_convs_figo.lstmspec_grad = True


def im2col_unfold_matmul(x, state, params, config):
    """Channels-last, no conv op: F.unfold patches times the kernel flattened to (C*kr*kc, 4F), as a GEMM library would."""
    act, rec = activations(config)
    batch, time, rows, cols, channels = x.shape
    kr, kc, _, filters = params["W_i"].shape
    h, c = state["h"], state["c"]
    out_rows, out_cols = h.shape[1:3]
    strides, dilation = tuple(config["strides"]), tuple(config["dilation"])

    def flat(w):  # (kr, kc, in, 4F) -> (in*kr*kc, 4F), the row order of F.unfold's patches
        return w.permute(2, 0, 1, 3).reshape(-1, w.shape[-1])

    frames = x.reshape(batch * time, rows, cols, channels).permute(0, 3, 1, 2)
    if config["padding"] == "same":
        frames = F.pad(frames, _pad_lrtb(rows, cols, (kr, kc), strides, dilation))
    patches = F.unfold(frames, (kr, kc), dilation=dilation, stride=strides)  # (N, C*kr*kc, out_rows*out_cols)
    xw = (patches.transpose(1, 2) @ flat(gate_stack(params, "W")) + gate_stack(params, "b"))
    xw = xw.reshape(batch, time, out_rows, out_cols, 4 * filters)
    U = flat(gate_stack(params, "U"))
    pad_h = _pad_lrtb(out_rows, out_cols, (kr, kc))
    ys = []
    for t in range(time):
        hp = F.unfold(F.pad(h.permute(0, 3, 1, 2), pad_h), (kr, kc))
        z = xw[:, t] + (hp.transpose(1, 2) @ U).reshape(batch, out_rows, out_cols, 4 * filters)
        i, f, g, o = z.chunk(4, dim=-1)
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        ys.append(h)
    return torch.stack(ys, dim=1), {"h": h, "c": c}


im2col_unfold_matmul.lstmspec_supports = CONV_ALL
im2col_unfold_matmul.lstmspec_grad = True


# --------------------------------------------------------------------------------------------------
# Wrong kernels: one real-world bug each (run_convlstm is right but for the piece passed in)
# --------------------------------------------------------------------------------------------------

def same_pad_extra_row_on_top(x, state, params, config):
    """`same` with the odd padding row/column first (ONNX auto_pad=SAME_LOWER), not at the bottom/right as TF."""
    def input_conv(frames, w, cfg):
        pads = [(0, 0), (0, 0)]
        if cfg["padding"] == "same":
            pads = [tf_same_pads(n, k, s, d)[::-1]
                    for n, k, s, d in zip(frames.shape[1:3], w.shape[:2], cfg["strides"], cfg["dilation"])]
        return conv2d_padded(frames, w, pads, cfg["strides"], cfg["dilation"])

    return run_convlstm(x, state, params, config, input_conv=input_conv)


def half_kernel_padding_in_both_convs(x, state, params, config):
    """Community ConvLSTM's `padding=kernel_size // 2` in both convs: right for odd kernels, one row too many for even."""
    def padding(w):
        return [(k // 2, k // 2) for k in w.shape[:2]]

    def input_conv(frames, w, cfg):
        pads = padding(w) if cfg["padding"] == "same" else [(0, 0), (0, 0)]
        return conv2d_padded(frames, w, pads, cfg["strides"], cfg["dilation"])

    return run_convlstm(x, state, params, config, input_conv=input_conv,
                        recurrent_conv=lambda h, u: conv2d_padded(h, u, padding(u)))


def same_pad_stride_one_rule(x, state, params, config):
    """`same` as symmetric dilation*(k-1)//2 padding (the stride-1 rule) used with strides too; TF pads by output size."""
    def input_conv(frames, w, cfg):
        pads = [(0, 0), (0, 0)]
        if cfg["padding"] == "same":
            pads = [(d * (k - 1) // 2,) * 2 for k, d in zip(w.shape[:2], cfg["dilation"])]
        return conv2d_padded(frames, w, pads, cfg["strides"], cfg["dilation"])

    return run_convlstm(x, state, params, config, input_conv=input_conv)


def true_convolution_flipped_kernel(x, state, params, config):
    """Kernels flipped as in scipy.signal.convolve2d (true convolution), where TF/PyTorch cross-correlate."""
    flipped = {k: v.flip(0, 1) if k[0] in "WU" else v for k, v in params.items()}
    return run_convlstm(x, state, flipped, config)


def recurrent_conv_with_input_strides(x, state, params, config):
    """One conv helper for both paths: the recurrent conv gets the input's strides too."""
    return run_convlstm(x, state, params, config,
                        recurrent_conv=lambda h, u: conv2d_cl(h, u, "same", config["strides"]))


def recurrent_conv_with_input_padding(x, state, params, config):
    """One conv helper for both paths: the recurrent conv gets the input's padding (valid shrinks h)."""
    return run_convlstm(x, state, params, config,
                        recurrent_conv=lambda h, u: conv2d_cl(h, u, config["padding"]))


def state_reset_every_step(x, state, params, config):
    """The state is re-read from the arguments inside the time loop: every frame starts from h0, c0."""
    ys = []
    for t in range(x.shape[1]):
        h, c = state["h"], state["c"]  # meant to be set once, before the loop
        h, c = convlstm_step(x[:, t], h, c, params, config)
        ys.append(h)
    return torch.stack(ys, dim=1), {"h": h, "c": c}


def dilation_ignored(x, state, params, config):
    """dilation_rate accepted and never passed to the conv."""
    return run_convlstm(x, state, params, config,
                        input_conv=lambda frames, w, cfg: conv2d_cl(frames, w, cfg["padding"], cfg["strides"]))


def dilation_in_recurrent_conv(x, state, params, config):
    """The input's dilation also applied to the recurrent conv (Keras' is always dilation 1)."""
    return run_convlstm(x, state, params, config,
                        recurrent_conv=lambda h, u: conv2d_cl(h, u, "same", (1, 1), config["dilation"]))


def strides_and_dilation_swapped(x, state, params, config):
    """Positional arguments mixed up: conv(x, w, padding, dilation, strides)."""
    return run_convlstm(x, state, params, config, input_conv=lambda frames, w, cfg: conv2d_cl(
        frames, w, cfg["padding"], cfg["dilation"], cfg["strides"]))


def kernel_rows_cols_swapped(x, state, params, config):
    """Kernel converted to PyTorch with permute(3, 2, 1, 0), which also swaps kernel rows and cols."""
    def conv(frames, w, padding, strides=(1, 1), dilation=(1, 1)):
        return conv2d_cl(frames, w.permute(1, 0, 2, 3), padding, strides, dilation)

    return run_convlstm(x, state, params, config,
                        input_conv=lambda frames, w, cfg: conv(frames, w, cfg["padding"], cfg["strides"], cfg["dilation"]),
                        recurrent_conv=lambda h, u: conv(h, u, "same"))


def kernel_reshaped_not_permuted(x, state, params, config):
    """TF kernel (kr, kc, in, out) turned into PyTorch's (out, in, kr, kc) with reshape instead of permute."""
    def conv(frames, w, padding, strides=(1, 1), dilation=(1, 1)):
        wrong = w.reshape(w.shape[3], w.shape[2], w.shape[0], w.shape[1]).permute(2, 3, 1, 0)  # = w.reshape(o, i, kr, kc)
        return conv2d_cl(frames, wrong, padding, strides, dilation)

    return run_convlstm(x, state, params, config,
                        input_conv=lambda frames, w, cfg: conv(frames, w, cfg["padding"], cfg["strides"], cfg["dilation"]),
                        recurrent_conv=lambda h, u: conv(h, u, "same"))


def recurrent_kernel_in_out_swapped(x, state, params, config):
    """The square (filters, filters) axes of U read the wrong way round: U[..., out, in]; shapes still fit."""
    swapped = dict(params, **{f"U_{g}": params[f"U_{g}"].transpose(2, 3) for g in "ifgo"})
    return run_convlstm(x, state, swapped, config)


def gate_split_ifog_community(x, state, params, config):
    """Fused conv output split as i, f, o, g (popular PyTorch ConvLSTM) from kernels stacked i, f, g, o (Keras)."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")
    batch, time = x.shape[:2]
    xw = conv2d_cl(x.flatten(0, 1), W, config["padding"], config["strides"], config["dilation"])
    xw = xw.unflatten(0, (batch, time)) + b
    h, c = state["h"], state["c"]
    ys = []
    for t in range(time):
        i, f, o, g = (xw[:, t] + conv2d_cl(h, U)).chunk(4, dim=-1)
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        ys.append(h)
    return torch.stack(ys, dim=1), {"h": h, "c": c}


def bias_in_both_convs(x, state, params, config):
    """nn.Conv2d(bias=True) for both the input and the recurrent conv, each loaded with the Keras bias."""
    b = gate_stack(params, "b")
    return run_convlstm(x, state, params, config, recurrent_conv=lambda h, u: conv2d_cl(h, u) + b)


def frames_reshaped_time_major(x, state, params, config):
    """(batch, time, ...) made time-major with reshape instead of transpose: frames of different sequences mixed."""
    batch, time = x.shape[:2]
    time_major = x.reshape((time, batch) + x.shape[2:])
    y, final = run_convlstm(time_major.transpose(0, 1), state, params, config)  # "back" to batch-major
    return y, final


def steps_counted_from_batch_axis(x, state, params, config):
    """Time-major habit `for t in range(x.shape[0])` on batch-major input: right only when batch == time."""
    h, c = state["h"], state["c"]
    ys = []
    for t in range(x.shape[0]):
        h, c = convlstm_step(x[:, t], h, c, params, config)
        ys.append(h)
    return torch.stack(ys, dim=1), {"h": h, "c": c}


def same_pads_from_rows_for_both_axes(x, state, params, config):
    """TF `same` padding worked out once from the row count and used for both axes (assumes square images)."""
    def input_conv(frames, w, cfg):
        pads = [(0, 0), (0, 0)]
        if cfg["padding"] == "same":
            pads = [tf_same_pads(frames.shape[1], k, s, d) for k, s, d in zip(w.shape[:2], cfg["strides"], cfg["dilation"])]
        return conv2d_padded(frames, w, pads, cfg["strides"], cfg["dilation"])

    return run_convlstm(x, state, params, config, input_conv=input_conv)


def channels_first_declared_but_ignored(x, state, params, config):
    """Claims data_format=channels_first but always reads channels last."""
    return run_convlstm(x, state, params, config)


channels_first_declared_but_ignored.lstmspec_supports = {**CONV_ALL, "data_format": BOTH_FORMATS}


def initial_state_zeros_of_input_size(x, state, params, config):
    """Initial state ignored and rebuilt as zeros of the input's rows x cols (wrong with strides or valid padding too)."""
    zeros = x.new_zeros(x.shape[:1] + x.shape[2:4] + params["b_i"].shape)
    return run_convlstm(x, {"h": zeros, "c": zeros}, params, config)


def strides_first_axis_only(x, state, params, config):
    """strides read as one int (config['strides'][0]) and used for rows and cols."""
    return run_convlstm(x, state, params, config, input_conv=lambda frames, w, cfg: conv2d_cl(
        frames, w, cfg["padding"], (cfg["strides"][0],) * 2, cfg["dilation"]))


def dilation_first_axis_only(x, state, params, config):
    """dilation_rate read as one int (config['dilation'][0]) and used for rows and cols."""
    return run_convlstm(x, state, params, config, input_conv=lambda frames, w, cfg: conv2d_cl(
        frames, w, cfg["padding"], cfg["strides"], (cfg["dilation"][0],) * 2))


def same_pads_from_kernel_rows(x, state, params, config):
    """`same` padding of the input conv worked out from kernel_size[0] for both axes (assumes square kernels)."""
    def input_conv(frames, w, cfg):
        pads = [(0, 0), (0, 0)]
        if cfg["padding"] == "same":
            pads = [tf_same_pads(n, w.shape[0], s, d) for n, s, d in zip(frames.shape[1:3], cfg["strides"], cfg["dilation"])]
        return conv2d_padded(frames, w, pads, cfg["strides"], cfg["dilation"])

    return run_convlstm(x, state, params, config, input_conv=input_conv)


CORRECT = [channels_first_concat_fused_ifog, channels_first_two_convs_figo, im2col_unfold_matmul]

WRONG = [
    same_pad_extra_row_on_top, half_kernel_padding_in_both_convs, same_pad_stride_one_rule,
    true_convolution_flipped_kernel, recurrent_conv_with_input_strides, recurrent_conv_with_input_padding,
    dilation_ignored, dilation_in_recurrent_conv, strides_and_dilation_swapped, kernel_rows_cols_swapped,
    kernel_reshaped_not_permuted, recurrent_kernel_in_out_swapped, gate_split_ifog_community, bias_in_both_convs,
    frames_reshaped_time_major, steps_counted_from_batch_axis, same_pads_from_rows_for_both_axes,
    channels_first_declared_but_ignored, initial_state_zeros_of_input_size,
    strides_first_axis_only, dilation_first_axis_only, same_pads_from_kernel_rows, state_reset_every_step,
]
