"""Argument helpers shared by every command: one parser class, one way to register a command and the options
of those that run implementations, one way to read ``NAME=VALUE`` words and comma lists, one way to write a
command's text output."""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError

_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with control characters and line separators escaped: what a user typed (``batch=0\\r0``)
    must not split an error message into lines or move the cursor."""
    return _LINE_BREAKING.sub(lambda m: repr(m.group())[1:-1], text)


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit code 2 (argparse's own code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse swallows write errors; a --help into a full disk must not exit 0
        if message:
            file = file or sys.stdout
            file.write(message)
            file.flush()


def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], *, help: str, description: str,
                examples: str | None = None) -> argparse.ArgumentParser:
    """Register command ``name`` on the CLI's subparsers, run by ``func``; the caller adds its options to the
    parser returned.

    With ``examples`` (an epilog laid out by hand) the help keeps its line breaks, the description's too
    (``RawDescriptionHelpFormatter``); without, argparse re-wraps the description to the terminal.
    """
    layout = {"epilog": examples, "formatter_class": argparse.RawDescriptionHelpFormatter} if examples else {}
    parser = sub.add_parser(name, help=help, description=description, **layout)
    parser.set_defaults(func=func)
    return parser


def add_run_options(parser: argparse.ArgumentParser, *, verbose: str) -> None:
    """``--list``, ``-q`` and ``-v`` of the commands that run implementations (check, bench), spelt once;
    ``verbose`` says what ``-v`` lets through for that command."""
    parser.add_argument("--list", action="store_true",
                        help="list the cases and implementations that would run, then exit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose)


def split(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: a comma-separated option, empty items dropped."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def parse_assignments(spec: Any, items: Sequence[str]) -> tuple[dict[str, int], dict[str, Any]]:
    """Split ``name=value`` words into dims and attributes of ``spec`` (groups such as kernel_size expand)."""
    dims: dict[str, int] = {}
    attrs: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"expected NAME=VALUE, got {item!r}")
        name, _, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if name in spec.attributes:
            attrs[name] = spec.attributes[name].parse_cli(value)
        elif name in spec.dim_groups:
            members = spec.dim_groups[name]
            values = [v for v in value.lower().replace("x", ",").split(",") if v]
            if len(values) == 1:
                values = values * len(members)
            if len(values) != len(members):
                raise ConfigError(f"{name} has {len(members)} entries ({', '.join(members)}), got {name}={value}")
            for member, v in zip(members, values):
                dims[member] = _parse_size(member, v)
        elif name in spec.dims:
            dims[name] = _parse_size(name, value)
        else:
            known = list(spec.dims) + list(spec.dim_groups) + list(spec.attributes)
            raise ConfigError(f"spec {spec.name} has no dimension or attribute {name!r}; known: {', '.join(known)}")
    return dims, attrs


def _parse_size(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"Expected a positive integer but got {name}={text}") from None
    if value < 1:
        raise ConfigError(f"Expected a positive integer but got {name}={text}")
    return value


def check_output(args: argparse.Namespace) -> None:
    """``-o FILE`` is checked before the spec is loaded: a bad path is one line and exit 2."""
    if getattr(args, "output", None):
        from ..outputs import check_file_target

        check_file_target(args.output, "--output")


def write(args: argparse.Namespace, text: str) -> None:
    """``text`` to ``-o FILE`` (atomically, saying so on stderr) or to stdout."""
    from ..outputs import atomic_write, write_stdout

    if not text.endswith("\n"):
        text += "\n"
    output = getattr(args, "output", None)
    if output:
        atomic_write(output, text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        write_stdout(text)


__all__ = ["Parser", "add_command", "add_run_options", "check_output", "one_line", "parse_assignments", "split",
           "write"]
