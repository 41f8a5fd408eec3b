"""Small PyTorch LSTM kernels for the tests of what a kernel is told and of ``check --jobs``: one correct, and one
that kills the ``--jobs`` helper process that runs it.

They follow the kernel protocol ``fn(x, state, params, config) -> (y, final_state)`` with torch tensors and
compute one configuration (tanh, sigmoid, forward). ``lstm`` declares nothing: each test of
``test_kernel_faults.py`` says what its variant of it supports.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import torch


def lstm(x, state, params, config):
    """A correct forward LSTM, the base every faulty kernel of the tests changes in one place."""
    h, c = state["h"], state["c"]
    W = torch.cat([params[f"W_{g}"] for g in "ifgo"], dim=1)
    U = torch.cat([params[f"U_{g}"] for g in "ifgo"], dim=1)
    b = torch.cat([params[f"b_{g}"] for g in "ifgo"])
    ys = []
    for t in range(x.shape[1]):
        i, f, g, o = (x[:, t] @ W + h @ U + b).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        ys.append(h)
    return torch.stack(ys, dim=1), {"h": h, "c": c}


def dies_in_a_jobs_helper(x, state, params, config):
    """Correct in the main process; a ``--jobs`` helper that calls it writes the file named by
    ``$LSTMSPEC_TEST_FLAG`` and dies in the middle of its case (exit code 3). The main process waits for that
    file (at most 120 s) before each case, so that a helper surely takes a case before the main process has
    done them all."""
    flag = Path(os.environ["LSTMSPEC_TEST_FLAG"])
    if multiprocessing.parent_process() is not None:
        flag.write_text("helper took a case")
        os._exit(3)
    deadline = time.monotonic() + 120
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return lstm(x, state, params, config)


dies_in_a_jobs_helper.lstmspec_supports = {"activation": ["tanh"], "recurrent_activation": ["sigmoid"],
                                           "direction": ["forward"]}
