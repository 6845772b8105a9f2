"""What one call of :func:`depthscope.simulate` will do: checked arguments, streams, chunks.

* :func:`make_plan` validates the arguments into a frozen :class:`Plan`;
* :func:`root_sequence`, :func:`network_streams` and :func:`network_seeds` derive every
  network's random stream from one root ``SeedSequence`` (numpy generators for the numpy
  backend, 64-bit counter seeds for the torch backend), as functions of the network's index
  alone, so that results do not depend on the chunking;
* :func:`chunk_size` sizes the chunks of networks under a memory budget, from the estimate of
  :func:`memory_estimate`, and refuses a simulation that cannot fit before anything is allocated.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._architecture import format_architecture, parse_architecture
from .._errors import DepthscopeError, check_int, check_network_number, check_theta
from ._general import DEFAULT_WEIGHT_STD, Network, check_network
from ._inputs import check_inputs, load_inputs
from ._metrics import PANEL_METRICS
from ._samplers import INITS, parse_activation

__all__ = [
    "SAMPLERS",
    "MemoryBudgetError",
    "Plan",
    "chunk_size",
    "make_plan",
    "memory_estimate",
    "memory_shortfall",
    "network_seeds",
    "network_streams",
    "positive_int",
    "root_sequence",
]

SAMPLERS = ("gram", "dense")
#: The ReLU MLP with He weights and q₀ = 1.
DEFAULT_NETWORK = Network("relu", 0.0, None, DEFAULT_WEIGHT_STD, 1.0, None)


class MemoryBudgetError(DepthscopeError):
    """The simulation needs more memory than its ``memory_budget`` allows."""


@dataclass(frozen=True)
class Plan:
    """Validated arguments of one simulation (see :func:`depthscope.simulate`).

    ``theta0`` is set for two inputs at an angle and None for a batch of ``n_inputs`` inputs;
    ``inputs`` is the fixed batch, or None when the inputs are drawn per network; ``slope`` is
    the activation's negative-side slope α (0 for an activation not of that form: see
    ``network``, which holds the activation, σ_w, q₀ and the residual blocks).
    """

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
    network: Network = field(default_factory=lambda: DEFAULT_NETWORK)

    @property
    def pair(self) -> bool:
        """True for two inputs at an angle (``theta0``), False for a batch of inputs."""
        return self.theta0 is not None

    @property
    def measures(self) -> tuple[str, ...]:
        """Names of the per-layer, per-network arrays: ``ln_sin2``, or the panel's metrics."""
        return ("ln_sin2",) if self.pair else PANEL_METRICS

    @property
    def layers(self) -> int:
        """L + 1: the input and the L hidden layers."""
        return len(self.widths) + 1


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int after checking it is an integer ≥ ``minimum``."""
    return check_int(value, name, minimum)


def _check_sampler(sampler: str, init: str) -> None:
    if sampler not in SAMPLERS:
        raise DepthscopeError(f"unknown sampler {sampler!r}; choose 'gram' or 'dense'.")
    if init not in INITS:
        raise DepthscopeError(f"unknown init {init!r}; choose one of {', '.join(INITS)}.")
    if sampler == "gram" and init != "gaussian":
        raise DepthscopeError(
            f"the Gram chain is exact only for Gaussian weights; init={init!r} needs "
            "sampler='dense'."
        )


#: The largest bias standard deviation accepted: with He weights the pre-activations have
#: variance ≈ 2q + σ_b², and the two-input Gram products (≈ σ_b⁴ n²) must stay far inside
#: float64's range (1e308) for every width up to 1e9.
MAX_BIAS_STD = 1e6


def _check_tolerance(tolerance: object) -> float:
    if isinstance(tolerance, (bool, np.bool_)) or not isinstance(
        tolerance, (numbers.Real, np.number)
    ):
        raise TypeError(f"tolerance must be a real number, not {type(tolerance).__name__}.")
    number = float(tolerance)
    if not 0.0 < number < 1.0:
        raise DepthscopeError(f"tolerance = {number!r} must be in (0, 1).")
    return number


def _inputs(
    inputs: int | ArrayLike | str | os.PathLike[str], input_dim: int | None, first_width: int
) -> tuple[int, NDArray[np.float64] | None, int]:
    """(m, fixed inputs or None, n₀) of a batch: m Gaussian inputs, an array or a ``.npy`` file."""
    if isinstance(inputs, (int, np.integer)) and not isinstance(inputs, bool):
        m = positive_int(inputs, "inputs (number of Gaussian inputs)", minimum=2)
        return m, None, input_dim if input_dim is not None else first_width
    if isinstance(inputs, (str, os.PathLike)):
        fixed = load_inputs(inputs)
    else:
        fixed = check_inputs(inputs)
    if input_dim is not None and input_dim != fixed.shape[1]:
        raise DepthscopeError(
            f"input_dim = {input_dim} disagrees with the inputs' dimension {fixed.shape[1]}."
        )
    return fixed.shape[0], fixed, fixed.shape[1]


def make_plan(
    widths: str | Sequence[int],
    theta0: float | None,
    inputs: int | ArrayLike | str | os.PathLike[str] | None,
    *,
    n_networks: int,
    sampler: str,
    init: str,
    activation: str | float,
    bias_std: float,
    input_dim: int | None,
    tolerance: float,
    weight_std: float = DEFAULT_WEIGHT_STD,
    q0: float = 1.0,
    residual: str | float | None = None,
) -> Plan:
    """Check the arguments of :func:`depthscope.simulate` and return them as a :class:`Plan`.

    Raises
    ------
    DepthscopeError
        For any invalid argument, with a message naming it and what is accepted.
    """
    arch = parse_architecture(widths)
    n_networks = positive_int(n_networks, "n_networks")
    _check_sampler(sampler, init)
    network = check_network(activation, parse_activation, weight_std, q0, residual)
    bias_std = check_network_number(bias_std, "bias_std", 0.0, MAX_BIAS_STD)
    tolerance = _check_tolerance(tolerance)
    if input_dim is not None:
        input_dim = positive_int(input_dim, "input_dim")
    if (theta0 is None) == (inputs is None):
        raise DepthscopeError("give exactly one of theta0 (two inputs) and inputs (a batch).")
    fixed: NDArray[np.float64] | None = None
    if theta0 is not None:
        if isinstance(theta0, (bool, np.bool_, str, bytes)):  # float() would take "1" and True
            raise TypeError(f"theta0 must be a real number in [0, π], not {type(theta0).__name__}.")
        theta0 = float(check_theta(theta0, "theta0"))
        n_inputs = 2
        if sampler == "dense":
            input_dim = input_dim if input_dim is not None else arch[0]
            if input_dim < 2:
                raise DepthscopeError("two inputs at an angle need input_dim ≥ 2.")
    else:
        assert inputs is not None
        n_inputs, fixed, input_dim = _inputs(inputs, input_dim, arch[0])
    _check_network(network, arch, theta0 is not None, sampler, input_dim, fixed is not None)
    return Plan(
        widths=arch,
        n_networks=n_networks,
        theta0=theta0,
        n_inputs=n_inputs,
        inputs=fixed,
        input_dim=input_dim,
        sampler=sampler,
        init=init,
        slope=0.0 if network.slope is None else network.slope,
        bias_std=bias_std,
        tolerance=tolerance,
        network=network,
    )


def _beyond_dense(network: Network) -> str:
    """Name what the user set beyond the dense sampler's He ReLU/leaky network, with a verb."""
    names = []
    if network.slope is None:
        names.append(f"activation {network.activation!r}")
    if network.weight_std != DEFAULT_WEIGHT_STD:
        names.append(f"weight_std = {network.weight_std:g}")
    if network.q0 != 1.0:
        names.append(f"q0 = {network.q0:g}")
    if network.residual is not None:
        names.append(f"residual 'block:{network.residual:g}'")
    if len(names) == 1:
        return f"{names[0]} needs"
    return f"{', '.join(names[:-1])} and {names[-1]} need"


