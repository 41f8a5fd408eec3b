"""LSTM kernels for the mutation score: correct ones written in different ways, and wrong ones.

Every kernel follows lstmspec's protocol ``fn(x, state, params, config) -> (y, final_state)``
with x (batch, time, input), state {"h", "c"} (batch, units) and the canonical
parameters W_* (input, units), U_* (units, units), b_* (units,). A wrong
kernel's docstring names the real-world bug it models, in one line; its
``lstmspec_supports`` is what it honestly claims to compute, so the check runs
it where the bug can show instead of skipping it (no ``lstmspec_supports`` at
all claims every value: activations from config, both directions).

Replay one by hand (from the repository root):

    PYTHONPATH=tests lstmspec check lstm --kernel mutants.lstm_kernels:forget_bias_plus_one --no-isolate
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._ops import ALL_ACTIVATIONS, LSTM_ALL, activations, gate_stack


def _keras_loop(x, h, c, params, config, order="ifgo"):
    """Forward scan with the gates stacked Keras-style; the reference for what the mutants change."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W", order), gate_stack(params, "U", order), gate_stack(params, "b", order)
    xw = x @ W + b
    ys = []
    for t in range(x.shape[1]):
        gates = dict(zip(order, (xw[:, t] + h @ U).chunk(4, dim=-1)))
        c = rec(gates["f"]) * c + rec(gates["i"]) * act(gates["g"])
        h = rec(gates["o"]) * act(c)
        ys.append(h)
    return torch.stack(ys, dim=1), h, c


