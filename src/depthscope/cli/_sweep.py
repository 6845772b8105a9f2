"""``depthscope sweep``: a grid of cells (simulate + predict) serially or on a Dask cluster."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_command, add_engine_arguments, command_line, engine_arguments

__all__ = ["register"]

_EXAMPLES = """\
spec (YAML or JSON); optional lists activation, bias_std, method are crossed with the rest:
  architectures: ["32x10", "64x20", "100,50,25"]
  theta0: [0.5, 1.5]
  networks: 2000
  seed: 11

examples:
  depthscope sweep spec.yaml --out runs/s1                 # LocalCluster, one worker per core
  depthscope sweep spec.yaml --out runs/s1 --workers 0     # serial, no Dask
  depthscope sweep spec.yaml --out runs/s1 --scheduler tcp://10.0.0.5:8786
Run the same command again to resume a killed run: finished cells are kept.
"""


def register(subparsers: Any) -> None:
    """Add the ``sweep`` subcommand."""
    parser = add_command(
        subparsers,
        "sweep",
        "a grid of simulate + predict cells, on a Dask cluster or serially; resumable",
        "Simulate and predict every cell of a grid (architectures × θ0 × activation × bias_std "
        "× method) and write results.csv, layers.npz, report.md, a figure and a manifest. Each "
        "cell's seed derives from the spec's seed and the cell's parameters, so every engine "
        "gives the same numbers.",
        _EXAMPLES,
    )
    parser.add_argument("spec", metavar="SPEC", help="sweep spec, .yaml/.yml or .json")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_engine_arguments(parser, default="one per core")
    parser.add_argument("--retries", type=int, default=2, help="retries of a failing cell")
    parser.add_argument("--force", action="store_true", help="start anew in a non-empty DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``depthscope sweep``; exit status 1 when a cell failed on every attempt."""
    from .._errors import DepthscopeError
    from ..sweep import parse_spec, run_sweep
    from ._files import read_data

    if args.retries < 0:
        raise DepthscopeError(f"--retries must be ≥ 0, got {args.retries}.")
    spec = parse_spec(read_data(args.spec, "sweep spec"))  # bounded: size, UTF-8, YAML aliases
    summary = run_sweep(
        spec,
        args.out,
        **engine_arguments(args),
        force=args.force,
        retries=args.retries,
        quiet=args.quiet,
        command=command_line(args),
    )
    return 1 if any(r["status"] != "ok" for r in summary.rows) else 0
