"""``depthscope screen ARCH ...``: rank architectures by predicted degeneracy, before training."""

from __future__ import annotations

import argparse
import csv
import math
import sys

from .._errors import DepthscopeError
from .._screen import DEFAULT_THRESHOLD, ScreenRow, screen
from ..report._output import dumps_json
from ._common import (
    add_command,
    add_network_arguments,
    angle,
    finite_float,
    network_arguments,
    positive_int,
)
from ._files import read_architectures

__all__ = ["register"]

_DEFAULT_NETWORK = {
    "activation": "relu",
    "weight_std": math.sqrt(2.0),
    "bias_std": 0.0,
    "q0": 1.0,
    "residual": None,
}
_HELP = "rank architectures by predicted final angle (zero-cost, before training)"
_DESCRIPTION = (
    "Predict ln sin²θ_L between two orthogonal inputs at the last hidden layer "
    "of each architecture (bias-free He-initialised ReLU MLPs, or the network that the "
    "network options name) and rank them: rank 1 is the least degenerate."
)

_EPILOG = """\
examples:
  depthscope screen 100x10 30x15 50x50 512,256,128 --input-dim 784 --output-dim 10
  depthscope screen --file archs.yaml --csv > ranking.csv
  depthscope screen 85x2 100x10 30x15 --input-dim 784 --convention paper --json

files: text (one architecture per line, # comments), JSON or YAML (a list of architecture
strings, width lists, or objects with an "architecture" key).
"""

_COLUMNS = (
    "rank",
    "architecture",
    "ln_sin2_final",
    "sd_final",
    "ln_sin2_final_infinite",
    "degeneracy_depth",
    "params",
    "flops",
    "dead_final",
    "collapsed_final",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``screen`` subcommand."""
    parser = add_command(subparsers, "screen", _HELP, _DESCRIPTION, _EPILOG)
    parser.add_argument("architectures", nargs="*", help="e.g. 100x10 30x15 512,256,128")
    parser.add_argument("--file", help="text, JSON or YAML file of architectures")
    parser.add_argument(
        "--input-dim", type=positive_int, help="input size (parameter count; paper)"
    )
    parser.add_argument("--output-dim", type=positive_int, help="output size (parameter count)")
    parser.add_argument(
        "--theta0",
        type=angle,
        default=math.pi / 2,
        help="angle between the two inputs, radians (default π/2)",
    )
    parser.add_argument(
        "--convention",
        choices=("exact", "paper"),
        default="exact",
        help="exact: default predictor; paper: the authors' Algorithm 1 (needs --input-dim)",
    )
    parser.add_argument(
        "--threshold",
        type=finite_float,
        default=DEFAULT_THRESHOLD,
        help="ln sin²θ below which a layer is degenerate "
        f"(default {DEFAULT_THRESHOLD:.3f} = ln sin²(0.1))",
    )
    add_network_arguments(parser, "the network (default: bias-free He ReLU, the paper's)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON list")
    output.add_argument("--csv", action="store_true", help="print CSV")
    parser.set_defaults(func=run)


def _table(rows: list[ScreenRow]) -> str:
    def fmt(value: object, spec: str = "") -> str:
        return "-" if value is None else format(value, spec)

    width = max(12, *(len(r.architecture) for r in rows))
    atoms = any(r.dead_final + r.collapsed_final >= 5e-4 for r in rows)
    lines = [
        f"{'rank':>4}  {'architecture':<{width}} {'ln sin²θ_L':>10} {'sd':>7} "
        f"{'infinite':>9} {'degen.':>6} {'params':>10}"
        + (f" {'dead':>6} {'collapsed':>9}" if atoms else "")
    ]
    for r in sorted(rows, key=lambda row: row.rank):
        lines.append(
            f"{r.rank:>4}  {r.architecture:<{width}} {r.ln_sin2_final:>10.3f} {r.sd_final:>7.3f} "
            f"{fmt(r.ln_sin2_final_infinite, '.3f'):>9} {fmt(r.degeneracy_depth):>6} "
            f"{fmt(r.params):>10}"
            + (f" {r.dead_final:>6.3f} {r.collapsed_final:>9.3f}" if atoms else "")
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute ``depthscope screen``."""
    specs = list(args.architectures)
    if args.file:
        specs += read_architectures(args.file)
    if not specs:
        raise DepthscopeError("give architectures (e.g. 100x10 30x15) or --file FILE.")
    rows = screen(
        specs,
        input_dim=args.input_dim,
        output_dim=args.output_dim,
        theta0=args.theta0,
        convention=args.convention,
        threshold=args.threshold,
        **network_arguments(args),
    )
    if args.json:  # each row also names the network and the angle it was predicted for
        setting = {
            "theta0": args.theta0,
            "convention": args.convention,
            **network_arguments(args),
        }
        print(dumps_json([{**{k: getattr(r, k) for k in _COLUMNS}, **setting} for r in rows]))
    elif args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for r in sorted(rows, key=lambda row: row.rank):
            writer.writerow(["" if getattr(r, k) is None else getattr(r, k) for k in _COLUMNS])
    else:
        network = network_arguments(args)
        changed = {k: v for k, v in network.items() if v != _DEFAULT_NETWORK[k]}
        described = (
            ", ".join(
                f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in changed.items()
            )
            or "bias-free He ReLU"
        )
        print(
            f"# θ0 = {args.theta0:.6g}, convention = {args.convention}, network: {described}; "
            f"degenerate below ln sin²θ = {args.threshold:.3f}; rank 1 = least degenerate"
        )
        print(_table(rows))
    return 0
