"""Samplers of random fully connected networks at initialization (numpy).

Two samplers, each for two inputs (tracking the angle) or for a batch of m inputs:

* the **Gram chain** (``docs/theory/angle-theory.md`` §8): for iid Gaussian weights the next layer's
  pre-activations of m inputs are iid rows N(0, (2/n_prev) ΦᵀΦ + σ_b² 11ᵀ), so they are drawn
  from the m×m Gram matrix of the previous post-activations Φ, never forming a weight matrix;
* the **dense** sampler: explicit weight matrices, for the initializations where the Gram chain
  is not exact (orthogonal, truncated normal) and as the reference for the Gram chain.

Both use the activation φ(x) = α x + (1 − α) max(x, 0) (ReLU for α = 0, leaky ReLU with slope
α of either sign) and track the second input as Δ = b − a so that tiny angles keep their
precision. Every function takes per-network ``numpy.random.Generator`` streams and works on a
chunk of networks at once; none allocates more than the arrays of its chunk.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ..theory._activations import LEAKY_NAMES, leaky_slope
from ._batch_general import activate_slope, general_batch_chain
from ._general import (
    DEFAULT_WEIGHT_STD,
    Network,
    block_pair_stats,
    chi2_shapes,
    first_pair_stats,
    pair_activation,
)
from ._metrics import PANEL_METRICS, panel_from_factors, r_factor
from ._pair import (
    HE_GAIN2,
    NUMPY,
    PairStats,
    activate_pair,
    gram_pair_chain,
    input_pair_stats,
    layer_pair_stats,
    pair_stats,
)

__all__ = [
    "INITS",
    "Init",
    "batch_chain",
    "dense_batch",
    "dense_pair",
    "draw_weights",
    "format_activation",
    "pair_chain",
    "parse_activation",
    "random_pair_inputs",
    "standard_normal",
]

Init: TypeAlias = Literal["gaussian", "orthogonal", "truncated_normal"]
INITS: tuple[str, ...] = ("gaussian", "orthogonal", "truncated_normal")

Streams: TypeAlias = Sequence[np.random.Generator]

#: Standard deviation of a standard normal truncated to [-2, 2] (Keras ``HeNormal``).
TRUNCATED_NORMAL_SD = 0.87962566103423978


# --------------------------------------------------------------------------------------------
# Activation
# --------------------------------------------------------------------------------------------
def parse_activation(activation: str | float) -> float:
    """Return the negative-side slope α of ``"relu"``, ``"leaky:SLOPE"`` or a number.

    Parameters
    ----------
    activation : str or float
        ``"relu"`` (α = 0), ``"leaky:0.01"``, ``"leaky:-0.5"`` (any finite slope), or α itself.

    Returns
    -------
    float
        α in φ(x) = α x + (1 − α) max(x, 0).

    Raises
    ------
    DepthscopeError
        For any other string or a non-finite slope.
    """
    if isinstance(activation, str):
        text = activation.strip().lower()
        if text == "relu":
            return 0.0
        name, _, value = text.partition(":")
        if name in LEAKY_NAMES and value:
            return leaky_slope(activation, value)
        raise DepthscopeError(
            f"unknown activation {activation!r}; use 'relu' or 'leaky:SLOPE' (e.g. 'leaky:0.01')."
        )
    if isinstance(activation, (bool, np.bool_)) or not isinstance(
        activation, (numbers.Real, np.number)
    ):
        raise TypeError(
            f"activation must be a name such as 'relu', 'leaky:0.01' or 'tanh', or a leaky "
            f"slope, not {type(activation).__name__}."
        )
    return leaky_slope(activation, float(activation))


def format_activation(slope: float) -> str:
    """Write the activation with slope α the way :func:`parse_activation` reads it."""
    return "relu" if slope == 0.0 else f"leaky:{slope:g}"


# --------------------------------------------------------------------------------------------
# Random numbers
# --------------------------------------------------------------------------------------------
def standard_normal(gen: np.random.Generator, out: NDArray[np.float64]) -> NDArray[np.float64]:
    """Fill the contiguous float64 array ``out`` with standard normals by Box–Muller.

    Notes
    -----
    (ξ, η) = √(2E) (cos 2πU, sin 2πU) with E ~ Exp(1) and U ~ U[0, 1) is an exact pair of
    independent standard normals. numpy draws an exponential and a uniform about three times
    faster than two ziggurat normals; the cosine and sine of the uniform angle are evaluated in
    single precision (SIMD), which perturbs each direction by ≲ 1e-7 rad -- far below anything a
    statistic of the simulation can resolve -- while all arithmetic after it is float64. The
    first half of ``out`` holds the ξ's, the second half the η's.
    """
    flat = out.reshape(-1)
    size = flat.size
    half = (size + 1) // 2
    radius = gen.standard_exponential(half)
    radius *= 2.0
    np.sqrt(radius, out=radius)
    angle = gen.random(half, dtype=np.float32)
    angle *= np.float32(2.0 * math.pi)
    np.multiply(radius, np.cos(angle), out=flat[:half])
    np.multiply(radius[: size - half], np.sin(angle[: size - half]), out=flat[half:])
    return out


# --------------------------------------------------------------------------------------------
# Two inputs
# --------------------------------------------------------------------------------------------
def pair_chain(
    widths: Sequence[int],
    theta0: float,
    streams: Streams,
    *,
    sampler: str = "gram",
    input_dim: int | None = None,
    init: str = "gaussian",
    slope: float = 0.0,
    bias_std: float = 0.0,
    network: Network | None = None,
    rescale: bool = True,
) -> list[PairStats]:
    """Two inputs at angle θ₀ through a chunk of random networks, layer by layer.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths n_1, ..., n_L.
    theta0 : float
        Angle between the two inputs, radians in [0, π].
    streams : sequence of numpy.random.Generator
        One independent stream per network of the chunk.
    sampler : {"gram", "dense"}
        ``gram``: the Gram chain (:func:`_gram_pair`), exact for iid Gaussian He weights; its
        inputs have unit mean-square entries, so the first pre-activations have variance
        2 + σ_b² whatever the input dimension. ``dense``: explicit weight matrices
        (:func:`_dense_pair`) on inputs of dimension ``input_dim``.
    input_dim : int, optional
        n₀ of the dense sampler (required there; the Gram chain does not depend on it).
    init : {"gaussian", "orthogonal", "truncated_normal"}
        Weight initialization of the dense sampler (:func:`draw_weights`).
    slope : float, default 0
        Negative-side slope α of the activation (0 = ReLU).
    bias_std : float, default 0
        Standard deviation σ_b of the biases.
    network : Network, optional
        Activation, σ_w, q₀ and residual blocks beyond the ReLU MLP with He weights
        (:mod:`._general`; Gram chain only). None: the ReLU / leaky-ReLU network of ``slope``.
    rescale : bool, default True
        False keeps the norms of a homogeneous chain without bias (see
        :func:`._pair.gram_pair_chain`); the angles are the same in distribution.

    Returns
    -------
    list of tuple of ndarray
        For layers 0..L, the per-coordinate Gram entries ``(|a|², |Δ|², a·Δ, det)`` / n, each
        of shape ``(k,)``, with ``a`` the first input's post-activations and ``Δ = b − a``.
        Without bias, the Gram chain's are those of the layer's own post-activations.
    """
    if sampler == "gram":
        return _gram_pair(widths, theta0, streams, slope, bias_std, network, rescale)
    if network is not None and not network.is_default:
        raise DepthscopeError("the dense sampler runs ReLU / leaky-ReLU MLPs with He weights.")
    if input_dim is None:
        raise DepthscopeError("the dense sampler of two inputs needs input_dim.")
    return _dense_pair(widths, theta0, streams, input_dim, init, slope, bias_std)


def _gram_pair(
    widths: Sequence[int],
    theta0: float,
    streams: Streams,
    slope: float,
    bias_std: float,
    network: Network | None = None,
    rescale: bool = True,
) -> list[PairStats]:
    """Run the two-input Gram chain of :func:`._pair.gram_pair_chain`.

    The chain is that of ``docs/theory/angle-theory.md`` §8, and for a :class:`Network`
    beyond ReLU that of :mod:`._general`.

    Per layer and network, ξ, η ~ N(0, I_n) (:func:`standard_normal`). All n-vectors of every
    layer are drawn per network first, so a network's numbers do not depend on the chunk it is
    simulated in. Residual blocks then draw 5 normals per layer (Z₁ and Bartlett's normal) and
    the two χ² of each layer, after all the layers' ξ, η.
    """
    k = len(streams)
    total = int(sum(widths))
    normals = np.empty((k, 2 * total))
    block = network is not None and network.residual is not None
    depth = len(widths)
    extra = np.empty((k, 5 * depth)) if block else normals[:, :0]
    shapes = np.array([chi2_shapes(n) for n in widths]).ravel() / 2.0
    chi2 = np.empty((k, 2 * depth)) if block else extra
    for j, gen in enumerate(streams):
        standard_normal(gen, normals[j])
        if block:
            standard_normal(gen, extra[j])
            chi2[j] = gen.standard_gamma(shapes)
            chi2[j] *= 2.0

    def layer_normals(start: int, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return normals[:, start : start + n], normals[:, total + start : total + start + n]

    first = input_pair_stats(theta0, k)
    if network is None or network.is_default:
        return gram_pair_chain(
            NUMPY, first, widths, layer_normals, slope=slope, bias_std=bias_std, rescale=rescale
        )
    phi = network.phi
    activate = None
    if phi is not None:
        assert phi.derivative is not None
        activate = pair_activation(NUMPY, phi.name, phi.fn, phi.derivative)
    alpha = network.residual

    def residual_block(index: int, stats: PairStats, branch: PairStats) -> PairStats:
        assert alpha is not None
        z = extra[:, 5 * index : 5 * index + 5]
        return block_pair_stats(
            NUMPY,
            stats,
            branch,
            widths[index],
            network.gain2,
            alpha,
            (z[:, 0], z[:, 1], z[:, 2], z[:, 3]),
            (chi2[:, 2 * index], chi2[:, 2 * index + 1], z[:, 4]),
        )

    return gram_pair_chain(
        NUMPY,
        first_pair_stats(first, network.q0),
        widths,
        layer_normals,
        slope=0.0 if network.slope is None else network.slope,
        bias_std=bias_std,
        gain2=network.gain2,
        activate=activate,
        block=residual_block if block else None,
        rescale=rescale,
    )


# --------------------------------------------------------------------------------------------
# m inputs
# --------------------------------------------------------------------------------------------
def batch_chain(
    widths: Sequence[int],
    inputs: NDArray[np.float64] | None,
    streams: Streams,
    *,
    n_inputs: int,
    input_dim: int,
    sampler: str = "gram",
    init: str = "gaussian",
    slope: float = 0.0,
    bias_std: float = 0.0,
    tolerance: float = 1e-3,
    network: Network | None = None,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    """Propagate m inputs through a chunk of k random networks; the effective-dimension panel.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths n_1, ..., n_L.
    inputs : ndarray, shape (m, input_dim), or None
        Fixed inputs shared by all networks (rows); None draws iid N(0, 1) inputs per network
        from its stream, before any weight.
    streams : sequence of numpy.random.Generator
        One independent stream per network.
    n_inputs, input_dim : int
        m and n_0.
    sampler : {"gram", "dense"}
        ``gram``: the Gram chain, exact for iid Gaussian He weights; ``dense``: explicit weight
        matrices with initialization ``init`` (:func:`draw_weights`).
    slope, bias_std : float
        Activation slope α and bias standard deviation σ_b.
    tolerance : float
        Relative tolerance of the numerical rank.
    network : Network, optional
        Activation, σ_w, q₀ and residual blocks beyond the ReLU MLP with He weights (Gram
        chain only: :func:`._batch_general.general_batch_chain`). None: the ReLU / leaky-ReLU
        network of ``slope``.

    Returns
    -------
    panel : dict of str to ndarray, shape (L+1, k)
        The metrics of :data:`~depthscope.simulation._metrics.PANEL_METRICS`; row 0 = the
        inputs, whose mask diagnostics are NaN (inputs have no activation pattern).
    dead : ndarray of bool, shape (L+1, k)
        True where some input's representation is exactly zero.

    Notes
    -----
    Writing the post-activations of layer ℓ−1 as the columns of Φ (n_{ℓ−1} × m) with thin QR
    Φ = QR, the rows of W Φ are iid N(0, (2/n_{ℓ−1}) RᵀR): so the Gram chain draws
    Z = √(2/n_{ℓ−1}) ξ R + σ_b β 1ᵀ with ξ (n_ℓ × rank) and β (n_ℓ) standard normal, exact in
    distribution. R is the same factor that the panel needs, and it never fails on a singular
    Gram matrix.
    """
    if sampler == "gram":  # one chain for every network (:mod:`._batch_general`)
        if network is None:
            network = Network(format_activation(slope), slope, None, DEFAULT_WEIGHT_STD, 1.0, None)
        return general_batch_chain(
            widths, inputs, streams, network, n_inputs=n_inputs, input_dim=input_dim,
            bias_std=bias_std, tolerance=tolerance, fill_normals=standard_normal,
        )  # fmt: skip
    if network is not None and not network.is_default:
        raise DepthscopeError("the dense sampler runs ReLU / leaky-ReLU MLPs with He weights.")
    k, m = len(streams), n_inputs
    if inputs is None:
        x = np.empty((k, m, input_dim))
        for j, gen in enumerate(streams):
            x[j] = gen.standard_normal((m, input_dim))
    else:
        x = np.broadcast_to(inputs, (k, m, input_dim))
    r = r_factor(np.swapaxes(x, 1, 2))
    panels = [panel_from_factors(r, input_dim, tolerance=tolerance)]
    dead = [np.any(np.all(x == 0.0, axis=-1), axis=-1)]
    for n in widths:
        z = _dense_preactivations(x, n, streams, init, bias_std)
        panel, r, is_dead = _batch_layer(z, slope, tolerance)
        panels.append(panel)
        dead.append(is_dead)
        x = z  # the post-activations (k, m, n): _batch_layer activated z in place
    return {name: np.stack([p[name] for p in panels]) for name in PANEL_METRICS}, np.stack(dead)


def _dense_preactivations(
    x: NDArray[np.float64], n: int, streams: Streams, init: str, bias_std: float
) -> NDArray[np.float64]:
    """W xᵀ (+ β) of every network for representations ``x`` (k, m, n_prev), as rows (k, m, n)."""
    z, bias = _dense_layer(np.ascontiguousarray(np.swapaxes(x, 1, 2)), n, streams, init, bias_std)
    if bias is not None:
        z += bias
    return np.ascontiguousarray(np.swapaxes(z, 1, 2))


def _batch_layer(
    z: NDArray[np.float64], slope: float, tolerance: float
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.float64], NDArray[np.bool_]]:
    """Activate pre-activations ``z`` (k, m, n) in place; return the panel, R and dead flags."""
    active = z > 0.0
    fraction = active.mean(axis=(1, 2))
    mask_r = r_factor(np.swapaxes(active, 1, 2).astype(np.float64))
    phi = activate_slope(z, slope)
    r = r_factor(np.swapaxes(phi, 1, 2))
    panel = panel_from_factors(
        r, z.shape[-1], tolerance=tolerance, mask_r=mask_r, active_fraction=fraction
    )
    return panel, r, np.any(np.all(phi == 0.0, axis=-1), axis=-1)


# --------------------------------------------------------------------------------------------
# Dense weights
# --------------------------------------------------------------------------------------------
def draw_weights(
    gen: np.random.Generator, fan_out: int, fan_in: int, init: str
) -> NDArray[np.float64]:
    """One ``(fan_out, fan_in)`` weight matrix.

    Parameters
    ----------
    gen : numpy.random.Generator
        The network's stream.
    fan_out, fan_in : int
        Shape of the matrix.
    init : {"gaussian", "orthogonal", "truncated_normal"}
        ``gaussian``: He normal, iid N(0, 2/fan_in) (also for leaky ReLU: the He gain 2 is used
        for every slope). ``orthogonal``: √2 times a Haar-random matrix with orthonormal rows or
        columns (QR of a Gaussian matrix with the signs of diag R fixed), as
        ``torch.nn.init.orthogonal_(gain=√2)``. ``truncated_normal``: as Keras ``HeNormal``,
        N(0, 1) truncated to [−2, 2] (redrawn until inside) times √(2/fan_in) / 0.8796...,
        so that the variance is 2/fan_in.
    """
    if init == "gaussian":
        w = gen.standard_normal((fan_out, fan_in))
        w *= math.sqrt(HE_GAIN2 / fan_in)
        return w
    if init == "orthogonal":
        tall = fan_out >= fan_in
        g = gen.standard_normal((fan_out, fan_in) if tall else (fan_in, fan_out))
        q, r = np.linalg.qr(g)
        signs = np.sign(np.diagonal(r))
        q *= np.where(signs == 0, 1.0, signs)
        q *= math.sqrt(HE_GAIN2)
        return q if tall else q.T
    if init == "truncated_normal":
        w = gen.standard_normal((fan_out, fan_in))
        outside = np.abs(w) > 2.0
        while outside.any():
            w[outside] = gen.standard_normal(int(outside.sum()))
            outside = np.abs(w) > 2.0
        w *= math.sqrt(HE_GAIN2 / fan_in) / TRUNCATED_NORMAL_SD
        return w
    raise DepthscopeError(f"unknown init {init!r}; choose one of {', '.join(INITS)}.")


def _dense_layer(
    h: NDArray[np.float64],
    n: int,
    streams: Streams,
    init: str,
    bias_std: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Z = W h for every network of the chunk (h: (k, n_prev, c)); bias β (k, n, 1) or None."""
    k, n_prev, c = h.shape
    z = np.empty((k, n, c))
    bias = np.empty((k, n, 1)) if bias_std else None
    for j, gen in enumerate(streams):
        w = draw_weights(gen, n, n_prev, init)
        np.matmul(w, h[j], out=z[j])
        if bias is not None:
            bias[j, :, 0] = bias_std * gen.standard_normal(n)
    return z, bias


def random_pair_inputs(
    streams: Streams, theta0: float, input_dim: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw inputs a = √n₀ u, Δ = √n₀ (−2 sin²(θ₀/2) u + sin θ₀ v), (u, v) random orthonormal.

    The pair is drawn per network (Haar-random plane), so the result does not depend on a
    coordinate choice even for initializations that are not rotation invariant.
    """
    k = len(streams)
    a = np.empty((k, input_dim))
    delta = np.empty((k, input_dim))
    scale = math.sqrt(input_dim)
    for j, gen in enumerate(streams):
        q, r = np.linalg.qr(gen.standard_normal((input_dim, 2)))
        q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)
        u, v = q[:, 0], q[:, 1]
        a[j] = scale * u
        delta[j] = scale * (-2.0 * math.sin(theta0 / 2.0) ** 2 * u + math.sin(theta0) * v)
    return a, delta


def _dense_pair(
    widths: Sequence[int],
    theta0: float,
    streams: Streams,
    input_dim: int,
    init: str,
    slope: float,
    bias_std: float,
) -> list[PairStats]:
    """Two inputs through explicit weight matrices; same output as :func:`_gram_pair`.

    Row 0 is computed from the inputs of :func:`random_pair_inputs` with ``det = sin²θ₀``
    exactly. The pair is propagated as (a, Δ): X = W a + β, D = W Δ (the bias cancels).
    """
    a, delta = random_pair_inputs(streams, theta0, input_dim)
    first = pair_stats(NUMPY, a, delta)
    out = [(*first[:3], np.full(len(streams), math.sin(theta0) ** 2) * first[0])]
    for n in widths:
        z, bias = _dense_layer(np.stack([a, delta], axis=-1), n, streams, init, bias_std)
        x, d = z[..., 0], z[..., 1]
        if bias is not None:
            x += bias[..., 0]
        a, delta = activate_pair(NUMPY, np.ascontiguousarray(x), np.ascontiguousarray(d), slope)
        out.append(layer_pair_stats(NUMPY, a, delta, out[-1][3], bias_std))
    return out


def dense_pair(
    widths: Sequence[int], theta0: float, streams: Streams, **options: Any
) -> list[PairStats]:
    """:func:`pair_chain` with explicit weight matrices (``sampler="dense"``)."""
    return pair_chain(widths, theta0, streams, sampler="dense", **options)


def dense_batch(
    widths: Sequence[int], inputs: NDArray[np.float64] | None, streams: Streams, **options: Any
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    """:func:`batch_chain` with explicit weight matrices (``sampler="dense"``)."""
    return batch_chain(widths, inputs, streams, sampler="dense", **options)
