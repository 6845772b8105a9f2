"""Calibrate the finite-width predictor of general networks against exact Monte Carlo.

Exact simulation in the Gram state (docs/theory/general-predictor.md), O(n) per layer:

* plain layer: given the per-coordinate Gram K̃ = (A, E, Δ) of (h_x, h_d = h_x − h_y), the n
  pre-activation pairs (u, d) are iid N(0, [[σ_w²A + σ_b², σ_w²E], [σ_w²E, σ_w²Δ]]);
  h_x' = φ(u), h_d' = φ(u) − φ(u − d);
* residual block: the two n-vectors (h_x, h_d) are kept; p = φ(W h + b) as above; the branch
  Z = V p has iid rows N(0, σ_w² pᵀp/n) given p (V independent of everything else), and
  h ← h + αZ. No n×n matrix is drawn, and nothing of the predictor's Wishart algebra is used.

Usage: ``python tools/calibrate_general.py [--networks 3000] [--only SUBSTRING]``; prints the
accuracy table (markdown) of docs/theory/general-predictor.md for ``depthscope.predict``'s
default method (sliced Gaussian sums for plain kinked layers and biased GELU/SiLU layers (along
r) and plain tanh/erf layers (along T), the single Gaussian closure otherwise):
per configuration the worst over layers 1..L of the mean error (in sds), the sd error and the
Kolmogorov-Smirnov distance D between the prediction's cdf and the simulated sample (beside it
the D of a normal with the predicted mean and sd, for comparison), and the closure ``predict``
takes, "(warned)" where it warns (tests/test_calibration_table.py keeps the docs' column so).
Switch to ``depthscope.simulate`` once it takes these networks (the brute-force reference then
lives there).
"""

from __future__ import annotations

import argparse
import math
import platform
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from scipy.special import ndtr

import depthscope as ds
from depthscope.theory._activations import parse_activation
from depthscope.theory._general_law import N_T_SLICES
from depthscope.theory._general_mix import MixtureLaw
from depthscope.theory._general_norms import N_NORM_SLICES
from depthscope.theory._kernel_maps import parse_residual

