"""Calibration of the default predictor against exact simulation: a figure and a table.

For a grid of cases (narrow, moderate, deep, bottleneck/ramp, tiny angle, near π) this
simulates ``--networks`` networks with ``ds.simulate`` and compares, at every layer, the law of
ln sin²θ predicted by the default method (``markov``: the propagated one-step law) and by the
previous default (``lattice``) with the simulated one, given a defined, non-zero angle:

* the figure (``--out``, default docs/calibration.png): predicted against simulated quantiles
  (levels 0.01 … 0.99) at layer 1 and at the last layer of each case, with the identity line;
* the table (``--table``, default docs/calibration.md, also printed): per case, the worst layer
  of each error — mean error in units of the simulated sd, sd error in %, Kolmogorov–Smirnov
  distance D (layer 1 and worst layer) and the worst error of the dead / collapsed / atom-at-0
  probabilities (the lattice predicts none of them: its error is the simulated probability).

Usage::

    nice python tools/calibration_figure.py [--networks 20000] [--seed 2026] [--old-grid]

``--old-grid`` adds the README's previous accuracy grid (``tools/accuracy_table.py``) to the
table (not to the figure).
"""

from __future__ import annotations

import argparse
import math
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

import depthscope as ds

LEVELS = np.round(np.linspace(0.01, 0.99, 99), 2)
RAMP = (1024, 512, 256, 128, 64, 32, 16, 8, 4)

# name: (widths, theta0, networks (None: --networks))
CASES: dict[str, tuple[tuple[int, ...], float, int | None]] = {
    "narrow 4x10": ((4,) * 10, 1.0, None),
    "narrow 8x10": ((8,) * 10, 1.0, None),
    "moderate 30x15": ((30,) * 15, math.pi / 2, None),
    "moderate 30x50": ((30,) * 50, math.pi / 2, None),
    "deep 64x500": ((64,) * 500, 1.0, 10_000),
    "bottleneck (512,8)x5": ((512, 8) * 5, 1.0, None),
    "ramp 1024→4": (RAMP, 1.0, None),
    "tiny 30x50": ((30,) * 50, 2e-4, None),
    "tiny 256x3": ((256,) * 3, 1e-20, None),
    "near π 40x12": ((40,) * 12, 3.0, None),
    "antipodal 30x20": ((30,) * 20, math.pi, None),
}

# The README's previous grid (tools/accuracy_table.py).
OLD_GRID: dict[str, tuple[tuple[int, ...], float, int | None]] = {
    "40x12": ((40,) * 12, math.pi / 2, None),
    "30x50 from 0.3": ((30,) * 50, 0.3, None),
    "50x50": ((50,) * 50, math.pi / 2, None),
    "256x30": ((256,) * 30, 0.1, None),
    "100x10,50x10,30x10": ((100,) * 10 + (50,) * 10 + (30,) * 10, 1.0, None),
    "64,512,32,300,30 (x6)": ((64, 512, 32, 300, 30) * 6, 0.8, None),
    "1024x20": ((1024,) * 20, 0.05, None),
    "40x12 from 0.01": ((40,) * 12, 0.01, None),
    "2048,30 (x10)": ((2048, 30) * 10, math.pi / 2, None),
}

METHODS = ("markov", "lattice")


@dataclass
class Layer:
    """Errors of one method at one layer: mean (in sd), relative sd, KS D, worst atom."""

    mean: float
    sd: float
    ks: float
    atom: float


@dataclass
class Case:
    """Simulated and predicted quantiles at layers 1 and L, and errors at every layer."""

    name: str
    widths: tuple[int, ...]
    theta0: float
    networks: int
    live_min: int
    sim_q: dict[int, np.ndarray]
    pred_q: dict[str, dict[int, np.ndarray]]
    errors: dict[str, list[Layer]]


