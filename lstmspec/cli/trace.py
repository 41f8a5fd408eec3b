"""``lstmspec trace``: the forward pass of a spec step by step; the tracing itself is :mod:`lstmspec.trace`."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..trace import DEFAULT_PIXELS, DEFAULT_STEPS, PRINT_PARAMS_UP_TO
from .args import Parser, add_command, parse_assignments
from .entry import run

EXAMPLES = """\
examples:
  lstmspec trace mdlstm2d                     a 2x2 image: cells (1,1), (1,2), (2,1), (2,2)
  lstmspec trace mdlstm2d direction=up_left   the same image scanned from the bottom-right corner
  lstmspec trace lstm units=2 input=3 --steps 2
  lstmspec trace convlstm2d --pixels 3        every gate at the first 3 pixels of each frame
"""


def add_parser(sub: Any) -> None:
    """Register ``lstmspec trace`` on the CLI's subparsers."""
    p = add_command(
        sub, "trace", cmd_trace,
        help="the forward pass step by step (cell by cell) with every gate's value",
        description="Print the forward pass of SPEC on small random inputs, step by step (for a grid recurrence "
        "cell by cell in scan order), with the input, the states read and every equation's value, so that a "
        "reader can follow it by hand. Sizes and attributes are NAME=VALUE words; unset sizes come from the "
        "spec's [example] (for mdlstm2d the 2x2 image of Jae Duk Seo's 'Only Numpy' forward pass) or its "
        "defaults, with batch 1.",
        examples=EXAMPLES,
    )
    p.add_argument("spec", help="shipped spec name or path to a .toml file")
    p.add_argument("assignments", nargs="*", metavar="NAME=VALUE", help="dimension or attribute, e.g. units=2")
    p.add_argument("--steps", type=int, default=None,
                   help=f"steps (cells) to print (default: {DEFAULT_STEPS} steps; every cell of a grid)")
    p.add_argument("--pixels", type=int, default=DEFAULT_PIXELS,
                   help=f"pixels per step to print for convolutional states (default {DEFAULT_PIXELS})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and parameters (default 0)")
    p.add_argument("--params", action=argparse.BooleanOptionalAction, default=None,
                   help=f"print the parameters (default: when they have at most {PRINT_PARAMS_UP_TO} values)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def cmd_trace(args: argparse.Namespace) -> int:
    from ..spec import load_spec
    from ..trace import trace_text

    spec = load_spec(args.spec)
    dims, attrs = parse_assignments(spec, args.assignments)
    for name, value in (("--steps", args.steps), ("--pixels", args.pixels)):
        if value is not None and value < 1:
            raise ConfigError(f"Expected {name} N >= 1 but got {value}")
    text = trace_text(spec, dims, attrs, steps=args.steps, pixels=args.pixels, seed=args.seed, show_params=args.params)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``lstmspec trace ARGV`` through a parser that knows only this command (what the tests call)."""
    parser = Parser(prog="lstmspec")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    add_parser(sub)
    return run(parser, ["trace", *(sys.argv[1:] if argv is None else argv)])


__all__ = ["add_parser", "cmd_trace", "main"]
