"""``lstmspec lint``: static checks of spec files, file after file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .args import add_command


def add_parser(sub: Any) -> None:
    """Register ``lstmspec lint`` on the CLI's subparsers."""
    p = add_command(
        sub, "lint", cmd_lint,
        help="static checks of spec files: shapes, names, updates, cycles, unused declarations",
        description="Check spec files without running them: infer every equation's shape from the declared "
        "shapes and report mismatches, undefined names, unused parameters, states without an update and "
        "cycles. With no PATH, lints the shipped specs. Exit code 1 when any error is found.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="spec files, directories of them, or shipped names")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")


def cmd_lint(args: argparse.Namespace) -> int:
    """Lint every file named (or found in a directory) and go on after a bad one; a path that
    does not exist is a bad command line (exit 2), problems found in a file are exit 1."""
    from ..errors import SpecError
    from ..spec.catalog import resolve_path, specs_dir
    from ..spec.loader import lint_file

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


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


__all__ = ["add_parser", "cmd_lint"]
