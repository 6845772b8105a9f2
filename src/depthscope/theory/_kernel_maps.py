"""Infinite-width kernel maps of one layer, for any elementwise activation, with biases.

A plain layer h = φ(W h_prev + b), W iid N(0, σ_w²/n), b iid N(0, σ_b²), acts on the
per-coordinate 2×2 kernel K = Gram/n of two inputs as (docs/theory/kernel-maps.md)::

    C = σ_w² K + σ_b² 11ᵀ,        K'_ij = E[φ(u_i) φ(u_j)],  (u₁, u₂) ~ N(0, C)        (1)

and the residual block h = h_prev + α V φ(W h_prev + b) as K' = K + α² σ_w² E[φφ]      (2)

The expectation is a closed form for the a·min(u, 0) + b·max(u, 0) family (ReLU, leaky ReLU,
abs, identity), erf (Williams 1997) and GELU u·Φ(u) (Tsuchida et al. 2020); otherwise a 2-D
quadrature. The depth iteration (:func:`infinite_width_law`) keeps the state (q, t) with
t = tan(θ/2), and every step computes the *ratio* tan(θ'/2)/tan(θ/2) from quantities that are
sums of non-negative terms, so angles down to 1e-300 keep full relative precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq
from scipy.special import erf, ndtr

from .._errors import DepthscopeError, check_theta0
from .._types import FloatArray

__all__ = [
    "Activation",
    "FixedPoint",
    "InfiniteWidthLaw",
    "ab_relu",
    "fixed_point_chi",
    "gaussian_expectations",
    "infinite_width_law",
    "kernel_map",
    "kernel_map_entries",
    "parse_activation",
    "parse_residual",
]

Func = Callable[[FloatArray], FloatArray]

_Z_MAX = 8.6  # quadrature range in standard deviations: the Gaussian weight is < 1e-16 beyond
_H_MAX = 0.5  # largest trapezoid step (standard deviations); error ≈ e^(−2π²/h²) for entire φ
#: −ln of the trapezoid rule's target error for φ with poles at ±iπ/2 (tanh): the step is
#: h = 2πa/(a²/2 + _LOG_TOL), a = (π/2)/sd, i.e. ≈ 0.25/sd for large sd (measured in the tests).
_LOG_TOL = 40.0
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_GL_HALF_WIDTH = 0.25  # below this |d|, φ(s+d) − φ(s−d) = ∫ φ' by 8-point Gauss–Legendre
_SQRT_2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation φ and what the kernel maps know about it.

    Attributes
    ----------
    name : str
        Canonical spelling, e.g. ``"relu"``, ``"leaky:0.1"``, ``"tanh"``.
    fn : callable
        Vectorised φ: ndarray → ndarray of the same shape.
    derivative : callable or None
        Vectorised φ'. Used for χ and for accurate φ(s+d) − φ(s−d) at small d; without it the
        quadrature map loses relative precision of angles below ≈ 1e-6.
    slopes : (float, float) or None
        (a, b) when φ(u) = a·min(u, 0) + b·max(u, 0): closed form (3).
    closed_form : {"ab_relu", "erf", "gelu"} or None
        Which closed form :func:`gaussian_expectations` uses; None means quadrature.
    odd : bool
        φ(−u) = −φ(u); lets the angle iteration keep precision near θ = π.
    """

    name: str
    fn: Func
    derivative: Func | None = None
    slopes: tuple[float, float] | None = None
    closed_form: str | None = None
    odd: bool = False


def ab_relu(a: float, b: float, name: str | None = None) -> Activation:
    """Return φ(u) = a·min(u, 0) + b·max(u, 0); ReLU is ``ab_relu(0, 1)``, abs ``ab_relu(-1, 1)``.

    Examples
    --------
    >>> ab_relu(0.1, 1.0).fn(np.array([-1.0, 2.0])).tolist()
    [-0.1, 2.0]
    """
    a, b = float(a), float(b)
    if not (math.isfinite(a) and math.isfinite(b)) or a == b == 0.0:
        raise DepthscopeError(f"ab_relu slopes must be finite and not both 0, got {a}, {b}.")
    return Activation(
        name=name or f"ab_relu:{a:g},{b:g}",
        fn=lambda u: a * np.minimum(u, 0.0) + b * np.maximum(u, 0.0),
        derivative=lambda u: np.where(u > 0, b, a),
        slopes=(a, b),
        closed_form="ab_relu",
        odd=a == b,
    )


def _gelu(u: FloatArray) -> FloatArray:
    return np.asarray(u * ndtr(u))