#: The calibration grid: (name, width, depth, θ0, network keywords).
GRID: list[tuple[str, int, int, float, dict[str, Any]]] = [
    ("leaky:0.01", 32, 50, 1.5, {"activation": "leaky:0.01"}),
    ("leaky:0.1 σb=0.3", 32, 50, 1.0, {"activation": "leaky:0.1", "bias_std": 0.3}),
    ("leaky:0.3 σb=0.5", 64, 50, 1.2, {"activation": "leaky:0.3", "bias_std": 0.5,
                                         "weight_std": math.sqrt(2 / 1.09)}),
    ("leaky:0.1", 256, 50, 0.3, {"activation": "leaky:0.1"}),
    ("relu σb=0.5", 128, 50, 1.0, {"bias_std": 0.5}),
    ("relu σb=0.5", 512, 50, 1.0, {"bias_std": 0.5}),
    ("leaky:0.3 σb=0.5", 512, 50, 1.2, {"activation": "leaky:0.3", "bias_std": 0.5,
                                          "weight_std": math.sqrt(2 / 1.09)}),
    ("tanh σw²=2 σb=0.3", 256, 50, 1.0, {"activation": "tanh", "weight_std": math.sqrt(2),
                                          "bias_std": 0.3}),
    ("gelu σw²=2", 128, 50, 1.0, {"activation": "gelu"}),
    ("leaky:0.01", 128, 50, 1.5, {"activation": "leaky:0.01"}),
    ("leaky:0.01", 64, 50, 1.5, {"activation": "leaky:0.01"}),
    ("relu σb=0.3", 32, 50, 1.0, {"bias_std": 0.3}),
    ("abs σb=0.2", 64, 50, 1.0, {"activation": "abs", "weight_std": 1.0, "bias_std": 0.2}),
    ("abs", 64, 50, 1.0, {"activation": "abs", "weight_std": 1.0}),
    ("relu σb=0.1", 1024, 50, 0.5, {"bias_std": 0.1}),
    ("tanh σw²=1", 32, 50, 1.0, {"activation": "tanh", "weight_std": 1.0}),
    ("tanh σw²=2 σb=0.3", 64, 50, 1.0, {"activation": "tanh", "weight_std": math.sqrt(2),
                                         "bias_std": 0.3}),
    ("tanh σw²=1.5 σb=0.1", 256, 50, 0.5, {"activation": "tanh", "weight_std": math.sqrt(1.5),
                                            "bias_std": 0.1}),
    ("gelu σw²=2", 32, 50, 1.0, {"activation": "gelu"}),
    ("gelu σw²=1 σb=0.2", 128, 20, 1.5, {"activation": "gelu", "weight_std": 1.0,
                                          "bias_std": 0.2}),
    ("gelu σw²=1.5", 1024, 50, 0.8, {"activation": "gelu", "weight_std": math.sqrt(1.5)}),
    ("relu block:0.3", 64, 50, 1.0, {"residual": "block:0.3", "weight_std": 1.0}),
    ("relu block:1 σb=0.2", 32, 30, 1.0, {"residual": "block:1", "weight_std": 1.0,
                                           "bias_std": 0.2}),
    ("tanh block:0.5", 128, 50, 0.5, {"activation": "tanh", "residual": "block:0.5",
                                      "weight_std": 1.0}),
    ("leaky:0.1 block:0.1", 256, 50, 1.0, {"activation": "leaky:0.1", "residual": "block:0.1",
                                            "weight_std": math.sqrt(2)}),
    ("gelu block:1", 32, 50, 1.0, {"activation": "gelu", "residual": "block:1",
                                   "weight_std": 1.0}),
    # skewed laws of X (chaotic tanh), added last so that the rows above keep their draws
    ("tanh σw²=1.96 σb=0.1", 64, 30, 1.0, {"activation": "tanh", "weight_std": 1.4,
                                            "bias_std": 0.1}),
    ("tanh σw²=3.24 σb=0.2", 64, 30, 1.0, {"activation": "tanh", "weight_std": 1.8,
                                            "bias_std": 0.2}),
    ("tanh σw²=1.96 σb=0.1", 256, 30, 1.0, {"activation": "tanh", "weight_std": 1.4,
                                             "bias_std": 0.1}),
    # tanh sliced along T, chaotic at width 32; erf (single Gaussian) ordered and chaotic
    ("tanh σw²=1.96 σb=0.1", 32, 30, 1.0, {"activation": "tanh", "weight_std": 1.4,
                                            "bias_std": 0.1}),
    ("erf σw²=1", 32, 50, 1.0, {"activation": "erf", "weight_std": 1.0}),
    ("erf σw²=1.96 σb=0.1", 64, 30, 1.0, {"activation": "erf", "weight_std": 1.4,
                                           "bias_std": 0.1}),
    # T slices over ±2.5 sds (erf sliced too): chaotic tanh and erf to depth 50; GELU/SiLU at
    # He init with and without biases (outside the domain: warned)
    ("tanh σw²=1.96 σb=0.1", 32, 50, 1.0, {"activation": "tanh", "weight_std": 1.4,
                                            "bias_std": 0.1}),
    ("erf σw²=1.96 σb=0.1", 32, 50, 1.0, {"activation": "erf", "weight_std": 1.4,
                                           "bias_std": 0.1}),
    ("gelu σw²=2", 256, 50, 1.0, {"activation": "gelu"}),
    ("gelu σw²=2 σb=0.1", 1024, 50, 1.0, {"activation": "gelu", "bias_std": 0.1}),
    ("silu σw²=2 σb=0.1", 256, 50, 1.0, {"activation": "silu", "bias_std": 0.1}),
    ("silu σw²=2", 256, 50, 1.0, {"activation": "silu"}),
    # biased GELU/SiLU in the difference chart (σw²=1 σb=0.01 at 256: the single Gaussian was
    # 11 sd off there, inside its stated domain)
    ("gelu σw²=1 σb=0.01", 256, 50, 1.0, {"activation": "gelu", "weight_std": 1.0,
                                          "bias_std": 0.01}),
    ("gelu σw²=1 σb=0.1", 32, 50, 1.0, {"activation": "gelu", "weight_std": 1.0,
                                        "bias_std": 0.1}),
    ("gelu σw²=1.5 σb=0.1", 64, 50, 1.0, {"activation": "gelu", "weight_std": math.sqrt(1.5),
                                          "bias_std": 0.1}),
    ("silu σw²=1 σb=0.2", 32, 50, 1.0, {"activation": "silu", "weight_std": 1.0,
                                        "bias_std": 0.2}),
    ("gelu σw²=2 σb=0.1", 512, 50, 1.0, {"activation": "gelu", "bias_std": 0.1}),
    ("gelu σw²=2 σb=0.1", 256, 50, 1.0, {"activation": "gelu", "bias_std": 0.1}),
]  # fmt: skip


