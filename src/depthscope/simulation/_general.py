"""Networks beyond bias-free ReLU: any activation, σ_w, q₀ and residual blocks (two inputs).

Definitions (``docs/theory/kernel-maps.md``; the issue "Beyond the paper"):

* plain layer ℓ: h_ℓ = φ(W_ℓ h_{ℓ−1} + b_ℓ), W iid N(0, σ_w²/n_{ℓ−1}), b iid N(0, σ_b²);
* residual block (constant width n, the stream starting at the inputs, n₀ = n):
  h_ℓ = h_{ℓ−1} + α V_ℓ φ(W_ℓ h_{ℓ−1} + b_ℓ), V, W iid N(0, σ_w²/n);
* inputs with ‖x‖² = ‖y‖² = n₀ q₀ at angle θ₀.

The samplers are exact in distribution and O(n) per layer and network. A plain layer draws its
n pre-activation pairs iid N(0, σ_w² G + σ_b² 11ᵀ) from the previous per-coordinate Gram
matrix G (:func:`._pair.gram_preactivations`). For φ that is not positively homogeneous the
norms matter, so the state is the whole Gram matrix, never rescaled. A residual block draws
p = φ(W h + b) the same way; then, with h = Q [√n R; 0] (thin QR, R = chol(G)ᵀ) and Z = V p,
whose rows are iid N(0, Σ), Σ = σ_w² pᵀp / n, independent of h::

    Qᵀ h' = [√n R + α Z₁; α Z₂],     Z₁: 2 rows N(0, Σ),  Z₂ᵀ Z₂ ~ Wishart₂(n − 2, Σ)

and the Wishart matrix is F ᵀF with F = (L A)ᵀ by Bartlett (L = chol Σ, A lower triangular
with A₁₁² ~ χ²_{n−2}, A₂₂² ~ χ²_{n−3}, A₂₁ ~ N(0, 1)): per block 2n normals for p and seven
more numbers, no n × n matrix (:func:`block_pair_stats`). Everything is written in the (a, Δ)
basis of :mod:`._pair` (Δ = b − a), so tiny angles keep their precision.

The activation functions are those of :mod:`depthscope.theory._activations` (the one owner of
φ); this module only decides which chain runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from .._errors import (
    MAX_NETWORK_SCALE,
    MAX_Q0,
    MIN_Q0,
    MIN_WEIGHT_STD,
    check_network_number,
)
from ..theory._activations import Activation, normal_cdf
from ..theory._activations import parse_activation as parse_phi
from ..theory._kernel_maps import parse_residual
from ._pair import HE_GAIN2, NUMPY, ArrayOps, PairStats

__all__ = [
    "DEFAULT_WEIGHT_STD",
    "SMALL_STEP",
    "Network",
    "block_pair_stats",
    "check_network",
    "chi2_shapes",
    "first_pair_stats",
    "gelu_pair",
    "pair_activation",
    "silu_pair",
    "smooth_pair",
    "tanh_pair",
]

#: He initialization: σ_w = √2 (the default of :func:`depthscope.simulate`).
DEFAULT_WEIGHT_STD = math.sqrt(HE_GAIN2)
#: Below this |d| (and |x d| < 1/4), φ(x + d) − φ(x) is ∫ φ' by 4-point Gauss–Legendre (error
#: ≲ 1e-15 relative); the plain difference above it rounds to ≲ 1e-14 relative (numpy arrays;
#: measured in :func:`smooth_pair` and :func:`gelu_pair`; the torch path keeps 2⁻⁷).
SMALL_STEP = 2.0**-5
_MAX_XD = 0.25

_Rule = tuple[tuple[float, ...], tuple[float, ...]]
_Branch = Callable[[Any, Any, Any], Any]


def _rule(points: int) -> _Rule:
    """Gauss–Legendre nodes and weights on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(points)
    return tuple(0.5 * (1.0 + float(t)) for t in nodes), tuple(0.5 * float(w) for w in weights)


_RULE = _rule(4)
#: The torch path computes both branches on every unit: the 2-point rule below 2⁻⁷.
_DEVICE_STEP, _DEVICE_RULE = 2.0**-7, _rule(2)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _normal_pdf(x: Any) -> Any:
    """ϕ(x) = exp(−x²/2)/√(2π), with x² split exactly so that large |x| loses no digits."""
    high = np.round(x * 16.0) / 16.0
    return np.exp(-0.5 * (high * high)) * np.exp(-0.5 * ((x - high) * (x + high))) / _SQRT_2PI


