"""``lstmspec equations``: a spec's equations, typeset from the parsed expressions."""
from __future__ import annotations

import argparse
from typing import Any

from .args import add_command, check_output, write


def add_parser(sub: Any) -> None:
    """Register ``lstmspec equations`` on the CLI's subparsers."""
    p = add_command(
        sub, "equations", cmd_equations,
        help="the spec's equations, typeset from the parsed expressions",
        description="Typeset SPEC's gate and state equations from the parsed expressions.",
    )
    p.add_argument("spec", help="shipped spec name or path to a .toml file")
    p.add_argument("--format", default="markdown", choices=["markdown", "latex", "text"])
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def cmd_equations(args: argparse.Namespace) -> int:
    from ..expr.render import render_equations
    from ..spec import load_spec

    check_output(args)
    spec = load_spec(args.spec)
    write(args, render_equations(spec, args.format))
    return 0


__all__ = ["add_parser", "cmd_equations"]
