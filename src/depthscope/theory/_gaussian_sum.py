"""Slicing a Gaussian sum along one direction (moment-matched slices), for the general closures.

A mixture of 3-D Gaussians is cut along y₀ = axis·z into K slices spanning its range (the outer
two open); each component's mass, mean and covariance restricted to a slice follow in closed
form from the truncated normal of y₀ and the linear regression of z on y₀ within the component;
each slice is moment-matched to one Gaussian, so that the total mass, mean and covariance are
preserved exactly. The same construction as :func:`depthscope.theory._general_mix._slice`, kept
here without that module's dependency on :mod:`depthscope.theory._general_law` (which uses it
for smooth φ: an import from ``_general_mix`` would be a cycle).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from .._types import FloatArray

__all__ = ["slice_mixture"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_MIN_MASS = 1e-12


def slice_mixture(
    weights: FloatArray, mean: FloatArray, cov: FloatArray, axis: FloatArray, n_slices: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cut the mixture (weights (N,), mean (N, 3), cov (N, 3, 3)) into slices along axis·z.

    Returns
    -------
    weights, mean, cov : ndarray, shapes (K,), (K, 3), (K, 3, 3)
        The moment-matched slices, empty ones dropped (K ≤ ``n_slices``); the input unchanged
        when the mixture has no spread along ``axis``.
    """
    m0 = mean @ axis
    c0 = cov @ axis  # Cov(z, y₀), (N, 3)
    v0 = np.maximum(c0 @ axis, 0.0)
    s0 = np.sqrt(v0)
    total = weights.sum()
    centre = weights @ m0 / total
    spread = math.sqrt(max(weights @ (v0 + (m0 - centre) ** 2) / total, 0.0))
    if spread <= 1e-12 * max(1.0, abs(centre)):
        return weights, mean, cov
    lo = float(np.min(np.where(weights > _MIN_MASS, m0 - 4.0 * s0, np.inf)))
    hi = float(np.max(np.where(weights > _MIN_MASS, m0 + 4.0 * s0, -np.inf)))
    lo, hi = max(lo, centre - 6.0 * spread), min(hi, centre + 6.0 * spread)
    edges = lo + (hi - lo) / n_slices * np.arange(n_slices + 1.0)
    safe = np.where(s0 > 0, s0, 1.0)[:, None]
    # standardised slice bounds, clipped at ±40 sd (the outer slices are open)
    a = np.clip((edges[None, :-1] - m0[:, None]) / safe, -40.0, 40.0)  # (N, K)
    b = np.clip((edges[None, 1:] - m0[:, None]) / safe, -40.0, 40.0)
    a[:, 0], b[:, -1] = -40.0, 40.0
    point = s0 == 0
    if np.any(point):  # a component with no spread in y₀ falls into one slice
        idx = np.clip(np.searchsorted(edges, m0[point], side="right") - 1, 0, n_slices - 1)
        a[point], b[point] = 40.0, 40.0
        a[point, idx] = -40.0
    upper = a > 0  # reflect to the lower tail, where ndtr has relative precision
    mass = np.where(upper, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    pdf_a = np.exp(-0.5 * a * a) * _INV_SQRT_2PI
    pdf_b = np.exp(-0.5 * b * b) * _INV_SQRT_2PI
    ok = mass > _MIN_MASS
    safe_mass = np.where(ok, mass, 1.0)
    shift = (pdf_a - pdf_b) / safe_mass  # E[(y₀ − m₀)/s₀ | slice]
    ratio = np.maximum(1.0 + (a * pdf_a - b * pdf_b) / safe_mass - shift**2, 0.0)  # Var / s₀²
    w = np.where(ok, weights[:, None] * mass, 0.0)  # (N, K)
    # regression of z on y₀ within a component: z = m + β (y₀ − m₀) + ε, β = c0 / v0
    beta = np.where(v0[:, None] > 0, c0 / np.where(v0 > 0, v0, 1.0)[:, None], 0.0)  # (N, 3)
    dz = shift[..., None] * (s0[:, None] * beta)[:, None, :]  # (N, K, 3)
    sub_mean = mean[:, None, :] + dz
    bb = beta[:, :, None] * beta[:, None, :]  # (N, 3, 3)
    sub_cov = cov[:, None] - (v0[:, None] * (1.0 - ratio))[..., None, None] * bb[:, None]
    k_w = w.sum(axis=0)
    keep = k_w > _MIN_MASS * total
    w, k_w = w[:, keep], k_w[keep]
    sub_mean, sub_cov = sub_mean[:, keep], sub_cov[:, keep]
    k_mean = np.einsum("nk,nki->ki", w, sub_mean) / k_w[:, None]
    dev = sub_mean - k_mean[None]
    k_cov = (
        np.einsum("nk,nkij->kij", w, sub_cov) + np.einsum("nk,nki,nkj->kij", w, dev, dev)
    ) / k_w[:, None, None]
    return k_w, k_mean, 0.5 * (k_cov + np.swapaxes(k_cov, -1, -2))