@dataclass(frozen=True)
class Network:
    """The network a simulation runs, beyond the widths.

    Attributes
    ----------
    activation : str
        Canonical name (``"relu"``, ``"leaky:0.1"``, ``"tanh"``, ...).
    slope : float or None
        α of φ(x) = α x + (1 − α) max(x, 0) (relu, leaky, abs = leaky:−1, linear = leaky:1);
        None for an activation that is not of that form (tanh, erf, gelu, silu).
    phi : Activation or None
        φ and φ' from :mod:`depthscope.theory._activations` where ``slope`` is None.
    weight_std, q0 : float
        σ_w and the inputs' ‖x‖²/n₀.
    residual : float or None
        α of residual blocks, None for plain layers.
    """

    activation: str
    slope: float | None
    phi: Activation | None
    weight_std: float
    q0: float
    residual: float | None

    @property
    def gain2(self) -> float:
        """σ_w²; exactly 2.0 for the default √2."""
        return HE_GAIN2 if self.weight_std == DEFAULT_WEIGHT_STD else self.weight_std**2

    @property
    def is_default(self) -> bool:
        """True for the ReLU / leaky-ReLU MLP with He weights and q₀ = 1 (the original chain)."""
        return (
            self.slope is not None
            and self.weight_std == DEFAULT_WEIGHT_STD
            and self.q0 == 1.0
            and self.residual is None
        )


def _positive(value: Any, name: str) -> float:
    low, high = (MIN_Q0, MAX_Q0) if name == "q0" else (MIN_WEIGHT_STD, MAX_NETWORK_SCALE)
    return check_network_number(value, name, low, high)


def check_network(
    activation: str | float,
    slope_of: Callable[[str | float], float],
    weight_std: Any,
    q0: Any,
    residual: str | float | None,
) -> Network:
    """Check the network keywords of :func:`depthscope.simulate` into a :class:`Network`.

    ``slope_of`` reads ``"relu"``, ``"leaky:S"`` and numbers (the original parser, with its
    messages); every other name goes to :func:`depthscope.theory._activations.parse_activation`.

    Raises
    ------
    DepthscopeError
        For an unknown activation, a σ_w or q₀ that is not a finite positive number, or a
        residual that is not ``"block:ALPHA"`` with α finite and ≥ 0.
    """
    phi: Activation | None = None
    text = activation.strip().lower() if isinstance(activation, str) else ""
    if not isinstance(activation, str) or text == "relu" or text.startswith("leaky"):
        slope: float | None = slope_of(activation)
        assert slope is not None
        name = "relu" if slope == 0.0 else f"leaky:{slope:g}"
    else:
        phi = parse_phi(text)
        name = phi.name
        slope = None
        if phi.slopes is not None and phi.slopes[1] == 1.0:  # abs, linear
            slope, phi = phi.slopes[0], None
    return Network(
        activation=name,
        slope=slope,
        phi=phi,
        weight_std=_positive(weight_std, "weight_std"),
        q0=_positive(q0, "q0"),
        residual=parse_residual(residual),
    )


def first_pair_stats(stats: PairStats, q0: float) -> PairStats:
    """Scale the unit-q₀ input state ``stats`` to inputs with ‖x‖²/n₀ = q₀."""
    if q0 == 1.0:
        return stats
    aa, dd, ad, det = stats
    return aa * q0, dd * q0, ad * q0, det * (q0 * q0)


