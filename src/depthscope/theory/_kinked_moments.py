"""Closed-form one-step moments of w = (φ(u)², φ(u)g, g²) for φ = a·min + b·max (kinked φ).

:func:`moments_homogeneous` is the reference form (arcs between kinks found by sorting,
trailing axes); :func:`kinked_moments` the fused one used by both closures (arcs found without
sorting, arcs and moments on leading axes; numpy's per-call overhead dominates at these sizes).
They agree to ≈ 1e-13 relative (tests/test_general_predictor.py).
"""

from __future__ import annotations

import math

import numpy as np

from .._types import FloatArray

__all__ = ["kinked_moments", "moments_homogeneous"]

_HALF_PI = 0.5 * math.pi
#: The arc integrals (∫C², ∫S², ∫C⁴, ∫C²S², ∫S⁴)/2π over an arc of half-length h, as linear
#: combinations of (h, sin 2h, sin 4h, g₂, g₄), g_k = kh − sin kh: (h + sin 2h/2), g₂/2,
#: (6h + 4 sin 2h + sin 4h/2)/8, g₄/16, (4g₂ − g₄/2)/8.
_ARC_INTEGRALS = np.array(
    [
        [1.0, 0.5, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.5, 0.0],
        [0.75, 0.5, 0.0625, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0625],
        [0.0, 0.0, 0.0, 0.5, -0.0625],
    ]
) / (2.0 * math.pi)
#: x − sin x = x³ (1/3! − x²/5! + x⁴/7! − x⁶/9! + x⁸/11!) below x = 0.05 (error < 1e-25 x³)
_S0, _S1, _S2, _S3, _S4 = ((-1.0) ** k / math.factorial(2 * k + 3) for k in range(5))


#: sin, cos and −sin of the four arcs' midpoints m + kπ/2 are (s, c, −s, −c), (c, −s, −c, s)
#: and (−s, −c, s, c): rows 0-3, 1-4 and 2-5 of the cycle (s, c, −s, −c, s, c) of (sin m,
#: cos m), so that (sin, cos) and (cos, −sin) of the midpoints are the slices [0:2] and [1:3]
#: of the (3, 4) table, a strided view of the cycle (negation is exact: no rounding).
_TWO_FOUR = np.array([2.0, 4.0])
#: Rows (pc, ps, qc, qs) gathered into the factors of the products pc·pc, pc·qc, qc·qc (C²) and
#: ps·ps, ps·qs, qs·qs (S²): left (C then S), then right.
_FACTORS = np.array([0, 0, 2, 1, 1, 3, 0, 2, 2, 1, 3, 3])


