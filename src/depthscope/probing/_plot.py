"""Figure of one or more probes across depth: measured ln sin²θ beside the theory band."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import DepthscopeError
from .._optional import import_matplotlib_figure
from ._result import ProbeResult
from ._theory import COVERED

__all__ = ["plot_probe"]

#: The effective dimensions drawn on the right: metric, marker style, marker size, legend.
_DIMENSIONS = (
    ("erank_centered", "o-", 4, "erank centered"),
    ("numerical_rank", "s--", 3, "numerical rank τ={tolerance:g}"),
)


def plot_probe(
    results: ProbeResult | Sequence[ProbeResult],
    labels: Sequence[str] | None = None,
    *,
    title: str | None = None,
) -> Any:
    """Plot measured ln sin²θ and effective dimension across depth, with the theory band.

    Parameters
    ----------
    results : ProbeResult or sequence of ProbeResult
        Probes of the same model (for example at initialization and after training); the
        x axis is the row index of the first one, labelled with its layer names.
    labels : sequence of str, optional
        Legend label per result (default ``"probe 0"``, ...).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Left: ln sin²θ per layer, with the predicted mean and central 95% band of each result
        where the theory covers the layer (a theory band is drawn once per distinct
        prediction). Right: centered entropy effective rank (solid) and numerical rank at τ
        (dashed). Made without pyplot, so no display or backend is needed; save it with
        ``fig.savefig("probe.png")``.
    """
    items = [results] if isinstance(results, ProbeResult) else list(results)
    if not items:
        raise DepthscopeError("plot_probe needs at least one ProbeResult.")
    names = labels if labels is not None else [f"probe {k}" for k in range(len(items))]
    if len(names) != len(items):
        raise DepthscopeError(f"{len(names)} labels for {len(items)} results.")
    figure = import_matplotlib_figure()(figsize=(10.0, 4.0), layout="constrained")
    ax_angle, ax_dim = figure.subplots(1, 2)
    colors = [f"C{k}" for k in range(10)]
    drawn_bands: list[np.ndarray] = []
    for k, (res, label) in enumerate(zip(items, names, strict=True)):
        color = colors[k % len(colors)]
        x = np.arange(len(res.layers))
        covered = np.array([s == COVERED for s in res.theory.status])
        if covered.any():
            mean = np.where(covered, res.theory.mean, np.nan)
            if not any(np.allclose(mean, b, equal_nan=True) for b in drawn_bands):
                drawn_bands.append(mean)
                ax_angle.fill_between(
                    x,
                    res.theory.low,
                    res.theory.high,
                    where=covered,
                    color=color,
                    alpha=0.15,
                    label=f"theory 95% band ({label})",
                )
                ax_angle.plot(x, mean, color=color, lw=1, ls=":", label=f"theory mean ({label})")
        ax_angle.plot(x, res.ln_sin2, "o-", color=color, ms=4, label=f"measured ({label})")
        for metric, style, size, legend in _DIMENSIONS:
            name = legend.format(tolerance=res.tolerance)
            ax_dim.plot(
                x, res.metrics[metric], style, color=color, ms=size, label=f"{name} ({label})"
            )
    first = items[0]
    for ax in (ax_angle, ax_dim):
        ax.set_xticks(np.arange(len(first.layers)))
        ax.set_xticklabels(first.layers, rotation=60 if len(first.layers) > 8 else 0, fontsize=8)
        ax.set_xlabel("probed layer")
        ax.grid(alpha=0.3)
    ax_angle.set_ylabel(f"ln sin²θ (inputs {first.pair[0]}, {first.pair[1]})")
    ax_dim.set_ylabel(f"effective dimension of m = {first.n_inputs} inputs")
    ax_angle.legend(fontsize=7)
    ax_dim.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    return figure
