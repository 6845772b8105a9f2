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
from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ._metrics import PANEL_METRICS, panel_from_factors, r_factor

__all__ = [
    "INITS",
    "Init",
    "dense_batch",
    "dense_pair",
    "format_activation",
    "gram_batch",
    "gram_pair",
    "parse_activation",
    "standard_normal",
]

Init: TypeAlias = Literal["gaussian", "orthogonal", "truncated_normal"]
INITS: tuple[str, ...] = ("gaussian", "orthogonal", "truncated_normal")

Streams: TypeAlias = Sequence[np.random.Generator]
PairStats: TypeAlias = tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]
]

#: Standard deviation of a standard normal truncated to [-2, 2] (Keras ``HeNormal``).
TRUNCATED_NORMAL_SD = 0.87962566103423978
_PARALLEL_RTOL = 1e-10  # below this relative Gram determinant, check for one-unit support
_HE_GAIN2 = 2.0  # variance gain of He initialization: Var W = 2 / fan_in, for every slope


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
        if name in ("leaky", "leaky_relu", "leakyrelu") and value:
            try:
                slope = float(value)
            except ValueError:
                slope = math.nan
        else:
            raise DepthscopeError(
                f"unknown activation {activation!r}; use 'relu' or 'leaky:SLOPE' "
                "(e.g. 'leaky:0.01')."
            )
    else:
        slope = float(activation)
    if not math.isfinite(slope):
        raise DepthscopeError(
            f"activation {activation!r}: the leaky slope must be a finite number."
        )
    return slope


def format_activation(slope: float) -> str:
    """Write the activation with slope α the way :func:`parse_activation` reads it."""
    return "relu" if slope == 0.0 else f"leaky:{slope:g}"