def smooth_pair(
    ops: ArrayOps, fn: Callable[[Any], Any], derivative: Callable[[Any], Any], x: Any, d: Any
) -> tuple[Any, Any]:
    """(φ(x), φ(x + d) − φ(x)) for a smooth φ, without cancellation at small |d|.

    numpy arrays: where |d| < :data:`SMALL_STEP` and |x d| < 1/4 the difference is
    d ∫₀¹ φ'(x + t d) dt by 4-point Gauss–Legendre (error ≈ 5.6e-10 d⁸ max|φ⁽⁹⁾/φ'| relative);
    elsewhere the plain difference, which rounds to ≈ 2ε|φ(x)|/|d φ'(x)| relative, ≲ 1e-14
    where |φ| ≲ |φ'|. Measured against 80-digit arithmetic (x ∈ [−8, 8], 1e-14 ≤ |d| ≤ 0.5;
    errors relative to |d φ'(x)|): erf ≤ 1.5e-15 below the step at |x| ≤ 3, ≤ 5e-12 above it
    at |x| ≤ 3; in erf's saturated tails (|x| ≳ 4) the plain difference of two numbers near ±1
    is off by ≈ ε absolute, where φ(x + d) − φ(x) is itself ≲ 1e-7 |d| and weighs nothing in
    the Gram matrix. φ(x + d) and φ' are evaluated only on the units that use them. Other
    arrays (torch) evaluate both branches on every unit, so they keep the cheaper 2-point rule
    below 2⁻⁷ (error ≈ d⁴ φ⁽⁵⁾/(4320 φ'), ≤ 1.4e-10 relative for gelu, silu and tanh at
    |x| ≤ 4, ≤ 3e-8 for erf in its tails). gelu and silu on numpy arrays use
    :func:`gelu_pair` and :func:`silu_pair` instead (:func:`pair_activation`).
    """
    a = fn(x)
    if not isinstance(x, np.ndarray):
        small = ops.abs(d) < _DEVICE_STEP
        return a, ops.where(small, _gauss_legendre(derivative, x, d, _DEVICE_RULE), fn(x + d) - a)

    def plain(xs: Any, ds: Any, as_: Any) -> Any:
        return fn(xs + ds) - as_

    def quadrature(xs: Any, ds: Any, _: Any) -> Any:
        return _gauss_legendre(derivative, xs, ds, _RULE)

    return a, _by_step(x, d, a, plain, quadrature)


def _by_step(x: Any, d: Any, third: Any, plain: _Branch, quadrature: _Branch) -> Any:
    """``plain(x, d, third)`` where |d| ≥ :data:`SMALL_STEP` or |x d| ≥ 1/4, else ``quadrature``.

    Each branch sees only its own units, picked by flat integer indices (a boolean mask costs
    ≈ 5× more to gather and scatter on random patterns).
    """
    small = (np.abs(d) < SMALL_STEP) & (np.abs(x * d) < _MAX_XD)
    n_small = int(np.count_nonzero(small))
    if n_small == 0:
        return plain(x, d, third)
    if n_small == small.size:
        return quadrature(x, d, third)
    flat_x, flat_d, flat_third = x.reshape(-1), d.reshape(-1), third.reshape(-1)
    out = np.empty(small.size)
    for index, branch in ((np.flatnonzero(~small), plain), (np.flatnonzero(small), quadrature)):
        out[index] = branch(flat_x[index], flat_d[index], flat_third[index])
    return out.reshape(small.shape)


def _gauss_legendre(derivative: Callable[[Any], Any], x: Any, d: Any, rule: _Rule) -> Any:
    """Return d ∫₀¹ φ'(x + t d) dt by the Gauss–Legendre ``rule`` (nodes, weights on [0, 1])."""
    total = 0.0
    for node, weight in zip(*rule, strict=True):
        total = total + weight * derivative(x + node * d)
    return total * d


def gelu_pair(cdf: Callable[[Any], Any], x: Any, d: Any) -> tuple[Any, Any]:
    """(gelu x, gelu(x + d) − gelu x) for numpy arrays, gelu u = u Φ(u), Φ = ``cdf``.

    Where |d| < :data:`SMALL_STEP` and |x d| < 1/4, one Φ per unit:
    gelu(x + d) − gelu x = d Φ(x) + (x + d)(Φ(x + d) − Φ(x)) with
    Φ(x + d) − Φ(x) = d ϕ(x) ∫₀¹ exp(−t d x − t² d²/2) dt by 4-point Gauss–Legendre. The
    exponents are below 1/4 + 2⁻¹¹ in size, so each exp rounds to an ulp; the rule's error is
    ≈ 5.6e-10 (d x)⁸ relative (≤ 1e-15 at |x| ≤ 6); ϕ(x) is exp(−x²/2) with x² split exactly
    (x = h + l, h a multiple of 1/16), a few ulp at any x. Elsewhere the plain difference
    (x + d) Φ(x + d) − gelu x, with gelu x computed once, as ``theory``'s gelu rounds it.
    Measured against 80-digit arithmetic (x ∈ [−8, 8], 1e-14 ≤ |d| ≤ 0.5), relative to
    |d| (Φ(x) + |x| ϕ(x)) (the size of the two terms, which cancel at gelu' = 0, x ≈ −0.75):
    ≤ 7e-16 below the step at |x| ≤ 6 (4e-15 at |x| ≤ 8), ≤ 7e-15 above it at |x| ≤ 3 and
    ≤ 4e-14 in the lower tail, where Φ itself carries ≈ x² ε. The 2-point rule of gelu' that
    this replaces was off by up to 1.4e-10 and cost two more Φ per unit.
    """
    p = cdf(x)
    a = x * p

    def plain(xs: Any, ds: Any, ps: Any) -> Any:
        u = xs + ds
        return u * cdf(u) - xs * ps  # xs * ps: the same rounding as a

    def quadrature(xs: Any, ds: Any, ps: Any) -> Any:
        xd, dd = xs * ds, ds * ds
        total = 0.0
        for node, weight in zip(*_RULE, strict=True):
            total = total + weight * np.exp((-node) * xd - (0.5 * node * node) * dd)
        return ds * ps + (xs + ds) * (ds * _normal_pdf(xs) * total)

    return a, _by_step(x, d, p, plain, quadrature)


