"""The one-step law of the angle through a bias-free ReLU layer: the shipped table and kernels.

Given two live inputs at angle θ, a bias-free ReLU layer of width n with Gaussian He weights
produces θ' whose law depends only on (θ, n): three atoms (``dead``: an input has no active
unit; ``collapsed``: θ' = 0 exactly; ``atom``: θ' = π/2 exactly, X' = 0) with closed-form
probabilities, and a continuous part on (0, π/2), shipped as quantiles of
z = √n (ln θ' − ln θ_∞(θ)) on a grid of (θ, n) (``tools/make_law_table.py``,
``docs/law-table.md``). Below θ = 1e-8 the law of z does not depend on θ (scale invariance),
so the kernel in u = ln θ is a convolution there and there is no floor on θ.

This module loads the table, reads its knots at any (θ, n), and builds the transition
structure of one width on a grid of cells in u (:func:`kernel`, :class:`LawKernel`); the
chain that propagates the law through many layers is :mod:`depthscope.theory._law`.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache
from importlib import resources
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from .._types import FloatArray

__all__ = [
    "LEVELS",
    "LawKernel",
    "atom_probabilities",
    "kernel",
    "log_drift_inf",
    "spacing",
]

_U_TOP = math.log(math.pi / 2.0)
_THETA_SMALL = 1e-8
_POOL_BELOW = 1e-5 * (1 + 1e-9)
_HEADROOM_FROM = 1.0  # from this θ on, interpolate the distance to the bound θ' < π/2
_U_SMALL = math.log(_THETA_SMALL)
_CELLS_PER_SD = 4.0  # grid cells per one-step sd of ln θ in the scale-invariant limit
_tail = np.array([1e-4, 1e-3, 5e-3])
#: Levels at which each layer's continuous part is stored as quantiles (0 and 1: support ends).
LEVELS = np.concatenate([[0.0], _tail, np.linspace(0.01, 0.99, 99), 1.0 - _tail[::-1], [1.0]])


@cache
def _table() -> dict[str, FloatArray]:
    """Load the shipped table; split each node's knots into a centred shape and A = n·E[Δu]."""
    path = resources.files("depthscope").joinpath("data/law_table.npz")
    with resources.as_file(path) as file, np.load(file) as data:
        table = {
            key: np.asarray(data[key], dtype=np.float64)
            for key in data.files
            if key not in ("generator",)
        }
    levels, knots = table["levels"], table["knots"]
    # Mean of the piecewise-linear quantile function: Σ Δp (q_i + q_{i+1})/2.
    knot_mean = np.sum(np.diff(levels) * 0.5 * (knots[..., 1:] + knots[..., :-1]), axis=-1)
    sample_mean = table["z_moments"][..., 1]
    for i in range(1, len(sample_mean)):  # nodes with no continuous part (θ → π)
        empty = ~np.isfinite(sample_mean[i])
        sample_mean[i, empty] = sample_mean[i - 1, empty]
    table["centred"] = knots - knot_mean[..., None]
    # A = √n · E[z] = n (E[ln θ'] − ln θ_∞): tends to a constant as n → ∞ (held beyond 512).
    table["A"] = np.sqrt(table["n"]) * sample_mean
    # The nodes θ ≤ 1e-5 are in the scale-invariant regime (their laws differ by O(θ)): pool
    # them, weighted by their draws, so that a deep chain's drift has the smallest Monte Carlo
    # error the table can give.
    tiny = table["theta"] <= _POOL_BELOW
    if tiny.sum() > 1:
        weight = table.get("node_samples", np.ones(knots.shape[:2]))[tiny]
        weight = weight / weight.sum(axis=0)
        for key in ("centred", "A"):
            pooled = np.einsum("ik,ik...->k...", weight, table[key][tiny])
            table[key][tiny] = pooled
    return table


