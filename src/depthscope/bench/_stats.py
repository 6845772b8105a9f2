"""Rank correlations between scores and trained accuracy, with bootstrap intervals.

The unit of analysis is the architecture: each score is summarised per architecture by its
median over seeds (robust to the odd −inf), the accuracy by its mean over seeds, and Spearman's
ρ and Kendall's τ_b compare the two across architectures (``scipy.stats``).  Both are rank
statistics, so −inf is a legitimate lowest value; a NaN summary (every seed NaN) removes that
architecture from that score's correlation, and the count is reported.

The 95 % interval is a two-stage bootstrap: resample architectures with replacement, then,
inside each drawn architecture, its seeds with replacement; recompute the summaries and the
statistic; take the 2.5 % and 97.5 % quantiles recentred on the point estimate (see
:func:`_bias_corrected_interval`).  The generator is fixed (``rng``), so intervals are reproducible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = ["bootstrap_correlations", "rank_correlations", "summarise"]


def _kendall_tau_b(s: NDArray[np.float64], a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Kendall τ_b along the last axis; pairs with a NaN on either side are left out."""
    i, j = np.triu_indices(s.shape[-1], k=1)
    ds = (s[..., j] > s[..., i]).astype(np.float64) - (s[..., j] < s[..., i])
    da = (a[..., j] > a[..., i]).astype(np.float64) - (a[..., j] < a[..., i])
    nan = np.isnan(s[..., j]) | np.isnan(s[..., i]) | np.isnan(a[..., j]) | np.isnan(a[..., i])
    ds[nan], da[nan] = 0.0, 0.0
    denom = np.sqrt(np.sum(ds * ds, axis=-1) * np.sum(da * da, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(ds * da, axis=-1) / np.where(denom > 0, denom, 1), np.nan)


def _spearman(s: NDArray[np.float64], a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Spearman ρ along the last axis (ranks with ties averaged; −inf ranks lowest)."""
    if not (np.isnan(s).any() or np.isnan(a).any()):
        rs, ra = stats.rankdata(s, axis=-1), stats.rankdata(a, axis=-1)
        rs -= rs.mean(axis=-1, keepdims=True)
        ra -= ra.mean(axis=-1, keepdims=True)
        denom = np.sqrt(np.sum(rs * rs, axis=-1) * np.sum(ra * ra, axis=-1))
        safe = np.where(denom > 0, denom, 1.0)
        return np.where(denom > 0, np.sum(rs * ra, axis=-1) / safe, np.nan)
    out = np.full(s.shape[:-1], np.nan)
    for index in np.ndindex(*s.shape[:-1]):
        keep = ~(np.isnan(s[index]) | np.isnan(a[index]))
        if keep.sum() >= 3:
            out[index] = _spearman(s[index][keep], a[index][keep])
    return out


def rank_correlations(score: ArrayLike, accuracy: ArrayLike) -> dict[str, float]:
    """Spearman ρ and Kendall τ_b of ``score`` against ``accuracy`` (NaN pairs dropped).

    Both agree with :func:`scipy.stats.spearmanr` and :func:`scipy.stats.kendalltau` (τ_b);
    NaN when fewer than three pairs remain or either side is constant.  −inf is the lowest rank.

    Examples
    --------
    >>> round(rank_correlations([1, 2, 3, 4], [0.1, 0.3, 0.2, 0.9])["spearman"], 6)
    0.8
    """
    s = np.asarray(score, dtype=np.float64)
    a = np.asarray(accuracy, dtype=np.float64)
    keep = ~(np.isnan(s) | np.isnan(a))
    if keep.sum() < 3:
        return {"spearman": math.nan, "kendall": math.nan}
    return {
        "spearman": float(_spearman(s, a)),
        "kendall": float(_kendall_tau_b(s[keep], a[keep])),
    }


def _groups(labels: ArrayLike) -> NDArray[np.intp]:
    """Index matrix (n_arch, max_runs) of the runs of each architecture, padded with −1."""
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(inverse)
    table = np.full((counts.size, counts.max()), -1, dtype=np.intp)
    for k in range(counts.size):
        members = np.flatnonzero(inverse == k)
        table[k, : members.size] = members
    return table


def summarise(
    runs: NDArray[np.intp], score: NDArray[np.float64], accuracy: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-architecture median score (NaN-ignoring) and mean accuracy.

    ``runs`` is an index array of shape (..., n_arch, m): the runs of each architecture, −1 for
    padding.  Returns arrays of shape (..., n_arch).
    """
    pad = runs < 0
    s = np.where(pad, np.nan, score[runs])
    a = np.where(pad, np.nan, accuracy[runs])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(s, axis=-1), np.nanmean(a, axis=-1)


def bootstrap_correlations(
    architecture: ArrayLike,
    scores: Mapping[str, ArrayLike],
    accuracy: ArrayLike,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator | int | None = 0,
) -> dict[str, dict[str, Any]]:
    """Spearman and Kendall of every score against accuracy, with bootstrap intervals.

    Parameters
    ----------
    architecture : array_like, shape (n_runs,)
        Architecture label of each run (any hashable values).
    scores : mapping of str to array_like, each shape (n_runs,)
        Score of each run (NaN and −inf allowed).
    accuracy : array_like, shape (n_runs,)
        Test accuracy of each run.
    n_boot : int
        Bootstrap replicates.
    level : float
        Coverage of the percentile interval.
    rng : numpy.random.Generator, int or None
        Seed of the resampling.

    Returns
    -------
    dict
        ``{score: {"spearman": {"value", "ci95"}, "kendall": {...}, "n_architectures",
        "n_nan_architectures", "n_nan_runs", "n_neg_inf_runs"}}``; ``ci95`` is ``[low, high]``.
    """
    generator = np.random.default_rng(rng)
    acc = np.asarray(accuracy, dtype=np.float64)
    table = _groups(architecture)
    sizes = np.sum(table >= 0, axis=1)
    picked = generator.integers(table.shape[0], size=(n_boot, table.shape[0]))
    within = np.floor(generator.random((n_boot, *table.shape)) * sizes[picked][..., None])
    drawn = np.take_along_axis(table[picked], within.astype(np.intp), axis=-1)
    drawn = np.where(np.arange(table.shape[1]) < sizes[picked][..., None], drawn, -1)
    z_level = float(stats.norm.ppf(0.5 + level / 2))
    result: dict[str, dict[str, Any]] = {}
    for name, raw in scores.items():
        values = np.asarray(raw, dtype=np.float64)
        s, a = summarise(table, values, acc)
        point = rank_correlations(s, a)
        bs, ba = summarise(drawn, values, acc)
        samples = {"spearman": _spearman(bs, ba), "kendall": _kendall_tau_b(bs, ba)}
        entry: dict[str, Any] = {}
        for stat, sample in samples.items():
            entry[stat] = {
                "value": point[stat],
                "ci95": _bias_corrected_interval(point[stat], sample, z_level, n_boot),
            }
        entry["n_architectures"] = int(np.sum(~np.isnan(s)))
        entry["n_nan_architectures"] = int(np.sum(np.isnan(s)))
        entry["n_nan_runs"] = int(np.sum(np.isnan(values)))
        entry["n_neg_inf_runs"] = int(np.sum(np.isneginf(values)))
        result[name] = entry
    return result


def _bias_corrected_interval(
    point: float, sample: NDArray[np.float64], z_level: float, n_boot: int
) -> list[float]:
    """Median-recentred percentile interval: [θ̂ + q_lo − q_50, θ̂ + q_hi − q_50], within [−1, 1].

    Resampling seeds inside each architecture adds noise to every per-architecture summary,
    which pulls the whole bootstrap distribution of a rank correlation towards zero (with many
    architectures, below the point estimate altogether), so the plain percentile interval can
    miss the estimate it belongs to.  The spread of the bootstrap distribution is kept and its
    median moved onto the point estimate (a bias correction for the location only).
    NaN when fewer than half the replicates are finite.
    """
    sample = sample[np.isfinite(sample)]
    if not math.isfinite(point) or sample.size < max(2, n_boot // 2):
        return [math.nan, math.nan]
    tail = float(stats.norm.sf(z_level))
    low, mid, high = np.quantile(sample, [tail, 0.5, 1 - tail])
    return [float(max(-1.0, point + low - mid)), float(min(1.0, point + high - mid))]
