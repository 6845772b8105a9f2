"""The paper's predictors: the infinite-width map, Algorithm 1 and Approximations 1 and 2.

Each gives a per-layer path or density of X = ln sin²θ (Jakub & Nica;
``docs/theory/angle-theory.md`` §6).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._errors import DepthscopeError
from .._types import FloatArray
from ._theorem import infinite_width_map, mu, rho, sigma2

__all__ = ["approx2", "deterministic_path", "ln_sin2", "point_masses"]

_TWO_OVER_THREE_PI = 2.0 / (3.0 * math.pi)


def _sin2_to_theta(x: FloatArray) -> FloatArray:
    # θ = arcsin(e^{X/2}); below X = −40, θ = e^{X/2} to rounding (and e^X would underflow
    # below X ≈ −745 while e^{X/2} reaches the smallest subnormal angle).
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(under="ignore"):
        return np.where(x < -40.0, np.exp(0.5 * x), np.arcsin(np.sqrt(np.minimum(np.exp(x), 1.0))))


def ln_sin2(theta: FloatArray) -> FloatArray:
    # θ = π (antipodal inputs) is exactly −∞; sin(float π) would give 1.2e-16 instead.
    theta = np.asarray(theta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(theta == math.pi, -np.inf, 2.0 * np.log(np.sin(theta)))


def point_masses(x: FloatArray) -> tuple[FloatArray, ...]:
    """Deterministic path X_0..X_L → (mean, sd, mixture means, weights, sds): point masses."""
    return x, np.zeros_like(x), x[:, None], np.ones((len(x), 1)), np.zeros((len(x), 1))


def deterministic_path(theta0: float, steps: np.ndarray, method: str) -> FloatArray:
    """X_0..X_L of a deterministic method for B architectures of equal depth: shape (L+1, B).

    ``steps`` has shape (B, L). ``infinite`` iterates θ ↦ θ_∞; ``mean`` sets X_{ℓ+1} =
    μ(θ_ℓ, n_{ℓ+1}); ``approx1`` sets X_{ℓ+1} = X_ℓ − (2/(3π)) θ_ℓ − ρ(n_{ℓ+1}); then
    θ_{ℓ+1} = arcsin(exp(X_{ℓ+1}/2)).
    """
    n_arch, depth = steps.shape
    x = np.empty((depth + 1, n_arch))
    x[0] = ln_sin2(np.array(theta0))
    angle = np.full(n_arch, theta0)
    for layer in range(depth):
        if method == "infinite":
            angle = infinite_width_map(angle)
            x[layer + 1] = ln_sin2(angle)
            continue
        if method == "mean":
            x[layer + 1] = mu(angle, steps[:, layer])
        else:  # approx1
            x[layer + 1] = x[layer] - _TWO_OVER_THREE_PI * angle - rho(steps[:, layer])
        angle = _sin2_to_theta(x[layer + 1])
    return x


def approx2(theta0: float, steps: Sequence[int]) -> tuple[FloatArray, ...]:
    """Approximation 2 on a grid: pushforward through α by linear binning, then convolution.

    The density lives on [lo, 0] (ln sin²θ ≤ 0); mass the Gaussian kernel puts above 0 or
    below lo is cut off and the density renormalised, as on the paper's bounded grid.
    """
    depth = len(steps)
    x0 = float(ln_sin2(np.array(theta0)))
    betas = np.sqrt(8.0 * np.asarray(steps, float) / (np.asarray(steps, float) + 5.0) ** 2)
    m1, s1 = float(mu(theta0, steps[0])), math.sqrt(float(sigma2(theta0, steps[0])))
    # Below the finite-width drift Σρ(n) the angle decays like 3π/ℓ (≈ 2 ln ℓ in X): a safe floor.
    drift = float(sum(rho(n) for n in steps)) + 5.0 * math.log1p(depth)
    lo = min(-15.0, m1 - drift - 10.0 * math.sqrt(s1**2 + float(np.sum(betas**2))) - 2.0)
    spacing = min(float(betas.min()) / 8.0, -lo / 400.0)
    size = math.ceil(-lo / spacing) + 1
    if size > 200_000:
        raise DepthscopeError(
            "approx2: the grid would exceed 200,000 points; the layers are too wide."
        )
    grid = np.linspace(lo, 0.0, size)
    spacing = grid[1] - grid[0]
    dens = (
        np.exp(-0.5 * ((grid - m1) / s1) ** 2)
        if s1 > 0
        else (np.abs(grid - m1) < spacing).astype(float)
    )
    mass = dens / dens.sum()
    support = [np.array([x0])]
    weights = [np.array([1.0])]
    support.append(grid)
    weights.append(mass)
    alpha_theta = _sin2_to_theta(grid)
    for n, beta in zip(steps[1:], betas[1:], strict=True):
        target = grid - _TWO_OVER_THREE_PI * alpha_theta - float(rho(n))
        pos = np.clip((target - lo) / spacing, 0.0, size - 1.0)
        left = np.minimum(pos.astype(np.intp), size - 2)
        frac = pos - left
        moved = np.bincount(left, mass * (1 - frac), minlength=size) + np.bincount(
            left + 1, mass * frac, minlength=size
        )
        half = math.ceil(8.0 * beta / spacing)
        taps = np.exp(-0.5 * (np.arange(-half, half + 1) * spacing / beta) ** 2)
        mass = np.convolve(moved, taps / taps.sum(), mode="same")
        mass /= mass.sum()
        support.append(grid)
        weights.append(mass)
    mean = np.array([float(np.dot(w, s)) for s, w in zip(support, weights, strict=True)])
    var = np.array(
        [float(np.dot(w, (s - m) ** 2)) for s, w, m in zip(support, weights, mean, strict=True)]
    )
    width = max(len(s) for s in support)
    sup = np.full((depth + 1, width), 0.0)
    wts = np.zeros((depth + 1, width))
    for i, (s, w) in enumerate(zip(support, weights, strict=True)):
        sup[i, : len(s)], wts[i, : len(w)] = s, w
    # Each grid node stands for its cell: a component of sd 0.7 spacing smooths the histogram
    # (ripple ≈ exp(−2π²·0.49) ≈ 6e-5) and adds 0.49 spacing² to the variance of cdf/density.
    sds = np.full((depth + 1, width), 0.7 * spacing)
    sds[0] = 0.0
    return mean, np.sqrt(var), sup, wts, sds
