"""Matplotlib access for the reproductions: imported lazily, Agg backend, one house style.

``import depthscope`` never imports matplotlib; only drawing a figure does, and a missing
installation raises :class:`~depthscope.DepthscopeError` naming the ``plot`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import DepthscopeError

__all__ = ["COLORS", "pyplot", "save_figure"]

#: Colours of the curves, the same in every figure (colour-blind-safe Okabe-Ito palette).
COLORS = {
    "mc": "#000000",
    "approx1": "#E69F00",
    "approx2": "#56B4E9",
    "infinite": "#D55E00",
    "markov": "#009E73",
    "mean": "#CC79A7",
    "linear": "#0072B2",
    "extra": "#999999",
}

_STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "depthscope",
}


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` with the Agg backend and the house style applied.

    Raises
    ------
    DepthscopeError
        If matplotlib is not installed (``pip install 'depthscope[plot]'``).
    """
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise DepthscopeError(
            "drawing figures needs matplotlib: install the 'plot' extra "
            "(pip install 'depthscope[plot]', or bash scripts/setup.sh plot)."
        ) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(_STYLE)  # type: ignore[arg-type]
    return plt


def save_figure(fig: Any, directory: Path, stem: str) -> list[str]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` in ``directory``; return the file names."""
    names: Sequence[str] = (f"{stem}.png", f"{stem}.svg")
    for name in names:
        fig.savefig(directory / name, bbox_inches="tight", metadata=_metadata(name))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return list(names)


def _metadata(name: str) -> dict[str, Any]:
    """Reproducible files: no creation date in the PNG/SVG metadata."""
    if name.endswith(".svg"):
        return {"Date": None}
    return {"Software": "depthscope (matplotlib)"}
