"""The whole per-layer law of ln sin²θ, propagated through an exact one-step kernel.

The one-step law (atoms in closed form, the continuous part from the shipped table) and its
transition kernels are :mod:`depthscope.theory._law_table`. The law of u_ℓ = ln θ_ℓ is
carried on a uniform grid of cells in u, each layer on its own width's grid
(spacing h(n): a quarter of the width's one-step sd, at most 0.1; the kernel maps the previous
layer's grid onto it) until mass reaches θ < 1e-8, then on the widest width's grid, with the
atom at π/2 as its own state and the dead and collapsed masses as absorbing states (a
collapsed pair dies with probability 2⁻ⁿ per layer, as the simulator counts it). The grid is
split at u_s = ln 1e-8: above, a sparse transition matrix; below, a convolution with one
template over a moving window (so θ₀ down to 1e-300 and depth 10,000 cost the same as
moderate angles). :func:`depthscope.theory._law_batch.propagate_final` steps many
architectures together (one sparse × dense product per source grid and width per layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .._types import FloatArray
from ._law_table import (
    _U_SMALL,
    _U_TOP,
    LEVELS,
    LawKernel,
    _knots,
    _n_cells,
    _rows,
    _spacing_of,
    _table,
    _targets,
    _x_centres,
    _x_half_cells,
    _x_of_u,
    kernel,
    log_drift_inf,
    spacing,
)

__all__ = ["Law", "propagate_law"]

_COARSEN_CELLS = 600  # window length from which a wide law may be coarsened
_MAX_COARSEN = 7.9  # h may grow to 8× its start (2× the one-step sd)
_FOLD = 1e-14  # mass above θ = 1e-8 below which it joins the scale-invariant window
_TRIM = 1e-18  # cells of the moving window below this mass are dropped at its ends
_SPILL = 1e-7  # a first spill below θ = 1e-8 of at most this mass stays in the last cell above


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
