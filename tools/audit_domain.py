"""Audit the general predictor's stated domain: random networks inside it against exact simulation.

The calibration grid (``tools/calibrate_general.py``) checks chosen points; this draws networks
at random from the domain that ``depthscope.predict`` states (configurations for which it gives
no DepthscopeWarning), simulates each exactly (the Gram-state Monte Carlo of
``calibrate_general.simulate_x``) and reports the worst per-layer errors, so that a hole in the
domain (a configuration that is silently wrong) shows up. Draws: activation among relu,
leaky:S (S in [0.01, 0.3]), abs, tanh, erf, gelu, silu; σ_w² in [0.5, 2.25]; σ_b = 0 or in
[0.01, 0.5] (log-uniform); residual blocks (α in [0.1, 1]) with probability 1/4; width 32-1024
and θ0 in [0.05, 3] (log-uniform); depth 10-50; q0 in [0.25, 4] (log-uniform). Draws that the
predictor warns about are redrawn.

Flagged: a worst mean error above 0.1 sd + 3 standard errors, or a layer whose sd error is above
10% + 3 of that layer's standard errors (from the sample's kurtosis: the laws of X are skewed,
so 1/√(2n) understates it); the worst over layers is biased upwards by noise, so a flagged row
is a candidate hole to rerun with more networks, not yet a verdict.

With ``--edges`` each draw is pushed to the edges of the stated domain instead (``draw_edges``):
the width at the class's floor (exactly, or up to 1.5× it) with probability 0.7, depth 45-50 with
probability 0.7, and one or two of θ0 (0.05-0.06, or just under the class's top: 3, or 1.6 for
the difference chart), σ_w² at a class bound (tanh/erf 2, just above or at 1.5, just under 1 or
0.5; GELU/SiLU at theirs; kinked with biases 0.25-4), σ_b (0.01, 0.5, 1, 2), q0 (0.01, 0.25, 4,
50), the leaky slope (0.01, 0.3, 0.5, 0.9) and residual blocks (α = 0.1 or 1 with biases, or a
smooth branch gain σ_w² α² of 3.5-4); redrawn until quiet. Its rows name the edges taken.

Usage: ``python tools/audit_domain.py [--edges] [--draws 40] [--networks 1500] [--seed 1]
[--out audit.jsonl]`` — one JSON line per draw appended to ``--out``; a rerun with the same
seed and mode skips the draws already there (resumable). ``--recheck audit.jsonl --networks 9000
--seed 101 --out recheck.jsonl`` reruns that file's flagged rows and near misses (worst mean
error or sd error above ``--near``, 0.08) with more networks and a new seed (resumable too).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import warnings
from typing import Any

import numpy as np

import depthscope as ds

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from calibrate_general import compare, simulate_x
from depthscope.theory._general_domain import general_domain_warnings
from depthscope.theory._general_mix import takes_difference_chart

ACTIVATIONS = ("relu", "leaky", "abs", "tanh", "erf", "gelu", "silu")


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _base_network(rng: np.random.Generator, *, max_sw2: float) -> dict[str, Any]:
    """Activation, σ_w, σ_b and q0 drawn from the domain's middle (the draws' shared start)."""
    name = str(rng.choice(ACTIVATIONS))
    if name == "leaky":
        name = f"leaky:{rng.uniform(0.01, 0.3):.3f}"
    return {
        "activation": name,
        "weight_std": math.sqrt(rng.uniform(0.5, max_sw2)),
        "bias_std": 0.0 if rng.random() < 0.4 else _log_uniform(rng, 0.01, 0.5),
        "q0": _log_uniform(rng, 0.25, 4.0),
    }


def draw(rng: np.random.Generator) -> tuple[int, int, float, dict[str, Any]]:
    """One network (width, depth, θ0, keywords) inside the stated domain (redrawn until quiet)."""
    while True:
        kw = _base_network(rng, max_sw2=2.25)
        if rng.random() < 0.25:
            kw["residual"] = f"block:{rng.uniform(0.1, 1.0):.3f}"
        width = round(_log_uniform(rng, 32, 1024))
        depth = int(rng.integers(10, 51))
        theta0 = _log_uniform(rng, 0.05, 3.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ds.DepthscopeWarning)
            try:
                ds.predict([width] * depth, theta0, **kw)
            except ds.DepthscopeWarning:
                continue
        return width, depth, theta0, kw


#: Candidate width floors, ascending (the floors in theory/_general_domain.py are among them).
FLOOR_CANDIDATES = (8, 16, 32, 64, 128, 256, 512, 1024)


def width_floor(depth: int, theta0: float, kw: dict[str, Any]) -> int:
    """Return the narrowest of FLOOR_CANDIDATES that the domain does not call too narrow."""
    for width in FLOOR_CANDIDATES:
        reasons = general_domain_warnings(theta0, [width] * depth, **kw)
        if not any(reason.startswith("width ") for reason in reasons):
            return width
    return FLOOR_CANDIDATES[-1]


def _pick(rng: np.random.Generator, values: tuple[float, ...]) -> float:
    return float(values[int(rng.integers(len(values)))])


def _edge_sw2(rng: np.random.Generator, kw: dict[str, Any]) -> str:
    """Put σ_w² at a bound of the class; return the edge's name."""
    name = kw["activation"].split(":")[0]
    if "residual" in kw and name not in ("relu", "leaky", "abs"):  # the branch gain at 4
        alpha = float(kw["residual"].split(":")[1])
        kw["weight_std"] = 2.0 / alpha
        return "gain=4"
    if "residual" in kw:
        sw2 = _pick(rng, (2.0, 4.0))
    elif name in ("tanh", "erf"):
        sw2 = _pick(rng, (2.0, 1.5, 1.51, 0.99, 0.9, 0.5))
    elif name == "gelu":
        sw2 = _pick(rng, (2.0, 1.5, 1.0)) if kw["bias_std"] == 0 else _pick(rng, (1.5, 1.0))
    elif name == "silu":
        sw2 = _pick(rng, (2.0, 2.25, 3.0, 4.0)) if kw["bias_std"] == 0 else _pick(rng, (2.0, 1.5))
    else:  # kinked: σ_w² matters only with biases
        sw2 = _pick(rng, (0.25, 0.5, 2.25, 4.0))
        kw["bias_std"] = kw["bias_std"] or _log_uniform(rng, 0.01, 0.5)
    kw["weight_std"] = math.sqrt(sw2)
    return f"sw2={sw2:g}"


