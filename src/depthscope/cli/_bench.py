"""``depthscope bench``: train a grid of ReLU MLPs and rank-correlate scores with accuracy."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any, TextIO

from ._common import (
    add_command,
    add_engine_arguments,
    command_line,
    engine_arguments,
    positive_int,
)

__all__ = ["register"]

_HELP = "train a grid of ReLU MLPs; correlate predicted angle and proxies with accuracy"
_DESCRIPTION = (
    "Train bias-free He-initialised ReLU MLPs (Adam, lr 1e-3, batch 100; the "
    "paper's 1-epoch schedule and a longer one), score each at initialisation (predicted "
    "and measured angle, NASWOT, synflow, snip, grad_norm, jacob_cov, #params, depth) and "
    "report Spearman/Kendall rank correlations with bootstrap 95%% intervals."
)

_EPILOG = """\
examples:
  depthscope bench --dataset digits --quick --out runs/quick     # under 2 minutes
  depthscope bench --dataset digits --out runs/bench             # 45 architectures x 5 seeds
  depthscope bench --dataset mnist:/data/mnist --out runs/mnist  # IDX files you already have
  depthscope bench --out runs/bench --workers 0                  # serial, no Dask
  depthscope bench --out runs/bench --scheduler tcp://10.0.0.5:8786  # a running Dask cluster

The folder receives results.csv (written as runs finish), correlations.json, figure3.png/.svg,
report.md, bench.json and manifest.json.  Every engine writes the same numbers (each run is
seeded from its architecture and seed).  Run the same command again to resume: finished runs
are kept, a row damaged by an interruption is run again (one warning).  Progress written to a
closed pipe (`... 2>&1 | head`) is dropped; the bench goes on to the end.
"""


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    parser = add_command(subparsers, "bench", _HELP, _DESCRIPTION, _EPILOG)
    parser.add_argument(
        "--dataset",
        default="digits",
        help="digits (bundled, default), mnist:DIR, fashion-mnist:DIR or cifar10:DIR",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--quick", action="store_true", help="8 architectures x 3 seeds (under 2 minutes)"
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=None, help="seeds per architecture (5)"
    )
    add_engine_arguments(parser, default="one per core")
    parser.add_argument(
        "--max-train",
        type=positive_int,
        default=None,
        help="use only the first N training examples",
    )
    parser.add_argument("--force", action="store_true", help="start afresh in a non-empty --out")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``depthscope bench`` with parsed arguments; return the exit status."""
    from .._errors import DepthscopeError

    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        raise DepthscopeError(
            "depthscope bench needs PyTorch: install the 'torch' extra "
            "(pip install 'depthscope[torch]')."
        ) from None
    from ..bench._run import BenchConfig, run_bench

    changes: dict[str, Any] = {"dataset": args.dataset}
    if args.seeds is not None:
        if args.seeds < 1:
            raise DepthscopeError("--seeds must be at least 1.")
        changes["seeds"] = args.seeds
    if args.max_train is not None:
        changes["max_train"] = args.max_train
    config = BenchConfig.quick(**changes) if args.quick else BenchConfig(**changes)
    with _one_line_warnings(), _tolerant_stream("stderr"), _tolerant_stream("stdout"):
        run_bench(
            config,
            args.out,
            **engine_arguments(args),
            force=args.force,
            quiet=args.quiet,
            command=command_line(args),
        )
    return 0


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Print the bench's resume warnings as ``depthscope: warning: ...`` on stderr."""
    from ..bench._store import ResumeWarning

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        print(f"depthscope: warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", ResumeWarning)
        warnings.showwarning = show
        yield


class _ClosedPipeSafe:
    """A text stream whose writes to a closed pipe are dropped (the fd then goes to devnull)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._closed = False

    def _drop(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no file descriptor
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())  # what is still buffered goes nowhere
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self._closed:
            try:
                return self._stream.write(text)
            except (BrokenPipeError, ConnectionResetError):
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._closed:
            try:
                self._stream.flush()
            except (BrokenPipeError, ConnectionResetError):
                self._drop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _tolerant_stream(name: str) -> Iterator[None]:
    """Let progress written to a closed ``sys.<name>`` be dropped instead of ending the bench."""
    stream = getattr(sys, name)
    setattr(sys, name, _ClosedPipeSafe(stream))
    try:
        yield
    finally:
        setattr(sys, name, stream)