def _ks(cdf: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> float:
    """Two-sided KS distance between a CDF (with atoms) and the sample ``x`` (ties handled)."""
    values, counts = np.unique(x, return_counts=True)
    emp = np.cumsum(counts) / len(x)
    left = cdf(np.nextafter(values, -np.inf))
    return float(max(np.abs(cdf(values) - emp).max(), np.abs(left - (emp - counts / len(x))).max()))


def _live(sim_x: np.ndarray) -> np.ndarray:
    """The defined, non-zero angles of one layer, with θ = π/2 exactly read as X = 0."""
    x = sim_x[np.isfinite(sim_x)]
    return np.where(x > -1e-13, 0.0, x)  # rounding leaves |X| ~ 1e-16 at θ = π/2


def _layer_errors(sim_x: np.ndarray, p: ds.Prediction, layer: int, ks: bool = True) -> Layer:
    """Errors at one layer; KS D only where ``ks`` (NaN elsewhere: it costs a sort)."""
    x = _live(sim_x)
    observed = (
        float(np.isnan(sim_x).mean()),
        float(np.isneginf(sim_x).mean()),
        float((x == 0.0).mean()),
    )
    predicted = (p.dead[layer], p.collapsed[layer], p.atom[layer])
    atom = max(abs(a - b) for a, b in zip(predicted, observed, strict=True))
    ks_d = _ks(lambda v: p.cdf(layer, v), x) if ks else math.nan
    s = x.std()
    if s == 0.0:  # a point mass (θ0 = π, layer 1): absolute errors
        return Layer(float(p.mean[layer] - x.mean()), float(p.sd[layer]), ks_d, atom)
    return Layer(float((p.mean[layer] - x.mean()) / s), float(p.sd[layer] / s - 1.0), ks_d, atom)


def run_case(
    name: str, widths: Sequence[int], theta0: float, networks: int, seed: int
) -> tuple[Case, list[str]]:
    """Simulate one case and measure both methods at every layer."""
    rng = np.random.default_rng([seed, *name.encode()])
    sim = ds.simulate(list(widths), theta0, n_networks=networks, rng=rng)
    x = sim.ln_sin2
    assert x is not None  # the numpy backend keeps every layer
    depth = len(widths)
    preds, notes = {}, []
    for method in METHODS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ds.DepthscopeWarning)
            preds[method] = ds.predict(
                list(widths), theta0, method=method, probabilities=LEVELS.tolist()
            )
        notes += [f"{name} ({method}): {w.message}" for w in caught]
    sim_q = {ell: np.quantile(_live(x[ell]), LEVELS) for ell in (1, depth)}
    pred_q = {m: {ell: p.quantiles[ell] for ell in (1, depth)} for m, p in preds.items()}
    # KS at every layer up to 20, then at ~60 evenly spaced ones (64x500: 80 of 500 layers).
    ks_layers = {*range(1, 21), *np.linspace(1, depth, 60).round().astype(int).tolist()}
    errors = {
        m: [_layer_errors(x[ell], p, ell, ell in ks_layers) for ell in range(1, depth + 1)]
        for m, p in preds.items()
    }
    live_min = int(np.isfinite(x[1:]).sum(axis=1).min())
    case = Case(name, tuple(widths), theta0, networks, live_min, sim_q, pred_q, errors)
    return case, notes


def _worst(values: Sequence[float]) -> tuple[float, int]:
    """The value of largest magnitude (sign kept) and its layer (1-based); NaN: not measured."""
    i = int(np.nanargmax(np.abs(values)))
    return values[i], i + 1


def _theta_label(theta0: float) -> str:
    if theta0 == math.pi:
        return "π"
    if theta0 == math.pi / 2:
        return "π/2"
    return f"{theta0:g}"


def table(cases: Sequence[Case]) -> list[str]:
    """Markdown rows: worst layer per case, ``markov / lattice`` in each cell."""
    rows = [
        "| case | θ0 | networks (fewest live) | mean err (sd) | sd err | D layer 1 "
        "| D worst layer | dead/collapsed/atom err |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        cells: dict[str, list[str]] = {"mean": [], "sd": [], "ks1": [], "ks": [], "atom": []}
        for m in METHODS:
            errs = c.errors[m]
            mean, ml = _worst([e.mean for e in errs])
            sd, sl = _worst([e.sd for e in errs])
            ks, kl = _worst([e.ks for e in errs])
            cells["mean"].append(f"{mean:+.3f} (ℓ{ml})")
            cells["sd"].append(f"{100 * sd:+.1f}% (ℓ{sl})")
            cells["ks1"].append(f"{errs[0].ks:.3f}")
            cells["ks"].append(f"{ks:.3f} (ℓ{kl})")
            cells["atom"].append(f"{max(e.atom for e in errs):.3f}")
        joined = " | ".join(" / ".join(v) for v in cells.values())
        rows.append(
            f"| {c.name} | {_theta_label(c.theta0)} | {c.networks} ({c.live_min}) | {joined} |"
        )
    return rows


def _panel(ax: Axes, case: Case, layer: int) -> None:
    sim = case.sim_q[layer]
    lo, hi = float(sim[0]), float(sim[-1])
    point_mass = hi == lo
    tiny = not point_mass and hi - lo < 1e-3  # e.g. layer 1 from θ0 = 3: X in (-1e-5, 0]
    span = max(hi - lo, 1e-13)
    lo, hi = lo - 0.15 * span, min(hi + 0.15 * span, 0.05 * span)
    if tiny:  # the law spans decades of |X|: symmetric log axes
        lo, hi = 10.0 * sim[0], 0.0
        for set_scale in (ax.set_xscale, ax.set_yscale):
            set_scale("symlog", linthresh=1e-14, linscale=0.3)
        top = math.floor(math.log10(-lo))
        ticks = [-(10.0**e) for e in range(top, -12, -3)] + [0.0]
        labels = [f"-1e{e}" for e in range(top, -12, -3)] + ["0"]
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_ticks(ticks, labels)
            axis.set_minor_locator(NullLocator())
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, zorder=1)
    styles = {
        "markov": {"color": "C0", "marker": "o", "ms": 2.6, "label": "markov (default)"},
        "lattice": {"color": "C3", "marker": "x", "ms": 3.0, "label": "lattice (previous)"},
    }
    text = [f"KS D markov  {case.errors['markov'][layer - 1].ks:.3f}",
            f"     lattice {case.errors['lattice'][layer - 1].ks:.3f}"]  # fmt: skip
    for method in ("lattice", "markov"):
        pred = case.pred_q[method][layer]
        inside = (pred >= lo) & (pred <= hi)
        st = styles[method]
        ax.plot(sim[inside], pred[inside], ls="none", mec=st["color"], mfc=st["color"],
                marker=st["marker"], ms=st["ms"], label=st["label"], zorder=2)  # fmt: skip
        for side, bound, mk in ((pred > hi, hi, "^"), (pred < lo, lo, "v")):
            if side.any():  # off the panel: drawn on its edge as a triangle
                ax.plot(sim[side], np.full(side.sum(), bound), ls="none", marker=mk, ms=3.0,
                        mfc="none", mec=st["color"], clip_on=False, zorder=3)  # fmt: skip
        if inside.mean() < 0.5:
            text.append(f"{method}: median {np.median(pred):.4g}")
    if point_mass:
        text.append(f"simulated: all at {sim[0]:g}")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.text(0.04, 0.96, "\n".join(text), transform=ax.transAxes, va="top", ha="left",
            fontsize=6.3, family="monospace")  # fmt: skip
    scale = ", symlog axes" if tiny else ""
    ax.set_title(f"{case.name}, θ0={_theta_label(case.theta0)}: layer {layer}{scale}", fontsize=7.5)
    ax.tick_params(labelsize=6)
    ax.xaxis.get_offset_text().set_fontsize(6)
    ax.yaxis.get_offset_text().set_fontsize(6)


