"""The result of :func:`depthscope.simulate`: per-layer, per-network arrays and their summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._architecture import format_architecture
from ._metrics import PANEL_METRICS, nan_mean_sd

__all__ = ["SimulationResult"]


def _jsonable(values: NDArray[np.float64]) -> list[float | None]:
    """Return a list of floats with NaN and ±inf written as None (JSON has neither)."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


@dataclass(frozen=True)
class SimulationResult:
    """Per-layer, per-network measurements of a Monte Carlo simulation.

    Layer 0 is the input; layer ℓ = 1..L the post-activations of hidden layer ℓ. Arrays have
    one column per network, in the order of their random streams (network j uses stream j).

    Attributes
    ----------
    widths : tuple of int
        Hidden widths n_1, ..., n_L.
    n_networks : int
        Number of simulated networks N.
    ln_sin2 : ndarray, shape (L+1, N), or None
        Two inputs: ln sin²θ_ℓ of the angle between the post-activations (natural log,
        dimensionless). NaN exactly where ``dead`` is True (the angle is undefined);
        ``-inf`` where sin²θ = 0 exactly: parallel representations (θ₀ = 0, or a narrow layer
        left one active unit) or antiparallel ones (θ₀ = π; an odd φ without biases keeps
        them antiparallel): see ``collapsed_fraction``. None for m inputs.
    dead : ndarray of bool, shape (L+1, N)
        True where every unit of the layer is inactive for at least one input, so that its
        representation is zero (for two inputs: the angle is undefined).
    panel : mapping of str to ndarray, shape (L+1, N)
        m inputs: one array per name of :data:`~depthscope.simulation._metrics.PANEL_METRICS`
        (ranks as
        floats; row 0 is the inputs, whose ``active_fraction`` and ``mask_rank`` are NaN).
        Empty for two inputs.
    n_inputs : int
        2 for an angle, m for a batch.
    theta0 : float or None
        Angle between the two inputs (radians), or None for a batch.
    input_dim : int or None
        n_0 where it enters the simulation (dense sampler, m inputs); None for the two-input
        Gram chain, which does not depend on it.
    inputs : ndarray or None
        The fixed inputs (m, n_0) if they were given; None if drawn per network.
    sampler, init, activation : str
        ``"gram"`` or ``"dense"``; the weight initialization; ``"relu"`` or ``"leaky:SLOPE"``.
    bias_std : float
        Standard deviation σ_b of the biases.
    weight_std, q0 : float
        σ_w (weights N(0, σ_w²/fan_in)) and the inputs' ‖x‖²/n₀.
    residual : str or None
        ``"block:ALPHA"`` for residual blocks, None for plain layers.
    tolerance : float
        Relative tolerance τ of the numerical rank.
    device : str
        ``"cpu"`` (numpy) or the torch device used.
    seed : int
        Entropy of the root ``numpy.random.SeedSequence``; with ``spawn_key`` it identifies
        every network's stream.
    spawn_key : tuple of int
        Spawn key of the root sequence (empty unless ``rng`` was a Generator).

    Examples
    --------
    >>> import depthscope as ds
    >>> res = ds.simulate([64] * 5, theta0=0.3, n_networks=200, rng=0)
    >>> res.ln_sin2.shape
    (6, 200)
    """

    widths: tuple[int, ...]
    n_networks: int
    ln_sin2: NDArray[np.float64] | None
    dead: NDArray[np.bool_]
    panel: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    n_inputs: int = 2
    theta0: float | None = None
    input_dim: int | None = None
    inputs: NDArray[np.float64] | None = None
    sampler: str = "gram"
    init: str = "gaussian"
    activation: str = "relu"
    bias_std: float = 0.0
    tolerance: float = 1e-3
    weight_std: float = math.sqrt(2.0)
    q0: float = 1.0
    residual: str | None = None
    device: str = "cpu"
    seed: int | tuple[int, ...] = 0
    spawn_key: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if (self.ln_sin2 is None) == (not self.panel):
            raise ValueError("a SimulationResult holds either ln_sin2 (two inputs) or a panel.")

    @property
    def measures(self) -> dict[str, NDArray[np.float64]]:
        """The per-layer, per-network measurements by name: ``ln_sin2``, or the panel's metrics."""
        if self.ln_sin2 is not None:
            return {"ln_sin2": self.ln_sin2}
        return dict(self.panel)

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.widths)

    @property
    def dead_fraction(self) -> NDArray[np.float64]:
        """Fraction of networks whose layer ℓ is dead, shape (L+1,)."""
        return np.asarray(self.dead.mean(axis=1), dtype=np.float64)

    @property
    def nonfinite_fraction(self) -> NDArray[np.float64]:
        """Fraction of networks whose layer ℓ overflowed, shape (L+1,).

        Two inputs: a NaN angle that is not dead; a panel: a NaN entropy effective rank that
        is not dead (it is NaN only for an all-zero matrix, or beyond float64's range). Zero
        inside the stated ranges of the inputs and ``bias_std``; counted, never dropped.
        """
        values = self.ln_sin2 if self.ln_sin2 is not None else self.panel["erank"]
        return np.asarray((np.isnan(values) & ~self.dead).mean(axis=1), dtype=np.float64)

    @property
    def collapsed_fraction(self) -> NDArray[np.float64]:
        """Fraction of networks with sin²θ = 0 exactly (θ = 0 or π), shape (L+1,).

        Narrow ReLU layers can leave a single active unit, which makes the two representations
        parallel; ln sin²θ is then −inf (and stays so without bias). Antipodal inputs (θ₀ = π)
        count at layer 0, and later where the representations stay exactly antiparallel (odd
        φ without biases, up to rounding).
        """
        if self.ln_sin2 is None:
            return np.zeros(self.depth + 1)
        return np.asarray(np.isneginf(self.ln_sin2).mean(axis=1), dtype=np.float64)

    def configuration(self) -> dict[str, Any]:
        """Return the arguments that reproduce this result with :func:`simulate` (JSON-ready).

        ``weight_std``, ``q0`` and ``residual`` are listed only where they differ from their
        defaults (√2, 1 and None), so that the configuration of a ReLU MLP is unchanged.
        """
        beyond: dict[str, Any] = {}
        if self.weight_std != math.sqrt(2.0):
            beyond["weight_std"] = self.weight_std
        if self.q0 != 1.0:
            beyond["q0"] = self.q0
        if self.residual is not None:
            beyond["residual"] = self.residual
        return {
            "architecture": format_architecture(self.widths),
            "widths": list(self.widths),
            "n_networks": self.n_networks,
            "theta0": self.theta0,
            "n_inputs": self.n_inputs,
            "inputs": "given"
            if self.inputs is not None
            else ("gaussian" if self.theta0 is None else None),
            "input_dim": self.input_dim,
            "sampler": self.sampler,
            "init": self.init,
            "activation": self.activation,
            "bias_std": self.bias_std,
            "tolerance": self.tolerance,
            "device": self.device,
            "dtype": "float64",
            "seed": self.seed,
            "spawn_key": list(self.spawn_key),
        } | beyond

    def summary(self) -> dict[str, Any]:
        """Per-layer mean and sample sd over networks, as JSON-ready lists of length L+1.

        Two inputs: ``layers``, ``mean``, ``sd`` (of ln sin²θ over the networks where it is
        finite: neither dead nor collapsed), their number ``n_used``, ``dead_fraction`` and
        ``collapsed_fraction``. m inputs: ``layers``, ``tolerance``,
        ``dead_fraction`` and, for each panel metric, ``{"mean": [...], "sd": [...]}``.
        NaN and infinite values are written as None.
        """
        out: dict[str, Any] = {"layers": list(range(self.depth + 1))}
        if self.ln_sin2 is not None:
            return out | self._angle_summary(self.ln_sin2)
        for name in PANEL_METRICS:
            mean, sd = nan_mean_sd(self.panel[name])
            out[name] = {"mean": _jsonable(mean), "sd": _jsonable(sd)}
        out["tolerance"] = self.tolerance
        out["dead_fraction"] = _jsonable(self.dead_fraction)
        return out

    def _angle_summary(self, ln_sin2: NDArray[np.float64]) -> dict[str, Any]:
        mean, sd = nan_mean_sd(ln_sin2)
        return {
            "mean": _jsonable(mean),
            "sd": _jsonable(sd),
            "dead_fraction": _jsonable(self.dead_fraction),
            "collapsed_fraction": _jsonable(self.collapsed_fraction),
            "n_used": [int(v) for v in np.isfinite(ln_sin2).sum(axis=1)],
        }

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Return the per-network arrays by name (``dead``, :attr:`measures`, given ``inputs``)."""
        out: dict[str, NDArray[Any]] = {"dead": self.dead, **self.measures}
        if self.inputs is not None:
            out["inputs"] = self.inputs
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return configuration and summary as one JSON-ready dictionary (no per-network arrays)."""
        return {"configuration": self.configuration(), "summary": self.summary()}
