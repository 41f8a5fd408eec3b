"""Framework log lines kept off the terminal unless asked for (``check -v``, ``bench -v``).

TensorFlow's C++ logging (absl) prints oneDNN, CPU-feature and XLA INFO lines
straight to file descriptor 2 while TensorFlow is imported, in every process
that imports it (``--jobs`` helpers and kernel workers too), and
``TF_CPP_MIN_LOG_LEVEL`` no longer reaches all of them. So the import runs
with descriptor 2 pointed at /dev/null; an import that fails still raises its
Python exception. ``LSTMSPEC_FRAMEWORK_LOGS=1`` (what ``-v`` sets, inherited
by child processes) lets the lines through.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "LSTMSPEC_FRAMEWORK_LOGS"


def framework_logs() -> bool:
    """Whether frameworks' own log lines should reach the terminal."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def show_framework_logs(show: bool) -> None:
    """Set for this process and the processes it starts (``-v``)."""
    if show:
        os.environ[VERBOSE_ENV] = "1"


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the block (not when framework logs are asked for)."""
    if framework_logs():
        yield
        return
    try:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):
        yield
        return
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


__all__ = ["VERBOSE_ENV", "framework_logs", "show_framework_logs", "quiet_native_stderr"]
