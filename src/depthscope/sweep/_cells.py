"""One cell of a sweep: its key, its random stream and its computation (pure: no I/O).

A cell is one point of the grid (architecture, θ0, activation, σ_w, σ_b, q0, residual block,
predictor). Its key is a hash of its parameters (σ_w, q0 and the residual left out at their
defaults, so a spec written before they existed keeps its keys and numbers), and its random
stream is ``SeedSequence(seed, spawn_key=...)`` with a spawn key from the hash of its
*simulation* parameters: it never depends on the order in which cells are scheduled or on
the number of workers, so a serial run, a local cluster and a remote cluster give
bit-identical numbers. Cells that differ only in the predictor share their Monte Carlo sample
(common random numbers: their errors differ by the predictor alone).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from .._errors import DepthscopeError

__all__ = ["DEFAULTS", "LAYER_FIELDS", "Cell", "compute_cell", "oversized", "summarize"]

#: The network keywords added after the first sweeps, at the values that leave a cell unchanged.
DEFAULTS: dict[str, Any] = {"weight_std": math.sqrt(2.0), "q0": 1.0, "residual": "none"}

#: The per-layer arrays of a cell's result, each of length L+1 (layer 0 = inputs).
LAYER_FIELDS = ("mc_mean", "mc_sd", "mc_dead", "mc_collapsed", "pred_mean", "pred_sd")


@dataclass(frozen=True)
class Cell:
    """One point of a sweep's grid (canonical values, see :mod:`._spec`).

    Attributes
    ----------
    architecture : str
        Hidden widths, e.g. ``"64x20"``.
    theta0 : float
        Angle between the two inputs, radians in (0, π).
    activation : str
        φ as :func:`depthscope.simulate` names it (``"relu"``, ``"leaky:S"``, ``"tanh"``, ...).
    bias_std : float
        σ_b of the biases.
    method : str
        Predictor of :func:`depthscope.predict`.
    networks : int
        Networks simulated.
    weight_std : float
        σ_w of the weights (default √2, He).
    q0 : float
        The inputs' squared norm per coordinate.
    residual : str
        ``"none"`` (plain layers) or ``"block:ALPHA"``.
    """

    architecture: str
    theta0: float
    activation: str
    bias_std: float
    method: str
    networks: int
    weight_std: float = DEFAULTS["weight_std"]
    q0: float = DEFAULTS["q0"]
    residual: str = DEFAULTS["residual"]

    def parameters(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dictionary, in the order of the grid's axes."""
        values = asdict(self)
        order = ("architecture", "theta0", "activation", "weight_std", "bias_std", "q0")
        return {k: values[k] for k in (*order, "residual", "method", "networks")}

    def network(self) -> dict[str, Any]:
        """Return the network keywords of ``simulate``/``predict`` (σ_w, q0, residual if set)."""
        out: dict[str, Any] = {"activation": self.activation, "bias_std": self.bias_std}
        if self.weight_std != DEFAULTS["weight_std"]:
            out["weight_std"] = self.weight_std
        if self.q0 != DEFAULTS["q0"]:
            out["q0"] = self.q0
        if self.residual != DEFAULTS["residual"]:
            out["residual"] = self.residual
        return out

    def _identity(self) -> dict[str, Any]:
        """Return the parameters that name the cell: later keywords only where not default."""
        values = self.parameters()
        return {k: v for k, v in values.items() if k not in DEFAULTS or v != DEFAULTS[k]}

    @property
    def key(self) -> str:
        """A 16-hex-digit hash of every parameter: the cell's name in the store."""
        return _digest(self._identity())[:16]

    @property
    def spawn_key(self) -> tuple[int, ...]:
        """Four 32-bit integers hashed from the simulation parameters (not the predictor)."""
        simulation = {k: v for k, v in self._identity().items() if k != "method"}
        digest = bytes.fromhex(_digest(simulation))
        return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))

    def seed_sequence(self, seed: int) -> np.random.SeedSequence:
        """Return the cell's root stream ``SeedSequence(seed, spawn_key=self.spawn_key)``."""
        return np.random.SeedSequence(seed, spawn_key=self.spawn_key)

    def label(self, axes: list[str]) -> str:
        """Return ``axis=value`` for the given axes, e.g. ``theta0=0.5 method=markov``."""
        values = self.parameters()
        return " ".join(
            f"{a}={values[a]:g}" if isinstance(values[a], float) else f"{a}={values[a]}"
            for a in axes
        )


