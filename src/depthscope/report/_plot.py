"""Figures of the reports: matplotlib imported lazily, object-oriented, one house style.

One convention everywhere: a drawing function decorated with :func:`styled` builds a
:class:`matplotlib.figure.Figure` from :func:`new_figure` (never ``pyplot``, no global state:
the house style is applied with ``matplotlib.rc_context`` while drawing and saving) and returns
it; :func:`save_figure` writes it. ``import depthscope`` never imports matplotlib; a missing
installation raises :class:`~depthscope.DepthscopeError` naming the ``plot`` extra.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .._optional import import_matplotlib

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["COLORS", "new_figure", "save_figure", "styled"]

P = ParamSpec("P")
R = TypeVar("R")

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


def _matplotlib() -> Any:
    return import_matplotlib("drawing figures")


def styled(draw: Callable[P, R]) -> Callable[P, R]:
    """Run a drawing function with the house style (``rc_context``: nothing global changes)."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _matplotlib().rc_context(_STYLE):
            return draw(*args, **kwargs)

    return wrapper


def new_figure(**kwargs: Any) -> Figure:
    """Return a new :class:`matplotlib.figure.Figure` (``kwargs`` as for ``Figure``).

    Raises
    ------
    DepthscopeError
        If matplotlib is not installed (``pip install 'depthscope[plot]'``).
    """
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure(**kwargs)


@styled
def save_figure(fig: Figure, directory: Path, stem: str) -> list[str]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` in ``directory``; return the file names."""
    names = [f"{stem}.png", f"{stem}.svg"]
    for name in names:
        fig.savefig(directory / name, bbox_inches="tight", metadata=_metadata(name))
    return names


def _metadata(name: str) -> dict[str, Any]:
    """Reproducible files: no creation date in the PNG/SVG metadata."""
    if name.endswith(".svg"):
        return {"Date": None}
    return {"Software": "depthscope (matplotlib)"}
