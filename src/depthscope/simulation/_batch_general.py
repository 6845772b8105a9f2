"""The m-input Gram chain beyond He ReLU: any activation, σ_w, σ_b, q₀ and residual blocks.

The networks are those of :mod:`._general` (the issue "Beyond the paper"):

* plain layer: h_ℓ = φ(W_ℓ h_{ℓ−1} + b_ℓ), W iid N(0, σ_w²/n_{ℓ−1}), b iid N(0, σ_b²);
* residual block (constant width n, the stream starting at the inputs, n₀ = n):
  h_ℓ = h_{ℓ−1} + α V_ℓ φ(W_ℓ h_{ℓ−1} + b_ℓ), V, W iid N(0, σ_w²/n);
* drawn inputs (``inputs=m``) iid N(0, q₀) per coordinate, so ‖x‖²/n₀ ≈ q₀; fixed inputs are
  used as given (their scale is theirs, q₀ must be 1).

Everything is exact in distribution. The state of a network is the R factor (m × m, or
n × m when n < m) of the thin QR h = Q R of its m representations, the columns of h.

Plain layer. Given h_{ℓ−1} = Q R, the rows of W h_{ℓ−1} are iid N(0, (σ_w²/n_{ℓ−1}) RᵀR), so
Z = (σ_w/√n_{ℓ−1}) ξ R + σ_b β 1ᵀ with ξ (n_ℓ × rows R) and β (n_ℓ) standard normal, the
chain of :func:`._samplers.batch_chain` with √2 replaced by σ_w; then h_ℓ = φ(Z) and its R.

Residual block. Let s = σ_w/√n, Z = (σ_w/√n) ξ R + σ_b β 1ᵀ the branch's pre-activations
(as above), p = φ(Z) (n × m) and R_p its R factor (r_p × m, p = Q_p R_p). V is independent of
(h, p), so V Q_p is n × r_p with iid N(0, s²) entries and V p = s G R_p, G iid N(0, 1)
independent of h and p. Complete Q (n × r_h) to an orthogonal [Q, Q⊥], a function of h only;
[Q, Q⊥]ᵀ G is again iid N(0, 1), with blocks G₁ (r_h × r_p) and G₂ ((n − r_h) × r_p). So::

    Qᵀ h'  = R + α s G₁ R_p,        Q⊥ᵀ h' = α s G₂ R_p,

and h'ᵀh' = (R + α s G₁ R_p)ᵀ(R + α s G₁ R_p) + α² s² R_pᵀ (G₂ᵀG₂) R_p, with
G₂ᵀG₂ ~ Wishart_{r_p}(n − r_h, I). By Bartlett (d = n − r_h ≥ r_p), G₂ᵀG₂ has the law of A Aᵀ,
A lower triangular with A_ii² ~ χ²_{d−i+1} (i = 1 … r_p) and A_ij ~ N(0, 1) below the
diagonal, all independent; then R_pᵀ A Aᵀ R_p = (Aᵀ R_p)ᵀ(Aᵀ R_p). The new state is the R
factor of the stacked matrix::

    [ R + α s G₁ R_p ]     (r_h rows)
    [ α s Aᵀ R_p      ]     (r_p rows)

whose Gram matrix is h'ᵀh' (any two matrices with the same Gram matrix differ by a left
isometry, which no panel metric sees). Where d < r_p (n < r_h + r_p, e.g. n < 2m) G₂ itself,
d × r_p, takes the place of Aᵀ; where n ≤ m (r_h = n) there is no orthogonal part. Per block:
the n × m pre-activations and O(m²) more numbers, no n × n matrix. For m = 2 this is the
two-input sampler of :func:`._general.block_pair_stats` (Bartlett's χ²_{n−2}, χ²_{n−3}).

The mask diagnostics (``active_fraction``, ``mask_rank``) are those of Z > 0, the layer's (or
the block branch's) pre-activations: for ReLU the activation pattern, for a smooth φ the sign
pattern of the pre-activations. The activation functions are those of
:mod:`depthscope.theory._activations` (``Network.phi.fn``), or φ(z) = z for z ≥ 0 and α z
otherwise for the a·min + b·max family (relu, leaky, abs, linear).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._general import Network
from ._metrics import PANEL_METRICS, panel_from_factors, r_factor

__all__ = [
    "activate_slope",
    "bartlett_dof",
    "block_stack",
    "general_batch_chain",
    "numpy_activation",
    "orthogonal_rows",
]

Streams = Sequence[np.random.Generator]
Fill = Callable[[np.random.Generator, NDArray[np.float64]], NDArray[np.float64]]
Panel = dict[str, NDArray[np.float64]]


def numpy_activation(network: Network) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """Return φ of ``network`` for numpy arrays (slopes in place; a smooth φ: a new array)."""
    phi = network.phi
    if phi is not None:
        return phi.fn
    return functools.partial(activate_slope, slope=0.0 if network.slope is None else network.slope)


def activate_slope(z: NDArray[np.float64], slope: float) -> NDArray[np.float64]:
    """φ(z) = z for z ≥ 0 and ``slope``·z otherwise, in place (relu, leaky, abs, linear)."""
    if slope == 0.0:
        return np.maximum(z, 0.0, out=z)
    return np.multiply(z, slope, out=z, where=z < 0.0)


def orthogonal_rows(width: int, rows_h: int, rows_p: int) -> tuple[int, bool]:
    """Rows of the orthogonal part of a residual block, and whether Bartlett's A gives them.

    ``(rows_p, True)`` where d = n − r_h ≥ r_p (Bartlett), else ``(d, False)``: the d × r_p
    Gaussian block G₂ itself (d = 0 where n ≤ m).
    """
    d = width - rows_h
    return (rows_p, True) if d >= rows_p else (d, False)


def bartlett_dof(width: int, rows_h: int, rows_p: int) -> NDArray[np.float64]:
    """Degrees of freedom d − i + 1 (i = 1 … r_p) of Bartlett's χ², d = n − r_h ≥ r_p."""
    return np.arange(width - rows_h, width - rows_h - rows_p, -1, dtype=np.float64)