def _check_network(
    network: Network,
    arch: tuple[int, ...],
    pair: bool,
    sampler: str,
    input_dim: int | None = None,
    fixed: bool = False,
) -> None:
    """Refuse what the samplers do not run: beyond-ReLU networks need the Gram chain.

    Residual blocks start their stream at the inputs (a given input_dim must equal the width,
    with two inputs as with a batch); fixed inputs are used as given (q0 must be 1).
    """
    if network.is_default:
        return
    if sampler != "gram":
        raise DepthscopeError(
            f"{_beyond_dense(network)} sampler='gram' (the dense sampler runs the He "
            "ReLU/leaky network only)."
        )
    if network.residual is not None and (len(set(arch)) != 1 or arch[0] < 2):
        raise DepthscopeError(
            f"residual blocks need one constant width ≥ 2 (the stream starts at the inputs, "
            f"n0 = n); got widths {format_architecture(arch)}."
        )
    if not pair and fixed and network.q0 != 1.0:
        raise DepthscopeError(
            f"q0 = {network.q0:g} applies to drawn inputs (inputs=m) only; fixed inputs are "
            "used at their own scale (scale the array instead)."
        )
    # Two inputs: input_dim is None unless given (the Gram chain of plain layers does not
    # depend on n0); a batch always has one (the fixed inputs' dimension, or n1 by default).
    if network.residual is not None and input_dim is not None and input_dim != arch[0]:
        raise DepthscopeError(
            f"residual blocks start their stream at the inputs: input_dim = {input_dim} must "
            f"equal the width {arch[0]}."
        )


