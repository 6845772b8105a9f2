"""One-step moments of w = (φ(u)², φ(u)g, g²) for smooth φ by a tensor Gauss–Hermite rule.

The quadrature behind :func:`depthscope.theory._general_law.one_step_moments` for φ without
kinks (tanh, erf, GELU, SiLU): (u, d) in Cholesky coordinates (u = l11 z₁, d = l21 z₁ + l22 z₂),
g = φ(u) − φ(u − d) without cancellation (:func:`_g_values`), and each point's outer and inner
orders taken from its scales (:data:`_GH_ORDERS`, :data:`_GH_INNER` and their GELU/SiLU tables).
GELU and SiLU are relu, tanh and erf sign, plus a remainder that vanishes beyond |u| ≈ 9 (GELU),
38 (SiLU), 18.5 (tanh) or 6 (erf). At large scales Gauss–Hermite converges slowly on them, so
there the outer sum (over z₁) takes a composite Gauss–Legendre rule refined around z₁ = 0
(:func:`_composite_rule`, from the feature scales of :data:`_OUTER_WINDOWS`), and for GELU and
SiLU the inner sum is exact where d's sd given u exceeds 1.7 (:func:`_moments_wide`: relu's part
in closed form, the remainder by Gauss–Legendre on its window), for tanh and erf where it exceeds
1.25 (sign's part in closed form, likewise).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import ndtr

from .._types import FloatArray
from ._activations import Activation, parse_activation

__all__ = ["moments_smooth"]

_GL3_NODES, _GL3_WEIGHTS = np.polynomial.legendre.leggauss(3)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@functools.cache
def _gl_rule(order: int) -> tuple[FloatArray, FloatArray]:
    """Gauss–Legendre nodes and weights on [−1, 1] (shared: never written to)."""
    return np.polynomial.legendre.leggauss(order)


def _panels(edges: FloatArray, order: int) -> tuple[FloatArray, FloatArray]:
    """Composite Gauss–Legendre on the pieces between ``edges`` (..., P + 1): (..., P·order)."""
    unit, unit_w = _gl_rule(order)
    lo, hi = edges[..., :-1], edges[..., 1:]
    half = 0.5 * (hi - lo)
    nodes = ((lo + half)[..., None] + half[..., None] * unit).reshape(*edges.shape[:-1], -1)
    return nodes, (half[..., None] * unit_w).reshape(nodes.shape)


def _symmetric_panels(ends: tuple[float, ...], order: int) -> tuple[FloatArray, FloatArray]:
    """Composite Gauss–Legendre on the pieces between ±ends and 0 (a window around 0)."""
    return _panels(np.array([-e for e in ends[::-1]] + [0.0] + list(ends)), order)


def _normal_kernel(nodes: FloatArray, mu: FloatArray, s: FloatArray) -> FloatArray:
    """Return the N(mu, s²) density at ``nodes``, shape (*mu.shape, len(nodes))."""
    kernel = (nodes - mu[..., None]) / s[..., None]
    return np.exp(-0.5 * kernel * kernel) * (_INV_SQRT_2PI / s)[..., None]


@functools.cache
def _gh_rule(order: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Gauss–Hermite rule for N(0, 1) of ``order`` nodes, and its half (z > 0, weights doubled)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    weights = weights / math.sqrt(2.0 * math.pi)
    return nodes, weights, nodes[order // 2 :], 2.0 * weights[order // 2 :]


#: Gauss–Hermite orders by the larger sd s of u or d at each point: φ' is a bump of width ≈ 1
#: in u, so a fixed rule loses it as s grows. One tanh/erf step at θ = 0.1 against 320 nodes
#: (T's mean error in sds of the step; ln A's sd): 24 nodes: s = 1.2: 0.01, 0.8%; 1.5: 0.04-0.06,
#: 3-4%; 2.2: 0.4, 15-25%; 48 nodes: 2.2: 0.02-0.04, 2-4%; 3.2: 0.24-0.27, 14-23%; 96 nodes:
#: 3.2: 0.02, 2-4%; 160 nodes: s = 4: 1.5-2.9% (ln A's sd). Those errors are per step, in the
#: step's own sd at width 100: as biases they add up with depth and grow, in sds, with √width.
#: Since the eighth session the outer sum uses these tables only where z₁'s features are wide
#: (:data:`_OUTER_WINDOWS`: below scale 0.7 for tanh, 0.8 erf, 1.2 GELU, 1.5 SiLU; 24 nodes there
#: are within 4e-5 of the first moments), the composite rule beyond; the inner sum uses them all.
_GH_ORDERS = ((1.25, 24), (2.0, 48), (3.0, 96), (math.inf, 160))
#: GELU and SiLU (φ' a smoothed step): T' within 0.005 and the sds within 0.5% of 320 nodes
#: with 24 nodes to sd 1.7 (0.0051 at 2), 48 to 3 (0.0028), 96 to 6 (0.0038).
_GH_ORDERS_SOFT = ((1.7, 24), (3.0, 48), (6.0, 96), (math.inf, 160))
#: The inner rule (over z₂, which moves d = l21 z₁ + l22 z₂ only) takes its order from l22, the
#: sd of d given u: small l22 (small angles, collapsed layers) needs few nodes; from l22 = 0.7
#: (tanh/erf) or 0.8 (GELU/SiLU) on, the outer tables'. Measured on 330 predictions (tanh, erf,
#: GELU, SiLU; σ_w² 1-2, σ_b 0-0.5, q0 0.5-2, θ0 0.1-3; the blocks; width 128, depth 50) against
#: rules of twice the order on both axes: the largest error grew by ≤ 3e-5 sd (mean and sd of X at
#: every layer) over the rule with the outer order on both axes; biased GELU/SiLU and erf 1.5-1.8×
#: faster. GELU/SiLU's outer order comes from max(l11, |l21|) (:func:`moments_smooth`): ≤ 1.3e-4
#: sd on the same 330, ≤ 6.6e-3 on 54 GELU σ_w² = 2 cases (widths 128-1024, q0 0.5-2, θ0
#: 0.1-3, σ_b 0-0.05: the same largest error as before), He-init GELU 2× faster.
_GH_INNER_PREFIX = ((0.05, 4), (0.15, 6), (0.4, 10))
_GH_INNER = (*_GH_INNER_PREFIX, (0.7, 16), *_GH_ORDERS)
_GH_INNER_SOFT = (*_GH_INNER_PREFIX, (0.8, 16), *_GH_ORDERS_SOFT)
_SMALL_D = 0.25  # below this |d|, g = φ(u) − φ(u − d) = ∫ φ' by 3-point Gauss–Legendre
_CLIP = 175.0  # |u|, |d| ≤ 175: cosh u · cosh(u − d) stays finite


# --- moments of w = (φ(u)², φ(u) g, g²) under (u, d) Gaussian ---------------------------------


def _g_values(
    act: Activation,
    u: FloatArray,
    d: FloatArray,
    inside: bool = False,
    out: FloatArray | None = None,
) -> FloatArray:
    """G = φ(u) − φ(u − d) at points (u, d), without cancellation; ``u`` broadcasts against d.

    tanh: sinh(d)/(cosh u cosh(u − d)). Otherwise, where |d| is small, g = ∫ φ' over
    [u − d, u] by 3-point Gauss–Legendre, evaluated at those points only. ``inside``: the
    caller knows that |u|, |d| ≤ 175 (tanh's clip, a no-op then, is not checked). ``out``: a
    contiguous array of d's shape to write g into.
    """
    if act.name == "tanh":  # arguments clipped so that cosh·cosh stays finite (g is ±1-ish there)
        if not inside and (np.abs(u).max() > _CLIP or np.abs(d).max() > _CLIP):  # else a no-op
            # clip u and v = u − d, not d: a clipped d moved v (u = 300, d = 250 gave g = 1, not
            # 0; tanh blocks at q0 = 10⁶ 20% low in the sd); sinh(350), cosh(175)² stay finite
            u, v = np.clip(u, -_CLIP, _CLIP), np.clip(np.subtract(u, d), -_CLIP, _CLIP)
            d = np.subtract(u, v)
        denominator = np.cosh(np.subtract(u, d))
        denominator *= np.cosh(u)
        return np.divide(np.sinh(d, out=out), denominator, out=out)
    if act.derivative is None:
        return np.subtract(act.fn(u), act.fn(u - d), out=out)
    near = np.abs(d) <= _SMALL_D
    n_near = np.count_nonzero(near)
    if n_near == near.size:  # (deep layers of a contracting network): no φ(u − d) at all
        half = 0.5 * d
        nodes = (u - half)[..., None] + half[..., None] * _GL3_NODES
        return np.multiply(half, act.derivative(nodes) @ _GL3_WEIGHTS, out=out)
    g = np.subtract(act.fn(u), act.fn(u - d), out=out)  # φ(u) once per node, broadcast
    if n_near:  # the near points, by flat index
        where = np.flatnonzero(near)
        if u.shape == (*d.shape[:-1], 1):  # one u per row of d (the quadrature grid)
            u_near = u.reshape(-1)[where // d.shape[-1]]
        else:
            u_near = np.broadcast_to(u, d.shape).reshape(-1)[where]
        half = 0.5 * d.reshape(-1)[where]
        nodes = (u_near - half)[:, None] + half[:, None] * _GL3_NODES
        g.reshape(-1)[where] = half * (act.derivative(nodes) @ _GL3_WEIGHTS)
    return np.asarray(g)


def moments_smooth(act, l11, l21, l22):
    """E[w], E[w wᵀ] by a tensor Gauss–Hermite rule in the Cholesky coordinates of (u, d).

    u = l11 z₁ depends on the first node only, so every moment is a 1-D sum over z₁ of φ(u)^a
    times G_b(z₁) = Σ_{z₂} g^b (b = 1..4): E[w] = E(φ², φG₁, G₂), E[w wᵀ] from E φ⁴, φ³G₁,
    φ²G₂ (twice), φG₃, G₄. For odd φ every summand is even under (z₁, z₂) → (−z₁, −z₂), so
    the sum runs over z₁ > 0 only, with doubled weights (half the work). The outer rule's order
    grows with each point's larger sd of u or d (:data:`_GH_ORDERS`; GELU and SiLU by
    :data:`_GH_ORDERS_SOFT`, from the larger of l11 and |l21|), the inner rule's with l22
    (:data:`_GH_INNER`, :data:`_GH_INNER_SOFT`); points that need different pairs of orders are
    computed in groups.
    """
    soft = act.name in ("gelu", "silu")
    outer, inner = (_GH_ORDERS_SOFT, _GH_INNER_SOFT) if soft else (_GH_ORDERS, _GH_INNER)
    scales = np.maximum(l11, np.abs(l21) + l22)  # each point's larger sd of u or d
    # GELU/SiLU: z₁ moves u and d's mean given z₁; l22 smooths the sum over z₂ (2× faster at He
    # init, where one norm grows far above the other; ≤ 1.3e-4 sd on the 330 predictions)
    outer_scales = np.maximum(l11, np.abs(l21)) if soft else scales
    bins_1 = np.searchsorted(np.array([bound for bound, _ in outer[:-1]]), outer_scales)
    # z₁'s features at the scale max(l11, |l11 − l21|) beyond φ's bound: the composite rule
    # (_composite_rule; "bin" len(outer), order 0 below)
    if _COMPOSITE and act.name in _OUTER_WINDOWS:
        feature = np.maximum(l11, np.abs(l11 - l21))
        bins_1 = np.where(feature > _OUTER_WINDOWS[act.name][2], len(outer), bins_1)
    bins_2 = np.searchsorted(np.array([bound for bound, _ in inner[:-1]]), l22)
    pairs = bins_1 * len(inner) + bins_2
    used = np.unique(pairs)
    # d's sd given u above _WIDE_L22 (GELU/SiLU) or _WIDE_SIGN_L22 (tanh/erf): the sum over z₂
    # in closed form (_moments_wide)
    bounds = [bound for bound, _ in inner]  # (a table without the bound: never, as in tests)
    wide_bound = _WIDE_L22 if soft else _WIDE_SIGN_L22
    exact = act.name in _WIDE_RULES or act.name in _WIDE_SIGN_NODES
    wide = bounds.index(wide_bound) + 1 if exact and wide_bound in bounds else len(inner)
    if len(used) == 1:
        i, j = divmod(int(used[0]), len(inner))
        order = 0 if i == len(outer) else outer[i][1]
        if j >= wide:
            return _moments_wide(act, l11, l21, l22, order)
        return _moments_fixed(act, l11, l21, l22, float(scales.max()), order, inner[j][1])
    first, second = np.empty((*l11.shape, 3)), np.empty((*l11.shape, 3, 3))
    for pair in used:
        group = pairs == pair
        i, j = divmod(int(pair), len(inner))
        order = 0 if i == len(outer) else outer[i][1]
        if j >= wide:
            first[group], second[group] = _moments_wide(
                act, l11[group], l21[group], l22[group], order
            )
            continue
        first[group], second[group] = _moments_fixed(
            act,
            l11[group],
            l21[group],
            l22[group],
            float(scales[group].max()),
            order,
            inner[j][1],
        )
    return first, second


#: Per smooth φ, for :func:`_composite_rule`: the ends (in u) of the panels that hold φ's
#: features (φ − relu for GELU/SiLU, φ − sign for tanh/erf: below 1e-16 beyond the last end),
#: nodes per panel, and the feature scale max(l11, |l11 − l21|) from which the rule replaces
#: Gauss–Hermite over z₁. Below those scales 24 Gauss–Hermite nodes are within 4e-5 (tanh 2e-7
#: at 0.5, erf 3.7e-5 at 0.8, GELU 8.4e-5 at 1.25, SiLU 1.2e-4 at 1.7) of the first moments;
#: above, they were 1e-3 to 0.2 off (tanh 2.6e-2 at 1.25, 24 nodes; 1.4e-2 at 1.7, 48 nodes), a
#: per-layer bias that adds up with depth (tanh σ_w² = 2, σ_b = 1.5: 0.34 sd at width 1024).
_OUTER_WINDOWS = {
    "gelu": ((3.0, 9.0), 10, 1.2),
    "silu": ((4.0, 12.0, 38.0), 10, 1.5),
    "tanh": ((2.0, 6.0, 18.5), 10, 0.7),
    "erf": ((1.5, 3.5, 6.0), 10, 0.8),
}
_COMPOSITE = True  # (tests switch it off: the negative control)
_Z_TAIL = 10.0  # the composite rule's reach in z₁ (ϕ(10) = 7.7e-23)
#: Gauss–Legendre nodes on the last panel (it may hold nearly all of the Gaussian: 20 nodes
#: integrate Z⁴ to 4e-10, 16 only to 5e-7). With 10 per window panel the moments are within 5e-7
#: (erf; 6e-8 the others) of four times the nodes, feature scales up to 50.
_TAIL_NODES = 20


def _outer_rule(act, l11, l21, order):
    """Outer nodes and weights over z₁: Gauss–Hermite of ``order`` (N₁,), or per point (0).

    ``order`` 0: the composite rule of each point, shape (..., N₁) (:func:`_composite_rule`).
    """
    if order:
        nodes, weights, half_nodes, half_weights = _gh_rule(order)
        return (half_nodes, half_weights) if act.odd else (nodes, weights)
    return _composite_rule(act.name, l11, np.abs(l11 - l21), act.odd)


def _composite_rule(name, u_scale, v_scale, odd):
    """Nodes and weights (..., N) for E[f(Z₁)] with f's features near Z₁ = 0.

    GELU and SiLU are relu, tanh and erf sign, plus a remainder on |u| ≤ V
    (:data:`_OUTER_WINDOWS`); with u = l11 z₁ and v's mean (l11 − l21) z₁ given z₁, the
    z₁-integrand's features lie within |z₁| ≤ V/l11 (u's, ``u_scale`` = l11) and V/|l11 − l21|
    (v's, ``v_scale``). Each side of 0 is cut at the window's panel ends scaled by both,
    sorted, up to |z₁| = 10, and each piece takes Gauss–Legendre; the last, beyond every feature,
    takes :data:`_TAIL_NODES`. (Gauss–Hermite converges slowly on such step- or kink-like
    integrands: its per-layer error of 1e-3-1e-2 added up to 0.5 in ln sin²θ by layer 30, biased
    GELU at σ_b = 3.) ``odd``: the summands are even in z₁ (:func:`moments_smooth`), so z₁ ≥ 0
    only, weights doubled.
    """
    ends, per_panel, _ = _OUTER_WINDOWS[name]
    marks = np.array(ends)
    zero = np.zeros((*np.shape(u_scale), 1))
    with np.errstate(divide="ignore"):  # a zero scale: its cuts at ∞
        cuts = np.concatenate([zero, marks / u_scale[..., None], marks / v_scale[..., None]], -1)
    # cuts beyond the reach move to the last one within it (empty panels), so that the piece
    # from there to the reach is always the last, with its own nodes
    beyond = cuts >= _Z_TAIL
    last = np.max(np.where(beyond, 0.0, cuts), axis=-1, keepdims=True)
    edges = np.sort(np.where(beyond, last, cuts), axis=-1)  # (..., panels + 1), from 0
    window, window_w = _panels(edges, per_panel)
    reach = np.concatenate([edges[..., -1:], np.full_like(edges[..., -1:], _Z_TAIL)], axis=-1)
    outside, outside_w = _panels(reach, _TAIL_NODES)
    side = np.concatenate([window, outside], axis=-1)
    side_w = np.concatenate([window_w, outside_w], axis=-1)
    if odd:
        return side, 2.0 * side_w * np.exp(-0.5 * side * side) * _INV_SQRT_2PI
    nodes = np.concatenate([-side, side], axis=-1)
    weights = np.concatenate([side_w, side_w], axis=-1)
    return nodes, weights * np.exp(-0.5 * nodes * nodes) * _INV_SQRT_2PI


def _terms(fu: FloatArray, g_sums: FloatArray, weights_1: FloatArray) -> tuple[FloatArray, ...]:
    """E[w] and E[w wᵀ] from φ(u) (..., N₁) and G_b = E[g^b | z₁] (4, ..., N₁), outer weights."""
    g1_sum, g2_sum, g3_sum, g4_sum = g_sums
    f2 = fu * fu
    terms = np.empty((*fu.shape, 8))
    terms[..., 0], terms[..., 1], terms[..., 2], terms[..., 3] = f2, fu * g1_sum, g2_sum, f2 * f2
    terms[..., 4], terms[..., 5], terms[..., 6] = f2 * fu * g1_sum, f2 * g2_sum, fu * g3_sum
    terms[..., 7] = g4_sum
    if weights_1.ndim == 1:
        values = weights_1 @ terms  # (..., 8)
    else:  # a rule per point (_composite_rule)
        values = np.einsum("...n,...nk->...k", weights_1, terms)
    return values[..., :3], values[..., _SECOND_INDEX]


#: GELU and SiLU are relu plus a remainder c = φ − relu that vanishes away from 0 (GELU:
#: −|v|Φ(−|v|) < 1e-18 beyond |v| = 9; SiLU: −|v|/(1 + e^|v|) < 1e-15 beyond 38). Where d's sd
#: given u, l22, exceeds 1.7 (Gauss–Hermite would need 48-160 nodes, and converges only
#: algebraically on the kink-like φ of a wide law: 1e-3 relative at l22 = 47 with 160 nodes),
#: the sum over z₂ is taken exactly instead: relu's part in closed form (truncated normal
#: moments), c's on its window by composite Gauss–Legendre (panels' ends, nodes per panel);
#: within 5.5e-12 of adaptive quadrature relative to (|φ(u)| + |E v| + l22)^b for l22 = 1.7-500
#: (tests/test_smooth_moments_wide.py).
_WIDE_RULES = {"gelu": ((3.0, 9.0), 12), "silu": ((4.0, 12.0, 38.0), 12)}
_WIDE_L22 = 1.7  # the inner tables' bound beyond 24 nodes (_GH_ORDERS_SOFT)
#: (j, k) of the window moments L_jk = E[relu(v)^j c(v)^k; window], k ≥ 1, j + k ≤ 4
_WINDOW_POWERS = tuple((j, k) for k in range(1, 5) for j in range(5 - k))


@functools.cache
def _window_table(name: str) -> tuple[FloatArray, FloatArray]:
    """Nodes v (N,) of c's window and the table (N, 10): weight · relu(v)^j · c(v)^k."""
    ends, per_panel = _WIDE_RULES[name]
    nodes, weights = _symmetric_panels(ends, per_panel)
    relu = np.maximum(nodes, 0.0)
    rest = parse_activation(name).fn(nodes) - relu  # c = φ − relu (φ's own formula)
    table = np.stack([weights * relu**j * rest**k for j, k in _WINDOW_POWERS], axis=1)
    return nodes, table


def _binomial_tables() -> tuple[FloatArray, FloatArray]:
    """Constant tensors of :func:`_wide_g_sums`: G_b's closed part and window part as products.

    Closed: Σ_j C(b, j) m^{b−j} (s^j T_j) = (CLOSED @ (m^i ⊗ s^j T_j))[b], i, j = 0..4;
    window: Σ_{k≥1, j} C(b, k) C(b−k, j) (−1)^{j+k} a^{b−k−j} L_jk = (WINDOW @ (a^i ⊗ L))[b].
    """
    closed = np.zeros((4, 5, 5))
    window = np.zeros((4, 4, len(_WINDOW_POWERS)))
    for b in range(1, 5):
        for j in range(b + 1):
            closed[b - 1, b - j, j] = math.comb(b, j)
        for col, (j, k) in enumerate(_WINDOW_POWERS):
            if j + k <= b:
                sign = (-1) ** (j + k)
                window[b - 1, b - k - j, col] = sign * math.comb(b, k) * math.comb(b - k, j)
    return closed.reshape(4, -1), window.reshape(4, -1)


_CLOSED_FULL, _WINDOW = _binomial_tables()
#: The (i, j) with i + j ≤ 4 of the closed part's m^i (s^j T_j) (the rest have coefficient 0;
#: their products, eighth powers of the scale, overflowed beyond norms ≈ 1e75).
_CLOSED_I, _CLOSED_J = np.nonzero(np.add.outer(np.arange(5), np.arange(5)) <= 4)
_CLOSED = np.ascontiguousarray(_CLOSED_FULL[:, _CLOSED_I * 5 + _CLOSED_J])


def _wide_g_sums(name: str, a: FloatArray, mu: FloatArray, s: FloatArray) -> FloatArray:
    """G_b = E[(a − φ(v))^b], v ~ N(mu, s²), b = 1..4, shape (4, ...) (a, mu, s: one shape).

    φ = relu + c: E[(a − relu(v))^b] = a^b P(v ≤ 0) + Σ_j C(b, j) m^{b−j} s^j T_j(t) with
    m = a − mu, t = mu/s and T_j(t) = E[Z^j; Z < t] (Z ~ N(0, 1)); the rest,
    Σ_{k≥1} C(b, k) E[(a − relu(v))^{b−k} (−c(v))^k], lives on c's window. Each part is one
    matrix product with a constant binomial table (:func:`_binomial_tables`).
    """
    nodes, table = _window_table(name)
    shape = np.shape(a)
    t = mu / s
    density = np.exp(-0.5 * t * t) * _INV_SQRT_2PI
    powers = np.empty((3, 5, *shape))  # m^i, s^j T_j, a^i (i, j = 0..4)
    trunc = powers[1]
    trunc[0] = ndtr(t)
    trunc[1] = -density  # T_j = (j − 1) T_{j−2} − t^{j−1} density
    for j in range(2, 5):
        trunc[j] = (j - 1) * trunc[j - 2] - t ** (j - 1) * density
    for row, base in ((0, a - mu), (2, a)):
        powers[row, 0] = 1.0
        powers[row, 1] = base
        for i in range(2, 5):
            np.multiply(powers[row, i - 1], base, out=powers[row, i])
    scale = s
    for j in range(1, 5):  # s^j T_j
        trunc[j] *= scale
        scale = scale * s
    kernel = _normal_kernel(nodes, mu, s)
    window = np.moveaxis(kernel @ table, -1, 0)  # L_jk, (10, ...)
    # (einsum, not @: BLAS threads cost more than these thin products on a busy machine)
    closed = np.einsum(
        "bk,kn->bn", _CLOSED, (powers[0][_CLOSED_I] * trunc[_CLOSED_J]).reshape(15, -1)
    )
    rest = np.einsum(
        "bk,kn->bn", _WINDOW, (powers[2, :4, None] * window[None, :]).reshape(4 * len(window), -1)
    )
    out = (closed + rest).reshape(4, *shape)
    out += powers[2, 1:] * ndtr(-t)  # a^b P(v ≤ 0)
    return out


#: tanh and erf are sign plus a remainder c = φ − sign that vanishes away from 0 (tanh:
#: 2/(1 + e^{2|v|}) < 2e-16 beyond |v| = 18.5; erf: erfc(|v|) < 2.2e-17 beyond 6: the ends of
#: their _OUTER_WINDOWS). Where d's sd given u exceeds 1.25 (Gauss–Hermite takes 48-160 nodes
#: there, and misses the step of a wide law: erf at q0 = 10⁴ was 0.30 sd off at layer 1, tanh at
#: 10⁶ 0.17 sd (with _g_values' clip fixed); its second moments were up to 2e-3 off near the
#: top of each bin), the sum over z₂ is exact: sign's part in closed form, c's on its window by
#: composite Gauss–Legendre, each side of 0 on its own panels (c jumps there). Below 1.25 the
#: closed form would cancel as g shrinks with the angle; the tables' 4-24 nodes hold there.
_WIDE_SIGN_NODES = {"tanh": 16, "erf": 12}  # per panel (tanh 12: 1e-12 off, 16: 4e-15)
_WIDE_SIGN_L22 = 1.25  # the inner table's bound beyond 24 nodes (_GH_ORDERS)


@functools.cache
def _sign_window_table(name: str) -> tuple[FloatArray, FloatArray]:
    """Nodes v (N,) of c's window and the table (N, 8): weight · c(v)^k on v > 0, then v < 0."""
    ends, per_panel = _OUTER_WINDOWS[name][0], _WIDE_SIGN_NODES[name]
    nodes, weights = _symmetric_panels(ends, per_panel)
    positive = nodes > 0.0  # no node lies on 0, a panel end
    rest = parse_activation(name).fn(nodes) - np.where(positive, 1.0, -1.0)  # c = φ − sign
    table = np.stack(
        [weights * rest**k * side for side in (positive, ~positive) for k in range(1, 5)], axis=1
    )
    return nodes, table


def _wide_sign_sums(name: str, a: FloatArray, mu: FloatArray, s: FloatArray) -> FloatArray:
    """G_b = E[(a − φ(v))^b], v ~ N(mu, s²), b = 1..4, shape (4, ...), for φ = sign + c.

    (a − φ(v))^b = Σ_k C(b, k) (a ∓ 1)^{b−k} (−c(v))^k on v ≷ 0: the k = 0 terms are
    (a − 1)^b P(v > 0) + (a + 1)^b P(v < 0); the rest are c's window moments E[c^k; v ≷ 0].
    """
    nodes, table = _sign_window_table(name)
    t = mu / s
    kernel = _normal_kernel(nodes, mu, s)
    window = np.moveaxis(kernel @ table, -1, 0)  # E[c^k; v > 0], k = 1..4, then v < 0: (8, ...)
    above, below = a - 1.0, a + 1.0
    powers_above, powers_below = [np.ones_like(a)], [np.ones_like(a)]
    for _ in range(4):
        powers_above.append(powers_above[-1] * above)
        powers_below.append(powers_below[-1] * below)
    up, down = ndtr(t), ndtr(-t)  # P(v > 0), P(v < 0)
    out = np.empty((4, *np.shape(a)))
    for b in range(1, 5):
        total = powers_above[b] * up + powers_below[b] * down
        for k in range(1, b + 1):
            c = math.comb(b, k) * (-1) ** k
            total += c * (powers_above[b - k] * window[k - 1] + powers_below[b - k] * window[3 + k])
        out[b - 1] = total
    return out


def _moments_wide(act, l11, l21, l22, order):
    """:func:`_moments_fixed` with the sum over z₂ exact, for wide laws of d given u.

    GELU/SiLU with l22 > 1.7 (:func:`_wide_g_sums`), tanh/erf with l22 > 1.25
    (:func:`_wide_sign_sums`). Given z₁ (``order`` Gauss–Hermite nodes, or the composite rule
    for 0), v = u − d ~ N((l11 − l21) z₁, l22²).
    """
    nodes_1, weights_1 = _outer_rule(act, l11, l21, order)
    u = l11[..., None] * nodes_1  # (..., N₁)
    mu = (l11 - l21)[..., None] * nodes_1
    fu = act.fn(u)
    sums = _wide_g_sums if act.name in _WIDE_RULES else _wide_sign_sums
    g_sums = sums(act.name, fu, mu, np.broadcast_to(l22[..., None], mu.shape))
    return _terms(fu, g_sums, weights_1)


def _moments_fixed(act, l11, l21, l22, scale, order, inner_order):
    """:func:`moments_smooth` with one rule: ``order`` nodes in z₁, ``inner_order`` in z₂.

    ``scale``: the points' largest sd of u or d; ``order`` 0: the composite rule over z₁
    (:func:`_composite_rule`).
    """
    nodes_1, weights_1 = _outer_rule(act, l11, l21, order)
    nodes_2, weights_2 = _gh_rule(inner_order)[:2]
    u = l11[..., None] * nodes_1  # (..., N₁)
    powers = np.empty((4, *u.shape, inner_order))  # g, g², g³, g⁴ (d in the last until g⁴)
    # d = l21 z₁ + l22 z₂ on the grid (..., N₁, N₂): the two products on their own nodes
    d = np.add(
        (l21[..., None] * nodes_1)[..., None],
        (l22[..., None] * nodes_2)[..., None, :],
        out=powers[3],
    )
    fu = act.fn(u)
    # |u| ≤ l11·max|z|, |d| ≤ (|l21| + l22)·max|z| (the outer rule's nodes reach farther):
    # tanh's clip at 175 is a no-op below 170
    inside = act.name == "tanh" and scale * float(np.max(nodes_1)) < 170.0
    _g_values(act, u[..., None], d, inside, out=powers[0])
    np.multiply(powers[0], powers[0], out=powers[1])
    np.multiply(powers[1], powers[0], out=powers[2])
    np.multiply(powers[1], powers[1], out=powers[3])
    # G_b = Σ_{z₂} g^b, one matrix-vector product over the flattened grid
    g_sums = (powers.reshape(-1, inner_order) @ weights_2).reshape(powers.shape[:-1])
    return _terms(fu, g_sums, weights_1)


#: E[w_i w_j] as entries of the 8 sums in :func:`moments_smooth` (E φ²G₂ serves (0,2), (1,1)).
_SECOND_INDEX = np.array([[3, 4, 5], [4, 5, 6], [5, 6, 7]])
