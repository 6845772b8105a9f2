"""Slicing a Gaussian sum along one direction (moment-matched slices), for the general closures.

A mixture of 3-D Gaussians is cut along one coordinate y₀ = z[axis] into K slices spanning its
range (the outer two open); each component's mass, mean and covariance restricted to a slice
follow in closed form from the truncated normal of y₀ and the linear regression of z on y₀
within the component; each slice is moment-matched to one Gaussian, so that the total mass,
mean and covariance are preserved exactly. Used by both closures: the sliced mixture for kinked
φ (``theory/_general_mix.py``, along r) and the T-sliced closure for tanh and erf
(``theory/_general_law.py``, along T, over a narrower span).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import ndtr

from .._types import FloatArray

__all__ = ["slice_mixture"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_MIN_MASS = 1e-12
_OPEN = np.array([-40.0, 40.0])  # the outer slices' standardised bounds


def slice_mixture(
    weights: FloatArray,
    mean: FloatArray,
    cov: FloatArray,
    axis: int,
    n_slices: int,
    span: float = 6.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cut the mixture (weights (N,), mean (N, 3), cov (N, 3, 3)) into slices along y₀ = z[axis].

    The slices are equal in width and span the live components' ±4 sd, at most the mixture's
    mean ± ``span`` sds (the outer two are open).

    Returns
    -------
    weights, mean, cov : ndarray, shapes (K,), (K, 3), (K, 3, 3)
        The moment-matched slices, empty ones dropped (K ≤ ``n_slices``); the input unchanged
        when the mixture has no spread along ``axis``.
    """
    m0 = mean[:, axis]
    c0 = cov[:, :, axis]  # Cov(z, y₀), (N, 3)
    v0 = np.maximum(c0[:, axis], 0.0)
    s0 = np.sqrt(v0)
    total = float(weights.sum())
    centre = float(weights @ m0) / total
    spread = math.sqrt(max(float(weights @ (v0 + (m0 - centre) ** 2)) / total, 0.0))
    if spread <= 1e-12 * max(1.0, abs(centre)):
        return weights, mean, cov
    # the range of the live components (Python floats: N ≤ a few tens)
    lo, hi, sds = math.inf, -math.inf, s0.tolist()
    for w_k, m_k, s_k in zip(weights.tolist(), m0.tolist(), sds, strict=True):
        if w_k > _MIN_MASS:
            lo, hi = min(lo, m_k - 4.0 * s_k), max(hi, m_k + 4.0 * s_k)
    lo, hi = max(lo, centre - span * spread), min(hi, centre + span * spread)
    edges = lo + (hi - lo) / n_slices * _steps(n_slices)
    point = s0 == 0 if 0.0 in sds else None  # components with no spread in y₀
    # standardised slice bounds, clipped at ±40 sd (the outer slices are open): slice k runs
    # from z[:, k] to z[:, k + 1]
    z = np.subtract(edges, m0[:, None])  # (N, K+1)
    z /= s0[:, None] if point is None else (s0 + point)[:, None]  # s0, or 1 where s0 = 0
    np.minimum(np.maximum(z, -40.0, out=z), 40.0, out=z)
    z[:, ::n_slices] = _OPEN
    if point is not None:  # a component with no spread in y₀ falls into one slice
        idx = np.clip(np.searchsorted(edges, m0[point], side="right") - 1, 0, n_slices - 1)
        a, b = z[:, :-1].copy(), z[:, 1:].copy()
        a[point], b[point] = 40.0, 40.0
        a[point, idx] = -40.0
        mass, pdf_a, pdf_b, a_pdf_a, b_pdf_b = _slice_masses(a, b)
        moments = np.stack([pdf_a - pdf_b, a_pdf_a - b_pdf_b])
    else:  # each bound's normal cdf, tail, density and z·density once
        both = np.empty((2, *z.shape))
        np.negative(z, out=both[1])
        both[0] = z
        cdf, tail = ndtr(both)
        upper = z[:, :-1] > 0  # reflect to the lower tail, where ndtr has relative precision
        mass = np.where(upper, tail[:, :-1] - tail[:, 1:], cdf[:, 1:] - cdf[:, :-1])
        pdf = np.empty((2, *z.shape))  # (density, z·density) at each bound
        np.multiply(np.exp(-0.5 * z * z), _INV_SQRT_2PI, out=pdf[0])
        np.multiply(z, pdf[0], out=pdf[1])
        moments = pdf[:, :, :-1] - pdf[:, :, 1:]  # (a − b) terms of the slice's mean, variance
    ok = mass > _MIN_MASS
    moments /= np.where(ok, mass, 1.0)
    shift = moments[0]  # E[(y₀ − m₀)/s₀ | slice]
    ratio = np.maximum(1.0 + moments[1] - shift**2, 0.0)  # Var / s₀²
    w = weights[:, None] * mass * ok  # (N, K); 0 where the sub-slice is empty
    # regression of z on y₀ within a component: z = m + β (y₀ − m₀) + ε, β = c0 / v0;
    # sub-slice n, k: mean m_n + shift s₀ β_n, covariance cov_n − v0 (1 − ratio) β_n β_nᵀ
    if point is None:
        beta = c0 / v0[:, None]  # (N, 3)
    else:  # 0 where v0 = 0
        beta = c0 / (v0 + point)[:, None] * (s0 > 0)[:, None]
    k_w = w.sum(axis=0)
    keep = k_w > _MIN_MASS * total
    if not keep.all():
        w, k_w, shift, ratio = w[:, keep], k_w[keep], shift[:, keep], ratio[:, keep]
    n = len(weights)
    # Σ_n w_nk (sub-slice mean, covariance) in one product: rows [cov_n, m_n],
    # [−β_n β_nᵀ, 0] and [0, β_n], weighted by w, w·v0·(1 − ratio) and w·shift·s₀
    rows = np.zeros((3 * n, 12))
    rows[:n, :9], rows[:n, 9:] = cov.reshape(n, 9), mean
    rows[n : 2 * n, :9] = (-beta[:, :, None] * beta[:, None, :]).reshape(n, 9)
    rows[2 * n :, 9:] = beta
    shift_s = shift * s0[:, None]
    coef = np.concatenate([w, w * (v0[:, None] * (1.0 - ratio)), w * shift_s])  # (3N, K)
    sums = coef.T @ rows  # (K, 12)
    k_mean = sums[:, 9:] / k_w[:, None]
    dev = np.swapaxes(mean[:, None, :] + shift_s[..., None] * beta[:, None, :] - k_mean, 0, 1)
    k_cov = (sums[:, :9].reshape(-1, 3, 3) + np.swapaxes(dev * w.T[..., None], -1, -2) @ dev) / k_w[
        :, None, None
    ]
    return k_w, k_mean, 0.5 * (k_cov + np.swapaxes(k_cov, -1, -2))


@functools.lru_cache(maxsize=4)
def _steps(n_slices: int) -> FloatArray:
    """Return the slice edges' steps 0, 1, ..., K (shared: never written to)."""
    return np.arange(n_slices + 1.0)


def _slice_masses(a, b):
    """Mass, densities and z·densities at the standardised bounds a, b of each (N, K) sub-slice."""
    upper = a > 0  # reflect to the lower tail, where ndtr has relative precision
    mass = np.where(upper, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    pdf_a = np.exp(-0.5 * a * a) * _INV_SQRT_2PI
    pdf_b = np.exp(-0.5 * b * b) * _INV_SQRT_2PI
    return mass, pdf_a, pdf_b, a * pdf_a, b * pdf_b
