"""The maths of two inputs through a random layer, written once for numpy and torch arrays.

Both backends of :func:`depthscope.simulate` track a pair of inputs as ``a`` (the first input's
representation) and ``Δ = b − a``, summarised per layer by the per-coordinate Gram entries
``(|a|², |Δ|², a·Δ, det) / n``. Every function here takes an array namespace ``ops`` first
(:data:`NUMPY`, or the torch backend's): the formulas are the same, only the arrays differ.
Nothing here draws random numbers: the callers pass the standard normals ξ, η of a layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "HE_GAIN2",
    "NUMPY",
    "PARALLEL_RTOL",
    "ArrayOps",
    "PairStats",
    "activate_pair",
    "gram_determinant",
    "gram_entries",
    "gram_pair_chain",
    "gram_preactivations",
    "input_pair_stats",
    "layer_pair_stats",
    "pair_stats",
    "renormalise",
]

#: Variance gain of He initialization, Var W = 2 / fan_in (used for every activation slope).
HE_GAIN2 = 2.0
#: Below this relative Gram determinant a pair is checked for a one-unit support (parallel).
PARALLEL_RTOL = 1e-10

PairStats: TypeAlias = tuple[Any, Any, Any, Any]
"""Per-coordinate ``(|a|², |Δ|², a·Δ, det)`` of a chunk of networks, each of shape (k,)."""


class ArrayOps(Protocol):
    """The few array operations whose spelling differs between numpy and torch."""

    def where(self, condition: Any, x: Any, y: Any) -> Any:
        """Elementwise ``x`` where ``condition``, else ``y`` (either may be a float)."""

    def sqrt(self, x: Any) -> Any:
        """Elementwise square root."""

    def abs(self, x: Any) -> Any:
        """Elementwise absolute value."""

    def maximum(self, x: Any, y: Any, out: Any = None) -> Any:
        """Elementwise maximum; ``y`` is an array like ``x`` or a float; into ``out`` if given."""

    def minimum(self, x: Any, y: Any, out: Any = None) -> Any:
        """Elementwise minimum; ``y`` is an array like ``x`` or a float; into ``out`` if given."""

    def dot(self, a: Any, b: Any) -> Any:
        """Inner products over the last axis, (..., n) × (..., n) → (...)."""

    def one_unit(self, a: Any, delta: Any, rows: Any) -> Any:
        """Flag the rows (among ``rows``) where ``a`` and ``Δ`` share ≤ 1 non-zero unit."""


class _NumpyOps:
    """:class:`ArrayOps` for numpy arrays."""

    where = staticmethod(np.where)
    sqrt = staticmethod(np.sqrt)
    abs = staticmethod(np.abs)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)

    @staticmethod
    def dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.einsum("...i,...i->...", a, b)

    @staticmethod
    def one_unit(
        a: NDArray[np.float64], delta: NDArray[np.float64], rows: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        suspect = np.flatnonzero(rows)  # rare: count the support of these rows only
        if not suspect.size:
            return rows
        support = np.count_nonzero((a[suspect] != 0) | (delta[suspect] != 0), axis=-1)
        out = np.zeros(rows.shape, dtype=bool)
        out[suspect[support <= 1]] = True
        return out


#: The numpy namespace of the pair maths.
NUMPY: ArrayOps = _NumpyOps()


def input_pair_stats(theta0: float, k: int) -> PairStats:
    """Gram entries (per coordinate) of two inputs at angle θ₀ with unit mean-square entries.

    With a = e and Δ = b − a = −2 sin²(θ₀/2) e + sin θ₀ e⊥: ``|a|² = 1``,
    ``|Δ|² = 4 sin²(θ₀/2)``, ``a·Δ = −2 sin²(θ₀/2)`` and the Gram determinant sin²θ₀ exactly.
    """
    half = math.sin(theta0 / 2.0) ** 2
    full = np.ones(k)
    return full, full * (4.0 * half), full * (-2.0 * half), full * math.sin(theta0) ** 2


def gram_determinant(ops: ArrayOps, aa: Any, dd: Any, ad: Any) -> Any:
    """``max(|a|²|Δ|² − (a·Δ)², 0)``, the Gram determinant of (a, Δ), equal to that of (a, b)."""
    return ops.maximum(aa * dd - ad * ad, 0.0)


def gram_entries(ops: ArrayOps, a: Any, delta: Any, n: int = 1) -> PairStats:
    """``(|a|², |Δ|², a·Δ) / n`` over the last axis and their Gram determinant."""
    aa = ops.dot(a, a) / n
    dd = ops.dot(delta, delta) / n
    ad = ops.dot(a, delta) / n
    return aa, dd, ad, gram_determinant(ops, aa, dd, ad)


def pair_stats(ops: ArrayOps, a: Any, delta: Any) -> PairStats:
    """Per-coordinate Gram entries (ā, d̄, c̄, det) of the rows of ``a`` and ``delta``.

    Two representations supported on a single unit are parallel (θ = 0, a positive-probability
    event for narrow ReLU layers): their determinant is set to exactly 0 instead of rounding
    noise, so that ln sin²θ = −inf and, without bias, the collapse is absorbing.
    """
    aa, dd, ad, det = gram_entries(ops, a, delta, a.shape[-1])
    parallel = ops.one_unit(a, delta, det <= PARALLEL_RTOL * aa * dd)
    return aa, dd, ad, ops.where(parallel, 0.0, det)


def activate_pair(ops: ArrayOps, x: Any, d: Any, slope: float) -> tuple[Any, Any]:
    """Return (φ(x), φ(x + d) − φ(x)) for φ(x) = α x + (1 − α) max(x, 0), without cancellation.

    Uses max(x + d, 0) − max(x, 0) = max(d, −x) + min(x, 0), exact when x and x + d share a
    sign. Overwrites ``x`` and ``d`` (the caller's fresh pre-activations), so that a layer
    allocates one array here, not six.
    """
    delta = -x
    ops.maximum(d, delta, out=delta)
    if slope == 0.0:
        delta += ops.minimum(x, 0.0, out=d)
        return ops.maximum(x, 0.0, out=x), delta
    d *= slope
    relu_x = ops.maximum(x, 0.0)
    delta += ops.minimum(x, 0.0)
    delta *= 1.0 - slope
    delta += d
    x *= slope
    relu_x *= 1.0 - slope
    x += relu_x
    return x, delta


def gram_preactivations(
    ops: ArrayOps,
    xi: Any,
    eta: Any,
    stats: PairStats,
    bias_std: float,
    gain2: float = HE_GAIN2,
) -> tuple[Any, Any]:
    """Pre-activations (X, D) of the next layer from standard normals ξ, η of shape (k, n).

    X = c_x ξ and D = c_dξ ξ + c_dη η, where (X, X + D) have Var X = p = σ_w²ā + σ², Var D =
    q = σ_w²d̄ and Cov(X, D) = r = σ_w²c̄ (bars: per-unit means of the previous
    post-activations; σ_w² = ``gain2``, 2 for He weights): c_x = √p, c_dξ = r/√p and
    c_dη = √(det/p), the conditional sd of D given X, with det = pq − r² =
    σ_w⁴(ād̄ − c̄²) + σ_w²σ² d̄ a sum of non-negative terms.
    """
    aa, dd, ad, det = stats
    sigma2 = bias_std * bias_std
    p = gain2 * aa + sigma2
    det_pre = gain2 * gain2 * det + gain2 * sigma2 * dd
    live = p > 0
    safe_p = ops.where(live, p, 1.0)
    c_x = ops.sqrt(p)
    c_dxi = ops.where(live, gain2 * ad / ops.sqrt(safe_p), 0.0)
    c_deta = ops.where(live, ops.sqrt(det_pre / safe_p), ops.sqrt(gain2 * dd))
    if sigma2 == 0.0:
        # No bias: an input whose representation is exactly zero stays exactly zero.
        b_dead = (aa + 2.0 * ad + dd) <= 0.0
        c_dxi = ops.where(b_dead, -c_x, c_dxi)
        c_deta = ops.where(b_dead, 0.0, c_deta)
    d = xi * c_dxi[:, None]
    d += eta * c_deta[:, None]
    return xi * c_x[:, None], d


def layer_pair_stats(
    ops: ArrayOps, a: Any, delta: Any, previous_det: Any, bias_std: float
) -> PairStats:
    """:func:`pair_stats` of a layer's post-activations ``a``, ``Δ``, shape (k, n).

    Without bias, parallel representations stay parallel: where the previous layer's
    determinant ``previous_det`` is 0, so is this one's.
    """
    aa, dd, ad, det = pair_stats(ops, a, delta)
    if bias_std == 0.0:
        det = ops.where(previous_det > 0.0, det, 0.0)
    return aa, dd, ad, det


def renormalise(ops: ArrayOps, stats: PairStats, bias_std: float) -> PairStats:
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
    norm2 = ops.where(live, aa * bb, 1.0)
    sin2 = ops.minimum(det / norm2, 1.0)
    cos = (aa + ad) / ops.sqrt(norm2)
    half = ops.where(cos >= 0, sin2 / (2.0 * (1.0 + ops.abs(cos))), (1.0 - cos) / 2.0)
    return (
        ops.where(live, 1.0, aa),
        ops.where(live, 4.0 * half, dd),
        ops.where(live, -2.0 * half, ad),
        ops.where(live, sin2, det),
    )


def gram_pair_chain(
    ops: ArrayOps,
    first: PairStats,
    widths: Sequence[int],
    normals: Callable[[int, int], tuple[Any, Any]],
    *,
    slope: float,
    bias_std: float,
    gain2: float = HE_GAIN2,
    activate: Callable[[Any, Any], tuple[Any, Any]] | None = None,
    block: Callable[[int, PairStats, PairStats], PairStats] | None = None,
    rescale: bool = True,
) -> list[PairStats]:
    """Run the two-input Gram chain: per-coordinate Gram entries of layers 0..L.

    ``first`` is the input layer's state (:func:`input_pair_stats`); ``normals(start, n)``
    returns the standard normals ξ, η, each (k, n), of the layer whose units are numbered
    ``start .. start + n − 1`` in every network's stream.

    The defaults are the ReLU / leaky-ReLU chain with He weights. ``gain2`` is σ_w² (weights
    N(0, σ_w²/fan-in)); ``activate(x, d)`` replaces :func:`activate_pair` for an activation
    that is not positively homogeneous (it returns (φ(x), φ(x + d) − φ(x))); ``block(ℓ, G, P)``
    turns the previous layer's state G and the branch's post-activation Gram P into the state
    of a residual block (:func:`._general.block_pair_stats`). Only a homogeneous chain without
    bias is rescaled to unit norms (its angle does not depend on them); ``rescale=False``
    keeps the norms anyway (for tests of ln‖h‖²).
    """
    homogeneous = activate is None
    keep_det = homogeneous and bias_std == 0.0
    stats, out, start = first, [first], 0
    for index, n in enumerate(widths):
        xi, eta = normals(start, n)
        x, d = gram_preactivations(ops, xi, eta, stats, bias_std, gain2)
        a, delta = activate_pair(ops, x, d, slope) if activate is None else activate(x, d)
        new = layer_pair_stats(ops, a, delta, stats[3], bias_std if keep_det else 1.0)
        if block is not None:
            new = block(index, stats, new)
            if keep_det:
                new = (*new[:3], ops.where(stats[3] > 0.0, new[3], 0.0))
        out.append(new)
        stats = renormalise(ops, new, bias_std) if keep_det and rescale else new
        start += n
    return out
