"""Predict the per-layer distribution of ln sin²θ_ℓ for an architecture, before training.

Methods (all take the same inputs and return a :class:`Prediction`):

``markov`` (default)
    The exact one-step law of θ given (θ, n), tabulated by its quantiles and atoms
    (``tools/make_law_table.py``, ``docs/law-table.md``) and propagated as a transition matrix on
    a grid in ln θ, with the dead and collapsed states absorbing
    (:mod:`depthscope.theory._law`). Deterministic at prediction time.
``lattice``
    The previous default: the one-step law's mean and variance only (a moment table,
    :mod:`depthscope.theory._markov`) on a moment-preserving lattice. Kept as a reference and a
    negative control; wrong for narrow widths, tiny angles and early layers.
``infinite``
    The infinite-width arc-cosine map cos θ_{ℓ+1} = 2 J₁₁(θ_ℓ): no spread, depth only.
``mean``
    Iterating Theorem 1's μ: θ_{ℓ+1} = arcsin(exp(μ(θ_ℓ, n)/2)) -- the paper's Algorithm 1.
``approx1``
    Approximation 1: X_{ℓ+1} = X_ℓ − (2/(3π)) θ_ℓ − ρ(n).
``approx2``
    Approximation 2: the density of X propagated through X_{ℓ+1} = α(X_ℓ) + β ε.

Width conventions: ``exact`` (the step producing θ_ℓ uses n_ℓ, the width of the layer in which
the angle is measured) and ``paper`` (the authors' Algorithm-1 code: fan-in widths
[n_in, n_1, ..., n_L], so L + 1 steps, the last producing the output layer).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from .._architecture import Architecture, format_architecture, parse_architecture
from .._errors import DepthscopeError, DepthscopeWarning, check_int, check_theta0
from .._types import FloatArray
from . import _law, _markov
from ._kernel_maps import infinite_width_law
from ._theorem import infinite_width_map, mu, rho, sigma2

__all__ = ["METHODS", "Prediction", "predict", "predict_final", "predict_layers"]

METHODS = ("markov", "lattice", "infinite", "mean", "approx1", "approx2")
CONVENTIONS = ("exact", "paper")
DEFAULT_PROBABILITIES = (0.025, 0.25, 0.5, 0.75, 0.975)
_TWO_OVER_THREE_PI = 2.0 / (3.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_HE_STD = math.sqrt(2.0)  # σ_w of He initialisation: weights N(0, 2/fan-in)
_BATCH = 512  # architectures per vectorised markov propagation in predict_final


@dataclass(frozen=True)
class Prediction:
    """Predicted law of X_ℓ = ln sin²θ_ℓ at layers 0..L (layer 0 = the inputs).

    Attributes
    ----------
    widths : tuple of int
        Hidden widths n_1..n_L as given.
    theta0 : float
        Angle between the two inputs, radians.
    method, convention : str
        How the prediction was made (see :func:`predict`).
    input_dim : int or None
        Input dimension (used by the ``paper`` convention only).
    step_widths : tuple of int
        The width used by each step, after applying the convention.
    mean, sd : ndarray, shape (L+1,)
        Mean and standard deviation of ln sin²θ_ℓ (dimensionless; natural log).
        ``sd`` is 0 for the deterministic methods ``infinite``, ``mean`` and ``approx1``.
    probabilities : tuple of float
        Probability levels of ``quantiles``.
    quantiles : ndarray, shape (L+1, len(probabilities))
        Quantiles of ln sin²θ_ℓ (computed from the mixture on first access, then cached).
    mixture_weights, mixture_means, mixture_sds : ndarray, shape (L+1, K)
        Each layer's law as a Gaussian mixture Σ_k w_k N(m_k, s_k²); components with s_k = 0
        are point masses. Used by :meth:`cdf`, :meth:`density` and the quantiles. For
        ``lattice`` these are the one-step conditional laws given the previous layer's
        lattice; for the deterministic methods, a single point mass; empty for ``markov``.
    dead, collapsed : ndarray, shape (L+1,)
        Probability that by layer ℓ the angle is undefined (an input has no active unit) or
        exactly zero (the two representations are parallel); both absorbing. ``mean``, ``sd``,
        the quantiles, :meth:`cdf` and :meth:`density` describe ln sin²θ_ℓ *given* a defined,
        non-zero angle. Zero for every method but ``markov``, which is the only one that
        models them.
    atom : ndarray, shape (L+1,)
        P(ln sin²θ_ℓ = 0 | defined, non-zero): θ_ℓ = π/2 exactly, when the two inputs share no
        active unit. Carried by :meth:`cdf` as a jump at 0 (``markov`` only; else 0).
    law : object or None
        The propagated law behind ``markov`` (internal).
    network : str
        The network class predicted: activation, σ_w, σ_b, q0 and residual blocks.
    """

    widths: Architecture
    theta0: float
    method: str
    convention: str
    input_dim: int | None
    step_widths: tuple[int, ...]
    mean: FloatArray
    sd: FloatArray
    probabilities: tuple[float, ...]
    mixture_weights: FloatArray = field(repr=False)
    mixture_means: FloatArray = field(repr=False)
    mixture_sds: FloatArray = field(repr=False)
    dead: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))
    collapsed: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))
    atom: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))
    law: _law.Law | None = field(repr=False, default=None, compare=False)
    network: str = "relu, σ_w = 1.414, σ_b = 0, q0 = 1"

    def __post_init__(self) -> None:
        for name in ("dead", "collapsed", "atom"):
            if len(getattr(self, name)) == 0:
                object.__setattr__(self, name, np.zeros(len(self.mean)))

    @cached_property
    def quantiles(self) -> FloatArray:
        """Quantiles of ln sin²θ_ℓ at ``probabilities``, shape (L+1, len(probabilities))."""
        if self.law is not None:
            return self.law.quantiles(np.asarray(self.probabilities))
        if self.method == "approx2":  # a density on a fine uniform grid: invert its cumsum
            return _grid_quantiles(self.mixture_weights, self.mixture_means, self.probabilities)
        return _mixture_quantiles(
            self.mixture_weights, self.mixture_means, self.mixture_sds, self.probabilities
        )

    @property
    def layers(self) -> np.ndarray:
        """Layer indices 0..L (0 = the inputs)."""
        return np.arange(len(self.mean))

    @property
    def architecture(self) -> str:
        """The hidden widths in compact notation (e.g. ``'256x30'``)."""
        return format_architecture(self.widths)

    def cdf(self, layer: int, x: ArrayLike) -> FloatArray:
        """Return the predicted CDF of ln sin²θ at ``layer``, evaluated at ``x``.

        Given a defined, non-zero angle (see ``dead`` and ``collapsed``); the atom at 0
        (θ = π/2) is a jump. Monotone, 0 below the support and 1 from 0 on.
        """
        if self.law is not None:
            self._check_layer(layer)
            return self.law.cdf(layer, np.asarray(x, dtype=np.float64))
        w, m, s = self._components(layer)
        return _mixture_cdf(np.asarray(x, dtype=np.float64), w, m, s)

    def density(self, layer: int, x: ArrayLike) -> FloatArray:
        """Return the predicted probability density of ln sin²θ at ``layer`` at ``x``.

        Raises
        ------
        DepthscopeError
            Where the predicted law is a point mass (deterministic methods, layer 0).

        Notes
        -----
        For ``markov`` this is the density of the continuous part times its probability
        (1 − ``atom``), piecewise constant between the law's quantiles; the atom at 0 has no
        density.
        """
        if self.law is not None:
            self._check_layer(layer)
            if layer == 0:
                raise DepthscopeError("layer 0 (the inputs) is a point mass: no density.")
            return self.law.density(layer, np.asarray(x, dtype=np.float64))
        w, m, s = self._components(layer)
        if not (s > 0).any():
            raise DepthscopeError(
                f"method {self.method!r} predicts a point mass at layer {layer}: no density."
            )
        z = (np.asarray(x, dtype=np.float64)[..., None] - m) / np.where(s > 0, s, 1.0)
        pdf = np.where(s > 0, np.exp(-0.5 * z * z) / (np.where(s > 0, s, 1.0) * _SQRT_2PI), 0.0)
        return np.asarray(pdf @ w, dtype=np.float64)

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < len(self.mean):
            raise DepthscopeError(f"layer {layer} is outside 0..{len(self.mean) - 1}.")

    def _components(self, layer: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        self._check_layer(layer)
        keep = self.mixture_weights[layer] != 0
        return (
            self.mixture_weights[layer][keep],
            self.mixture_means[layer][keep],
            self.mixture_sds[layer][keep],
        )

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dictionary: ``layers``, ``mean``, ``sd``, ``quantiles``, ...

        Non-finite numbers (ln sin²θ0 = −∞ for θ0 = π; NaN where no defined angle is left) are
        written as ``null`` and listed under ``nonfinite``: per key, the layer indices.
        """
        columns = {
            "mean": self.mean,
            "sd": self.sd,
            "dead": self.dead,
            "collapsed": self.collapsed,
            "atom": self.atom,
            **{f"q{p:g}": self.quantiles[:, i] for i, p in enumerate(self.probabilities)},
        }
        values = {key: _finite_or_none(column) for key, column in columns.items()}
        nonfinite = {
            key: np.flatnonzero(~np.isfinite(column)).tolist()
            for key, column in columns.items()
            if not np.isfinite(column).all()
        }
        return {
            "layers": self.layers.tolist(),
            "mean": values["mean"],
            "sd": values["sd"],
            "quantiles": {str(p): values[f"q{p:g}"] for p in self.probabilities},
            "dead": values["dead"],
            "collapsed": values["collapsed"],
            "atom": values["atom"],
            "nonfinite": nonfinite,
            "method": self.method,
            "convention": self.convention,
            "widths": list(self.widths),
            "step_widths": list(self.step_widths),
            "theta0": self.theta0,
            "input_dim": self.input_dim,
            "network": self.network,
        }


