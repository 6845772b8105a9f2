"""The final-layer law of many architectures at once (:func:`propagate_final`).

Equal to :func:`depthscope.theory._law.propagate_law` per architecture, with the same kernels,
grids and steps (:mod:`depthscope.theory._law_table`), but batched: one sparse × dense product
per source grid and width per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._types import FloatArray
from ._law import (
    _FOLD,
    _SPILL,
    _TRIM,
    State,
    _chain,
    _fold,
    _join,
    _layer_one,
    _layer_two,
    _light,
    propagate_law,
)
from ._law_table import _spacing_of, _x_centres, kernel

__all__ = ["FinalLaws", "propagate_final"]


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
