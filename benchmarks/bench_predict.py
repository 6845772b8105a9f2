"""Benchmark the predictors against baselines run in the same process.

Run:  python benchmarks/bench_predict.py

Targets: the default predictor ≤ 5 ms for a depth-50 network and ≤ 1 s for depth 10,000
(screening 10,000 architectures ≤ 10 s: benchmarks/bench_screen.py); Approximation 2 on
the Figure-1 setup (31 layers of width 256, θ0 = 0.1) ≤ 20 ms, against the authors' method of a
dense 10⁴ × 10⁴ kernel on a 10,000-point grid over [−15, 0] (timed on two layers here and
scaled to 30 — the full run takes minutes).
"""

from __future__ import annotations

import math
import platform
import time

import numpy as np

import depthscope as ds


def best_of(fn, repeat: int = 7, number: int = 10) -> float:
    """Best mean time per call, seconds."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def dense_kernel_approx2(widths: list[int], theta0: float, layers: int) -> float:
    """The authors' Approximation-2 propagation: a dense Gaussian kernel matrix per layer."""
    grid = np.linspace(-15.0, 0.0, 10_000)
    step = grid[1] - grid[0]
    mu1, s1 = float(ds.mu(theta0, widths[0])), math.sqrt(float(ds.sigma2(theta0, widths[0])))
    density = np.exp(-0.5 * ((grid - mu1) / s1) ** 2) / (s1 * math.sqrt(2 * math.pi))
    start = time.perf_counter()
    for n in widths[1 : layers + 1]:
        beta = math.sqrt(8 * n / (n + 5) ** 2)
        alpha = grid - 2 / (3 * math.pi) * np.arcsin(np.exp(grid / 2)) - float(ds.rho(n))
        kernel = np.exp(-0.5 * ((grid[:, None] - alpha[None, :]) / beta) ** 2)
        kernel /= beta * math.sqrt(2 * math.pi)
        density = kernel @ density * step
    return (time.perf_counter() - start) / layers


def main() -> None:
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"numpy {np.__version__}, depthscope {ds.__version__}"
    )
    fig1 = [256] * 31

    # 1. Default predictor, depth 50, against exact simulation with ~1% standard error.
    t_markov = best_of(lambda: ds.predict([50] * 50, math.pi / 2))
    print(f"predict 50x50 (markov, full per-layer law)   {1e3 * t_markov:8.2f} ms   target ≤ 5 ms")
    t_narrow = best_of(lambda: ds.predict([8] * 50, math.pi / 2))
    print(f"predict 8x50 (markov)                        {1e3 * t_narrow:8.2f} ms   target ≤ 5 ms")
    t_deep = best_of(lambda: ds.predict([64] * 10_000, math.pi / 2), repeat=3, number=1)
    print(f"predict 64x10000 (markov)                    {t_deep:8.2f} s    target ≤ 1 s")
    t_lattice = best_of(lambda: ds.predict([50] * 50, math.pi / 2, method="lattice"))
    print(f"predict 50x50 (lattice, the previous default) {1e3 * t_lattice:7.2f} ms")
    t_final = best_of(lambda: ds.predict_final(["50x50"] * 1000), repeat=3, number=1)
    print(
        f"predict_final, 1000 archs of depth 50        {1e3 * t_final:8.2f} ms "
        f"({1e6 * t_final / 1000:.0f} µs per architecture)"
    )
    if hasattr(ds, "simulate"):
        start = time.perf_counter()
        ds.simulate([50] * 50, math.pi / 2, n_networks=10_000, rng=0)
        t_sim = time.perf_counter() - start
        print(
            f"baseline: simulate 50x50, 10,000 networks   {t_sim:8.2f} s    "
            f"ratio {t_sim / t_markov:,.0f}x"
        )

    # 2. Approximation 2 on the Figure-1 setup against the dense-kernel method.
    t_approx2 = best_of(lambda: ds.predict(fig1, 0.1, method="approx2"))
    print(
        f"approx2 Figure-1 (31 layers of 256)          {1e3 * t_approx2:8.2f} ms   target ≤ 20 ms"
    )
    per_layer = dense_kernel_approx2(fig1, 0.1, layers=2)
    dense_total = 30 * per_layer
    print(
        f"baseline: dense 10^4 x 10^4 kernel           {dense_total:8.2f} s    "
        f"(2 layers timed, x15) ratio {dense_total / t_approx2:,.0f}x"
    )

    # 3. The other methods, for scale.
    for method in ("infinite", "mean", "approx1"):
        t = best_of(lambda m=method: ds.predict([50] * 50, math.pi / 2, method=m))
        print(f"predict 50x50 ({method:8s})                   {1e3 * t:8.2f} ms")


if __name__ == "__main__":
    main()