def log_drift_inf(theta: FloatArray) -> FloatArray:
    """Return ln θ_∞ − ln θ for the infinite-width arc-cosine map θ_∞ (exact at any small θ)."""
    theta = np.asarray(theta, dtype=np.float64)
    small = theta < 0.05
    t = np.where(small, theta, 0.0)
    series = sum(
        (-1) ** k * t ** (2 * k + 1) * (1 / math.factorial(2 * k) - 1 / math.factorial(2 * k + 1))
        for k in range(1, 8)
    )
    tail = np.where(small, series, theta * np.cos(theta) - np.sin(theta))
    d = (np.pi * 2.0 * np.sin(theta / 2.0) ** 2 + tail) / np.pi
    with np.errstate(divide="ignore"):
        value = np.log(2.0 * np.arcsin(np.sqrt(np.clip(d / 2.0, 0.0, 1.0))))
    # θ_∞ = θ(1 − θ/(3π) + O(θ²)): ln θ_∞ − ln θ → 0 smoothly; safe below 1e-8 or underflow.
    tiny = theta < _THETA_SMALL
    # θ_∞ = θ(1 − θ/(3π) + O(θ²)) below 1e-8: return ln θ_∞ − ln θ there, finite for θ = 0.
    return np.where(tiny, -theta / (3 * np.pi), value - np.log(np.where(tiny, 1.0, theta)))