def kinked_moments(
    slopes: tuple[float, float], l11: FloatArray, l21: FloatArray, l22: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """E[w] (3, ...) and E[w wᵀ] (3, 3, ...) for φ = a·min + b·max, w = (φ(u)², φ(u)g, g²).

    The closed form of :func:`moments_homogeneous` (u = l11 cos t,
    v = u − d = (l11 − l21) cos t − l22 sin t on the unit circle; φ linear on the four arcs
    between kinks), with the arcs found without sorting; arcs and moments on leading axes,
    each intermediate written into one preallocated array, and products of like operands in
    one call (numpy's per-call overhead, ≈ 0.5-1 µs, dominates at these sizes).
    """
    lo, hi = slopes
    points = np.shape(l11)
    vx = l11 - l21  # v = vx cos t − l22 sin t
    tau = np.mod(np.arctan2(vx, l22), math.pi)  # v's kinks: τ and τ + π; u's: π/2, 3π/2
    half = 0.5 * np.abs(tau - _HALF_PI)  # arcs: [s, e], [e, s + π], then + π (s, e: τ, π/2)
    mid = 0.5 * (tau + _HALF_PI)
    cycle = np.empty((6, *points))  # (s, c, −s, −c, s, c)
    np.sin(mid, out=cycle[0])
    np.cos(mid, out=cycle[1])
    np.negative(cycle[0:2], out=cycle[2:4])
    cycle[4:6] = cycle[0:2]
    # row j of the table is cycle[j : j + 4]: a view with the row stride repeated
    table = np.ndarray((3, 4, *points), buffer=cycle, strides=cycle.strides[:1] + cycle.strides)
    sm, cm = table[0], table[1]  # (4 arcs, ...)
    signs = np.empty((2, *cm.shape))  # of u and v at the midpoints: φ's slope on each arc
    signs[0] = cm
    np.subtract(vx * cm, l22 * sm, out=signs[1])
    slope_u, slope_v = np.where(signs > 0, hi, lo)
    p1 = slope_u * l11  # φ(u) = p1 cos t on the arc
    q1, q2 = p1 - slope_v * vx, slope_v * l22  # g = φ(u) − φ(v) = q1 cos t + q2 sin t
    # in (C, S) = (cos τ, sin τ), t = midpoint + τ: (pc, ps) = p1 (cos, −sin),
    # (qc, qs) = q1 (cos, −sin) + q2 (sin, cos) at the midpoints
    rows = np.empty((4, *cm.shape))  # (pc, ps, qc, qs), 4 arcs, ...
    np.multiply(p1, table[1:3], out=rows[0:2])
    np.multiply(q1, table[1:3], out=rows[2:4])
    rows[2:4] += q2 * table[0:2]
    # left, right: (C, S) × w's 3 entries × 4 arcs × ...
    left, right = rows[_FACTORS].reshape(2, 2, 3, *cm.shape)
    forms = np.empty((3, 4, 3, *points))  # (A, B, C') × 4 arcs × w's 3 entries
    by_entry = forms.swapaxes(1, 2)  # (3 forms, w's 3 entries, 4 arcs, ...)
    np.multiply(left, right, out=by_entry[0::2])  # C² and S² coefficients of w on each arc
    cross = left * right[::-1]  # C·S and S·C
    np.add(cross[0], cross[1], out=by_entry[1])  # CS
    # the arcs' half-lengths are h, π/2 − h, h, π/2 − h: arcs k and k + 2 share the integrals
    parts = np.empty((5, 2, *points))  # h, sin 2h, sin 4h, g2, g4 (g_k = kh − sin kh)
    parts[0, 0] = half
    np.subtract(_HALF_PI, half, out=parts[0, 1])
    x = _TWO_FOUR.reshape(-1, 1, *(1,) * len(points)) * parts[0]  # (2h, 4h) × 2 arcs
    np.sin(x, out=parts[1:3])
    np.subtract(x, parts[1:3], out=parts[3:5])
    small = x < 0.05
    if small.any():  # the series, without cancellation (error < 1e-25 x³)
        x2 = x * x
        series = x * x2 * (_S0 + x2 * (_S1 + x2 * (_S2 + x2 * (_S3 + x2 * _S4))))
        np.copyto(parts[3:5], series, where=small)
    # ∫C², ∫S², ∫C⁴, ∫C²S², ∫S⁴ over each arc, / 2π: (5, 1, 2 arcs, 1, ...), and the forms
    # with the arcs as (2 halves, 2 arcs): arc 2j + k has the integrals of arc k
    integrals = (_ARC_INTEGRALS @ parts.reshape(5, -1)).reshape(5, 1, 2, 1, *points)
    quad = forms.reshape(3, 2, 2, 3, *points)  # (A, B, C') by arc
    per_arc = quad[0::2] * integrals[0:2]  # A ∫C², C' ∫S²
    first = 2.0 * np.add.reduce((per_arc[0] + per_arc[1]).reshape(4, 3, *points), axis=0)
    # Σ_arcs ∫ w_k w_l = Σ_arcs Vᵀ Q V, V = (A; B; C'), Q = [[∫C⁴, 0, ∫C²S²], [0, ∫C²S², 0],
    # [∫C²S², 0, ∫S⁴]] per arc: rows A ∫C⁴ + C' ∫C²S², B ∫C²S², A ∫C²S² + C' ∫S⁴
    weighted = np.empty((3, 2, 2, 3, *points))
    np.add(quad[0] * integrals[2:4], quad[2] * integrals[3:5], out=weighted[0::2])
    np.multiply(quad[1], integrals[3], out=weighted[1])
    shape = (12, 3, -1)  # (3 forms × 4 arcs, 3, points)
    basis, weighted = forms.reshape(shape), weighted.reshape(shape)
    second = np.einsum("kip,kjp->ijp", basis, weighted)  # summed over k in order
    return first, 8.0 * second.reshape(3, 3, *points)


def _x_minus_sin(x: FloatArray) -> FloatArray:
    """Return x − sin x without cancellation at small x (series below 0.05)."""
    small = x < 0.05
    xs = np.where(small, x, 0.0)
    x2 = xs * xs
    series = xs * x2 / 6 * (1 - x2 / 20 * (1 - x2 / 42 * (1 - x2 / 72 * (1 - x2 / 110))))
    return np.where(small, series, x - np.sin(x))


def moments_homogeneous(act, l11, l21, l22):
    """E[w], E[w wᵀ] for a·min + b·max, in closed form (radius and angle): the reference form.

    On the unit circle (cos t, sin t) of the Cholesky coordinates, u = l11 cos t and
    v = u − d = (l11 − l21) cos t − l22 sin t. Between consecutive kinks (u = 0 or v = 0) φ is
    linear, so on an arc of midpoint m and half-length h, with t = m + τ, each w_k is a
    quadratic form A C² + B CS + C' S² in (C, S) = (cos τ, sin τ); over the symmetric arc the
    odd monomials vanish and the rest are closed forms (x − sin x by its series at small arcs,
    so that tiny arcs keep their relative precision). E r² = 2, E r⁴ = 8.
    """
    t_v = np.arctan2(l11 - l21, l22)
    quarter, three = np.full_like(t_v, 0.5 * math.pi), np.full_like(t_v, 1.5 * math.pi)
    kinks = [quarter, three, np.mod(t_v, 2 * math.pi), np.mod(t_v + math.pi, 2 * math.pi)]
    starts = np.sort(np.stack(kinks, axis=-1), axis=-1)
    ends = np.concatenate([starts[..., 1:], starts[..., :1] + 2 * math.pi], axis=-1)
    mid, h = 0.5 * (starts + ends), 0.5 * (ends - starts)
    cm, sm = np.cos(mid), np.sin(mid)
    lo, hi = act.slopes
    vx, vy = (l11 - l21)[..., None], -l22[..., None]  # v = vx cos t + vy sin t
    p1 = np.where(cm > 0, hi, lo) * l11[..., None]  # φ(u) = p1 cos t on the arc
    slope_v = np.where(vx * cm + vy * sm > 0, hi, lo)
    q1, q2 = p1 - slope_v * vx, -slope_v * vy  # g = φ(u) − φ(v) = q1 cos t + q2 sin t
    pc, ps = p1 * cm, -p1 * sm  # in (C, S)
    qc, qs = q1 * cm + q2 * sm, q2 * cm - q1 * sm
    quad_a = np.stack([pc * pc, pc * qc, qc * qc], axis=-1)  # (..., 4 arcs, 3)
    quad_b = np.stack([2.0 * pc * ps, pc * qs + ps * qc, 2.0 * qc * qs], axis=-1)
    quad_c = np.stack([ps * ps, ps * qs, qs * qs], axis=-1)
    g2, g4 = _x_minus_sin(2.0 * h), _x_minus_sin(4.0 * h)
    sin2, sin4 = np.sin(2.0 * h), np.sin(4.0 * h)
    norm = 1.0 / (2.0 * math.pi)
    i_cc, i_ss = (h + sin2 / 2) * norm, g2 / 2 * norm  # ∫C², ∫S² over the arc, / 2π
    i_c4 = (6.0 * h + 4.0 * sin2 + sin4 / 2) / 8 * norm
    i_c2s2, i_s4 = g4 / 16 * norm, (4.0 * g2 - g4 / 2) / 8 * norm
    first = 2.0 * np.sum(quad_a * i_cc[..., None] + quad_c * i_ss[..., None], axis=-2)
    # Σ_arcs ∫ w_k w_l = Σ_arcs Vᵀ Q V, V = (A; B; C'), Q = [[∫C⁴, 0, ∫C²S²], [0, ∫C²S², 0],
    # [∫C²S², 0, ∫S⁴]] per arc: one matrix product over (arcs × 3) rows.
    i_c4, i_c2s2, i_s4 = i_c4[..., None], i_c2s2[..., None], i_s4[..., None]
    basis = np.concatenate([quad_a, quad_b, quad_c], axis=-2)  # (..., 12, 3)
    weighted = np.concatenate(
        [quad_a * i_c4 + quad_c * i_c2s2, quad_b * i_c2s2, quad_a * i_c2s2 + quad_c * i_s4], axis=-2
    )
    return first, 8.0 * (np.swapaxes(basis, -1, -2) @ weighted)