def _digest(values: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``values`` (sorted keys, floats by repr)."""
    text = json.dumps(values, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def oversized(cells: Sequence[Cell]) -> list[tuple[Cell, int, int, str]]:
    """Return the cells whose simulation cannot fit in memory, checked without allocating.

    Each cell's arguments go through the checks :func:`compute_cell`'s ``simulate`` call runs
    before its first chunk: :func:`~depthscope.simulation._plan.make_plan` with ``simulate``'s
    own defaults, and :func:`~depthscope.simulation._plan.memory_shortfall` (what
    ``chunk_size`` refuses) under ``simulate``'s default ``memory_budget``.

    Returns
    -------
    list of (Cell, int, int, str)
        ``(cell, need, limit, name)`` per oversized cell, in the order of ``cells``: bytes
        needed one network at a time, bytes of the limit and its name.
    """
    from ..simulation._simulate import simulate

    defaults = simulate.__kwdefaults__ or {}
    shortfalls: dict[tuple[Any, ...], tuple[int, int, str] | None] = {}
    out = []
    for cell in cells:
        network = cell.network()
        # θ0 enters the estimate only as "two inputs" and the predictor not at all: cells that
        # differ in them alone share one check.
        key = (cell.architecture, cell.networks, *sorted(network.items()))
        if key not in shortfalls:
            shortfalls[key] = _shortfall(cell, {**defaults, "n_networks": cell.networks, **network})
        shortfall = shortfalls[key]
        if shortfall is not None:
            out.append((cell, *shortfall))
    return out


def _shortfall(cell: Cell, options: dict[str, Any]) -> tuple[int, int, str] | None:
    """``memory_shortfall`` of ``simulate(cell.architecture, cell.theta0, **options)``."""
    from ..simulation._plan import make_plan, memory_shortfall

    try:
        plan = make_plan(
            cell.architecture,
            cell.theta0,
            options["inputs"],
            **{k: options[k] for k in _PLAN_KEYWORDS},
        )
    except DepthscopeError:  # any other refusal is the cell's own failure, when it runs
        return None
    return memory_shortfall(plan, options["memory_budget"])


#: The keywords of ``simulate`` that :func:`~depthscope.simulation._plan.make_plan` checks.
_PLAN_KEYWORDS = (
    "n_networks",
    "sampler",
    "init",
    "activation",
    "bias_std",
    "input_dim",
    "tolerance",
    "weight_std",
    "q0",
    "residual",
)


def compute_cell(cell: Cell, seed: int) -> dict[str, Any]:
    """Simulate and predict one cell; return its per-layer arrays and last-layer KS distance.

    Parameters
    ----------
    cell : Cell
        The cell.
    seed : int
        Root seed of the sweep.

    Returns
    -------
    dict
        ``LAYER_FIELDS`` as float lists of length L+1 (NaN where undefined: a layer where no
        network has a finite angle) and ``ks``: the Kolmogorov-Smirnov distance between the
        predicted CDF (:meth:`depthscope.Prediction.cdf`) and the ``mc_used`` finite values
        of ln sin²θ at the last layer (NaN when there are none); ``warnings``: the messages
        of the warnings raised meanwhile (e.g. a predictor outside its calibrated domain),
        recorded instead of printed by a worker.
    """
    from ..simulation._simulate import simulate
    from ..theory._predict import predict

    generator = np.random.Generator(np.random.PCG64(cell.seed_sequence(seed)))
    with warnings.catch_warnings(record=True) as caught:  # kept with the result, not printed
        warnings.simplefilter("always")
        result = simulate(
            cell.architecture,
            cell.theta0,
            n_networks=cell.networks,
            rng=generator,
            **cell.network(),
        )
        # The same network as simulated: a method that does not model it (e.g. "lattice" for
        # tanh) refuses with an error the report lists, never a ReLU answer.
        prediction = predict(
            cell.architecture,
            cell.theta0,
            method=cell.method,
            **cell.network(),
        )
    summary = result.summary()
    assert result.ln_sin2 is not None  # two inputs
    last = result.ln_sin2[-1]
    sample = last[np.isfinite(last)]
    ks = math.nan
    if sample.size:
        depth = len(prediction.mean) - 1
        ks = float(stats.kstest(sample, lambda x: prediction.cdf(depth, x)).statistic)
    return {
        "mc_mean": _floats(summary["mean"]),
        "mc_sd": _floats(summary["sd"]),
        "mc_dead": _floats(summary["dead_fraction"]),
        "mc_collapsed": _floats(summary["collapsed_fraction"]),
        "pred_mean": _floats(prediction.mean),
        "pred_sd": _floats(prediction.sd),
        "ks": ks,
        "mc_used": int(sample.size),
        "warnings": sorted({str(w.message) for w in caught}),
    }


def _floats(values: Any) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def summarize(cell: Cell, result: dict[str, Any]) -> dict[str, Any]:
    """Return the last-layer row of a cell (the columns of ``results.csv`` after the cell's)."""
    row = {name: result[name][-1] for name in LAYER_FIELDS}
    return {
        **row,
        "error_mean": row["pred_mean"] - row["mc_mean"],
        "error_sd": row["pred_sd"] - row["mc_sd"],
        "ks": result["ks"],
        "mc_used": result["mc_used"],
        "warnings": "; ".join(result.get("warnings", [])),
    }