# --------------------------------------------------------------------------------------------
# Random streams
# --------------------------------------------------------------------------------------------
def root_sequence(rng: np.random.Generator | int | None) -> np.random.SeedSequence:
    """One root SeedSequence: fresh for an int or None, a spawned child for a Generator."""
    if isinstance(rng, (bool, np.bool_)) or not (
        rng is None or isinstance(rng, (int, np.integer, np.random.Generator))
    ):
        raise TypeError(
            f"rng must be None, a non-negative int or a numpy Generator, not {type(rng).__name__}."
        )
    if isinstance(rng, (int, np.integer)) and rng < 0:
        raise DepthscopeError(f"rng = {rng} must be a non-negative integer seed.")
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


# SplitMix64's increment and finaliser constants (Steele, Lea & Flood 2014), as the signed int64
# values with their bits.
SPLITMIX64_GAMMA = 0x9E3779B97F4A7C15 - 2**64
SPLITMIX64_MIX1 = 0xBF58476D1CE4E5B9 - 2**64
SPLITMIX64_MIX2 = 0x94D049BB133111EB - 2**64


def network_seeds(root: np.random.SeedSequence, start: int, stop: int) -> NDArray[np.int64]:
    """Return the 64-bit seeds of networks ``start..stop-1`` (as int64 bit patterns).

    Seed j is the SplitMix64 finaliser of ``k₀ + (j + 1)γ`` XOR ``k₁``, with (k₀, k₁) two
    64-bit words of ``root``'s state: a function of the root and j alone (so independent of
    the chunking), computed for a whole chunk at once. Making a numpy generator per network
    instead costs ≈ 20 µs each, more than a GPU spends on the network.
    """
    k0, k1 = root.generate_state(2, dtype=np.uint64)
    steps = np.arange(start + 1, stop + 1, dtype=np.uint64)
    z = k0 + steps * np.uint64(SPLITMIX64_GAMMA % 2**64)  # uint64 arrays wrap modulo 2⁶⁴
    z = (z ^ (z >> np.uint64(30))) * np.uint64(SPLITMIX64_MIX1 % 2**64)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(SPLITMIX64_MIX2 % 2**64)
    z = z ^ (z >> np.uint64(31))
    return (z ^ k1).view(np.int64)


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------
_PAIR_CACHE_ELEMENTS = 2**14  # two-input chunks of ~16k units per array stay in cache
_BATCH_CHUNK_BYTES = 2**25  # batch chunks of ~32 MiB per array