def _x_of(a: np.ndarray, e: np.ndarray, dl: np.ndarray) -> np.ndarray:
    b = a - 2.0 * e + dl
    return np.log(np.maximum(a * dl - e * e, 1e-300)) - np.log(a) - np.log(b)


def simulate_x(
    width: int, depth: int, theta0: float, n_networks: int, rng: np.random.Generator,
    activation: str = "relu", weight_std: float = math.sqrt(2.0), bias_std: float = 0.0,
    q0: float = 1.0, residual: str | None = None, chunk: int = 500,
) -> np.ndarray:  # fmt: skip
    """Exact ln sin²θ_ℓ, shape (n_networks, depth + 1), for equal-norm inputs at θ0."""
    act = parse_activation(activation)
    alpha = parse_residual(residual)
    sw2, sb2 = weight_std**2, bias_std**2
    out = np.empty((n_networks, depth + 1))
    for start in range(0, n_networks, chunk):
        m = min(chunk, n_networks - start)
        a = np.full(m, q0)
        e = np.full(m, q0 * (1 - math.cos(theta0)))
        dl = np.full(m, 2 * q0 * (1 - math.cos(theta0)))
        hx = hd = None
        if alpha is not None:  # explicit stream vectors with that Gram
            hx = np.zeros((m, width))
            hd = np.zeros((m, width))
            hx[:, 0] = math.sqrt(width * q0)
            hd[:, 0] = math.sqrt(width * q0) * (1 - math.cos(theta0))
            hd[:, 1] = -math.sqrt(width * q0) * math.sin(theta0)
        out[start : start + m, 0] = _x_of(a, e, dl)
        for layer in range(depth):
            c_uu, c_ud = sw2 * a + sb2, sw2 * e
            det = sw2 * sw2 * (a * dl - e * e) + sw2 * sb2 * dl
            z1 = rng.standard_normal((m, width))
            z2 = rng.standard_normal((m, width))
            su = np.sqrt(c_uu)[:, None]
            u = su * z1
            d = (c_ud / np.sqrt(c_uu))[:, None] * z1 + np.sqrt(np.maximum(det, 0) / c_uu)[
                :, None
            ] * z2
            px = act.fn(u)
            pd = px - act.fn(u - d)
            if alpha is None:
                a, e, dl = (px * px).mean(1), (px * pd).mean(1), (pd * pd).mean(1)
            else:
                assert hx is not None and hd is not None
                p11, p12, p22 = (px * px).sum(1), (px * pd).sum(1), (pd * pd).sum(1)
                s11 = sw2 * p11 / width
                s12 = sw2 * p12 / width
                l11 = np.sqrt(s11)
                l21 = s12 / l11
                l22 = np.sqrt(np.maximum(sw2 * p22 / width - l21 * l21, 0.0))
                y1 = rng.standard_normal((m, width))
                y2 = rng.standard_normal((m, width))
                hx = hx + alpha * l11[:, None] * y1
                hd = hd + alpha * (l21[:, None] * y1 + l22[:, None] * y2)
                a, e, dl = (hx * hx).mean(1), (hx * hd).mean(1), (hd * hd).mean(1)
            out[start : start + m, layer + 1] = _x_of(a, e, dl)
    return out


