"""Theorem 1 of Jakub & Nica and its companions: one ReLU layer's effect on the angle.

Everything here is a deterministic function of the angle θ ∈ [0, π] and the width n ≥ 2:

* :func:`infinite_width_map` — θ ↦ arccos(2 J₁₁(θ)), the n → ∞ limit;
* :func:`mu`, :func:`sigma2` — the paper's O(1/n²)-accurate mean and variance of
  ln sin²θ_{ℓ+1} given θ_ℓ = θ;
* :func:`rho` — the constant finite-width drift of Corollary 2.

J₁₁, J₂₂ and J₃₁ come from :mod:`depthscope.theory._jfunctions`, their one owner: its stable
values on [0, π] and its exact Taylor coefficients about θ = 0. The closed forms cancel
catastrophically at small θ (1 − 4J₁₁² ~ θ², and the combination K of Theorem 1 ~ θ⁴). Below
:data:`SERIES_SWITCH` the ratios that enter μ and σ² are evaluated from their Taylor series in
θ, computed once, on first use, by power-series arithmetic on the series of the J's (every
cancellation then happens between coefficients, not between values).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import check_theta, check_width
from .._types import FloatArray
from ._jfunctions import SWITCH_THETA, horner, j_values, taylor_at_zero

__all__ = ["SERIES_SWITCH", "infinite_width_map", "mu", "one_minus_two_j11", "rho", "sigma2"]

#: Below this angle (radians) μ and σ² use the small-angle series; above it, the closed form,
#: whose relative error there is ≲ 1e-14 (the cancellation costs a factor ≈ θ⁻⁴).
SERIES_SWITCH = 0.5
_PAIRS = ((1, 1), (2, 2), (3, 1))  # the (a, b) of J₁₁, J₂₂, J₃₁
_ORDER = 40  # degree of the truncated power series in θ; truncation error ≪ 1e-16 at θ < 0.5


def one_minus_two_j11(theta: ArrayLike) -> FloatArray:
    """Return 1 − 2 J₁₁(θ) = 1 − cos θ_∞ without cancellation at small θ.

    Parameters
    ----------
    theta : array_like
        Angles in [0, π] (radians).

    Returns
    -------
    ndarray
        1 − 2J₁₁(θ) = (π(1 − cos θ) + θ cos θ − sin θ)/π: from the Taylor series of J₁₁ below
        θ = π/2 (its constant term cancels exactly), from J₁₁ itself above.
    """
    t_in = check_theta(theta)
    t = t_in.reshape(-1)
    result: FloatArray = _one_minus_two_j11(t, j_values(1, 1, t)).reshape(t_in.shape)[()]
    return result


def _one_minus_two_j11(theta: FloatArray, j11: FloatArray) -> FloatArray:
    """1 − 2J₁₁ at flat angles θ, given J₁₁(θ) (used where it is well-conditioned, θ ≥ π/2)."""
    out = 1.0 - 2.0 * j11
    small = theta < SWITCH_THETA
    if small.any():
        ts = theta[small]
        out[small] = ts**2 * horner(_one_minus_two_j11_series(), ts)
    return out


def infinite_width_map(theta: ArrayLike) -> FloatArray:
    """Return the infinite-width image θ_∞ = arccos(2 J₁₁(θ)) of an angle θ.

    Parameters
    ----------
    theta : array_like
        Angles in [0, π] (radians), any shape.

    Returns
    -------
    ndarray
        θ_∞ in [0, π/2], same shape as ``theta``.

    Notes
    -----
    cos θ_∞ = (sin θ + (π − θ) cos θ)/π (Cho & Saul's arc-cosine kernel of degree 1). It is
    evaluated as θ_∞ = 2 arcsin(√((1 − 2J₁₁)/2)), which keeps full relative precision as
    θ → 0, where θ_∞ = θ − θ²/(3π) + O(θ³).

    References
    ----------
    C. Jakub, M. Nica, "Depth Degeneracy in Neural Networks", arXiv:2302.09712, §2.

    Examples
    --------
    >>> float(infinite_width_map(np.pi / 2))  # doctest: +ELLIPSIS
    1.2468...
    """
    t_in = check_theta(theta)
    t = t_in.reshape(-1)
    half_chord = np.sqrt(_one_minus_two_j11(t, j_values(1, 1, t)) / 2.0)  # sin(θ_∞/2)
    small = t < SWITCH_THETA
    if small.any():  # θ·√(series/2): no underflow of θ² below θ ≈ 1e-162
        ts = t[small]
        half_chord[small] = ts * np.sqrt(horner(_one_minus_two_j11_series(), ts) / 2.0)
    result: FloatArray = (2.0 * np.arcsin(half_chord)).reshape(t_in.shape)[()]
    return result


def rho(n: ArrayLike) -> FloatArray:
    """Return Corollary 2's per-layer drift ρ(n) of ln sin²θ at small angles.

    Parameters
    ----------
    n : array_like
        Widths ≥ 2 (may be non-integer).

    Returns
    -------
    ndarray
        ρ(n) = ln((n+5)/(n−1)) − 10n/(n+5)² + 6n/(n−1)² = 2/n + 100/n² + O(n⁻³).

    References
    ----------
    Jakub & Nica, arXiv:2302.09712, Corollary 2.
    """
    width = check_width(n)
    result: FloatArray = (
        np.log1p(6.0 / (width - 1.0))
        - 10.0 * width / (width + 5.0) ** 2
        + 6.0 * width / (width - 1.0) ** 2
    )[()]
    return result


# --- power series in θ (coefficient arrays, index = power), truncated at _ORDER -------------


def _mul(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.convolve(a, b)[: _ORDER + 1]


def _div(a: FloatArray, b: FloatArray) -> FloatArray:
    """Series quotient a/b; b[0] must be non-zero."""
    q = np.zeros(_ORDER + 1)
    for k in range(_ORDER + 1):
        q[k] = (a[k] - np.dot(q[:k], b[k:0:-1])) / b[0]
    return q


def _shift_down(a: FloatArray, k: int) -> FloatArray:
    """Divide a series by θ^k, whose first k coefficients vanish analytically."""
    return np.concatenate([a[k:], np.zeros(k)])


@lru_cache(maxsize=1)
def _one_minus_two_j11_series() -> FloatArray:
    """Series in θ of (1 − 2J₁₁)/θ²: J₁₁ = 1/2 + 0·θ + O(θ²) exactly, so drop two terms."""
    result: FloatArray = -2.0 * taylor_at_zero(1, 1, _ORDER)[2:]
    return result


@lru_cache(maxsize=1)
def _small_angle_series() -> tuple[FloatArray, FloatArray, FloatArray]:
    """Series in θ of Z/θ² (Z = 1 − 4J₁₁²), K/Z² and M/Z (M = 2J₁₁² − 4J₁₁J₃₁ + J₂₂ + 1)."""
    j11, j22, j31 = (taylor_at_zero(a, b, _ORDER) for a, b in _PAIRS)
    one = np.zeros(_ORDER + 1)
    one[0] = 1.0
    j11_sq = _mul(j11, j11)
    z = one - 4 * j11_sq
    k = (
        8 * _mul(j11_sq, j22)
        - 8 * _mul(j11_sq, j11_sq)
        + 4 * j11_sq
        - 8 * _mul(j11, j31)
        + j22
        + one
    )
    m = 2 * j11_sq - 4 * _mul(j11, j31) + j22 + one
    # Exact orders: Z = O(θ²), K = O(θ⁴), M = O(θ²); the lower coefficients are rounding noise.
    z_red, k_red, m_red = _shift_down(z, 2), _shift_down(k, 4), _shift_down(m, 2)
    z_red[-2:] = k_red[-4:] = m_red[-2:] = 0.0  # unknown after the shift: drop
    return z_red, _div(k_red, _mul(z_red, z_red)), _div(m_red, z_red)


class _Terms(NamedTuple):
    """The combinations of J₁₁, J₂₂, J₃₁ that Theorem 1 needs, each computed stably."""

    small: NDArray[np.bool_]  # θ < SERIES_SWITCH: the series branch
    j11: FloatArray
    j22: FloatArray
    j31: FloatArray
    z: FloatArray  # Z = 1 − 4J₁₁²
    log_z: FloatArray
    k_over_z2: FloatArray  # K/Z²
    m_over_z: FloatArray  # M/Z
    k_minus_1: FloatArray  # K − 1, which vanishes at θ = π
    m_minus_1: FloatArray  # M − 1, which vanishes at θ = π


def _theorem_terms(theta: FloatArray) -> _Terms:
    """Evaluate the Theorem-1 combinations at angles θ (flattened)."""
    theta = np.array(theta, dtype=np.float64).reshape(-1)
    j11, j22, j31 = (j_values(a, b, theta) for a, b in _PAIRS)
    d = _one_minus_two_j11(theta, j11)  # 1 − 2J₁₁, stable as θ → 0
    z = d * (2.0 - d)
    j11_sq = j11**2
    k_minus_1 = 8 * j11_sq * j22 - 8 * j11_sq**2 + 4 * j11_sq - 8 * j11 * j31 + j22
    m_minus_1 = 2 * j11_sq - 4 * j11 * j31 + j22
    small = theta < SERIES_SWITCH
    with np.errstate(divide="ignore", invalid="ignore"):  # θ = 0: Z = 0, handled below
        log_z = np.log(z)
        k_over_z2 = (k_minus_1 + 1) / z**2
        m_over_z = (m_minus_1 + 1) / z
        if small.any():
            z_red, kz_series, mz_series = _small_angle_series()
            ts = theta[small]
            log_z[small] = 2 * np.log(ts) + np.log(horner(z_red, ts))
            k_over_z2[small] = horner(kz_series, ts)
            m_over_z[small] = horner(mz_series, ts)
    return _Terms(small, j11, j22, j31, z, log_z, k_over_z2, m_over_z, k_minus_1, m_minus_1)


def _terms_and_width(theta: ArrayLike, n: ArrayLike) -> tuple[_Terms, FloatArray]:
    """Check θ and n, broadcast them, and evaluate the Theorem-1 terms in their common shape."""
    t, width = np.broadcast_arrays(check_theta(theta), check_width(n))
    terms = _Terms(*(np.reshape(a, t.shape) for a in _theorem_terms(t)))  # type: ignore[arg-type]
    return terms, width


def mu(theta: ArrayLike, n: ArrayLike) -> FloatArray:
    """Return Theorem 1's mean of ln sin²θ_{ℓ+1} given θ_ℓ = θ and width n.

    Parameters
    ----------
    theta : array_like
        Angle(s) θ_ℓ in [0, π] (radians).
    n : array_like
        Width(s) ≥ 2 of the layer in which θ_{ℓ+1} is measured; broadcast against ``theta``.

    Returns
    -------
    ndarray
        μ(θ, n); −inf at θ = 0 (the angle stays 0), finite elsewhere.

    Notes
    -----
    With Z = 1 − 4J₁₁², K = 8J₁₁²J₂₂ − 8J₁₁⁴ + 4J₁₁² − 8J₁₁J₃₁ + J₂₂ + 1::

        μ = ln((n−1) Z/(4J₂₂ − 1 + n)) + 4(J₂₂ + 1)/(n((4J₂₂ − 1)/n + 1)²)
            − 4K/(n (1 − 1/n)² Z²)

    The error is O(n⁻²). Below θ = ``SERIES_SWITCH`` (0.5) the ratios K/Z² and Z/θ² come
    from their Taylor series (see the module docstring), so μ keeps full precision down to
    θ = 1e-300.

    References
    ----------
    Jakub & Nica, arXiv:2302.09712, Theorem 1.

    Examples
    --------
    >>> round(float(mu(0.1, 256)), 6)
    -4.63924
    """
    terms, width = _terms_and_width(theta, n)
    j22 = terms.j22
    result: FloatArray = (
        np.log(width - 1.0)
        + terms.log_z
        - np.log(4 * j22 - 1 + width)
        + 4 * (j22 + 1) / (width * ((4 * j22 - 1) / width + 1) ** 2)
        - 4 * terms.k_over_z2 / (width * (1 - 1 / width) ** 2)
    )[()]
    return result


def sigma2(theta: ArrayLike, n: ArrayLike) -> FloatArray:
    """Return Theorem 1's variance of ln sin²θ_{ℓ+1} given θ_ℓ = θ and width n.

    Parameters
    ----------
    theta, n : array_like
        Angle(s) θ_ℓ in [0, π] (radians) and width(s) ≥ 2, broadcast together, as in :func:`mu`.

    Returns
    -------
    ndarray
        σ²(θ, n) > 0 for θ < π (exactly 0 at θ = π, and clipped at 0 where rounding would
        make it negative: within ≈ 0.01 of π, where it is below 1e-30).

    Notes
    -----
    With Z, K as in :func:`mu` and M = 2J₁₁² − 4J₁₁J₃₁ + J₂₂ + 1::

        σ² = 8n(J₂₂ + 1)/(4J₂₂ − 1 + n)² + 8nK/((n−1)² Z²) − 16nM/((4J₂₂ − 1 + n)(n − 1) Z)

    As θ → 0, σ² → 8n(n² − 2n + 55)/((n−1)²(n+5)²) (Corollary 2). Theorem 1 underestimates
    the true one-layer variance at moderate width (by ≈ 5% at n = 256, 43% at n = 32, measured
    against exact simulation); :func:`depthscope.predict` uses the exact law instead.

    References
    ----------
    Jakub & Nica, arXiv:2302.09712, Theorem 1 (the variance) and Corollary 2 (its θ → 0 limit).

    Examples
    --------
    >>> round(float(sigma2(0.1, 256)), 8)
    0.02926232
    """
    terms, width = _terms_and_width(theta, n)
    denom = 4 * terms.j22 - 1 + width
    original = (
        8 * width * (terms.j22 + 1) / denom**2
        + 8 * width * terms.k_over_z2 / (width - 1) ** 2
        - 16 * width * terms.m_over_z / (denom * (width - 1))
    )
    # The same expression as 8n[(u − v)² + J₂₂u² + (K − 1)v² − 2(M − 1)uv] with u = 1/D,
    # v = 1/((n−1)Z): its three terms no longer cancel as θ → π, where σ² → 0.
    # Z = 0 at θ = 0 and Z ≈ θ² overflows 1/Z below θ ≈ 1e-154: the series branch is used there.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u, v = 1 / denom, 1 / ((width - 1) * terms.z)
        u_minus_v = -4 * ((width - 1) * terms.j11**2 + terms.j22) * u * v
        rearranged = (
            8
            * width
            * (
                u_minus_v**2
                + terms.j22 * u**2
                + terms.k_minus_1 * v**2
                - 2 * terms.m_minus_1 * u * v
            )
        )
    # Within ≈ 0.01 of π the true σ² (≈ 1e-30 there) is below the rounding error of the terms;
    # clip that rounding at 0 rather than return a negative variance.
    result: FloatArray = np.maximum(np.where(terms.small, original, rearranged), 0.0)[()]
    return result