def _finite_or_none(values: FloatArray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def step_widths_for(
    widths: Architecture, convention: str, input_dim: int | None
) -> tuple[int, ...]:
    """Return the width used by each step under ``convention`` (see module docstring)."""
    if convention == "exact":
        return widths
    if convention == "paper":
        if input_dim is None:
            raise DepthscopeError(
                "convention 'paper' uses fan-in widths and needs input_dim (e.g. 784)."
            )
        return (check_int(input_dim, "input_dim", minimum=2), *widths)
    raise DepthscopeError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}.")


def _sin2_to_theta(x: FloatArray) -> FloatArray:
    # θ = arcsin(e^{X/2}); below X = −40, θ = e^{X/2} to rounding (and e^X would underflow
    # below X ≈ −745 while e^{X/2} reaches the smallest subnormal angle).
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(under="ignore"):
        return np.where(x < -40.0, np.exp(0.5 * x), np.arcsin(np.sqrt(np.minimum(np.exp(x), 1.0))))


def _ln_sin2(theta: FloatArray) -> FloatArray:
    # θ = π (antipodal inputs) is exactly −∞; sin(float π) would give 1.2e-16 instead.
    theta = np.asarray(theta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(theta == math.pi, -np.inf, 2.0 * np.log(np.sin(theta)))


def _point_masses(x: FloatArray) -> tuple[FloatArray, ...]:
    """Deterministic path X_0..X_L → (mean, sd, mixture means, weights, sds): point masses."""
    return x, np.zeros_like(x), x[:, None], np.ones((len(x), 1)), np.zeros((len(x), 1))


def _deterministic_path(theta0: float, steps: np.ndarray, method: str) -> FloatArray:
    """X_0..X_L of a deterministic method for B architectures of equal depth: shape (L+1, B).

    ``steps`` has shape (B, L). ``infinite`` iterates θ ↦ θ_∞; ``mean`` sets X_{ℓ+1} =
    μ(θ_ℓ, n_{ℓ+1}); ``approx1`` sets X_{ℓ+1} = X_ℓ − (2/(3π)) θ_ℓ − ρ(n_{ℓ+1}); then
    θ_{ℓ+1} = arcsin(exp(X_{ℓ+1}/2)).
    """
    n_arch, depth = steps.shape
    x = np.empty((depth + 1, n_arch))
    x[0] = _ln_sin2(np.array(theta0))
    angle = np.full(n_arch, theta0)
    for layer in range(depth):
        if method == "infinite":
            angle = infinite_width_map(angle)
            x[layer + 1] = _ln_sin2(angle)
            continue
        if method == "mean":
            x[layer + 1] = mu(angle, steps[:, layer])
        else:  # approx1
            x[layer + 1] = x[layer] - _TWO_OVER_THREE_PI * angle - rho(steps[:, layer])
        angle = _sin2_to_theta(x[layer + 1])
    return x


def _approx2(theta0: float, steps: Sequence[int]) -> tuple[FloatArray, ...]:
    """Approximation 2 on a grid: pushforward through α by linear binning, then convolution.

    The density lives on [lo, 0] (ln sin²θ ≤ 0); mass the Gaussian kernel puts above 0 or
    below lo is cut off and the density renormalised, as on the paper's bounded grid.
    """
    depth = len(steps)
    x0 = float(_ln_sin2(np.array(theta0)))
    betas = np.sqrt(8.0 * np.asarray(steps, float) / (np.asarray(steps, float) + 5.0) ** 2)
    m1, s1 = float(mu(theta0, steps[0])), math.sqrt(float(sigma2(theta0, steps[0])))
    # Below the finite-width drift Σρ(n) the angle decays like 3π/ℓ (≈ 2 ln ℓ in X): a safe floor.
    drift = float(sum(rho(n) for n in steps)) + 5.0 * math.log1p(depth)
    lo = min(-15.0, m1 - drift - 10.0 * math.sqrt(s1**2 + float(np.sum(betas**2))) - 2.0)
    spacing = min(float(betas.min()) / 8.0, -lo / 400.0)
    size = math.ceil(-lo / spacing) + 1
    if size > 200_000:
        raise DepthscopeError(
            "approx2: the grid would exceed 200,000 points; the layers are too wide."
        )
    grid = np.linspace(lo, 0.0, size)
    spacing = grid[1] - grid[0]
    dens = (
        np.exp(-0.5 * ((grid - m1) / s1) ** 2)
        if s1 > 0
        else (np.abs(grid - m1) < spacing).astype(float)
    )
    mass = dens / dens.sum()
    support = [np.array([x0])]
    weights = [np.array([1.0])]
    support.append(grid)
    weights.append(mass)
    alpha_theta = _sin2_to_theta(grid)
    for n, beta in zip(steps[1:], betas[1:], strict=True):
        target = grid - _TWO_OVER_THREE_PI * alpha_theta - float(rho(n))
        pos = np.clip((target - lo) / spacing, 0.0, size - 1.0)
        left = np.minimum(pos.astype(np.intp), size - 2)
        frac = pos - left
        moved = np.bincount(left, mass * (1 - frac), minlength=size) + np.bincount(
            left + 1, mass * frac, minlength=size
        )
        half = math.ceil(8.0 * beta / spacing)
        taps = np.exp(-0.5 * (np.arange(-half, half + 1) * spacing / beta) ** 2)
        mass = np.convolve(moved, taps / taps.sum(), mode="same")
        mass /= mass.sum()
        support.append(grid)
        weights.append(mass)
    mean = np.array([float(np.dot(w, s)) for s, w in zip(support, weights, strict=True)])
    var = np.array(
        [float(np.dot(w, (s - m) ** 2)) for s, w, m in zip(support, weights, mean, strict=True)]
    )
    width = max(len(s) for s in support)
    sup = np.full((depth + 1, width), 0.0)
    wts = np.zeros((depth + 1, width))
    for i, (s, w) in enumerate(zip(support, weights, strict=True)):
        sup[i, : len(s)], wts[i, : len(w)] = s, w
    # Each grid node stands for its cell: a component of sd 0.7 spacing smooths the histogram
    # (ripple ≈ exp(−2π²·0.49) ≈ 6e-5) and adds 0.49 spacing² to the variance of cdf/density.
    sds = np.full((depth + 1, width), 0.7 * spacing)
    sds[0] = 0.0
    return mean, np.sqrt(var), sup, wts, sds


def _mixture_cdf(x: FloatArray, w: FloatArray, m: FloatArray, s: FloatArray) -> FloatArray:
    """CDF of Σ w_k N(m_k, s_k²) at x (components with s_k = 0 are point masses)."""
    safe = np.where(s > 0, s, 1.0)
    diff = x[..., None] - m
    terms = np.where(s > 0, ndtr(diff / safe), (diff >= 0).astype(np.float64))
    return np.asarray(np.clip(terms @ w, 0.0, 1.0), dtype=np.float64)


def _grid_quantiles(w: FloatArray, grid: FloatArray, probs: Sequence[float]) -> FloatArray:
    """Quantiles of laws given as masses on sorted grid nodes, each spread over its cell."""
    out = np.empty((w.shape[0], len(probs)))
    for layer in range(w.shape[0]):
        mass, nodes = w[layer][w[layer] > 0], grid[layer][w[layer] > 0]
        cum = (np.cumsum(mass) - mass / 2) / mass.sum()  # CDF at the nodes (mid-cell)
        keep = np.concatenate([[True], np.diff(cum) > 0])  # strictly increasing for interp
        out[layer] = np.interp(probs, cum[keep], nodes[keep])
    return out


def _mixture_quantiles(
    w: FloatArray, m: FloatArray, s: FloatArray, probs: Sequence[float]
) -> FloatArray:
    """Quantiles of each layer's mixture (rows of w, m, s): safeguarded Newton, all at once."""
    p = np.asarray(probs, dtype=np.float64)
    out = np.empty((w.shape[0], len(p)))
    smooth = ((s > 0) & (w != 0)).any(axis=1)
    for layer in np.flatnonzero(~smooth):  # a discrete law: the generalised inverse of its CDF
        order = np.argsort(m[layer])
        cum = np.cumsum(np.maximum(w[layer][order], 0.0))
        index = np.minimum(np.searchsorted(cum / cum[-1], p), len(cum) - 1)
        out[layer] = m[layer][order][index]
    if not smooth.any():
        return out
    weights, means = w[smooth][:, None, :], m[smooth][:, None, :]
    sds = np.maximum(s[smooth], 1e-12)[:, None, :]
    live = weights != 0
    lo = np.broadcast_to(np.where(live, means - 12 * sds, np.inf).min(axis=2), (len(sds), len(p)))
    hi = np.broadcast_to(np.where(live, means + 12 * sds, -np.inf).max(axis=2), lo.shape)
    mean = (weights * means).sum(axis=2)
    sd = np.sqrt((weights * (sds**2 + (means - mean[..., None]) ** 2)).sum(axis=2))
    x = np.clip(mean + sd * ndtri(p), lo, hi)
    for _ in range(60):
        z = (x[..., None] - means) / sds
        excess = (ndtr(z) * weights).sum(axis=2) - p
        lo, hi = np.where(excess < 0, x, lo), np.where(excess > 0, x, hi)
        slope = (np.exp(-0.5 * z * z) / (sds * _SQRT_2PI) * weights).sum(axis=2)
        newton = x - excess / np.maximum(slope, 1e-300)
        x_new = np.where((newton >= lo) & (newton <= hi), newton, 0.5 * (lo + hi))
        converged = np.abs(x_new - x) <= 1e-9
        x = x_new
        if converged.all():
            break
    out[smooth] = x
    return out


def _resolve(
    widths: str | Sequence[int], convention: str, input_dim: int | None
) -> tuple[Architecture, tuple[int, ...]]:
    arch = parse_architecture(widths)
    steps = step_widths_for(arch, convention, input_dim)
    if min(steps) < 2:
        raise DepthscopeError(
            f"width {min(steps)} is too small: the theory needs widths ≥ 2 "
            f"(architecture {format_architecture(arch)})."
        )
    return arch, steps


def predict(
    widths: str | Sequence[int],
    theta0: float,
    *,
    method: str = "markov",
    convention: str = "exact",
    input_dim: int | None = None,
    probabilities: Sequence[float] = DEFAULT_PROBABILITIES,
    activation: str = "relu",
    weight_std: float = _HE_STD,
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: str | None = None,
) -> Prediction:
    """Predict mean, sd and quantiles of ln sin²θ_ℓ at every layer of a ReLU network.

    Parameters
    ----------
    widths : str or sequence of int
        Hidden widths n_1..n_L, as a list or in the notation ``"256x30"``, ``"100x10,50"``.
    theta0 : float
        Angle between the two inputs, radians, in (0, π]: the domain of every predictor,
        checked by ``depthscope._errors.check_theta0``.
    method : {"markov", "lattice", "infinite", "mean", "approx1", "approx2"}
        ``"markov"`` (default): the exact one-step law of θ propagated through the layers, with
        the dead and collapsed states; the most accurate. ``"lattice"``: the previous default
        (moments only). ``"infinite"``: the arc-cosine map. ``"mean"``: Theorem 1 iterated
        (Algorithm 1). ``"approx1"``, ``"approx2"``: the paper's Approximations 1 and 2.
    convention : {"exact", "paper"}
        Which width each step uses; ``"paper"`` needs ``input_dim`` and adds the output step.
    input_dim : int, optional
        Input dimension n_0 (``paper`` convention).
    probabilities : sequence of float
        Levels of the reported quantiles.
    activation, weight_std, bias_std, q0, residual
        The network beyond the paper: φ (``"relu"``, ``"leaky:S"``, ``"abs"``, ``"tanh"``,
        ``"erf"``, ``"gelu"``, ``"silu"``), σ_w (weights N(0, σ_w²/fan-in); default √2, He),
        σ_b (biases N(0, σ_b²)), the inputs' ‖x‖²/n₀, and residual blocks
        ``"block:ALPHA"`` (h ← h + α V φ(W h + b)); see ``docs/theory/kernel-maps.md``.
        Anything but the defaults is predicted by ``method="infinite"`` only (the n → ∞
        kernel map); the finite-width law of these networks is not implemented yet, and the
        other methods raise an error that says so (``depthscope.simulate`` measures them).

    Returns
    -------
    Prediction
        Frozen result with ``mean``, ``sd``, ``quantiles`` per layer 0..L (0 = inputs).

    Raises
    ------
    DepthscopeError
        For a bad architecture, θ0 outside (0, π], widths < 2, or an unknown method/convention.

    Warns
    -----
    DepthscopeWarning
        Outside the default method's measured domain (see Notes).

    Notes
    -----
    Fully connected, bias-free ReLU network with iid N(0, 2/fan-in) weights; θ_ℓ is the angle
    between the post-activation vectors of the two inputs at layer ℓ.

    **Domain of the default method** (``markov``): widths ≥ 4, depth ≤ 10,000, θ0 in (0, π]
    (θ0 = π: antipodal inputs). Widths above 512 are read from the 512 column of the table,
    calibrated there up to θ0 = 2.5. Measured against exact simulation (10,000-20,000
    networks per case, narrow, deep, bottleneck, ramp, tiny-angle and near-π cases,
    ``docs/law-table.md``): per-layer mean within 0.05 sd, sd within 3%, Kolmogorov-Smirnov
    distance ≤ 0.03 at every layer (layer 1 included), dead/collapsed/atom probabilities
    within 0.006. Outside the domain a :class:`~depthscope.DepthscopeWarning` says what is
    not covered. The other methods are the paper's approximations: their errors are in the
    README's accuracy table.

    References
    ----------
    C. Jakub and M. Nica, "Depth degeneracy in neural networks: vanishing angles in fully
    connected ReLU networks on initialization", JMLR 25(239), 2024, arXiv:2302.09712
    (Theorem 1, Approximations 1-2, Algorithm 1).

    Examples
    --------
    >>> import depthscope as ds
    >>> p = ds.predict("256x30", theta0=0.1)
    >>> p.mean.shape
    (31,)
    """
    theta = check_theta0(theta0)
    if method not in METHODS:
        raise DepthscopeError(f"unknown method {method!r}; choose one of {METHODS}.")
    if convention not in CONVENTIONS:
        raise DepthscopeError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}.")
    probs = tuple(float(p) for p in probabilities)
    if not all(0.0 < p < 1.0 for p in probs):
        raise DepthscopeError(f"probabilities must lie in (0, 1), got {probs}.")
    arch, steps = _resolve(widths, convention, input_dim)
    network: dict[str, Any] = {
        "activation": activation,
        "weight_std": weight_std,
        "bias_std": bias_std,
        "q0": q0,
        "residual": residual,
    }
    for name, low, strict in (
        ("weight_std", 0.0, True),
        ("bias_std", 0.0, False),
        ("q0", 0.0, True),
    ):
        value = network[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
            raise TypeError(f"{name} must be a real number, not {type(value).__name__}.")
        if not math.isfinite(value) or value < low or (strict and value == low):
            relation = ">" if strict else "≥"
            raise DepthscopeError(f"{name} = {value!r} must be a finite number {relation} {low:g}.")
    extra: dict[str, Any] = {}
    beyond = _beyond_the_paper(network)
    if not beyond:
        _check_domain(method, theta, steps)
    if beyond:
        if method != "infinite":
            raise DepthscopeError(
                f"method {method!r} covers bias-free ReLU networks with He weights only; "
                f"for {_describe(network)} use method='infinite' (the infinite-width kernel "
                "map) or depthscope.simulate for exact Monte Carlo."
            )
        general = infinite_width_law(steps, theta, **network)
        mean, sd, mix_m, mix_w, mix_s = _point_masses(general.ln_sin2_theta)
    elif method == "markov":
        law = _law.propagate_law(tuple(steps), theta)
        mean, sd = law.mean, law.sd
        mix_w = mix_m = mix_s = np.zeros((len(mean), 0))
        extra = {"dead": law.dead, "collapsed": law.collapsed, "atom": law.atom, "law": law}
    elif method == "lattice":
        chain = _markov.propagate(theta, np.asarray([steps]))
        mean, sd = chain.x_mean[:, 0], np.sqrt(chain.x_var[:, 0])
        # Layer ℓ ≥ 1 mixes the one-step laws over layer ℓ−1's lattice; layer 0 is a point.
        mix_w = np.concatenate([chain.weights[:1, 0], chain.weights[:-1, 0]])
        mix_m = chain.component_mean[:, 0]
        mix_s = np.sqrt(chain.component_var[:, 0])
    elif method == "approx2":
        mean, sd, mix_m, mix_w, mix_s = _approx2(theta, steps)
    else:
        path = _deterministic_path(theta, np.asarray([steps]), method)[:, 0]
        mean, sd, mix_m, mix_w, mix_s = _point_masses(path)
    return Prediction(
        widths=arch,
        theta0=theta,
        method=method,
        convention=convention,
        input_dim=None if input_dim is None else int(input_dim),
        step_widths=tuple(steps),
        mean=mean,
        sd=sd,
        probabilities=probs,
        mixture_weights=mix_w,
        mixture_means=mix_m,
        mixture_sds=mix_s,
        network=_describe(network),
        **extra,
    )


def _beyond_the_paper(network: dict[str, Any]) -> bool:
    return bool(
        network["activation"] != "relu"
        or network["weight_std"] != _HE_STD
        or network["bias_std"] != 0.0
        or network["residual"] is not None
    )


def _describe(network: dict[str, Any]) -> str:
    """One line naming the network class, e.g. ``relu, σ_w = 1.414, σ_b = 0``."""
    text = (
        f"{network['activation']}, σ_w = {network['weight_std']:.4g}, "
        f"σ_b = {network['bias_std']:.4g}, q0 = {network['q0']:.4g}"
    )
    return text + (f", residual {network['residual']}" if network["residual"] else "")


#: The stated domain of the default predictor (``markov``): widths ≥ MIN_WIDTH, depth up to
#: MAX_CALIBRATED_DEPTH, θ0 in (0, π]; widths above 512 are read from the 512 column, which is
#: calibrated up to θ0 = 2.5 (docs/law-table.md).
MIN_WIDTH = 4
MAX_CALIBRATED_DEPTH = 10_000
_WIDE = 512
_WIDE_THETA = 2.5


def domain_warnings(method: str, theta0: float, steps: Sequence[int]) -> list[str]:
    """Why a prediction falls outside its method's measured domain (empty: inside it)."""
    reasons = []
    if method == "markov":
        if min(steps) < MIN_WIDTH:
            reasons.append(
                f"width {min(steps)} < {MIN_WIDTH}: the one-step law is tabulated from width 4 "
                "and narrower layers are read as width 4 (dead and collapsed networks are "
                "frequent there; simulate them with depthscope.simulate)"
            )
        if len(steps) > MAX_CALIBRATED_DEPTH:
            reasons.append(
                f"depth {len(steps)} > {MAX_CALIBRATED_DEPTH}: calibrated up to "
                f"{MAX_CALIBRATED_DEPTH} layers"
            )
        if max(steps) > _WIDE and theta0 > _WIDE_THETA:
            reasons.append(
                f"width {max(steps)} > {_WIDE} with θ0 > {_WIDE_THETA}: the near-π law of widths "
                f"above {_WIDE} is read from width {_WIDE} and is not calibrated there"
            )
    elif method != "lattice" and theta0 == math.pi and method in ("approx1", "approx2"):
        reasons.append("Approximations 1 and 2 linearise at small angles: not meant for θ0 = π")
    return reasons


def _check_domain(method: str, theta0: float, steps: Sequence[int]) -> None:
    for reason in domain_warnings(method, theta0, steps):
        warnings.warn(f"predict(method={method!r}): {reason}.", DepthscopeWarning, stacklevel=3)


def _layers_same_depth(theta: float, steps: np.ndarray, method: str) -> tuple[FloatArray, ...]:
    """Per-layer mean and sd of X for B architectures of equal depth: arrays (L+1, B)."""
    if method == "markov":  # one propagation per architecture (identical ones shared)
        laws = {key: _law.propagate_law(key, theta) for key in {tuple(row) for row in steps}}
        rows = [laws[tuple(row)] for row in steps]
        return (
            np.stack([law.mean for law in rows], axis=1),
            np.stack([law.sd for law in rows], axis=1),
        )
    if method == "lattice":
        chain = _markov.propagate(theta, steps)
        return chain.x_mean, np.sqrt(chain.x_var)
    x = _deterministic_path(theta, steps, method)
    return x, np.zeros_like(x)


def predict_layers(
    architectures: Sequence[str | Sequence[int]],
    theta0: float = math.pi / 2,
    *,
    method: str = "markov",
    convention: str = "exact",
    input_dim: int | None = None,
) -> list[tuple[FloatArray, FloatArray]]:
    """Per-layer mean and sd of ln sin²θ_ℓ for many architectures at once.

    Architectures of equal depth are propagated together (vectorised), so thousands take
    seconds. Same methods and conventions as :func:`predict`, without quantiles.

    Parameters
    ----------
    architectures : sequence of (str or sequence of int)
        Hidden widths of each architecture, as in :func:`predict`.
    theta0 : float
        Angle between the two inputs, radians, in (0, π) (see :func:`predict`).
    method, convention, input_dim
        As in :func:`predict`.

    Returns
    -------
    list of (mean, sd)
        One pair of arrays of shape (L_i + 1,) per architecture, in the order given.
    """
    theta = check_theta0(theta0)
    if method not in METHODS:
        raise DepthscopeError(f"unknown method {method!r}; choose one of {METHODS}.")
    resolved = [_resolve(a, convention, input_dim)[1] for a in architectures]
    reasons = sorted({r for steps in resolved for r in domain_warnings(method, theta, steps)})
    for reason in reasons:
        warnings.warn(f"predict(method={method!r}): {reason}.", DepthscopeWarning, stacklevel=2)
    out: list[tuple[FloatArray, FloatArray]] = [(np.empty(0), np.empty(0))] * len(resolved)
    if method == "approx2":
        for i, spec in enumerate(architectures):
            p = predict(spec, theta, method=method, convention=convention, input_dim=input_dim)
            out[i] = (p.mean, p.sd)
        return out
    depths = np.array([len(s) for s in resolved])
    for depth in np.unique(depths):
        group = np.flatnonzero(depths == depth)
        for start in range(0, len(group), _BATCH):  # bounded memory: (L+1)·batch·K floats
            index = group[start : start + _BATCH]
            steps = np.array([resolved[i] for i in index])
            mean, sd = _layers_same_depth(theta, steps, method)
            for column, i in enumerate(index):
                out[i] = (mean[:, column], sd[:, column])
    return out


def predict_final(
    architectures: Sequence[str | Sequence[int]], theta0: float = math.pi / 2, **options: Any
) -> tuple[FloatArray, FloatArray]:
    """Final-layer mean and sd of ln sin²θ_L for many architectures at once.

    Parameters
    ----------
    architectures, theta0, **options
        As in :func:`predict_layers` (keywords ``method``, ``convention``, ``input_dim``).

    Returns
    -------
    mean, sd : ndarray, shape (len(architectures),)
        The last row of each architecture's :func:`predict_layers` result.
    """
    if options.get("method", "markov") == "markov":
        laws = final_laws(
            architectures, theta0, options.get("convention", "exact"), options.get("input_dim")
        )
        return laws.mean, laws.sd
    layers = predict_layers(architectures, theta0, **options)
    return (
        np.array([m[-1] for m, _ in layers], dtype=np.float64),
        np.array([s[-1] for _, s in layers], dtype=np.float64),
    )


def final_laws(
    architectures: Sequence[str | Sequence[int]],
    theta0: float,
    convention: str = "exact",
    input_dim: int | None = None,
) -> _law.FinalLaws:
    """Return the default method's final-layer law and per-layer means for many architectures.

    Batched (:func:`depthscope.theory._law.propagate_final`): equal to :func:`predict` per
    architecture to ~1e-10, for screening thousands of architectures in seconds. Warns like
    :func:`predict` outside the measured domain.
    """
    theta = check_theta0(theta0)
    if convention not in CONVENTIONS:
        raise DepthscopeError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}.")
    resolved = [_resolve(a, convention, input_dim)[1] for a in architectures]
    reasons = sorted({r for steps in resolved for r in domain_warnings("markov", theta, steps)})
    for reason in reasons:
        warnings.warn(f"predict(method='markov'): {reason}.", DepthscopeWarning, stacklevel=3)
    return _law.propagate_final([tuple(steps) for steps in resolved], theta)
