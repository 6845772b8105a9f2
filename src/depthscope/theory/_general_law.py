"""Finite-width law of ln sin²θ_ℓ beyond bias-free ReLU: a Gaussian moment closure on the Gram.

For any elementwise φ, with biases, and for residual blocks, the 2×2 Gram matrix of the two
representations is an exact Markov chain (``docs/theory/general-predictor.md``). This module
propagates its law through the layers as a Gaussian on the well-conditioned state

    z = (ln A, ln B, T),   A = ‖h_x‖²/n,  B = ‖h_y‖²/n,  T = ln tan²(θ/2),

and reports X = ln sin²θ = −2 ln cosh(T/2). One step, given z:

* the per-coordinate Gram in the basis (h_x, h_d = h_x − h_y), K̃ = (A, E, Δ) with
  E = h_x·h_d/n, Δ = ‖h_d‖²/n, is rebuilt from z without cancellation;
* a plain layer's K̃' is the mean of n iid vectors w = (φ(u)², φ(u)g, g²), g = φ(u) − φ(u − d),
  (u, d) ~ N(0, [[σ_w²A + σ_b², σ_w²E], [σ_w²E, σ_w²Δ]]): its mean and covariance are the first
  and second moments of w (closed form on the arcs between kinks for a·min + b·max, a 2-D
  Gauss–Hermite rule otherwise, g from φ' where d is small: :mod:`._smooth_moments`);
* a residual block's K̃' = K̃ + α(h̃ᵀZ + Zᵀh̃)/n + α²ZᵀZ/n, Z's rows iid N(0, σ_w²K̃_P) given the
  branch Gram K̃_P (the spec's exact sampler), has closed-form conditional moments;
* K̃' is taken as Gaussian with those moments and mapped to z' by an unscented transform
  (exact to second order in 1/√n: the O(1/n) drift and variance of Theorem 1's kind).

Across layers z is carried as a Gaussian by the unscented transform (7 sigma points); for
plain tanh and erf layers as a Gaussian sum, each component taking that step and the sum cut into
slices along T after each layer (:data:`SLICED_ACTIVATIONS`); for bias-free GELU above σ_w² = 1.5
as a sum cut along ln A − ln B (:mod:`depthscope.theory._general_norms`). The result is
deterministic and costs O(depth).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, ndtr, ndtri

from .._architecture import format_architecture
from .._errors import DepthscopeError
from .._types import FloatArray
from ._activations import Activation, parse_activation
from ._gaussian_sum import slice_mixture
from ._general_norms import N_NORM_SLICES, SmallerFirst, cut_norms, takes_norm_slices
from ._kernel_maps import parse_residual
from ._kinked_moments import kinked_moments
from ._newton import solve_increasing
from ._smooth_moments import moments_smooth

__all__ = [
    "GeneralLaw",
    "general_law",
    "one_step_moments",
    "solve_increasing",
]

_X_NODES, _X_WEIGHTS = np.polynomial.hermite_e.hermegauss(32)
_X_WEIGHTS = _X_WEIGHTS / math.sqrt(2.0 * math.pi)
_TINY = 1e-300
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class GeneralLaw:
    """Law of z = (ln A, ln B, T) per layer (a Gaussian sum) and the implied law of X = ln sin²θ.

    The law of X is the exact pushforward of T's marginal, a mixture of normals N(m_k, s_k²)
    (one component for the single-Gaussian closure), through X = −2 ln cosh(T/2) ≤ 0 (bounded
    above, skewed): P(X ≤ x) = Σ_k w_k P(|T_k| ≥ c(x)), c(x) = 2 arccosh(e^{−x/2})
    (:meth:`cdf`, :meth:`density`, :meth:`quantiles`).

    Attributes
    ----------
    z_mean : ndarray, shape (L+1, 3)
        Mean of (ln ‖h_x‖²/n, ln ‖h_y‖²/n, ln tan²(θ/2)) at layers 0..L.
    z_cov : ndarray, shape (L+1, 3, 3)
        Its covariance.
    mean, sd : ndarray, shape (L+1,)
        Mean and sd of X_ℓ = ln sin²θ_ℓ = −2 ln cosh(T/2) under T's marginal.
    weights, t_means, t_sds : ndarray, shape (L+1, K)
        The components of T's marginal: weights (zero for unused slots), means and sds (for
        the sliced closure, the smoothed readout of :func:`_sliced_law`).
    """

    z_mean: FloatArray
    z_cov: FloatArray
    mean: FloatArray
    sd: FloatArray
    weights: FloatArray
    t_means: FloatArray
    t_sds: FloatArray

    def cdf(self, layer: int, x: FloatArray) -> FloatArray:
        """P(X_layer ≤ x) = Σ_k w_k P(|T_k| ≥ c(x)); 1 from x = 0 on."""
        w, m, s = self.weights[layer], self.t_means[layer], self.t_sds[layer]
        x = np.asarray(x, dtype=np.float64)
        below = np.minimum(_tail_mass(_t_of_x(x)[..., None], m, s) @ w, 1.0)
        return np.asarray(np.where(x >= 0, 1.0, below))  # Σ w_k is 1 only to rounding

    def density(self, layer: int, x: FloatArray) -> FloatArray:
        """Density of X_layer at x: Σ_k w_k (φ_k(c) + φ_k(−c))·coth(c/2) for x < 0, else 0.

        It diverges like 1/√−x at 0 when T's density at 0 is positive (integrable).
        """
        w, m, s = self.weights[layer], self.t_means[layer], self.t_sds[layer]
        x = np.asarray(x, dtype=np.float64)
        inside = (x < 0) & bool(np.any(s > 0))
        c = _t_of_x(np.where(x < 0, x, -1.0))
        return np.where(inside, (_t_density(c[..., None], m, s) @ w) / np.tanh(0.5 * c), 0.0)

    def quantiles(self, probabilities: FloatArray) -> FloatArray:
        """Quantiles of X at each layer, shape (L+1, len(probabilities)).

        X's p-quantile is X(c) with Σ_k w_k P(|T_k| ≥ c) = p, solved for c ≥ 0 (safeguarded
        Newton).
        """
        w, m, s = (v[:, None, :] for v in (self.weights, self.t_means, self.t_sds))
        centre = self.z_mean[:, 2, None]
        spread = np.sqrt(np.maximum(self.z_cov[:, 2, 2], 0.0))[:, None]
        p = np.asarray(probabilities, dtype=np.float64)[None, :]
        point = spread == 0  # layer 0: T = its mean
        c = solve_increasing(
            lambda c: (
                p - (_tail_mass(c[..., None], m, s) * w).sum(-1),
                (_t_density(c[..., None], m, s) * w).sum(-1),
            ),
            np.where(point, np.abs(centre), 0.0),
            np.where(point, np.abs(centre), (np.abs(m) + 40.0 * s + 1.0).max(-1)),
            np.maximum(np.abs(centre) - spread * ndtri(p), 0.0),
        )
        return _x_of_t(c)


def _t_of_x(x: FloatArray) -> FloatArray:
    """Return c ≥ 0 with −2 ln cosh(c/2) = min(x, 0): −x + 2 ln(1 + √(1 − eˣ)), no overflow."""
    x = np.minimum(x, 0.0)
    return -x + 2.0 * np.log1p(np.sqrt(-np.expm1(x)))


def _x_of_t(t: FloatArray) -> FloatArray:
    """Return X = −2 ln cosh(T/2) = −|T| − 2 ln(1 + e^{−|T|}) + 2 ln 2."""
    abs_t = np.abs(t)
    return -abs_t - 2.0 * np.log1p(np.exp(-abs_t)) + 2.0 * math.log(2.0)


def _tail_mass(c: FloatArray, m: FloatArray, s: FloatArray) -> FloatArray:
    """P(|T| ≥ c) for T ~ N(m, s²) (s = 0: a point mass at m)."""
    safe = np.where(s > 0, s, 1.0)
    smooth = np.minimum(ndtr((-c - m) / safe) + ndtr((m - c) / safe), 1.0)
    return np.asarray(np.where(s > 0, smooth, (np.abs(m) >= c).astype(np.float64)))


def _t_density(c: FloatArray, m: FloatArray, s: FloatArray) -> FloatArray:
    """φ_T(c) + φ_T(−c), T ~ N(m, s²): minus the slope of :func:`_tail_mass` in c (0 if s = 0)."""
    safe = np.where(s > 0, s, 1.0)
    both = np.exp(-0.5 * ((c - m) / safe) ** 2) + np.exp(-0.5 * ((c + m) / safe) ** 2)
    return np.asarray(np.where(s > 0, both * _INV_SQRT_2PI / safe, 0.0))


def _cholesky_ud(c_uu, c_ud, det):
    l11 = np.sqrt(c_uu)
    l21 = c_ud / np.maximum(l11, _TINY)
    l22 = np.sqrt(np.maximum(det, 0.0) / np.maximum(c_uu, _TINY))
    return l11, l21, l22


def one_step_moments(act, sw2, sb2, alpha, a_, e_, dl):
    """Mean (..., 3) and covariance times n (..., 3, 3) of K̃' = (A', E', Δ') given K̃.

    Parameters
    ----------
    act : Activation
    sw2, sb2 : float
        σ_w², σ_b².
    alpha : float or None
        Residual block's α (None: plain layer).
    a_, e_, dl : ndarray
        The state K̃ = (A, E, Δ) in the (h_x, h_x − h_y) basis.
    """
    det_k = np.maximum(a_ * dl - e_ * e_, 0.0)
    c_uu, c_ud = sw2 * a_ + sb2, sw2 * e_  # (c_dd = σ_w² Δ enters through det_c)
    det_c = sw2 * sw2 * det_k + sw2 * sb2 * dl
    l11, l21, l22 = _cholesky_ud(c_uu, c_ud, det_c)
    if act.slopes is not None:  # the fused closed form, moments on leading axes
        first, second = kinked_moments(act.slopes, l11, l21, l22)
        if first.ndim == 2:  # (3, points): plain transposes
            first, second = first.T, second.transpose(2, 0, 1)
        else:
            first, second = np.moveaxis(first, 0, -1), np.moveaxis(second, (0, 1), (-2, -1))
    else:
        first, second = moments_smooth(act, l11, l21, l22)
    cov_w = second - first[..., :, None] * first[..., None, :]
    if alpha is None:
        return first, cov_w
    # residual block, basis-covariant: Σ = σ_w² K̃_P, K̃_P = mean of w (random), K = K̃
    gram = np.stack([a_, e_, dl], axis=-1)  # K's entries (11, 12, 22); Σ's: sw2 · first
    sig = sw2 * first
    cov_sig = sw2 * sw2 * cov_w  # n·Cov of Σ's entries (11, 12, 22)
    a2, a4 = alpha * alpha, alpha**4
    # entry (i, j) pairs the Gram entries (p, q)_i and (r, s)_j: K_pr Σ_qs + K_ps Σ_qr
    # + K_qr Σ_ps + K_qs Σ_pr and Σ_pr Σ_qs + Σ_ps Σ_qr, summed in that order
    cross = np.add.reduce(gram[..., _CROSS_K] * sig[..., _CROSS_S], axis=-1)
    wish = np.add.reduce(sig[..., _WISH_1] * sig[..., _WISH_2], axis=-1)
    cov = a2 * cross + a4 * (wish + cov_sig)
    mean = gram + a2 * sw2 * first
    return mean, cov


def _pair_index(terms: Sequence[str]) -> np.ndarray:
    """Index grid (3, 3, len(terms)) into the entries (11, 12, 22) of a 2×2 Gram matrix.

    Entry (i, j) pairs the Gram entries (p, q) = (00, 01, 11)[i] and (r, s) = (00, 01, 11)[j];
    a term names one of them by two letters ("pr": the entry at row p, column r).
    """
    entry = {"00": 0, "01": 1, "10": 1, "11": 2}
    grams = (("0", "0"), ("0", "1"), ("1", "1"))
    out = np.empty((3, 3, len(terms)), dtype=np.intp)
    for i, (p, q) in enumerate(grams):
        for j, (r, s) in enumerate(grams):
            names = {"p": p, "q": q, "r": r, "s": s}
            for t, term in enumerate(terms):
                out[i, j, t] = entry[names[term[0]] + names[term[1]]]
    return out


#: Index grids for the residual block's covariance (:func:`one_step_moments`).
_CROSS_K, _CROSS_S = _pair_index(["pr", "ps", "qr", "qs"]), _pair_index(["qs", "qr", "ps", "pr"])
_WISH_1, _WISH_2 = _pair_index(["pr", "ps"]), _pair_index(["qs", "qr"])


# --- the state map z ↔ K̃ and the two unscented transforms -----------------------------------


def _gram_of_state(z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (A, E, Δ) from z = (ln A, ln B, T), without cancellation at small angles."""
    ab = np.exp(z[..., 0:2])  # A, B
    roots = np.sqrt(ab)
    a_, ra, rb, t = ab[..., 0], roots[..., 0], roots[..., 1], z[..., 2]
    diff = ra - rb
    angle = ra * rb * (2.0 * expit(t))  # √(AB)(1 − cos θ), 1 − cos θ = 2 expit(T) (no overflow)
    return a_, ra * diff + angle, diff * diff + 2.0 * angle


