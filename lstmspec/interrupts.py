"""SIGTERM and SIGHUP handled as Ctrl-C is: the run stops, what finished is reported, exit 128 + signal.

A CI runner that cancels a job sends SIGTERM; a closed terminal sends SIGHUP.
Python's default for both is to die at once, with no report and with any
helper process left running. Here they raise :class:`Interrupted`, a
``KeyboardInterrupt``, so every ``except KeyboardInterrupt`` and ``finally``
that already serves Ctrl-C (reports written, helpers and kernel workers
stopped) serves them too. A second signal while the first is being handled is
ignored, so cleanup is not cut short; signals that arrive while reports are
written (:func:`deferred`) are held until the files are complete.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by ``signum``; the command exits ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def exit_status(exc: BaseException) -> int:
    """128 + the signal: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def signal_name(exc: BaseException) -> str:
    return signal.Signals(getattr(exc, "signum", signal.SIGINT)).name


_state = {"pending": 0, "raised": 0, "deferring": 0}


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state["raised"] or _state["pending"]:
        return  # already stopping: let the cleanup finish
    if _state["deferring"]:
        _state["pending"] = signum
        return
    _state["raised"] = signum
    raise Interrupted(signum)


@contextmanager
def handled() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Interrupted` inside the block; the previous handlers come back after.

    Only the main thread can set handlers; elsewhere (a caller's thread) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in HANDLED}
    _state.update(pending=0, raised=0, deferring=0)
    for s in HANDLED:
        if previous[s] is not signal.SIG_IGN:  # nohup: a SIGHUP the user asked to ignore stays ignored
            signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP until the block is done (reports being written); then raise :class:`Interrupted`."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
    if not _state["deferring"] and _state["pending"]:
        signum, _state["pending"] = _state["pending"], 0
        _state["raised"] = signum
        raise Interrupted(signum)


def pending() -> int:
    """The signal held by :func:`deferred` and not yet raised (0 if none)."""
    return _state["pending"]


__all__ = ["HANDLED", "Interrupted", "deferred", "exit_status", "handled", "pending", "signal_name"]


def end_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies, however the parent ends
    (SIGKILL included), so a helper or kernel worker is never left running on its own."""
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signum, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os.kill(os.getpid(), signum)
