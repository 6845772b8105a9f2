"""One layer of the sliced closure (:mod:`._general_mix`), fused for speed.

The same transforms as :func:`depthscope.theory._general_law._step` on the chart
y = (ln A, ln Δ, r) and, for a·min + b·max, the closed-form one-step moments of
:mod:`._kinked_moments`, rewritten with fewer (and cheaper) numpy calls: at 8 components × 6
sigma points the arrays are tiny and the time is numpy's per-call overhead. The arithmetic is
the same up to the order of floating-point operations (results agree to ≈ 1e-13 relative;
pinned in tests/test_general_predictor.py).

* Kinked moments (:func:`._kinked_moments.kinked_moments`): the four kinks sit at π/2, 3π/2
  (u = 0) and τ, τ + π (v = 0, τ ∈ [0, π)), so the arcs' midpoints are m, m + π/2, m + π,
  m + 3π/2 and their half-lengths h, π/2 − h, h, π/2 − h: two trigonometric calls, no sort.
* The sigma points and the inner points are laid out coordinate-major, so that each
  coordinate is a contiguous slice; the inner transform's mean and slopes come from one matrix
  product, and the new covariance from one more.
"""

from __future__ import annotations

import numpy as np

from .._types import FloatArray
from ._activations import Activation
from ._general_law import _INNER, _MEAN_COMB, _OUTER, _SLOPE_COMB, one_step_moments
from ._kinked_moments import kinked_moments

__all__ = ["kinked_moments", "mix_step", "roots"]

_TINY = 1e-300
#: _COMB_T @ f (13 inner points, ...) = (mean of z', slopes along the 3 roots), (4, ...).
_COMB_T = np.concatenate([_MEAN_COMB[None, :], _SLOPE_COMB])


def roots(cov: FloatArray) -> FloatArray:
    """R (3, 3, ...) with Σ_k R[k, i] R[k, j] = cov[i, j] (cov: shape (3, 3, ...), leading axes).

    The closed-form Cholesky factor of ``_general_law._roots`` (its rows R[k]; pivots below
    zero clipped to zero), with the matrix axes first so that every entry is contiguous.
    """
    rows = np.zeros(cov.shape)  # each factor written in place
    l00 = np.sqrt(np.maximum(cov[0, 0], 0.0), out=rows[0, 0])
    inv0 = (l00 > 0) / np.maximum(l00, _TINY)
    np.multiply(cov[0, 1:], inv0, out=rows[0, 1:])  # l10, l20
    l10, l20 = rows[0, 1], rows[0, 2]
    l11 = np.sqrt(np.maximum(cov[1, 1] - l10 * l10, 0.0), out=rows[1, 1])
    inv1 = (l11 > 1e-150) / np.maximum(l11, 1e-150)
    l21 = np.multiply(cov[1, 2] - l20 * l10, inv1, out=rows[1, 2])
    np.sqrt(np.maximum(cov[2, 2] - l20 * l20 - l21 * l21, 0.0), out=rows[2, 2])
    return rows


def _moments(act, sw2, sb2, a_, e_, dl, prod):
    """Mean (3, ...) and n·covariance (3, 3, ...) of K̃' given K̃ (plain layer; prod = A·Δ)."""
    if act.slopes is None:
        first, cov = one_step_moments(act, sw2, sb2, None, a_, e_, dl)
        return np.moveaxis(first, -1, 0), np.moveaxis(cov, (-2, -1), (0, 1))  # not kinked
    det_k = np.maximum(prod - e_ * e_, 0.0)
    c_uu = sw2 * a_ + sb2
    det_c = sw2 * sw2 * det_k + sw2 * sb2 * dl
    l11 = np.sqrt(c_uu)
    l21 = (sw2 * e_) / np.maximum(l11, _TINY)
    l22 = np.sqrt(det_c / np.maximum(c_uu, _TINY))  # det_c ≥ 0: a sum of products of ≥ 0
    first, second = kinked_moments(act.slopes, l11, l21, l22)
    return first, second - first[:, None] * first[None, :]


def mix_step(
    act: Activation, sw2: float, sb2: float, width: float, mean: FloatArray, cov: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """One plain layer for each Gaussian (mean (K, 3), cov (K, 3, 3)) of y = (ln A, ln Δ, r).

    Equivalent to ``_step(act, sw2, sb2, None, width, mean, cov, to_gram=_gram_of_diff,
    to_state=_diff_of_gram)`` (same sigma points, same inner transform). Inside, the
    coordinates lead and the components come last: (3, 6 sigma points, K) etc.
    """
    k = len(mean)
    mean_t, cov_t = mean.T, cov.transpose(1, 2, 0)  # (3, K), (3, 3, K)
    points = (_OUTER @ roots(cov_t).reshape(3, -1)).reshape(6, 3, k) + mean_t  # (6, 3, K)
    ad = np.exp(points[:, 0:2])  # A and Δ
    a_, dl = ad[:, 0], ad[:, 1]
    prod = a_ * dl
    e_ = np.tanh(points[:, 2]) * np.sqrt(prod)
    k_mean, k_cov = _moments(act, sw2, sb2, a_, e_, dl, prod)  # (3, 6, K), (3, 3, 6, K)
    steps = (_INNER @ roots(k_cov / width).reshape(3, -1)).reshape(13, 3, 6, k)
    # the inner points coordinate-major, (3, 13, 6, K): each coordinate one contiguous block
    inner = np.empty((3, 13, 6, k))
    np.add(steps.transpose(1, 0, 2, 3), k_mean[:, None], out=inner)
    # y' at the inner points: the chart map of _general_mix._diff_of_gram
    ad = np.maximum(inner[0::2], _TINY)  # A and Δ
    a_, e_, dl = ad[0], inner[1], ad[1]
    prod = a_ * dl
    det = np.maximum(prod - e_ * e_, 1e-16 * prod)
    f = np.empty(inner.shape)  # (3, 13, 6, K): ln A, ln Δ, r
    np.log(ad, out=f[0:2])
    r = np.log(np.sqrt(prod) + np.abs(e_)) - 0.5 * np.log(det)
    np.multiply(np.sign(e_), r, out=f[2])
    by_point = f.transpose(1, 0, 2, 3).reshape(13, -1)  # back to inner points first (a copy)
    comb = (_COMB_T @ by_point).reshape(4, 3, 6, k)  # mean of y', slopes along roots
    new_mean = np.add.reduce(comb[0], axis=1) / 6.0  # (3, K)
    comb[0] -= new_mean[:, None]  # the spread of the 6 means
    flat = comb.transpose(0, 2, 1, 3).reshape(24, 3, k)  # 18 slopes and 6 spreads
    # (3, 3, K), symmetric bit for bit: entries (i, j) and (j, i) sum the same products
    new_cov = np.einsum("kip,kjp->ijp", flat, flat) / 6.0  # summed over k in order
    return new_mean.T, new_cov.transpose(2, 0, 1)
