"""The ``depthscope`` command line: ``depthscope predict | simulate | reproduce | claims | ...``.

Each subcommand lives in its own module ``depthscope.cli._<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
Every error from bad input -- the parser's own, :class:`~depthscope.DepthscopeError`, unreadable
files, running out of memory -- is printed as one short line, ``depthscope: error: ...``, with
exit status 2, never a traceback. Exit status 0: success; 2: refused input; 130: interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .._errors import DepthscopeError
from ._common import one_line
from ._warnings import one_line_warnings

__all__ = ["main"]

_COMMANDS = ("predict", "simulate", "reproduce", "claims", "screen", "bench", "probe", "sweep")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``depthscope: error: ...``, exit status 2.

    argparse's own error prints the usage and then the error; here the usage is replaced by a
    hint to the subcommand's ``--help``. Subparsers are made of the same class.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one short line with a hint to ``--help`` and exit with status 2."""
        hint = f" (see {self.prog} --help)"
        sys.stderr.write(f"depthscope: error: {one_line(message)}{hint}\n")
        sys.exit(2)


def _fail(message: str) -> int:
    print(f"depthscope: error: {one_line(message)}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available subcommand."""
    from .. import __version__

    parser = Parser(
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
    one_line_warnings()
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:  # --help, --version (0) or a parser error, already printed (2)
        return exit_.code if isinstance(exit_.code, int) else 2
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
        return _fail(str(err))
    except MemoryError as err:
        detail = f" ({err})" if str(err) else ""
        return _fail(
            f"out of memory{detail}: try a smaller architecture, fewer networks or inputs, "
            "or --memory-budget (simulate)."
        )
    except OSError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        print("depthscope: interrupted", file=sys.stderr)
        return 130
