"""``depthscope claims``: check the effective-dimension claims of arXiv:2507.07675."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import (
    add_command,
    add_engine_arguments,
    command_line,
    engine_arguments,
    nonneg_seed,
    positive_int,
)

__all__ = ["register"]

_HELP = "check the layerwise effective-dimension claims of arXiv:2507.07675"
_DESCRIPTION = (
    "Static checks of the claimed formulas and a measurement grid of the "
    "effective dimension of random ReLU networks (widths, batch sizes, variants, input "
    "kinds), with verdicts computed from the measurements."
)

_EPILOG = """\
examples:
  depthscope claims --out runs/claims --quick     # n ∈ {64, 256}, m ∈ {4, 16}: under a minute
  depthscope claims --out runs/claims             # the full grid of the spec (minutes)
  depthscope claims --out runs/claims --workers 4 # on a local Dask cluster: same numbers

Each configuration is seeded from --seed and its name (variant/inputs/n/m), so every engine
gives the same numbers.  Writes verdicts.json (C1..C6, each with its numeric evidence),
measurements.json, claims.png/svg, report.md and manifest.json.
"""


def register(subparsers: Any) -> None:
    """Add the ``claims`` subcommand."""
    parser = add_command(subparsers, "claims", _HELP, _DESCRIPTION, _EPILOG)
    parser.add_argument("--out", default="runs/claims", help="output folder (default runs/claims)")
    parser.add_argument("--quick", action="store_true", help="a small grid (under a minute)")
    parser.add_argument(
        "--networks",
        type=positive_int,
        default=None,
        help="networks per configuration (default by width)",
    )
    parser.add_argument("--seed", type=nonneg_seed, default=0, help="root seed (default 0)")
    add_engine_arguments(parser, default="serial")
    parser.add_argument("--force", action="store_true", help="write into a non-empty --out")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``depthscope claims`` with parsed arguments; return the exit status."""
    from ..reproduce._claims import ClaimsConfig, run_claims

    config = ClaimsConfig.quick_grid(args.seed) if args.quick else ClaimsConfig(seed=args.seed)
    if args.networks is not None:
        config = config.with_networks(args.networks)
    engine = engine_arguments(args)
    if engine["workers"] is None and engine["scheduler"] is None:
        engine["workers"] = 0  # serial unless asked: the grid takes minutes
    results = run_claims(
        config,
        args.out,
        **engine,
        force=args.force,
        quiet=args.quiet,
        command=command_line(args),
    )
    for key, verdict in results["verdicts"].items():
        print(f"{key}: {verdict['verdict']}")
    print(f"wrote {args.out}/")
    return 0
