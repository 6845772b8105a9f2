"""``depthscope reproduce FIGURE``: one published experiment, end to end, into a folder."""

from __future__ import annotations

import argparse
from typing import Any

from .._errors import DepthscopeError
from ._common import add_command, command_line, nonneg_seed, positive_int

__all__ = ["register"]

_HELP = "reproduce a figure of Jakub & Nica (fig1, fig2, fig4) into a folder"
_DESCRIPTION = (
    "Reproduce a published experiment of Jakub & Nica (arXiv:2302.09712): "
    "simulate, compare with the theory, draw the figure and write a plain-words report."
)

FIGURES = ("fig1", "fig2", "fig4")

_EPILOG = """\
examples:
  depthscope reproduce fig1 --out runs/fig1            # the paper's Figure 1 (5000 networks)
  depthscope reproduce fig2 --out runs/fig2 --quick    # Figure 2, fewer networks and angles
  depthscope reproduce fig4 --out runs/fig4            # Figure 4 (theory only)

Each folder receives the figure (PNG and SVG), results.json, report.md and manifest.json.
"""


def register(subparsers: Any) -> None:
    """Add the ``reproduce`` subcommand."""
    parser = add_command(subparsers, "reproduce", _HELP, _DESCRIPTION, _EPILOG)
    parser.add_argument("figure", choices=FIGURES, help="which figure")
    parser.add_argument("--out", default=None, help="output folder (default runs/FIGURE)")
    parser.add_argument(
        "--networks",
        type=positive_int,
        default=None,
        help="number of networks (default: the paper's)",
    )
    parser.add_argument(
        "--seed", type=nonneg_seed, default=None, help="root seed (default per figure)"
    )
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (fig2)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty --out")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``depthscope reproduce`` with parsed arguments; return the exit status."""
    if args.figure == "fig4":
        given = [
            flag
            for flag, value in (("--networks", args.networks), ("--seed", args.seed))
            if value is not None
        ] + (["--quick"] if args.quick else [])
        if given:
            raise DepthscopeError(
                f"reproduce fig4 is theory only (no networks are simulated): "
                f"{', '.join(given)} does not apply."
            )
    elif args.figure == "fig1" and args.quick:
        raise DepthscopeError("--quick applies to fig2 only; use --networks N for a smaller fig1.")
    out = args.out or f"runs/{args.figure}"
    command = command_line(args)
    if args.figure == "fig1":
        from ..reproduce._fig1 import Fig1Config, run_fig1

        config = Fig1Config(
            networks=Fig1Config.networks if args.networks is None else args.networks,
            seed=Fig1Config.seed if args.seed is None else args.seed,
        )
        run_fig1(config, out, force=args.force, quiet=args.quiet, command=command)
    elif args.figure == "fig2":
        from ..reproduce._fig2 import Fig2Config, run_fig2

        config2 = Fig2Config.quick_config() if args.quick else Fig2Config()
        if args.networks is not None:
            config2 = config2.replace(networks=args.networks)
        if args.seed is not None:
            config2 = config2.replace(seed=args.seed)
        run_fig2(config2, out, force=args.force, quiet=args.quiet, command=command)
    else:
        from ..reproduce._fig4 import run_fig4

        run_fig4(out, force=args.force, quiet=args.quiet, command=command)
    print(f"wrote {out}/")
    return 0
