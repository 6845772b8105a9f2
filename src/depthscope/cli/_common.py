"""Pieces shared by the subcommands: the parser of a subcommand and the command line run."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_command", "command_line"]


def add_command(
    subparsers: Any, name: str, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with its one-line help, description and examples epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def command_line(args: argparse.Namespace) -> list[str]:
    """Return the command line that was run (for manifests): ``depthscope`` and its arguments.

    :func:`depthscope.cli.main` stores the arguments it parsed on ``args``; a namespace made
    elsewhere gives the subcommand's name only.
    """
    return ["depthscope", *getattr(args, "argv", [args.command])]
