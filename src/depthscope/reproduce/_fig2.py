"""Figure 2 of Jakub & Nica: one layer's mean drop and variance of ln sin²θ against θ.

For each of ``angles`` initial angles θ in [0.005, 0.8] (linspace; the paper does not state the
spacing), ``networks`` one-layer networks of width n are simulated with the exact Gram chain;
X₀ = ln sin²θ, X₁ = ln sin²θ₁. Compared:

(a) E[X₀ − X₁] with its 99% confidence band, against X₀ − μ(θ, n) (Theorem 1), the linear
    approximation (2/(3π))θ + ρ(n), the infinite-width rule X₀ − ln sin²(arccos 2J₁₁(θ)), and
    the markov predictor;
(b) Var[X₁] with its 99% band, against σ²(θ, n) (Theorem 1), β² = 8n/(n+5)² (Approximation 2)
    and the markov predictor.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from .._errors import DepthscopeError
from ..report._output import Progress, Provenance, RunOptions, run_experiment
from ..report._plot import COLORS, new_figure, styled
from ..simulation._simulate import simulate
from ..theory._predict import predict
from ..theory._theorem import infinite_width_map, mu, rho, sigma2

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path
    from typing import Unpack

    from matplotlib.figure import Figure

__all__ = ["Fig2Config", "compute_fig2", "fig2_report", "run_fig2", "variance_band"]

LEVEL = 0.99


@dataclass(frozen=True)
class Fig2Config:
    """Setup of Figure 2 (defaults: the paper's 10,000 networks × 100 angles, width 1024)."""

    #: Networks simulated at each angle.
    networks: int = 10_000
    #: Number of initial angles θ, evenly spaced in [theta_min, theta_max] (radians).
    angles: int = 100
    theta_min: float = 0.005
    theta_max: float = 0.8
    #: Width n of the one hidden layer.
    width: int = 1024
    #: Root seed (angle i draws from child i of ``SeedSequence(seed).spawn(angles)``).
    seed: int = 3
    #: Whether this is the smaller ``--quick`` setup (said in the report).
    quick: bool = False

    @classmethod
    def quick_config(cls) -> Fig2Config:
        """Return a smaller setup (2000 networks × 25 angles) that runs in seconds."""
        return cls(networks=2000, angles=25, quick=True)

    def replace(self, **changes: Any) -> Fig2Config:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise DepthscopeError for an impossible setup."""
        if self.networks < 10 or self.angles < 2 or self.width < 2:
            raise DepthscopeError("fig2 needs ≥ 10 networks, ≥ 2 angles and width ≥ 2.")
        if not 0.0 < self.theta_min < self.theta_max < math.pi:
            raise DepthscopeError("fig2 needs 0 < theta_min < theta_max < π.")


def variance_band(values: NDArray[np.float64], level: float = LEVEL) -> dict[str, float]:
    """Sample variance with an asymptotic confidence band valid for any law with 4 moments.

    SE(s²) = √((m₄ − s⁴)/N), m₄ the fourth central moment; band s² ± z SE.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    dev = x - x.mean()
    var = float(dev @ dev / (n - 1))
    m4 = float(np.mean(dev**4))
    se = math.sqrt(max(m4 - var**2, 0.0) / n)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return {"var": var, "se": se, "lo": var - z * se, "hi": var + z * se}


def compute_fig2(config: Fig2Config, *, progress: Any = None) -> dict[str, Any]:
    """Simulate one layer at every angle and compare with the predictors (JSON-ready dict).

    Returns
    -------
    dict
        ``theta``; ``monte_carlo``: per angle ``drop_mean``, ``drop_lo``, ``drop_hi`` (99% t
        band), ``var``, ``var_lo``, ``var_hi`` (99% asymptotic band), ``dead_fraction``;
        ``drop_predictors`` / ``var_predictors``: name → per-angle values; ``inside``:
        name → number of angles whose prediction lies inside the band.
    """
    config.validate()
    n = config.width
    theta = np.linspace(config.theta_min, config.theta_max, config.angles)
    x0 = 2.0 * np.log(np.sin(theta))
    children = np.random.SeedSequence(config.seed).spawn(config.angles)
    t = float(stats.t.ppf(0.5 + LEVEL / 2, config.networks - 1))
    mc: dict[str, list[float]] = {
        k: []
        for k in ("drop_mean", "drop_lo", "drop_hi", "var", "var_lo", "var_hi", "dead_fraction")
    }
    markov_mean, markov_var = [], []
    for i, th in enumerate(theta):
        res = simulate(
            [n], float(th), n_networks=config.networks, rng=np.random.default_rng(children[i])
        )
        assert res.ln_sin2 is not None
        x1 = res.ln_sin2[1][np.isfinite(res.ln_sin2[1])]
        drop = x0[i] - x1
        half = t * drop.std(ddof=1) / math.sqrt(drop.size)
        mc["drop_mean"].append(float(drop.mean()))
        mc["drop_lo"].append(float(drop.mean() - half))
        mc["drop_hi"].append(float(drop.mean() + half))
        vb = variance_band(x1)
        mc["var"].append(vb["var"])
        mc["var_lo"].append(vb["lo"])
        mc["var_hi"].append(vb["hi"])
        mc["dead_fraction"].append(float(res.dead_fraction[1]))
        p = predict([n], float(th))
        markov_mean.append(float(p.mean[1]))
        markov_var.append(float(p.sd[1] ** 2))
        if progress is not None:
            progress(i + 1, config.angles)
    drop_preds = {
        "theorem1": x0 - mu(theta, n),
        "linear": 2.0 / (3.0 * math.pi) * theta + float(rho(n)),
        "infinite": x0 - 2.0 * np.log(np.sin(infinite_width_map(theta))),
        "markov": x0 - np.asarray(markov_mean),
    }
    var_preds = {
        "theorem1": sigma2(theta, n),
        "approx2_beta2": np.full(theta.shape, 8.0 * n / (n + 5.0) ** 2),
        "markov": np.asarray(markov_var),
    }
    arrays = {k: np.asarray(v) for k, v in mc.items()}
    inside = {
        "drop": {
            k: int(np.sum((v >= arrays["drop_lo"]) & (v <= arrays["drop_hi"])))
            for k, v in drop_preds.items()
        },
        "var": {
            k: int(np.sum((v >= arrays["var_lo"]) & (v <= arrays["var_hi"])))
            for k, v in var_preds.items()
        },
    }
    rel = {k: float(np.max(np.abs(v / arrays["var"] - 1.0))) for k, v in var_preds.items()}
    return {
        "experiment": "Jakub & Nica (arXiv:2302.09712) Figure 2",
        "configuration": asdict(config),
        "level": LEVEL,
        "theta": theta,
        "monte_carlo": arrays,
        "drop_predictors": drop_preds,
        "var_predictors": var_preds,
        "inside": inside,
        "var_max_relative_error": rel,
    }


DROP_LABELS = {
    "theorem1": "Theorem 1: ln sin²θ − μ(θ, n)",
    "linear": "linear: (2/(3π))θ + ρ(n)",
    "infinite": "infinite-width rule",
    "markov": "depthscope markov",
}
VAR_LABELS = {
    "theorem1": "Theorem 1: σ²(θ, n)",
    "approx2_beta2": "Approximation 2: β² = 8n/(n+5)²",
    "markov": "depthscope markov",
}
_COLOR_KEYS = {
    "theorem1": "approx1",
    "linear": "linear",
    "infinite": "infinite",
    "markov": "markov",
    "approx2_beta2": "approx2",
}


def fig2_report(results: dict[str, Any], duration_s: float | None = None) -> str:
    """``report.md``: which predictor lies inside the 99% band at how many angles."""
    cfg = results["configuration"]
    k = cfg["angles"]
    mc = results["monte_carlo"]
    lines = [
        "# Figure 2 of Jakub & Nica (arXiv:2302.09712), reproduced",
        "",
        f"Setup: {cfg['networks']} one-layer ReLU networks of width {cfg['width']} at each of "
        f"{k} angles θ = linspace({cfg['theta_min']}, {cfg['theta_max']}) (the paper does not "
        f"state the spacing); exact Gram-chain simulation, seed {cfg['seed']}"
        + (" — **quick run, not the paper's size**" if cfg["quick"] else "")
        + ". Bands: 99% (t band for the mean; asymptotic band s² ± 2.58·√((m₄ − s⁴)/N) for "
        "the variance, valid for non-Gaussian laws).",
        "",
        f"Dead layers: maximum fraction {max(mc['dead_fraction']):.4g}.",
        "",
        "## (a) mean drop E[ln sin²θ − ln sin²θ₁]: angles with the prediction inside the band",
        "",
        "| predictor | inside / angles |",
        "|---|---|",
    ]
    for name, count in results["inside"]["drop"].items():
        lines.append(f"| {DROP_LABELS[name]} | {count} / {k} |")
    lines += [
        "",
        "## (b) Var[ln sin²θ₁]: angles inside the band, largest relative error",
        "",
        "| predictor | inside / angles | largest relative error |",
        "|---|---|---|",
    ]
    for name, count in results["inside"]["var"].items():
        lines.append(
            f"| {VAR_LABELS[name]} | {count} / {k} | "
            f"{results['var_max_relative_error'][name]:.3f} |"
        )
    center = np.asarray(mc["drop_mean"])
    infinite_offset = float(np.mean(np.asarray(results["drop_predictors"]["infinite"]) - center))
    linear_end = float(np.asarray(results["drop_predictors"]["linear"])[-1] - center[-1])
    best_drop = max(results["inside"]["drop"], key=results["inside"]["drop"].__getitem__)
    best_var = max(results["inside"]["var"], key=results["inside"]["var"].__getitem__)
    lines += [
        "",
        "## In plain words",
        "",
        f"* Mean drop: {DROP_LABELS[best_drop]} lies inside the 99% band most often "
        f"({results['inside']['drop'][best_drop]} of {k} angles). The infinite-width rule, "
        f"which has no finite-width term (ρ(n) = {float(rho(cfg['width'])):.4f}), is inside at "
        f"{results['inside']['drop']['infinite']} of {k} angles (mean offset "
        f"{infinite_offset:+.4f}); the linear approximation, a small-θ expansion, at "
        f"{results['inside']['drop']['linear']} of {k} (offset at θ = {cfg['theta_max']}: "
        f"{linear_end:+.4f}).",
        f"* Variance: {VAR_LABELS[best_var]} is inside the band most often "
        f"({results['inside']['var'][best_var]} of {k}); Theorem 1's σ² is off by up to "
        f"{100 * results['var_max_relative_error']['theorem1']:.1f}% (it is exact only to "
        "O(1/n)).",
        "* With this many networks the bands are narrow: a predictor that is right to O(1/n) "
        "can fall outside them; the counts say how often, not whether the error matters.",
    ]
    if duration_s is not None:
        lines.append(f"* Run time: {duration_s:.1f} s on this machine (shared, indicative only).")
    lines += [
        "",
        "Files: `fig2.png`/`fig2.svg`, `results.json`, `per_angle.csv`, `manifest.json`.",
        "",
    ]
    return "\n".join(lines)


@styled
def plot_fig2(results: dict[str, Any]) -> Figure:
    """Draw Figure 2 (top: values with bands; bottom: prediction − Monte Carlo)."""
    theta = np.asarray(results["theta"])
    mc = results["monte_carlo"]
    cfg = results["configuration"]
    fig = new_figure(figsize=(12.5, 7.2), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, gridspec_kw={"height_ratios": [2.2, 1.0]})
    panels = (
        (
            "drop",
            "drop_mean",
            "drop_lo",
            "drop_hi",
            results["drop_predictors"],
            DROP_LABELS,
            "(a) one-layer mean drop E[ln sin²θ − ln sin²θ₁]",
        ),
        (
            "var",
            "var",
            "var_lo",
            "var_hi",
            results["var_predictors"],
            VAR_LABELS,
            "(b) one-layer variance Var[ln sin²θ₁]",
        ),
    )
    for col, (key, mid, lo, hi, preds, labels, title) in enumerate(panels):
        ax, rx = axes[0][col], axes[1][col]
        center = np.asarray(mc[mid])
        ax.fill_between(
            theta,
            mc[lo],
            mc[hi],
            color="0.6",
            alpha=0.5,
            lw=0,
            label=f"Monte Carlo, {int(100 * results['level'])}% band",
        )
        ax.plot(theta, center, color="k", lw=0.8)
        rx.fill_between(
            theta,
            np.asarray(mc[lo]) - center,
            np.asarray(mc[hi]) - center,
            color="0.6",
            alpha=0.5,
            lw=0,
        )
        for name, values in preds.items():
            style = "--" if name in ("infinite", "approx2_beta2") else "-"
            count = results["inside"][key][name]
            ax.plot(
                theta,
                values,
                color=COLORS[_COLOR_KEYS[name]],
                ls=style,
                lw=1.6,
                label=f"{labels[name]} (inside at {count}/{len(theta)})",
            )
            rx.plot(
                theta,
                np.asarray(values) - center,
                color=COLORS[_COLOR_KEYS[name]],
                ls=style,
                lw=1.4,
            )
        ax.set_title(title)
        ax.legend(loc="upper left" if key == "drop" else "lower left", frameon=False, fontsize=8)
        rx.axhline(0, color="0.3", lw=0.6)
        rx.set_xlabel("initial angle θ (rad)")
        rx.set_ylabel("prediction − Monte Carlo")
        spread = float(np.max(np.asarray(mc[hi]) - center))
        diff = np.abs(np.asarray(preds.get("markov", center)) - center)
        top = max(5 * spread, 3 * float(diff.max()))
        rx.set_ylim(-top, top)
    axes[0][0].set_ylabel("mean drop (natural log units)")
    axes[0][1].set_ylabel("variance (natural log units²)")
    fig.suptitle(
        f"One ReLU layer of width {cfg['width']}: {cfg['networks']} networks at each of "
        f"{cfg['angles']} angles"
    )
    return fig


def _csv(results: dict[str, Any]) -> str:
    mc = results["monte_carlo"]
    cols = [
        "theta",
        *mc.keys(),
        *(f"drop_{k}" for k in results["drop_predictors"]),
        *(f"var_{k}" for k in results["var_predictors"]),
    ]
    rows = [",".join(cols)]
    for i, th in enumerate(results["theta"]):
        cells = [
            th,
            *(mc[k][i] for k in mc),
            *(v[i] for v in results["drop_predictors"].values()),
            *(v[i] for v in results["var_predictors"].values()),
        ]
        rows.append(",".join(f"{float(c):.8g}" for c in cells))
    return "\n".join(rows) + "\n"


def run_fig2(config: Fig2Config, out: str | Path, **options: Unpack[RunOptions]) -> dict[str, Any]:
    """Run Figure 2 end to end into ``out``: figure, ``results.json``, CSV, report; return it."""
    config.validate()

    def compute(progress: Progress) -> dict[str, Any]:
        progress.stage(
            f"simulating {config.networks} networks at each of {config.angles} angles "
            f"(width {config.width})"
        )
        results = compute_fig2(config, progress=progress.counter("angles"))
        results["simulation_seconds"] = round(progress.elapsed, 2)
        return results

    def render(results: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return {
            "fig2": plot_fig2(results),
            "results.json": results,
            "per_angle.csv": _csv(results),
            "report.md": fig2_report(results, results["simulation_seconds"]),
        }

    provenance = Provenance((run_fig2, config, str(out)), config.seed, asdict(config))
    return run_experiment("fig2", out, compute, render, provenance, **options)
