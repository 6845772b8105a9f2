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
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._architecture import Architecture, format_architecture, parse_architecture
from .._errors import DepthscopeError, DepthscopeWarning, check_int, check_theta0
from .._types import FloatArray
from . import _law, _law_batch, _markov
from ._activations import QuadratureTooLarge, parse_activation
from ._general_domain import MIN_CLOSURE_WIDTH, general_domain_warnings
from ._general_law import general_law
from ._general_mix import general_mixture_law, takes_difference_chart
from ._kernel_maps import infinite_width_law
from ._paper_methods import approx2, deterministic_path, point_masses
from ._prediction import (
    CONVENTIONS,
    HE_STD,
    CannotFollow,
    Prediction,
    angle_only_relu,
    check_convention,
    check_network,
    network_keywords,
)
from ._prediction import describe_network as _describe

__all__ = ["METHODS", "Prediction", "predict", "predict_final", "predict_layers"]

METHODS = ("markov", "lattice", "infinite", "mean", "approx1", "approx2")
DEFAULT_PROBABILITIES = (0.025, 0.25, 0.5, 0.75, 0.975)
#: The deepest architecture ``method="approx2"`` accepts. Its cost grows with the square of
#: the depth (measured: 0.7 s at 1000 layers, 3.5 s at 2000, 13 s at 4000; 20000 layers would
#: take minutes), so deeper requests are refused up front.
MAX_APPROX2_DEPTH = 2000
_BATCH = 512  # architectures per vectorised markov propagation in predict_final


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
    activation: str | float = "relu",
    weight_std: float = HE_STD,
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: str | float | None = None,
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
        Which width each step uses; ``"paper"`` needs ``input_dim`` and adds the output step
        (the paper's network only: bias-free ReLU, plain layers).
    input_dim : int, optional
        Input dimension n_0 (``paper`` convention).
    probabilities : sequence of float
        Levels of the reported quantiles.
    activation, weight_std, bias_std, q0, residual
        The network beyond the paper: φ (``"relu"``, ``"leaky:S"``, ``"abs"``, ``"tanh"``,
        ``"erf"``, ``"gelu"``, ``"silu"``, or a number: the leaky slope, as in
        :func:`depthscope.simulate`), σ_w (weights N(0, σ_w²/fan-in); default √2, He),
        σ_b (biases N(0, σ_b²)), the inputs' ‖x‖²/n₀, and residual blocks
        ``"block:ALPHA"`` (h ← h + α V φ(W h + b); α alone is read as ``"block:α"``, as in
        :func:`depthscope.simulate`); see ``docs/theory/kernel-maps.md``.
        Beyond bias-free ReLU, ``"markov"`` (default) is the finite-width Gram-state closure
        (``depthscope.theory._general_law``; plain kinked layers and biased GELU/SiLU: the
        sliced Gaussian-sum closure of ``depthscope.theory._general_mix``; bias-free GELU at
        σ_w² > 1.5: ``depthscope.theory._general_norms``; ``docs/theory/general-predictor.md``: its
        measured domain and accuracy; a warning outside it) and ``"infinite"`` the n → ∞
        kernel map; the other methods raise an error. Bias-free ReLU at any σ_w and q0 uses
        the default's exact law (the angle does not depend on them).

    Returns
    -------
    Prediction
        Frozen result with ``mean``, ``sd``, ``quantiles`` per layer 0..L (0 = inputs).

    Raises
    ------
    DepthscopeError
        For a bad architecture, θ0 outside (0, π], widths < 2, an unknown method/convention,
        the ``paper`` convention beyond bias-free ReLU, or a network keyword out of range.

    Warns
    -----
    DepthscopeWarning
        Outside the default method's measured domain (see Notes).

    Notes
    -----
    Fully connected, bias-free ReLU network with iid N(0, 2/fan-in) weights; θ_ℓ is the angle
    between the post-activation vectors of the two inputs at layer ℓ.

    **Domain of the default method** (``markov``): widths 4 to 100,000 (wider layers are
    refused: use ``"mean"``), depth ≤ 10,000, θ0 in (0, π] (θ0 = π: antipodal inputs).
    Widths above 512 are read from the 512 column of the table, calibrated there up to
    θ0 = 2.5. Measured against exact simulation (10,000-20,000 networks per case: narrow,
    deep, bottleneck, ramp, tiny-angle and near-π cases, ``docs/calibration.md``): per-layer
    mean within 0.043 sd, sd within 3.3% (12.6% at layer 1 from θ0 = 3, where the sample sd
    itself has a 5% standard error), Kolmogorov-Smirnov distance ≤ 0.031 at every layer
    (≤ 0.010 at layer 1), dead/collapsed/atom probabilities within 0.006. Outside the domain a
    :class:`~depthscope.DepthscopeWarning` says what is not covered. The other methods are the
    paper's approximations: their errors are in the README's accuracy table.

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
    network = network_keywords(activation, weight_std, bias_std, q0, residual)
    check_network(network)
    check_convention(convention, network)
    probs = tuple(float(p) for p in probabilities)
    if not all(0.0 < p < 1.0 for p in probs):
        raise DepthscopeError(f"probabilities must lie in (0, 1), got {probs}.")
    arch, steps = _resolve(widths, convention, input_dim)
    extra: dict[str, Any] = {}
    beyond = _beyond_the_paper(network)
    if beyond and method == "markov" and angle_only_relu(network):
        beyond = False  # bias-free ReLU: the angle's law does not depend on σ_w or q0 (exact)
    if method in ("approx1", "approx2") and theta == math.pi:
        raise DepthscopeError(
            f"method {method!r} (Approximations 1 and 2 linearise at small angles) is undefined "
            "for antipodal inputs (θ0 = π): ln sin²θ0 = −∞; use markov, mean or infinite."
        )
    if not beyond:
        _check_domain(method, theta, steps)
    computed = theta
    if beyond and _odd_without_bias(network):
        if theta == math.pi:
            raise DepthscopeError(
                f"antipodal inputs (θ0 = π) of {_describe(network)} stay antipodal (φ is odd and "
                "there are no biases, so the image of −x is minus the image of x): sin²θ = 0, "
                "ln sin²θ = −∞, at every layer exactly; there is no law to predict (simulate "
                "shows −inf, or rounding noise near −33 where the pair drifts by ulps)."
            )
        # h_y → −h_y maps every layer's θ to π − θ: sin²θ has the same law from θ0 and from
        # π − θ0, and the closures are calibrated on the smaller angle (at θ0 = π − 1e-8 the
        # z chart read −12 ± 7.5 at layer 1 where θ0 = 1e-8 gives the right −36.7 ± 0.3).
        computed = min(theta, math.pi - theta)
    if beyond:
        if method not in ("infinite", "markov"):
            raise DepthscopeError(
                f"method {method!r} covers bias-free ReLU networks only; for "
                f"{_describe(network)} use method='markov' (the default: the finite-width "
                "Gram-state closure) or method='infinite' (the infinite-width kernel map)."
            )
        if method == "markov" and min(steps) < MIN_CLOSURE_WIDTH:
            raise DepthscopeError(
                f"the finite-width closure for {_describe(network)} needs widths ≥ "
                f"{MIN_CLOSURE_WIDTH}, got {min(steps)}; use depthscope.simulate (exact at any "
                "width) or method='infinite'."
            )
        mean, sd, mix_m, mix_w, mix_s, extra = _general_prediction(
            method, steps, computed, network, None if computed == theta else theta
        )
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
        if len(steps) > MAX_APPROX2_DEPTH:
            raise DepthscopeError(
                f"method 'approx2' takes time quadratic in depth: at most {MAX_APPROX2_DEPTH} "
                f"steps are accepted, got {len(steps)}; use approx1, mean or markov."
            )
        mean, sd, mix_m, mix_w, mix_s = approx2(theta, steps)
    else:
        path = deterministic_path(theta, np.asarray([steps]), method)[:, 0]
        mean, sd, mix_m, mix_w, mix_s = point_masses(path)
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


def _general_prediction(
    method: str,
    steps: Sequence[int],
    theta: float,
    network: dict[str, Any],
    mirrored_from: float | None = None,
) -> tuple[Any, ...]:
    """Mean, sd, mixture (means, weights, sds) and extras of a network beyond the paper.

    The norms of the Gram state scale like (σ_w² gain)^ℓ q0: where they leave float64's range
    (deep networks far from criticality, extreme σ_w, σ_b, q0, α or slope) the closures cannot
    carry the angle; that is an error naming the network, not NaN or an overflow traceback.
    """
    extra: dict[str, Any] = {}
    try:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            if method == "infinite":
                general = infinite_width_law(steps, theta, **network)
                mean, sd, mix_m, mix_w, mix_s = point_masses(general.ln_sin2_theta)
            elif takes_difference_chart(**network):
                mixture = general_mixture_law(
                    steps, theta, **{k: v for k, v in network.items() if k != "residual"}
                )
                mean, sd = mixture.mean, mixture.sd
                mix_w, mix_m, mix_s = mixture.weights, mixture.x_means, mixture.x_sds
                extra = {"law": mixture}  # cdf, density, quantiles: the mixture's pushforward
            else:
                closure = general_law(steps, theta, **network)
                mean, sd = closure.mean, closure.sd
                mix_w, mix_m, mix_s = np.ones((len(mean), 1)), mean[:, None], sd[:, None]
                extra = {"law": closure}  # cdf, density, quantiles: T's normal pushed through X(T)
    except (ArithmeticError, MemoryError) as error:
        raise _out_of_range(method, network, f"{type(error).__name__}: {error}") from None
    except QuadratureTooLarge as error:  # wide pre-activations, not overflow
        raise CannotFollow(
            f"predict(method={method!r}) cannot follow {_describe(network)}: {error}; the "
            "default method handles such widths of the pre-activations, or use fewer layers.",
            str(error).rstrip("."),
        ) from None
    except ValueError as error:  # only the two that extreme norms raise; any other is a bug
        if isinstance(error, DepthscopeError) or not _RANGE_ERRORS.search(str(error)):
            raise
        raise _out_of_range(method, network, f"{type(error).__name__}: {error}") from None
    finite_from = 1 if theta == math.pi else 0  # ln sin²π = −∞ at the inputs
    if not (np.isfinite(mean[finite_from:]).all() and np.isfinite(sd[finite_from:]).all()):
        raise _out_of_range(method, network, "non-finite ln sin²θ")
    if method == "markov":
        _check_general_domain(theta, steps, network, mean, mirrored_from)
    return mean, sd, mix_m, mix_w, mix_s, extra


#: ValueErrors that extreme norms raise inside the closures and the kernel maps: numpy's
#: allocation of a quadrature sized from overflowed scales, and math's log/sqrt of them.
_RANGE_ERRORS = re.compile(r"Maximum allowed size|math domain error|cannot convert float")


#: How far each method follows the norms ‖h‖²/n: the closure's moments hold their squares
#: (measured: it stops at 10^±148-153 for relu, leaky, tanh, GELU and the relu block); the
#: kernel maps carry them themselves. The exact simulation's Gram determinant holds their
#: squares too (ReLU σ_w = 1000, σ_b = 0.1: both stop at layer 27, ‖h‖²/n ≈ 1e154).
_CARRIED = {
    "markov": " as the closure carries them (its moments hold their squares, so ‖h‖²/n only "
    "within about 1e±150, as far as depthscope.simulate, whose Gram determinant holds them too)",
    "infinite": "",
}


def _out_of_range(method: str, network: dict[str, Any], what: str) -> CannotFollow:
    return CannotFollow(
        f"predict(method={method!r}) cannot follow {_describe(network)} ({what}): the "
        f"layers' norms leave float64's range{_CARRIED.get(method, '')}: σ_w, σ_b, q0, α or the "
        "slope is too extreme for this depth, or the norms collapse to 0; use depthscope.simulate,"
        " fewer layers or milder values.",
        f"the layers' norms leave float64's range ({what})",
    )


def _beyond_the_paper(network: dict[str, Any]) -> bool:
    return bool(
        network["activation"] != "relu"
        or network["weight_std"] != HE_STD
        or network["bias_std"] != 0.0
        or network["residual"] is not None
    )


def _odd_without_bias(network: dict[str, Any]) -> bool:
    """Whether φ is odd (tanh, erf) without biases, plain or in blocks: h → −h commutes."""
    return bool(parse_activation(network["activation"]).odd and network["bias_std"] == 0.0)


def _check_general_domain(
    theta0: float,
    steps: Sequence[int],
    network: dict[str, Any],
    mean: FloatArray,
    mirrored_from: float | None = None,
) -> None:
    note = (
        ""
        if mirrored_from is None
        else f" (θ0 = {mirrored_from:.10g} was predicted as π − θ0 = {theta0:.4g}: for an odd "
        "φ without biases sin²θ has the same law from both)"
    )
    for reason in general_domain_warnings(theta0, steps, **network, ln_sin2_mean=mean):
        warnings.warn(f"predict(method='markov'): {reason}{note}.", DepthscopeWarning, stacklevel=5)


#: The stated domain of the default predictor (``markov``): widths ≥ MIN_WIDTH, depth up to
#: MAX_CALIBRATED_DEPTH, θ0 in (0, π]; widths above 512 are read from the 512 column, which is
#: calibrated up to θ0 = 2.5 (docs/law-table.md).
MIN_WIDTH = 4
MAX_CALIBRATED_DEPTH = 10_000
#: The widest layer the default method takes: its grid's cells shrink as 1/√n, and at width
#: 10⁶ two layers already need 2.4 GB (measured); beyond, Theorem 1's O(1/n²) error is
#: negligible and ``method="mean"`` is the right tool.
MAX_LAW_WIDTH = 100_000
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
    return reasons


def _check_law_width(method: str, steps: Sequence[int]) -> None:
    if method == "markov" and max(steps) > MAX_LAW_WIDTH:
        raise DepthscopeError(
            f"width {max(steps)} > {MAX_LAW_WIDTH}: the default method's grid would need too "
            "much memory (its cells shrink as 1/√n); use method='mean' (Theorem 1, whose "
            "O(1/n²) error is negligible at such widths) or method='infinite'."
        )


def _check_domain(method: str, theta0: float, steps: Sequence[int]) -> None:
    _check_law_width(method, steps)
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
    x = deterministic_path(theta, steps, method)
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
    for used in resolved:
        _check_law_width(method, used)
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
) -> _law_batch.FinalLaws:
    """Return the default method's final-layer law and per-layer means for many architectures.

    Batched (:func:`depthscope.theory._law_batch.propagate_final`): equal to :func:`predict` per
    architecture to ~1e-10, for screening thousands of architectures in seconds. Warns like
    :func:`predict` outside the measured domain.
    """
    theta = check_theta0(theta0)
    if convention not in CONVENTIONS:
        raise DepthscopeError(f"unknown convention {convention!r}; choose one of {CONVENTIONS}.")
    resolved = [_resolve(a, convention, input_dim)[1] for a in architectures]
    for used in resolved:
        _check_law_width("markov", used)
    reasons = sorted({r for steps in resolved for r in domain_warnings("markov", theta, steps)})
    for reason in reasons:
        warnings.warn(f"predict(method='markov'): {reason}.", DepthscopeWarning, stacklevel=3)
    return _law_batch.propagate_final([tuple(steps) for steps in resolved], theta)
