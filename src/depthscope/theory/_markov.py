"""The default predictor: the exact one-step law of the angle, propagated as a distribution.

Given the angle θ_ℓ between two inputs at layer ℓ, the angle θ_{ℓ+1} after a ReLU layer of
width n has a law that depends only on (θ_ℓ, n). depthscope ships a table of the mean and
variance of u' = ln θ_{ℓ+1} given (θ_ℓ, n), estimated once by Monte Carlo with control
variates (``tools/make_markov_table.py``; provenance in ``docs/markov-table.md``), and
propagates the distribution of u_ℓ = ln θ_ℓ through the layers on a lattice that keeps the
mean and variance exact at every step. The law of the total (and hence the per-layer mean and
standard deviation of ln sin²θ_ℓ) is therefore right to the accuracy of the table, with no
O(1/n²) truncation (Theorem 1) and no neglected spread (iterating a mean).

For widths n ≥ 32 the table's Monte Carlo noise (1-2% on the variance columns at n ≥ 1024,
where each node has only 5,000-10,000 draws) is removed at load time by pooling the widths of
each angle: every column is Theorem 1's n → ∞ limit plus a residual fitted by weighted least
squares as c₁/n + c₂/n² + c₃/n³ (:func:`smoothed_table`; ``docs/markov-table.md``).

Everything here is vectorised over a batch of architectures of equal depth.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import NamedTuple

import numpy as np
from scipy.interpolate import CubicSpline

from .._types import FloatArray
from ._theorem import infinite_width_map, mu, sigma2

__all__ = [
    "LATTICE_SIZE",
    "SMOOTH_FROM",
    "SMOOTH_POWERS",
    "Propagation",
    "fit_widths",
    "kernel_tables",
    "propagate",
    "smoothed_table",
    "theory_columns",
]

LATTICE_SIZE = 64
# Probabilists' Gauss-Hermite rule with 3 nodes: exact for polynomials of degree ≤ 5.
_GH_NODES = np.array([-math.sqrt(3.0), 0.0, math.sqrt(3.0)])
_GH_WEIGHTS = np.array([1.0, 4.0, 1.0]) / 6.0
_SQRT3 = math.sqrt(3.0)
# Fine grid in u = ln θ, θ ∈ [1e-15, π], on which the per-width kernels are tabulated for
# linear interpolation (spacing 0.009 in ln θ).
_FINE_SIZE = 4096
_THETA_FLOOR = 1e-15
_PRUNE = 1e-13


@cache
def _table() -> dict[str, FloatArray]:
    path = resources.files("depthscope").joinpath("data/markov_table.npz")
    with resources.as_file(path) as file, np.load(file) as data:
        return {key: np.asarray(data[key]) for key in data.files}


_COLUMNS = ("A", "B", "AX", "BX")
#: Widths from which the tabulated columns are replaced by theory + a fit in 1/n.
SMOOTH_FROM = 32
#: Powers of 1/n in the fitted residual (no constant: Theorem 1 fixes the n → ∞ limit).
SMOOTH_POWERS = (1, 2, 3)


def theory_columns(theta: FloatArray, n: FloatArray) -> dict[str, FloatArray]:
    """Return Theorem 1's values of the scaled columns A, B, AX, BX on the grid θ × n.

    AX = n(μ(θ, n) − ln sin²θ_∞) and BX = n σ²(θ, n) are Theorem 1's mean and variance of
    X' = ln sin²θ'. For u' = ln θ' = g⁻¹(X'), g(u) = ln sin²(eᵘ), the delta method at
    u_∞ = ln θ_∞ gives B = BX/g'² and A = (AX − g''B/2)/g', with g' = 2θ_∞ cot θ_∞ and
    g'' = g' − 2θ_∞²/sin²θ_∞. All four are exact in the limit n → ∞ and off by O(1/n) at
    finite n (scaled units); :func:`smoothed_table` fits that O(1/n) remainder.

    At θ = π (θ_∞ = π/2, g' = 0) the law is a point mass (θ' = π/2 exactly) and A, B are
    returned as 0.
    """
    theta_inf = infinite_width_map(theta)[:, None]
    t, width = np.meshgrid(theta, n, indexing="ij")
    ax = width * (mu(t, width) - 2.0 * np.log(np.sin(theta_inf)))
    bx = width * sigma2(t, width)
    g1 = 2.0 * theta_inf / np.tan(theta_inf)
    g2 = g1 - 2.0 * theta_inf**2 / np.sin(theta_inf) ** 2
    degenerate = np.abs(g1) < 1e-12
    safe_g1 = np.where(degenerate, 1.0, g1)
    b = np.where(degenerate, 0.0, bx / safe_g1**2)
    a = np.where(degenerate, 0.0, (ax - 0.5 * g2 * b) / safe_g1)
    return {"A": a, "B": b, "AX": ax, "BX": bx}


@cache
def smoothed_table() -> dict[str, FloatArray]:
    """Return the shipped table with its columns at n ≥ :data:`SMOOTH_FROM` pooled across widths.

    For each angle θ_i and column C ∈ {A, B, AX, BX}, the residual r = C − C_theory
    (:func:`theory_columns`) at the widths n ≥ SMOOTH_FROM is fitted by weighted least squares
    (weights 1/se², se the column's Monte Carlo standard error) as Σ_k c_k n⁻ᵏ, k ∈
    :data:`SMOOTH_POWERS`, and the tabulated values there are replaced by C_theory + fit.
    Narrower widths keep the raw values. The returned dict has the raw table's keys plus
    ``chi2`` (4, n_θ): each fit's χ² and ``dof``, its degrees of freedom. The row θ = π, where
    the law is a point mass and the columns are rounding noise, is left raw (χ² NaN).
    """
    return fit_widths(_table(), SMOOTH_POWERS, SMOOTH_FROM)


def fit_widths(
    raw: dict[str, FloatArray], powers: tuple[int, ...], smooth_from: int
) -> dict[str, FloatArray]:
    """Replace the columns of ``raw`` at n ≥ ``smooth_from`` by theory + a fit in 1/n.

    See :func:`smoothed_table`, which applies it to the shipped table with the fit settled on
    in ``docs/markov-table.md``; other ``powers`` and ``smooth_from`` are for checking that
    choice.
    """
    table = dict(raw)
    widths = raw["n"]
    fitted = widths >= smooth_from
    scaled = smooth_from / widths[fitted]  # regressors in (0, 1]: a well-conditioned system
    design = np.stack([scaled**k for k in powers], axis=1)  # (m, p)
    theory = theory_columns(raw["theta"], widths)
    # At θ = π the law is a point mass (θ' = π/2 exactly): the values are rounding noise.
    live = raw["theta"] < math.pi - 1e-9
    chi2 = np.full((len(_COLUMNS), len(raw["theta"])), np.nan)
    for index, key in enumerate(_COLUMNS):
        se = raw[key + "_se"][:, fitted]
        rows = np.all(se > 0, axis=1) & live
        weight = 1.0 / se[rows] ** 2  # (R, m)
        resid = raw[key][rows][:, fitted] - theory[key][rows][:, fitted]
        normal = np.einsum("rm,mp,mq->rpq", weight, design, design)
        rhs = np.einsum("rm,mp,rm->rp", weight, design, resid)
        coef = np.linalg.solve(normal, rhs[:, :, None])[:, :, 0]
        fit = coef @ design.T
        chi2[index, rows] = np.sum(weight * (resid - fit) ** 2, axis=1)
        column = raw[key].copy()
        column[np.ix_(rows, fitted)] = theory[key][rows][:, fitted] + fit
        table[key] = column
    table["chi2"] = chi2
    table["dof"] = np.array(fitted.sum() - len(powers))
    return table


@cache
def _width_splines() -> tuple[list[CubicSpline], FloatArray, FloatArray, FloatArray]:
    """Return splines in x = 1/n of A, B, AX, BX; the fine u grid; θ_∞'s drift and X on it."""
    table = smoothed_table()
    x = 1.0 / table["n"]
    order = np.argsort(x)
    splines = [CubicSpline(x[order], table[key][:, order], axis=1) for key in _COLUMNS]
    u_fine = np.linspace(math.log(_THETA_FLOOR), math.log(math.pi), _FINE_SIZE)
    theta_inf = infinite_width_map(np.exp(u_fine))
    drift_inf = np.log(theta_inf) - u_fine
    x_inf = 2.0 * np.log(np.sin(theta_inf))
    return splines, u_fine, drift_inf, x_inf


@cache
def _kernel_for_width(n: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Conditional moments on the fine u grid for width ``n``.

    Returns E[u' − u], Var[u'], E[X'], Var[X'] given u = ln θ, with X' = ln sin²θ'.
    """
    table = smoothed_table()
    splines, u_fine, drift_inf, x_inf = _width_splines()
    x = min(max(1.0 / n, 1.0 / table["n"].max()), 1.0 / table["n"].min())
    u_nodes = np.log(table["theta"])
    # Below the smallest tabulated angle the scaled corrections have reached their θ → 0 limit:
    # hold them constant there (no spline extrapolation).
    u_eval = np.maximum(u_fine, u_nodes[0])
    a, b, ax, bx = (CubicSpline(u_nodes, spline(x))(u_eval) for spline in splines)
    return drift_inf + a / n, np.maximum(b, 0.0) / n, x_inf + ax / n, np.maximum(bx, 0.0) / n


def kernel_tables(widths: np.ndarray) -> tuple[FloatArray, FloatArray]:
    """Stack the per-width kernels for the distinct ``widths``.

    Returns
    -------
    u_fine : ndarray, shape (G,)
        The fine grid of u = ln θ.
    kernels : ndarray, shape (4, len(widths), G)
        E[ln θ' − ln θ | θ, n], Var[ln θ' | θ, n], E[X' | θ, n] and Var[X' | θ, n].
    """
    _, u_fine, _, _ = _width_splines()
    rows = [_kernel_for_width(int(n)) for n in widths]
    return u_fine, np.stack([np.stack(r) for r in rows], axis=1)


class Propagation(NamedTuple):
    """Output of :func:`propagate` for B architectures of depth L on K lattice points."""

    support: FloatArray  # (L+1, B, K): lattice points in u = ln θ
    weights: FloatArray  # (L+1, B, K): their probabilities (rows sum to 1)
    x_mean: FloatArray  # (L+1, B): E[ln sin²θ_ℓ]
    x_var: FloatArray  # (L+1, B): Var[ln sin²θ_ℓ]
    # Layer ℓ ≥ 1's law of X as a mixture over layer ℓ−1's lattice (weights[ℓ−1]) of the
    # one-step conditional laws, with these means and variances (row 0: the point mass X_0).
    component_mean: FloatArray  # (L+1, B, K)
    component_var: FloatArray  # (L+1, B, K)


def propagate(
    theta0: float, step_widths: np.ndarray, *, lattice_size: int = LATTICE_SIZE
) -> Propagation:
    """Propagate the law of u = ln θ through layers; return lattice and moments of X.

    Parameters
    ----------
    theta0 : float
        Initial angle in (0, π), as checked by :func:`depthscope._errors.check_theta0`.
    step_widths : ndarray of int, shape (B, L)
        For each of B architectures, the width used by each of the L steps.
    lattice_size : int
        Number of lattice points K.

    Returns
    -------
    Propagation
        Lattice support and weights in u = ln θ, and the mean and variance of
        X = ln sin²θ at layers 0..L.

    Notes
    -----
    Each lattice point u_j with weight w_j moves to the three Gauss-Hermite points
    m(u_j) + √(3 v(u_j))·{−1, 0, 1} (weights 1/6, 2/3, 1/6), which carry the exact conditional
    mean m and variance v. Every point is then split over its three nearest lattice nodes with
    weights ((δ² − δ)/2, 1 − δ², (δ² + δ)/2), δ its offset in units of the spacing, which keeps
    both its mean and its second moment. The lattice distribution's mean and variance are
    thus exactly those of the chain with the tabulated kernel. (The split weights can be
    slightly negative on one side; they sum to 1 and the layer's net weights are positive where
    the law has mass, up to rounding at its far tails.)

    The moments of X_{ℓ+1} are read from layer ℓ's lattice through the tabulated conditional
    moments of X' (law of total variance) rather than from the lattice of u_{ℓ+1}: X is a
    non-linear function of u, and the lattice's three-point spread per step would bias Var X.
    """
    step_widths = np.asarray(step_widths)
    n_arch, depth = step_widths.shape
    k = lattice_size
    distinct, rows = np.unique(step_widths, return_inverse=True)
    rows = rows.reshape(step_widths.shape)
    u_fine, kernels = kernel_tables(distinct)
    grid_size = len(u_fine)
    flat_kernels = kernels.reshape(4, -1)  # (4, W·G): rows of the distinct widths end to end
    inv_step = 1.0 / (u_fine[1] - u_fine[0])

    support = np.empty((depth + 1, n_arch, k))
    weights = np.zeros((depth + 1, n_arch, k))
    x_mean = np.empty((depth + 1, n_arch))
    x_var = np.zeros((depth + 1, n_arch))
    support[0] = math.log(theta0)
    weights[0, :, 0] = 1.0
    x_mean[0] = 2.0 * math.log(math.sin(theta0))
    component_mean = np.empty((depth + 1, n_arch, k))
    component_var = np.zeros((depth + 1, n_arch, k))
    component_mean[0] = x_mean[0, :, None]
    flat_offsets = (np.arange(n_arch) * k)[:, None]
    shifts = np.array([-1, 0, 1])
    for layer in range(depth):
        u, w = support[layer], weights[layer]
        # Linear interpolation of the four kernels at every lattice point (clamped to the grid).
        pos = np.clip((u - u_fine[0]) * inv_step, 0.0, grid_size - 1.000001)
        left = pos.astype(np.intp)
        frac = pos - left
        index = rows[:, layer, None] * grid_size + left
        lower = flat_kernels[:, index]
        drift, var, cond_x_mean, cond_x_var = lower + (flat_kernels[:, index + 1] - lower) * frac
        component_mean[layer + 1], component_var[layer + 1] = cond_x_mean, cond_x_var
        x_mean[layer + 1] = np.sum(w * cond_x_mean, axis=1)
        x_var[layer + 1] = (
            np.sum(w * (cond_x_var + cond_x_mean**2), axis=1) - x_mean[layer + 1] ** 2
        )
        # Three Gauss-Hermite points per lattice point, then the moment-preserving split.
        # Lattice points of negligible weight are dropped, so they do not stretch the range.
        centre, sd = u + drift, np.sqrt(var)
        live = w > _PRUNE
        lo = np.where(live, centre - _SQRT3 * sd, np.inf).min(axis=1)
        hi = np.where(live, centre + _SQRT3 * sd, -np.inf).max(axis=1)
        spacing = np.maximum((hi - lo) / (k - 3), 1e-12 * (1.0 + np.abs(lo)))
        origin = lo - spacing
        pos = (centre[:, :, None] + sd[:, :, None] * _GH_NODES - origin[:, None, None]) / spacing[
            :, None, None
        ]
        node = np.clip(np.rint(pos), 1, k - 2).astype(np.intp)
        delta = pos - node
        half_sq, half_delta = 0.5 * delta * delta, 0.5 * delta
        point_w = np.where(live, w, 0.0)[:, :, None] * _GH_WEIGHTS
        shares = np.stack([half_sq - half_delta, 1.0 - 2.0 * half_sq, half_sq + half_delta])
        shares *= point_w
        targets = (node + flat_offsets[:, :, None])[None] + shifts[:, None, None, None]
        new_w = np.bincount(targets.ravel(), shares.ravel(), minlength=n_arch * k)
        new_w = new_w.reshape(n_arch, k)
        weights[layer + 1] = new_w / new_w.sum(axis=1, keepdims=True)
        support[layer + 1] = origin[:, None] + spacing[:, None] * np.arange(k)
    return Propagation(
        support, weights, x_mean, np.maximum(x_var, 0.0), component_mean, component_var
    )
