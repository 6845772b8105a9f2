"""Figure 1 of Jakub & Nica: the law of ln sin²θ_ℓ through 31 ReLU layers of width 256.

``compute_fig1`` simulates the paper's setup with the Gram chain, evaluates every predictor
and the two Kolmogorov-Smirnov variants, and returns a :class:`Fig1Result`; ``fig1_outputs``
renders the figure, ``results.json``, ``per_layer.csv``, ``report.md`` and the sample, which
``run_fig1`` writes through :func:`depthscope.report._output.run_experiment`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ..report._output import Progress, Provenance, RunOptions, run_experiment
from ..report._plot import COLORS, new_figure, styled
from ..simulation._simulate import SimulationResult, simulate
from ..theory._predict import Prediction, predict
from ._stats import ks_lenient, ks_one_sample, mean_band

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path
    from typing import Unpack

    from matplotlib.figure import Figure

__all__ = ["Fig1Config", "Fig1Result", "compute_fig1", "fig1_outputs", "fig1_report", "run_fig1"]

#: Predictors compared with the simulation, in the order they are reported.
PREDICTORS = ("approx1", "approx2", "infinite", "mean", "markov")
#: Predictors with a density, tested with the KS variants and drawn on the histograms.
DENSITY_PREDICTORS = ("approx2", "markov")
LABELS = {
    "approx1": "Approximation 1 (mean path)",
    "approx2": "Approximation 2 (density)",
    "infinite": "infinite-width rule",
    "mean": "Algorithm 1 (Theorem-1 μ iterated)",
    "markov": "depthscope markov (default)",
}
#: Agreement threshold for a mean: |prediction − Monte Carlo mean| ≤ Z_AGREE standard errors.
Z_AGREE = 3.0
#: Significance level at which a KS p-value counts as a rejection.
KS_LEVEL = 0.05
#: Approximate values read off the published figure (``docs/theory/experiments.md``, Figure 1).
PUBLISHED = {
    "layer0_mean": -4.61,
    "layer30_mc_mean": -5.40,
    "layer30_infinite": -5.17,
    "layer30_mc_sd": 0.85,
    "ks_pvalue_layer1_lenient": 0.987,
    "ks_pvalue_layer30_lenient": 0.186,
}


@dataclass(frozen=True)
class Fig1Config:
    """Setup of Figure 1 (defaults: the paper's).

    Attributes
    ----------
    networks : int
        Number of independent networks N.
    width : int
        Width of every hidden layer.
    depth : int
        Number of weight layers L; layers 0..L are reported (0 = the inputs).
    theta0 : float
        Angle between the two inputs, radians.
    input_dim : int
        Input dimension n_0 of the paper (x_α = e_1, x_β = (cos θ0, sin θ0, 0, ...)); the Gram
        chain's law of the angles does not depend on it.
    seed : int
        Root seed of the simulation.
    histogram_layers : tuple of int
        Layers whose histograms and KS tests are reported.
    """

    networks: int = 5000
    width: int = 256
    depth: int = 31
    theta0: float = 0.1
    input_dim: int = 256
    seed: int = 2
    histogram_layers: tuple[int, ...] = (1, 30)

    def validate(self) -> None:
        """Raise DepthscopeError for an impossible configuration."""
        if self.networks < 2:
            raise DepthscopeError(f"--networks {self.networks} must be at least 2.")
        if self.depth < 1 or self.width < 2:
            raise DepthscopeError("fig1 needs depth ≥ 1 and width ≥ 2.")
        bad = [k for k in self.histogram_layers if not 1 <= k <= self.depth]
        if bad:
            raise DepthscopeError(f"histogram layers {bad} are outside 1..{self.depth}.")


@dataclass(frozen=True)
class Fig1Result:
    """Simulation, predictions and statistics of Figure 1.

    Attributes
    ----------
    config : Fig1Config
    simulation : SimulationResult
        ``ln_sin2`` has shape (depth+1, networks).
    predictions : dict of str to Prediction
        One per name in :data:`PREDICTORS`.
    results : dict
        JSON-ready numbers (see :func:`compute_fig1`).
    """

    config: Fig1Config
    simulation: SimulationResult
    predictions: dict[str, Prediction] = field(repr=False)
    results: dict[str, Any] = field(repr=False)


def sd_standard_error(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the standard error of the sample sd over the last axis (delta method, any law).

    SE(s) ≈ √(m₄ − s⁴) / (2 s √n) with m₄ the fourth central moment; NaN entries ignored.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    n = np.maximum(finite.sum(axis=-1), 2)
    mean = np.where(finite, v, 0.0).sum(axis=-1) / n
    dev = np.where(finite, v - mean[..., None], 0.0)
    m2 = (dev**2).sum(axis=-1) / n
    m4 = (dev**4).sum(axis=-1) / n
    s = np.sqrt(m2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.sqrt(np.maximum(m4 - m2**2, 0.0)) / (2.0 * s * np.sqrt(n)))


def compute_fig1(
    config: Fig1Config | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Fig1Result:
    """Simulate Figure 1's setup and compare it with every predictor.

    Parameters
    ----------
    config : Fig1Config, optional
        The setup (default: the paper's, 5000 networks).
    progress : callable, optional
        ``progress(done, total)`` passed to the simulator.

    Returns
    -------
    Fig1Result
        ``results`` holds ``layers``; ``monte_carlo`` (per layer: ``mean``, ``sd``, ``se`` of
        the mean, ``sd_se``, ``n_used``, ``dead_fraction``, ``collapsed_fraction``);
        ``predictors`` (per method: ``mean``, ``sd``, ``z`` = (prediction − MC mean)/SE);
        ``ks`` (per histogram layer and density predictor, the ``one_sample`` and ``lenient``
        tests); ``agreement`` (per predictor: max |z| over layers ≥ 1, layers within
        ±Z_AGREE SE, sd ratio range); ``published`` (the paper's approximate values).

    Notes
    -----
    The simulation is the exact Gram chain for iid N(0, 2/n) weights
    (``docs/theory/angle-theory.md`` §8), so the inputs' dimension does not enter. Layer ℓ of
    every prediction (widths [n]·L, exact convention) is the simulator's layer ℓ.
    """
    config = config or Fig1Config()
    config.validate()
    widths = [config.width] * config.depth
    sim = simulate(
        widths,
        config.theta0,
        n_networks=config.networks,
        rng=config.seed,
        sampler="gram",
        progress=progress,
    )
    assert sim.ln_sin2 is not None
    x = sim.ln_sin2
    finite = np.where(np.isfinite(x), x, np.nan)
    band = mean_band(finite)
    mc = {
        "mean": band["mean"],
        "sd": band["sd"],
        "se": band["se"],
        "sd_se": sd_standard_error(finite),
        "n_used": band["n"].astype(int),
        "dead_fraction": sim.dead_fraction,
        "collapsed_fraction": sim.collapsed_fraction,
    }
    predictions = {m: predict(widths, config.theta0, method=m) for m in PREDICTORS}
    preds: dict[str, Any] = {}
    agreement: dict[str, Any] = {}
    deep = slice(1, None)
    for name, p in predictions.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (p.mean - band["mean"]) / band["se"]
        preds[name] = {"label": LABELS[name], "mean": p.mean, "sd": p.sd, "z": z}
        entry: dict[str, Any] = {
            "max_abs_z": float(np.nanmax(np.abs(z[deep]))),
            "layers_within": int(np.sum(np.abs(z[deep]) <= Z_AGREE)),
            "layers_compared": int(config.depth),
        }
        if name in DENSITY_PREDICTORS:
            ratio = p.sd[deep] / band["sd"][deep]
            sd_z = (p.sd[deep] - band["sd"][deep]) / mc["sd_se"][deep]
            entry.update(
                sd_ratio_min=float(np.nanmin(ratio)),
                sd_ratio_max=float(np.nanmax(ratio)),
                sd_max_abs_z=float(np.nanmax(np.abs(sd_z))),
                sd_layers_within=int(np.sum(np.abs(sd_z) <= Z_AGREE)),
            )
        agreement[name] = entry
    ks: dict[str, Any] = {}
    for layer in config.histogram_layers:
        ks[str(layer)] = {}
        for name in DENSITY_PREDICTORS:
            p = predictions[name]

            def cdf(t: NDArray[np.float64], p: Prediction = p, layer: int = layer) -> Any:
                return p.cdf(layer, t)

            ks[str(layer)][name] = {
                "one_sample": ks_one_sample(x[layer], cdf),
                "lenient": ks_lenient(x[layer], cdf),
            }
    results = {
        "experiment": "Jakub & Nica (arXiv:2302.09712) Figure 1",
        "quantity": "ln sin²θ_ℓ (natural log, dimensionless); layer 0 = inputs",
        "configuration": asdict(config),
        "layers": np.arange(config.depth + 1),
        "monte_carlo": mc,
        "predictors": preds,
        "ks": ks,
        "ks_level": KS_LEVEL,
        "agreement_threshold_se": Z_AGREE,
        "agreement": agreement,
        "published": PUBLISHED,
    }
    return Fig1Result(config=config, simulation=sim, predictions=predictions, results=results)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _verdict_mean(z: float) -> str:
    return "matches" if abs(z) <= Z_AGREE else "does not match"


def fig1_report(result: Fig1Result) -> str:
    """``report.md``: what matched and what did not, in plain words with the numbers."""
    cfg = result.config
    res = result.results
    mc = res["monte_carlo"]
    preds = res["predictors"]
    last = max(cfg.histogram_layers)
    first = min(cfg.histogram_layers)
    dead = float(np.max(mc["dead_fraction"]))
    lines = [
        "# Figure 1 of Jakub & Nica (arXiv:2302.09712), reproduced",
        "",
        f"Setup: {cfg.networks} independent bias-free ReLU networks, {cfg.depth} weight layers of "
        f"width {cfg.width} (He-normal weights, variance 2/fan-in), two inputs at angle "
        f"θ₀ = {cfg.theta0} (input dimension {cfg.input_dim} in the paper; the exact Gram-chain "
        f"simulation does not depend on it), seed {cfg.seed}. Quantity: ln sin²θ_ℓ (natural log) "
        f"at layers 0…{cfg.depth}.",
        "",
        f"Agreement rule: a predicted mean *matches* when it lies within {Z_AGREE:g} standard "
        f"errors (SE = sd/√N) of the Monte Carlo mean; a KS test *rejects* at p < {KS_LEVEL}.",
        "",
        f"Dead layers (an input with no active unit, angle undefined): maximum fraction {dead:.4f}"
        + (" — none occurred." if dead == 0 else " — excluded from the means and counted."),
        "",
        "## Means and spreads at the histogram layers",
        "",
        "| layer | quantity | Monte Carlo | " + " | ".join(PREDICTORS) + " |",
        "|---|---|---|" + "---|" * len(PREDICTORS),
    ]
    for layer in cfg.histogram_layers:
        row = [
            f"| {layer} | mean | {mc['mean'][layer]:.4f} ± {mc['se'][layer]:.4f} (SE) |",
            *(
                f" {preds[m]['mean'][layer]:.4f} ({preds[m]['z'][layer]:+.1f} SE) |"
                for m in PREDICTORS
            ),
        ]
        lines.append("".join(row))
        row = [
            f"| {layer} | sd | {mc['sd'][layer]:.4f} ± {mc['sd_se'][layer]:.4f} |",
            *(
                f" {preds[m]['sd'][layer]:.4f} |" if preds[m]["sd"][layer] > 0 else " (point) |"
                for m in PREDICTORS
            ),
        ]
        lines.append("".join(row))
    lines += ["", "## In plain words", ""]
    for name in PREDICTORS:
        agree = res["agreement"][name]
        z_last = float(preds[name]["z"][last])
        text = (
            f"* **{LABELS[name]}** {_verdict_mean(z_last)} the Monte Carlo mean at layer {last} "
            f"({preds[name]['mean'][last]:.3f} vs {mc['mean'][last]:.3f}, {z_last:+.1f} SE); "
            f"over layers 1…{cfg.depth} its mean is within {Z_AGREE:g} SE at "
            f"{agree['layers_within']} of {agree['layers_compared']} layers "
            f"(largest |difference| {agree['max_abs_z']:.1f} SE)."
        )
        if name in DENSITY_PREDICTORS:
            text += (
                f" Its sd is {agree['sd_ratio_min']:.3f}–{agree['sd_ratio_max']:.3f} times the "
                f"measured one (within {Z_AGREE:g} SE of it at {agree['sd_layers_within']} of "
                f"{agree['layers_compared']} layers)."
            )
        lines.append(text)
    lines += [
        "",
        "## Kolmogorov-Smirnov tests",
        "",
        "Two variants, both against the predicted CDF at that layer:",
        "",
        "* **one-sample** (the standard test): `scipy.stats.kstest(sample, predicted_cdf)`.",
        "* **lenient** (the paper's variant, docs/theory/angle-theory.md §7): the ECDF heights "
        "and the predicted CDF values at the sorted sample points are passed to "
        "`scipy.stats.ks_2samp` as if they were two samples. It answers a weaker question and "
        "gives larger p-values for the same discrepancy; the paper's exact evaluation points are "
        "not known.",
        "",
        "| layer | predictor | one-sample D | one-sample p | lenient D | lenient p |",
        "|---|---|---|---|---|---|",
    ]
    for layer, per in res["ks"].items():
        for name, tests in per.items():
            one, len_ = tests["one_sample"], tests["lenient"]
            lines.append(
                f"| {layer} | {name} | {one['statistic']:.4f} | {_fmt_p(one['pvalue'])} | "
                f"{len_['statistic']:.4f} | {_fmt_p(len_['pvalue'])} |"
            )
    lines.append("")
    for layer, per in res["ks"].items():
        for name, tests in per.items():
            one, len_ = tests["one_sample"]["pvalue"], tests["lenient"]["pvalue"]
            said = "rejects" if one < KS_LEVEL else "does not reject"
            lines.append(
                f"* Layer {layer}, {name}: the one-sample test {said} the predicted law "
                f"(p = {_fmt_p(one)}); the lenient variant gives p = {_fmt_p(len_)}."
            )
    pub = res["published"]
    lines += [
        "",
        "## Against the published figure (approximate values read from the paper)",
        "",
        f"* Layer 0: {mc['mean'][0]:.3f} (published ≈ {pub['layer0_mean']}).",
    ]
    if cfg.depth >= 30:
        lines += [
            f"* Layer 30 Monte Carlo mean {mc['mean'][30]:.3f} ± {mc['se'][30]:.3f} "
            f"(published ≈ {pub['layer30_mc_mean']}); sd {mc['sd'][30]:.3f} "
            f"(published ≈ {pub['layer30_mc_sd']}).",
            f"* Layer 30 infinite-width rule {preds['infinite']['mean'][30]:.3f} "
            f"(published ≈ {pub['layer30_infinite']}).",
        ]
    if first == 1 and last == 30:
        lines.append(
            f"* Published KS p-values (lenient variant, Approximation 2): "
            f"{pub['ks_pvalue_layer1_lenient']} at layer 1, {pub['ks_pvalue_layer30_lenient']} at "
            f"layer 30; ours: {_fmt_p(res['ks']['1']['approx2']['lenient']['pvalue'])} and "
            f"{_fmt_p(res['ks']['30']['approx2']['lenient']['pvalue'])} (a different random "
            "sample: p-values of a correct law vary uniformly between runs)."
        )
    lines += [
        "",
        "Files: `fig1.png`, `fig1.svg` (figure), `results.json` (all numbers), `per_layer.csv`, "
        "`samples.npz` (ln sin²θ per layer and network, NaN where dead), `manifest.json`.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Figure and files
# --------------------------------------------------------------------------------------------
@styled
def plot_fig1(result: Fig1Result) -> Figure:
    """Draw Figure 1 (left: per-layer mean ± sd; right: histograms)."""
    cfg, res = result.config, result.results
    mc, preds = res["monte_carlo"], result.predictions
    layers = np.arange(cfg.depth + 1)
    fig = new_figure(figsize=(13.0, 6.2), layout="constrained")
    outer = fig.add_gridspec(1, 2, width_ratios=[1.55, 1.0])
    left = outer[0].subgridspec(2, 1, height_ratios=[3.0, 1.2])
    right = outer[1].subgridspec(len(cfg.histogram_layers), 1)
    ax = fig.add_subplot(left[0])
    a2 = preds["approx2"]
    ax.fill_between(
        layers,
        a2.mean - a2.sd,
        a2.mean + a2.sd,
        color=COLORS["approx2"],
        alpha=0.25,
        lw=0,
        label="Approximation 2: mean ± sd",
    )
    ax.plot(layers, preds["approx1"].mean, color=COLORS["approx1"], lw=2, label=LABELS["approx1"])
    ax.plot(
        layers,
        preds["infinite"].mean,
        color=COLORS["infinite"],
        ls="--",
        lw=1.8,
        label=LABELS["infinite"],
    )
    mk = preds["markov"]
    ax.plot(layers, mk.mean, color=COLORS["markov"], lw=1.3, label="depthscope markov: mean ± sd")
    for sign in (-1, 1):
        ax.plot(layers, mk.mean + sign * mk.sd, color=COLORS["markov"], lw=1.1, ls=":")
    ax.errorbar(
        layers,
        mc["mean"],
        yerr=mc["sd"],
        fmt="o",
        ms=3.5,
        color=COLORS["mc"],
        capsize=2,
        elinewidth=0.8,
        label=f"Monte Carlo ({cfg.networks} networks): mean ± sd",
        zorder=5,
    )
    ax.set_ylabel("ln sin²θ_ℓ (natural log, dimensionless)")
    ax.set_title(
        f"Angle between two inputs through {cfg.depth} ReLU layers of width {cfg.width}, "
        f"θ₀ = {cfg.theta0} rad"
    )
    ax.legend(loc="lower left", frameon=False)
    ax.tick_params(labelbottom=False)
    ax.set_xlim(-0.5, cfg.depth + 0.5)
    # Residual panel: each predicted mean minus the Monte Carlo mean, against ±2 SE.
    rx = fig.add_subplot(left[1], sharex=ax)
    rx.fill_between(
        layers, -2 * mc["se"], 2 * mc["se"], color="0.8", lw=0, label="Monte Carlo ±2 SE"
    )
    for name, style in (("approx1", "-"), ("approx2", "-"), ("markov", "-"), ("infinite", "--")):
        rx.plot(layers, preds[name].mean - mc["mean"], color=COLORS[name], ls=style, lw=1.5)
    top = 4 * float(np.nanmax(np.abs(preds["markov"].mean - mc["mean"])[1:]))
    top = max(top, 6 * float(np.nanmax(mc["se"])))
    rx.set_ylim(-top, top)
    off = preds["infinite"].mean[-1] - mc["mean"][-1]
    if abs(off) > top:
        rx.annotate(
            f"infinite-width rule: {off:+.2f} at layer {cfg.depth} (off scale)",
            xy=(0.99, 0.95 if off > 0 else 0.05),
            xycoords="axes fraction",
            ha="right",
            va="top" if off > 0 else "bottom",
            color=COLORS["infinite"],
            fontsize=8.5,
        )
    rx.axhline(0.0, color="0.4", lw=0.6)
    rx.set_xlabel("layer ℓ")
    rx.set_ylabel("prediction − MC mean")
    rx.legend(loc="lower left", frameon=False)
    for i, layer in enumerate(cfg.histogram_layers):
        hx = fig.add_subplot(right[i])
        sample = result.simulation.ln_sin2[layer]  # type: ignore[index]
        sample = sample[np.isfinite(sample)]
        hx.hist(
            sample,
            bins=60,
            density=True,
            color="0.75",
            edgecolor="0.55",
            lw=0.4,
            label=f"Monte Carlo (N = {sample.size})",
        )
        grid = np.linspace(
            sample.min() - 0.3 * sample.std(), sample.max() + 0.3 * sample.std(), 600
        )
        for name, style in (("approx2", "-"), ("markov", "--")):
            tests = res["ks"][str(layer)][name]
            hx.plot(
                grid,
                preds[name].density(layer, grid),
                color=COLORS[name],
                ls=style,
                lw=1.8,
                label=f"{'Approx. 2' if name == 'approx2' else 'markov'}: KS p = "
                f"{_fmt_p(tests['one_sample']['pvalue'])} "
                f"(lenient {_fmt_p(tests['lenient']['pvalue'])})",
            )
        hx.set_title(f"layer {layer}")
        hx.set_ylabel("density")
        hx.set_xlabel(f"ln sin²θ_{layer}")
        hx.legend(loc="upper left", frameon=False, fontsize=8)
        ymax = hx.get_ylim()[1]
        hx.set_ylim(0, ymax * 1.35)  # room for the legend above the histogram
    return fig


def _csv(result: Fig1Result) -> str:
    res = result.results
    mc, preds = res["monte_carlo"], res["predictors"]
    header = ["layer", "mc_mean", "mc_sd", "mc_se", "mc_sd_se", "n_used", "dead_fraction"]
    for name in PREDICTORS:
        header += [f"{name}_mean", f"{name}_sd"]
    rows = [",".join(header)]
    for i in res["layers"]:
        cells = [str(int(i))]
        cells += [f"{mc[k][i]:.6g}" for k in ("mean", "sd", "se", "sd_se")]
        cells += [str(int(mc["n_used"][i])), f"{mc['dead_fraction'][i]:.6g}"]
        for name in PREDICTORS:
            cells += [f"{preds[name]['mean'][i]:.6g}", f"{preds[name]['sd'][i]:.6g}"]
        rows.append(",".join(cells))
    return "\n".join(rows) + "\n"


def fig1_outputs(result: Fig1Result) -> dict[str, Any]:
    """Render the files of Figure 1: figure, ``results.json``, CSV, samples and report."""
    assert result.simulation.ln_sin2 is not None
    return {
        "fig1": plot_fig1(result),
        "results.json": result.results,
        "per_layer.csv": _csv(result),
        "samples.npz": {"ln_sin2": result.simulation.ln_sin2, "dead": result.simulation.dead},
        "report.md": fig1_report(result),
    }


def run_fig1(config: Fig1Config, out: str | Path, **options: Unpack[RunOptions]) -> Fig1Result:
    """Run Figure 1 end to end and write every file into ``out`` (see the module docstring)."""
    config.validate()

    def compute(progress: Progress) -> Fig1Result:
        progress.stage(
            f"simulating {config.networks} networks, {config.depth} layers of width {config.width}"
        )
        return compute_fig1(config, progress=progress.counter("networks"))

    def configuration(result: Fig1Result) -> dict[str, Any]:
        simulation = result.simulation.configuration()
        return {**asdict(config), "sampler": "gram", "simulation": simulation}

    provenance = Provenance((run_fig1, config, str(out)), config.seed, configuration)
    return run_experiment(
        "fig1", out, compute, lambda result, _: fig1_outputs(result), provenance, **options
    )
