"""Infinite-width kernel maps of one layer, for any elementwise activation, with biases.

A plain layer h = φ(W h_prev + b), W iid N(0, σ_w²/n), b iid N(0, σ_b²), acts on the
per-coordinate 2×2 kernel K = Gram/n of two inputs as (docs/theory/kernel-maps.md)::

    C = σ_w² K + σ_b² 11ᵀ,        K'_ij = E[φ(u_i) φ(u_j)],  (u₁, u₂) ~ N(0, C)        (1)

and the residual block h = h_prev + α V φ(W h_prev + b) as K' = K + α² σ_w² E[φφ]      (2)

The expectation E[φφ] comes from :mod:`._activations` (closed forms for the a·min + b·max
family, erf and GELU; quadrature otherwise). The depth iteration (:func:`infinite_width_law`)
keeps the state (q, t) with t = tan(θ/2), and every step computes the *ratio*
tan(θ'/2)/tan(θ/2) from quantities that are sums of non-negative terms, so angles down to
1e-300 keep full relative precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .._errors import (
    MAX_NETWORK_SCALE,
    MAX_Q0,
    MIN_Q0,
    MIN_WEIGHT_STD,
    DepthscopeError,
    check_network_number,
    check_theta0,
)
from .._types import FloatArray
from ._activations import (
    _GL_HALF_WIDTH,
    _GL_NODES,
    _GL_WEIGHTS,
    Activation,
    Func,
    _expectations,
    _rule,
    _tail_ratio_scalar,
    check_grid,
    parse_activation,
)

__all__ = [
    "FixedPoint",
    "InfiniteWidthLaw",
    "fixed_point_chi",
    "infinite_width_law",
    "kernel_map",
    "kernel_map_entries",
    "parse_residual",
]


def parse_residual(residual: str | float | None) -> float | None:
    """Return the residual branch scale α from ``"block:ALPHA"`` (or a number), None if plain."""
    if residual is None:
        return None
    if isinstance(residual, (bool, np.bool_)):
        raise TypeError(f"residual must be 'block:ALPHA', a number or None, not {residual!r}.")
    if isinstance(residual, str):
        kind, _, value = residual.partition(":")
        if kind.strip().lower() != "block" or not value:
            raise DepthscopeError(f"residual must be 'block:ALPHA', got {residual!r}.")
        residual = value
    try:
        alpha = float(residual)
    except ValueError:
        raise DepthscopeError(f"residual scale must be a number, got {residual!r}.") from None
    if not (math.isfinite(alpha) and 0 <= alpha <= MAX_NETWORK_SCALE):
        raise DepthscopeError(
            f"residual scale α must be a finite number in [0, {MAX_NETWORK_SCALE:g}], got {alpha}."
        )
    return alpha


def kernel_map_entries(
    k11: ArrayLike,
    k22: ArrayLike,
    k12: ArrayLike,
    *,
    activation: str | Activation | Func = "relu",
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    residual: str | float | None = None,
    method: str = "auto",
    order: int | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return the next layer's kernel entries (K'₁₁, K'₂₂, K'₁₂) by (1) or (2), batched.

    Parameters
    ----------
    k11, k22, k12 : array_like
        Per-coordinate kernel K = Gram/n of the previous layer (broadcast together).
    activation, method, order
        See :func:`gaussian_expectations`.
    weight_std, bias_std : float
        σ_w (weights N(0, σ_w²/n)) and σ_b (biases N(0, σ_b²)).
    residual : "block:ALPHA", float or None
        None: plain layer (1); α: residual block (2), K' = K + α² σ_w² E[φφ].

    Examples
    --------
    >>> [round(float(v), 12) for v in kernel_map_entries(1.0, 1.0, 0.0)]
    [1.0, 1.0, 0.318309886184]
    """
    sw2, sb2 = float(weight_std) ** 2, float(bias_std) ** 2
    if not (math.isfinite(sw2) and math.isfinite(sb2)):
        raise DepthscopeError("weight_std and bias_std must be finite.")
    alpha = parse_residual(residual)
    k11, k22, k12 = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(k11, k22, k12))
    det_k = np.maximum(k11 * k22 - k12 * k12, 0.0)
    diff = np.maximum(k11 + k22 - 2.0 * k12, 0.0)  # E|h₁ − h₂|²/n: the bias cancels in it
    det_c = sw2 * sw2 * det_k + sw2 * sb2 * diff  # det(σ_w² K + σ_b² 11ᵀ), no σ_b⁴ cancellation
    act = parse_activation(activation)
    e11, e22, e12 = _expectations(
        act, sw2 * k11 + sb2, sw2 * k22 + sb2, sw2 * k12 + sb2, det_c, method, order
    )
    if alpha is None:
        return e11, e22, e12
    scale = alpha * alpha * sw2
    return k11 + scale * e11, k22 + scale * e22, k12 + scale * e12