def _edge_knob(rng: np.random.Generator, knob: str, kw: dict[str, Any]) -> str:
    """Push one parameter of ``kw`` to an edge (in place); return the edge's name."""
    if knob == "sw2":
        return _edge_sw2(rng, kw)
    if knob == "bias":
        kw["bias_std"] = _pick(rng, (0.01, 0.5, 1.0, 2.0))
        return f"sb={kw['bias_std']:g}"
    if knob == "q0":
        kw["q0"] = _pick(rng, (0.01, 0.25, 4.0, 50.0))
        return f"q0={kw['q0']:g}"
    if knob == "slope":
        slope = _pick(rng, (0.01, 0.3, 0.5, 0.9))
        kw["activation"] = f"leaky:{slope:g}"
        return f"slope={slope:g}"
    # residual blocks: α = 0.1 or 1 with biases, or a smooth branch gain near the bound
    name = kw["activation"].split(":")[0]
    if name in ("tanh", "erf", "gelu", "silu") and rng.random() < 0.5:
        alpha = _pick(rng, (0.5, 0.8, 1.0))
        kw["weight_std"] = math.sqrt(rng.uniform(3.5, 4.0)) / alpha
        kw["residual"] = f"block:{alpha:g}"
        return f"gain={kw['weight_std'] ** 2 * alpha**2:.2f}"
    alpha = _pick(rng, (0.1, 1.0))
    kw["residual"] = f"block:{alpha:g}"
    kw["bias_std"] = kw["bias_std"] or _log_uniform(rng, 0.01, 0.5)
    return f"alpha={alpha:g}+bias"


