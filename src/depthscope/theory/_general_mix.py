"""Sliced Gaussian-sum closure for plain kinked layers, and for biased GELU/SiLU layers.

Kinked: leaky ReLU, ReLU, abs, biased or not; smooth: GELU and SiLU with biases
(:data:`BIASED_SMOOTH`).

The single-Gaussian closure (:mod:`depthscope.theory._general_law`) on z = (ln A, ln B, T) fails
at narrow widths with biases: there the two norms differ by a random amount, and a bias turns a
norm difference into an angle (two parallel vectors of different norms leave a biased layer at
an angle). In the sim |ln A − ln B| shrinks with the angle and is correlated with T; a Gaussian on
(ln A, ln B, T) keeps them independent, places sigma points at small angles with large norm
differences, and stalls the angle's decay (0.8 sd off at width 32, layer 50).

Here the state is the chart of the difference vector h_d = h_x − h_y,

    y = (ln A, ln Δ, r),   A = ‖h_x‖²/n,  Δ = ‖h_d‖²/n,  r = artanh(E/√(AΔ)),  E = h_x·h_d/n,

in which a layer acts nearly linearly on small differences (Δ' ≈ χ Δ, whatever mix of norm and
angle made Δ), and r says how Δ splits into a norm difference (|r| large) and an angle (r ≈ 0).
X = ln sin²θ = ln Δ − 2 ln cosh r − ln B, B = A − 2E + Δ. The law of r is bimodal (the sign of
the norm difference), so the law of y is a mixture of K Gaussians, one per slice along r:

* each component takes one step of the unscented closure (its own 6 sigma points);
* the resulting mixture is cut along r into K slices spanning its range (the outer two open):
  each component's mass, mean and covariance restricted to a slice follow in closed form from
  the truncated normal of r and the linear regression of the other coordinates on r; each
  slice is moment-matched to one Gaussian (total mass, mean and covariance are preserved);
* X's law per component by a 2-D Gauss–Hermite rule in (ln Δ/A, r); the layer's law is their
  mixture.

Cost: K times the single closure, vectorised; one layer is fused in
:func:`depthscope.theory._general_mix_step.mix_step` (numpy's per-call overhead dominates).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from .._types import FloatArray
from ._activations import Activation, parse_activation
from ._gaussian_sum import slice_mixture
from ._general_law import solve_increasing
from ._general_mix_step import mix_step

__all__ = ["BIASED_SMOOTH", "MixtureLaw", "general_mixture_law", "takes_difference_chart"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_MIN_MASS = 1e-12
_TINY = 1e-300
_R_AXIS = 2  # slices along r = y[2]
N_SLICES = 8
_READ_ORDER = 9
_n, _w = np.polynomial.hermite_e.hermegauss(_READ_ORDER)
_READ_WEIGHTS = np.outer(_w, _w).reshape(-1) / (2.0 * math.pi)
_R_ORDER = 20  # Gauss–Hermite nodes in r for the law of X (cdf, density, quantiles)
_R_NODES, _R_WEIGHTS = np.polynomial.hermite_e.hermegauss(_R_ORDER)
_R_WEIGHTS = _R_WEIGHTS / math.sqrt(2.0 * math.pi)
_X_FLOOR = -1400.0  # below, e^{−x/2} would overflow; the cdf is 0 there to double precision
#: Smooth φ whose plain layers take this closure when they have biases. With σ_b > 0 a GELU or
#: SiLU network's norms decay until the bias dominates the pre-activations, the inputs then turn
#: parallel, and the norm difference shrinks with the angle, as with kinked φ and biases: the
#: single Gaussian on (ln A, ln B, T) put its sd 48-66% low (GELU σ_w² = 2, σ_b = 0.1, widths
#: 256-1024); here 6.6-6.9% at 512-1024 (docs/theory/general-predictor.md). Bias-free, the two
#: norms drift apart by orders of magnitude (ln A − ln B sd ≈ 3 at width 256, layer 50), where
#: this chart is far off (sd 48-90% high) and the single Gaussian stays.
BIASED_SMOOTH = ("gelu", "silu")


def _gram_of_diff(y: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (A, E, Δ) from y = (ln A, ln Δ, r)."""
    a_, dl = np.exp(y[..., 0]), np.exp(y[..., 1])
    return a_, np.tanh(y[..., 2]) * np.sqrt(a_ * dl), dl


