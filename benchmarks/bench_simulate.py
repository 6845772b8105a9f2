"""Benchmark of depthscope.simulate (issue 3), all numbers measured in one process.

1. Figure-1 workload (5000 networks, 31 layers of width 256, θ₀ = 0.1): the Gram chain of
   ``depthscope.simulate`` against the same simulation with explicit float32 He weight matrices
   (batched matmuls), and the ratio (target ≥ 100×). The dense baseline is timed on a subset
   of networks and scaled linearly (its cost is exactly linear in the number of networks).
2. The RNG limit: the time numpy's Generator takes only to draw the 2 standard normals per
   unit, layer and network that a straightforward Gram chain consumes.
3. The effective-dimension panel for m = 64 inputs, width 1024, 200 networks, 50 layers
   (target < 60 s).

Usage: ``python benchmarks/bench_simulate.py [--quick]`` (``--quick`` shrinks workloads 10×).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

from depthscope.simulation._simulate import simulate


def dense_float32(n_networks: int, width: int, depth: int, theta0: float, seed: int) -> float:
    """The fair baseline: explicit float32 He weights, batched over networks; returns seconds."""
    gen = np.random.default_rng(seed)
    batch = 50
    start = time.perf_counter()
    for first in range(0, n_networks, batch):
        k = min(batch, n_networks - first)
        h = np.zeros((k, width, 2), np.float32)
        h[:, 0, 0] = 1.0
        h[:, 0, 1], h[:, 1, 1] = math.cos(theta0), math.sin(theta0)
        w = np.empty((k, width, width), np.float32)
        for _ in range(depth):
            gen.standard_normal(dtype=np.float32, out=w)
            w *= np.float32(math.sqrt(2.0 / width))
            h = np.maximum(w @ h, np.float32(0.0))
        a, b = h[..., 0], h[..., 1]
        _ = np.einsum("ij,ij->i", a, b)
    return time.perf_counter() - start


def rng_limit(n_networks: int, width: int, depth: int) -> float:
    """Seconds to draw 2 float64 normals per unit per layer per network (one buffer, out=)."""
    gen = np.random.default_rng(0)
    buf = np.empty(2 * width * depth * 100)
    start = time.perf_counter()
    for _ in range(0, n_networks, 100):
        gen.standard_normal(out=buf)
    return time.perf_counter() - start


def best_of(repeats: int, func) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def _blas_single_thread():
    """Limit BLAS/LAPACK to one thread if threadpoolctl is installed (small QRs and SVDs run
    many times slower with OpenBLAS threads competing on a busy 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n_net, width, depth, theta0 = 5000 // scale, 256, 31, 0.1
    limited = _blas_single_thread()
    print(f"# BLAS threads limited to 1: {limited is not None}")
    print(f"# cores: {os.cpu_count()}, numpy {np.__version__}, load avg {os.getloadavg()}")

    simulate([width] * depth, theta0=theta0, n_networks=64, rng=0)  # warm-up
    gram = best_of(3, lambda: simulate([width] * depth, theta0=theta0, n_networks=n_net, rng=1))
    subset = max(50, n_net // 20)
    dense = dense_float32(subset, width, depth, theta0, 0) * n_net / subset
    limit = best_of(3, lambda: rng_limit(n_net, width, depth))
    print(f"Figure-1 workload: {n_net} networks x {depth} layers x width {width}, theta0={theta0}")
    print(f"  gram chain (depthscope.simulate, float64): {gram:8.3f} s")
    print(f"  dense float32 He weights (from {subset} nets): {dense:8.1f} s")
    print(f"  speed-up: {dense / gram:8.1f}x   (target >= 100x)")
    print(f"  RNG limit, 2 float64 normals/unit/layer/net: {limit:8.3f} s")
    print(f"  gram chain / RNG limit: {gram / limit:8.2f}  (< 1: faster than drawing the normals)")

    m, n, nets, layers = 64, 1024, 200 // scale, 50
    start = time.perf_counter()
    res = simulate([n] * layers, inputs=m, n_networks=nets, rng=0, input_dim=n)
    panel = time.perf_counter() - start
    print(
        f"ED panel: m={m}, width={n}, {nets} networks, {layers} layers: {panel:8.2f} s "
        f"(target < 60 s); layer-{layers} mean erank {np.nanmean(res.panel['erank'][-1]):.2f}"
    )


if __name__ == "__main__":
    main()