def memory_estimate(plan: Plan) -> tuple[int, int, int]:
    """Bytes (fixed, per network in a chunk, preferred chunk size) of a simulation plan.

    Estimates count the float64 arrays each sampler holds at its peak: the two-input Gram
    chain keeps 2 Σn_ℓ normals per network plus a few layer-sized work arrays; the batch
    samplers a few m × n_ℓ arrays per network; the dense samplers one weight matrix (with its
    QR work for orthogonal weights) at a time.
    """
    widths = plan.widths
    fans = [plan.input_dim or 2, *widths]
    widest = max(widths)
    total = sum(widths)
    outputs = plan.layers * plan.n_networks * (8 * (1 if plan.pair else len(PANEL_METRICS)) + 1)
    if plan.sampler == "dense":
        weights = 8 * max(n * f for n, f in zip(widths, fans, strict=False))
        fixed = outputs + 3 * weights
    else:
        fixed = outputs + 20 * widest + 20 * total
    if plan.pair:
        per_network = 16 * total + 48 * widest + 64 * plan.layers
        if plan.network.residual is not None:
            per_network += 56 * plan.layers  # Z₁, Bartlett's normal and two χ² per block
        preferred = max(1, _PAIR_CACHE_ELEMENTS // widest)
    else:
        m = plan.n_inputs
        rows = [min(m, f) + 1 for f in fans[:-1]]
        sizes = zip(rows, widths, strict=True)
        layer_bytes = max(8 * (r * n + 4 * m * n) + m * n for r, n in sizes)
        per_network = layer_bytes + 8 * m * (fans[0] + 2 * m) + 8 * len(PANEL_METRICS) * plan.layers
        if not plan.network.is_default:  # a smooth φ's temporaries; a block's O(m²) draws
            per_network += 8 * (4 * m * widest + 6 * m * m)
        preferred = max(1, _BATCH_CHUNK_BYTES // (8 * m * widest))
    return fixed, per_network, preferred


def _physical_memory() -> int | None:
    """Total physical memory in bytes, where the platform says; None elsewhere."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def memory_shortfall(plan: Plan, memory_budget: int) -> tuple[int, int, str] | None:
    """Return the limit a simulation exceeds even one network at a time, or None if it fits.

    Checks what :func:`chunk_size` refuses, without raising (a sweep checks every cell first).

    Returns
    -------
    tuple of (int, int, str) or None
        ``(need, limit, name)``: the bytes needed one network at a time (from
        :func:`memory_estimate`), the bytes of the limit and its name, ``"this machine's
        memory"`` (checked first, whatever the budget) or ``"memory_budget"``.
    """
    fixed, per_network, _ = memory_estimate(plan)
    need = fixed + per_network
    physical = _physical_memory()
    if physical is not None and need > physical:
        return need, physical, "this machine's memory"
    if need > memory_budget:
        return need, memory_budget, "memory_budget"
    return None


def chunk_size(plan: Plan, memory_budget: int, *, cache_sized: bool = True) -> int:
    """Networks per chunk: within the budget and, on the CPU, small enough to stay in cache.

    On a GPU (``cache_sized=False``) the chunk is as large as the budget allows: the device
    wants wide batches, and every chunk costs kernel launches and host transfers.

    Raises
    ------
    MemoryBudgetError
        If even one network at a time needs more than ``memory_budget`` bytes.
    DepthscopeError
        If it needs more than the machine's physical memory, whatever the budget.
    """
    fixed, per_network, preferred = memory_estimate(plan)
    if not cache_sized:
        preferred = plan.n_networks
    shortfall = memory_shortfall(plan, memory_budget)
    if shortfall is not None:
        need, limit, name = shortfall
        estimate = (
            f"this simulation needs about {need / 2**20:.1f} MiB even one network at a time "
            f"({fixed / 2**20:.1f} MiB for results and shared work, "
            f"{per_network / 2**20:.1f} MiB per network)"
        )
        if name == "memory_budget":
            raise MemoryBudgetError(
                f"{estimate}, more than memory_budget = {limit / 2**20:.1f} MiB; raise "
                "memory_budget, or simulate fewer networks or narrower layers."
            )
        raise DepthscopeError(
            f"{estimate}, more than {name} ({limit / 2**20:.1f} MiB); "
            "simulate fewer networks or narrower layers."
        )
    return max(1, min(plan.n_networks, preferred, (memory_budget - fixed) // per_network))
