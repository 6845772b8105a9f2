"""Elementwise activations and the Gaussian expectations E[φ(u₁)φ(u₂)] behind the kernel maps.

:class:`Activation` and :func:`parse_activation` name an activation; :func:`gaussian_expectations`
returns E[φ(u₁)²], E[φ(u₂)²], E[φ(u₁)φ(u₂)] for (u₁, u₂) ~ N(0, C): a closed form for the
a·min(u, 0) + b·max(u, 0) family (ReLU, leaky ReLU, abs, identity), erf (Williams 1997) and GELU
u·Φ(u) (Tsuchida et al. 2020); otherwise a 2-D quadrature (docs/theory/kernel-maps.md (3)–(5), (7)).
The layer maps and the depth iteration built on them live in :mod:`._kernel_maps`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import erf, ndtr

from .._errors import MAX_NETWORK_SCALE, DepthscopeError
from .._types import FloatArray

__all__ = [
    "LEAKY_NAMES",
    "MAX_GRID_POINTS",
    "Activation",
    "Func",
    "QuadratureTooLarge",
    "ab_relu",
    "check_grid",
    "gaussian_expectations",
    "leaky_slope",
    "normal_cdf",
    "parse_activation",
]


Func = Callable[[FloatArray], FloatArray]

_Z_MAX = 8.6  # quadrature range in standard deviations: the Gaussian weight is < 1e-16 beyond
_H_MAX = 0.5  # largest trapezoid step (standard deviations); error ≈ e^(−2π²/h²) for entire φ
#: −ln of the trapezoid rule's target error for φ with poles at ±iπ/2 (tanh): the step is
#: h = 2πa/(a²/2 + _LOG_TOL), a = (π/2)/sd, i.e. ≈ 0.25/sd for large sd (measured in the tests).
_LOG_TOL = 40.0
#: Largest quadrature grid of a Gaussian expectation, in points (160 MB per float64 array): the
#: trapezoid rule's nodes grow like 34 × the coordinate's sd for φ with poles at ±iπ/2 (tanh) or
#: ±iπ (SiLU), so a 2-D grid reaches this near sd ≈ 100 on both axes. Beyond,
#: :class:`QuadratureTooLarge` rather than an allocation that could exhaust the machine's memory
#: (SiLU at σ_w = 2 asked for 40 GiB by layer 50).
MAX_GRID_POINTS = 20_000_000
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
    if not (abs(a) <= MAX_NETWORK_SCALE and abs(b) <= MAX_NETWORK_SCALE) or a == b == 0.0:
        raise DepthscopeError(
            f"ab_relu slopes must be finite numbers in [-{MAX_NETWORK_SCALE:g}, "
            f"{MAX_NETWORK_SCALE:g}], not both 0, got {a}, {b}."
        )
    return Activation(
        name=name or f"ab_relu:{a:g},{b:g}",
        fn=lambda u: a * np.minimum(u, 0.0) + b * np.maximum(u, 0.0),
        derivative=lambda u: np.where(u > 0, b, a),
        slopes=(a, b),
        closed_form="ab_relu",
        odd=a == b,
    )


#: How "leaky:S" may be spelled (what PyTorch users write too): the one list, for
#: :func:`parse_activation` and the simulation's parser.
LEAKY_NAMES = ("leaky", "leaky_relu", "leakyrelu")


def leaky_slope(activation: object, value: str | float) -> float:
    """Return the leaky slope ``value`` of ``activation`` as a float, checked.

    The one check of a leaky ReLU's negative-side slope, for :func:`parse_activation` and the
    simulation's parser; the message names the activation as the user wrote it.

    Parameters
    ----------
    activation : object
        What the user gave (``"leaky:0.01"``, or the slope itself), quoted in the message.
    value : str or float
        The slope: the text after ``leaky:``, or a number.

    Raises
    ------
    DepthscopeError
        When the slope is not a number, or not finite in [−1e6, 1e6] (``MAX_NETWORK_SCALE``).

    Examples
    --------
    >>> leaky_slope("leaky:0.2", "0.2")
    0.2
    """
    try:
        slope = float(value)
    except ValueError:
        slope = math.nan
    if not (math.isfinite(slope) and abs(slope) <= MAX_NETWORK_SCALE):
        raise DepthscopeError(
            f"activation {activation!r}: the leaky slope must be a finite number in "
            f"[-{MAX_NETWORK_SCALE:g}, {MAX_NETWORK_SCALE:g}]."
        )
    return slope


#: Φ, the standard normal distribution function (the one gelu uses everywhere).
normal_cdf: Func = ndtr


def _gelu(u: FloatArray) -> FloatArray:
    return np.asarray(u * normal_cdf(u))


def _gelu_prime(u: FloatArray) -> FloatArray:
    return np.asarray(normal_cdf(u) + u * np.exp(-0.5 * u * u) / _SQRT_2PI)


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
        ``"relu"``, ``"leaky:S"`` (slope S for u < 0; also ``"leaky_relu:S"``,
        ``"leakyrelu:S"``), ``"abs"``, ``"linear"``, ``"tanh"``,
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
    name, _, value = key.partition(":")
    if name in LEAKY_NAMES and value:
        slope = leaky_slope(spec, value)
        return ab_relu(slope, 1.0, name=f"leaky:{slope:g}")
    if key in _SMOOTH:
        return _SMOOTH[key]
    hint = _SPELLING_HINTS.get(key.replace("-", "_").replace(" ", ""), "")
    raise DepthscopeError(
        f"unknown activation {spec!r}; use relu, leaky:S, abs, linear, tanh, erf, gelu or "
        f"silu{hint}."
    )


#: What users of PyTorch and Keras write, and what depthscope calls it.
_SPELLING_HINTS = {
    "leaky": " (PyTorch's LeakyReLU default is leaky:0.01)",
    "leakyrelu": " (PyTorch's LeakyReLU default is leaky:0.01)",
    "leaky_relu": " (PyTorch's LeakyReLU default is leaky:0.01)",
    "swish": " (swish with β = 1 is silu)",
    "sigmoid_linear_unit": " (that is silu)",
    "gelu_tanh": " (the tanh approximation of GELU is not covered: gelu is the exact u·Φ(u))",
    "gelu_new": " (the tanh approximation of GELU is not covered: gelu is the exact u·Φ(u))",
    "identity": " (the identity is linear)",
}


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


class QuadratureTooLarge(DepthscopeError):
    """A Gaussian expectation whose quadrature grid would exceed :data:`MAX_GRID_POINTS`."""


def check_grid(points: float, sd: FloatArray) -> None:
    """Raise :class:`QuadratureTooLarge` if a grid of ``points`` exceeds :data:`MAX_GRID_POINTS`.

    ``sd``: the coordinate sds that sized it (for the message).
    """
    if points > MAX_GRID_POINTS:
        raise QuadratureTooLarge(
            f"the Gaussian quadrature at a pre-activation sd of {float(np.max(sd)):.3g} would "
            f"need {points:.3g} grid points (at most {MAX_GRID_POINTS:.0e})"
        )


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
    check_grid(np.size(sd) * (2 * n_half + 1), sd)
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
    check_grid(z1.size * z2.shape[-1], np.maximum(s1, l22))
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