def atom_probabilities(theta: FloatArray, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return P(dead), P(collapsed), P(θ' = π/2) after one layer of width n from angle θ.

    With p = (π − θ)/(2π) = P(both pre-activations of a unit > 0) = P(both ≤ 0):
    dead = 2·2⁻ⁿ − pⁿ, collapsed = n pⁿ (one shared active unit, all others off for both),
    atom = (1 − p)ⁿ − 2·2⁻ⁿ + pⁿ (both live, no unit active for both).
    """
    p = (np.pi - np.asarray(theta, dtype=np.float64)) / (2.0 * np.pi)
    half = 0.5**n
    return 2.0 * half - p**n, n * p**n, np.maximum((1.0 - p) ** n - 2.0 * half + p**n, 0.0)


def _knots(theta: FloatArray, n: int) -> FloatArray:
    """Knots (z at the table's levels) of the continuous part, interpolated to (θ, n).

    The centred shape and A = n·E[ln θ' − ln θ_∞] are interpolated linearly in 1/n (held at
    the widest tabulated width beyond it) and in ln θ (held below θ = 1e-8: scale invariance),
    then z = shape + A/√n.
    """
    table = _table()
    widths, thetas = table["n"], table["theta"]
    x = 1.0 / min(max(n, widths[0]), widths[-1])
    inv = 1.0 / widths  # decreasing
    k = int(np.clip(np.searchsorted(-inv, -x) - 1, 0, len(widths) - 2))
    frac = (inv[k] - x) / (inv[k] - inv[k + 1])
    centred, drift = table["centred"], table["A"]
    by_width = centred[:, k] + frac * (centred[:, k + 1] - centred[:, k])  # (T, K)
    by_width = (
        by_width + ((drift[:, k] + frac * (drift[:, k + 1] - drift[:, k])) / math.sqrt(n))[:, None]
    )
    u_nodes = np.log(thetas)
    u = np.log(np.clip(theta, thetas[0], thetas[-1]))
    j = np.clip(np.searchsorted(u_nodes, u, side="right") - 1, 0, len(thetas) - 2)
    w = ((u - u_nodes[j]) / (u_nodes[j + 1] - u_nodes[j]))[:, None]
    out: FloatArray = by_width[j] + w * (by_width[j + 1] - by_width[j])
    # Near and above π/2 the continuous part is bounded by θ' < π/2, i.e. z < cap = √n·gap(θ):
    # there interpolate the log headroom ln(cap − z) (in 1/n, then in ln θ) instead, so the law
    # keeps to the bound however close to it it lies (X down to −1e-13 at θ₀ = 3).
    # Upper half of the levels only (the lower tail keeps the linear interpolation, which
    # carries the tail means), and only inside the table's widths.
    wide = (theta >= _HEADROOM_FROM) & (n <= widths[-1])
    if wide.any():
        gap = _U_TOP - table["log_theta_inf"]  # (T,)
        jw, ww = j[wide], w[wide]
        room = []
        for rows in (jw, jw + 1):
            # Headroom in ln θ units, gap − z/√n_k: z's √n_k scaling is taken out before the
            # interpolation in 1/n (ln √n is not linear in 1/n between two columns: interpolating
            # ln(cap − z) put D = 0.06-0.09 at layer 1 for widths 100-300 from θ0 = 1).
            root = np.sqrt(widths[[k, k + 1]])[None, :, None]
            room_u = gap[rows, None, None] - table["knots"][rows][:, [k, k + 1]] / root
            log_room = np.log(np.maximum(room_u, 1e-300))
            room.append(log_room[:, 0] + frac * (log_room[:, 1] - log_room[:, 0]))
        gap_t = _U_TOP - np.log(theta[wide]) - log_drift_inf(theta[wide])
        top = table["levels"] >= 0.5
        head = math.sqrt(n) * (gap_t[:, None] - np.exp(room[0] + ww * (room[1] - room[0])))
        out[np.ix_(np.flatnonzero(wide), np.flatnonzero(top))] = head[:, top]
    return np.maximum.accumulate(out, axis=1)


@cache
def _refine() -> tuple[FloatArray, FloatArray, FloatArray]:
    """Sub-levels: (left knot index, weight of the right knot) at the fine levels; masses.

    The fine levels are the table's levels and 401 uniform ones; the continuous law is
    represented by the quantile function at the middle of each fine sub-bin, with its mass.
    """
    levels = _table()["levels"]
    fine = np.unique(np.concatenate([levels, np.linspace(0.0, 1.0, 401)]))
    j = np.clip(np.searchsorted(levels, fine, side="right") - 1, 0, len(levels) - 2)
    frac = (fine - levels[j]) / (levels[j + 1] - levels[j])
    return j.astype(np.float64), frac, np.diff(fine)


def _sub_bins(knots: FloatArray) -> FloatArray:
    """Quantile function (piecewise linear in the knots) at the fine sub-bins' mid-levels."""
    j_float, frac, _ = _refine()
    j = j_float.astype(np.intp)
    at_fine = knots[:, j] * (1.0 - frac) + knots[:, j + 1] * frac
    return np.asarray(0.5 * (at_fine[:, 1:] + at_fine[:, :-1]), dtype=np.float64)


def _targets(u: FloatArray, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Continuous-part sub-bins from sources at ln θ = ``u``: target ln θ', mass, and atoms.

    Returns targets (S, F), masses (S, F) (the continuous probability included) and the
    (3, S) atom probabilities (dead, collapsed, π/2).
    """
    theta = np.exp(u)
    mass = _refine()[2]
    z = _sub_bins(_knots(theta, n))
    target = np.minimum((u + log_drift_inf(theta))[:, None] + z / math.sqrt(n), _U_TOP)
    atoms = np.stack(atom_probabilities(theta, n))
    continuous = 1.0 - atoms.sum(axis=0)
    return target, continuous[:, None] * mass[None, :], atoms


def _rows(u: FloatArray, n: int, h: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """As :func:`_targets`, with the targets as grid cell indices (cell k: u_top − (k+½)h).

    Assigning a law of variance σ² to cells of width h adds ≈ h²/12 to its variance
    (Sheppard); each row's targets are therefore first pulled towards their mean by
    c = √(1 − h²/(12σ²)) (c ≥ ½), so that the chain's per-step variance stays exact when the
    grid is coarsened for deep networks.
    """
    target, mass, atoms = _targets(u, n)
    total = np.maximum(mass.sum(axis=1, keepdims=True), 1e-300)
    mu = (mass * target).sum(axis=1, keepdims=True) / total
    var = (mass * (target - mu) ** 2).sum(axis=1, keepdims=True) / total
    shrink = np.sqrt(np.clip(1.0 - h * h / (12.0 * np.maximum(var, 1e-300)), 0.25, 1.0))
    cells = np.floor((_U_TOP - np.minimum(mu + shrink * (target - mu), _U_TOP)) / h)
    # Make each row's lattice mean exact (a deep chain sums them): move a fraction |δ| of its
    # mass by one cell, δ = exact mean − lattice mean in cells.
    delta = np.clip(
        (_U_TOP - mu) / h - 0.5 - (mass * cells).sum(axis=1, keepdims=True) / total, -1, 1
    )
    cells = np.concatenate([cells, np.maximum(cells + np.sign(delta), 0.0)], axis=1)
    return cells, np.concatenate([mass * (1 - np.abs(delta)), mass * np.abs(delta)], axis=1), atoms


class LawKernel(NamedTuple):
    """Transition structure for one width on a grid of spacing ``h``."""

    n: int
    n_moderate: int  # cells 0..n_moderate-1 (θ ≥ 1e-8) have their own rows
    matrix: sparse.csr_matrix  # (1 + n_moderate + spill, 1 + n_moderate): target × source
    absorb: FloatArray  # (2, 1 + n_moderate): P(dead), P(collapsed) per moderate source
    template: FloatArray  # scale-invariant row: mass to cell k + offset + j
    offset: int
    absorb_small: tuple[float, float]  # P(dead), P(collapsed) in the scale-invariant limit
    columns: sparse.csc_matrix  # ``matrix`` by columns (sliced to the occupied cells)


def spacing(widths: tuple[int, ...]) -> float:
    """Grid spacing for a set of widths: a quarter of the smallest one-step sd of ln θ."""
    n = max(widths)
    knots = _knots(np.array([_THETA_SMALL]), n)[0]
    mass = _refine()[2]
    z = _sub_bins(knots[None, :])[0]
    sd = math.sqrt(float(mass @ z**2 - (mass @ z) ** 2) / n)
    return min(0.1, sd / _CELLS_PER_SD)


@cache
def _spacing_of(n: int) -> float:
    """Grid spacing of a width-``n`` layer's law: :func:`spacing` of that width alone."""
    return spacing((n,))


def _n_cells(h: float) -> int:
    """Cells above θ = 1e-8 on the grid of spacing ``h``."""
    return math.ceil((_U_TOP - _U_SMALL) / h)


@lru_cache(maxsize=256)  # cached per (width, target grid, source grid): ~1 MB each at most
def kernel(n: int, h: float, h_src: float | None = None) -> LawKernel:
    """Build (and cache) the transition structure of width ``n`` onto the grid of spacing ``h``.

    The moderate sources are the centres of the cells of spacing ``h_src`` (default ``h``): a
    layer whose grid differs from the previous layer's maps its law across (a remap without
    interpolation error: each row is the exact one-step law from the source centre). The
    scale-invariant template is always from ``h`` to ``h`` (the window is remapped first).
    """
    h_src = h if h_src is None else h_src
    n_mod, n_src = _n_cells(h), _n_cells(h_src)
    u_src = np.concatenate([[_U_TOP], _U_TOP - (np.arange(n_src) + 0.5) * h_src])
    cells, mass, atoms = _rows(u_src, n, h)
    spill = int(cells.max()) + 1 - n_mod
    rows = np.repeat(np.arange(1 + n_src), cells.shape[1])
    cols = 1 + cells.astype(np.intp).ravel()
    matrix = sparse.coo_matrix(
        (mass.ravel(), (rows, cols)), shape=(1 + n_src, 1 + n_mod + max(spill, 0))
    ).tocsr()
    matrix = matrix + sparse.csr_matrix(
        (atoms[2], (np.arange(1 + n_src), np.zeros(1 + n_src, dtype=np.intp))),
        shape=matrix.shape,
    )
    matrix = matrix.T.tocsr()
    # Scale-invariant row: a source cell at index k0 deep below u_s.
    k0 = n_mod + math.ceil(20.0 / h)
    cells0, mass0, atoms0 = _rows(np.array([_U_TOP - (k0 + 0.5) * h]), n, h)
    shift = cells0[0].astype(np.intp) - k0
    offset = int(shift.min())
    template: FloatArray = np.bincount(shift - offset, mass0[0]).astype(np.float64)
    return LawKernel(
        n,
        n_mod,
        matrix,
        atoms[:2],
        template,
        offset,
        (float(atoms0[0, 0]), float(atoms0[1, 0])),
        matrix.tocsc(),
    )


def _x_of_u(values: ArrayLike) -> FloatArray:
    """X = ln sin²(eᵘ), exact for any u (no underflow below θ = 1e-300)."""
    u = np.asarray(values, dtype=np.float64)
    theta = np.exp(np.minimum(u, _U_TOP))
    small = theta < 1e-4
    with np.errstate(divide="ignore"):
        x = np.where(
            small, 2.0 * u + 2.0 * np.log1p(-(theta**2) / 6.0), 2.0 * np.log(np.sin(theta))
        )
    return np.asarray(np.minimum(x, 0.0), dtype=np.float64)


@cache
def _x_half_cells(h: float) -> FloatArray:
    """X at u_top − (k/2)·h for k = 0 … 2·(cells above 1e-8 + 1): cell edges and centres."""
    count = 2 * (math.ceil((_U_TOP - _U_SMALL) / h) + 2)
    return _x_of_u(_U_TOP - 0.5 * h * np.arange(count + 1))


@cache
def _x_centres(h: float) -> FloatArray:
    """X at the centres of the cells above θ = 1e-8 on the grid of spacing ``h``."""
    return _x_half_cells(h)[1 : 2 * _n_cells(h) : 2].copy()