def _activate_pair(
    x: NDArray[np.float64],
    d: NDArray[np.float64],
    slope: float,
    work: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Overwrite ``x`` with φ(x) and return (φ(x), φ(x + d) − φ(x)) without cancellation.

    ``d`` is overwritten too; ``work`` is scratch of the same shape. Uses
    max(x + d, 0) − max(x, 0) = max(d, −x) + min(x, 0), exact when x and x + d share a sign.
    """
    delta = np.negative(x, out=work)
    np.maximum(d, delta, out=delta)
    if slope == 0.0:
        delta += np.minimum(x, 0.0, out=d)
        return np.maximum(x, 0.0, out=x), delta
    d *= slope
    relu_x = np.maximum(x, 0.0)
    delta += np.minimum(x, 0.0)
    delta *= 1.0 - slope
    delta += d
    x *= slope
    relu_x *= 1.0 - slope
    x += relu_x
    return x, delta


def _activate(z: NDArray[np.float64], slope: float) -> NDArray[np.float64]:
    """φ(z), in place."""
    if slope == 0.0:
        return np.maximum(z, 0.0, out=z)
    return np.multiply(z, slope, out=z, where=z < 0.0)


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
# Two inputs: the Gram chain
# --------------------------------------------------------------------------------------------
def input_pair_stats(theta0: float, k: int) -> PairStats:
    """Gram entries (per coordinate) of two inputs at angle θ₀ with unit mean-square entries.

    With a = e and Δ = b − a = −2 sin²(θ₀/2) e + sin θ₀ e⊥: ``|a|² = 1``,
    ``|Δ|² = 4 sin²(θ₀/2)``, ``a·Δ = −2 sin²(θ₀/2)`` and the Gram determinant sin²θ₀ exactly.
    """
    half = math.sin(theta0 / 2.0) ** 2
    full = np.ones(k)
    return full, full * (4.0 * half), full * (-2.0 * half), full * math.sin(theta0) ** 2


def _pair_coefficients(
    stats: PairStats, bias_std: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Coefficients (c_x, c_dξ, c_dη) with X = c_x ξ, D = c_dξ ξ + c_dη η for the next layer.

    Pre-activations (X, X + D) have Var X = p = 2ā + σ², Var D = q = 2d̄, Cov(X, D) = r = 2c̄
    (bars: per-unit means of the previous post-activations); the conditional variance of D given
    X is det/p with det = pq − r² = 4(ād̄ − c̄²) + 2σ² d̄, a sum of non-negative terms.
    """
    aa, dd, ad, det = stats
    sigma2 = bias_std * bias_std
    p = _HE_GAIN2 * aa + sigma2
    q = _HE_GAIN2 * dd
    r = _HE_GAIN2 * ad
    det_pre = _HE_GAIN2 * _HE_GAIN2 * det + _HE_GAIN2 * sigma2 * dd
    live = p > 0
    safe_p = np.where(live, p, 1.0)
    c_x = np.sqrt(p)
    c_dxi = np.where(live, r / np.sqrt(safe_p), 0.0)
    c_deta = np.where(live, np.sqrt(det_pre / safe_p), np.sqrt(q))
    if sigma2 == 0.0:
        # No bias: an input whose representation is exactly zero stays exactly zero.
        b_dead = (aa + 2.0 * ad + dd) <= 0.0
        c_dxi = np.where(b_dead, -c_x, c_dxi)
        c_deta = np.where(b_dead, 0.0, c_deta)
    return c_x, c_dxi, c_deta


def _pair_layer(
    xi: NDArray[np.float64],
    eta: NDArray[np.float64],
    stats: PairStats,
    slope: float,
    bias_std: float,
    work: NDArray[np.float64],
) -> PairStats:
    """One layer of the two-input Gram chain for a chunk; ``work`` has shape (3, k, n)."""
    c_x, c_dxi, c_deta = _pair_coefficients(stats, bias_std)
    x = np.multiply(xi, c_x[:, None], out=work[0])
    d = np.multiply(xi, c_dxi[:, None], out=work[1])
    d += np.multiply(eta, c_deta[:, None], out=work[2])
    a, delta = _activate_pair(x, d, slope, work[2])
    aa, dd, ad, det = _pair_stats(a, delta)
    if bias_std == 0.0:  # parallel representations stay parallel without bias
        det = np.where(stats[3] > 0.0, det, 0.0)
    return aa, dd, ad, det


def _pair_stats(a: NDArray[np.float64], delta: NDArray[np.float64]) -> PairStats:
    """Per-coordinate Gram entries (ā, d̄, c̄, det) of the rows of ``a`` and ``delta``.

    Two representations supported on a single unit are parallel (θ = 0, a positive-probability
    event for narrow ReLU layers): their determinant is set to exactly 0 instead of rounding
    noise, so that ln sin²θ = −inf and, without bias, the collapse is absorbing.
    """
    n = a.shape[-1]
    aa = np.einsum("ij,ij->i", a, a) / n
    dd = np.einsum("ij,ij->i", delta, delta) / n
    ad = np.einsum("ij,ij->i", a, delta) / n
    det = np.maximum(aa * dd - ad * ad, 0.0)
    suspect = np.flatnonzero(det <= _PARALLEL_RTOL * aa * dd)
    if suspect.size:
        support = np.count_nonzero((a[suspect] != 0) | (delta[suspect] != 0), axis=1)
        det[suspect[support <= 1]] = 0.0
    return aa, dd, ad, det


def _renormalise(stats: PairStats, bias_std: float) -> PairStats:
    """Without bias, rescale both inputs to unit mean square: only θ is carried forward.

    Each input's representation is positively homogeneous in that input alone, so without
    bias the next layer depends on the angle only. The canonical state is that of
    :func:`input_pair_stats`, with sin²(θ/2) = sin²θ / (2(1 + cos θ)) for cos θ ≥ 0 and
    (1 − cos θ)/2 otherwise (neither cancels). Rescaling keeps |a| and |b| comparable, so that
    b = a + Δ never loses precision to a much longer a. Dead rows are left as they are.
    """
    if bias_std != 0.0:
        return stats
    aa, dd, ad, det = stats
    bb = aa + 2.0 * ad + dd
    live = (aa > 0) & (bb > 0)
    norm2 = np.where(live, aa * bb, 1.0)
    sin2 = np.minimum(det / norm2, 1.0)
    cos = (aa + ad) / np.sqrt(norm2)
    half = np.where(cos >= 0, sin2 / (2.0 * (1.0 + np.abs(cos))), (1.0 - cos) / 2.0)
    return (
        np.where(live, 1.0, aa),
        np.where(live, 4.0 * half, dd),
        np.where(live, -2.0 * half, ad),
        np.where(live, sin2, det),
    )


def gram_pair(
    widths: Sequence[int],
    theta0: float,
    streams: Streams,
    *,
    slope: float = 0.0,
    bias_std: float = 0.0,
) -> list[PairStats]:
    """Two-input Gram chain for a chunk of networks; exact for iid Gaussian He weights.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths n_1, ..., n_L.
    theta0 : float
        Angle between the two inputs, radians in [0, π]. The inputs have unit mean-square
        entries, so the first pre-activations have variance 2 + σ_b² whatever the input dimension.
    streams : sequence of numpy.random.Generator
        One independent stream per network of the chunk.
    slope : float, default 0
        Negative-side slope α of the activation (0 = ReLU).
    bias_std : float, default 0
        Standard deviation σ_b of the biases.

    Returns
    -------
    list of tuple of ndarray
        For layers 0..L, the per-coordinate Gram entries ``(|a|², |Δ|², a·Δ, det)`` / n, each
        of shape ``(k,)``, with ``a`` the first input's post-activations and ``Δ = b − a``.
        Without bias they are those of the layer's own post-activations.

    Notes
    -----
    Per layer and network, ξ, η ~ N(0, I_n) (:func:`standard_normal`) give
    X = √p ξ, D = (r/√p) ξ + √(det/p) η (:func:`_pair_coefficients`); then a = φ(X) and
    Δ = φ(X + D) − φ(X) computed without cancellation. All n-vectors of every layer are drawn
    per network first, so a network's numbers do not depend on the chunk it is simulated in.
    """
    k = len(streams)
    total = int(sum(widths))
    normals = np.empty((k, 2 * total))
    for j, gen in enumerate(streams):
        standard_normal(gen, normals[j])
    xi_all, eta_all = normals[:, :total], normals[:, total:]
    work = np.empty((3, k, max(widths)))
    stats = input_pair_stats(theta0, k)
    out = [stats]
    start = 0
    for n in widths:
        stop = start + n
        stats = _pair_layer(
            xi_all[:, start:stop], eta_all[:, start:stop], stats, slope, bias_std, work[:, :, :n]
        )
        out.append(stats)
        stats = _renormalise(stats, bias_std)
        start = stop
    return out


# --------------------------------------------------------------------------------------------
# m inputs: the Gram chain
# --------------------------------------------------------------------------------------------
def gram_batch(
    widths: Sequence[int],
    inputs: NDArray[np.float64] | None,
    streams: Streams,
    *,
    n_inputs: int,
    input_dim: int,
    slope: float = 0.0,
    bias_std: float = 0.0,
    tolerance: float = 1e-3,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    """Gram chain for m inputs and a chunk of k networks, with the effective-dimension panel.

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
    slope, bias_std : float
        Activation slope α and bias standard deviation σ_b.
    tolerance : float
        Relative tolerance of the numerical rank.

    Returns
    -------
    panel : dict of str to ndarray, shape (L+1, k)
        The metrics of :data:`~depthscope.simulation._metrics.PANEL_METRICS`; row 0 = the inputs,
        whose
        mask diagnostics are NaN (inputs have no activation pattern).
    dead : ndarray of bool, shape (L+1, k)
        True where some input's representation is exactly zero.

    Notes
    -----
    Writing the post-activations of layer ℓ−1 as the columns of Φ (n_{ℓ−1} × m) with thin QR
    Φ = QR, the rows of W Φ are iid N(0, (2/n_{ℓ−1}) RᵀR): so Z = √(2/n_{ℓ−1}) ξ R + σ_b β 1ᵀ with
    ξ (n_ℓ × rank) and β (n_ℓ) standard normal is exact in distribution. R is the same factor
    that the panel needs, and it never fails on a singular Gram matrix.
    """
    k = len(streams)
    m = n_inputs
    if inputs is None:
        x = np.empty((k, m, input_dim))
        for j, gen in enumerate(streams):
            x[j] = gen.standard_normal((m, input_dim))
    else:
        x = np.broadcast_to(inputs, (k, m, input_dim))
    r = r_factor(np.swapaxes(x, 1, 2))
    panels = [panel_from_factors(r, input_dim, tolerance=tolerance)]
    dead = [np.any(np.all(x == 0.0, axis=-1), axis=-1)]
    n_prev = input_dim
    for n in widths:
        rows = r.shape[1]
        noise = np.empty((k, rows + (1 if bias_std else 0), n))
        for j, gen in enumerate(streams):
            standard_normal(gen, noise[j])
        # Zᵀ (m × n) = √(2/n_prev) Rᵀ ξᵀ (+ σ_b β): representations as rows, C-contiguous.
        z = np.matmul(np.swapaxes(r, 1, 2), noise[:, :rows])
        z *= math.sqrt(_HE_GAIN2 / n_prev)
        if bias_std:
            z += bias_std * noise[:, rows:]
        panel, r, is_dead = _batch_layer(z, slope, tolerance)
        panels.append(panel)
        dead.append(is_dead)
        n_prev = n
    return _stack_panels(panels), np.stack(dead)


def _batch_layer(
    z: NDArray[np.float64], slope: float, tolerance: float
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.float64], NDArray[np.bool_]]:
    """Activate pre-activations ``z`` (k, m, n) in place; return the panel, R and dead flags."""
    active = z > 0.0
    fraction = active.mean(axis=(1, 2))
    mask_r = r_factor(np.swapaxes(active, 1, 2).astype(np.float64))
    phi = _activate(z, slope)
    r = r_factor(np.swapaxes(phi, 1, 2))
    panel = panel_from_factors(
        r, z.shape[-1], tolerance=tolerance, mask_r=mask_r, active_fraction=fraction
    )
    return panel, r, np.any(np.all(phi == 0.0, axis=-1), axis=-1)


def _stack_panels(panels: list[dict[str, NDArray[np.float64]]]) -> dict[str, NDArray[np.float64]]:
    return {name: np.stack([p[name] for p in panels]) for name in PANEL_METRICS}


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
        w *= math.sqrt(_HE_GAIN2 / fan_in)
        return w
    if init == "orthogonal":
        tall = fan_out >= fan_in
        g = gen.standard_normal((fan_out, fan_in) if tall else (fan_in, fan_out))
        q, r = np.linalg.qr(g)
        signs = np.sign(np.diagonal(r))
        q *= np.where(signs == 0, 1.0, signs)
        q *= math.sqrt(_HE_GAIN2)
        return q if tall else q.T
    if init == "truncated_normal":
        w = gen.standard_normal((fan_out, fan_in))
        outside = np.abs(w) > 2.0
        while outside.any():
            w[outside] = gen.standard_normal(int(outside.sum()))
            outside = np.abs(w) > 2.0
        w *= math.sqrt(_HE_GAIN2 / fan_in) / TRUNCATED_NORMAL_SD
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


def dense_pair(
    widths: Sequence[int],
    theta0: float,
    streams: Streams,
    *,
    input_dim: int,
    init: str = "gaussian",
    slope: float = 0.0,
    bias_std: float = 0.0,
) -> list[PairStats]:
    """Two inputs through explicit weight matrices; same output as :func:`gram_pair`.

    Row 0 is computed from the inputs of :func:`random_pair_inputs` with ``det = sin²θ₀``
    exactly. The pair is propagated as (a, Δ): X = W a + β, D = W Δ (the bias cancels).
    """
    a, delta = random_pair_inputs(streams, theta0, input_dim)
    k = len(streams)
    first = _pair_stats(a, delta)
    out = [(first[0], first[1], first[2], np.full(k, math.sin(theta0) ** 2) * first[0])]
    h = np.stack([a, delta], axis=-1)
    for n in widths:
        z, bias = _dense_layer(h, n, streams, init, bias_std)
        x, d = z[..., 0], z[..., 1]
        if bias is not None:
            x += bias[..., 0]
        x, d = np.ascontiguousarray(x), np.ascontiguousarray(d)
        a, delta = _activate_pair(x, d, slope, np.empty_like(x))
        aa, dd, ad, det = _pair_stats(a, delta)
        if bias_std == 0.0:  # parallel representations stay parallel without bias
            det = np.where(out[-1][3] > 0.0, det, 0.0)
        out.append((aa, dd, ad, det))
        h = np.stack([a, delta], axis=-1)
    return out


def dense_batch(
    widths: Sequence[int],
    inputs: NDArray[np.float64] | None,
    streams: Streams,
    *,
    n_inputs: int,
    input_dim: int,
    init: str = "gaussian",
    slope: float = 0.0,
    bias_std: float = 0.0,
    tolerance: float = 1e-3,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    """Propagate m inputs through explicit weight matrices; same output as :func:`gram_batch`."""
    k = len(streams)
    m = n_inputs
    if inputs is None:
        x = np.empty((k, m, input_dim))
        for j, gen in enumerate(streams):
            x[j] = gen.standard_normal((m, input_dim))
    else:
        x = np.array(np.broadcast_to(inputs, (k, m, input_dim)))
    r = r_factor(np.swapaxes(x, 1, 2))
    panels = [panel_from_factors(r, input_dim, tolerance=tolerance)]
    dead = [np.any(np.all(x == 0.0, axis=-1), axis=-1)]
    h = np.swapaxes(x, 1, 2)  # (k, n_prev, m): representations as columns
    for n in widths:
        z, bias = _dense_layer(np.ascontiguousarray(h), n, streams, init, bias_std)
        if bias is not None:
            z += bias
        zt = np.ascontiguousarray(np.swapaxes(z, 1, 2))  # (k, m, n)
        panel, _r, is_dead = _batch_layer(zt, slope, tolerance)
        panels.append(panel)
        dead.append(is_dead)
        h = np.swapaxes(zt, 1, 2)
    return _stack_panels(panels), np.stack(dead)