def block_stack(
    r: Any, r_p: Any, g1: Any, orth: Any, scale: float, cat: Callable[[list[Any]], Any]
) -> Any:
    """Stack [R + s G₁ R_p; s O R_p] (k, r_h + rows O, m), s = α σ_w/√n; numpy or torch arrays.

    ``orth`` is Aᵀ (Bartlett, upper triangular r_p × r_p) or G₂ (d × r_p); ``cat`` joins a list
    of arrays along axis 1 (numpy ``concatenate``, torch ``cat``).
    """
    top = r + scale * (g1 @ r_p)
    if orth.shape[1] == 0:
        return top
    return cat([top, scale * (orth @ r_p)])


def general_batch_chain(
    widths: Sequence[int],
    inputs: NDArray[np.float64] | None,
    streams: Streams,
    network: Network,
    *,
    n_inputs: int,
    input_dim: int,
    bias_std: float,
    tolerance: float,
    fill_normals: Fill,
) -> tuple[Panel, NDArray[np.bool_]]:
    """Run the m-input Gram chain of ``network`` (numpy): panel and dead flags, layers 0..L.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths n_1, ..., n_L (one constant n = n₀ for residual blocks).
    inputs : ndarray, shape (m, input_dim), or None
        Fixed inputs, or None to draw iid N(0, q₀) inputs per network, before any weight.
    streams : sequence of numpy.random.Generator
        One stream per network.
    network : Network
        Activation, σ_w, q₀ and residual blocks (:mod:`._general`).
    n_inputs, input_dim : int
        m and n₀.
    bias_std, tolerance : float
        σ_b and the numerical rank's relative tolerance.
    fill_normals : callable
        ``fill_normals(gen, out)`` fills ``out`` with standard normals
        (:func:`._samplers.standard_normal`).

    Returns
    -------
    panel : dict of str to ndarray, shape (L+1, k)
        As :func:`._samplers.batch_chain`; row 0 = the inputs.
    dead : ndarray of bool, shape (L+1, k)
        True where some input's representation is exactly zero.

    Notes
    -----
    Per network and layer the stream gives, in order: the (rows R + [σ_b > 0]) × n normals of
    the pre-activations; for a residual block then G₁ (r_h × r_p) and Bartlett's r_p × r_p
    normals (or G₂, d × r_p) in one block, and the r_p χ² (``standard_gamma``). A network's
    numbers do not depend on the chunk it is simulated in.
    """
    k, m = len(streams), n_inputs
    if inputs is None:
        x = np.empty((k, m, input_dim))
        for j, gen in enumerate(streams):
            x[j] = gen.standard_normal((m, input_dim))
        if network.q0 != 1.0:
            x *= math.sqrt(network.q0)
    else:  # q0 = 1: the plan refuses any other with fixed inputs
        x = np.broadcast_to(inputs, (k, m, input_dim))
    r = r_factor(np.swapaxes(x, 1, 2))
    panels = [panel_from_factors(r, input_dim, tolerance=tolerance)]
    dead = [np.any(np.all(x == 0.0, axis=-1), axis=-1)]
    phi = numpy_activation(network)
    alpha = network.residual
    n_prev = input_dim
    for n in widths:
        rows = r.shape[1]
        noise = np.empty((k, rows + (1 if bias_std else 0), n))
        for j, gen in enumerate(streams):
            fill_normals(gen, noise[j])
        z = np.matmul(np.swapaxes(r, 1, 2), noise[:, :rows])  # (k, m, n): rows = inputs
        z *= math.sqrt(network.gain2 / n_prev)
        if bias_std:
            z += bias_std * noise[:, rows:]
        active = z > 0.0
        fraction = active.mean(axis=(1, 2))
        mask_r = r_factor(np.swapaxes(active, 1, 2).astype(np.float64))
        post = phi(z)
        r_post = r_factor(np.swapaxes(post, 1, 2))
        if alpha is None:
            r = r_post
            is_dead = np.any(np.all(post == 0.0, axis=-1), axis=-1)
        else:
            r = _block(r, r_post, n, alpha * math.sqrt(network.gain2 / n), streams, fill_normals)
            is_dead = np.any(np.all(r == 0.0, axis=-2), axis=-1)
        panels.append(
            panel_from_factors(r, n, tolerance=tolerance, mask_r=mask_r, active_fraction=fraction)
        )
        dead.append(is_dead)
        n_prev = n
    return {name: np.stack([p[name] for p in panels]) for name in PANEL_METRICS}, np.stack(dead)


