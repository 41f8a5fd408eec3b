"""``lstmspec list``: the shipped specs with their titles."""
from __future__ import annotations

import argparse
from typing import Any

from .args import add_command


def add_parser(sub: Any) -> None:
    """Register ``lstmspec list`` on the CLI's subparsers."""
    add_command(sub, "list", cmd_list, help="the shipped specs", description="List the shipped specs with their titles.")


def cmd_list(args: argparse.Namespace) -> int:
    from ..spec import load_spec, shipped_names

    for name in shipped_names():
        spec = load_spec(name)
        print(f"{name:20s} {spec.title}")
    return 0


__all__ = ["add_parser", "cmd_list"]