def _torch_order_loop(w_ih, w_hh, b_ih, b_hh, config):
    """A forward scan for ``_directed`` on PyTorch-shaped tensors (weight_ih (4*units, input)), gates split
    i, f, g, o; a kernel that ports weights wrongly passes the wrong tensors (``b_hh`` None: no such bias)."""
    act, rec = activations(config)

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, f, g, o = (F.linear(x[:, t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return loop


def _directed(loop, x, state, params, config):
    """Run ``loop`` forward, or on the time-reversed input with the outputs put back at their input positions."""
    reverse = config.get("direction") == "reverse"
    y, h, c = loop(x.flip(1) if reverse else x, state["h"], state["c"], params, config)
    return (y.flip(1) if reverse else y), {"h": h, "c": c}


# --------------------------------------------------------------------------------------------------
# Correct kernels, each written another way
# --------------------------------------------------------------------------------------------------

def stacked_weights(x, state, params, config):
    """Keras layout: kernel (input, 4*units), recurrent_kernel (units, 4*units), one matmul per step."""
    return _directed(_keras_loop, x, state, params, config)


stacked_weights.lstmspec_supports = LSTM_ALL
stacked_weights.lstmspec_grad = True


def hx_concat_single_matmul(x, state, params, config):
    """TF1 BasicLSTMCell style: one matmul of [h, x] with a (units+input, 4*units) kernel, gates i, j(=g), f, o.

    Reverse runs by walking t downwards and writing each output at its own position.
    """
    act, rec = activations(config)
    order = "igfo"
    kernel = torch.cat([gate_stack(params, "U", order), gate_stack(params, "W", order)], dim=0)
    bias = gate_stack(params, "b", order)
    h, c = state["h"], state["c"]
    steps = range(x.shape[1])
    if config["direction"] == "reverse":
        steps = reversed(steps)
    outputs = [None] * x.shape[1]
    for t in steps:
        i, j, f, o = torch.split(torch.cat([h, x[:, t]], dim=-1) @ kernel + bias, h.shape[-1], dim=-1)
        c = c * rec(f) + rec(i) * act(j)
        h = act(c) * rec(o)
        outputs[t] = h
    return torch.stack(outputs, dim=1), {"h": h, "c": c}


hx_concat_single_matmul.lstmspec_supports = LSTM_ALL
hx_concat_single_matmul.lstmspec_grad = True


def nn_lstm_inside(x, state, params, config):
    """torch.nn.LSTM run through torch.func.functional_call on the canonical weights (gradients reach them)."""
    units = state["h"].shape[-1]
    module = torch.nn.LSTM(x.shape[-1], units, batch_first=True).to(x.dtype)
    weights = {
        "weight_ih_l0": gate_stack(params, "W", dim=1).T,  # PyTorch: (4*units, input), gates i, f, g, o
        "weight_hh_l0": gate_stack(params, "U", dim=1).T,
        "bias_ih_l0": gate_stack(params, "b"),
        "bias_hh_l0": torch.zeros_like(gate_stack(params, "b")),  # one bias: the canonical b is their sum
    }
    reverse = config["direction"] == "reverse"
    inputs = x.flip(1) if reverse else x
    y, (h, c) = torch.func.functional_call(module, weights, (inputs, (state["h"][None], state["c"][None])))
    return (y.flip(1) if reverse else y), {"h": h[0], "c": c[0]}


nn_lstm_inside.lstmspec_supports = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",),
                                    "direction": ("forward", "reverse")}
nn_lstm_inside.lstmspec_grad = True


_NP_ACTIVATIONS = {
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),  # the logistic function through tanh: no exp overflow
    "tanh": np.tanh,
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras2": lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0),
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
}


def numpy_sigmoid_via_tanh(x, state, params, config):
    """NumPy arrays, one matmul per gate and source, sigmoid(z) written as 0.5*(1 + tanh(z/2))."""
    act, rec = _NP_ACTIVATIONS[config["activation"]], _NP_ACTIVATIONS[config["recurrent_activation"]]
    p = params
    h, c = state["h"], state["c"]
    ts = list(range(x.shape[1]))[:: -1 if config["direction"] == "reverse" else 1]
    y = np.empty(x.shape[:2] + h.shape[-1:], dtype=x.dtype)
    for t in ts:
        xt = x[:, t]
        i = rec(xt @ p["W_i"] + h @ p["U_i"] + p["b_i"])
        f = rec(xt @ p["W_f"] + h @ p["U_f"] + p["b_f"])
        g = act(xt @ p["W_g"] + h @ p["U_g"] + p["b_g"])
        o = rec(xt @ p["W_o"] + h @ p["U_o"] + p["b_o"])
        c = f * c + i * g
        h = o * act(c)
        y[:, t] = h
    return y, {"h": h, "c": c}


numpy_sigmoid_via_tanh.lstmspec_arrays = "numpy"
numpy_sigmoid_via_tanh.lstmspec_supports = LSTM_ALL


def torch_layout_two_biases(x, state, params, config):
    """PyTorch's own tensors (lstmspec_layout="torch"): weight_ih_l0 (4*units, input), bias_ih_l0 + bias_hh_l0."""
    act, rec = activations(config)
    w_ih, w_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    b_ih, b_hh = params["bias_ih_l0"], params["bias_hh_l0"]
    reverse = config["direction"] == "reverse"
    seq = x.flip(1) if reverse else x
    h, c = state["h"], state["c"]
    ys = []
    for t in range(seq.shape[1]):
        i, f, g, o = (F.linear(seq[:, t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, dim=1)
        c = rec(f) * c + rec(i) * act(g)
        h = rec(o) * act(c)
        ys.append(h)
    y = torch.stack(ys, dim=1)
    return (y.flip(1) if reverse else y), {"h": h, "c": c}


torch_layout_two_biases.lstmspec_layout = "torch"
torch_layout_two_biases.lstmspec_supports = LSTM_ALL
torch_layout_two_biases.lstmspec_grad = True


# --------------------------------------------------------------------------------------------------
# Wrong kernels: one real-world bug each
# --------------------------------------------------------------------------------------------------

def gate_order_onnx_iofg(x, state, params, config):
    """Gates split as i, o, f, g (ONNX's order) from weights stacked i, f, g, o (Keras/PyTorch)."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, o, f, g = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def onnx_weights_read_in_torch_order(x, state, params, config):
    """Given ONNX's tensors (lstmspec_layout="onnx": W, R, B in gate order i, o, f, c), splits the gates as
    PyTorch's i, f, g, o (code ported from torch.nn.LSTM, weights exported from ONNX)."""
    wb, rb = params["B"][0].chunk(2)
    loop = _torch_order_loop(params["W"][0], params["R"][0], wb, rb, config)
    return _directed(loop, x, state, params, config)


onnx_weights_read_in_torch_order.lstmspec_layout = "onnx"


def forget_bias_plus_one(x, state, params, config):
    """TF1 LSTMCell's forget_bias=1.0 added on top of a bias that was loaded from a trained model."""
    shifted = dict(params, b_f=params["b_f"] + 1.0)
    return _directed(_keras_loop, x, state, shifted, config)


def torch_bias_hh_dropped(x, state, params, config):
    """PyTorch weights ported with bias_ih_l0 only: bias_hh_l0 silently dropped."""
    loop = _torch_order_loop(params["weight_ih_l0"], params["weight_hh_l0"], params["bias_ih_l0"], None, config)
    return _directed(loop, x, state, params, config)


torch_bias_hh_dropped.lstmspec_layout = "torch"


def keras_bias_counted_twice(x, state, params, config):
    """Keras' single bias copied into both bias_ih and bias_hh when converting to PyTorch: b counted twice."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, f, g, o = ((x[:, t] @ W + b) + (h @ U + b)).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def h_c_swapped_in_final_state(x, state, params, config):
    """Final state returned as (c, h) where (h, c) is expected (TF1's LSTMStateTuple(c, h) vs Keras' [h, c])."""
    y, final = _directed(_keras_loop, x, state, params, config)
    return y, {"h": final["c"], "c": final["h"]}


def state_reset_every_step(x, state, params, config):
    """Stateless cell applied per timestep: every step starts again from the initial state."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h0, c0, params, config):
        ys = []
        for t in range(x.shape[1]):
            h, c = h0, c0  # meant to be hoisted out of the loop
            i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def initial_state_ignored(x, state, params, config):
    """The initial state argument is accepted but the scan starts from zeros (the module's default)."""
    zeros = {k: torch.zeros_like(v) for k, v in state.items()}
    return _directed(_keras_loop, x, zeros, params, config)


def last_output_broadcast(x, state, params, config):
    """return_sequences mishandled: the last step's h repeated over every timestep."""
    y, final = _directed(_keras_loop, x, state, params, config)
    return final["h"][:, None].expand_as(y), final


def reverse_in_processing_order(x, state, params, config):
    """Reverse direction implemented as Keras go_backwards: outputs left in processing order, not flipped back."""
    reverse = config["direction"] == "reverse"
    y, h, c = _keras_loop(x.flip(1) if reverse else x, state["h"], state["c"], params, config)
    return y, {"h": h, "c": c}


reverse_in_processing_order.lstmspec_supports = LSTM_ALL  # claims the reverse direction


def reverse_final_state_from_last_position(x, state, params, config):
    """Final h read from y[:, -1]: right forward, but in reverse that is the first step processed."""
    y, final = _directed(_keras_loop, x, state, params, config)
    return y, {"h": y[:, -1], "c": final["c"]}


reverse_final_state_from_last_position.lstmspec_supports = LSTM_ALL  # claims the reverse direction


def hard_sigmoid_for_sigmoid(x, state, params, config):
    """Gates through Keras 2's default recurrent_activation='hard_sigmoid' while claiming sigmoid."""
    return _directed(_keras_loop, x, state, params, dict(config, recurrent_activation="hard_sigmoid_keras2"))


hard_sigmoid_for_sigmoid.lstmspec_supports = {"recurrent_activation": ("sigmoid",), "activation": ALL_ACTIVATIONS,
                                              "direction": ("forward", "reverse")}


def no_activation_on_cell_output(x, state, params, config):
    """h_t = o * c_t: the tanh on the cell state before the output gate is missing."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * c
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def transposed_recurrent_kernel(x, state, params, config):
    """h @ U.T: the (units, units) recurrent kernel used in PyTorch's (out, in) orientation; shapes still fit."""
    transposed = dict(params, **{f"U_{g}": params[f"U_{g}"].T for g in "ifgo"})
    return _directed(_keras_loop, x, state, transposed, config)


def cell_state_in_float16(x, state, params, config):
    """Fused-kernel storage bug: the cell state kept in a half-precision buffer between steps."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            c = (rec(f) * c + rec(i) * act(g)).half().to(x.dtype)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def outputs_shifted_by_one_step(x, state, params, config):
    """Off-by-one: h is appended to the outputs before it is updated, so y[t] holds h_{t-1}."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            ys.append(h)
            i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def coupled_input_forget_gate(x, state, params, config):
    """The CIFG variant (TF's CoupledInputForgetGateLSTMCell): i = 1 - f, W_i/U_i/b_i unused."""
    act, rec = activations(config)
    order = "fgo"
    W, U, b = gate_stack(params, "W", order), gate_stack(params, "U", order), gate_stack(params, "b", order)

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            f, g, o = (x[:, t] @ W + h @ U + b).chunk(3, dim=-1)
            c = rec(f) * c + (1 - rec(f)) * act(g)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def activation_ignored(x, state, params, config):
    """activation= accepted but tanh hard-coded for the candidate and the cell output."""
    return _directed(_keras_loop, x, state, params, dict(config, activation="tanh"))


def activations_swapped(x, state, params, config):
    """config['activation'] and config['recurrent_activation'] read the wrong way round (gates through tanh)."""
    swapped = dict(config, activation=config["recurrent_activation"], recurrent_activation=config["activation"])
    return _directed(_keras_loop, x, state, params, swapped)


def h_from_previous_cell(x, state, params, config):
    """Statements out of order: h_t = o * tanh(c_{t-1}), computed before the cell update."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            h = rec(o) * act(c)
            c = rec(f) * c + rec(i) * act(g)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


def truncated_bptt_detach(x, state, params, config):
    """h.detach() every step (truncated backprop of length 1): values right, gradients wrong."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ W + h.detach() @ U + b).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


truncated_bptt_detach.lstmspec_grad = True


def writes_state_in_place(x, state, params, config):
    """Updates the caller's state tensors in place (c.mul_(f)), corrupting the initial state it was given."""
    act, rec = activations(config)
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        with torch.no_grad():
            for t in range(x.shape[1]):
                i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
                c.mul_(rec(f)).add_(rec(i) * act(g))
                h = rec(o) * act(c)
                ys.append(h)
        return torch.stack(ys, dim=1), h, c.clone()

    return _directed(loop, x, state, params, config)


def computes_in_float32(x, state, params, config):
    """A hard-coded .float(): the kernel computes in float32 and casts back, so a float64 run is float32."""
    y, final = _directed(_keras_loop, x.float(), {k: v.float() for k, v in state.items()},
                         {k: v.float() for k, v in params.items()}, config)
    return y.to(x.dtype), {k: v.to(x.dtype) for k, v in final.items()}


def torch_hardsigmoid_in_float64(x, state, params, config):
    """hard_sigmoid through F.hardsigmoid, whose backward uses 1/6 rounded to float32 even for float64 tensors."""
    act, rec = activations(config)
    act = F.hardsigmoid if config["activation"] == "hard_sigmoid" else act
    rec = F.hardsigmoid if config["recurrent_activation"] == "hard_sigmoid" else rec
    W, U, b = gate_stack(params, "W"), gate_stack(params, "U"), gate_stack(params, "b")

    def loop(x, h, c, params, config):
        ys = []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
            ys.append(h)
        return torch.stack(ys, dim=1), h, c

    return _directed(loop, x, state, params, config)


torch_hardsigmoid_in_float64.lstmspec_supports = LSTM_ALL
torch_hardsigmoid_in_float64.lstmspec_grad = True


def nn_lstm_batch_first_missing(x, state, params, config):
    """torch.nn.LSTM left at batch_first=False: (batch, time, input) read as (time, batch, input)."""
    module = torch.nn.LSTM(x.shape[-1], state["h"].shape[-1]).to(x.dtype)
    weights = {"weight_ih_l0": gate_stack(params, "W", dim=1).T, "weight_hh_l0": gate_stack(params, "U", dim=1).T,
               "bias_ih_l0": gate_stack(params, "b"), "bias_hh_l0": torch.zeros_like(gate_stack(params, "b"))}
    y, (h, c) = torch.func.functional_call(module, weights, (x, (state["h"][None], state["c"][None])))
    return y, {"h": h[0], "c": c[0]}


nn_lstm_batch_first_missing.lstmspec_supports = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",),
                                                 "direction": ("forward",)}


def squeeze_drops_batch_of_one(x, state, params, config):
    """h_n.squeeze() instead of h_n[0]: with a batch of one the batch axis goes too (final state (units,))."""
    module = torch.nn.LSTM(x.shape[-1], state["h"].shape[-1], batch_first=True).to(x.dtype)
    weights = {"weight_ih_l0": gate_stack(params, "W", dim=1).T, "weight_hh_l0": gate_stack(params, "U", dim=1).T,
               "bias_ih_l0": gate_stack(params, "b"), "bias_hh_l0": torch.zeros_like(gate_stack(params, "b"))}
    y, (h, c) = torch.func.functional_call(module, weights, (x, (state["h"][None], state["c"][None])))
    return y, {"h": h.squeeze(), "c": c.squeeze()}


squeeze_drops_batch_of_one.lstmspec_supports = nn_lstm_batch_first_missing.lstmspec_supports


CORRECT = [stacked_weights, hx_concat_single_matmul, nn_lstm_inside, numpy_sigmoid_via_tanh, torch_layout_two_biases]

WRONG = [
    gate_order_onnx_iofg, onnx_weights_read_in_torch_order, forget_bias_plus_one, torch_bias_hh_dropped, keras_bias_counted_twice,
    h_c_swapped_in_final_state, state_reset_every_step, initial_state_ignored, last_output_broadcast,
    reverse_in_processing_order, reverse_final_state_from_last_position, hard_sigmoid_for_sigmoid,
    no_activation_on_cell_output, transposed_recurrent_kernel, cell_state_in_float16, outputs_shifted_by_one_step,
    coupled_input_forget_gate, activation_ignored, activations_swapped, h_from_previous_cell, truncated_bptt_detach,
    writes_state_in_place, computes_in_float32, torch_hardsigmoid_in_float64, nn_lstm_batch_first_missing,
    squeeze_drops_batch_of_one,
]
