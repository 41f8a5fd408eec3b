"""The ``lstmspec`` command line: the top layer, which nothing else in lstmspec imports.

One module per command (``shapes``, ``equations``, ``lint``, ``check``, ``bench``, ``trace``,
``defaults``, ``list``), each with its ``add_parser`` and its ``cmd_*``; the argument helpers they
share in :mod:`.args`; one error-handling :func:`~.entry.run`. Every user error (a bad spec file, an
unknown name, a bad size) ends as one line on stderr and exit code 2; tracebacks are for bugs in
lstmspec itself.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from .args import Parser
from .entry import run


def build_parser() -> argparse.ArgumentParser:
    """The ``lstmspec`` parser with every command registered (each command module imported only here)."""
    from .. import __version__
    from . import bench, check, defaults, equations, lint, list as list_, shapes, trace

    parser = Parser(
        prog="lstmspec",
        description="LSTM-family layers as declarative specs: shape tables, typeset equations, "
        "static checks, and a reference derived from the equations.",
        epilog="Run 'lstmspec COMMAND --help' for the options of a command. Exit codes: 0 ok, "
        "1 a check or lint found problems, 2 bad input (spec file, command line) or an output that cannot be "
        "written, 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"lstmspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in (shapes, equations, lint, check, bench, trace, defaults, list_):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lstmspec ARGV``; the exit code (0 ok, 1 problems found, 2 bad input or output, 128+N signal N)."""
    return run(build_parser(), argv)


__all__ = ["build_parser", "main"]