def _state_of_gram(a_, e_, dl):
    """Z = (ln A, ln B, T) from (A, E, Δ); T = ln tan²(θ/2) from sin²θ and cos θ."""
    a_ = np.maximum(a_, _TINY)
    dl = np.maximum(dl, _TINY)
    det = np.maximum(a_ * dl - e_ * e_, 1e-16 * a_ * dl)
    b_ = np.maximum(a_ - 2.0 * e_ + dl, _TINY)
    out = np.empty((*np.shape(b_), 3))
    np.log(a_, out=out[..., 0])
    np.log(b_, out=out[..., 1])
    cos = (a_ - e_) / np.sqrt(a_ * b_)  # |cos θ| clipped to 1 below
    ln_sin2 = np.log(det) - out[..., 0] - out[..., 1]
    # T = ln sin²θ − 2 ln(1 + cos θ) = −T(π − θ): one log1p of |cos| (≤ ln 2), signed; the
    # two-branch form evaluated log1p(−1) = −∞ in its unused branch when the angle collapses.
    t_abs = ln_sin2 - 2.0 * np.log1p(np.minimum(np.abs(cos), 1.0))
    np.multiply(t_abs, np.copysign(1.0, cos), out=out[..., 2])  # cos θ ≠ −0
    return out


def _roots(cov: FloatArray) -> FloatArray:
    """Rows r_k with Σ_k r_k r_kᵀ = cov (..., 3, 3): the Cholesky factor's columns, closed form.

    Any square root serves the transforms below (they use Σ r_k r_kᵀ); pivots below zero
    (a semidefinite cov, rounding) are clipped to zero.
    """
    if cov.ndim == 2:  # one 3×3 (the single closure's outer transform): plain floats
        return _roots_one(cov)
    rows = np.zeros(cov.shape)  # each factor written in place
    l00 = np.sqrt(np.maximum(cov[..., 0, 0], 0.0), out=rows[..., 0, 0])
    inv0 = (l00 > 0) / np.maximum(l00, _TINY)
    np.multiply(cov[..., 0, 1:], inv0[..., None], out=rows[..., 0, 1:])  # l10, l20
    l10, l20 = rows[..., 0, 1], rows[..., 0, 2]
    l11 = np.sqrt(np.maximum(cov[..., 1, 1] - l10 * l10, 0.0), out=rows[..., 1, 1])
    inv1 = (l11 > 1e-150) / np.maximum(l11, 1e-150)
    l21 = np.multiply(cov[..., 1, 2] - l20 * l10, inv1, out=rows[..., 1, 2])
    np.sqrt(np.maximum(cov[..., 2, 2] - l20 * l20 - l21 * l21, 0.0), out=rows[..., 2, 2])
    return rows


