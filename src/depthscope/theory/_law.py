"""The whole per-layer law of ln sin²θ, propagated through an exact one-step kernel.

Given two live inputs at angle θ, a bias-free ReLU layer of width n with Gaussian He weights
produces θ' whose law depends only on (θ, n): three atoms (``dead``: an input has no active
unit; ``collapsed``: θ' = 0 exactly; ``atom``: θ' = π/2 exactly, X' = 0) with closed-form
probabilities, and a continuous part on (0, π/2), shipped as quantiles of
z = √n (ln θ' − ln θ_∞(θ)) on a grid of (θ, n) (``tools/make_law_table.py``,
``docs/law-table.md``). Below θ = 1e-8 the law of z does not depend on θ (scale invariance),
so the kernel in u = ln θ is a convolution there and there is no floor on θ.

The law of u_ℓ is carried on a uniform grid of cells in u, each layer on its own width's grid
(spacing h(n): a quarter of the width's one-step sd, at most 0.1; the kernel maps the previous
layer's grid onto it) until mass reaches θ < 1e-8, then on the widest width's grid, with the
atom at π/2 as its own state and the dead and collapsed masses as absorbing states (a
collapsed pair dies with probability 2⁻ⁿ per layer, as the simulator counts it). The grid is
split at u_s = ln 1e-8: above, a sparse transition matrix; below, a convolution with one
template over a moving window (so θ₀ down to 1e-300 and depth 10,000 cost the same as
moderate angles). :func:`propagate_final` steps many architectures together (one sparse ×
dense product per source grid and width per layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from .._types import FloatArray

__all__ = [
    "LEVELS",
    "FinalLaws",
    "Law",
    "LawKernel",
    "atom_probabilities",
    "kernel",
    "propagate_final",
    "propagate_law",
]

_U_TOP = math.log(math.pi / 2.0)
_THETA_SMALL = 1e-8
_POOL_BELOW = 1e-5 * (1 + 1e-9)
_HEADROOM_FROM = 1.0  # from this θ on, interpolate the distance to the bound θ' < π/2
_U_SMALL = math.log(_THETA_SMALL)
_CELLS_PER_SD = 4.0  # grid cells per one-step sd of ln θ in the scale-invariant limit
_COARSEN_CELLS = 600  # window length from which a wide law may be coarsened
_MAX_COARSEN = 7.9  # h may grow to 8× its start (2× the one-step sd)
_FOLD = 1e-14  # mass above θ = 1e-8 below which it joins the scale-invariant window
_TRIM = 1e-18  # cells of the moving window below this mass are dropped at its ends
_SPILL = 1e-7  # a first spill below θ = 1e-8 of at most this mass stays in the last cell above
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
            caps = np.sqrt(widths[[k, k + 1]])[None, :, None] * gap[rows, None, None]
            log_room = np.log(np.maximum(caps - table["knots"][rows][:, [k, k + 1]], 1e-300))
            room.append(log_room[:, 0] + frac * (log_room[:, 1] - log_room[:, 0]))
        gap_t = _U_TOP - np.log(theta[wide]) - log_drift_inf(theta[wide])
        top = table["levels"] >= 0.5
        head = math.sqrt(n) * gap_t[:, None] - np.exp(room[0] + ww * (room[1] - room[0]))
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


def _remap_window(
    low: FloatArray, low_start: int, h_src: float, h: float
) -> tuple[FloatArray, int]:
    """Move a window of cells of spacing ``h_src`` onto the grid of spacing ``h``.

    Each cell's mass is shared linearly between the two target cells whose centres bracket its
    centre (mean-preserving; it adds ≤ h²/4 of variance per remap, in a region where the law is
    already many cells wide).
    """
    if not len(low) or h_src == h:
        return low, low_start
    p = (low_start + np.arange(len(low)) + 0.5) * (h_src / h) - 0.5
    j = np.floor(p).astype(np.intp)
    frac = p - j
    lo = int(j[0])
    out = np.bincount(j - lo, low * (1.0 - frac), int(j[-1]) - lo + 2).astype(np.float64)
    out[1:] += np.bincount(j - lo, low * frac, minlength=int(j[-1]) - lo + 1)
    keep = np.flatnonzero(out > _TRIM)
    if not len(keep):
        return out[:0], _n_cells(h)
    return out[keep[0] : keep[-1] + 1], lo + int(keep[0])


@dataclass(frozen=True)
class Law:
    """Per-layer law of X_ℓ = ln sin²θ_ℓ at layers 0..L (layer 0 = the inputs).

    Attributes
    ----------
    dead, collapsed : ndarray, shape (L+1,)
        Probability that by layer ℓ an input has no active unit (angle undefined), or that the
        angle is exactly 0 and not dead; both absorbing.
    live : ndarray, shape (L+1,)
        Probability carried by the defined, non-zero angles (1 − dead − collapsed up to the
        mass dropped at the grid's far tails, < 1e-12: a check of conservation).
    atom : ndarray, shape (L+1,)
        P(X_ℓ = 0) given a defined, non-zero angle (θ_ℓ = π/2 exactly).
    mean, sd : ndarray, shape (L+1,)
        Mean and sd of X_ℓ given a defined, non-zero angle (atom included). NaN where no live
        mass is left; mean[0] = −inf for θ₀ = π.
    levels : ndarray, shape (Q,)
        Probability levels of ``continuous_quantiles`` (first 0, last 1: the support's ends).
    continuous_quantiles : ndarray, shape (L+1, Q)
        Quantiles of the continuous part of X_ℓ (given defined, non-zero and X_ℓ ≠ 0).
    """

    widths: tuple[int, ...]
    theta0: float
    dead: FloatArray
    collapsed: FloatArray
    live: FloatArray
    atom: FloatArray
    mean: FloatArray
    sd: FloatArray
    levels: FloatArray
    continuous_quantiles: FloatArray

    def cdf(self, layer: int, x: FloatArray) -> FloatArray:
        """CDF of X at ``layer`` (given a defined, non-zero angle), the atom at 0 included."""
        x = np.asarray(x, dtype=np.float64)
        q, a = self.continuous_quantiles[layer], self.atom[layer]
        if layer == 0 or not np.isfinite(q).all():
            return np.where(x >= self.mean[layer], 1.0, 0.0)
        cont = np.interp(x, q, self.levels, left=0.0, right=1.0)
        return np.asarray((1.0 - a) * cont + a * (x >= 0.0), dtype=np.float64)

    def density(self, layer: int, x: FloatArray) -> FloatArray:
        """Density of the continuous part (times its probability 1 − atom), piecewise constant."""
        x = np.asarray(x, dtype=np.float64)
        q = self.continuous_quantiles[layer]
        width = np.diff(q)
        dens = np.where(width > 0, np.diff(self.levels) / np.where(width > 0, width, 1.0), 0.0)
        j = np.searchsorted(q, x, side="right") - 1
        inside = (j >= 0) & (j < len(width))
        out = np.where(inside, dens[np.clip(j, 0, len(width) - 1)], 0.0)
        return np.asarray((1.0 - self.atom[layer]) * out, dtype=np.float64)

    def quantiles(self, probabilities: FloatArray) -> FloatArray:
        """Quantiles of X (atom included) at ``probabilities``, shape (L+1, P)."""
        p = np.asarray(probabilities, dtype=np.float64)
        out = np.empty((len(self.mean), len(p)))
        for layer in range(len(self.mean)):
            a = self.atom[layer]
            q = self.continuous_quantiles[layer]
            scaled = np.clip(p / max(1.0 - a, 1e-300), 0.0, 1.0)
            out[layer] = np.where(p >= 1.0 - a, 0.0, np.interp(scaled, self.levels, q))
        out[0] = self.mean[0]
        return out


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


def propagate_law(widths: tuple[int, ...], theta0: float) -> Law:
    """Propagate the law of the angle through bias-free ReLU layers of ``widths`` from ``theta0``.

    Parameters
    ----------
    widths : tuple of int
        Hidden widths n_1..n_L (each ≥ 4 for the stated accuracy; ≥ 2 accepted).
    theta0 : float
        Angle between the inputs, in (0, π].

    Returns
    -------
    Law
        Per-layer dead/collapsed probabilities and the conditional law of ln sin²θ_ℓ.
    """
    depth = len(widths)
    dead, coll, atom_out = np.zeros(depth + 1), np.zeros(depth + 1), np.zeros(depth + 1)
    live = np.ones(depth + 1)
    mean, sd = np.full(depth + 1, np.nan), np.zeros(depth + 1)
    quant = np.full((depth + 1, len(LEVELS)), np.nan)
    mean[0] = -math.inf if theta0 >= math.pi else 2.0 * math.log(math.sin(theta0))
    quant[0] = mean[0]
    if depth:
        mean[1], sd[1], atom_out[1], quant[1], dead[1], coll[1], live[1] = _layer_one(
            widths[0], theta0
        )
    if depth < 2:
        return Law(tuple(widths), theta0, dead, coll, live, atom_out, mean, sd, LEVELS, quant)
    # Each layer's law lives on its own width's grid (a narrow layer's wide law on a coarse
    # grid) while it is above θ = 1e-8; once mass reaches the scale-invariant window (deep or
    # tiny-angle chains) the chain moves to one grid, the widest width's, for all later layers
    # (so the window is remapped once, not at every change of width).
    h_fix = spacing(tuple(sorted(set(widths))))
    state = _layer_two(widths[0], widths[1], theta0, _spacing_of(widths[0]), _spacing_of(widths[1]))
    if len(state[2]):
        state = _layer_two(widths[0], widths[1], theta0, h_fix, h_fix)
    for layer, (state_atom, mod, low, _, _, d_mass, c_mass), summary in _chain(
        widths, state, 2, bool(len(state[2])), 1.0, _summarise
    ):
        dead[layer], coll[layer] = d_mass, c_mass
        live[layer] = state_atom + float(mod.sum()) + float(low.sum())
        mean[layer], sd[layer], atom_out[layer], quant[layer] = summary
    return Law(tuple(widths), theta0, dead, coll, live, atom_out, mean, sd, LEVELS, quant)


def _chain(
    widths: tuple[int, ...],
    state: State,
    layer: int,
    fixed: bool,
    scale: float,
    summarise: Callable[..., Any],
) -> Iterator[tuple[int, State, Any]]:
    """Yield (layer, state, summary) from ``state`` at ``layer`` (already stepped) onwards."""
    h_fix = spacing(tuple(sorted(set(widths))))
    for ell in range(layer, len(widths) + 1):
        if ell > layer:
            n = widths[ell - 1]
            state = _advance(state, n, (h_fix if fixed else _spacing_of(n)) * scale)
            fixed = fixed or bool(len(state[2]))
        state = _fold(state)
        summary = summarise(*state[:5])
        yield ell, state, summary
        # Deep chains: once the law spans many cells, merge cells pairwise (h doubles, at most
        # to 8× the layer's own spacing; the Sheppard-corrected kernels keep the per-step
        # variance); later layers' grids are coarsened by the same factor.
        state_atom, mod, low, low_start, h, d_mass, c_mass = state
        if len(low) > _COARSEN_CELLS and summary[1] > 48.0 * h and scale < _MAX_COARSEN:
            mod, low, low_start = _coarsen(mod, low, low_start, h)
            state = (state_atom, mod, low, low_start, 2.0 * h, d_mass, c_mass)
            scale *= 2.0


def _light(
    atom: float, mod: FloatArray, low: FloatArray, low_start: int, h: float
) -> tuple[float, float, float]:
    """Mean, sd and atom share of X, as :func:`_summarise` gives them (no quantiles)."""
    live = atom + float(mod.sum()) + float(low.sum())
    if live <= 1e-300:
        return math.nan, 0.0, 0.0
    xm = _x_centres(h)[: len(mod)]
    xw = 2.0 * (_U_TOP - (low_start + 0.5 + np.arange(len(low))) * h)
    m = (float(mod @ xm) + float(low @ xw)) / live
    var = float(mod @ (xm - m) ** 2) + float(low @ (xw - m) ** 2) + atom * m * m
    return m, math.sqrt(max(var, 0.0) / live), atom / live


# The chain's state after a layer: (atom at π/2, moderate cells, window, window start, grid
# spacing, dead mass, collapsed mass).
State = tuple[float, FloatArray, FloatArray, int, float, float, float]


@lru_cache(maxsize=1024)
def _layer_one(
    n: int, theta0: float
) -> tuple[float, float, float, FloatArray, float, float, float]:
    """Layer 1 exactly from θ₀: (mean, sd, atom share, quantiles, dead, collapsed, live)."""
    u1, w1, atoms1 = _targets(np.array([math.log(theta0)]), n)
    d_mass, c_mass, a1 = (float(v) for v in atoms1[:, 0])
    m, s, a, q = _first_layer(theta0, n, u1[0], w1[0], a1)
    return m, s, a, q, d_mass, c_mass, float(w1[0].sum()) + a1


@lru_cache(maxsize=1024)
def _layer_two(n1: int, n2: int, theta0: float, h1: float, h: float) -> State:
    """Return the chain's state after layer 2 (grid ``h``) from the exact layer 1 (grid h1)."""
    u1, w1, atoms1 = _targets(np.array([math.log(theta0)]), n1)
    d_mass, c_mass, a1 = (float(v) for v in atoms1[:, 0])
    ker = kernel(n2, h, h1)
    dies = c_mass * 0.5**n2
    # Layer 2 from the exact layer-1 points (grouped by 4, mean-preserving) and the atom when
    # layer 1's law is narrow on the grid (θ₀ near π); else from layer 1's cells.
    w = w1[0] / max(float(w1[0].sum()), 1e-300)
    spread = math.sqrt(max(float(w @ u1[0] ** 2) - float(w @ u1[0]) ** 2, 0.0))
    if spread < 6.0 * h:
        src_u = np.append(_group(u1[0] * w1[0]) / np.maximum(_group(w1[0]), 1e-300), _U_TOP)
        src_w = np.append(_group(w1[0]), a1)
        cells, mass, atoms = _rows(src_u, n2, h)
        d_mass += dies + float(src_w @ atoms[0])
        c_mass += float(src_w @ atoms[1]) - dies
        state_atom = float(src_w @ atoms[2])
        idx = cells.astype(np.intp).ravel()
        start = int(idx.min())
        dense = np.bincount(idx - start, (mass * src_w[:, None]).ravel()).astype(float)
        mod, low, low_start = _place(dense, start, ker.n_moderate)
    else:
        idx = np.floor((_U_TOP - u1[0]) / h1).astype(np.intp)
        start = int(idx.min())
        dense = np.bincount(idx - start, w1[0]).astype(float)
        mod, low, low_start = _place(dense, start, _n_cells(h1))
        low, low_start = _remap_window(low, low_start, h1, h)
        had_window = bool(len(low))
        state_atom, mod, low, low_start, dd, dc = _step(ker, a1, mod, low, low_start)
        d_mass, c_mass = d_mass + dies + dd, c_mass - dies + dc
        if not had_window:
            mod, low, low_start = _keep_spill(mod, low, low_start)
    return state_atom, mod, low, low_start, h, d_mass, c_mass


def _advance(state: State, n: int, h: float) -> State:
    """One layer of width ``n`` onto the grid of spacing ``h``."""
    state_atom, mod, low, low_start, h_src, d_mass, c_mass = state
    ker = kernel(n, h, h_src)
    low, low_start = _remap_window(low, low_start, h_src, h)
    dies = c_mass * 0.5**n
    had_window = bool(len(low))
    state_atom, mod, low, low_start, dd, dc = _step(ker, state_atom, mod, low, low_start)
    if not had_window:
        mod, low, low_start = _keep_spill(mod, low, low_start)
    return state_atom, mod, low, low_start, h, d_mass + dies + dd, c_mass - dies + dc


def _keep_spill(
    mod: FloatArray, low: FloatArray, low_start: int
) -> tuple[FloatArray, FloatArray, int]:
    """Keep a first spill below θ = 1e-8 of total mass ≤ 1e-7 in the last cell above it.

    Moving ≤ 1e-7 of mass (≤ 2e-7 with what is kept from earlier layers) by tens of units of
    ln θ moves the mean of X by ≤ ~2e-5 and any CDF value by ≤ ~2e-7, and a
    chain whose far tail merely touches θ = 1e-8 keeps its per-layer grids (see
    :func:`propagate_law`); a real spill (deep or narrow chains) opens the window as before.
    """
    total = float(low.sum())
    if 0.0 < total <= _SPILL and len(mod):
        mod = mod.copy()
        mod[-1] += total
        return mod, low[:0], len(mod)
    return mod, low, low_start


def _fold(state: State) -> State:
    """Move a negligible mass above θ = 1e-8 (< 1e-14) to the window's top."""
    state_atom, mod, low, low_start, h, d_mass, c_mass = state
    mod_mass = state_atom + float(mod.sum())
    if 0.0 < mod_mass < _FOLD:
        n_mod = len(mod)
        low, low_start = _join([(n_mod, np.array([mod_mass])), (low_start, low)], n_mod)
        return 0.0, np.zeros(n_mod), low, low_start, h, d_mass, c_mass
    return state


def _coarsen(
    mod: FloatArray, low: FloatArray, low_start: int, h: float
) -> tuple[FloatArray, FloatArray, int]:
    """Merge cells pairwise (cells 2j, 2j+1 at h are cell j at 2h); split at the new n_mod."""
    n_new = math.ceil((_U_TOP - _U_SMALL) / (2.0 * h))
    stop = low_start + len(low)
    full = np.zeros(max(stop, 2 * n_new) + (max(stop, 2 * n_new) % 2))
    full[: len(mod)] = mod
    full[low_start:stop] += low
    merged = full.reshape(-1, 2).sum(axis=1)
    new_low, start = _join([(n_new, merged[n_new:])], n_new)
    return merged[:n_new].copy(), new_low, start


def _group(values: FloatArray, size: int = 4) -> FloatArray:
    """Return the sums of consecutive groups of ``size`` entries (the last may be shorter)."""
    return np.add.reduceat(values, np.arange(0, len(values), size))


def _first_layer(
    theta0: float, n: int, u1: FloatArray, w1: FloatArray, a1: float
) -> tuple[float, float, float, FloatArray]:
    """Layer 1's (mean, sd, atom share, continuous quantiles) from the law at θ₀ (no grid)."""
    live = float(w1.sum()) + a1
    if live <= 1e-300:
        return math.nan, 0.0, 0.0, np.full(len(LEVELS), np.nan)
    x_sub = _x_of_u(u1)
    m = float(w1 @ x_sub) / live
    s = math.sqrt(max(float(w1 @ (x_sub - m) ** 2) + a1 * m * m, 0.0) / live)
    z = np.interp(LEVELS, _table()["levels"], _knots(np.array([theta0]), n)[0])
    drift = float(log_drift_inf(np.array([theta0]))[0])
    return m, s, a1 / live, _x_of_u(math.log(theta0) + drift + z / math.sqrt(n))


def _place(dense: FloatArray, start: int, n_mod: int) -> tuple[FloatArray, FloatArray, int]:
    """Split cells ``start…`` holding ``dense`` into (moderate cells, window, window start)."""
    mod = np.zeros(n_mod)
    if start < n_mod:
        upto = min(start + len(dense), n_mod)
        mod[start:upto] += dense[: upto - start]
        dense, start = dense[upto - start :], upto
    return mod, dense, max(start, n_mod)


def _step(
    ker: LawKernel, atom: float, mod: FloatArray, low: FloatArray, low_start: int
) -> tuple[float, FloatArray, FloatArray, int, float, float]:
    """One layer: returns the new (atom, moderate cells, window, its start, Δdead, Δcollapsed)."""
    n_mod = ker.n_moderate
    new_mod = np.zeros(n_mod)
    d_mass = c_mass = 0.0
    pieces: list[tuple[int, FloatArray]] = []
    new_atom = 0.0
    occupied = np.flatnonzero(mod > _TRIM)  # cells below 1e-18 at the ends are not stepped
    if atom > 0.0 or len(occupied):
        lo, hi = (int(occupied[0]), int(occupied[-1]) + 1) if len(occupied) else (0, 0)
        cols = ker.columns
        ptr = cols.indptr
        a, b = ptr[1 + lo], ptr[1 + hi]
        if 4 * (b - a) > cols.nnz:  # most of the matrix: one sparse product is faster
            out = ker.matrix @ np.concatenate([[atom], mod])
        else:  # the occupied columns only
            values = np.repeat(mod[lo:hi], np.diff(ptr[1 + lo : 2 + hi])) * cols.data[a:b]
            out = np.bincount(cols.indices[a:b], values, cols.shape[0]).astype(np.float64)
            out[cols.indices[ptr[0] : ptr[1]]] += atom * cols.data[ptr[0] : ptr[1]]
        new_atom = float(out[0])
        new_mod += out[1 : 1 + n_mod]
        if len(out) > 1 + n_mod:
            pieces.append((n_mod, out[1 + n_mod :]))
        absorbed = ker.absorb[:, 1 + lo : 1 + hi] @ mod[lo:hi] + atom * ker.absorb[:, 0]
        d_mass += float(absorbed[0])
        c_mass += float(absorbed[1])
    if len(low):
        total = float(low.sum())
        d_mass += total * ker.absorb_small[0]
        c_mass += total * ker.absorb_small[1]
        conv = np.convolve(low, ker.template)
        start = low_start + ker.offset
        if start < n_mod:
            cut = min(n_mod - start, len(conv))
            new_mod[start : start + cut] += conv[:cut]
            conv, start = conv[cut:], start + cut
        pieces.append((start, conv))
    new_low, new_start = _join(pieces, n_mod)
    return new_atom, new_mod, new_low, new_start, d_mass, c_mass


def _join(pieces: list[tuple[int, FloatArray]], n_mod: int) -> tuple[FloatArray, int]:
    """Sum windows given as (start, values) into one trimmed window."""
    pieces = [(s, v) for s, v in pieces if len(v)]
    if not pieces:
        return np.zeros(0), n_mod
    lo = min(s for s, _ in pieces)
    hi = max(s + len(v) for s, v in pieces)
    out = np.zeros(hi - lo)
    for s, v in pieces:
        out[s - lo : s - lo + len(v)] += v
    keep = np.flatnonzero(out > _TRIM)
    return (out[keep[0] : keep[-1] + 1], lo + int(keep[0])) if len(keep) else (out[:0], n_mod)


Summary = tuple[float, float, float, FloatArray]  # mean, sd, atom share, continuous quantiles
_EMPTY: Summary = (math.nan, 0.0, 0.0, np.full(len(LEVELS), np.nan))


def _summarise_window(low: FloatArray, low_start: int, h: float) -> Summary:
    """:func:`_summarise` when all the mass is in the window (θ < 1e-8, X = 2u: linear)."""
    cont = float(low.sum())
    if cont <= 1e-300:
        return _EMPTY
    k = np.arange(len(low), dtype=np.float64)
    k_mean = float(low @ k) / cont
    k_var = max(float(low @ (k - k_mean) ** 2) / cont, 0.0)
    cdf = np.empty(len(low) + 1)
    cdf[0] = 0.0
    np.cumsum(low[::-1], out=cdf[1:])
    position = np.interp(LEVELS * cdf[-1], cdf, np.arange(len(low) + 1.0))
    quantiles = 2.0 * (_U_TOP - (low_start + len(low) - position) * h)
    return (
        2.0 * (_U_TOP - (low_start + 0.5 + k_mean) * h),
        2.0 * h * math.sqrt(k_var),
        0.0,
        quantiles,
    )


def _summarise(atom: float, mod: FloatArray, low: FloatArray, low_start: int, h: float) -> Summary:
    """Return the layer's mean, sd, atom share and continuous quantiles of X from the grid."""
    # Cells in increasing X (= decreasing index): the window reversed, then moderate reversed.
    # Below θ = 1e-8 (cells ≥ n_mod), X = 2u to within 1e-16: linear in the index.
    if len(low) and atom == 0.0 and not mod.any():
        return _summarise_window(low, low_start, h)
    nz = np.flatnonzero(mod)
    top = int(nz[-1]) + 1 if len(nz) else 0
    half = _x_half_cells(h)
    if len(low):
        k_hi = low_start + len(low)
        k_lo = 0 if top else low_start
        masses = np.zeros(k_hi - k_lo)
        masses[: len(low)] = low[::-1]
        if top:
            masses[k_hi - top :] = mod[:top][::-1]
        index = np.arange(k_hi - 1, k_lo - 1, -1, dtype=np.float64)
        x_mid = 2.0 * (_U_TOP - (index + 0.5) * h)
        edges = np.append(2.0 * (_U_TOP - k_hi * h), x_mid + h)
        if top:  # exact X on the moderate cells
            x_mid[k_hi - top :] = half[2 * top - 1 : 0 : -2]
            edges[k_hi - top :] = half[2 * top :: -2]
    else:
        masses = mod[:top][::-1]
        x_mid, edges = half[2 * top - 1 : 0 : -2], half[2 * top :: -2]
    cont = float(masses.sum())
    live = cont + atom
    if live <= 1e-300:
        return _EMPTY
    m = float(masses @ x_mid) / live
    s = math.sqrt(max(float(masses @ (x_mid - m) ** 2) + atom * m * m, 0.0) / live)
    if cont <= 0.0:  # all of the live mass at θ = π/2
        return m, s, 1.0, np.zeros(len(LEVELS))
    cdf = np.concatenate([[0.0], np.cumsum(masses)]) / cont
    nz = np.flatnonzero(masses)
    first, last = int(nz[0]), int(nz[-1]) + 1
    return m, s, atom / live, np.interp(LEVELS, cdf[first : last + 1], edges[first : last + 1])


@dataclass(frozen=True)
class FinalLaws:
    """Final-layer summaries of many architectures (:func:`propagate_final`), index-aligned.

    Attributes
    ----------
    depth : ndarray of int, shape (B,)
        Number of hidden layers L of each architecture.
    mean, sd, dead, collapsed, live, atom : ndarray, shape (B,)
        ``Law.mean[L]`` … ``Law.atom[L]`` of :func:`propagate_law` for each architecture.
    layer_means : ndarray, shape (B, max depth + 1)
        ``Law.mean[0..L]`` per architecture, NaN beyond its depth.
    """

    depth: np.ndarray
    mean: FloatArray
    sd: FloatArray
    dead: FloatArray
    collapsed: FloatArray
    live: FloatArray
    atom: FloatArray
    layer_means: FloatArray


@lru_cache(maxsize=256)
def _atom_column(n: int, h: float, h_src: float) -> FloatArray:
    """Return the kernel's column for a source at θ = π/2 (the atom), dense."""
    return np.asarray(kernel(n, h, h_src).columns[:, 0].toarray()).ravel()


@cache
def _x_centres(h: float) -> FloatArray:
    """X at the centres of the cells above θ = 1e-8 on the grid of spacing ``h``."""
    return _x_half_cells(h)[1 : 2 * _n_cells(h) : 2].copy()


def propagate_final(architectures: list[tuple[int, ...]], theta0: float) -> FinalLaws:
    """Final-layer law (and per-layer means) of many architectures from one ``theta0``.

    Equal to :func:`propagate_law` per architecture (to rounding: the same kernels, grids and
    steps), but batched: at each layer the architectures on the same source grid whose next
    width is the same are stepped together by one sparse-matrix × dense-matrix product,
    restricted to the cells they occupy. Architectures whose law reaches θ < 1e-8 (tiny θ₀,
    very deep chains) are handed to :func:`propagate_law` one by one.

    Parameters
    ----------
    architectures : sequence of tuple of int
        Hidden widths of each architecture (depth ≥ 0).
    theta0 : float
        Angle between the inputs, in (0, π].

    Returns
    -------
    FinalLaws
    """
    archs = [tuple(int(n) for n in a) for a in architectures]
    count = len(archs)
    depth = np.array([len(a) for a in archs], dtype=np.intp)
    top = int(depth.max()) if count else 0
    nan = np.full(count, np.nan)
    out = FinalLaws(
        depth=depth,
        mean=nan.copy(),
        sd=nan.copy(),
        dead=nan.copy(),
        collapsed=nan.copy(),
        live=nan.copy(),
        atom=nan.copy(),
        layer_means=np.full((count, top + 1), np.nan),
    )
    mean0 = -math.inf if theta0 >= math.pi else 2.0 * math.log(math.sin(theta0))
    out.layer_means[:, 0] = mean0
    # State of the batched architectures: atom, dead, collapsed; moderate cells with the range
    # [lo, hi) they occupy; grid spacing.
    atom, dead, coll = np.zeros(count), np.zeros(count), np.zeros(count)
    mods: dict[int, FloatArray] = {}
    lo, hi = np.zeros(count, dtype=np.intp), np.zeros(count, dtype=np.intp)
    grid: dict[int, float] = {}
    slow: list[int] = []

    for i, a in enumerate(archs):
        if len(a) < 3:
            slow.append(i)
            continue
        out.layer_means[i, 1] = _layer_one(a[0], theta0)[0]
        s_atom, mod, low, _, h, d_mass, c_mass = _fold(
            _layer_two(a[0], a[1], theta0, _spacing_of(a[0]), _spacing_of(a[1]))
        )
        if len(low):
            slow.append(i)
            continue
        atom[i], dead[i], coll[i], grid[i] = s_atom, d_mass, c_mass, h
        m, live = _moments(np.array([s_atom]), mod[None, :], h)
        out.layer_means[i, 2] = m[0]
        nz = np.flatnonzero(mod > _TRIM)
        lo[i], hi[i] = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)
        mods[i] = mod
    for layer in range(3, top + 1):
        groups: dict[tuple[float, int], list[int]] = {}
        for i in list(mods):
            if depth[i] >= layer:
                groups.setdefault((grid[i], archs[i][layer - 1]), []).append(i)
        for (h_src, n), members in groups.items():
            ids = np.array(members)
            h = _spacing_of(n)
            ker = kernel(n, h, h_src)
            first, last = int(lo[ids].min()), int(hi[ids].max())
            src = np.zeros((1 + last - first, len(ids)))
            src[0] = atom[ids]
            for col, i in enumerate(members):
                src[1 + lo[i] - first : 1 + hi[i] - first, col] = mods[i][lo[i] : hi[i]]
            cols = ker.columns
            new = cols[:, 1 + first : 1 + last] @ src[1:]  # (1 + n_mod + spill, G)
            new += np.outer(_atom_column(n, h, h_src), src[0])
            absorbed = ker.absorb[:, 1 + first : 1 + last] @ src[1:]  # (2, G)
            absorbed += np.outer(ker.absorb[:, 0], src[0])
            dies = coll[ids] * 0.5**n
            dead[ids] += dies + absorbed[0]
            coll[ids] += absorbed[1] - dies
            n_mod = ker.n_moderate
            new_mod = new[1 : 1 + n_mod].T
            atom[ids] = new[0]
            spill = new[1 + n_mod :].sum(axis=0)
            spilled = spill > _SPILL
            new[n_mod] += np.where(spilled, 0.0, spill)
            mass = atom[ids] + new_mod.sum(axis=1)
            folded = (mass > 0.0) & (mass < _FOLD)
            means, _ = _moments(atom[ids], new_mod, h)
            occupied = new_mod > _TRIM
            any_cell = occupied.any(axis=1)
            start = np.where(any_cell, occupied.argmax(axis=1), 0)
            stop = np.where(any_cell, n_mod - occupied[:, ::-1].argmax(axis=1), 0)
            for col, i in enumerate(members):
                if spilled[col] or folded[col]:
                    # Exactly propagate_law's state: the spill as its window (trimmed), or,
                    # when small, already kept in the last cell above θ = 1e-8.
                    piece = new[1 + n_mod :, col] if spilled[col] else new[:0, col]
                    low, low_start = _join([(n_mod, piece)], n_mod)
                    state = (
                        float(new[0, col]),
                        new[1 : 1 + n_mod, col].copy(),
                        low,
                        low_start,
                        h,
                        float(dead[i]),
                        float(coll[i]),
                    )
                    _finish(out, i, archs[i], state, layer)
                    del mods[i]
                    continue
                mods[i] = new_mod[col]
                grid[i] = h
                lo[i], hi[i] = start[col], stop[col]
                out.layer_means[i, layer] = means[col]
    # Final layers of the batched architectures.
    for i, mod in mods.items():
        h = grid[i]
        m, live = _moments(np.array([atom[i]]), mod[None, :], h)
        x = _x_centres(h)
        out.mean[i], out.live[i] = m[0], live[0]
        out.dead[i], out.collapsed[i] = dead[i], coll[i]
        if live[0] > 1e-300:
            var = float(mod @ (x - m[0]) ** 2) + atom[i] * m[0] ** 2
            out.sd[i] = math.sqrt(max(var, 0.0) / live[0])
            out.atom[i] = atom[i] / live[0]
        else:
            out.sd[i], out.atom[i] = 0.0, 0.0
    for i in slow:
        law = propagate_law(archs[i], theta0)
        for key in ("mean", "sd", "dead", "collapsed", "live", "atom"):
            getattr(out, key)[i] = getattr(law, key)[-1]
        out.layer_means[i, : depth[i] + 1] = law.mean
    return out


def _moments(atom: FloatArray, mods: FloatArray, h: float) -> tuple[FloatArray, FloatArray]:
    """Mean of X (NaN where no live mass) and the live mass, for rows of moderate cells."""
    x = _x_centres(h)
    live = atom + mods.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(live > 1e-300, (mods @ x[: mods.shape[1]]) / live, np.nan)
    return mean, live


def _finish(out: FinalLaws, i: int, widths: tuple[int, ...], state: State, layer: int) -> None:
    """Carry architecture ``i`` on alone from ``state`` (stepped to ``layer``, not yet folded)."""
    summary, last = (math.nan, 0.0, 0.0), state
    for ell, stepped, summary in _chain(widths, state, layer, bool(len(state[2])), 1.0, _light):
        out.layer_means[i, ell] = summary[0]
        last = stepped
    state_atom, mod, low, _, _, d_mass, c_mass = last
    out.mean[i], out.sd[i], out.atom[i] = summary
    out.dead[i], out.collapsed[i] = d_mass, c_mass
    out.live[i] = state_atom + float(mod.sum()) + float(low.sum())
