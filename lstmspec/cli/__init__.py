"""The ``lstmspec`` command line.

Every user error (a bad spec file, an unknown name, a bad size) ends as one
line on stderr and exit code 2; tracebacks are for bugs in lstmspec itself.
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, LstmspecError

EXAMPLES_SHAPES = """\
examples:
  lstmspec shapes convlstm2d                      symbolic table (formulas)
  lstmspec shapes lstm batch=8 time=100 input=20 units=64
  lstmspec shapes convlstm2d batch=8 time=100 rows=128 cols=128 channels=3 \\
      filters=64 kernel_size=3x3 padding=same strides=2
  lstmspec shapes lstm --format json
"""


_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with control characters and line separators escaped: what a user typed (``batch=0\\r0``)
    must not split an error message into lines or move the cursor."""
    return _LINE_BREAKING.sub(lambda m: repr(m.group())[1:-1], text)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit code 2 (argparse's own code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse swallows write errors; a --help into a full disk must not exit 0
        if message:
            file = file or sys.stdout
            file.write(message)
            file.flush()


def _parse_assignments(spec: Any, items: Sequence[str]) -> tuple[dict[str, int], dict[str, Any]]:
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


# ----------------------------------------------------------------- subcommands
def cmd_shapes(args: argparse.Namespace) -> int:
    from .spec import load_spec, shipped_names
    from .tables import format_table, shape_table, shapes_report

    _check_output(args)
    if args.all:
        if args.spec:
            raise ConfigError("--all prints every shipped spec; give no SPEC with it")
        _write(args, shapes_report())
        return 0
    if not args.spec:
        raise ConfigError(f"give a SPEC (one of {', '.join(shipped_names())} or a path) or --all")
    spec = load_spec(args.spec)
    dims, attrs = _parse_assignments(spec, args.assignments)
    resolved = spec.resolve_config(attrs)
    sizes = spec.resolve_dims(dims, resolved) if dims else None
    table = shape_table(spec, sizes, resolved, partial=dims or None)
    _write(args, format_table(table, args.format))
    return 0


def cmd_equations(args: argparse.Namespace) -> int:
    from .expr.render import render_equations
    from .spec import load_spec

    _check_output(args)
    spec = load_spec(args.spec)
    _write(args, render_equations(spec, args.format))
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    """Lint every file named (or found in a directory) and go on after a bad one; a path that
    does not exist is a bad command line (exit 2), problems found in a file are exit 1."""
    from .errors import SpecError
    from .spec.catalog import resolve_path, specs_dir
    from .spec.loader import lint_file

    paths: list[Path] = []
    for given in args.paths or [str(specs_dir())]:
        path = Path(given)
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise ConfigError(f"no .toml spec files in {given}")
            paths += found
        elif path.is_file():
            paths.append(path)
        elif given.endswith(".toml") or "/" in given:
            raise SpecError("no such spec file", file=given)
        else:
            paths.append(resolve_path(given))
    errors = warnings = 0
    for path in paths:
        try:
            spec, findings = lint_file(path, _display(path))
        except Exception as exc:  # a bug in lstmspec: said, counted, and the other files still linted
            print(f"{_display(path)}: internal error of lstmspec while linting this file: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
            errors += 1
            continue
        for finding in findings:
            print(finding, file=sys.stderr if finding.severity == "error" else sys.stdout)
            errors += finding.severity == "error"
            warnings += finding.severity == "warning"
        if not findings and not args.quiet:
            print(f"{_display(path)}: ok ({spec.name}: {len(spec.equations)} equations, shapes consistent)")
    if len(paths) > 1 or errors or warnings:
        print(f"{len(paths)} file(s), {errors} error(s), {warnings} warning(s)", file=sys.stderr if errors else sys.stdout)
    return 1 if errors else 0


def cmd_list(args: argparse.Namespace) -> int:
    from .spec import load_spec, shipped_names

    for name in shipped_names():
        spec = load_spec(name)
        print(f"{name:20s} {spec.title}")
    return 0


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check_output(args: argparse.Namespace) -> None:
    """``-o FILE`` is checked before the spec is loaded: a bad path is one line and exit 2."""
    if getattr(args, "output", None):
        from .outputs import check_file_target

        check_file_target(args.output, "--output")


def _write(args: argparse.Namespace, text: str) -> None:
    from .outputs import atomic_write, write_stdout

    if not text.endswith("\n"):
        text += "\n"
    output = getattr(args, "output", None)
    if output:
        atomic_write(output, text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        write_stdout(text)


# ----------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="lstmspec",
        description="LSTM-family layers as declarative specs: shape tables, typeset equations, "
        "static checks, and a reference derived from the equations.",
        epilog="Run 'lstmspec COMMAND --help' for the options of a command. Exit codes: 0 ok, "
        "1 a check or lint found problems, 2 bad input (spec file, command line) or an output that cannot be "
        "written, 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"lstmspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "shapes",
        help="shape table of a spec: parameters per gate and per framework, gates, states, outputs",
        description="Print the shape table of one configuration of SPEC, computed from the spec's "
        "symbolic shapes. Without sizes it prints the symbolic table with the formulas "
        "(for the attributes given, defaults otherwise). Sizes and attributes are NAME=VALUE words.",
        epilog=EXAMPLES_SHAPES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", nargs="?", help="shipped spec name (see 'lstmspec list') or path to a .toml file")
    p.add_argument("assignments", nargs="*", metavar="NAME=VALUE", help="dimension or attribute, e.g. units=64 padding=same")
    p.add_argument("--format", default="github", choices=["github", "markdown", "latex", "html", "json"])
    p.add_argument("--all", action="store_true", help="the Markdown report of every shipped spec (reports/shapes.md)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_shapes)

    p = sub.add_parser(
        "equations",
        help="the spec's equations, typeset from the parsed expressions",
        description="Typeset SPEC's gate and state equations from the parsed expressions.",
    )
    p.add_argument("spec", help="shipped spec name or path to a .toml file")
    p.add_argument("--format", default="markdown", choices=["markdown", "latex", "text"])
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_equations)

    p = sub.add_parser(
        "lint",
        help="static checks of spec files: shapes, names, updates, cycles, unused declarations",
        description="Check spec files without running them: infer every equation's shape from the declared "
        "shapes and report mismatches, undefined names, unused parameters, states without an update and "
        "cycles. With no PATH, lints the shipped specs. Exit code 1 when any error is found.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec files, directories of them, or shipped names")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    p.set_defaults(func=cmd_lint)

    from .check.command import add_parser as add_check

    add_check(sub)

    from .bench.command import add_parser as add_bench

    add_bench(sub)

    from .trace import add_parser as add_trace

    add_trace(sub)

    from .defaults import add_parser as add_defaults

    add_defaults(sub)

    p = sub.add_parser("list", help="the shipped specs", description="List the shipped specs with their titles.")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lstmspec ARGV``; the exit code (0 ok, 1 problems found, 2 bad input or output, 128+N signal N)."""
    return run(build_parser(), argv)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
        prepare: Callable[[argparse.Namespace], None] | None = None) -> int:
    """Parse ``argv`` and run its command, turning every error a user can cause into one line on stderr.

    SIGTERM and SIGHUP are handled as Ctrl-C is (:mod:`lstmspec.interrupts`). A stdout or stderr that cannot
    be written (a full disk, a closed pipe) ends the command with exit 2; a closed pipe (``| head``) quietly.
    """
    from .interrupts import exit_status, handled, signal_name

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
        from .outputs import STREAM_ERRNOS, shown

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
