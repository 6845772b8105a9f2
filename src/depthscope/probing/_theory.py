"""Theory overlay of a probe: predict the angles of the stacks the tracer found.

:class:`~depthscope.probing._trace.StackTracer` follows the data flow of the probe's forward
pass by tensor identity and finds stacks of plain layers (a Linear, with or without bias,
then ReLU, LeakyReLU, Tanh, GELU or SiLU) and of residual blocks ``x + α·V φ(W x + b)``
(:mod:`._trace`). For each stack this module asks the theory for the law of ln sin²θ at the
angle (and ‖x‖²/n₀) measured between the two probe inputs where they enter it:

* a bias-free ReLU stack is the paper's network (the model of
  ``docs/theory/angle-theory.md`` §1): :func:`depthscope.predict`'s default method
  (``"markov"``, convention ``"exact"``: step ℓ uses the ℓ-th Linear's ``out_features``), as
  before (:func:`predict_stack`);
* any other stack: :func:`depthscope.predict` with ``activation``, ``weight_std``,
  ``bias_std``, ``q0`` and ``residual`` read from the model, by its default method first and
  by ``method="infinite"`` where the default refuses (:func:`predict_network`). A prediction
  with an sd is a band (its 95% quantiles); one without (the infinite-width kernel map) is a
  line, ``low = high = mean``, and no row is said to be inside or outside it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ..simulation._metrics import angle_from_gram, pair_gram
from ..theory._predict import predict
from ..theory._prediction import HE_STD, network_keywords
from ._chain import INPUT_NOT_COVERED
from ._init import describe_init
from ._scale import power_of_two_scale
from ._trace import Chain

__all__ = [
    "PROBABILITIES",
    "Stack",
    "TheoryOverlay",
    "build_overlay",
    "predict_network",
    "predict_stack",
]

#: Probability levels of the predicted band (central 95% interval).
PROBABILITIES: tuple[float, float] = (0.025, 0.975)
COVERED = "covered"
#: Why a stack entered by an antipodal pair (θ0 = π exactly) is not covered (yet).
ANTIPODAL = "antipodal inputs (θ0 = π): the predictor takes θ0 in (0, π)"
#: The init a bias-free ReLU or leaky ReLU stack assumes (:attr:`Stack.init`): any, since the
#: angles of a positively homogeneous φ without biases do not depend on σ_w.
HOMOGENEOUS_INIT = "σ_w changes no angle of a bias-free ReLU or leaky ReLU stack (σ_w² = 2 used)"
_BAND = "a band (finite-width law, with its sd)"


@dataclass(frozen=True)
class Stack:
    """One chain of layers the theory covers, found in the model.

    Attributes
    ----------
    widths : tuple of int
        ``out_features`` of its Linear layers (of each block's W for a residual stack),
        n_1..n_L.
    theta0 : float
        Angle (radians) between the two probe inputs where they enter the first Linear.
    layers : tuple of str
        Probed layer names covered, in order (one per activation or block that was probed).
    steps : tuple of int
        For each covered layer, its depth ℓ in the stack (1..L; 0 for the model input).
    activation : str
        φ as :func:`depthscope.predict` names it (``"relu"``, ``"leaky:0.1"``, ``"tanh"``).
    weight_std, bias_std : float
        σ_w and σ_b the prediction used: √(fan_in·Var(W)) and √Var(b) as measured, averaged
        over the stack and rounded to 3 significant digits (σ_w = √2 for a bias-free ReLU or
        leaky ReLU stack, whose angles do not depend on it).
    q0 : float
        The pair's mean ‖x‖²/n₀ where it enters the stack (1.0 where it does not matter).
    residual : str or None
        ``"block:ALPHA"`` for a stack of residual blocks (α as measured, times σ_V/σ_W when
        V's variance differs from W's), None for plain layers.
    method : str
        The predictor that gave the numbers (``"markov"``, ``"infinite"``, ...).
    band : bool
        True if the prediction has an sd (a band); False for a line (no sd).
    init : str
        The variances read from the weights and the standard init they match (for a
        bias-free ReLU or leaky ReLU stack: that σ_w changes no angle, σ_w² = 2 used), the
        method, and why a fallback method was used.
    """

    widths: tuple[int, ...]
    theta0: float
    layers: tuple[str, ...]
    steps: tuple[int, ...]
    activation: str = "relu"
    weight_std: float = HE_STD
    bias_std: float = 0.0
    q0: float = 1.0
    residual: str | None = None
    method: str = "markov"
    band: bool = True
    init: str = ""

    @property
    def paper(self) -> bool:
        """Whether this is the paper's network (a bias-free ReLU stack, the default method)."""
        return (self.activation, self.bias_std, self.residual, self.method) == (
            "relu",
            0.0,
            None,
            "markov",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: ``init`` always; the network's keys beyond the paper's network."""
        out: dict[str, Any] = {
            "widths": list(self.widths),
            "theta0": self.theta0,
            "layers": list(self.layers),
            "steps": list(self.steps),
        }
        if not self.paper:
            out.update(
                activation=self.activation,
                weight_std=self.weight_std,
                bias_std=self.bias_std,
                q0=self.q0,
                residual=self.residual,
                method=self.method,
                band=self.band,
            )
        out["init"] = self.init
        return out


@dataclass(frozen=True)
class TheoryOverlay:
    """Predicted band of ln sin²θ beside each probed layer.

    Attributes
    ----------
    status : tuple of str
        Per probed layer: ``"covered"`` or ``"not covered: <reason>"``.
    mean, sd : ndarray, shape (n_layers,)
        Predicted mean and sd of ln sin²θ (NaN where not covered).
    low, high : ndarray, shape (n_layers,)
        Predicted 2.5% and 97.5% quantiles (NaN where not covered).
    inside : tuple of bool or None
        Whether the measured ln sin²θ lies in [low, high]; None where not covered or where the
        measurement is undefined (a representation that is all zero).
    stacks : tuple of Stack
        The stacks found (with at least one probed layer).
    method : str
        Predictor used (``"markov"``; the distinct methods of the stacks, joined by
        ``"+"``, when a stack beyond the paper's network used another).
    kind : tuple of str
        Per probed layer: ``"band"`` (a prediction with an sd), ``"line"`` (none: low = high =
        mean, ``inside`` None) or ``""`` (not covered).
    """

    status: tuple[str, ...]
    mean: NDArray[np.float64]
    sd: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    inside: tuple[bool | None, ...]
    stacks: tuple[Stack, ...] = field(default=())
    method: str = "markov"
    kind: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.kind:  # made without kinds: every covered row is a band
            kinds = tuple("band" if s == COVERED else "" for s in self.status)
            object.__setattr__(self, "kind", kinds)

    @classmethod
    def empty(cls, n_layers: int, reason: str) -> TheoryOverlay:
        """Return an overlay covering nothing, every layer marked ``not covered: reason``."""
        nan = np.full(n_layers, np.nan)
        return cls(
            status=(f"not covered: {reason}",) * n_layers,
            mean=nan,
            sd=nan.copy(),
            low=nan.copy(),
            high=nan.copy(),
            inside=(None,) * n_layers,
        )


@lru_cache(maxsize=256)
def _cached_prediction(widths: tuple[int, ...], theta0: float) -> tuple[NDArray[np.float64], ...]:
    pred = predict(list(widths), theta0, probabilities=PROBABILITIES)
    q = pred.quantiles
    return pred.mean, pred.sd, q[:, 0], q[:, 1]


def predict_stack(
    widths: Sequence[int], theta0: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Predicted mean, sd and central 95% interval of ln sin²θ_ℓ, ℓ = 0..L, for one stack.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths n_1..n_L (``out_features`` of the Linear layers).
    theta0 : float
        Angle between the two inputs entering the first Linear, radians in (0, π].

    Returns
    -------
    mean, sd, low, high : ndarray, shape (L+1,)
        From :func:`depthscope.predict` (method ``"markov"``, convention ``"exact"``); ``low``
        and ``high`` are the 2.5% and 97.5% quantiles. Results are cached on
        ``(widths, theta0)`` (a TrainingMonitor repeats the same prediction every time).
    """
    mean, sd, low, high = _cached_prediction(tuple(int(w) for w in widths), float(theta0))
    return mean.copy(), sd.copy(), low.copy(), high.copy()


def pair_angle(rows: NDArray[np.float64]) -> float:
    """Angle in [0, π] between the two rows of ``rows`` (shape (2, n)), NaN if one is zero.

    NaN too where an entry is NaN or ±inf; rows of any finite magnitude are rescaled first.

    See :func:`depthscope.simulation._metrics.angle_from_gram`.
    """
    largest = float(np.abs(rows).max(initial=0.0))
    factors = power_of_two_scale(largest)  # exact rescaling: no overflow in the products
    if factors is None:
        return math.nan
    for factor in factors:
        rows = rows * factor
    a = rows[0]
    return float(angle_from_gram(*pair_gram(a, rows[1] - a)))


def predict_network(
    chain: Chain,
) -> tuple[tuple[NDArray[np.float64], ...], str, bool, str]:
    """Predict a stack beyond the paper's network: the default method, else ``"infinite"``.

    Returns
    -------
    (mean, sd, low, high), method, band, note
        Per layer 0..L; the method used; whether the prediction has an sd; why the default
        method was not used ("" if it was), with any warning the predictor gave.

    Raises
    ------
    DepthscopeError
        If no method takes the network (the message says why).
    """
    key = (
        tuple(chain.widths),
        float(chain.theta0),
        chain.activation,
        _rounded_std(chain.weight_var),
        _rounded_std(chain.bias_var),
        float(chain.q0),
        None if chain.alpha is None else f"block:{chain.alpha:.4g}",
    )
    numbers, method, note = _cached_network(*key)
    mean, sd, low, high = (a.copy() for a in numbers)
    band = bool(np.any(sd[1:] > 0.0))
    return (mean, sd, low, high), method, band, note


def _rounded_std(variance: float) -> float:
    """√variance to 3 significant digits: the prediction's σ_w, σ_b (and its cache key).

    Measured from finite weights, σ_w has a sampling error of ≈ 1/√(2·n·fan_in) (0.14% for
    512 × 512); at 3 digits the overlay is recomputed during training only when the weights'
    scale has moved by about 0.1%, not at every probe (general closures take 10-300 ms).
    """
    return float(f"{math.sqrt(variance):.3g}")


@lru_cache(maxsize=256)
def _cached_network(
    widths: tuple[int, ...],
    theta0: float,
    activation: str,
    weight_std: float,
    bias_std: float,
    q0: float,
    residual: str | None,
) -> tuple[tuple[NDArray[np.float64], ...], str, str]:
    network = network_keywords(activation, weight_std, bias_std, q0, residual)
    note = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pred = predict(list(widths), theta0, probabilities=PROBABILITIES, **network)
        except DepthscopeError as err:
            reason = " ".join(str(err).split()).split(";")[0]
            note = f"the default method refused it ({reason})"
            pred = predict(
                list(widths), theta0, probabilities=PROBABILITIES, method="infinite", **network
            )
    said = sorted({" ".join(str(w.message).split()) for w in caught})
    if said:
        note = "; ".join([note, *said] if note else said)
    q = pred.quantiles
    return (pred.mean, pred.sd, q[:, 0], q[:, 1]), str(pred.method), note


def _predict_chain(chain: Chain) -> tuple[tuple[NDArray[np.float64], ...], dict[str, Any]]:
    """Numbers and :class:`Stack` fields of one chain (raises DepthscopeError if refused)."""
    if chain.paper:  # the default method, "markov": a band
        return predict_stack(chain.widths, chain.theta0), {
            "init": f"{HOMOGENEOUS_INIT}; predicted by method 'markov': {_BAND}"
        }
    numbers, method, band, note = predict_network(chain)
    init = describe_init(chain.inits, chain.weight_var, chain.bias_var)
    if chain.activation.startswith(("relu", "leaky:")) and chain.bias_var == 0.0:
        if chain.alpha is None:
            init = HOMOGENEOUS_INIT
    kind = _BAND if band else "a line (no sd)"
    fields = {
        "activation": chain.activation,
        "weight_std": _rounded_std(chain.weight_var),
        "bias_std": _rounded_std(chain.bias_var),
        "q0": chain.q0,
        "residual": None if chain.alpha is None else f"block:{chain.alpha:.4g}",
        "method": method,
        "band": band,
        "init": f"{init}; predicted by method {method!r}: {kind}" + (f"; {note}" if note else ""),
    }
    return numbers, fields


def build_overlay(
    chains: Sequence[Chain],
    names: Sequence[str],
    module_types: Sequence[str],
    measured: NDArray[np.float64],
    reasons: dict[int, str],
    input_row: int | None,
) -> TheoryOverlay:
    """Assemble the :class:`TheoryOverlay` of a probe from the chains a tracer found.

    Parameters
    ----------
    chains : sequence of Chain
        From :meth:`~depthscope.probing._trace.StackTracer.finish`.
    names, module_types : sequence of str
        Probed layer names and their module types, one per row.
    measured : ndarray, shape (n_rows,)
        Measured ln sin²θ per row.
    reasons : dict of int to str
        Why a probed row is not covered (from the tracer).
    input_row : int or None
        Row of the model input, covered as layer 0 by a stack starting at the model input.
    """
    n = len(names)
    mean, sd, low, high = (np.full(n, np.nan) for _ in range(4))
    status = [
        f"not covered: {reasons.get(i) or f'{module_types[i]} is not covered'}" for i in range(n)
    ]
    kind = [""] * n
    stacks = []
    unpredicted: set[int] = set()  # rows of stacks the predictor refused
    for chain in chains:
        members = list(chain.members)
        if chain.at_input and input_row is not None and status[input_row] != COVERED:
            members.insert(0, (input_row, 0))
        try:
            (pm, ps, pl, ph), fields = _predict_chain(chain)
        except DepthscopeError as err:  # an angle the predictor does not take (θ0 = π)
            paper = chain.paper and chain.theta0 == math.pi
            reason = ANTIPODAL if paper else " ".join(str(err).split())
            for row, _ in members:
                status[row] = f"not covered: {reason}"
                unpredicted.add(row)
            continue
        band = bool(fields.get("band", True))
        for row, step in members:
            mean[row], sd[row], low[row], high[row] = pm[step], ps[step], pl[step], ph[step]
            status[row] = COVERED
            kind[row] = "band" if band else "line"
        stacks.append(
            Stack(
                widths=tuple(chain.widths),
                theta0=chain.theta0,
                layers=tuple(names[row] for row, _ in members),
                steps=tuple(step for _, step in members),
                **fields,
            )
        )
    if input_row is not None and status[input_row] != COVERED and input_row not in unpredicted:
        status[input_row] = f"not covered: {INPUT_NOT_COVERED}"
    inside: list[bool | None] = []
    for i in range(n):
        if status[i] != COVERED or math.isnan(measured[i]) or kind[i] != "band":
            inside.append(None)
        else:
            if math.isinf(measured[i]):  # ln sin²θ0 = −∞ (antipodal inputs): a point mass
                inside.append(bool(measured[i] == low[i] == high[i]))
                continue
            slack = 1e-9 * (1.0 + abs(mean[i]))  # layer 0 is a point mass: allow rounding
            inside.append(bool(low[i] - slack <= measured[i] <= high[i] + slack))
    methods = list(dict.fromkeys(s.method for s in stacks)) or ["markov"]
    return TheoryOverlay(
        status=tuple(status),
        mean=mean,
        sd=sd,
        low=low,
        high=high,
        inside=tuple(inside),
        stacks=tuple(stacks),
        method="+".join(methods),
        kind=tuple(kind),
    )