def _roots_one(cov: FloatArray) -> FloatArray:
    """:func:`_roots` of one 3×3, the same operations on Python floats."""
    (c00, c01, c02), (_, c11, c12), (_, _, c22) = cov.tolist()
    l00 = math.sqrt(max(c00, 0.0))
    inv0 = 1.0 / l00 if l00 > 0 else 0.0
    l10, l20 = c01 * inv0, c02 * inv0
    l11 = math.sqrt(max(c11 - l10 * l10, 0.0))
    inv1 = 1.0 / l11 if l11 > 1e-150 else 0.0
    l21 = (c12 - l20 * l10) * inv1
    l22 = math.sqrt(max(c22 - l20 * l20 - l21 * l21, 0.0))
    return np.array([[l00, l10, l20], [0.0, l11, l21], [0.0, 0.0, l22]])


#: Steps (in sds) of the inner central-difference transform: exact to O(1/n) for any law of
#: K̃', and for a sum of squared Gaussians (a gamma law, the small-angle law of kinked φ) they
#: also match ln's next term: E ln S − ln ES = ψ(k) − ln k ≈ −c²/2 − c⁴/12 (h² = 1/3) and
#: Var ln S = ψ'(k) ≈ c² + c⁴/2 (h² = 3/4), c² = 1/k (see docs/theory/general-predictor.md).
_H_MEAN, _H_VAR = math.sqrt(1.0 / 3.0), 1.0
_I3 = np.eye(3)
#: The 13 inner points are k_mean + _INNER @ roots: the centre, ±h_mean and ±h_var along each root.
_INNER = np.concatenate(
    [np.zeros((1, 3)), _H_MEAN * _I3, -_H_MEAN * _I3, _H_VAR * _I3, -_H_VAR * _I3]
)
#: ... and the mean of z' and its slopes along the roots are fixed combinations of f at them.
_MEAN_COMB = np.concatenate([[1.0 - 3.0 / _H_MEAN**2], np.full(6, 0.5 / _H_MEAN**2), np.zeros(6)])
_SLOPE_COMB = np.concatenate([np.zeros((3, 7)), _I3 / (2 * _H_VAR), -_I3 / (2 * _H_VAR)], axis=1)
_OUTER = math.sqrt(3.0) * np.concatenate([_I3, -_I3])  # 6 sigma points, weights 1/6 (κ = 0)


