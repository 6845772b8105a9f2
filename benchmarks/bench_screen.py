"""Screening throughput: 10,000 random architectures of depth ≤ 50 (target ≤ 10 s).

Run:  python benchmarks/bench_screen.py

Baseline in the same run: calling ``predict`` once per architecture (no batching).
"""

from __future__ import annotations

import time

import numpy as np

import depthscope as ds


def main() -> None:
    rng = np.random.default_rng(0)
    choices = [8, 16, 32, 64, 128, 256, 512]
    archs = [
        ",".join(str(w) for w in rng.choice(choices, size=rng.integers(1, 51)))
        for _ in range(10_000)
    ]
    start = time.perf_counter()
    rows = ds.screen(archs, input_dim=784, output_dim=10)
    t_screen = time.perf_counter() - start
    print(f"screen 10,000 architectures (depth 1-50)   {t_screen:6.2f} s   target ≤ 10 s")
    start = time.perf_counter()
    for arch in archs[:200]:
        ds.predict(arch, np.pi / 2)
    t_loop = (time.perf_counter() - start) / 200 * len(archs)
    print(
        f"baseline: predict() per architecture       {t_loop:6.2f} s   (200 timed, scaled)"
        f"   ratio {t_loop / t_screen:.1f}x"
    )
    assert len(rows) == len(archs)


if __name__ == "__main__":
    main()
