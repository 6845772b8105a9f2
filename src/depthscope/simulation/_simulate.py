"""Monte Carlo simulation of random fully connected networks: :func:`simulate`.

The driver: it checks the arguments into a plan (:mod:`._plan`), normalises the random-number
generator once, opens the backend that ``device`` names (the registry :data:`BACKENDS`: numpy
or torch, :mod:`.backends`), runs the networks in chunks under a memory budget and collects
their per-layer measurements into a frozen :class:`~._result.SimulationResult`.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import DepthscopeWarning
from ._general import DEFAULT_WEIGHT_STD
from ._plan import Plan, chunk_size, make_plan, positive_int, root_sequence
from ._result import SimulationResult
from .backends import RunChunk
from .backends._numpy import numpy_backend
from .backends._torch import torch_backend

__all__ = ["BACKENDS", "DEFAULT_MEMORY_BUDGET", "SimulationResult", "simulate"]

#: Default memory budget of :func:`simulate`, in bytes (1 GiB).
DEFAULT_MEMORY_BUDGET = 2**30

ProgressCallback = Callable[[int, int], None]

#: The backends by name: each opens ``(run_chunk, device_name)`` for a plan and a device.
BACKENDS: dict[str, Callable[[Plan, Any], tuple[RunChunk, str]]] = {
    "numpy": numpy_backend,
    "torch": torch_backend,
}


def _backend_name(device: Any) -> str:
    """``"numpy"`` for ``"cpu"`` or ``"numpy"``; ``"torch"`` for any other device."""
    if isinstance(device, str) and device.strip().lower() in ("cpu", "numpy"):
        return "numpy"
    return "torch"


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
    weight_std: float = DEFAULT_WEIGHT_STD,
    q0: float = 1.0,
    residual: str | float | None = None,
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
        A batch of m inputs instead: an int m draws m iid N(0, q₀ I) inputs per network (a
        fresh batch per network, from its stream); an array (or a ``.npy`` file, read by
        ``load_inputs``) is one fixed batch for all networks.
        The result holds the effective-dimension panel per layer.
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
        :func:`depthscope.simulation._samplers.draw_weights`. Weights have variance
        σ_w²/fan_in (``weight_std``; He, 2/fan_in, by default) for every activation.
    activation : str or float
        ``"relu"`` or ``"leaky:SLOPE"`` (any finite slope, negative included), or the slope;
        ``"abs"``, ``"linear"``, ``"tanh"``, ``"erf"``, ``"gelu"`` (exact u·Φ(u)) or
        ``"silu"`` (the names of ``depthscope.theory._activations.parse_activation``).
    bias_std : float
        Standard deviation σ_b of iid N(0, σ_b²) biases (0: no biases).
    weight_std : float
        σ_w > 0: weights iid N(0, σ_w²/fan_in); default √2 (He).
    q0 : float
        The inputs' ‖x‖²/n₀ > 0 (default 1): two inputs of that norm, or drawn inputs
        (``inputs=m``) with variance q₀ per coordinate; fixed inputs keep their own scale, so
        q₀ ≠ 1 with them is an error.
    residual : "block:ALPHA" or None
        Residual blocks h ← h + α V φ(W h + b), V and W iid N(0, σ_w²/n), at one constant
        width n; the stream starts at the inputs (n₀ = n, so ``input_dim`` or the fixed
        inputs' dimension must be n). None: plain layers.
        Anything but the defaults of ``weight_std``, ``q0`` and ``residual``, or an activation
        other than relu/leaky, needs the Gram sampler (two inputs or a batch, both exact:
        ``depthscope.simulation._general`` and ``._batch_general``).
    input_dim : int, optional
        n_0, where the sampler needs it: the dense sampler with ``theta0`` and Gaussian
        ``inputs`` default to n_1. The two-input Gram chain of plain layers does not depend
        on it; residual blocks need it (when given) to equal the width.
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
    Inputs have mean-square entries q₀ (two inputs, drawn inputs) or are used as given; layer ℓ
    computes z = W φ(z_prev) + β with W_ij ~ N(0, σ_w²/n_{ℓ−1}), β_i ~ N(0, σ_b²) and, for relu
    and leaky, φ(x) = α x + (1 − α) max(x, 0). For an activation that is not positively
    homogeneous, or with biases, the state of the chain is the 2 × 2 Gram matrix of the two
    representations (norms matter); residual blocks are sampled exactly from it too, with one QR
    rotation and Bartlett's Wishart₂(n − 2) (``depthscope.simulation._general``); for m inputs
    the state is the m × m R factor of the representations and a block needs Wishart_m(n − m)
    (``depthscope.simulation._batch_general``); the panel's mask diagnostics are those of the
    pre-activations' signs (z > 0). With two inputs the angle is tracked through the difference
    of the representations, so ln sin²θ keeps full precision at tiny angles
    (``docs/theory/angle-theory.md`` §8). A layer where one input has no active unit is *dead*:
    its angle is NaN in ``ln_sin2``, flagged in ``dead``, excluded from the summary means and
    counted in ``dead_fraction``. Exactly parallel or antiparallel representations (sin²θ = 0)
    give ``-inf``, are counted in ``collapsed_fraction`` and are likewise left out of the
    summary means.

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
    plan = make_plan(
        widths,
        theta0,
        inputs,
        n_networks=n_networks,
        sampler=sampler,
        init=init,
        activation=activation,
        bias_std=bias_std,
        input_dim=input_dim,
        tolerance=tolerance,
        weight_std=weight_std,
        q0=q0,
        residual=residual,
    )
    memory_budget = positive_int(memory_budget, "memory_budget")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a callable progress(done, total), not {progress!r:.40}.")
    run_chunk, device_name = BACKENDS[_backend_name(device)](plan, device)
    chunk = chunk_size(plan, memory_budget, cache_sized="cuda" not in device_name)
    root = root_sequence(rng)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        values, dead = _run(plan, run_chunk, root, chunk, progress)  # out of range: said below
    result = SimulationResult(
        widths=plan.widths,
        n_networks=plan.n_networks,
        ln_sin2=values.get("ln_sin2"),
        dead=dead,
        panel={} if plan.pair else values,
        n_inputs=plan.n_inputs,
        theta0=plan.theta0,
        input_dim=None if (plan.sampler == "gram" and plan.pair) else plan.input_dim,
        inputs=plan.inputs,
        sampler=plan.sampler,
        init=plan.init,
        activation=plan.network.activation,
        bias_std=plan.bias_std,
        weight_std=plan.network.weight_std,
        q0=plan.network.q0,
        residual=None if plan.network.residual is None else f"block:{plan.network.residual:g}",
        tolerance=plan.tolerance,
        device=device_name,
        seed=_entropy(root),
        spawn_key=tuple(root.spawn_key),
    )
    for message in range_warnings(result, smooth=plan.network.slope is None):
        warnings.warn(message, DepthscopeWarning, stacklevel=2)
    return result


def range_warnings(result: SimulationResult, *, smooth: bool) -> list[str]:
    """Say where the representations left float64's range (overflow; for smooth φ, underflow).

    Also where the inputs' own angle does: θ0 < 1.5e-154 makes sin²θ0 subnormal or 0.

    Overflowed layers hold NaN angles (``nonfinite_fraction``); for a φ that is not a·min + b·max
    a representation is exactly zero only by underflow, so 'dead' there means the norms fell
    below float64's range, not units switched off.
    """
    network = (
        f"{result.activation} with σ_w = {result.weight_std:g}, σ_b = {result.bias_std:g}, "
        f"q0 = {result.q0:g}" + (f", {result.residual}" if result.residual else "")
    )
    out = []
    theta0 = result.theta0
    if theta0 is not None and 0.0 < theta0 < 1.0 and math.sin(theta0) ** 2 < sys.float_info.min:
        out.append(
            f"simulate: theta0 = {theta0:g} is below 1.5e-154: sin²θ0 leaves float64's normal "
            "range, so ln sin²θ has lost precision (below 2.2e-162: every network reads as "
            "collapsed, −inf, from layer 0 on); predict handles such angles."
        )
    nonfinite = result.nonfinite_fraction
    if nonfinite.any():
        first = int(np.argmax(nonfinite > 0))
        measured = "angles" if result.ln_sin2 is not None else "panel metrics"
        out.append(
            f"simulate: {network}: the norms left float64's range in {nonfinite.max():.0%} of "
            f"the networks, from layer {first} on; their {measured} there are NaN (counted in "
            "nonfinite_fraction, left out of the summaries): σ_w, σ_b, q0 or α too far from "
            "criticality for this depth, or use fewer layers."
        )
    dead = result.dead_fraction
    if smooth and dead.any():
        first = int(np.argmax(dead > 0))
        out.append(
            f"simulate: {network}: the norms fell below float64's range (to exactly 0) in "
            f"{dead.max():.0%} of the networks, from layer {first} on; counted in dead_fraction "
            "(for this φ 'dead' means underflow, not switched-off units)."
        )
    return out


def _run(
    plan: Plan,
    run_chunk: RunChunk,
    root: np.random.SeedSequence,
    chunk: int,
    progress: ProgressCallback | None,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    """Run the networks in chunks of ``chunk``; return the (L+1, N) arrays by name and ``dead``."""
    shape = (plan.layers, plan.n_networks)
    values = {name: np.empty(shape) for name in plan.measures}
    dead = np.empty(shape, dtype=bool)
    for start in range(0, plan.n_networks, chunk):
        stop = min(start + chunk, plan.n_networks)
        chunk_values, dead[:, start:stop] = run_chunk(plan, root, start, stop)
        for name, array in values.items():
            array[:, start:stop] = chunk_values[name]
        if progress is not None:
            progress(stop, plan.n_networks)
    return values, dead


def _entropy(root: np.random.SeedSequence) -> int | tuple[int, ...]:
    entropy = root.entropy
    if isinstance(entropy, (int, np.integer)):
        return int(entropy)
    return tuple(int(e) for e in entropy)  # type: ignore[union-attr]
