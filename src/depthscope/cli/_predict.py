"""``depthscope predict ARCH``: the predicted law of ln sin²θ at every layer."""

from __future__ import annotations

import argparse
import math

import numpy as np

from ..report._output import dumps_json
from ..theory._general_law import GeneralLaw
from ..theory._general_mix import MixtureLaw
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
    "at angle θ0 passing through a random network at initialisation (default: bias-free "
    "He-initialised ReLU, the paper's; other activations, biases and residual blocks below)."
)

_EPILOG = """\
examples:
  depthscope predict 256x30 --theta0 0.1
  depthscope predict 100x10 --theta0 1.5707963 --convention paper --input-dim 784 --method mean
  depthscope predict 512,256,128 --json
  depthscope predict 256x30 --theta0 1 --activation leaky:0.1 --bias-std 0.1
  depthscope predict 128x20 --activation tanh --weight-std 1.2 --residual block:0.5

methods: markov (default; the exact one-step law propagated as a distribution;
beyond bias-free ReLU the finite-width Gram-state closure, with a warning outside its
measured domain), infinite (arc-cosine map; the kernel map beyond ReLU), mean (Theorem 1
iterated: the paper's Algorithm 1), approx1, approx2 (the paper's Approximations 1 and 2;
mean, approx1 and approx2 cover bias-free ReLU only).
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


#: What each method is worth, as measured (one line under the table's title; the numbers are
#: the worst layers of docs/predictors.md's 20-case table and of
#: docs/theory/general-predictor.md's calibration grid).
_ACCURACY = {
    "markov": "exact one-step law, propagated: within 0.05 sd (mean), 3.3% (sd; 12.6% at layer 1 "
    "from θ0 = 3, where the sample sd is itself uncertain) and KS D 0.031 of exact simulation at "
    "every layer on 20 cases, widths 4-2048, θ0 1e-20 to π (docs/predictors.md)",
    "lattice": "one-step moments only: wrong at narrow widths, tiny angles and early layers "
    "(4x10: sd +382%; docs/predictors.md); use markov",
    "infinite": "the n → ∞ map: the mean's path only, no finite-width spread (sd 0)",
    "mean": "the paper's Algorithm 1: the mean's path only (sd 0); see docs/predictors.md",
    "approx1": "the paper's Approximation 1 (linearised at small angles); see docs/predictors.md",
    "approx2": "the paper's Approximation 2 (linearised at small angles); see docs/predictors.md",
}
_ACCURACY_GENERAL = (
    "Gram-state closure: inside its measured domain mean within 0.1 sd and sd within 10% of "
    "exact simulation at every layer; outside it a warning says so "
    "(docs/theory/general-predictor.md)"
)


def format_table(prediction: Prediction) -> str:
    """Render a prediction as a fixed-width per-layer table."""
    default_network = prediction.network == Prediction.network  # the paper's network
    general = prediction.method == "markov" and isinstance(prediction.law, (GeneralLaw, MixtureLaw))
    lines = [
        f"# depthscope predict {prediction.architecture}  θ0 = {prediction.theta0:.6g}  "
        f"method = {prediction.method}  convention = {prediction.convention}"
        + ("" if default_network else f"  network: {prediction.network}"),
        f"# accuracy: {_ACCURACY_GENERAL if general else _ACCURACY[prediction.method]}",
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
            3,
            "# dead, collapsed: P(angle undefined, exactly 0) by layer ℓ; at 0: P(θ = π/2);"
            " mean, sd, q: given a defined, non-zero angle",
        )
        lines[4] += f" {'dead':>7} {'collapsed':>9} {'at 0':>7}"
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
