"""Benchmark the law predictor (``depthscope.theory._law.propagate_law``).

Three timings, each warm (the per-width kernels are built and cached on the first call, which is
timed separately):

* depth 50 (64x50, 8x50 and the bottleneck (512,8)x25), target ≤ 5 ms;
* depth 10,000 (64x10000), target ≤ 1 s;
* 10,000 architectures screened as ``benchmarks/bench_screen.py`` draws them (depth 1-50, widths
  from 8, 16, …, 512) with the batched ``propagate_final`` (kernels warmed on 300 of them
  first), target ≤ 10 s.

Wall and CPU (process) time are both reported, with the load average: on a shared machine the
wall time can be several times the CPU time.

Usage::

    python benchmarks/bench_law.py [--screen 10000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from depthscope.theory._law import propagate_law
from depthscope.theory._law_batch import propagate_final


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screen", type=int, default=10_000, help="architectures to screen")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1,000 screened")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    screen = 1_000 if args.quick else args.screen
    out: dict[str, object] = {"machine": platform.processor() or platform.machine()}
    for widths, name in (((64,) * 50, "64x50"), ((8,) * 50, "8x50"), ((512, 8) * 25, "(512,8)x25")):
        start = time.perf_counter()
        propagate_law(widths, 1.0)
        out[f"{name} first call (builds kernel) s"] = round(time.perf_counter() - start, 4)
        out[f"{name} warm s"] = round(_best(lambda w=widths: propagate_law(w, 1.0), repeat), 5)
    deep = (64,) * 10_000
    propagate_law((64,) * 2, 1.0)
    out["64x10000 s"] = round(_best(lambda: propagate_law(deep, 1.0), 1 if args.quick else 2), 3)
    rng = np.random.default_rng(0)
    menu = [8, 16, 32, 64, 128, 256, 512]
    archs = [
        tuple(int(n) for n in rng.choice(menu, size=int(rng.integers(1, 51))))
        for _ in range(screen)
    ]
    start = time.perf_counter()
    propagate_final(archs[:300], 1.0)
    out["screen warm-up (300, builds kernels) s"] = round(time.perf_counter() - start, 2)
    start, cpu = time.perf_counter(), time.process_time()
    final = propagate_final(archs, 1.0)
    out[f"screen {screen} architectures s"] = round(time.perf_counter() - start, 2)
    out[f"screen {screen} architectures cpu s"] = round(time.process_time() - cpu, 2)
    out["screened finite"] = int(np.isfinite(final.mean).sum())
    out["load average (1, 5, 15 min)"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
