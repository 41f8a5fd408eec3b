"""``lstmspec shapes``: the shape table of one configuration of a spec, or the report of every shipped spec."""
from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from .args import add_command, check_output, parse_assignments, write

EXAMPLES = """\
examples:
  lstmspec shapes convlstm2d                      symbolic table (formulas)
  lstmspec shapes lstm batch=8 time=100 input=20 units=64
  lstmspec shapes convlstm2d batch=8 time=100 rows=128 cols=128 channels=3 \\
      filters=64 kernel_size=3x3 padding=same strides=2
  lstmspec shapes lstm --format json
"""


def add_parser(sub: Any) -> None:
    """Register ``lstmspec shapes`` on the CLI's subparsers."""
    p = add_command(
        sub, "shapes", cmd_shapes,
        help="shape table of a spec: parameters per gate and per framework, gates, states, outputs",
        description="Print the shape table of one configuration of SPEC, computed from the spec's "
        "symbolic shapes. Without sizes it prints the symbolic table with the formulas "
        "(for the attributes given, defaults otherwise). Sizes and attributes are NAME=VALUE words.",
        examples=EXAMPLES,
    )
    p.add_argument("spec", nargs="?", help="shipped spec name (see 'lstmspec list') or path to a .toml file")
    p.add_argument("assignments", nargs="*", metavar="NAME=VALUE", help="dimension or attribute, e.g. units=64 padding=same")
    p.add_argument("--format", default="github", choices=["github", "markdown", "latex", "html", "json"])
    p.add_argument("--all", action="store_true", help="the Markdown report of every shipped spec (reports/shapes.md)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def cmd_shapes(args: argparse.Namespace) -> int:
    from ..spec import load_spec, shipped_names
    from ..tables import format_table, shape_table, shapes_report

    check_output(args)
    if args.all:
        if args.spec:
            raise ConfigError("--all prints every shipped spec; give no SPEC with it")
        write(args, shapes_report())
        return 0
    if not args.spec:
        raise ConfigError(f"give a SPEC (one of {', '.join(shipped_names())} or a path) or --all")
    spec = load_spec(args.spec)
    dims, attrs = parse_assignments(spec, args.assignments)
    resolved = spec.resolve_config(attrs)
    sizes = spec.resolve_dims(dims, resolved) if dims else None
    table = shape_table(spec, sizes, resolved, partial=dims or None)
    write(args, format_table(table, args.format))
    return 0


__all__ = ["add_parser", "cmd_shapes"]
