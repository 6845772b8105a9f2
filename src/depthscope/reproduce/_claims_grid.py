"""The measurement grid of the claims check: its configurations, their inputs and their runs.

:class:`ClaimsConfig` holds the grid; :func:`claims_grid` lists its configurations (widths,
batch sizes, variants, input kinds); :func:`measure_configuration` simulates one with
:func:`depthscope.simulation._simulate.simulate`, seeded from its name, and reduces it with
:func:`._verdicts.summarize_configuration`; :func:`measure` runs them all through the sweep
engine (serially, on a local Dask cluster or on a scheduler), with the same numbers on each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ..simulation._simulate import simulate
from ..sweep._engine import label_seed, open_client, run_tasks, single_threaded_blas
from ._verdicts import CURVE_METRICS, configuration_key, summarize_configuration

__all__ = [
    "COLLINEAR_NOISE",
    "INPUT_KINDS",
    "STORED_METRICS",
    "VARIANTS",
    "ClaimsConfig",
    "claims_grid",
    "make_inputs",
    "measure",
    "measure_configuration",
    "rank_deficient_dim",
]

#: The variants of the spec: simulator settings of each.
VARIANTS: dict[str, dict[str, Any]] = {
    "relu_he": {"sampler": "gram", "init": "gaussian", "activation": "relu"},
    "bias": {"sampler": "gram", "init": "gaussian", "activation": "relu", "bias": True},
    "orthogonal": {"sampler": "dense", "init": "orthogonal", "activation": "relu"},
    "leaky_0.01": {"sampler": "gram", "init": "gaussian", "activation": "leaky:0.01"},
    "leaky_0.5": {"sampler": "gram", "init": "gaussian", "activation": "leaky:0.5"},
    "leaky_-0.5": {"sampler": "gram", "init": "gaussian", "activation": "leaky:-0.5"},
    "leaky_-1": {"sampler": "gram", "init": "gaussian", "activation": "leaky:-1"},
}
INPUT_KINDS = ("gaussian", "collinear", "rank_deficient")
#: Noise of the nearly collinear inputs x_j = v + COLLINEAR_NOISE ξ_j.
COLLINEAR_NOISE = 0.01
#: Stored per layer for every configuration (the curve metrics and the diagnostics).
STORED_METRICS = (
    *CURVE_METRICS,
    "participation_ratio",
    "stable_rank",
    "mean_cosine",
    "active_fraction",
    "mask_rank",
)


@dataclass(frozen=True)
class ClaimsConfig:
    """The measurement grid.

    Attributes
    ----------
    widths, batch_sizes : tuple of int
        n (every hidden layer and the input dimension n_0) and m.
    depth : int
        Number of layers L.
    networks : dict of int to int
        Networks per configuration, by width (ReLU/leaky/bias variants, Gram chain).
    orthogonal_networks : dict of int to int
        Networks per orthogonal configuration, by width (dense sampler: QR of an n×n matrix
        per layer); 0 skips.
    orthogonal_gaussian_only : tuple of int
        Widths at which the orthogonal variant is run with Gaussian inputs only (cost).
    bias_std : float
        σ_b of the "bias" variant (inputs have unit-variance entries).
    tolerance : float
        Relative tolerance τ of the numerical rank.
    rank_deficient_dim : callable name
        The rank-deficient inputs span max(1, m // 4) dimensions.
    seed : int
        Root seed.
    quick : bool
        Whether this is the quick grid (recorded in the manifest).
    """

    widths: tuple[int, ...] = (64, 256, 1024)
    batch_sizes: tuple[int, ...] = (4, 16, 64)
    depth: int = 50
    networks: dict[int, int] = field(default_factory=lambda: {64: 100, 256: 40, 1024: 10})
    orthogonal_networks: dict[int, int] = field(default_factory=lambda: {64: 40, 256: 10, 1024: 3})
    orthogonal_gaussian_only: tuple[int, ...] = (1024,)
    bias_std: float = 0.1
    tolerance: float = 1e-3
    seed: int = 0
    quick: bool = False

    @classmethod
    def quick_grid(cls, seed: int = 0) -> ClaimsConfig:
        """Return a grid that runs in well under a minute: n ∈ {64, 256}, m ∈ {4, 16}."""
        return cls(
            widths=(64, 256),
            batch_sizes=(4, 16),
            networks={64: 30, 256: 12},
            orthogonal_networks={64: 10, 256: 4},
            orthogonal_gaussian_only=(256,),
            seed=seed,
            quick=True,
        )

    def with_networks(self, networks: int) -> ClaimsConfig:
        """Return the same grid with ``networks`` networks in every configuration."""
        if networks < 2:
            raise DepthscopeError(f"--networks {networks} must be at least 2.")
        return replace(
            self,
            networks=dict.fromkeys(self.widths, networks),
            orthogonal_networks=dict.fromkeys(self.widths, networks),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        out = asdict(self)
        out["networks"] = {str(k): v for k, v in self.networks.items()}
        out["orthogonal_networks"] = {str(k): v for k, v in self.orthogonal_networks.items()}
        out["variants"] = VARIANTS
        out["input_kinds"] = list(INPUT_KINDS)
        out["collinear_noise"] = COLLINEAR_NOISE
        out["dtype"] = "float64 (thin QR, then SVD of R)"
        return out


def rank_deficient_dim(m: int) -> int:
    """Dimension spanned by the m rank-deficient inputs: max(1, m // 4)."""
    return max(1, m // 4)


def claims_grid(config: ClaimsConfig) -> list[dict[str, Any]]:
    """List the configurations: dicts of ``variant``, ``inputs``, ``n``, ``m``, ``networks``."""
    grid = []
    for n in config.widths:
        for m in config.batch_sizes:
            if m > n:
                continue
            for variant in VARIANTS:
                for kind in INPUT_KINDS:
                    if variant == "orthogonal":
                        networks = config.orthogonal_networks.get(n, 0)
                        if n in config.orthogonal_gaussian_only and kind != "gaussian":
                            continue
                    else:
                        networks = config.networks.get(n, 0)
                    if networks >= 2:
                        grid.append(
                            {
                                "variant": variant,
                                "inputs": kind,
                                "n": n,
                                "m": m,
                                "networks": networks,
                            }
                        )
    return grid


def make_inputs(kind: str, m: int, dim: int, rng: np.random.Generator) -> NDArray[np.float64] | int:
    """Return the batch of an input kind: m (Gaussian, drawn per network) or a fixed (m, dim) array.

    ``collinear``: x_j = v + 0.01 ξ_j with v, ξ_j ~ N(0, I). ``rank_deficient``: m Gaussian
    points in a random subspace of dimension :func:`rank_deficient_dim`.
    """
    if kind == "gaussian":
        return m
    if kind == "collinear":
        v = rng.standard_normal(dim)
        return np.asarray(v + COLLINEAR_NOISE * rng.standard_normal((m, dim)))
    if kind == "rank_deficient":
        k = rank_deficient_dim(m)
        return np.asarray(
            rng.standard_normal((m, k)) @ rng.standard_normal((k, dim)) / math.sqrt(k)
        )
    raise DepthscopeError(f"unknown input kind {kind!r}; choose one of {INPUT_KINDS}.")


def measure_configuration(config: ClaimsConfig, label: dict[str, Any]) -> dict[str, Any]:
    """Simulate one configuration of the grid and summarise it (pure: the same bits anywhere).

    Its random stream is :func:`~depthscope.sweep._engine.label_seed` of the root seed and its
    :func:`~._verdicts.configuration_key` (``relu_he/gaussian/n=64/m=4``): inputs from the first
    child, networks from the second. It depends on the configuration alone, never on the grid
    around it or the order of execution; BLAS runs on one thread (same bits in this process and
    on a Dask worker).
    """
    input_seq, net_seq = label_seed(config.seed, configuration_key(label)).spawn(2)
    spec = VARIANTS[label["variant"]]
    n, m = label["n"], label["m"]
    with single_threaded_blas():
        result = simulate(
            [n] * config.depth,
            inputs=make_inputs(label["inputs"], m, n, np.random.default_rng(input_seq)),
            input_dim=n,
            n_networks=label["networks"],
            rng=np.random.default_rng(net_seq),
            sampler=spec["sampler"],
            init=spec["init"],
            activation=spec["activation"],
            bias_std=config.bias_std if spec.get("bias") else 0.0,
            tolerance=config.tolerance,
        )
    panel = {name: result.panel[name] for name in STORED_METRICS}
    summary = summarize_configuration(label, panel)
    summary["dead_fraction_max"] = float(result.dead_fraction.max())
    return summary


def measure(
    config: ClaimsConfig,
    *,
    workers: int | None = 0,
    scheduler: str | None = None,
    on_config: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure every configuration of the grid (:func:`measure_configuration`), in grid order.

    Parameters
    ----------
    config : ClaimsConfig
    workers : int, optional
        0 (default): in this process; otherwise the worker processes of a local Dask cluster
        (None: the machine's cores). The results do not depend on it.
    scheduler : str, optional
        Address of a running Dask scheduler; ``workers`` is then ignored.
    on_config : callable, optional
        ``on_config(done, total, label)`` as each configuration finishes (in any order).

    Raises
    ------
    DepthscopeError
        If a configuration fails on every attempt (raised once the others have finished).
    """
    grid = claims_grid(config)
    tasks = {configuration_key(label): (config, label) for label in grid}
    found: dict[str, dict[str, Any]] = {}
    failures: list[str] = []

    def keep(key: str, summary: dict[str, Any]) -> None:
        found[key] = summary
        if on_config is not None:
            on_config(len(found), len(tasks), tasks[key][1])

    with open_client(workers, scheduler) as client:
        run_tasks(
            measure_configuration,
            tasks,
            client=client,
            on_result=keep,
            on_error=lambda key, message: failures.append(f"{key}: {message}"),
        )
    if failures:
        raise DepthscopeError(
            f"{len(failures)} claims configuration(s) failed: " + "; ".join(failures[:3])
        )
    return [found[key] for key in tasks]
