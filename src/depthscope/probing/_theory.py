"""Theory overlay of a probe: find bias-free Linear+ReLU stacks and predict their angles.

While the probe's forward pass runs, :class:`StackTracer` applies the coverage rule of
:mod:`._chain` by following the data flow through ``nn.Linear`` and ``nn.ReLU`` modules by
*tensor identity*: a ReLU continues a stack only if its input is the very tensor the previous
Linear returned, and a Linear continues it only if its input is the very tensor the previous
ReLU returned. Anything in between -- a BatchNorm, a residual addition, a functional op, a
Dropout in training mode -- creates a new tensor and ends the stack; the transparent modules
of the rule return their input itself (a Flatten of a 2-D tensor, an Identity, an eval-mode
Dropout), so they do not. A stack is thus a chain ``x → W₁ → ReLU → W₂ → ReLU → ...`` (the
model of ``docs/theory/angle-theory.md`` §1),
whatever the model's Python code looks like. Only weak references to tensors are kept.

For each stack the default predictor (:func:`depthscope.predict`, method ``"markov"``,
convention ``"exact"``: step ℓ uses the ℓ-th Linear's ``out_features``) is evaluated at the
angle measured between the two probe inputs where they enter the stack's first Linear.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ..simulation._metrics import angle_from_gram, pair_gram
from ..theory._predict import predict
from ._chain import (
    INPUT_NOT_COVERED,
    LINEAR,
    RELU,
    RELU_AFTER_BIAS,
    RELU_NOT_AFTER_LINEAR,
    TRANSPARENT,
    Role,
    has_bias,
    not_a_relu_after_linear,
)
from ._scale import power_of_two_scale

__all__ = ["PROBABILITIES", "Stack", "StackTracer", "TheoryOverlay", "predict_stack"]

#: Probability levels of the predicted band (central 95% interval).
PROBABILITIES: tuple[float, float] = (0.025, 0.975)
COVERED = "covered"
#: Why a stack entered by an antipodal pair (θ0 = π exactly) is not covered (yet).
ANTIPODAL = "antipodal inputs (θ0 = π): the predictor takes θ0 in (0, π)"


@dataclass(frozen=True)
class Stack:
    """One bias-free Linear+ReLU chain found in the model.

    Attributes
    ----------
    widths : tuple of int
        ``out_features`` of its Linear layers, n_1..n_L.
    theta0 : float
        Angle (radians) between the two probe inputs where they enter the first Linear.
    layers : tuple of str
        Probed layer names covered, in order (one per ReLU that was probed).
    steps : tuple of int
        For each covered layer, its depth ℓ in the stack (1..L; 0 for the model input).
    """

    widths: tuple[int, ...]
    theta0: float
    layers: tuple[str, ...]
    steps: tuple[int, ...]


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
        Predictor used (``"markov"``).
    """

    status: tuple[str, ...]
    mean: NDArray[np.float64]
    sd: NDArray[np.float64]
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    inside: tuple[bool | None, ...]
    stacks: tuple[Stack, ...] = field(default=())
    method: str = "markov"

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


@dataclass
class _Open:
    """A stack under construction."""

    theta0: float
    at_input: bool
    widths: list[int] = field(default_factory=list)
    members: list[tuple[int, int]] = field(default_factory=list)  # (row index, step)
    pending: int | None = None  # out_features of a Linear not yet followed by its ReLU


