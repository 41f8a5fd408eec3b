"""The one error-handling run of a command: every error a user can cause ends as one line on stderr."""
from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import LstmspecError
from .args import one_line


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
        prepare: Callable[[argparse.Namespace], None] | None = None) -> int:
    """Parse ``argv`` and run its command, turning every error a user can cause into one line on stderr.

    SIGTERM and SIGHUP are handled as Ctrl-C is (:mod:`lstmspec.interrupts`). A stdout or stderr that cannot
    be written (a full disk, a closed pipe) ends the command with exit 2; a closed pipe (``| head``) quietly.
    """
    from ..interrupts import exit_status, handled, signal_name

    command = "lstmspec"
    try:
        with handled():
            try:
                args = parser.parse_args(argv)
            except SystemExit:
                sys.stdout.flush()  # --help into a full disk: raised here, not at interpreter exit
                raise
            if not getattr(args, "func", None):
                parser.print_help()
                sys.stdout.flush()
                return 2
            command = f"lstmspec {args.command}"
            if prepare is not None:
                prepare(args)
            code = args.func(args)
            sys.stdout.flush()
            return code
    except LstmspecError as exc:
        _say(f"{command}: error: {one_line(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        name = signal_name(exc)
        _say(f"{command}: interrupted" + ("" if name == "SIGINT" else f" by {name}"))
        return exit_status(exc)
    except OSError as exc:
        from ..outputs import STREAM_ERRNOS, shown

        if exc.filename is None and exc.errno in STREAM_ERRNOS:
            return _stream_failed(command, exc)
        if exc.filename is None:
            raise
        _say(f"{command}: error: {one_line(shown(str(exc.filename)))}: {exc.strerror or exc}")
        return 2


def _stream_failed(command: str, exc: OSError) -> int:
    """stdout (or stderr) could not be written: point it at /dev/null, so that Python's own flush at exit
    finds nothing to complain about, and say why in one line unless the reader simply left (EPIPE)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    _to_devnull(sys.stdout)
    if exc.errno != errno.EPIPE:
        _say(f"{command}: error: cannot write to stdout: {exc.strerror or exc}")
    return 2


def _say(line: str) -> None:
    """One line on stderr; a stderr that cannot be written is pointed at /dev/null instead."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _to_devnull(sys.stderr)


def _to_devnull(stream: Any) -> None:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a pytest capture object, a closed stream
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


__all__ = ["run"]