def _block(
    r: NDArray[np.float64],
    r_p: NDArray[np.float64],
    width: int,
    scale: float,
    streams: Streams,
    fill_normals: Fill,
) -> NDArray[np.float64]:
    """Return the stream's new R factor after a residual block (module docstring), numpy."""
    k, rows_h, rows_p = len(streams), r.shape[1], r_p.shape[1]
    rows_o, bartlett = orthogonal_rows(width, rows_h, rows_p)
    normals = np.empty((k, rows_h + rows_o, rows_p))
    gammas = np.empty((k, rows_p if bartlett else 0))
    shapes = bartlett_dof(width, rows_h, rows_p) / 2.0 if bartlett else None
    for j, gen in enumerate(streams):
        fill_normals(gen, normals[j])
        if shapes is not None:
            gammas[j] = gen.standard_gamma(shapes)  # χ²_d = 2 Gamma(d/2)
    g1, orth = normals[:, :rows_h], normals[:, rows_h:]
    if bartlett:  # Aᵀ: upper triangular, √χ² on the diagonal, normals above it
        orth = np.triu(np.swapaxes(orth, 1, 2), 1)
        index = np.arange(rows_p)
        orth[:, index, index] = np.sqrt(2.0 * gammas)
    stacked = block_stack(r, r_p, g1, orth, scale, lambda parts: np.concatenate(parts, axis=1))
    return r_factor(stacked)