def _step(act, sw2, sb2, alpha, width, mean, cov, to_gram=_gram_of_state, to_state=_state_of_gram):
    """One layer: the Gaussians (mean (..., 3), cov (..., 3, 3)) of z → those of z'.

    ``to_gram`` and ``to_state`` map the state coordinates to K̃ = (A, E, Δ) and back (default:
    z = (ln A, ln B, T); :mod:`depthscope.theory._general_mix` uses another chart).
    """
    points = mean[..., None, :] + _OUTER @ _roots(cov)  # (..., 6, 3)
    k_mean, k_cov = one_step_moments(act, sw2, sb2, alpha, *to_gram(points))
    inner = k_mean[..., None, :] + _INNER @ _roots(k_cov / width)  # (..., 6, 13, 3)
    f = to_state(inner[..., 0], inner[..., 1], inner[..., 2])
    m_j = _MEAN_COMB @ f  # (..., 6, 3)
    slope = _SLOPE_COMB @ f  # (..., 6, 3, 3): rows = J·root_k
    new_mean = np.add.reduce(m_j, axis=-2) / 6.0  # = m_j.mean(axis=-2), bit for bit
    spread = m_j - new_mean[..., None, :]
    slopes = slope.reshape(*slope.shape[:-3], 18, 3)
    new_cov = (np.swapaxes(slopes, -1, -2) @ slopes + np.swapaxes(spread, -1, -2) @ spread) / 6.0
    return new_mean, 0.5 * (new_cov + np.swapaxes(new_cov, -1, -2))