def tanh_pair(tanh: Callable[[Any], Any], x: Any, d: Any) -> tuple[Any, Any]:
    """(tanh x, tanh(x + d) − tanh x) by tanh u − tanh v = tanh(u − v)(1 − tanh u tanh v)."""
    a = tanh(x)
    b = tanh(x + d)
    return a, tanh(d) * (1.0 - a * b)


def silu_pair(x: Any, d: Any) -> tuple[Any, Any]:
    """(silu x, silu(x + d) − silu x) for numpy arrays, silu u = u σ(u), at any d.

    silu(x + d) − silu x = d σ(x) + (x + d)(σ(x + d) − σ(x)) and, exactly,
    σ(x + d) − σ(x) = σ(x + d) σ(−x) (1 − e^(−d)): a product of factors that each round to an
    ulp or two (1 − e^(−d) by ``expm1``), so the difference has no cancellation but the one of
    silu' = 0 (x ≈ −1.28), where the two terms have opposite signs: measured against 80-digit
    arithmetic, ≤ 7e-16 relative to |d| (σ(x) + |x| σ(x) σ(−x)) at |x| ≤ 8, any d. No branch,
    no Φ-like special function: two exp and one expm1 per unit. The exponentials use u
    clipped to ±700, as :mod:`depthscope.theory._activations` does; where that clip is active
    (|x| or |x + d| > 700, pre-activation sds of a few hundred) or e^(−d) overflows (d < −700),
    those units take the identity ordered so that every factor lies in [0, 1]. Before, they
    gave wrong differences and NaN: SiLU at q0 = 1e5 was 0.26 off at layer 5 (20 standard
    errors; explicit weights agree with the fixed sampler) and a deep SiLU residual stack was
    NaN from layer 24. Against 60-digit arithmetic at sds 1–2000 of x and d: absolute error
    ≤ 1.1e-14 |d|(1 + |x|).
    """
    e0 = np.exp(-np.clip(x, -700, 700))
    e1 = np.exp(-np.clip(x + d, -700, 700))
    q0 = 1.0 + e0
    a = x / q0  # silu x, rounded as theory's silu
    s0 = 1.0 / q0
    y = x + d
    with np.errstate(over="ignore", invalid="ignore"):
        step = (e0 * s0) / (1.0 + e1) * -np.expm1(-d)  # σ(x + d) − σ(x), exact while unclipped
    # Beyond the clip (|x| or |x + d| > 700) the clipped exponentials are wrong by factors up
    # to e^(|u| − 700), and for d < −709 e^(−d) overflows (NaN): there, the same identity
    # ordered so that every factor lies in [0, 1] (σ by scipy's expit, stable at any size):
    # σ(x + d) − σ(x) = sign(d) σ(x + d⁺) σ(−x + d⁻) (1 − e^(−|d|)).
    if np.abs(x).max() > 700.0 or np.abs(y).max() > 700.0 or d.min() < -700.0:
        far = (np.abs(x) > 700.0) | (np.abs(y) > 700.0) | (d < -700.0)
        x_f, d_f = np.broadcast_to(x, far.shape)[far], np.broadcast_to(d, far.shape)[far]
        step[far] = (
            np.sign(d_f)
            * expit(x_f + np.maximum(d_f, 0.0))
            * expit(-x_f - np.minimum(d_f, 0.0))
            * -np.expm1(-np.abs(d_f))
        )
    return a, d * s0 + y * step


