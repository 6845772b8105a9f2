"""Statistics shared by the reproductions: KS tests, confidence bands, direction changes.

All functions are pure: arrays in, numbers out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from .._errors import DepthscopeError

__all__ = [
    "direction_changes",
    "ks_lenient",
    "ks_one_sample",
    "mean_band",
]

CDF = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _finite_sample(sample: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(sample, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise DepthscopeError("a KS test needs at least two finite sample values.")
    return np.sort(x)


def ks_one_sample(sample: ArrayLike, cdf: CDF) -> dict[str, Any]:
    """Run the standard one-sample Kolmogorov-Smirnov test of ``sample`` against a continuous CDF.

    Parameters
    ----------
    sample : array_like
        Observations (non-finite values are dropped).
    cdf : callable
        The predicted CDF, vectorised.

    Returns
    -------
    dict
        ``test`` (label), ``statistic`` D = sup |F_N − F|, ``pvalue``, ``n``.

    Notes
    -----
    ``scipy.stats.kstest(sample, cdf)``: the exact null distribution of D for n iid draws from
    a fully specified continuous law.
    """
    x = _finite_sample(sample)
    result = stats.kstest(x, cdf)
    return {
        "test": "one-sample KS: scipy.stats.kstest(sample, predicted_cdf)",
        "statistic": float(result.statistic),
        "pvalue": float(result.pvalue),
        "n": int(x.size),
    }


def ks_lenient(sample: ArrayLike, cdf: CDF, points: ArrayLike | None = None) -> dict[str, Any]:
    """Run the paper's lenient KS variant: ECDF heights vs predicted CDF values, two-sample.

    Parameters
    ----------
    sample, cdf : array_like, callable
        As for :func:`ks_one_sample`.
    points : array_like, optional
        Where both CDFs are evaluated; default the sorted sample itself.

    Returns
    -------
    dict
        ``test`` (label), ``statistic``, ``pvalue``, ``n`` (sample size), ``n_points``.

    Notes
    -----
    The two sets of numbers {F_N(t_i)} and {F(t_i)} (each in [0, 1]) are passed to
    ``scipy.stats.ks_2samp`` as if they were two samples. This is not a test of the sample
    against the law: at the sample points it amounts to comparing the law of F(X) with the
    uniform one, with the two-sample null distribution (effective size n/2), so a given
    discrepancy gets a larger p-value than in :func:`ks_one_sample`. Reported because the paper
    used it (``docs/theory/angle-theory.md`` §7); the evaluation points of the paper are not known.
    """
    x = _finite_sample(sample)
    t = x if points is None else np.sort(np.asarray(points, dtype=np.float64).ravel())
    heights = np.searchsorted(x, t, side="right") / x.size
    predicted = np.asarray(cdf(t), dtype=np.float64)
    result = stats.ks_2samp(heights, predicted)
    return {
        "test": "lenient (paper): scipy.stats.ks_2samp(ECDF heights, predicted CDF values) "
        + ("at the sorted sample points" if points is None else "at the given points"),
        "statistic": float(result.statistic),
        "pvalue": float(result.pvalue),
        "n": int(x.size),
        "n_points": int(t.size),
    }


def mean_band(values: ArrayLike, level: float = 0.95) -> dict[str, NDArray[np.float64]]:
    """Mean over the last axis with its standard error and a two-sided confidence band.

    Parameters
    ----------
    values : array_like, shape (..., N)
        N independent replicates (networks) per row; NaN entries are ignored.
    level : float
        Confidence level of the band (Student t with n − 1 degrees of freedom).

    Returns
    -------
    dict of ndarray, shape (...)
        ``mean``, ``sd`` (sample), ``se`` = sd/√n, ``lo``, ``hi``, ``n``.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    n = finite.sum(axis=-1)
    filled = np.where(finite, v, 0.0)
    safe_n = np.maximum(n, 1)
    mean = np.where(n > 0, filled.sum(axis=-1) / safe_n, np.nan)
    dev = np.where(finite, v - mean[..., None], 0.0)
    sd = np.where(n > 1, np.sqrt((dev**2).sum(axis=-1) / np.maximum(n - 1, 1)), np.nan)
    se = sd / np.sqrt(safe_n)
    q = stats.t.ppf(0.5 + level / 2.0, np.maximum(n - 1, 1))
    return {
        "mean": mean,
        "sd": sd,
        "se": se,
        "lo": mean - q * se,
        "hi": mean + q * se,
        "n": n.astype(np.float64),
    }


def direction_changes(curves: ArrayLike, *, alpha: float = 0.05) -> dict[str, Any]:
    """Count significant direction changes of a mean curve, from paired layer differences.

    Parameters
    ----------
    curves : array_like, shape (L+1, N)
        One value per layer (rows) and network (columns); the same network in every row, so
        consecutive layers are compared by paired differences. NaN pairs are dropped.
    alpha : float
        Family-wise significance level over the L steps (Bonferroni: each step is a two-sided
        paired t test at level alpha / L, with n − 1 degrees of freedom for n networks).

    Returns
    -------
    dict
        ``mean_difference``, ``se_difference`` (arrays of length L): per step ℓ → ℓ+1 the
        mean paired difference and its standard error; ``signs``: per step +1, −1, or 0 when
        not significant; ``changes``: the number of sign flips between consecutive significant
        steps (zeros skipped); ``oscillating``: ``changes >= 2``; ``alpha``; ``t_critical``
        (per step).

    Notes
    -----
    A difference that is exactly zero in every network (a plateau such as rank = m) has zero
    standard error and is not significant. A step whose differences are all equal and non-zero
    is significant. A monotone curve has no flip; "rise, fall, rise" has two.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> wave = np.sin(np.arange(20) / 2.0)[:, None] + 0.1 * rng.standard_normal((20, 200))
    >>> direction_changes(wave)["oscillating"]
    True
    """
    y = np.asarray(curves, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2:
        raise DepthscopeError("curves must have shape (layers ≥ 2, networks).")
    if not 0.0 < alpha < 1.0:
        raise DepthscopeError(f"alpha = {alpha!r} must be in (0, 1).")
    steps = y.shape[0] - 1
    band = mean_band(np.diff(y, axis=0))
    mean, se = band["mean"], band["se"]
    t_critical = stats.t.ppf(1.0 - alpha / (2.0 * steps), np.maximum(band["n"] - 1, 1))
    signs: list[int] = []
    for m, s, t in zip(mean, se, t_critical, strict=True):
        if not math.isfinite(m) or m == 0.0:
            signs.append(0)
        elif s == 0.0 or (math.isfinite(s) and abs(m) > t * s):
            signs.append(1 if m > 0 else -1)
        else:
            signs.append(0)
    significant = [s for s in signs if s != 0]
    changes = sum(1 for a, b in itertools.pairwise(significant) if a != b)
    return {
        "mean_difference": mean,
        "se_difference": se,
        "signs": signs,
        "changes": changes,
        "oscillating": changes >= 2,
        "alpha": alpha,
        "t_critical": t_critical,
    }
