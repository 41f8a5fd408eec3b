"""Process state a kernel may change, put back after each case.

A kernel that turns autograd off, changes torch's default dtype, its thread
count or deterministic flags, or draws from a global random generator would
otherwise change the cases that run after it in the same worker. With this,
every case starts from the same state and a kernel that changes it fails (at
most) its own case.
"""
from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


def _torch_state(torch: Any) -> dict[str, Any]:
    return {
        "grad": torch.is_grad_enabled(),
        "dtype": torch.get_default_dtype(),
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "rng": torch.get_rng_state(),
        "anomaly": torch.is_anomaly_enabled(),
    }


def _restore_torch(torch: Any, state: dict[str, Any]) -> None:
    torch.set_grad_enabled(state["grad"])
    torch.set_default_dtype(state["dtype"])
    if torch.get_num_threads() != state["threads"]:
        torch.set_num_threads(state["threads"])
    torch.use_deterministic_algorithms(state["deterministic"], warn_only=state["warn_only"])
    torch.set_rng_state(state["rng"])
    torch.autograd.set_detect_anomaly(state["anomaly"])


@contextmanager
def fresh_process_state() -> Iterator[None]:
    """Run the body, then put back what it changed of the state the next case depends on."""
    torch = sys.modules.get("torch")
    saved_torch = _torch_state(torch) if torch is not None else None
    saved_np = np.random.get_state()
    saved_py = random.getstate()
    saved_err = np.geterr()
    try:
        yield
    finally:
        np.random.set_state(saved_np)
        random.setstate(saved_py)
        np.seterr(**saved_err)
        torch = sys.modules.get("torch")
        if torch is not None and saved_torch is not None:
            _restore_torch(torch, saved_torch)