def _diff_of_gram(a_: FloatArray, e_: FloatArray, dl: FloatArray) -> FloatArray:
    """Return y = (ln A, ln Δ, r) from (A, E, Δ); r = sign(E)·ln((√(AΔ) + |E|)²/det)/2."""
    a_, dl = np.maximum(a_, _TINY), np.maximum(dl, _TINY)
    root = np.sqrt(a_ * dl)
    det = np.maximum(a_ * dl - e_ * e_, 1e-16 * a_ * dl)
    r = np.sign(e_) * (np.log(root + np.abs(e_)) - 0.5 * np.log(det))
    return np.stack([np.log(a_), np.log(dl), r], axis=-1)


def _x_of_components(mean: FloatArray, cov: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and sd of X per Gaussian component (..., 3), by a 2-D Gauss–Hermite rule.

    X = ln sin²θ depends on y through s = ln Δ − ln A and r only:
    X = s − 2 ln cosh r − ln(1 − 2 tanh(r) e^{s/2} + e^s)  (B/A = 1 − 2E/A + Δ/A).
    """
    m_s, m_r = mean[..., 1] - mean[..., 0], mean[..., 2]
    v_s = cov[..., 0, 0] + cov[..., 1, 1] - 2.0 * cov[..., 0, 1]
    c_sr = cov[..., 1, 2] - cov[..., 0, 2]
    v_r = cov[..., 2, 2]
    l11 = np.sqrt(np.maximum(v_s, 0.0))
    l21 = np.where(l11 > 0, c_sr / np.where(l11 > 0, l11, 1.0), 0.0)
    l22 = np.sqrt(np.maximum(v_r - l21 * l21, 0.0))
    z1, z2 = _n[:, None], _n  # the 9 × 9 grid: s depends on the first node only
    s_ = m_s[..., None, None] + l11[..., None, None] * z1  # (..., 9, 1), broadcast below
    r = m_r[..., None, None] + l21[..., None, None] * z1 + l22[..., None, None] * z2
    half = np.exp(0.5 * s_)
    # in place on the (..., 9, 9) grid (the arrays are large here: all layers at once)
    x = np.abs(r)
    tail = np.multiply(x, -2.0)
    np.log1p(np.exp(tail, out=tail), out=tail)  # ln(1 + e^{−2|r|})
    x += tail
    x -= math.log(2.0)  # ln cosh r
    x *= 2.0
    np.subtract(s_, x, out=x)
    b_over_a = np.multiply(np.tanh(r, out=r), 2.0, out=r)
    b_over_a *= half
    np.subtract(1.0, b_over_a, out=b_over_a)
    b_over_a += half * half
    x -= np.log(np.maximum(b_over_a, _TINY, out=b_over_a), out=b_over_a)
    x = x.reshape(*m_r.shape, -1)  # X = s − 2 ln cosh r − ln(B/A)
    x_mean = x @ _READ_WEIGHTS
    dev = np.subtract(x, x_mean[..., None], out=tail.reshape(x.shape))  # tail's buffer reused
    dev *= dev
    return x_mean, np.sqrt(np.maximum(dev @ _READ_WEIGHTS, 0.0))


@dataclass(frozen=True)
class MixtureLaw:
    """Per layer: the mixture law of X = ln sin²θ (components' weights, means, sds) and its moments.

    :meth:`cdf`, :meth:`density` and :meth:`quantiles` give the exact pushforward of the
    Gaussian mixture of y through X(y) (the components' means and sds only summarise it).

    Attributes
    ----------
    weights, x_means, x_sds : ndarray, shape (L+1, K)
        Component weights (zero for unused slots) and each component's mean and sd of X.
    mean, sd : ndarray, shape (L+1,)
        Mean and sd of X under the mixture.
    y_means, y_covs : ndarray, shape (L+1, K, 3) and (L+1, K, 3, 3)
        The components: mean and covariance of y = (ln A, ln Δ, r).
    """

    weights: FloatArray
    x_means: FloatArray
    x_sds: FloatArray
    mean: FloatArray
    sd: FloatArray
    y_means: FloatArray
    y_covs: FloatArray

    def _conditionals(self) -> tuple[FloatArray, ...]:
        return _r_and_s_given_r(self.y_means, self.y_covs)

    def cdf(self, layer: int, x: FloatArray) -> FloatArray:
        """P(X_layer ≤ x) under the mixture; 1 from x = 0 on."""
        parts = (v[layer] for v in self._conditionals())
        x = np.asarray(x, dtype=np.float64)
        return _cdf_density(x, self.weights[layer], *parts)[0]

    def density(self, layer: int, x: FloatArray) -> FloatArray:
        """Density of X_layer at x (0 for x ≥ 0)."""
        parts = (v[layer] for v in self._conditionals())
        x = np.asarray(x, dtype=np.float64)
        return _cdf_density(x, self.weights[layer], *parts)[1]

    def quantiles(self, probabilities: FloatArray) -> FloatArray:
        """Quantiles of X at each layer, shape (L+1, len(probabilities)) (safeguarded Newton)."""
        p = np.asarray(probabilities, dtype=np.float64)[None, :]
        parts = [v[:, None, :] for v in self._conditionals()]
        weights = self.weights[:, None, :]

        def cdf(x: FloatArray) -> FloatArray:
            return _cdf_density(x, weights, *parts)[0]

        def excess_and_slope(x: FloatArray) -> tuple[FloatArray, FloatArray]:
            value, slope = _cdf_density(x, weights, *parts)
            return value - p, slope

        live = self.weights > 0
        point = ~np.any(live & np.any(self.y_covs != 0, axis=(-2, -1)), axis=1)  # layer 0
        spread = np.where(live, self.x_means - 12.0 * self.x_sds, np.inf).min(axis=1)
        lo = np.broadcast_to(np.maximum(spread - 1.0, _X_FLOOR)[:, None], (len(live), p.size))
        lo = np.where(point[:, None], self.mean[:, None], lo)
        for _ in range(60):  # widen the bracket until it holds the quantile
            short = (cdf(lo) > p) & ~point[:, None]
            if not short.any() or lo.min() <= _X_FLOOR:
                break
            lo = np.where(short, np.maximum(2.0 * lo - 1.0, _X_FLOOR), lo)
        start = np.minimum(self.mean[:, None] + self.sd[:, None] * ndtri(p), -1e-3)
        hi = np.where(point[:, None], self.mean[:, None], 0.0)
        return np.asarray(solve_increasing(excess_and_slope, lo, hi, start))


def _r_and_s_given_r(mean: FloatArray, cov: FloatArray) -> tuple[FloatArray, ...]:
    """Per component: r's mean and sd, and s = ln Δ − ln A given r (mean at r's mean, slope, sd)."""
    m_s, m_r = mean[..., 1] - mean[..., 0], mean[..., 2]
    v_s = cov[..., 0, 0] + cov[..., 1, 1] - 2.0 * cov[..., 0, 1]
    c_sr = cov[..., 1, 2] - cov[..., 0, 2]
    v_r = np.maximum(cov[..., 2, 2], 0.0)
    beta = np.where(v_r > 0, c_sr / np.where(v_r > 0, v_r, 1.0), 0.0)
    return m_r, np.sqrt(v_r), m_s, beta, np.sqrt(np.maximum(v_s - beta * c_sr, 0.0))


def _cdf_density(x, weights, m_r, sd_r, m_s, beta, sd_s):
    """P(X ≤ x) and its density under the mixture (x: shape S; the rest: S + (K,), broadcast).

    With t = tanh r and σ = e^{−s/2} = √(A/Δ): sin²θ = (1 − t²)/((σ − t)² + 1 − t²), so
    X ≤ x ⇔ |σ − t| ≥ q, q = √((e^{−x} − 1)(1 − t²)) (X is −ln(1 + w²), w = (σ − t) cosh r,
    the signed cot θ). Given r, s is normal and the event is s ≤ −2 ln(t + q) or
    s ≥ −2 ln(t − q) (each where its argument is positive): closed form in s, Gauss–Hermite
    in r. The slope of q in x is q / (2 expm1(x)).
    """
    z = _R_NODES
    r = m_r[..., None] + sd_r[..., None] * z  # (..., K, N)
    mu = m_s[..., None] + (beta * sd_r)[..., None] * z
    sig = sd_s[..., None]
    safe = np.where(sig > 0, sig, 1.0)
    xs = np.clip(x, _X_FLOOR, -_TINY)[..., None, None]
    gap = -np.expm1(xs)  # 1 − eˣ > 0
    abs_r = np.abs(r)
    ln_cosh = abs_r + np.log1p(np.exp(-2.0 * abs_r)) - math.log(2.0)
    q = np.exp(0.5 * np.log(gap) - 0.5 * xs - ln_cosh)
    t = np.tanh(r)
    plus, minus = t + q, t - q
    up, down = plus > 0, minus > 0
    c1 = -2.0 * np.log(np.where(up, plus, 1.0))  # s ≤ c1 (every s if t + q ≤ 0)
    c2 = -2.0 * np.log(np.where(down, minus, 1.0))  # s ≥ c2 (no s if t − q ≤ 0)
    z1, z2 = (c1 - mu) / safe, (mu - c2) / safe
    smooth = sig > 0
    p1 = np.where(up, np.where(smooth, ndtr(z1), (z1 >= 0).astype(np.float64)), 1.0)
    p2 = np.where(down, np.where(smooth, ndtr(z2), (z2 >= 0).astype(np.float64)), 0.0)
    scale = q / (gap * safe)
    d1 = np.where(up & smooth, np.exp(-0.5 * z1 * z1) / np.where(up, plus, 1.0), 0.0)
    d2 = np.where(down & smooth, np.exp(-0.5 * z2 * z2) / np.where(down, minus, 1.0), 0.0)
    cdf = ((p1 + p2) @ _R_WEIGHTS * weights).sum(axis=-1)
    pdf = ((scale * (d1 + d2) * _INV_SQRT_2PI) @ _R_WEIGHTS * weights).sum(axis=-1)
    inside, undefined = np.asarray(x) < 0, np.isnan(x)
    cdf = np.where(inside, np.clip(cdf, 0.0, 1.0), np.where(undefined, np.nan, 1.0))
    return cdf, np.where(inside, pdf, np.where(undefined, np.nan, 0.0))


def takes_difference_chart(
    activation: str | Activation,
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: str | float | None = None,
) -> bool:
    """Whether ``depthscope.predict`` takes this closure: plain kinked layers or biased GELU/SiLU.

    Parameters
    ----------
    activation, weight_std, bias_std, q0, residual
        As in :func:`depthscope.predict` (only ``activation``, ``bias_std`` and ``residual``
        decide).
    """
    if residual is not None:
        return False
    act = parse_activation(activation)
    return act.slopes is not None or (act.name in BIASED_SMOOTH and bias_std > 0)


def general_mixture_law(
    steps: Sequence[int],
    theta0: float,
    *,
    activation: str | Activation = "relu",
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    q0: float = 1.0,
    n_slices: int = N_SLICES,
) -> MixtureLaw:
    """Propagate the sliced Gaussian-sum closure through plain layers of widths ``steps``.

    Parameters
    ----------
    steps : sequence of int
        Width of each layer.
    theta0 : float
        Angle between the inputs, radians, in (0, π].
    activation, weight_std, bias_std, q0
        As in :func:`depthscope.predict` (plain layers; any φ, calibrated for a·min + b·max
        and for GELU/SiLU with biases).
    n_slices : int
        Number of slices K (components after each layer).

    Returns
    -------
    MixtureLaw
    """
    act = parse_activation(activation)
    sw2, sb2 = float(weight_std) ** 2, float(bias_std) ** 2
    depth = len(steps)
    weights = np.zeros((depth + 1, n_slices))
    means = np.zeros((depth + 1, n_slices, 3))
    covs = np.zeros((depth + 1, n_slices, 3, 3))
    one_minus_cos = 2.0 * math.sin(theta0 / 2.0) ** 2
    rho = min(math.sin(theta0 / 2.0), 1.0 - 1e-15)  # E/√(AΔ) for equal norms
    w = np.ones(1)
    log_d0 = (  # ln ‖x − y‖²/n₀; by logs where 1 − cos θ0 underflows (θ0 ≲ 1e-154)
        math.log(2.0 * q0 * one_minus_cos)
        if 2.0 * q0 * one_minus_cos >= sys.float_info.min
        else math.log(4.0 * q0) + 2.0 * math.log(math.sin(theta0 / 2.0))
    )
    mean = np.array([[math.log(q0), log_d0, math.atanh(rho)]])
    cov = np.zeros((1, 3, 3))
    for layer in range(depth + 1):
        k = 1
        if layer > 0:
            mean, cov = mix_step(act, sw2, sb2, float(steps[layer - 1]), mean, cov)
            w, mean, cov = slice_mixture(w, mean, cov, _R_AXIS, n_slices)
            if not np.isfinite(mean).all():  # norms out of range: stop (NaN is slow to carry)
                raise FloatingPointError(f"the Gram state is not finite at layer {layer}")
            k = len(w)  # the masses normalised straight into their row
            w = np.divide(w, np.add.reduce(w), out=weights[layer, :k])
        weights[layer, :k], means[layer, :k], covs[layer, :k] = w, mean, cov
        if k < n_slices:  # unused slots: a harmless copy with weight 0
            means[layer, k:] = mean[0]
    x_means, x_sds = _x_of_components(means, covs)
    x_means = np.where(weights > 0, x_means, 0.0)
    x_sds = np.where(weights > 0, x_sds, 0.0)
    total_mean = np.sum(weights * x_means, axis=1)
    second = np.sum(weights * (x_sds**2 + (x_means - total_mean[:, None]) ** 2), axis=1)
    return MixtureLaw(weights, x_means, x_sds, total_mean, np.sqrt(second), means, covs)
