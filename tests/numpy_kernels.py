"""Small numpy LSTM kernels for the tests of lstmspec's public API, its pytest plugin and
``check --kernel``: one correct, one with a plausible bug, one that hangs on some cases.

They follow the kernel protocol ``fn(x, state, params, config) -> (y, final_state)`` with
numpy arrays, and declare the one configuration they compute (tanh, sigmoid, forward), so
every other case of the default matrix is skipped by declaration and a check stays fast.
"""
from __future__ import annotations

import time

import numpy as np

import lstmspec

SUPPORTS = {"activation": ("tanh",), "recurrent_activation": ("sigmoid",), "direction": ("forward",)}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _scan(x, state, params, gate_for):
    """The textbook forward loop; ``gate_for`` maps each gate name to the parameters' gate it reads."""
    h, c = state["h"], state["c"]
    ys = []
    for t in range(x.shape[1]):
        z = {g: x[:, t] @ params[f"W_{gate_for[g]}"] + h @ params[f"U_{gate_for[g]}"] + params[f"b_{gate_for[g]}"]
             for g in "ifgo"}
        c = _sigmoid(z["f"]) * c + _sigmoid(z["i"]) * np.tanh(z["g"])
        h = _sigmoid(z["o"]) * np.tanh(c)
        ys.append(h)
    return np.stack(ys, axis=1), {"h": h, "c": c}


@lstmspec.kernel(arrays="numpy", supports=SUPPORTS)
def lstm(x, state, params, config):
    """Correct: gates i, f, g, o from their own parameters."""
    return _scan(x, state, params, {"i": "i", "f": "f", "g": "g", "o": "o"})


@lstmspec.kernel(arrays="numpy", supports=SUPPORTS)
def input_and_forget_gates_swapped(x, state, params, config):
    """Wrong: the input gate reads the forget gate's weights and the other way round (a gate-order slip)."""
    return _scan(x, state, params, {"i": "f", "f": "i", "g": "g", "o": "o"})


@lstmspec.kernel(arrays="numpy", supports=SUPPORTS)
def hangs_on_a_batch_of_one(x, state, params, config):
    """Correct, except that it sleeps for ten minutes when the batch has one sequence (a kernel that hangs)."""
    if x.shape[0] == 1:
        time.sleep(600)
    return lstm(x, state, params, config)