def kernel_map(kernel: ArrayLike, **kwargs: object) -> FloatArray:
    """Return K' for kernels of shape (..., 2, 2); keywords as :func:`kernel_map_entries`.

    Examples
    --------
    >>> kernel_map(np.eye(2), activation="erf", weight_std=1.0).round(6).tolist()
    [[0.464559, 0.0], [0.0, 0.464559]]
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.shape[-2:] != (2, 2):
        raise DepthscopeError(f"kernel must have shape (..., 2, 2), got {k.shape}.")
    e11, e22, e12 = kernel_map_entries(k[..., 0, 0], k[..., 1, 1], k[..., 0, 1], **kwargs)  # type: ignore[arg-type]
    row1, row2 = np.stack([e11, e12], axis=-1), np.stack([e12, e22], axis=-1)
    return np.stack([row1, row2], axis=-2)


# --- the depth iteration on (q, t = tan(θ/2)) for equal-norm inputs --------------------------


def _ab_relu_angle_step(slopes: tuple[float, float], t_c: float) -> float:
    """ρ = tan(θ'/2)/tan(ψ/2) for the a·min + b·max family at C-angle ψ = 2 atan(t_c)."""
    a, b = slopes
    big_a, big_b = (a * a + b * b) / 2.0, (a - b) ** 2 / (2.0 * math.pi)
    if t_c <= 1.0:  # ψ ≤ π/2: a'/a_C = A − B·tail/(1 − cos ψ), b'/b_C = A + B·tail/(1 + cos ψ)
        psi = 2.0 * math.atan(t_c)
        half_over_sin = 1.0 if psi == 0.0 else (psi / 2) / math.sin(psi / 2)
        tail_ratio = _tail_ratio_scalar(psi)  # tail/(1 − cos ψ) = 2ψ·tail_ratio·(h/sin h)²
        ratio_a = big_a - big_b * 2.0 * psi * tail_ratio * half_over_sin**2
        ratio_b = big_a + big_b * tail_ratio * psi**3 * (1.0 + t_c * t_c) / 2.0
    else:  # ψ > π/2, ε = π − ψ: a' = c[A((1 − r/2)(1 + cos ε) + (r/2)(1 − cos ε)) − B tail ε]
        eps = 2.0 * math.atan(1.0 / t_c)
        one_plus, one_minus = 2.0 * math.cos(eps / 2) ** 2, 2.0 * math.sin(eps / 2) ** 2
        r_half = math.pi * big_b / (2.0 * big_a)
        tail_eps = _tail_ratio_scalar(eps) * eps**3
        a_prime = big_a * ((1.0 - r_half) * one_plus + r_half * one_minus) - big_b * tail_eps
        ratio_a = a_prime / one_plus
        ratio_b = big_a + big_b * (math.pi * math.cos(eps) + tail_eps) / one_minus
    return math.sqrt(max(ratio_a, 0.0) / ratio_b)


def _difference_over(act: Activation, centre, z_half, half_sd):
    """(φ(c + h) − φ(c − h))/half_sd on the grid c = centre (m,), h = half_sd·z_half (k,).

    Columns with |h| ≤ 0.25, when φ' is known: z_half·Σ_k w_k φ'(c + h τ_k) (8-point
    Gauss–Legendre of ∫φ'), exact to ≈ 1e-16 and free of cancellation as h → 0; the other
    columns by direct subtraction. Returns shape (m, k).
    """
    half = half_sd * z_half
    near = np.abs(half) <= _GL_HALF_WIDTH if act.derivative is not None else half != half
    out = np.empty((len(centre), len(half)))
    far = ~near
    if far.any():
        c, h = centre[:, None], half[far][None, :]
        out[:, far] = (act.fn(c + h) - act.fn(c - h)) / half_sd
    if near.any():
        nodes = centre[:, None, None] + half[near][None, :, None] * _GL_NODES
        out[:, near] = z_half[near] * (act.derivative(nodes) @ _GL_WEIGHTS)  # type: ignore[misc]
    return out


def _half_rule(sd: float) -> tuple[FloatArray, FloatArray]:
    """Non-negative trapezoid nodes for an even integrand: weight doubled off zero."""
    z, w = (v[0] for v in _rule(np.array([sd]), None, "trapezoid"))
    keep = z >= 0
    return z[keep], np.where(z[keep] > 0, 2.0, 1.0) * w[keep]


def _quadrature_angle_step(act: Activation, c: float, t_c: float) -> tuple[float, float]:
    """Return (E φ(u)², ρ) by quadrature in the mean/difference coordinates.

    s = (u₁+u₂)/2 ~ N(0, c cos²(ψ/2)) and d = (u₁−u₂)/2 ~ N(0, c sin²(ψ/2)) are independent:
    a' = E[(φ(s+d) − φ(s−d))²]/2, b' = E[(φ(s+d) + φ(s−d))²]/2, q' = (a' + b')/2,
    tan²(θ'/2) = a'/b'. Both squares are even in d (and in s for odd φ): half grids
    suffice. Below d_sd = 1e-7 the difference is 2d·φ'(s) to relative
    O(d²) ≤ 1e-14 and both expectations reduce to one dimension.
    """
    norm = math.hypot(1.0, t_c)
    s_sd, d_sd = math.sqrt(c) / norm, math.sqrt(c) * (t_c / norm)
    if act.odd:
        z_s, w_s = _half_rule(s_sd)
    else:
        z_s, w_s = (v[0] for v in _rule(np.array([s_sd]), None, "trapezoid"))
    s = s_sd * z_s
    if d_sd < 1e-7 and act.derivative is not None:  # linear in d: a'/a_C = E φ'(s)², b' = 2E φ(s)²
        ratio_a = float(w_s @ act.derivative(s) ** 2)
        ratio_b = 2.0 * float(w_s @ act.fn(s) ** 2) / (2.0 * s_sd**2)
    else:
        z_d, w_d = _half_rule(d_sd)
        check_grid(len(z_s) * len(z_d), np.array([s_sd, d_sd]))
        weights = w_s[:, None] * w_d[None, :]
        ratio_a = float(np.sum(weights * _difference_over(act, s, z_d, d_sd) ** 2)) / 4.0
        if act.odd:  # φ(s+d) + φ(s−d) = φ(d+s) − φ(d−s): the same accurate difference
            total = _difference_over(act, d_sd * z_d, z_s, s_sd).T
            ratio_b = float(np.sum(weights * total**2)) / 4.0  # b'/b_C, b_C = 2 s_sd²
        else:
            d = d_sd * z_d[None, :]
            total2 = (act.fn(s[:, None] + d) + act.fn(s[:, None] - d)) ** 2
            ratio_b = float(np.sum(weights * total2)) / (4.0 * s_sd**2)
    q_phi = ratio_a * d_sd**2 + ratio_b * s_sd**2  # (a' + b')/2 with a_C = 2d_sd², b_C = 2s_sd²
    return q_phi, math.sqrt(ratio_a / ratio_b)


def _closed_form_angle_step(act: Activation, c: float, t_c: float) -> tuple[float, float] | None:
    """(E φ(u)², ρ) from the erf/GELU closed form where ψ ≥ 0.02, else None (use quadrature).

    a' = K'₁₁ − K'₁₂ then carries an absolute rounding error ≈ 1e-16 q' against a' ≳ 1e-4 q':
    relative ≲ 1e-12 (the tests compare with quadrature).
    """
    if act.closed_form not in ("erf", "gelu") or not 0.01 <= t_c <= 100.0:
        return None
    c12 = c * (1.0 - t_c * t_c) / (1.0 + t_c * t_c)
    c11, c22, c12_arr = np.array(c), np.array(c), np.array(c12)
    det = np.array(0.0)  # unused by the erf and GELU forms
    e11, _, e12 = (float(v) for v in _expectations(act, c11, c22, c12_arr, det, "auto", None))
    return e11, math.sqrt((e11 - e12) / (e11 + e12)) / t_c


def _layer_step(act: Activation, sw2: float, sb2: float, beta: float | None, q: float, t: float):
    """One layer on (q, t): returns (q', t'). beta = α²σ_w² for a residual block, else None."""
    c = sw2 * q + sb2
    if t <= 1.0:  # tan(ψ/2) = t·√(σ_w² q/(σ_w² q + σ_b²(1 + t²))): the bias shrinks the angle
        t_c = t * math.sqrt(sw2 * q / (sw2 * q + sb2 * (1.0 + t * t)))
    else:
        t_c = math.sqrt(sw2 * q / ((sw2 * q + sb2) / (t * t) + sb2))
    if act.closed_form == "ab_relu":
        assert act.slopes is not None
        a, b = act.slopes
        q_phi, rho = (a * a + b * b) / 2.0 * c, _ab_relu_angle_step(act.slopes, t_c)
    else:
        q_phi, rho = _closed_form_angle_step(act, c, t_c) or _quadrature_angle_step(act, c, t_c)
    if beta is None:
        return q_phi, t_c * rho
    ratio = t_c * rho / t  # tan(θ_φ/2)/tan(θ/2)
    t_phi = t * ratio
    base, extra = q / (1.0 + t * t), beta * q_phi / (1.0 + t_phi * t_phi)
    return q + beta * q_phi, t * math.sqrt((base + extra * ratio * ratio) / (base + extra))


@dataclass(frozen=True)
class InfiniteWidthLaw:
    """Deterministic n → ∞ path of two equal-norm inputs through L layers (layer 0 = inputs).

    Attributes
    ----------
    activation : str
        Canonical activation name.
    weight_std, bias_std, q0, theta0 : float
        σ_w, σ_b, the inputs' ‖x‖²/n₀ and their angle (radians).
    residual_alpha : float or None
        α of the residual block, None for plain layers.
    q1, q2 : ndarray, shape (L+1,)
        Per-coordinate second moments K₁₁, K₂₂ (equal: the inputs have equal norms).
    theta, cos_theta, ln_sin2_theta : ndarray, shape (L+1,)
        Angle (radians), its cosine, and ln sin²θ (natural log).
    """

    activation: str
    weight_std: float
    bias_std: float
    q0: float
    theta0: float
    residual_alpha: float | None
    q1: FloatArray
    q2: FloatArray
    cos_theta: FloatArray
    theta: FloatArray
    ln_sin2_theta: FloatArray


def _depth(widths_or_depth: int | str | Sequence[int]) -> int:
    if isinstance(widths_or_depth, str):
        from .._architecture import parse_architecture

        return len(parse_architecture(widths_or_depth))
    if isinstance(widths_or_depth, (int, np.integer)) and not isinstance(widths_or_depth, bool):
        depth = int(widths_or_depth)
    else:
        depth = len(widths_or_depth)  # type: ignore[arg-type]
    if depth < 0 or depth > 100_000:
        raise DepthscopeError(f"depth must be in [0, 100000], got {depth}.")
    return depth


def infinite_width_law(
    widths_or_depth: int | str | Sequence[int],
    theta0: float,
    *,
    activation: str | Activation | Func = "relu",
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: str | float | None = None,
) -> InfiniteWidthLaw:
    """Iterate the infinite-width map (1)/(2) over depth for inputs at angle θ0, ‖x‖²/n₀ = q0.

    Parameters
    ----------
    widths_or_depth : int, str or sequence of int
        The depth L, or the hidden widths (only their number matters at infinite width).
    theta0 : float
        Angle between the inputs, in (0, π).
    activation, weight_std, bias_std, residual
        See ``kernel_map_entries`` (``depthscope.theory._kernel_maps``).
    q0 : float
        ‖x‖²/n₀ = ‖y‖²/n₀ > 0.

    Returns
    -------
    InfiniteWidthLaw

    Notes
    -----
    The state is (q, t = tan(θ/2)); with C = σ_w² K + σ_b² 11ᵀ the C-angle ψ has
    tan²(ψ/2) = σ_w² q t²/(σ_w² q + σ_b²(1 + t²)), and each activation returns
    tan(θ'/2)/tan(ψ/2) from a' = K'₁₁ − K'₁₂ and b' = K'₁₁ + K'₁₂ computed as sums of
    non-negative terms (closed form (6) for a·min + b·max; quadrature in the mean/difference
    coordinates otherwise), so θ keeps full relative precision down to 1e-300. With the
    defaults it reproduces :func:`depthscope.infinite_width_map` iterated (ReLU, He init).

    Examples
    --------
    >>> law = infinite_width_law(3, np.pi / 2)
    >>> np.round(law.theta, 6).tolist()
    [1.570796, 1.24685, 1.054421, 0.921249]
    """
    depth = _depth(widths_or_depth)
    theta0 = check_theta0(theta0)
    act = parse_activation(activation)
    alpha = parse_residual(residual)
    sw2, sb2, q0 = float(weight_std) ** 2, float(bias_std) ** 2, float(q0)
    if not (math.isfinite(sw2) and sw2 > 0 and math.isfinite(sb2)):
        raise DepthscopeError("weight_std must be finite and non-zero, bias_std finite.")
    if not (math.isfinite(q0) and q0 > 0):
        raise DepthscopeError(f"q0 must be finite and > 0, got {q0}.")
    beta = None if alpha is None else alpha * alpha * sw2
    q, t = np.empty(depth + 1), np.empty(depth + 1)
    q[0], t[0] = q0, math.tan(theta0 / 2.0)
    for layer in range(depth):
        q[layer + 1], t[layer + 1] = _layer_step(act, sw2, sb2, beta, q[layer], t[layer])
    u = np.minimum(t, 1.0 / t)  # cos θ = ±(1 − u²)/(1 + u²), u = min(t, 1/t): no cancellation
    cos_theta = np.where(t <= 1.0, 1.0, -1.0) * (1.0 - u) * (1.0 + u) / (1.0 + u * u)
    log_t_plus_inv = np.where(t <= 1.0, -np.log(t), np.log(t)) + np.log1p(u * u)
    return InfiniteWidthLaw(
        activation=act.name,
        weight_std=float(weight_std),
        bias_std=float(bias_std),
        q0=q0,
        theta0=theta0,
        residual_alpha=alpha,
        q1=q,
        q2=q.copy(),
        cos_theta=cos_theta,
        theta=2.0 * np.arctan(t),
        ln_sin2_theta=2.0 * math.log(2.0) - 2.0 * log_t_plus_inv,  # sin θ = 2/(t + 1/t)
    )


# --- order-to-chaos: the fixed point of q and χ = σ_w² E[φ'(u)²] there -------------------------


class FixedPoint(NamedTuple):
    """Fixed point q* of q ↦ E[φ(u)²], u ~ N(0, σ_w² q + σ_b²), and χ there."""

    q: float
    chi: float


def _gauss_mean(fn: Func, variance: float) -> float:
    z, w = (v[0] for v in _rule(np.array([math.sqrt(variance)]), None, "trapezoid"))
    return float(np.sum(w * fn(math.sqrt(variance) * z)))


def fixed_point_chi(
    activation: str | Activation | Func = "relu",
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    *,
    q_start: float = 1.0,
    max_iter: int = 20_000,
) -> FixedPoint:
    """Return the fixed point q* reached from ``q_start`` and χ = σ_w² E[φ'(u)²] there.

    χ = 1 is the edge of chaos (Poole et al. 2016; Schoenholz et al. 2017): χ < 1 ordered
    (angles shrink to 0), χ > 1 chaotic. For a·min + b·max, χ = σ_w²(a² + b²)/2 at every q;
    q* is ``inf`` when q grows without bound and 0 when it collapses.

    Examples
    --------
    >>> round(fixed_point_chi("relu").chi, 12)
    1.0
    """
    act = parse_activation(activation)
    weight_std = check_network_number(weight_std, "weight_std", MIN_WEIGHT_STD, MAX_NETWORK_SCALE)
    bias_std = check_network_number(bias_std, "bias_std", 0.0, MAX_NETWORK_SCALE)
    q_start = check_network_number(q_start, "q_start", MIN_Q0, MAX_Q0)
    sw2, sb2 = float(weight_std) ** 2, float(bias_std) ** 2
    if act.slopes is not None:
        a, b = act.slopes
        gain = (a * a + b * b) / 2.0
        chi = sw2 * gain
        if chi < 1.0:
            return FixedPoint(gain * sb2 / (1.0 - chi), chi)
        critical = abs(chi - 1.0) <= 1e-12  # He ReLU: √2² = 2 + 4e-16 is still critical
        return FixedPoint(q_start if (critical and sb2 == 0.0) else math.inf, chi)
    if act.derivative is None:
        raise DepthscopeError("χ needs the activation's derivative.")

    def second_moment(q: float) -> float:
        return _gauss_mean(lambda u: act.fn(u) ** 2, sw2 * q + sb2)

    q = float(q_start)
    for _ in range(max_iter):
        q_next = second_moment(q)
        if not math.isfinite(q_next) or q_next > 1e12:
            return FixedPoint(math.inf, math.inf)
        if abs(q_next - q) <= 1e-14 * max(q, 1e-300):
            break
        q = q_next
    lo, hi = 0.999 * q, 1.001 * q  # polish: the iteration creeps near criticality
    if q > 1e-8 and (second_moment(lo) - lo) * (second_moment(hi) - hi) < 0:
        q = brentq(lambda x: second_moment(x) - x, lo, hi, xtol=1e-15 * q, rtol=1e-15)
    elif q <= 1e-8 and sb2 == 0.0:
        q = 0.0
    chi = sw2 * _gauss_mean(lambda u: act.derivative(u) ** 2, max(sw2 * q + sb2, 1e-300))  # type: ignore[misc]
    return FixedPoint(q, chi)
