"""Draw the phase diagram of a (σ_w, σ_b) sweep with the infinite-width edge of chaos.

Reads a finished ``depthscope sweep`` folder whose spec varies ``weight_std`` and ``bias_std``
(e.g. ``examples/phase_tanh.yaml``) and draws, over (σ_w², σ_b²): the predicted mean of
ln sin²θ_L at the last layer, the simulated one, and the prediction's error in units of the
simulated sd — each with the curve χ₁ = σ_w² E[φ'(u)²] = 1 at the fixed point q* of the
infinite-width map (Poole et al. 2016; Schoenholz et al. 2017), left of which (χ₁ < 1, ordered)
the two inputs' angle shrinks to 0 and right of which (chaotic) it settles at a positive angle.
Writes ``DIR/phase.png`` (and ``.svg``); prints the worst cells.

Run: ``python examples/phase_diagram.py runs/phase_tanh``. Needs the ``plot`` extra.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

import depthscope as ds
from depthscope._optional import import_pyplot


def load(folder: Path) -> tuple[dict, list[dict[str, str]]]:
    """Return the sweep's checked spec and its ``results.csv`` rows."""
    spec = json.loads((folder / "spec.json").read_text())
    with open(folder / "results.csv", newline="") as f:
        return spec, list(csv.DictReader(f))


def grid(rows, sw, sb, field):
    """Return ``field`` of each cell on the (σ_w, σ_b) grid (NaN where missing or failed)."""
    out = np.full((len(sb), len(sw)), np.nan)
    for r in rows:
        if r["status"] == "ok" and r[field] != "":
            out[sb.index(float(r["bias_std"])), sw.index(float(r["weight_std"]))] = float(r[field])
    return out


def edge_of_chaos(activation: str, sb_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Return σ_w² where χ₁ = 1, for σ_b² on a grid up to ``sb_max``² (Brent's method)."""
    sb2 = np.linspace(0.0, sb_max**2, 21)

    def excess(sw2: float, b2: float) -> float:
        return ds.fixed_point_chi(activation, math.sqrt(sw2), math.sqrt(b2)).chi - 1.0

    sw2 = [brentq(excess, 0.3, 6.0, args=(b2,), xtol=1e-4) for b2 in sb2]
    return np.array(sw2), sb2


def main(argv: list[str] | None = None) -> None:
    """Read the sweep, draw ``phase.png``/``.svg``, print the worst cell."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a finished sweep over weight_std × bias_std")
    args = parser.parse_args(argv)
    spec, rows = load(args.folder)
    sw, sb = [float(v) for v in spec["weight_std"]], [float(v) for v in spec["bias_std"]]
    (activation,), (arch,), (theta0,) = spec["activation"], spec["architectures"], spec["theta0"]
    predicted, simulated = grid(rows, sw, sb, "pred_mean"), grid(rows, sw, sb, "mc_mean")
    error = (predicted - simulated) / grid(rows, sw, sb, "mc_sd")
    edge_w2, edge_b2 = edge_of_chaos(activation, max(sb))

    plt = import_pyplot("drawing the phase diagram")
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    x, y = np.square(sw), np.square(sb)
    low, high = np.nanmin([predicted, simulated]), np.nanmax([predicted, simulated])
    panels = [
        (predicted, "predicted mean ln sin²θ_L", "viridis", (low, high)),
        (simulated, f"simulated ({spec['networks']} networks)", "viridis", (low, high)),
        (error, "error (predicted − simulated) / sd", "RdBu_r", (-0.3, 0.3)),
    ]
    for ax, (values, title, cmap, (vmin, vmax)) in zip(axes, panels, strict=True):
        image = ax.pcolormesh(x, y, values, shading="nearest", cmap=cmap, vmin=vmin, vmax=vmax)
        fig.colorbar(image, ax=ax)
        ax.plot(edge_w2, edge_b2, "w--", lw=2, label="edge of chaos χ₁ = 1 (infinite width)")
        ax.set(xlabel="σ_w²", ylabel="σ_b²", title=title)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{activation}, {arch}, θ0 = {theta0:g}: the angle at the last layer")
    for suffix in (".png", ".svg"):
        fig.savefig(args.folder / f"phase{suffix}", dpi=120)
    worst = np.unravel_index(np.nanargmax(np.abs(error)), error.shape)
    print(
        f"worst cell: σ_w = {sw[worst[1]]:g}, σ_b = {sb[worst[0]]:g}: "
        f"error {error[worst]:+.3f} sd; |error| ≤ 0.1 sd in "
        f"{int(np.sum(np.abs(error) <= 0.1))} of {int(np.sum(np.isfinite(error)))} cells"
    )
    print(f"wrote {args.folder / 'phase.png'}")


if __name__ == "__main__":
    main()
