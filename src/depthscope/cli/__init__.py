"""The ``depthscope`` command line: ``depthscope predict | simulate | reproduce | claims | ...``.

Each subcommand lives in its own module ``depthscope.cli._<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
Errors from bad input (:class:`~depthscope.DepthscopeError`, unreadable files) are printed as
one line, ``depthscope: error: ...``, with exit status 2 -- never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .._errors import DepthscopeError

__all__ = ["main"]

_COMMANDS = ("predict", "simulate", "reproduce", "claims", "screen", "bench", "probe", "sweep")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="depthscope",
        description="Predict, measure and explain depth degeneracy of random ReLU networks.",
    )
    parser.add_argument("--version", action="version", version=f"depthscope {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"depthscope.cli._{name}")
        except ModuleNotFoundError as err:
            if err.name != f"depthscope.cli._{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    args.argv = arguments  # the command line, for the manifests (cli._common.command_line)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except DepthscopeError as err:
        print(f"depthscope: error: {err}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as err:
        print(f"depthscope: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("depthscope: interrupted", file=sys.stderr)
        return 130
