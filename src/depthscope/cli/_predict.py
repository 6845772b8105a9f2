"""``depthscope predict ARCH``: the predicted law of ln sin²θ at every layer."""

from __future__ import annotations

import argparse
import math

import numpy as np

from ..report._output import dumps_json
from ..theory._predict import CONVENTIONS, MAX_APPROX2_DEPTH, METHODS, Prediction, predict
from ._common import (
    add_command,
    add_network_arguments,
    angle,
    network_arguments,
    positive_int,
)

__all__ = ["MAX_APPROX2_DEPTH", "register"]


_HELP = "predict mean and sd of ln sin²θ per layer"
_DESCRIPTION = (
    "Predict the per-layer mean, sd and quantiles of ln sin²θ_ℓ for two inputs "
    "at angle θ0 passing through a random bias-free He-initialised ReLU network."
)

_EPILOG = """\
examples:
  depthscope predict 256x30 --theta0 0.1
  depthscope predict 100x10 --theta0 1.5707963 --convention paper --input-dim 784 --method mean
  depthscope predict 512,256,128 --json

methods: markov (default; the exact one-step law propagated as a distribution),
infinite (arc-cosine map), mean (Theorem 1 iterated: the paper's Algorithm 1),
approx1, approx2 (the paper's Approximations 1 and 2).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` subcommand."""
    parser = add_command(subparsers, "predict", _HELP, _DESCRIPTION, _EPILOG)
    parser.add_argument("architecture", help="hidden widths, e.g. 256x30, 512,256,128, 100x10,50")
    parser.add_argument(
        "--theta0",
        type=angle,
        default=math.pi / 2,
        help="angle between the two inputs, radians in (0, π] (default π/2)",
    )
    parser.add_argument("--method", choices=METHODS, default="markov")
    parser.add_argument(
        "--convention",
        choices=CONVENTIONS,
        default="exact",
        help="exact: step ℓ uses width n_ℓ (default); paper: the authors' fan-in widths "
        "[input-dim, n_1, ..., n_L] (needs --input-dim)",
    )
    parser.add_argument("--input-dim", type=positive_int, default=None, help="input dimension n_0")
    add_network_arguments(
        parser,
        "the network (default: bias-free He ReLU, the paper's; others by the default "
        "method's Gram-state closure or --method infinite)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def format_table(prediction: Prediction) -> str:
    """Render a prediction as a fixed-width per-layer table."""
    lines = [
        f"# depthscope predict {prediction.architecture}  θ0 = {prediction.theta0:.6g}  "
        f"method = {prediction.method}  convention = {prediction.convention}"
        + (
            ""
            if prediction.network == Prediction.network  # the default: the paper's network
            else f"  network: {prediction.network}"
        ),
        "# ln sin²θ_ℓ per layer (layer 0 = the inputs); q2.5/q97.5: central 95% interval",
        f"{'layer':>5} {'width':>6} {'mean':>10} {'sd':>8} {'q2.5':>10} {'q97.5':>10}",
    ]
    probs = prediction.probabilities
    lo = probs.index(0.025) if 0.025 in probs else 0
    hi = probs.index(0.975) if 0.975 in probs else len(probs) - 1
    widths = ("-", *map(str, prediction.step_widths))
    atoms = any(  # shown when visible at the table's 4 decimals
        np.any(getattr(prediction, name) >= 5e-5) for name in ("dead", "collapsed", "atom")
    )
    if atoms:
        lines.insert(
            2,
            "# dead, collapsed: P(angle undefined, exactly 0) by layer ℓ; at 0: P(θ = π/2);"
            " mean, sd, q: given a defined, non-zero angle",
        )
        lines[3] += f" {'dead':>7} {'collapsed':>9} {'at 0':>7}"
    for layer in prediction.layers:
        q = prediction.quantiles[layer]
        line = (
            f"{layer:>5} {widths[layer]:>6} {prediction.mean[layer]:>10.4f} "
            f"{prediction.sd[layer]:>8.4f} {q[lo]:>10.4f} {q[hi]:>10.4f}"
        )
        if atoms:
            line += (
                f" {prediction.dead[layer]:>7.4f} {prediction.collapsed[layer]:>9.4f}"
                f" {prediction.atom[layer]:>7.4f}"
            )
        lines.append(line)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute ``depthscope predict``."""
    prediction = predict(
        args.architecture,
        args.theta0,
        method=args.method,
        convention=args.convention,
        input_dim=args.input_dim,
        **network_arguments(args),
    )
    if args.json:
        print(dumps_json(prediction.to_dict()))
    else:
        print(format_table(prediction))
    return 0
