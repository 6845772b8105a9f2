"""Measure every predictor against exact simulation on a grid of architectures.

Prints the README's accuracy table: for each method and architecture, the worst per-layer
error of the predicted mean in units of the simulated sd, and the worst relative error of the
predicted sd. Usage::

    python tools/accuracy_table.py [--networks 20000] [--seed 2024]
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np

import depthscope as ds
from depthscope.simulation._simulate import simulate

GRID = [
    ("40x12", math.pi / 2),
    ("30x15", math.pi / 2),
    ("30x50", math.pi / 2),
    ("30x50", 0.3),
    ("50x50", math.pi / 2),
    ("256x30", 0.1),
    ("100x10,50x10,30x10", 1.0),
    ("64,512,32,300,30 (x6)", 0.8),
    ("1024x20", 0.05),
    ("40x12", 0.01),
    ("2048,30 (x10)", math.pi / 2),
]
METHODS = ("markov", "mean", "approx2", "approx1", "infinite")


def widths_of(label: str) -> list[int]:
    if label.endswith(")"):
        base, times = label[:-1].split(" (x")
        return [int(w) for w in base.split(",")] * int(times)
    return list(ds.parse_architecture(label))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    start = time.time()
    print(
        f"# {args.networks} simulated networks per row, seed {args.seed}, "
        f"{platform.machine()} ({platform.system()})"
    )
    header = "| architecture | θ0 | " + " | ".join(METHODS) + " |"
    print(header)
    print("|" + "---|" * (len(METHODS) + 2))
    worst = dict.fromkeys(METHODS, 0.0)
    for label, theta0 in GRID:
        widths = widths_of(label)
        res = simulate(widths, theta0, n_networks=args.networks, rng=args.seed)
        x = res.ln_sin2[:, np.isfinite(res.ln_sin2).all(axis=0)]
        sim_mean, sim_sd = x.mean(axis=1)[1:], x.std(axis=1, ddof=1)[1:]
        cells = []
        for method in METHODS:
            p = ds.predict(widths, theta0, method=method)
            mean_err = float(np.max(np.abs(p.mean[1:] - sim_mean) / sim_sd))
            worst[method] = max(worst[method], mean_err)
            cell = f"{mean_err:.2f}"
            if method in ("markov", "approx2"):
                sd_err = p.sd[1:] / sim_sd - 1
                cell += f" / {100 * sd_err[np.argmax(np.abs(sd_err))]:+.0f}%"
            cells.append(cell)
        print(f"| {label} | {theta0:.3g} | " + " | ".join(cells) + " |")
    print("| **worst** | | " + " | ".join(f"**{worst[m]:.2f}**" for m in METHODS) + " |")
    print(f"# {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
