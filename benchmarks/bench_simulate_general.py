"""Benchmark of depthscope.simulate beyond ReLU (issue 16): tanh, GELU, residual vs ReLU.

Every number is measured in one process, so that the ratios hold on a shared machine:

1. the two-input Gram chain (numpy backend) for relu, leaky:0.1 + bias, tanh + bias, gelu,
   silu, erf, and residual blocks (relu and tanh, α = 0.5), on the same workload;
2. the RNG limit: the time numpy's Generator takes only to draw the 2 standard normals per
   unit, layer and network that a straightforward Gram chain consumes (as
   ``bench_simulate.py``);
3. the elementwise functions alone, in ns per element: scipy's ndtr (GELU's Φ) and erf, numpy's
   tanh and exp, beside one standard normal draw, on eight distinct chunks of the simulation's
   size taken in turn (one chunk timed over and over lets the branch predictor learn scipy's
   branches and halves their cost: ≈ 7 instead of ≈ 14 ns per element).

Goal (issue 16, Performance): every class within 2× of the RNG limit on the CPU. The last lines
print a floor for GELU and erf with scipy's special functions: each unit needs Φ (or erf) at its
first pre-activation, on top of everything relu's chain does, so relu's ratio plus one Φ per
unit (two normals) bounds them from below. It leaves out the second Φ of the units whose step
|d| ≥ 2⁻⁵ (43% of this workload's units, counted 2026-11-25) and the exponentials of the
others' Gauss–Legendre difference.

Usage: ``python benchmarks/bench_simulate_general.py [--quick]`` (``--quick``: 10× fewer
networks).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import erf, ndtr

# the same timer and RNG limit as the ReLU benchmark (the script's folder is on sys.path)
from bench_simulate import best_of, rng_limit
from depthscope.simulation._simulate import simulate

CASES: dict[str, dict[str, Any]] = {
    "relu": {},
    "leaky:0.1, sb=0.3": {"activation": "leaky:0.1", "bias_std": 0.3},
    "tanh, sw=1.2, sb=0.3": {"activation": "tanh", "weight_std": 1.2, "bias_std": 0.3},
    "gelu": {"activation": "gelu"},
    "silu": {"activation": "silu"},
    "erf, sw=1.2": {"activation": "erf", "weight_std": 1.2},
    "residual relu a=0.5": {"residual": "block:0.5"},
    "residual tanh a=0.5": {"activation": "tanh", "residual": "block:0.5", "bias_std": 0.1},
}


def per_element_ns(width: int, chunk: int = 64, n_chunks: int = 8) -> dict[str, float]:
    """Best-of-5 ns per element of each function on ``n_chunks`` distinct (chunk, width) arrays.

    The inputs are N(0, 0.75²), the spread of the GELU and erf benchmarks' pre-activations.
    """
    gen = np.random.default_rng(2)
    inputs = [0.75 * gen.standard_normal((chunk, width)) for _ in range(n_chunks)]
    out = np.empty((chunk, width))
    funcs: dict[str, Callable[[Any], Any]] = {
        "normal draw": lambda _: gen.standard_normal(out=out),
        "scipy ndtr": lambda x: ndtr(x, out=out),
        "scipy erf": lambda x: erf(x, out=out),
        "numpy tanh": lambda x: np.tanh(x, out=out),
        "numpy exp": lambda x: np.exp(x, out=out),
    }
    result = {}
    for name, func in funcs.items():
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            for x in inputs:
                func(x)
            best = min(best, time.perf_counter() - start)
        result[name] = best / (n_chunks * out.size) * 1e9
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n_net, width, depth, theta0 = 5000 // scale, 256, 31, 0.1
    print(f"# cores: {os.cpu_count()}, numpy {np.__version__}, load avg {os.getloadavg()}")
    print(f"# workload: {n_net} networks x {depth} layers x width {width}, theta0={theta0}")
    widths = [width] * depth
    simulate(widths, theta0=theta0, n_networks=64, rng=0)  # warm-up
    limit = best_of(3, lambda: rng_limit(n_net, width, depth))
    print(f"  RNG limit, 2 float64 normals/unit/layer/net: {limit:8.3f} s")
    costs = per_element_ns(width)
    print("  ns per element: " + ", ".join(f"{k} {v:.1f}" for k, v in costs.items()))
    relu = None
    for name, kw in CASES.items():
        simulate(widths, theta0=theta0, n_networks=64, rng=0, **kw)  # warm-up
        seconds = best_of(
            3, lambda kw=kw: simulate(widths, theta0=theta0, n_networks=n_net, rng=1, **kw)
        )
        relu = seconds if relu is None else relu
        print(
            f"  {name:24s} {seconds:8.3f} s   / RNG limit {seconds / limit:5.2f}   "
            f"/ relu {seconds / relu:5.2f}   (goal: / RNG limit <= 2)"
        )
    assert relu is not None
    normals = 2.0 * costs["normal draw"]  # per unit: x's and d's normals
    for name, key in (("gelu", "scipy ndtr"), ("erf", "scipy erf")):
        floor = relu / limit + costs[key] / normals
        print(
            f"  floor for {name} with {key}: relu's {relu / limit:.2f} + one {key} per unit "
            f"{costs[key] / normals:.2f} = {floor:.2f} x the RNG limit"
        )
    print(f"# load avg after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