def ks_distance(sample: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    """One-sample Kolmogorov-Smirnov distance sup |F_n − F| (NaN if the sample has NaN)."""
    if np.isnan(sample).any():
        return math.nan
    values = np.asarray(cdf(np.sort(sample)), dtype=np.float64)
    n = len(sample)
    steps = np.arange(1, n + 1) / n
    return float(max(np.max(steps - values), np.max(values - (steps - 1.0 / n))))


def compare(sim: np.ndarray, law: Any) -> dict[str, float]:
    """Worst errors over layers 1..L, with their layers: |mean error|/sd, |sd ratio − 1|, the KS
    distance D of ``law.cdf`` (and of the normal with the predicted mean and sd, for reference).
    """
    mean, sd = law.mean, law.sd
    s_mean, s_sd = sim.mean(0), sim.std(0, ddof=1)
    err = np.abs(mean - s_mean)[1:] / s_sd[1:]
    ratio = np.abs(sd[1:] / s_sd[1:] - 1.0)
    layers = range(1, sim.shape[1])
    d_law = np.array([ks_distance(sim[:, ell], partial(law.cdf, ell)) for ell in layers])
    d_normal = np.array(
        [ks_distance(sim[:, ell], partial(_normal_cdf, mean[ell], sd[ell])) for ell in layers]
    )
    n = sim.shape[0]
    # the sample sd's relative standard error at each layer, from its kurtosis κ (delta method:
    # Var(s²) ≈ σ⁴ (κ − 1)/n); 1/√(2(n − 1)) only for a normal law (κ = 3): the laws of X are
    # skewed, and at κ ≈ 14 the worst of 40 layers at 1,500 networks reads 15% off by noise
    centred = sim[:, 1:] - s_mean[1:]
    kurtosis = np.mean(centred**4, axis=0) / np.maximum(np.mean(centred**2, axis=0) ** 2, 1e-300)
    se_sd_layers = np.sqrt(np.maximum(kurtosis - 1.0, 0.0) / (4.0 * n))
    return {
        "mean_err": float(err.max()), "mean_layer": int(err.argmax()) + 1,
        "sd_err": float(ratio.max()), "sd_layer": int(ratio.argmax()) + 1,
        "ks": float(d_law.max()), "ks_layer": int(d_law.argmax()) + 1,
        "ks_normal": float(d_normal.max()), "ks_critical": 1.628 / math.sqrt(n),
        "se_mean": 1.0 / math.sqrt(n), "se_sd": 1.0 / math.sqrt(2 * (n - 1)),
        "se_sd_at_worst": float(se_sd_layers[ratio.argmax()]),
        "sd_excess": float(np.max(ratio - 3.0 * se_sd_layers)),  # beyond 3 standard errors
    }  # fmt: skip


def _normal_cdf(mean: float, sd: float, x: np.ndarray) -> np.ndarray:
    return np.asarray(ndtr((x - mean) / sd), dtype=np.float64)


def closure_of(law: Any) -> str:
    """The method column: the closure that produced ``predict``'s law (read off the law itself).

    The difference chart returns a :class:`MixtureLaw`; the z-chart closures a
    :class:`GeneralLaw` whose number of components tells which sum it carried.
    """
    if isinstance(law, MixtureLaw):
        return "sliced (r)"
    components = {N_T_SLICES: "sliced (T)", N_NORM_SLICES: "sliced (ln A − ln B)", 1: "Gaussian"}
    return components[law.weights.shape[1]]


def predict_quietly(width: int, depth: int, theta0: float, kw: dict[str, Any]) -> tuple[Any, bool]:
    """``predict``'s prediction for the row, and whether it warned (outside the domain)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ds.DepthscopeWarning)
        prediction = ds.predict([width] * depth, theta0, **kw)
    return prediction, any(issubclass(w.category, ds.DepthscopeWarning) for w in caught)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--only", default=None, help="substring of the configurations to run")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{args.networks} networks per configuration, seed {args.seed}")  # fmt: skip
    print(f"KS 1% critical value 1.628/√n = {1.628 / math.sqrt(args.networks):.3f}")
    print("| network | width × depth | θ0 | worst mean err (sd) | worst sd err "
          "| worst KS D (normal's) | method |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, width, depth, theta0, kw in GRID:
        if args.only and args.only not in name:
            continue
        sim = simulate_x(width, depth, theta0, args.networks, rng, **kw)
        law, warned = predict_quietly(width, depth, theta0, kw)
        method = closure_of(law.law) + (" (warned)" if warned else "")
        r = compare(sim, law)
        mean_cell = f"{r['mean_err']:.3f} (ℓ{r['mean_layer']})"
        sd_cell = f"{100 * r['sd_err']:.1f}% (ℓ{r['sd_layer']})"
        ks_cell = f"{r['ks']:.3f} (ℓ{r['ks_layer']}; {r['ks_normal']:.3f})"
        row = f"| {name} | {width} × {depth} | {theta0:g} | {mean_cell} | {sd_cell} | {ks_cell} "
        row += f"| {method} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