def draw_edges(rng: np.random.Generator) -> tuple[int, int, float, dict[str, Any], list[str]]:
    """One network at the edges of the stated domain (redrawn until quiet), with its edges."""
    while True:
        kw = _base_network(rng, max_sw2=2.0)
        name = kw["activation"]
        knobs = ["theta", "sw2", "bias", "q0", "residual"]
        if name.startswith("leaky"):
            knobs.append("slope")
        chosen = sorted(  # residual blocks first: the other edges then act on them
            rng.choice(knobs, size=int(rng.integers(1, 3)), replace=False),
            key=lambda knob: knob != "residual",
        )
        edges = [_edge_knob(rng, str(knob), kw) for knob in chosen if knob != "theta"]
        depth = int(rng.integers(45, 51)) if rng.random() < 0.7 else int(rng.integers(10, 45))
        if depth >= 45:
            edges.append("deep")
        if "theta" in chosen:
            difference = takes_difference_chart(
                kw["activation"], bias_std=kw["bias_std"], residual=kw.get("residual")
            )
            top = 1.6 if difference else 3.0
            if rng.random() < 0.5:
                theta0 = _log_uniform(rng, 0.05, 0.06)
                edges.append("theta0=low")
            else:
                theta0 = top - rng.uniform(0.0, 0.05)
                edges.append(f"theta0=top{top:g}")
        else:
            theta0 = _log_uniform(rng, 0.05, 3.0)
        floor = width_floor(depth, theta0, kw)
        if rng.random() < 0.7:
            width = floor if rng.random() < 0.5 else int(rng.integers(floor, floor * 3 // 2 + 1))
            edges.append("floor")
        else:
            width = round(_log_uniform(rng, floor, 1024))
        with warnings.catch_warnings():
            warnings.simplefilter("error", ds.DepthscopeWarning)
            try:
                ds.predict([width] * depth, theta0, **kw)
            except (ds.DepthscopeWarning, ds.DepthscopeError):  # an error is no silent answer
                continue
        return width, depth, theta0, kw, edges


def _network_keywords(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("activation", "weight_std", "bias_std", "q0", "residual")
    return {key: row[key] for key in keys if key in row}


def _audit(
    width: int,
    depth: int,
    theta0: float,
    kw: dict[str, Any],
    networks: int,
    sim_rng: np.random.Generator,
    head: dict[str, Any],
    out: pathlib.Path,
    label: str,
) -> None:
    """Simulate one network, compare with the prediction, append its row to ``out``, print it."""
    sim = simulate_x(width, depth, theta0, networks, sim_rng, **kw)
    law = ds.predict([width] * depth, theta0, **kw)
    r = compare(sim, law)
    # a layer's sd error beyond 10% + 3 of its own standard errors (kurtosis-aware)
    flagged = (r["mean_err"] > 0.1 + 3 * r["se_mean"]) or (r["sd_excess"] > 0.1)
    edges = head.get("edges")
    row = {**{key: value for key, value in head.items() if key != "edges"}, "width": width,
           "depth": depth, "theta0": theta0, **kw, **r, "flagged": bool(flagged)}  # fmt: skip
    if edges is not None:
        row["edges"] = edges
    with out.open("a") as handle:
        handle.write(json.dumps(row, allow_nan=False) + "\n")
    print(
        f"{label} {'FLAG' if flagged else '    '} {kw['activation']:12s} "
        f"σw²={kw['weight_std'] ** 2:.2f} σb={kw['bias_std']:.3f} q0={kw['q0']:.2f} "
        f"{kw.get('residual', '')!s:11s} {width}x{depth} θ0={theta0:.3f}: "
        f"mean {r['mean_err']:.3f} (ℓ{r['mean_layer']}) sd {100 * r['sd_err']:.1f}% "
        f"(ℓ{r['sd_layer']}) KS {r['ks']:.3f}" + ("" if edges is None else f" [{' '.join(edges)}]"),
        flush=True,
    )


def recheck(path: pathlib.Path, args: argparse.Namespace, out: pathlib.Path) -> None:
    """Rerun the flagged rows of ``path`` and its near misses with ``args.networks`` networks."""
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            if row.get("recheck_seed") == args.seed and row["networks"] == args.networks:
                done.add(tuple(row["recheck_of"]))
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if "recheck_of" in row:
            continue
        near = row["mean_err"] > args.near or row["sd_err"] > args.near
        key = (row["seed"], row["draw"])
        if not (row["flagged"] or near) or key in done:
            continue
        head = {"recheck_of": list(key), "recheck_seed": args.seed, "networks": args.networks,
                "seed": row["seed"], "draw": row["draw"]}  # fmt: skip
        if "edges" in row:
            head["edges"] = row["edges"]
        sim_rng = np.random.default_rng([args.seed, *key])
        label = f"{row['seed']}:{row['draw']:3d}"
        _audit(row["width"], row["depth"], row["theta0"], _network_keywords(row),
               args.networks, sim_rng, head, out, label)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--networks", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="audit.jsonl")
    parser.add_argument("--edges", action="store_true", help="draw at the domain's edges")
    parser.add_argument(
        "--recheck", default=None, help="a JSONL file: rerun its flagged rows and near misses"
    )
    parser.add_argument(
        "--near", type=float, default=0.08, help="with --recheck: also rows beyond this error"
    )
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    if args.recheck is not None:
        recheck(pathlib.Path(args.recheck), args, out)
        return
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            if "recheck_of" in row:
                continue
            if row["seed"] == args.seed and ("edges" in row) == args.edges:
                done.add(row["draw"])
    rng = np.random.default_rng(args.seed)
    for index in range(args.draws):
        head: dict[str, Any] = {"seed": args.seed, "draw": index}
        if args.edges:
            width, depth, theta0, kw, head["edges"] = draw_edges(rng)
        else:
            width, depth, theta0, kw = draw(rng)
        sim_rng = np.random.default_rng([args.seed, index])
        if index in done:
            continue
        _audit(width, depth, theta0, kw, args.networks, sim_rng, head, out, f"{index:3d}")


if __name__ == "__main__":
    main()