class StackTracer:
    """Follow Linear → ReLU → Linear → ... chains by tensor identity during one forward pass.

    Parameters
    ----------
    angle_of : callable
        ``angle_of(tensor)`` returns the angle (radians) between the two probe inputs' rows of
        a tensor, flattened per example (:func:`pair_angle`), or NaN if it cannot be read.

    Notes
    -----
    Call :meth:`start` with the model input, then :meth:`observe` from the forward hooks of
    the modules whose :func:`~depthscope.probing._chain.role` is not ``"other"``, in execution
    order (it calls :meth:`on_linear`, :meth:`on_relu` with the row index of the probe table
    when that ReLU is probed, else None, or :meth:`on_transparent`: a transparent module
    applied to the model input keeps it the model input). :meth:`finish` returns the stacks
    and, per probed row, why it is not covered.
    """

    def __init__(self, angle_of: Callable[[Any], float]) -> None:
        self._angle_of = angle_of
        self._inputs: list[weakref.ref[Any]] = []
        self._last: weakref.ref[Any] | None = None  # last output of the open chain
        self._open: _Open | None = None
        self._biased: weakref.ref[Any] | None = None  # output of a Linear with a bias
        self._done: list[_Open] = []
        self.reasons: dict[int, str] = {}

    def start(self, model_input: Any) -> None:
        """Record the model input (layer 0 of a stack that starts there)."""
        self._inputs = [weakref.ref(model_input)]

    def _is(self, ref: weakref.ref[Any] | None, tensor: Any) -> bool:
        return ref is not None and ref() is tensor

    def _close(self) -> None:
        if self._open is not None and self._open.members:
            self._done.append(self._open)
        self._open = None
        self._last = None

    def observe(
        self, role: Role, module: Any, inputs: tuple[Any, ...], output: Any, row: int | None
    ) -> None:
        """Record one call of a module of the given role (``row``: see :meth:`on_relu`)."""
        if role == RELU:
            self.on_relu(inputs, output, row)
        elif role == LINEAR:
            self.on_linear(module, inputs, output)
        elif role == TRANSPARENT:
            self.on_transparent(inputs, output)

    def on_transparent(self, inputs: tuple[Any, ...], output: Any) -> None:
        """Record a transparent module: applied to the model input, it keeps it the input."""
        if inputs and any(ref() is inputs[0] for ref in self._inputs):
            self._inputs.append(weakref.ref(output))

    def on_linear(self, module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        """Record a Linear call: continue the open chain or start a new one."""
        x = inputs[0] if inputs else None
        biased = has_bias(module)
        continues = (
            self._open is not None and self._open.pending is None and self._is(self._last, x)
        )
        if not continues:
            self._close()
        self._biased = None
        if biased or getattr(x, "ndim", 0) != 2:
            self._close()
            if biased:
                self._biased = weakref.ref(output)
            return
        if self._open is None:
            theta0 = self._angle_of(x)
            if not 0.0 < theta0 <= math.pi:
                return
            at_input = any(ref() is x for ref in self._inputs)
            self._open = _Open(theta0=theta0, at_input=at_input)
        self._open.pending = int(module.out_features)
        self._last = weakref.ref(output)

    def on_relu(self, inputs: tuple[Any, ...], output: Any, row: int | None) -> None:
        """Record a ReLU call; ``row`` is its index in the probe table if it is probed."""
        x = inputs[0] if inputs else None
        chain = self._open
        if chain is not None and chain.pending is not None and self._is(self._last, x):
            chain.widths.append(chain.pending)
            chain.pending = None
            if row is not None:
                chain.members.append((row, len(chain.widths)))
            self._last = weakref.ref(output)
            return
        if row is not None:
            biased = self._is(self._biased, x)
            self.reasons[row] = RELU_AFTER_BIAS if biased else RELU_NOT_AFTER_LINEAR
        self._close()

    def finish(self) -> list[_Open]:
        """Close the open chain and return every chain with at least one probed layer."""
        self._close()
        return list(self._done)


def build_overlay(
    chains: Sequence[_Open],
    names: Sequence[str],
    module_types: Sequence[str],
    measured: NDArray[np.float64],
    reasons: dict[int, str],
    input_row: int | None,
) -> TheoryOverlay:
    """Assemble the :class:`TheoryOverlay` of a probe from the chains a tracer found.

    Parameters
    ----------
    chains : sequence
        From :meth:`StackTracer.finish`.
    names, module_types : sequence of str
        Probed layer names and their module types, one per row.
    measured : ndarray, shape (n_rows,)
        Measured ln sin²θ per row.
    reasons : dict of int to str
        Why a probed ReLU row is not covered (from the tracer).
    input_row : int or None
        Row of the model input, covered as layer 0 by a stack starting at the model input.
    """
    n = len(names)
    mean, sd, low, high = (np.full(n, np.nan) for _ in range(4))
    status = [
        f"not covered: {reasons.get(i) or not_a_relu_after_linear(module_types[i])}"
        for i in range(n)
    ]
    stacks = []
    unpredicted: set[int] = set()  # rows of stacks the predictor refused
    for chain in chains:
        members = list(chain.members)
        if chain.at_input and input_row is not None and status[input_row] != COVERED:
            members.insert(0, (input_row, 0))
        try:
            pm, ps, pl, ph = predict_stack(chain.widths, chain.theta0)
        except DepthscopeError as err:  # an angle the predictor does not take (θ0 = π)
            reason = ANTIPODAL if chain.theta0 == math.pi else " ".join(str(err).split())
            for row, _ in members:
                status[row] = f"not covered: {reason}"
                unpredicted.add(row)
            continue
        for row, step in members:
            mean[row], sd[row], low[row], high[row] = pm[step], ps[step], pl[step], ph[step]
            status[row] = COVERED
        stacks.append(
            Stack(
                widths=tuple(chain.widths),
                theta0=chain.theta0,
                layers=tuple(names[row] for row, _ in members),
                steps=tuple(step for _, step in members),
            )
        )
    if input_row is not None and status[input_row] != COVERED and input_row not in unpredicted:
        status[input_row] = f"not covered: {INPUT_NOT_COVERED}"
    inside: list[bool | None] = []
    for i in range(n):
        if status[i] != COVERED or math.isnan(measured[i]):
            inside.append(None)
        else:
            if math.isinf(measured[i]):  # ln sin²θ0 = −∞ (antipodal inputs): a point mass
                inside.append(bool(measured[i] == low[i] == high[i]))
                continue
            slack = 1e-9 * (1.0 + abs(mean[i]))  # layer 0 is a point mass: allow rounding
            inside.append(bool(low[i] - slack <= measured[i] <= high[i] + slack))
    return TheoryOverlay(
        status=tuple(status),
        mean=mean,
        sd=sd,
        low=low,
        high=high,
        inside=tuple(inside),
        stacks=tuple(stacks),
    )