def figure(cases: Sequence[Case], out: Path, networks: str) -> None:
    """Predicted vs simulated quantiles at layers 1 and L, three cases (six panels) a row."""
    per_row = 3
    rows = math.ceil((len(cases) + 1) / per_row)
    fig = Figure(figsize=(15.0, 2.55 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, 2 * per_row)
    for k, case in enumerate(cases):
        r, c = divmod(k, per_row)
        _panel(axes[r, 2 * c], case, 1)
        _panel(axes[r, 2 * c + 1], case, len(case.widths))
    for k in range(len(cases), rows * per_row):
        r, c = divmod(k, per_row)
        for ax in axes[r, 2 * c : 2 * c + 2]:
            ax.set_axis_off()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    r, c = divmod(len(cases), per_row)
    axes[r, 2 * c].legend(handles[::-1], labels[::-1], loc="center left", fontsize=8,
                          frameon=False, markerscale=2.0)  # fmt: skip
    fig.supxlabel("simulated quantile of ln sin²θ (given a defined, non-zero angle)", fontsize=9)
    fig.supylabel("predicted quantile", fontsize=9)
    fig.suptitle(
        f"Calibration: predicted vs simulated quantiles (levels 0.01…0.99) at layer 1 and the "
        f"last layer; {networks} simulated networks per case; triangles: off the panel",
        fontsize=10,
    )
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/calibration.png"))
    parser.add_argument("--table", type=Path, default=Path("docs/calibration.md"))
    parser.add_argument("--networks", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--old-grid", action="store_true", help="also tabulate the old grid")
    args = parser.parse_args()
    start = time.time()
    header = (
        f"{args.networks} simulated networks per case (deep 64x500: "
        f"{min(args.networks, 10_000)}), seed {args.seed}, {platform.machine()} "
        f"({platform.system()}), depthscope {ds.__version__}"
    )
    print(header)
    cases, notes = [], []
    grids = [CASES, OLD_GRID] if args.old_grid else [CASES]
    for grid in grids:
        for name, (widths, theta0, nets) in grid.items():
            n = args.networks if nets is None else min(nets, args.networks)
            case, why = run_case(name, widths, theta0, n, args.seed)
            cases.append(case)
            notes += why
            print(table([case])[-1], f"  [{time.time() - start:.0f} s]", flush=True)
    figure(cases[: len(CASES)], args.out, f"{args.networks:,}")
    lines = [
        "# Calibration of the default predictor (`markov`) and the previous one (`lattice`)",
        "",
        f"Written by `python tools/calibration_figure.py`: {header}.",
        "Each cell is `markov / lattice`: the worst layer (ℓ) of each error over all layers ≥ 1",
        "(D: layers 1-20 and 60 evenly spaced ones),",
        "given a defined, non-zero angle; mean error in units of the simulated sd; D = KS",
        "distance between the predicted CDF and the sample (a sample of m draws from the true",
        "law has D ≤ 1.95/√m with probability 0.999: 0.014 at 20,000, 0.020 at 10,000); the last",
        "column is the worst error of the dead / collapsed / atom-at-0 probabilities (the",
        "lattice predicts none). Figure: docs/calibration.png.",
        "",
        *table(cases[: len(CASES)]),
    ]
    if args.old_grid:
        lines += ["", "The README's previous grid:", "", *table(cases[len(CASES) :])]
    if notes:
        lines += ["", "Warnings:", "", *[f"* {n}" for n in notes]]
    lines += ["", f"Run time: {time.time() - start:.0f} s."]
    args.table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[lines.index("") + 1 :]))
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB) and {args.table}")


if __name__ == "__main__":
    main()
