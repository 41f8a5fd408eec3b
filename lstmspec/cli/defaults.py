"""``lstmspec defaults``: each installed framework layer's defaults that change the math, against the spec's."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
from .args import add_command


def add_parser(sub: Any) -> None:
    """Register ``lstmspec defaults`` on the CLI's subparsers."""
    p = add_command(
        sub, "defaults", cmd_defaults,
        help="each installed framework layer's defaults that change the math, against the spec's",
        description="For each installed framework layer that implements SPEC, its defaults for the options and "
        "initialisers that change the math (activations, forget-gate bias, bias initialiser, direction, padding, "
        "data format, time-major input), read from the installed package's own signature and marked where they "
        "differ from the spec's default.",
    )
    p.add_argument("spec", nargs="?", help="shipped spec name or path to a .toml file")
    p.add_argument("--format", default="terminal", choices=["terminal", "markdown", "json"])
    p.add_argument("--all", action="store_true", help="the Markdown report of every shipped spec (reports/defaults.md)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")


def cmd_defaults(args: argparse.Namespace) -> int:
    from ..defaults import defaults_report, render_markdown, render_terminal, spec_defaults, to_json
    from ..outputs import atomic_write, check_file_target, write_stdout
    from ..spec.catalog import load_spec, shipped_names

    if args.output:
        check_file_target(args.output, "--output")
    if args.all:
        if args.spec:
            raise ConfigError("--all prints every shipped spec; give no SPEC with it")
        text = defaults_report()
    elif not args.spec:
        raise ConfigError(f"give a SPEC (one of {', '.join(shipped_names())} or a path) or --all")
    else:
        spec = load_spec(args.spec)
        reports, missing = spec_defaults(spec)
        if args.format == "json":
            text = to_json(spec, reports, missing)
        elif args.format == "markdown":
            text = render_markdown(spec, reports, missing, level=1)
        else:
            text = render_terminal(spec, reports, missing)
    if args.output:
        atomic_write(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        write_stdout(text)
    return 0


__all__ = ["add_parser", "cmd_defaults"]
