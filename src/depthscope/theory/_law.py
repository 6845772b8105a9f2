"""The whole per-layer law of ln sin²θ, propagated through an exact one-step kernel.

Given two live inputs at angle θ, a bias-free ReLU layer of width n with Gaussian He weights
produces θ' whose law depends only on (θ, n): three atoms (``dead``: an input has no active
unit; ``collapsed``: θ' = 0 exactly; ``atom``: θ' = π/2 exactly, X' = 0) with closed-form
probabilities, and a continuous part on (0, π/2), shipped as quantiles of
z = √n (ln θ' − ln θ_∞(θ)) on a grid of (θ, n) (``tools/make_law_table.py``,
``docs/law-table.md``). Below θ = 1e-8 the law of z does not depend on θ (scale invariance),
so the kernel in u = ln θ is a convolution there and there is no floor on θ.

The law of u_ℓ is carried on a uniform grid of cells in u (spacing h: a quarter of the widest
width's one-step sd), with the atom at π/2 as its own state and the dead and collapsed
masses as absorbing states (a collapsed pair dies with probability 2⁻ⁿ per layer, as the
simulator counts it). The grid is split at u_s = ln 1e-8: above, a sparse transition matrix;
below, a convolution with one template over a moving window (so θ₀ down to 1e-300 and depth
10,000 cost the same as moderate angles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from .._types import FloatArray

__all__ = ["LEVELS", "Law", "LawKernel", "atom_probabilities", "kernel", "propagate_law"]

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


def spacing(widths: tuple[int, ...]) -> float:
    """Grid spacing for a set of widths: a quarter of the smallest one-step sd of ln θ."""
    n = max(widths)
    knots = _knots(np.array([_THETA_SMALL]), n)[0]
    mass = _refine()[2]
    z = _sub_bins(knots[None, :])[0]
    sd = math.sqrt(float(mass @ z**2 - (mass @ z) ** 2) / n)
    return min(0.1, sd / _CELLS_PER_SD)


@lru_cache(maxsize=64)  # a fine grid × a narrow width is ~10 MB: bound the cache
def kernel(n: int, h: float) -> LawKernel:
    """Build (and cache) the transition structure of width ``n`` on the grid of spacing ``h``."""
    n_mod = math.ceil((_U_TOP - _U_SMALL) / h)
    u_src = np.concatenate([[_U_TOP], _U_TOP - (np.arange(n_mod) + 0.5) * h])
    cells, mass, atoms = _rows(u_src, n, h)
    spill = int(cells.max()) + 1 - n_mod
    rows = np.repeat(np.arange(1 + n_mod), cells.shape[1])
    cols = 1 + cells.astype(np.intp).ravel()
    matrix = sparse.coo_matrix(
        (mass.ravel(), (rows, cols)), shape=(1 + n_mod, 1 + n_mod + max(spill, 0))
    ).tocsr()
    matrix = matrix + sparse.csr_matrix(
        (atoms[2], (np.arange(1 + n_mod), np.zeros(1 + n_mod, dtype=np.intp))),
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
        n, n_mod, matrix, atoms[:2], template, offset, (float(atoms0[0, 0]), float(atoms0[1, 0]))
    )


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
    h = h_start = spacing(tuple(sorted(set(widths))))
    dead, coll, atom_out = np.zeros(depth + 1), np.zeros(depth + 1), np.zeros(depth + 1)
    live = np.ones(depth + 1)
    mean, sd = np.full(depth + 1, np.nan), np.zeros(depth + 1)
    quant = np.full((depth + 1, len(LEVELS)), np.nan)
    mean[0] = -math.inf if theta0 >= math.pi else 2.0 * math.log(math.sin(theta0))
    quant[0] = mean[0]
    state_atom, d_mass, c_mass = 0.0, 0.0, 0.0
    mod, low, low_start = np.zeros(0), np.zeros(0), 0
    if depth:
        # Layer 1 exactly from θ₀ (which may exceed π/2 and lie off the grid).
        u1, w1, atoms1 = _targets(np.array([math.log(theta0)]), widths[0])
        d_mass, c_mass, a1 = (float(v) for v in atoms1[:, 0])
        dead[1], coll[1], live[1] = d_mass, c_mass, float(w1[0].sum()) + a1
        mean[1], sd[1], atom_out[1], quant[1] = _first_layer(theta0, widths[0], u1[0], w1[0], a1)
        if depth > 1:
            ker = kernel(widths[1], h)
            dies = c_mass * 0.5**ker.n
            # Layer 2 from the exact layer-1 points (grouped by 4, mean-preserving) and the atom
            # when layer 1's law is narrow on the grid (θ₀ near π); else from layer 1's cells.
            w = w1[0] / max(float(w1[0].sum()), 1e-300)
            spread = math.sqrt(max(float(w @ u1[0] ** 2) - float(w @ u1[0]) ** 2, 0.0))
            if spread < 6.0 * h:
                src_u = np.append(_group(u1[0] * w1[0]) / np.maximum(_group(w1[0]), 1e-300), _U_TOP)
                src_w = np.append(_group(w1[0]), a1)
                cells, mass, atoms = _rows(src_u, widths[1], h)
                d_mass += dies + float(src_w @ atoms[0])
                c_mass += float(src_w @ atoms[1]) - dies
                state_atom = float(src_w @ atoms[2])
                idx = cells.astype(np.intp).ravel()
                start = int(idx.min())
                dense = np.bincount(idx - start, (mass * src_w[:, None]).ravel()).astype(float)
                mod, low, low_start = _place(dense, start, ker.n_moderate)
            else:
                idx = np.floor((_U_TOP - u1[0]) / h).astype(np.intp)
                start = int(idx.min())
                dense = np.bincount(idx - start, w1[0]).astype(float)
                mod, low, low_start = _place(dense, start, ker.n_moderate)
                state_atom, mod, low, low_start, dd, dc = _step(ker, a1, mod, low, low_start)
                d_mass, c_mass = d_mass + dies + dd, c_mass - dies + dc
    for layer in range(2, depth + 1):
        if layer > 2:
            ker = kernel(widths[layer - 1], h)
            dies = c_mass * 0.5**ker.n
            state_atom, mod, low, low_start, dd, dc = _step(ker, state_atom, mod, low, low_start)
            d_mass, c_mass = d_mass + dies + dd, c_mass - dies + dc
        dead[layer], coll[layer] = d_mass, c_mass
        mod_mass = state_atom + float(mod.sum())
        if 0.0 < mod_mass < _FOLD:  # negligible mass above 1e-8: move it to the window's top
            n_mod = len(mod)
            low, low_start = _join([(n_mod, np.array([mod_mass])), (low_start, low)], n_mod)
            mod = np.zeros(n_mod)
            state_atom = 0.0
        live[layer] = state_atom + float(mod.sum()) + float(low.sum())
        mean[layer], sd[layer], atom_out[layer], quant[layer] = _summarise(
            state_atom, mod, low, low_start, h
        )
        # Deep chains: once the law spans many cells, merge cells pairwise (h doubles, at most
        # to 2× the one-step sd; the Sheppard-corrected kernels keep the per-step variance).
        if len(low) > _COARSEN_CELLS and sd[layer] > 48.0 * h and h < _MAX_COARSEN * h_start:
            mod, low, low_start = _coarsen(mod, low, low_start, h)
            h *= 2.0
    return Law(tuple(widths), theta0, dead, coll, live, atom_out, mean, sd, LEVELS, quant)


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
    if atom > 0.0 or mod.any():
        src = np.concatenate([[atom], mod])
        out = ker.matrix @ src
        new_atom = float(out[0])
        new_mod += out[1 : 1 + n_mod]
        if len(out) > 1 + n_mod:
            pieces.append((n_mod, out[1 + n_mod :]))
        d_mass += float(ker.absorb[0] @ src)
        c_mass += float(ker.absorb[1] @ src)
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