_NUMPY_PAIRS: dict[str, Callable[[Any, Any], tuple[Any, Any]]] = {
    "gelu": lambda x, d: gelu_pair(normal_cdf, x, d),
    "silu": silu_pair,
}


def pair_activation(
    ops: ArrayOps, name: str, fn: Callable[[Any], Any], derivative: Callable[[Any], Any]
) -> Callable[[Any, Any], tuple[Any, Any]]:
    """Return ``activate(x, d)`` of :func:`._pair.gram_pair_chain` for a smooth φ ``name``."""
    if name == "tanh":
        return lambda x, d: tanh_pair(fn, x, d)
    if name in _NUMPY_PAIRS and ops is NUMPY:
        return _NUMPY_PAIRS[name]
    return lambda x, d: smooth_pair(ops, fn, derivative, x, d)


def chi2_shapes(width: int) -> tuple[float, float]:
    """Degrees of freedom (n − 2, n − 3) of Bartlett's χ² in a block of width n (≥ 0)."""
    return float(max(width - 2, 0)), float(max(width - 3, 0))


def block_pair_stats(
    ops: ArrayOps,
    stats: PairStats,
    branch: PairStats,
    width: int,
    gain2: float,
    alpha: float,
    z: tuple[Any, Any, Any, Any],
    bartlett: tuple[Any, Any, Any],
) -> PairStats:
    """State of a residual block h' = h + α V p from h's state and p's, per coordinate.

    Parameters
    ----------
    stats, branch : PairStats
        (|a|², |Δ|², a·Δ, det)/n of the stream h and of the branch's post-activations p.
    width : int
        n (the block's constant width).
    gain2, alpha : float
        σ_w² and α.
    z : 4 arrays (k,)
        Standard normals ξ₁₁, ξ₁₂, ξ₂₁, ξ₂₂ of the two rows Z₁ = ξ Lᵀ.
    bartlett : 3 arrays (k,)
        χ²_{n−2}, χ²_{n−3} and a standard normal (ignored when n = 2).

    Returns
    -------
    PairStats
        The new per-coordinate Gram entries; the determinant is the sum of the squared 2 × 2
        minors of the 4 × 2 factor [√n R + α Z₁; α F] (Cauchy–Binet), a sum of non-negative
        terms.
    """
    aa, dd, ad, det = stats
    paa, pdd, pad, pdet = branch
    # R: upper Cholesky factor of the stream's Gram (per coordinate).
    live = aa > 0
    safe = ops.where(live, aa, 1.0)
    r11 = ops.sqrt(aa)
    r12 = ops.where(live, ad / ops.sqrt(safe), 0.0)
    r22 = ops.where(live, ops.sqrt(det / safe), ops.sqrt(dd))
    # L: lower Cholesky factor of Σ = σ_w² P.
    p_live = paa > 0
    p_safe = ops.where(p_live, paa, 1.0)
    l11 = ops.sqrt(gain2 * paa)
    l21 = ops.where(p_live, math.sqrt(gain2) * pad / ops.sqrt(p_safe), 0.0)
    l22 = ops.where(p_live, ops.sqrt(gain2 * pdet / p_safe), ops.sqrt(gain2 * pdd))
    s = alpha / math.sqrt(width)
    x11, x12, x21, x22 = z
    m11 = r11 + s * (l11 * x11)
    m12 = r12 + s * (l21 * x11 + l22 * x12)
    m21 = s * (l11 * x21)
    m22 = r22 + s * (l21 * x21 + l22 * x22)
    c1, c2, g = bartlett
    root1 = ops.sqrt(c1)
    f11 = s * (l11 * root1)
    f12 = s * (l21 * root1 + (l22 * g if width > 2 else 0.0))
    f22 = s * (l22 * ops.sqrt(c2))
    new_aa = m11 * m11 + m21 * m21 + f11 * f11
    new_dd = m12 * m12 + m22 * m22 + f12 * f12 + f22 * f22
    new_ad = m11 * m12 + m21 * m22 + f11 * f12
    minors = (
        m11 * m22 - m12 * m21,
        m11 * f12 - m12 * f11,
        m11 * f22,
        m21 * f12 - m22 * f11,
        m21 * f22,
        f11 * f22,
    )
    new_det = minors[0] * minors[0]
    for minor in minors[1:]:
        new_det = new_det + minor * minor
    return new_aa, new_dd, new_ad, new_det