def _gelu_prime(u: FloatArray) -> FloatArray:
    return np.asarray(ndtr(u) + u * np.exp(-0.5 * u * u) / _SQRT_2PI)


def _silu(u: FloatArray) -> FloatArray:
    return np.asarray(u / (1.0 + np.exp(-np.clip(u, -700, 700))))


def _silu_prime(u: FloatArray) -> FloatArray:
    sig = 1.0 / (1.0 + np.exp(-np.clip(u, -700, 700)))
    return np.asarray(sig * (1.0 + u * (1.0 - sig)))


_SMOOTH = {
    "tanh": Activation("tanh", np.tanh, lambda u: 1.0 / np.cosh(np.clip(u, -350, 350)) ** 2,
                       odd=True),
    "erf": Activation("erf", erf, lambda u: 2.0 / math.sqrt(math.pi) * np.exp(-u * u),
                      closed_form="erf", odd=True),
    "gelu": Activation("gelu", _gelu, _gelu_prime, closed_form="gelu"),
    "silu": Activation("silu", _silu, _silu_prime),
}  # fmt: skip


def parse_activation(spec: str | Activation | Func) -> Activation:
    """Return the :class:`Activation` named by ``spec``.

    Parameters
    ----------
    spec : str, Activation or callable
        ``"relu"``, ``"leaky:S"`` (slope S for u < 0), ``"abs"``, ``"linear"``, ``"tanh"``,
        ``"erf"``, ``"gelu"`` (exact u·Φ(u)), ``"silu"``; an :class:`Activation`; or any
        vectorised callable (then quadrature, without a derivative).

    Examples
    --------
    >>> parse_activation("leaky:0.2").slopes
    (0.2, 1.0)
    """
    if isinstance(spec, Activation):
        return spec
    if callable(spec):
        return Activation(getattr(spec, "__name__", "custom"), spec)
    if not isinstance(spec, str):
        raise TypeError(f"activation must be a string or a callable, got {spec!r}.")
    key = spec.strip().lower()
    fixed = {"relu": (0.0, 1.0), "abs": (-1.0, 1.0), "linear": (1.0, 1.0)}
    if key in fixed:
        return ab_relu(*fixed[key], name=key)
    if key.startswith("leaky:"):
        try:
            slope = float(key.split(":", 1)[1])
        except ValueError:
            raise DepthscopeError(f"leaky slope must be a number: {spec!r}.") from None
        return ab_relu(slope, 1.0, name=f"leaky:{slope:g}")
    if key in _SMOOTH:
        return _SMOOTH[key]
    raise DepthscopeError(
        f"unknown activation {spec!r}; use relu, leaky:S, abs, linear, tanh, erf, gelu or silu."
    )


def parse_residual(residual: str | float | None) -> float | None:
    """Return the residual branch scale α from ``"block:ALPHA"`` (or a number), None if plain."""
    if residual is None:
        return None
    if isinstance(residual, str):
        kind, _, value = residual.partition(":")
        if kind.strip().lower() != "block" or not value:
            raise DepthscopeError(f"residual must be 'block:ALPHA', got {residual!r}.")
        residual = value
    try:
        alpha = float(residual)
    except ValueError:
        raise DepthscopeError(f"residual scale must be a number, got {residual!r}.") from None
    if not (math.isfinite(alpha) and alpha >= 0):
        raise DepthscopeError(f"residual scale α must be finite and ≥ 0, got {alpha}.")
    return alpha


# --- elementary functions that stay accurate at small angles ---------------------------------


#: Taylor coefficients of (sin x − x cos x)/x³ = Σ_k (−1)^(k+1) 2k x^(2k−2)/(2k+1)!, k = 1..12
_TAIL_COEFFS = tuple((-1) ** (k + 1) * 2 * k / math.factorial(2 * k + 1) for k in range(12, 0, -1))


def _tail_ratio_scalar(x: float) -> float:
    """(sin x − x cos x)/x³ for one x in [0, π]; the series below 0.5 (truncation ≈ 1e-33)."""
    if x >= 0.5:
        return (math.sin(x) - x * math.cos(x)) / x**3
    series, x2 = 0.0, x * x
    for coeff in _TAIL_COEFFS:
        series = series * x2 + coeff
    return series


