"""Monte Carlo simulation of random fully connected networks: :func:`simulate`.

The public entry point validates its arguments, normalises the random-number generator once,
gives every network its own stream, chunks the networks under a memory budget and collects
the per-layer, per-network measurements into a frozen :class:`SimulationResult`. The samplers
themselves live in :mod:`depthscope.simulation._samplers` (numpy) and
:mod:`depthscope.simulation._torch_backend`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._architecture import format_architecture, parse_architecture
from .._errors import DepthscopeError, check_theta
from ._metrics import PANEL_METRICS, ln_sin2_from_gram
from ._samplers import (
    INITS,
    dense_batch,
    dense_pair,
    format_activation,
    gram_batch,
    gram_pair,
    parse_activation,
)

__all__ = ["DEFAULT_MEMORY_BUDGET", "SimulationResult", "simulate"]

#: Default memory budget of :func:`simulate`, in bytes (1 GiB).
DEFAULT_MEMORY_BUDGET = 2**30

ProgressCallback = Callable[[int, int], None]
SAMPLERS = ("gram", "dense")


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------
def _mean_sd(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and sample sd over networks (axis 1) of the finite entries of each layer."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    filled = np.where(finite, values, 0.0)
    mean = np.divide(filled.sum(axis=1), count, out=np.full(count.shape, np.nan), where=count > 0)
    squares = np.where(finite, values - mean[:, None], 0.0) ** 2
    sd = np.sqrt(
        np.divide(squares.sum(axis=1), count - 1, out=np.full(count.shape, np.nan), where=count > 1)
    )
    return mean, sd


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
        ``-inf`` where the two representations are exactly parallel (θ₀ = 0, or a narrow layer
        left one active unit: see ``collapsed_fraction``). None for m inputs.
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
    >>> import depthscope as ds  # doctest: +SKIP
    >>> res = simulate([64] * 5, theta0=0.3, n_networks=200, rng=0)
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
    device: str = "cpu"
    seed: int | tuple[int, ...] = 0
    spawn_key: tuple[int, ...] = ()

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.widths)

    @property
    def dead_fraction(self) -> NDArray[np.float64]:
        """Fraction of networks whose layer ℓ is dead, shape (L+1,)."""
        return np.asarray(self.dead.mean(axis=1), dtype=np.float64)

    @property
    def collapsed_fraction(self) -> NDArray[np.float64]:
        """Fraction of networks whose two representations are exactly parallel (θ = 0), (L+1,).

        Narrow ReLU layers can leave a single active unit, which makes the two representations
        parallel; ln sin²θ is then −inf (and stays so without bias).
        """
        if self.ln_sin2 is None:
            return np.zeros(self.depth + 1)
        return np.asarray(np.isneginf(self.ln_sin2).mean(axis=1), dtype=np.float64)

    def configuration(self) -> dict[str, Any]:
        """Return the arguments that reproduce this result with :func:`simulate` (JSON-ready)."""
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
        }

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
            mean, sd = _mean_sd(self.ln_sin2)
            out["mean"] = _jsonable(mean)
            out["sd"] = _jsonable(sd)
            out["dead_fraction"] = _jsonable(self.dead_fraction)
            out["collapsed_fraction"] = _jsonable(self.collapsed_fraction)
            out["n_used"] = [int(v) for v in np.isfinite(self.ln_sin2).sum(axis=1)]
            return out
        for name in PANEL_METRICS:
            mean, sd = _mean_sd(self.panel[name])
            out[name] = {"mean": _jsonable(mean), "sd": _jsonable(sd)}
        out["tolerance"] = self.tolerance
        out["dead_fraction"] = _jsonable(self.dead_fraction)
        return out

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Return the per-network arrays by name (``ln_sin2`` or the panel, and ``dead``)."""
        out: dict[str, NDArray[Any]] = {"dead": self.dead}
        if self.ln_sin2 is not None:
            out["ln_sin2"] = self.ln_sin2
        out.update(self.panel)
        if self.inputs is not None:
            out["inputs"] = self.inputs
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return configuration and summary as one JSON-ready dictionary (no per-network arrays)."""
        return {"configuration": self.configuration(), "summary": self.summary()}


# --------------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------------
def _root_sequence(rng: np.random.Generator | int | None) -> np.random.SeedSequence:
    """One root SeedSequence: fresh for an int or None, a spawned child for a Generator."""
    generator = np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        generator = generator.spawn(1)[0]
    seq = generator.bit_generator.seed_seq
    if not isinstance(seq, np.random.SeedSequence):  # pragma: no cover - custom bit generators
        raise DepthscopeError("rng must be seeded from a numpy SeedSequence (the default).")
    return seq


def network_streams(
    root: np.random.SeedSequence, start: int, stop: int
) -> list[np.random.Generator]:
    """Return independent generators of networks ``start..stop-1`` (child j of ``root``).

    Child j is ``SeedSequence(root.entropy, spawn_key=root.spawn_key + (j,))``, the same
    sequence as ``root.spawn(...)[j]`` but without mutating ``root``.
    """
    return [
        np.random.Generator(
            np.random.PCG64(
                np.random.SeedSequence(
                    root.entropy, spawn_key=(*root.spawn_key, j), pool_size=root.pool_size
                )
            )
        )
        for j in range(start, stop)
    ]


def _read_inputs(inputs: ArrayLike | str | os.PathLike[str]) -> NDArray[np.float64]:
    if isinstance(inputs, (str, os.PathLike)):
        try:
            loaded = np.load(inputs, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DepthscopeError(f"cannot read inputs from {os.fspath(inputs)!r}: {err}") from None
        if not isinstance(loaded, np.ndarray):
            loaded.close()
            raise DepthscopeError(
                f"inputs file {os.fspath(inputs)!r} must hold one array (.npy), not an archive."
            )
        inputs = loaded
    try:
        arr = np.array(inputs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DepthscopeError(f"cannot read inputs as numbers: {err}") from None
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise DepthscopeError(
            f"inputs must be an (m, input_dim) array with m ≥ 2 rows, got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise DepthscopeError("inputs contain NaN or infinite values.")
    return arr


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    try:
        number = int(value)
        exact = float(value) == number
    except (TypeError, ValueError):
        exact = False
    if not exact or number < minimum:
        raise DepthscopeError(f"{name} = {value!r} must be an integer ≥ {minimum}.")
    return number


@dataclass(frozen=True)
class _Plan:
    """Validated arguments of one simulation."""

    widths: tuple[int, ...]
    n_networks: int
    theta0: float | None
    n_inputs: int
    inputs: NDArray[np.float64] | None
    input_dim: int | None
    sampler: str
    init: str
    slope: float
    bias_std: float
    tolerance: float

    @property
    def pair(self) -> bool:
        """True for two inputs at an angle (``theta0``), False for a batch of inputs."""
        return self.theta0 is not None


def _plan(
    widths: str | Sequence[int],
    theta0: float | None,
    inputs: int | ArrayLike | str | os.PathLike[str] | None,
    n_networks: int,
    sampler: str,
    init: str,
    activation: str | float,
    bias_std: float,
    input_dim: int | None,
    tolerance: float,
) -> _Plan:
    arch = parse_architecture(widths)
    n_networks = _positive_int(n_networks, "n_networks")
    if sampler not in SAMPLERS:
        raise DepthscopeError(f"unknown sampler {sampler!r}; choose 'gram' or 'dense'.")
    if init not in INITS:
        raise DepthscopeError(f"unknown init {init!r}; choose one of {', '.join(INITS)}.")
    if sampler == "gram" and init != "gaussian":
        raise DepthscopeError(
            f"the Gram chain is exact only for Gaussian weights; init={init!r} needs "
            "sampler='dense'."
        )
    slope = parse_activation(activation)
    bias_std = float(bias_std)
    if not (math.isfinite(bias_std) and bias_std >= 0.0):
        raise DepthscopeError(f"bias_std = {bias_std!r} must be a finite number ≥ 0.")
    tolerance = float(tolerance)
    if not 0.0 < tolerance < 1.0:
        raise DepthscopeError(f"tolerance = {tolerance!r} must be in (0, 1).")
    if input_dim is not None:
        input_dim = _positive_int(input_dim, "input_dim")
    if (theta0 is None) == (inputs is None):
        raise DepthscopeError("give exactly one of theta0 (two inputs) and inputs (a batch).")
    fixed: NDArray[np.float64] | None = None
    if theta0 is not None:
        theta0 = float(check_theta(theta0, "theta0"))
        n_inputs = 2
        if sampler == "dense":
            input_dim = input_dim if input_dim is not None else arch[0]
            if input_dim < 2:
                raise DepthscopeError("two inputs at an angle need input_dim ≥ 2.")
    elif isinstance(inputs, (int, np.integer)) and not isinstance(inputs, bool):
        n_inputs = _positive_int(inputs, "inputs (number of Gaussian inputs)", minimum=2)
        input_dim = input_dim if input_dim is not None else arch[0]
    else:
        fixed = _read_inputs(inputs)  # type: ignore[arg-type]
        n_inputs = fixed.shape[0]
        if input_dim is not None and input_dim != fixed.shape[1]:
            raise DepthscopeError(
                f"input_dim = {input_dim} disagrees with the inputs' dimension {fixed.shape[1]}."
            )
        input_dim = fixed.shape[1]
    return _Plan(
        arch,
        n_networks,
        theta0,
        n_inputs,
        fixed,
        input_dim,
        sampler,
        init,
        slope,
        bias_std,
        tolerance,
    )


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------
_PAIR_CACHE_ELEMENTS = 2**14  # two-input chunks of ~16k units per array stay in cache
_BATCH_CHUNK_BYTES = 2**25  # batch chunks of ~32 MiB per array


def _memory(plan: _Plan) -> tuple[int, int, int]:
    """Bytes (fixed, per network in a chunk, preferred chunk size) of a simulation plan.

    Estimates count the float64 arrays each sampler holds at its peak: the two-input Gram
    chain keeps 2 Σn_ℓ normals per network plus three layer-sized work arrays; the batch
    samplers a few m × n_ℓ arrays per network; the dense samplers one weight matrix (with its
    QR work for orthogonal weights) at a time.
    """
    widths = plan.widths
    fans = [plan.input_dim or 2, *widths]
    widest = max(widths)
    layers = len(widths) + 1
    total = sum(widths)
    outputs = layers * plan.n_networks * (8 * (1 if plan.pair else len(PANEL_METRICS)) + 1)
    if plan.sampler == "dense":
        weights = 8 * max(n * f for n, f in zip(widths, fans, strict=False))
        fixed = outputs + 3 * weights
    else:
        fixed = outputs + 20 * widest + 20 * total
    if plan.pair:
        per_network = 16 * total + 48 * widest + 64 * layers
        preferred = max(1, _PAIR_CACHE_ELEMENTS // widest)
    else:
        m = plan.n_inputs
        rows = [min(m, f) + 1 for f in fans[:-1]]
        sizes = zip(rows, widths, strict=True)
        layer_bytes = max(8 * (r * n + 4 * m * n) + m * n for r, n in sizes)
        per_network = layer_bytes + 8 * m * (fans[0] + 2 * m) + 8 * len(PANEL_METRICS) * layers
        preferred = max(1, _BATCH_CHUNK_BYTES // (8 * m * widest))
    return fixed, per_network, preferred


def _physical_memory() -> int | None:
    """Total physical memory in bytes, where the platform says; None elsewhere."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def _chunk_size(plan: _Plan, memory_budget: int, *, cache_sized: bool = True) -> int:
    """Networks per chunk: within the budget and, on the CPU, small enough to stay in cache.

    On a GPU (``cache_sized=False``) the chunk is as large as the budget allows: the device
    wants wide batches, and every chunk costs kernel launches and host transfers.
    """
    fixed, per_network, preferred = _memory(plan)
    if not cache_sized:
        preferred = plan.n_networks
    need = fixed + per_network
    estimate = (
        f"this simulation needs about {need / 2**20:.1f} MiB even one network at a time "
        f"({fixed / 2**20:.1f} MiB for results and shared work, {per_network / 2**20:.1f} MiB "
        "per network)"
    )
    physical = _physical_memory()
    if physical is not None and need > physical:
        raise DepthscopeError(
            f"{estimate}, more than this machine's memory ({physical / 2**20:.1f} MiB); "
            "simulate fewer networks or narrower layers."
        )
    if need > memory_budget:
        raise DepthscopeError(
            f"{estimate}, more than memory_budget = {memory_budget / 2**20:.1f} MiB; raise "
            "memory_budget (--memory-budget MIB on the command line), or simulate fewer "
            "networks or narrower layers."
        )
    return max(1, min(plan.n_networks, preferred, (memory_budget - fixed) // per_network))


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------
def _numpy_chunk(
    plan: _Plan, root: np.random.SeedSequence, start: int, stop: int
) -> tuple[NDArray[np.float64] | dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    streams = network_streams(root, start, stop)
    if plan.pair:
        assert plan.theta0 is not None
        if plan.sampler == "gram":
            stats = gram_pair(
                plan.widths, plan.theta0, streams, slope=plan.slope, bias_std=plan.bias_std
            )
        else:
            assert plan.input_dim is not None
            stats = dense_pair(
                plan.widths,
                plan.theta0,
                streams,
                input_dim=plan.input_dim,
                init=plan.init,
                slope=plan.slope,
                bias_std=plan.bias_std,
            )
        return _ln_sin2_rows(stats, plan.theta0)
    assert plan.input_dim is not None
    batch = gram_batch if plan.sampler == "gram" else dense_batch
    kwargs: dict[str, Any] = {} if plan.sampler == "gram" else {"init": plan.init}
    return batch(
        plan.widths,
        plan.inputs,
        streams,
        n_inputs=plan.n_inputs,
        input_dim=plan.input_dim,
        slope=plan.slope,
        bias_std=plan.bias_std,
        tolerance=plan.tolerance,
        **kwargs,
    )


def _ln_sin2_rows(
    stats: Sequence[tuple[NDArray[np.float64], ...]], theta0: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(L+1, k) ln sin²θ and dead arrays from per-layer Gram entries; row 0 exact."""
    ln_sin2 = np.empty((len(stats), stats[0][0].shape[0]))
    dead = np.empty(ln_sin2.shape, dtype=bool)
    for i, (aa, dd, ad, det) in enumerate(stats):
        ln_sin2[i], dead[i] = ln_sin2_from_gram(aa, dd, ad, det)
    sin2 = 0.0 if theta0 in (0.0, math.pi) else math.sin(theta0) ** 2
    with np.errstate(divide="ignore"):
        ln_sin2[0] = np.log(sin2)
    return ln_sin2, dead


def simulate(
    widths: str | Sequence[int],
    theta0: float | None = None,
    *,
    inputs: int | ArrayLike | str | os.PathLike[str] | None = None,
    n_networks: int,
    rng: np.random.Generator | int | None = None,
    sampler: str = "gram",
    init: str = "gaussian",
    activation: str | float = "relu",
    bias_std: float = 0.0,
    input_dim: int | None = None,
    tolerance: float = 1e-3,
    device: Any = "cpu",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: ProgressCallback | None = None,
) -> SimulationResult:
    """Simulate random fully connected networks at initialization, layer by layer.

    Parameters
    ----------
    widths : str or sequence of int
        Hidden widths n_1, ..., n_L, e.g. ``[256] * 31`` or ``"256x31"``.
    theta0 : float, optional
        Two inputs at this angle (radians, in [0, π]); the result holds ln sin²θ per layer.
    inputs : int, array_like of shape (m, n_0), or path, optional
        A batch of m inputs instead: an int m draws m iid N(0, I) inputs per network (a fresh
        batch per network, from its stream); an array (or a ``.npy`` file) is one fixed batch
        for all networks. The result holds the effective-dimension panel per layer.
    n_networks : int
        Number of independent networks N.
    rng : numpy.random.Generator, int or None
        Normalised once with ``numpy.random.default_rng``. Network j draws from child j of the
        root ``SeedSequence`` (an int or None seeds the root; a Generator spawns it), so the
        first k networks of an N-network run equal a k-network run with the same seed, whatever
        the chunk size.
    sampler : {"gram", "dense"}
        ``gram`` (default): the Gram chain, exact in distribution for iid Gaussian weights and
        never forming a weight matrix. ``dense``: explicit weight matrices.
    init : {"gaussian", "orthogonal", "truncated_normal"}
        Weight initialization (only ``gaussian`` with the Gram chain); see
        :func:`depthscope.simulation._samplers.draw_weights`. Weights have variance 2/fan_in (He)
        for
        every activation.
    activation : str or float
        ``"relu"`` or ``"leaky:SLOPE"`` (any finite slope, negative included), or the slope.
    bias_std : float
        Standard deviation σ_b of iid N(0, σ_b²) biases (0: no biases).
    input_dim : int, optional
        n_0, where the sampler needs it: the dense sampler with ``theta0`` and Gaussian
        ``inputs`` default to n_1. The two-input Gram chain does not depend on it.
    tolerance : float
        Relative tolerance τ of the numerical rank (m inputs).
    device : str or torch.device
        ``"cpu"`` (numpy, default); ``"cuda"``, ``"cuda:1"``, ``"torch"``/``"torch:cpu"`` or a
        ``torch.device`` select the torch backend (Gram sampler; needs the ``torch`` extra).
    memory_budget : int
        Bytes the simulation may hold at once; networks are simulated in chunks that fit.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk of networks.

    Returns
    -------
    SimulationResult
        Per-layer, per-network arrays (row 0 = inputs), the dead mask and the configuration.

    Raises
    ------
    DepthscopeError
        For invalid arguments, unreadable inputs, or a simulation that cannot fit
        ``memory_budget`` (raised before anything large is allocated, with the estimate).

    Notes
    -----
    Inputs have unit mean-square entries (two inputs) or are used as given; layer ℓ computes
    z = W φ(z_prev) + β with W_ij ~ N(0, 2/n_{ℓ−1}), β_i ~ N(0, σ_b²) and
    φ(x) = α x + (1 − α) max(x, 0). With two inputs the angle is tracked through the
    difference of the representations, so ln sin²θ keeps full precision at tiny angles
    (``docs/theory/angle-theory.md`` §8). A layer where one input has no active unit is *dead*:
    its angle is NaN in ``ln_sin2``, flagged in ``dead``, excluded from the summary means and
    counted in ``dead_fraction``. Exactly parallel representations (θ = 0) give ``-inf``, are
    counted in ``collapsed_fraction`` and are likewise left out of the summary means.

    References
    ----------
    C. Jakub and M. Nica, "Depth degeneracy in neural networks: vanishing angles in fully
    connected ReLU networks on initialization", JMLR 25(239), 2024, arXiv:2302.09712.

    Examples
    --------
    >>> res = simulate([256] * 31, theta0=0.1, n_networks=50, rng=1)
    >>> res.ln_sin2.shape
    (32, 50)
    >>> round(float(res.ln_sin2[0, 0]), 4)  # ln sin²(0.1)
    -4.6085
    """
    plan = _plan(
        widths,
        theta0,
        inputs,
        n_networks,
        sampler,
        init,
        activation,
        bias_std,
        input_dim,
        tolerance,
    )
    memory_budget = _positive_int(memory_budget, "memory_budget")
    run_chunk, device_name = _backend(plan, device)
    chunk = _chunk_size(plan, memory_budget, cache_sized="cuda" not in device_name)
    root = _root_sequence(rng)
    layers = len(plan.widths) + 1
    dead = np.empty((layers, plan.n_networks), dtype=bool)
    ln_sin2 = np.empty((layers, plan.n_networks)) if plan.pair else None
    panel = {} if plan.pair else {k: np.empty((layers, plan.n_networks)) for k in PANEL_METRICS}
    for start in range(0, plan.n_networks, chunk):
        stop = min(start + chunk, plan.n_networks)
        values, dead[:, start:stop] = run_chunk(plan, root, start, stop)
        if ln_sin2 is not None:
            assert isinstance(values, np.ndarray)
            ln_sin2[:, start:stop] = values
        else:
            assert isinstance(values, dict)
            for name in PANEL_METRICS:
                panel[name][:, start:stop] = values[name]
        if progress is not None:
            progress(stop, plan.n_networks)
    return SimulationResult(
        widths=plan.widths,
        n_networks=plan.n_networks,
        ln_sin2=ln_sin2,
        dead=dead,
        panel=panel,
        n_inputs=plan.n_inputs,
        theta0=plan.theta0,
        input_dim=None if (plan.sampler == "gram" and plan.pair) else plan.input_dim,
        inputs=plan.inputs,
        sampler=plan.sampler,
        init=plan.init,
        activation=format_activation(plan.slope),
        bias_std=plan.bias_std,
        tolerance=plan.tolerance,
        device=device_name,
        seed=_entropy(root),
        spawn_key=tuple(root.spawn_key),
    )


def _entropy(root: np.random.SeedSequence) -> int | tuple[int, ...]:
    entropy = root.entropy
    if isinstance(entropy, (int, np.integer)):
        return int(entropy)
    return tuple(int(e) for e in entropy)  # type: ignore[union-attr]


def _backend(plan: _Plan, device: Any) -> tuple[Callable[..., Any], str]:
    """Return the chunk function for ``device``: numpy for ``"cpu"``, torch otherwise."""
    if isinstance(device, str) and device.strip().lower() in ("cpu", "numpy"):
        return _numpy_chunk, "cpu"
    from ._torch_backend import torch_backend

    return torch_backend(plan, device)