def _x_moments(m_t: FloatArray, v_t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and sd of X = −2 ln cosh(T/2), T ~ N(m_t, v_t), all layers at once (v_t = 0: sd 0)."""
    t = m_t[:, None] + np.sqrt(np.maximum(v_t, 0.0))[:, None] * _X_NODES
    half = np.abs(t) / 2.0
    x = -2.0 * (half + np.log1p(np.exp(-2.0 * half)) - math.log(2.0))
    mean = x @ _X_WEIGHTS
    return mean, np.sqrt(np.maximum(((x - mean[:, None]) ** 2) @ _X_WEIGHTS, 0.0)) * (v_t > 0)


def general_law(
    steps: Sequence[int],
    theta0: float,
    *,
    activation: str | Activation = "relu",
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: str | float | None = None,
) -> GeneralLaw:
    """Propagate the Gaussian closure of z = (ln A, ln B, T) through layers of widths ``steps``.

    Parameters
    ----------
    steps : sequence of int
        Width of each layer (residual blocks: all equal, the stream's width).
    theta0 : float
        Angle between the inputs, radians, in (0, π).
    activation, weight_std, bias_std, q0, residual
        As in :func:`depthscope.predict`.

    Returns
    -------
    GeneralLaw
    """
    act = parse_activation(activation)
    alpha = parse_residual(residual)
    if alpha is not None and len(set(steps)) > 1:
        raise DepthscopeError(
            f"residual blocks keep a constant width; got widths {format_architecture(steps)}."
        )
    sw2, sb2 = float(weight_std) ** 2, float(bias_std) ** 2
    depth = len(steps)
    z0 = np.array([math.log(q0), math.log(q0), 2.0 * math.log(math.tan(theta0 / 2.0))])
    if alpha is None and act.name in SLICED_ACTIVATIONS:
        return _sliced_law(act, sw2, sb2, steps, z0, N_T_SLICES)
    if alpha is None and takes_norm_slices(act.name, sw2, sb2):  # bias-free GELU at He init
        return _sliced_law(
            act,
            sw2,
            sb2,
            steps,
            z0,
            N_NORM_SLICES,
            cut_norms,
            SmallerFirst(_gram_of_state, _state_of_gram),
            shrink=1.0,
        )
    z_mean, z_cov = np.empty((depth + 1, 3)), np.zeros((depth + 1, 3, 3))
    z_mean[0] = z0
    for layer, width in enumerate(steps):
        z_mean[layer + 1], z_cov[layer + 1] = _step(
            act, sw2, sb2, alpha, float(width), z_mean[layer], z_cov[layer]
        )
    mean, sd = _x_moments(z_mean[:, 2], z_cov[:, 2, 2])
    t_sd = np.sqrt(np.maximum(z_cov[:, 2, 2], 0.0))
    ones = np.ones((depth + 1, 1))
    return GeneralLaw(z_mean, z_cov, mean, sd, ones, z_mean[:, 2:], t_sd[:, None])


#: Plain layers of these φ carry z's law as a Gaussian sum sliced along T after each layer
#: (chaotic tanh and erf: T's law is skewed, and X = −2 ln cosh(T/2) folds it at T = 0; the
#: single Gaussian's sd was 10-17% low at width 64). Slicing GELU along T made it worse; bias-free
#: GELU above σ_w² = 1.5 is cut along ln A − ln B instead (_general_norms), biased GELU/SiLU take
#: the difference chart (_general_mix), the rest of GELU/SiLU the single Gaussian
#: (docs/theory/general-predictor.md).
SLICED_ACTIVATIONS = ("tanh", "erf")
N_T_SLICES = 6
#: The slices span T's mean ± 2.5 sds (not 6): at 6, two or three of the six carried 90% of the
#: mass and T's skewness was lost (chaotic tanh, width 32, layer 50: sd 12.1% → 8.2% low,
#: 10,000 networks).
_T_SPAN = 2.5
_T_AXIS = 2  # slices along T = z[2]
# The readout's shrink, with _T_SPAN's narrower slices: sd 1-3 points better than 0.8 at equal
# or lower KS D; 1.0 (no shrink) is about a point better in sd but 0.005-0.015 worse in KS D
# (10,000 networks per row, docs/theory/general-predictor.md).
_READ_SHRINK = 0.95


def _cut_t(weights, mean, cov):
    """Cut the sum into :data:`N_T_SLICES` slices along T over its mean ± _T_SPAN sds."""
    w, mean, cov = slice_mixture(weights, mean, cov, _T_AXIS, N_T_SLICES, _T_SPAN)
    return w / w.sum(), mean, cov


def _sliced_law(act, sw2, sb2, steps, z0, n_slices, cut=_cut_t, chart=None, shrink=_READ_SHRINK):
    """Propagate the Gaussian sum: each component takes :func:`_step`, then ``cut`` slices it.

    ``chart``: an object with ``to_gram`` and ``to_state`` for :func:`_step` (default: z's own);
    ``shrink``: the readout's shrink of the components' T means (1: none).
    """
    depth = len(steps)
    charts = {} if chart is None else {"to_gram": chart.to_gram, "to_state": chart.to_state}
    weights = np.zeros((depth + 1, n_slices))
    means = np.zeros((depth + 1, n_slices, 3))
    covs = np.zeros((depth + 1, n_slices, 3, 3))
    w, mean, cov = np.ones(1), z0[None, :], np.zeros((1, 3, 3))
    for layer in range(depth + 1):
        if layer > 0:
            mean, cov = _step(act, sw2, sb2, None, float(steps[layer - 1]), mean, cov, **charts)
            w, mean, cov = cut(w, mean, cov)
            if not np.isfinite(mean).all():  # norms out of range: stop (NaN is slow to carry)
                raise FloatingPointError(f"the Gram state is not finite at layer {layer}")
        k = len(w)
        weights[layer, :k], means[layer, :k], covs[layer, :k] = w, mean, cov
        means[layer, k:], covs[layer, k:] = mean[0], cov[0]  # unused slots: weight 0
    z_mean = np.einsum("lk,lki->li", weights, means)
    dev = means - z_mean[:, None, :]
    z_cov = np.einsum("lk,lkij->lij", weights, covs) + np.einsum(
        "lk,lki,lkj->lij", weights, dev, dev
    )
    # Readout: the slices are narrow (a slice's sd is ≈ 0.3 of its spacing), so their sum makes a
    # lumpy density of T; shrink the components' T means towards the centre by _READ_SHRINK and
    # widen them by the between-slice variance given up (T's mean and variance are kept).
    centre = np.sum(weights * means[..., 2], axis=1, keepdims=True)
    offset = means[..., 2] - centre
    between = np.sum(weights * offset * offset, axis=1, keepdims=True)
    t_means = centre + shrink * offset
    t_sds = np.sqrt(np.maximum(covs[..., 2, 2], 0.0) + (1.0 - shrink**2) * between)
    x = _x_of_t(t_means[..., None] + t_sds[..., None] * _X_NODES)  # (L+1, K, nodes)
    x_means = x @ _X_WEIGHTS
    x_vars = ((x - x_means[..., None]) ** 2) @ _X_WEIGHTS
    mean = np.sum(weights * x_means, axis=1)
    second = np.sum(weights * (x_vars + (x_means - mean[:, None]) ** 2), axis=1)
    return GeneralLaw(
        z_mean, z_cov, mean, np.sqrt(np.maximum(second, 0.0)), weights, t_means, t_sds
    )
