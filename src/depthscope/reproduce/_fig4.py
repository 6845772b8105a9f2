"""Figure 4 of Jakub & Nica (theory part): finite- vs infinite-width predicted θ_L.

Two inputs at θ₀ = π/2 (orthogonal). For every architecture: the markov predictor's mean and sd
of ln sin²θ_L (exact width convention), the paper's Algorithm 1 (Theorem-1 μ iterated, the
authors' fan-in convention with input dimension 784), and the infinite-width rule (depth only).

Architectures: the paper's demo list ([85]×2, [100]×10, [30]×15, [15]×30, [75]×35, [50]×50);
five depth-3 architectures chosen here (the paper's five are not listed) that the infinite-width
rule cannot tell apart; and a grid of constant-width architectures, widths
{10, 15, 20, 30, 50, 75, 100, 200, 500} × depths {2, 3, 5, 10, 15, 20, 30, 35, 50}.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._architecture import format_architecture
from ..report._markdown import table as markdown_table
from ..report._output import Provenance, RunOptions, run_experiment
from ..report._plot import COLORS, new_figure, styled
from ..theory._predict import predict, predict_final

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path
    from typing import Unpack

    from matplotlib.figure import Figure

    from ..report._output import Progress

__all__ = ["DEMO", "DEPTH3", "GRID_DEPTHS", "GRID_WIDTHS", "compute_fig4", "run_fig4"]

THETA0 = math.pi / 2
#: The authors' published Algorithm-1 values of ln sin²θ_L (``docs/theory/angle-theory.md`` §9).
PUBLISHED_ALGORITHM_1 = {
    "85x2": -0.500,
    "100x10": -1.727,
    "30x15": -3.595,
    "75x35": -4.126,
    "50x50": -6.230,
}
INPUT_DIM = 784
DEMO = ([85] * 2, [100] * 10, [30] * 15, [15] * 30, [75] * 35, [50] * 50)
DEPTH3 = ([10, 10, 10], [20, 200, 20], [50, 50, 50], [100, 100, 100], [500, 500, 500])
GRID_WIDTHS = (10, 15, 20, 30, 50, 75, 100, 200, 500)
GRID_DEPTHS = (2, 3, 5, 10, 15, 20, 30, 35, 50)
#: The settings recorded in the manifest.
_CONFIGURATION = {
    "theta0": THETA0,
    "input_dim": INPUT_DIM,
    "demo": DEMO,
    "depth3": DEPTH3,
    "grid_widths": GRID_WIDTHS,
    "grid_depths": GRID_DEPTHS,
}


def _table(architectures: list[list[int]]) -> list[dict[str, Any]]:
    markov_mean, markov_sd = predict_final(architectures, THETA0)
    rows = []
    for arch, m, s in zip(architectures, markov_mean, markov_sd, strict=True):
        rows.append(
            {
                "architecture": format_architecture(arch),
                "depth": len(arch),
                "markov_mean": float(m),
                "markov_sd": float(s),
                "algorithm1_paper": float(
                    predict(
                        arch, THETA0, method="mean", convention="paper", input_dim=INPUT_DIM
                    ).mean[-1]
                ),
                "algorithm1_exact": float(predict(arch, THETA0, method="mean").mean[-1]),
                "infinite": float(predict(arch, THETA0, method="infinite").mean[-1]),
            }
        )
    return rows


def compute_fig4() -> dict[str, Any]:
    """Predicted ln sin²θ_L for the demo, depth-3 and grid architectures (JSON-ready)."""
    grid = [[w] * d for w in GRID_WIDTHS for d in GRID_DEPTHS]
    depth3 = _table([list(a) for a in DEPTH3])
    infinite3 = {round(r["infinite"], 12) for r in depth3}
    grid_rows = _table(grid)
    below = sum(r["markov_mean"] < r["infinite"] for r in grid_rows)
    demo = _table([list(a) for a in DEMO])
    ours = {r["architecture"]: r["algorithm1_paper"] for r in demo}
    published_diff = max(abs(ours[a] - v) for a, v in PUBLISHED_ALGORITHM_1.items())
    return {
        "experiment": "Jakub & Nica (arXiv:2302.09712) Figure 4, theory part",
        "published_algorithm1": PUBLISHED_ALGORITHM_1,
        "published_max_abs_difference": published_diff,
        "theta0": THETA0,
        "quantity": "ln sin²θ_L at the last hidden layer (natural log)",
        "conventions": {
            "markov": "exact: step ℓ uses the width n_ℓ of the layer where θ_ℓ is measured",
            "algorithm1_paper": f"the authors' fan-in widths [{INPUT_DIM}, n_1, …, n_L]",
            "algorithm1_exact": "Theorem-1 μ iterated with the exact convention",
            "infinite": "the arc-cosine map iterated L times (depth only)",
        },
        "demo": demo,
        "depth3": depth3,
        "depth3_distinct_infinite_predictions": len(infinite3),
        "grid": grid_rows,
        "grid_markov_below_infinite": f"{below} of {len(grid_rows)}",
    }


@styled
def plot_fig4(results: dict[str, Any]) -> Figure:
    """Left: depth-3 architectures; right: finite vs infinite prediction on the grid."""
    fig = new_figure(figsize=(12.5, 5.0), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    d3 = results["depth3"]
    x = np.arange(len(d3))
    ax.errorbar(
        x,
        [r["markov_mean"] for r in d3],
        yerr=[r["markov_sd"] for r in d3],
        fmt="o",
        color=COLORS["markov"],
        capsize=3,
        label="depthscope markov: mean ± sd",
    )
    ax.plot(
        x,
        [r["algorithm1_paper"] for r in d3],
        "s",
        color=COLORS["mean"],
        label=f"Algorithm 1 (paper convention, n₀ = {INPUT_DIM})",
    )
    ax.axhline(
        d3[0]["infinite"],
        color=COLORS["infinite"],
        ls="--",
        label="infinite-width rule (same for all)",
    )
    ax.set_xticks(x, [r["architecture"] for r in d3])
    ax.set_xlabel("hidden widths (depth 3)")
    ax.set_ylabel("predicted ln sin²θ₃ (natural log)")
    ax.set_title("Depth-3 architectures: only finite width tells them apart")
    ax.legend(frameon=False, loc="lower right")
    grid = results["grid"]
    inf = np.array([r["infinite"] for r in grid])
    fin = np.array([r["markov_mean"] for r in grid])
    widths = np.array([int(r["architecture"].split("x")[0]) for r in grid])
    sc = bx.scatter(inf, fin, c=np.log10(widths), cmap="viridis", s=22, label="grid")
    demo = results["demo"]
    bx.scatter(
        [r["infinite"] for r in demo],
        [r["markov_mean"] for r in demo],
        marker="*",
        s=120,
        facecolor="none",
        edgecolor="#D55E00",
        label="paper's demo architectures",
    )
    for r in demo:
        bx.annotate(
            r["architecture"],
            (r["infinite"], r["markov_mean"]),
            fontsize=7.5,
            xytext=(4, -9),
            textcoords="offset points",
        )
    lo = float(min(inf.min(), fin.min())) - 0.3
    bx.plot([lo, 0.1], [lo, 0.1], color="0.4", lw=0.8, label="finite = infinite")
    bx.set_xlabel("infinite-width prediction of ln sin²θ_L")
    bx.set_ylabel("finite-width (markov) prediction of ln sin²θ_L")
    bx.set_title("Finite vs infinite width (θ₀ = π/2)")
    bx.legend(frameon=False, loc="upper left")
    fig.colorbar(sc, ax=bx, label="log₁₀(width)")
    return fig


def fig4_report(results: dict[str, Any]) -> str:
    """``report.md`` for Figure 4."""

    def table(rows: list[dict[str, Any]]) -> list[str]:
        return markdown_table(
            (
                "architecture",
                "markov mean ± sd",
                "Algorithm 1 (paper conv.)",
                "Algorithm 1 (exact conv.)",
                "infinite width",
            ),
            (
                (
                    r["architecture"],
                    f"{r['markov_mean']:.3f} ± {r['markov_sd']:.3f}",
                    *(f"{r[k]:.3f}" for k in ("algorithm1_paper", "algorithm1_exact", "infinite")),
                )
                for r in rows
            ),
        )

    d3 = results["depth3"]
    spread = max(r["markov_mean"] for r in d3) - min(r["markov_mean"] for r in d3)
    lines = [
        "# Figure 4 of Jakub & Nica (arXiv:2302.09712), theory part",
        "",
        "Predicted ln sin²θ_L for two orthogonal inputs (θ₀ = π/2). Theory only: the trained "
        "accuracies of the paper's Figure 4 (left) are not reproduced here, and the paper's 45 "
        "architectures are not available; the grid below is our own.",
        "",
        "## The paper's demo architectures",
        "",
        *table(results["demo"]),
        "",
        "Published Algorithm-1 values (paper convention, 3 decimals): "
        + ", ".join(f"{a} → {v}" for a, v in PUBLISHED_ALGORITHM_1.items())
        + f"; largest difference from ours {results['published_max_abs_difference']:.4f}.",
        "",
        "## Five depth-3 architectures",
        "",
        *table(d3),
        "",
        f"The infinite-width rule gives {results['depth3_distinct_infinite_predictions']} "
        f"distinct value(s) for these five (it depends on depth only); the finite-width markov "
        f"predictions span {spread:.3f} in ln sin²θ_3.",
        "",
        "## Grid (constant widths × depths)",
        "",
        f"Markov mean below the infinite-width value (faster degeneracy than infinite width "
        f"predicts): {results['grid_markov_below_infinite']} architectures. All numbers in "
        "`results.json`.",
        "",
        "Files: `fig4.png`/`fig4.svg`, `results.json`, `manifest.json`.",
        "",
    ]
    return "\n".join(lines)


def run_fig4(out: str | Path, **options: Unpack[RunOptions]) -> dict[str, Any]:
    """Compute, draw and write Figure 4 into ``out``: figure, ``results.json``, ``report.md``."""

    def compute(progress: Progress) -> dict[str, Any]:
        progress.stage("predicting the demo, depth-3 and grid architectures")
        return compute_fig4()

    def render(results: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return {
            "fig4": plot_fig4(results),
            "results.json": results,
            "report.md": fig4_report(results),
        }

    provenance = Provenance((run_fig4, str(out)), None, _CONFIGURATION)
    return run_experiment("fig4", out, compute, render, provenance, **options)
