"""The ``depthscope`` command line: ``depthscope predict | simulate | reproduce | claims | ...``.

Each subcommand lives in its own module ``depthscope.cli._<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
Every error from bad input -- the parser's own, :class:`~depthscope.DepthscopeError`, unreadable
files, running out of memory -- is printed as one short line, ``depthscope: error: ...``, with
exit status 2, never a traceback. Exit status 0: success; 2: refused input; 130: interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from .._errors import DepthscopeError
from .._interrupt import report_interrupted
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
    """Run the command line; return the exit status.

    Ctrl-C anywhere in it -- also while the subcommands import numpy and scipy -- is one line,
    ``depthscope: interrupted``, and exit status 130.
    """
    with _interrupt_watch() as interrupted:
        try:
            return _run(argv, interrupted)
        except KeyboardInterrupt:
            return report_interrupted()


def _run(argv: Sequence[str] | None, interrupted: Callable[[], bool]) -> int:
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
    except Exception as err:
        # C extensions may turn the KeyboardInterrupt raised inside them into another error
        # (matplotlib's SVG writer: "Invalid affine transformation matrix"): an interruption
        if interrupted():
            return report_interrupted()
        return _error_status(err)


@contextlib.contextmanager
def _interrupt_watch() -> Iterator[Callable[[], bool]]:
    """Note SIGINT (then raise KeyboardInterrupt as usual); yield "was it interrupted?"."""
    seen: list[bool] = []

    def on_sigint(signum: int, frame: object) -> None:
        seen.append(True)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # signals: main thread only
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(seen)
    finally:
        signal.signal(signal.SIGINT, previous)


def _error_status(err: Exception) -> int:
    """Errors a user can act on: one line, exit status 2 (0 for a closed pipe); others re-raised."""
    if isinstance(err, BrokenPipeError):  # output piped into `head` and closed: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    if isinstance(err, DepthscopeError):
        return _fail(str(err))
    if isinstance(err, MemoryError):
        detail = f" ({err})" if str(err) else ""
        return _fail(
            f"out of memory{detail}: try a smaller architecture, fewer networks or inputs, "
            "or --memory-budget (simulate)."
        )
    if isinstance(err, OSError):
        return _fail(str(err))
    raise err