def _tail_ratio(x: FloatArray) -> FloatArray:
    """(sin x − x cos x)/x³ on [0, π], elementwise (see :func:`_tail_ratio_scalar`)."""
    shape = np.shape(x)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (np.sin(x) - x * np.cos(x)) / x**3
    small = x < 0.5
    if np.any(small):
        xs, series = x[small], np.zeros(np.count_nonzero(small))
        for coeff in _TAIL_COEFFS:
            series = series * xs**2 + coeff
        out[small] = series
    return out.reshape(shape)


def _tail(x: FloatArray) -> FloatArray:
    """Return sin x − x cos x on [0, π] (≈ x³/3 at small x), without cancellation."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(_tail_ratio(x) * x**3)


# --- closed forms and quadrature of E[φ(u1)φ(u2)], (u1, u2) ~ N(0, C) --------------------------


def _ab_relu_expectation(slopes: tuple[float, float], c11, c22, c12, det):
    a, b = slopes
    big_a, big_b = (a * a + b * b) / 2.0, (a - b) ** 2 / (2.0 * math.pi)
    root = np.sqrt(c11 * c22)
    psi = np.arctan2(np.sqrt(det), c12)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_psi = np.where(root > 0, c12 / np.where(root > 0, root, 1.0), 1.0)
    e12 = root * (big_a * cos_psi + big_b * _tail(psi))
    return big_a * c11, big_a * c22, e12


def _erf_expectation(c11, c22, c12):
    def one(ci, cj, cij):
        return 2.0 / math.pi * np.arcsin(np.clip(2 * cij / np.sqrt((1 + 2 * ci) * (1 + 2 * cj)),
                                                 -1.0, 1.0))  # fmt: skip

    return one(c11, c11, c11), one(c22, c22, c22), one(c11, c22, c12)


def _gelu_expectation(c11, c22, c12):
    def one(ci, cj, cij):
        delta2 = (1 + ci) * (1 + cj) - cij**2
        delta = np.sqrt(delta2)
        main = (cij**2 + ci * cj * delta2) / ((1 + ci) * (1 + cj) * delta)
        return cij / 4 + (main + cij * np.arctan2(cij, delta)) / (2 * math.pi)

    return one(c11, c11, c11), one(c22, c22, c22), one(c11, c22, c12)


def _trapezoid_nodes(n_half: int) -> tuple[FloatArray, FloatArray]:
    k = np.arange(-n_half, n_half + 1, dtype=np.float64)
    return k, np.ones_like(k)


def _rule(sd: FloatArray, order: int | None, rule: str) -> tuple[FloatArray, FloatArray]:
    """Nodes z (..., m) and weights (..., m) for E[f(Z)], Z ~ N(0, 1), given a coordinate sd.

    ``trapezoid``: step h from sd (see _LOG_TOL), at least Z_MAX/(order/2), at most H_MAX
    (per batch entry, 2m+1 nodes);
    ``hermite``: probabilists' Gauss–Hermite of the given order, the same for every entry.
    """
    if rule == "hermite":
        z, w = np.polynomial.hermite_e.hermegauss(order or 96)
        shape = (*np.shape(sd), len(z))
        return np.broadcast_to(z, shape), np.broadcast_to(w / _SQRT_2PI, shape)
    if rule != "trapezoid":
        raise DepthscopeError(f"quadrature rule must be 'trapezoid' or 'hermite', got {rule!r}.")
    sd = np.asarray(sd, dtype=np.float64)
    with np.errstate(
        divide="ignore", over="ignore", invalid="ignore"
    ):  # poles at a = (π/2)/sd: error ≈ e^(a²/2 − 2πa/h)
        strip = (math.pi / 2) / sd
        h = 2 * math.pi * strip / (strip * strip / 2 + _LOG_TOL)  # poles farther: plain Gaussian
        h = np.minimum(np.where(strip * strip <= 2 * _LOG_TOL, h, _H_MAX), _H_MAX)
    n_half = order // 2 if order else math.ceil(_Z_MAX / float(np.min(h)))
    h = np.maximum(h, _Z_MAX / n_half)[..., None]
    k, _ = _trapezoid_nodes(n_half)
    z = h * k
    return z, h * np.exp(-0.5 * z * z) / _SQRT_2PI


def _quadrature_expectation(fn: Func, c11, c22, c12, det, order, rule):
    """Tensor-product quadrature in the Cholesky basis u1 = √c11 z1, u2 = ℓ21 z1 + ℓ22 z2."""
    s1 = np.sqrt(c11)
    with np.errstate(invalid="ignore", divide="ignore"):
        l21 = np.where(s1 > 0, c12 / np.where(s1 > 0, s1, 1.0), 0.0)
        l22 = np.where(s1 > 0, np.sqrt(det / np.where(s1 > 0, c11, 1.0)), np.sqrt(c22))
    z1, w1 = _rule(np.maximum(s1, np.abs(l21)), order, rule)
    z2, w2 = _rule(l22, order, rule)
    u1 = s1[..., None] * z1
    f1 = fn(u1)
    u2 = l21[..., None, None] * z1[..., :, None] + l22[..., None, None] * z2[..., None, :]
    f2 = fn(u2)
    e11 = np.sum(w1 * f1 * f1, axis=-1)
    e12 = np.einsum("...i,...j,...i,...ij->...", w1, w2, f1, f2)
    e22 = np.einsum("...i,...j,...ij->...", w1, w2, f2 * f2)
    return e11, e22, e12


def gaussian_expectations(
    c11: ArrayLike,
    c22: ArrayLike,
    c12: ArrayLike,
    activation: str | Activation | Func = "relu",
    *,
    method: str = "auto",
    order: int | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (E[φ(u₁)²], E[φ(u₂)²], E[φ(u₁)φ(u₂)]) for (u₁, u₂) ~ N(0, C), batched.

    Parameters
    ----------
    c11, c22, c12 : array_like
        Entries of the covariance C (broadcast together; C must be PSD).
    activation : str, Activation or callable
        See :func:`parse_activation`.
    method : {"auto", "trapezoid", "hermite"}
        ``auto`` uses the closed form where one exists, else the trapezoid rule.
    order : int, optional
        Nodes per dimension (default: trapezoid adaptive to C, ≈ 1e-15 for tanh; Hermite 96).

    Notes
    -----
    Closed forms, with ψ = arccos(C₁₂/√(C₁₁C₂₂)), A = (a² + b²)/2, B = (a − b)²/2π::

        ab_relu: E = √(C₁₁C₂₂)·(A cos ψ + B (sin ψ − ψ cos ψ)),  E[φ(u)²] = A C₁₁       (3)
        erf:     E = (2/π) arcsin(2C₁₂/√((1 + 2C₁₁)(1 + 2C₂₂)))                      (4)
        gelu:    E = C₁₂/4 + (Δ⁻¹(C₁₂² + C₁₁C₂₂Δ²)/((1+C₁₁)(1+C₂₂)) + C₁₂ atan2(C₁₂, Δ))/2π,
                 Δ² = (1 + C₁₁)(1 + C₂₂) − C₁₂²                                      (5)

    References
    ----------
    C. Williams, "Computing with infinite networks", NeurIPS 1997 (erf). R. Tsuchida et al.,
    arXiv:2002.08517 (GELU). Neural Tangents ``stax.ABRelu`` (the a·min + b·max family).

    Examples
    --------
    >>> [round(float(v), 12) for v in gaussian_expectations(1.0, 1.0, 0.0, "relu")]
    [0.5, 0.5, 0.159154943092]
    """
    act = parse_activation(activation)
    c11, c22, c12 = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(c11, c22, c12))
    if not (np.isfinite(c11).all() and np.isfinite(c22).all() and np.isfinite(c12).all()):
        raise DepthscopeError("covariance entries must be finite.")
    if (c11 < 0).any() or (c22 < 0).any():
        raise DepthscopeError("covariance diagonal must be ≥ 0.")
    det = np.maximum(c11 * c22 - c12 * c12, 0.0)
    return _expectations(act, c11, c22, c12, det, method, order)


def _expectations(act, c11, c22, c12, det, method, order):
    if method == "auto" and act.closed_form == "ab_relu":
        assert act.slopes is not None
        out = _ab_relu_expectation(act.slopes, c11, c22, c12, det)
    elif method == "auto" and act.closed_form == "erf":
        out = _erf_expectation(c11, c22, c12)
    elif method == "auto" and act.closed_form == "gelu":
        out = _gelu_expectation(c11, c22, c12)
    else:
        rule = "trapezoid" if method == "auto" else method
        out = _quadrature_expectation(act.fn, c11, c22, c12, det, order, rule)
    return tuple(np.asarray(v, dtype=np.float64)[()] for v in out)


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
        See :func:`kernel_map_entries`.
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
    sw2, sb2 = float(weight_std) ** 2, float(bias_std) ** 2
    if act.slopes is not None:
        a, b = act.slopes
        gain = (a * a + b * b) / 2.0
        chi = sw2 * gain
        if chi < 1.0:
            return FixedPoint(gain * sb2 / (1.0 - chi), chi)
        return FixedPoint(q_start if (chi == 1.0 and sb2 == 0.0) else math.inf, chi)
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
