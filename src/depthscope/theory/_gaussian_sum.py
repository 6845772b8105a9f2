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
        if w_k > _MIN_MASS:  # comparisons, not min/max: cheaper in CPython
            if m_k - 4.0 * s_k < lo:
                lo = m_k - 4.0 * s_k
            if m_k + 4.0 * s_k > hi:
                hi = m_k + 4.0 * s_k
    lo, hi = max(lo, centre - span * spread), min(hi, centre + span * spread)
    edges = lo + (hi - lo) / n_slices * _steps(n_slices)
    edges[0], edges[n_slices] = -math.inf, math.inf  # the outer slices are open
    # Slices lead, components trail, (K, N): then the slices' lower and upper bounds z[:-1]
    # and z[1:] are contiguous blocks (numpy's strided loops cost ≈ 1 µs more per call).
    point = s0 == 0 if 0.0 in sds else None  # components with no spread in y₀
    # standardised slice bounds, clipped at ±40 sd (the open ends: ∓∞ → ∓40): slice k runs
    # from z[k] to z[k + 1]
    z = np.subtract(edges[:, None], m0)  # (K+1, N)
    z /= s0 if point is None else s0 + point  # s0, or 1 where s0 = 0
    np.minimum(np.maximum(z, -40.0, out=z), 40.0, out=z)
    if point is None:
        lower = z[:-1]
        terms = _bound_terms(z)  # (4, K+1, N)
        diff = terms[:, :-1] - terms[:, 1:]  # (4, K, N): term(a) − term(b) per slice [a, b]
    else:  # a component with no spread in y₀ falls into one slice: its own bounds
        idx = np.clip(np.searchsorted(edges, m0[point], side="right") - 1, 0, n_slices - 1)
        bounds = np.concatenate([z[:-1], z[1:]])  # (2K, N): lower bounds, then upper ones
        bounds[:, point] = 40.0
        bounds[idx, point] = -40.0
        lower = bounds[:n_slices]
        terms = _bound_terms(bounds)
        diff = terms[:, :n_slices] - terms[:, n_slices:]
    # (ndtr(a), ndtr(−a), density, z·density) − the same at b; the mass from the lower tail
    # (reflected where a > 0), where ndtr has relative precision: ndtr(b) − ndtr(a) = −diff[0]
    mass = np.where(lower > 0, diff[1], np.negative(diff[0]))
    ok = mass > _MIN_MASS
    moments = diff[2:4]  # (a − b) terms of the slice's mean, variance
    moments /= np.where(ok, mass, 1.0)
    shift = moments[0]  # E[(y₀ − m₀)/s₀ | slice]
    ratio = np.maximum(1.0 + moments[1] - shift * shift, 0.0)  # Var / s₀²
    w = weights * mass * ok  # (K, N); 0 where the sub-slice is empty
    # regression of z on y₀ within a component: z = m + β (y₀ − m₀) + ε, β = c0 / v0;
    # sub-slice k, n: mean m_n + shift s₀ β_n, covariance cov_n − v0 (1 − ratio) β_n β_nᵀ
    if point is None:
        beta = c0 / v0[:, None]  # (N, 3)
    else:  # 0 where v0 = 0
        beta = c0 / (v0 + point)[:, None] * (s0 > 0)[:, None]
    shift_s = shift * s0
    # Σ_n w_kn (sub-slice mean, covariance) in one product: rows [cov_n, m_n],
    # [−β_n β_nᵀ, 0] and [0, β_n], weighted by w, w·v0·(1 − ratio) and w·shift·s₀; the
    # weights transposed to (3N, K) and the sums over n taken down its columns, in order
    n = len(weights)
    parts = [w.T, (w * (v0 * (1.0 - ratio))).T, (w * shift_s).T]
    coef = np.concatenate(parts, out=np.empty((3 * n, len(w))))  # C order, as summed
    k_w = np.add.reduce(coef[:n], axis=0)
    if k_w.min() <= _MIN_MASS * total:  # drop the empty slices
        keep = k_w > _MIN_MASS * total
        coef, k_w, w, shift_s = coef[:, keep], k_w[keep], w[keep], shift_s[keep]
    rows = np.zeros((3 * n, 12))
    rows[:n, :9], rows[:n, 9:] = cov.reshape(n, 9), mean
    np.multiply(beta[:, :, None], beta[:, None, :], out=rows[n : 2 * n, :9].reshape(n, 3, 3))
    np.negative(rows[n : 2 * n], out=rows[n : 2 * n])
    rows[2 * n :, 9:] = beta
    sums = coef.T @ rows  # (K, 12)
    k_mean = sums[:, 9:] / k_w[:, None]
    dev = mean + shift_s[:, :, None] * beta - k_mean[:, None]  # (K, N, 3)
    k_cov = sums[:, :9].reshape(-1, 3, 3)
    k_cov += (dev * w[:, :, None]).transpose(0, 2, 1) @ dev
    k_cov /= k_w[:, None, None]
    return k_w, k_mean, 0.5 * (k_cov + k_cov.transpose(0, 2, 1))


@functools.lru_cache(maxsize=4)
def _steps(n_slices: int) -> FloatArray:
    """Return the slice edges' steps 0, 1, ..., K (shared: never written to)."""
    return np.arange(n_slices + 1.0)


def _bound_terms(z: FloatArray) -> FloatArray:
    """Return (ndtr(z), ndtr(−z), density, z·density) at standardised bounds z, (4, ...)."""
    terms = np.empty((4, *z.shape))
    np.negative(z, out=terms[1])
    terms[0] = z
    ndtr(terms[:2], out=terms[:2])
    np.multiply(z, -0.5, out=terms[2])
    terms[2] *= z
    np.exp(terms[2], out=terms[2])
    terms[2] *= _INV_SQRT_2PI
    np.multiply(z, terms[2], out=terms[3])
    return terms
