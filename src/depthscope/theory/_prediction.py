"""The result of :func:`depthscope.predict`: the per-layer law of ln sin²θ_ℓ, and its mixtures."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from .._architecture import Architecture, format_architecture
from .._errors import (
    MAX_NETWORK_SCALE,
    MAX_Q0,
    MIN_Q0,
    MIN_WEIGHT_STD,
    DepthscopeError,
    check_network_number,
)
from .._types import FloatArray
from ._activations import Activation, parse_activation
from ._kernel_maps import parse_residual

__all__ = [
    "CONVENTIONS",
    "HE_STD",
    "CannotFollow",
    "LayerLaw",
    "Prediction",
    "angle_only_relu",
    "check_convention",
    "check_network",
    "describe_network",
    "network_keywords",
]

#: Width conventions of :func:`depthscope.predict` (see its module docstring).
CONVENTIONS = ("exact", "paper")
#: σ_w of He initialisation: weights N(0, 2/fan-in), the paper's network.
HE_STD = math.sqrt(2.0)

_SQRT_2PI = math.sqrt(2.0 * math.pi)


class LayerLaw(Protocol):
    """A per-layer law of X = ln sin²θ that :class:`Prediction` reads its distribution from."""

    def cdf(self, layer: int, x: FloatArray) -> FloatArray:
        """P(X_layer ≤ x)."""
        ...

    def density(self, layer: int, x: FloatArray) -> FloatArray:
        """Density of X_layer at x."""
        ...

    def quantiles(self, probabilities: FloatArray) -> FloatArray:
        """Quantiles at every layer, shape (L+1, len(probabilities))."""
        ...


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
        are point masses. Used by :meth:`cdf`, :meth:`density` and the quantiles unless
        ``law`` is set. For ``lattice`` these are the one-step conditional laws given the
        previous layer's lattice; for the deterministic methods, a single point mass; empty
        for ``markov`` on bias-free ReLU. For general networks (``markov`` beyond bias-free
        ReLU) they summarise the closure's components by their mean and sd of X only: the
        distribution is the exact pushforward in ``law``.
    dead, collapsed : ndarray, shape (L+1,)
        Probability that by layer ℓ the angle is undefined (an input has no active unit) or
        exactly zero (the two representations are parallel); both absorbing. ``mean``, ``sd``,
        the quantiles, :meth:`cdf` and :meth:`density` describe ln sin²θ_ℓ *given* a defined,
        non-zero angle. Zero for every method but ``markov``, which is the only one that
        models them.
    atom : ndarray, shape (L+1,)
        P(ln sin²θ_ℓ = 0 | defined, non-zero): θ_ℓ = π/2 exactly, when the two inputs share no
        active unit. Carried by :meth:`cdf` as a jump at 0 (``markov`` only; else 0).
    law : LayerLaw or None
        The propagated law behind ``markov`` (internal); when set, :meth:`cdf`,
        :meth:`density` and the quantiles come from it. For general networks: the closure's
        law of the state pushed through X = ln sin²θ (X ≤ 0, skewed; not a normal).
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
    law: LayerLaw | None = field(repr=False, default=None, compare=False)
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
        For ``markov`` on bias-free ReLU this is the density of the continuous part times its
        probability (1 − ``atom``), piecewise constant between the law's quantiles; the atom at
        0 has no density. For general networks it is the pushforward's density (0 for x ≥ 0;
        it may diverge like 1/√−x at 0).
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


# --- the network keywords of predict and screen ----------------------------------------------


class CannotFollow(DepthscopeError):
    """A predictor cannot follow the network: its norms or pre-activations leave its range.

    ``reason`` says why, without the advice that ends the message (which names predict's
    methods: the screen, which has no method to choose, reports the reason alone).
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def network_keywords(
    activation: Any, weight_std: Any, bias_std: Any, q0: Any, residual: Any
) -> dict[str, Any]:
    """Return the network keywords of predict, screen and probe as one dictionary, unchecked."""
    return {
        "activation": activation,
        "weight_std": weight_std,
        "bias_std": bias_std,
        "q0": q0,
        "residual": residual,
    }


def check_network(network: dict[str, Any]) -> None:
    """Check the network keywords of predict and screen in place.

    σ_w, σ_b and q0 become floats in their ranges. ``activation`` takes what
    :func:`depthscope.simulate` takes: a name, or a number (the leaky slope, written
    ``"leaky:S"``); ReLU spelled otherwise ("RELU", "leaky:0", 0) becomes "relu" (the same φ:
    the same, exact, predictor). ``residual`` is ``"block:ALPHA"``, None, or α itself (as
    :func:`depthscope.simulate` and ``parse_residual`` read it), written ``"block:α"``.

    Raises
    ------
    TypeError
        For a σ_w, σ_b or q0 that is not a real number, an activation that is neither a name,
        a number nor a callable, or ``residual=True``.
    DepthscopeError
        For a value out of range, an unknown activation, or a residual string that is not
        ``"block:ALPHA"``.
    """
    for name, low, high in (
        ("weight_std", MIN_WEIGHT_STD, MAX_NETWORK_SCALE),
        ("bias_std", 0.0, MAX_NETWORK_SCALE),
        ("q0", MIN_Q0, MAX_Q0),
    ):
        network[name] = check_network_number(network[name], name, low, high)
    phi = network["activation"]
    if _is_number(phi):  # a leaky slope, as depthscope.simulate reads it
        network["activation"] = phi = f"leaky:{float(phi)!r}"
    elif not (isinstance(phi, (str, Activation)) or callable(phi)):
        raise TypeError(
            "activation must be a name such as 'relu', 'leaky:0.01' or 'tanh', a leaky slope "
            f"or a callable, not {type(phi).__name__}."
        )
    act = parse_activation(phi)
    if isinstance(phi, str) and act.slopes == (0.0, 1.0):
        network["activation"] = "relu"
    if _is_number(network["residual"]):  # α itself, as parse_residual reads it: "block:α"
        network["residual"] = f"block:{float(network['residual'])!r}"
    parse_residual(network["residual"])


def _is_number(value: Any) -> bool:
    """Return whether ``value`` is a real number and not a bool (True: a TypeError downstream)."""
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_))


def check_convention(convention: str, network: dict[str, Any]) -> None:
    """Refuse an unknown convention, or ``"paper"`` for a network beyond bias-free ReLU.

    The paper's fan-in widths describe its network only; predict and screen share this check.
    """
    if convention not in CONVENTIONS:
        raise DepthscopeError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}.")
    if convention != "exact" and not angle_only_relu(network):
        raise DepthscopeError(
            f"convention {convention!r} covers bias-free ReLU only; use convention='exact'."
        )


def angle_only_relu(network: dict[str, Any]) -> bool:
    """Bias-free plain ReLU: θ alone is Markov and its law is the default's, at any σ_w, q0."""
    return bool(
        network["activation"] == "relu"
        and network["bias_std"] == 0.0
        and network["residual"] is None
    )


def describe_network(network: dict[str, Any]) -> str:
    """One line naming the network class, e.g. ``relu, σ_w = 1.414, σ_b = 0``."""
    text = (
        f"{network['activation']}, σ_w = {network['weight_std']:.4g}, "
        f"σ_b = {network['bias_std']:.4g}, q0 = {network['q0']:.4g}"
    )
    return text + (f", residual {network['residual']}" if network["residual"] else "")
