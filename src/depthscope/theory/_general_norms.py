"""Bias-free GELU at He-like init: the Gram-state closure as a Gaussian sum cut along ln A − ln B.

At σ_w² ≈ 2 without bias, a GELU network's norms decay slowly while it is ReLU-like (q ≈ 1) and
geometrically once it is nearly linear (q → 0), and the two inputs' norms drift apart by orders
of magnitude (ln A − ln B has sd ≈ 3 at width 256, layer 50): one Gaussian on
z = (ln A, ln B, T) put X's sd 12-15% low at widths 32-512 (docs/theory/general-predictor.md).
Fitting mixtures to simulated clouds showed that slicing along ln A − ln B keeps one step right
(sd within 2%), and propagated it holds: the sum is cut after each layer into
:data:`N_NORM_SLICES` slices of ln A − ln B (mass, mean and covariance kept,
:func:`depthscope.theory._gaussian_sum.slice_mixture` on rotated coordinates), and each
component takes the single closure's step in a chart that names the smaller norm 'x'
(:class:`SmallerFirst`), so that the larger norm never comes out of a cancellation when the two
differ by many orders of magnitude.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._types import FloatArray
from ._gaussian_sum import slice_mixture

__all__ = ["NORM_SLICED", "N_NORM_SLICES", "SmallerFirst", "cut_norms", "takes_norm_slices"]

#: Plain bias-free layers of these φ above :data:`MIN_NORM_SLICED_SW2` take the sum here.
NORM_SLICED = ("gelu",)
#: Below it the single Gaussian meets the bar (GELU σ_w² = 1.5 at 1024: 3.3%) at a twentieth of
#: the cost; above it the networks split between q ≈ 1 and q → 0.
MIN_NORM_SLICED_SW2 = 1.5
#: Slices of ln A − ln B (GELU σ_w² = 2, width 256: sd 11.9% low at 6 slices, 8.4% at 8, 5.9%
#: at 16, 5.7% at 24; width 128: 19%, 15%, 9.0%, 8.5%; time ∝ slices).
N_NORM_SLICES = 16
#: z = (ln A, ln B, T) → w = ((ln A + ln B)/2, ln A − ln B, T) and back.
_ROTATE = np.array([[0.5, 0.5, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
_UNROTATE = np.linalg.inv(_ROTATE)
_SWAPPED = [1, 0, 2]  # z with x and y exchanged
Chart = Callable[..., Any]


def takes_norm_slices(name: str, sw2: float, sb2: float) -> bool:
    """Whether plain layers of φ ``name`` with σ_w² = ``sw2``, σ_b² = ``sb2`` take this sum."""
    return name in NORM_SLICED and sb2 == 0.0 and sw2 > MIN_NORM_SLICED_SW2 * (1.0 + 1e-12)


def cut_norms(
    weights: FloatArray, mean: FloatArray, cov: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cut the sum into :data:`N_NORM_SLICES` slices of ln A − ln B (masses normalised to 1)."""
    w, m, c = slice_mixture(weights, mean @ _ROTATE.T, _ROTATE @ cov @ _ROTATE.T, 1, N_NORM_SLICES)
    return w / w.sum(), m @ _UNROTATE.T, _UNROTATE @ c @ _UNROTATE.T


class SmallerFirst:
    """The chart z = (ln A, ln B, T) ↔ K̃ = (A, E, Δ) with the smaller norm as 'x'.

    Wraps a chart (``to_gram``, ``to_state``: :mod:`depthscope.theory._general_law`'s own):
    :meth:`to_gram` swaps x and y at the sigma points where ln A > ln B (T is symmetric in them)
    and records where; :meth:`to_state` maps the inner points of the same sigma points back and
    undoes the swap. B = A − 2E + Δ is then always the larger norm (no cancellation).
    """

    def __init__(self, to_gram: Chart, to_state: Chart) -> None:
        self._to_gram, self._to_state = to_gram, to_state
        self.swap = np.zeros(0, dtype=bool)

    def to_gram(self, z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return (A, E, Δ) of the sigma points, the smaller norm first."""
        self.swap = z[..., 0] > z[..., 1]
        return self._to_gram(np.where(self.swap[..., None], z[..., _SWAPPED], z))

    def to_state(self, a_: FloatArray, e_: FloatArray, dl: FloatArray) -> FloatArray:
        """Return z = (ln A, ln B, T) of the inner points, in the caller's order of x and y."""
        out = self._to_state(a_, e_, dl)
        return np.asarray(np.where(self.swap[..., None, None], out[..., _SWAPPED], out))
