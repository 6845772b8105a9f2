"""The measured domain of the Gram-state closure (:mod:`depthscope.theory._general_law`).

Every bound here is where the closure met the bar (per-layer mean within 0.1 sd, sd within 10%
of exact simulation) on the calibration grid of ``tools/calibrate_general.py``; outside it,
:func:`general_domain_warnings` says why, with the error measured there
(docs/theory/general-predictor.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._types import FloatArray
from ._activations import Activation, parse_activation
from ._general_mix import takes_difference_chart
from ._kernel_maps import parse_residual

__all__ = ["MIN_CLOSURE_WIDTH", "general_domain_warnings"]

#: The measured domain (docs/theory/general-predictor.md): the narrowest width at which the
#: closure met the bar (mean within 0.1 sd, sd within 10%) on the calibration grid, per class.
MIN_WIDTH_KINKED = 64  # a·min + b·max without bias (leaky ReLU, abs), plain layers (sliced)
#: The same with σ_b > 0 (the sliced closure, _general_mix). 64, not 32 since the ninth session's
#: edge audit (tools/audit_domain.py --edges, 12,000 networks, depth 50): at 32 leaky:0.3 with
#: σ_b = 0.03 at θ0 = 1.6 was 14.3% off in sd (leaky:0.2 13.1%; θ0 = 1.2 10.3%), unwarned; at
#: 64 ≤ 8.6%, ≤ 0.05 sd.
MIN_WIDTH_KINKED_BIAS = 64
#: Leaky slopes above the issue's range (0.01-0.3) with biases: leaky:0.5 σ_b = 0.13 at 64 was
#: 11.5% off (15.9% at 32, 8.9% at 128); leaky:0.9 σ_b = 0.1 10.9% at 64, 3.7% at 128 (edge audit).
MAX_CALIBRATED_SLOPE = 0.3
MIN_WIDTH_STEEP_SLOPE_BIAS = 128
MIN_WIDTH_SMOOTH = 32  # tanh, erf with σ_w² ≤ CHAOTIC_SW2 (sliced along T)
#: Ordered tanh/erf (σ_w² < 1) deeper than ORDERED_DEPTH: the angle collapses, and at width 32
#: the closure's sd fell 14-20% short by layers 40-46 (mean 0.19-0.28 sd off; σ_w² = 0.5-0.85,
#: σ_b = 0.05, θ0 = 0.1, 3,000 networks; found by tools/audit_domain.py, seed 9, eighth
#: session), within the bar to layer 20 (0.073 sd, 5.5%); at 64: 7.8-8.8%, within 0.1 sd; at
#: 128, 5.2%.
MIN_WIDTH_SMOOTH_ORDERED = 64
ORDERED_DEPTH = 20
#: ... and with small biases, 0 < σ_b < 0.1, from width 256 (edge audit, 12,000 networks): erf
#: σ_w² = 0.54, σ_b = 0.01, q0 = 3.3 at 64 was 13.7% off in sd (0.11 sd); tanh σ_w² = 0.9,
#: σ_b = 0.01 0.17 sd, 14.9%; erf σ_b = 0.003: 20% at 64, 11.5% at 128, 5.2% at 256; σ_b = 0.1:
#: 5%; no bias: within the bar.
MIN_WIDTH_SMOOTH_ORDERED_BIAS = 256
ORDERED_BIAS_BELOW = 0.1
CHAOTIC_SW2 = 1.5  # above: chaotic tanh/erf, the T law skewed
MIN_WIDTH_TANH_CHAOTIC = 32  # σ_w² = 1.96, σ_b = 0.1, depth 50: sd 8.2% low at 32, 5.9% at 64
MIN_WIDTH_ERF_CHAOTIC = 64  # σ_w² = 1.96, σ_b = 0.1: sd 5.6% low at 64 (depth 30), 11.0% at 32
MAX_SMOOTH_SW2 = 2.0  # tanh/erf calibrated for σ_w² ≤ 2 (3.24 at width 64: sd 14.7% low)
MIN_WIDTH_OTHER = 256  # gelu, silu and other smooth φ
#: Bias-free GELU plain layers above this σ_w² split between q ≈ 1 (ReLU-like) and q → 0 (nearly
#: linear): one Gaussian put the sd 12-15% low; they take the sum cut along ln A − ln B
#: (theory/_general_norms.py), measured within the bar (3,000 networks, depth 50) from width 256
#: (σ_w² = 2: 4.5-5.9% at 256 on three draws, 5.2% at θ0 = 2.5, 5.4% at 512, 4.2% at 1024;
#: 2.25: 4.5%; q0 = 0.5: 2.7%), not at 128 (8.3-10.4%, the edge) nor for q0 > 1 (q0 = 2: 22%
#: low, 3: 29%). Bias-free SiLU at σ_w² = 2, width 256: within 5% with one Gaussian.
MAX_OTHER_SW2 = 1.5
#: 2, not 2.25 as first stated (one draw at 2.25 was 4.5% off): the fifth session's audit and
#: scan (2,000 networks, width 256, depth 50, θ0 = 1) found σ_w² = 2.1 at q0 = 1 24.5% off and
#: 2.23 at q0 = 0.5-1 24% or 0.26 sd off, against ≤ 6.2% at σ_w² = 2, q0 = 0.25-1.
MAX_GELU_HE_SW2 = 2.0
MAX_GELU_HE_Q0 = 1.0
#: Bias-free SiLU (edge audit, 12,000 networks, width 256-2048): σ_w² = 2.25 was 12.4% off in sd
#: (2.4: 69%, 2.6: 39%; 2.1: 7%), and σ_w² = 2 at q0 = 4 14.4% (16.7% at width 2048: not a
#: finite-width effect; q0 = 3: 11.4%, q0 ≤ 2.5: ≤ 7.9%; σ_w² ≤ 1.75 at q0 = 4: within).
MAX_SILU_HE_SW2 = 2.0
#: ... and above SILU_LARGE_Q0_SW2, q0 at most MAX_SILU_HE_Q0_ABOVE_175.
SILU_LARGE_Q0_SW2 = 1.75
MAX_SILU_HE_Q0_ABOVE_175 = 2.0
#: Residual tanh/erf blocks with a large σ_w² (small α): tanh block:0.1 at σ_w² = 400 was 0.60 sd
#: off at width 95 (0.34 sd at 256: a per-layer bias, not finite width), σ_w² = 44: 0.12 sd,
#: 64: 0.18, 100: 0.33, 16: within; erf σ_w² = 400: sd 13% off at layer 1, ≤ 200 within (edge
#: audit). The bound is on σ_w² itself, whatever α.
MAX_SMOOTH_BLOCK_SW2 = 16.0
#: GELU/SiLU plain layers with biases take the difference-chart mixture (theory/_general_mix.py,
#: BIASED_SMOOTH). Measured (3,000 networks, depth 50, θ0 = 1 unless said): σ_w² ≤ 1 within
#: the bar from width 32 (GELU σ_b = 0.1 at 32 and 64, 0.01 at 64 and 256, 0.2 at 128 (θ0 =
#: 1.5); SiLU σ_b = 0.2 at 32: sd within 6.1%, mean within 0.06 sd); σ_w² ≤ 1.5 from 64 (GELU
#: σ_b = 0.1 at 64 and 256, 0.03 at 256: within 5.7%; at 32: 9.6%, 0.08 sd, the edge); SiLU at
#: σ_w² = 2 from 256 (σ_b = 0.03 and 0.1: 5.7-6.3%; 12.8% at 64).
#: σ_w² ≤ 1: 64, not 32 — at 32 GELU σ_b = 0.1 met the bar at θ0 = 1 (7.1%, depth 50) but not at
#: θ0 = 1.4-1.8 (sd 13-24% off at layers 2-5; 4,000 networks, depth 6), found in the fifth
#: session's scan; at 64 it holds from θ0 = 1.6 down (7.9%).
MIN_WIDTH_BIASED_SMOOTH = 64
#: 1 < σ_w² ≤ MAX_BIASED_SMOOTH_SW2: 256, not 64 (edge audit, 12,000 networks): GELU σ_w² = 1.5,
#: σ_b = 0.01, q0 = 3.5 at 80 was 17.1% off in sd; σ_b = 0.01, θ0 = 1.6 at 128 13.3%; SiLU at
#: 128 12.0%; at 256 4.6-7.4% (q0 = 3.5: 10.4%, the edge), 512: 5.3%.
MIN_WIDTH_BIASED_SMOOTH_15 = 256
MAX_BIASED_SMOOTH_SW2 = 1.5
MIN_WIDTH_SILU_HE_BIASED = 256  # SiLU, MAX_BIASED_SMOOTH_SW2 < σ_w² ≤ 2
#: GELU with biases above MAX_BIASED_SMOOTH_SW2 stays outside: at σ_w² = 2 the mixture is within
#: the bar only at σ_b = 0.1-0.3, θ0 = 1, widths 512-1024 (5.8-6.9%); 11-18% off at θ0 = 0.3 or
#: 2.5, at σ_b = 0.05-0.5 or widths 64-256, and 24-44% at σ_b = 0.01-0.03 (width 256).
#: Plain tanh/erf: the largest pre-activation sd after the first layer, √(σ_w² + σ_b²) (q ≤ 1
#: there), set when the Gauss–Hermite rule kept one step within ≈ 3% (sd 4). With the composite
#: rule (eighth session) sds to 30 were within the bar at some settings (erf σ_b = 6: ≤ 0.047 sd,
#: 6%), but not all: tanh σ_w² = 2, σ_b = 5 at width 512 was 0.68 sd off by layer 30 (0.33 sd,
#: 4,000 networks, eleventh session; deep collapse; its n → ∞ limit is right). The bound stays.
#: The first layer's pre-activations, √(σ_w² q0 + σ_b²), were bound by it too until the inner
#: sum over z₂ became exact for wide laws (eleventh session, _smooth_moments._wide_sign_sums).
#: Beyond it the first layer saturates: its law is that of the units' sign pattern, set by the
#: number K of units whose sign differs between the inputs, K ≈ Poisson(λ), λ = n₁ θ₁/π (θ₁ the
#: first pre-activations' angle, or π − θ₁), and with probability ≈ e^−λ none differs and the
#: two outputs coincide (ln sin²θ → −∞). Measured (8,000 networks, two seeds, q0 = 10⁶,
#: depth 30; the audit's 13 holes had λ ≤ 6, up to 0.7 sd and 99% in the sd off): λ ≥ 30 with
#: θ₁ ≥ 0.1 within 0.051 sd and 10.8% (widths 64-943, tanh and erf, σ_b 0-0.1, θ0 up to π − 1);
#: λ = 23 at width 1024, θ0 = 0.07: 0.12-0.14 sd at layer 1; λ = 30 at θ0 = 0.046: 0.23 sd;
#: width 32 (λ = 10): sd 11% off. At λ ≈ 30 the first layer's law is a lattice: KS ≈ 0.08
#: against the closure's continuous law at width 64.
MAX_PREACT_SD = 4.0
MIN_WIDTH_SATURATED_FIRST = 64
MIN_SIGN_FLIPS = 30.0
MIN_THETA_SATURATED_FIRST = 0.1
MIN_WIDTH_RESIDUAL = 64
#: Residual blocks of smooth φ (tanh, erf, GELU, SiLU): the largest branch gain σ_w² α² measured.
#: It was 0.5: above, the closure's mean drifted with depth at small angles (fifth session: tanh
#: σ_w² = 2, α = 0.8 at width 256, depth 40: 0.19-0.30 sd off; GELU at α = 0.86: 0.12-0.16).
#: That drift was the Gauss–Hermite rule over z₁ (eighth session: with the composite rule the
#: same tanh case is 0.015-0.022 sd off, and ten strong blocks — tanh, GELU, erf, SiLU; gains
#: 1-9; widths 32-256; θ0 0.06-2.5; depth 40-50; 3,000 networks — within 0.046 sd and 3.4%).
#: ReLU-family blocks are not bound (ReLU σ_w² = 1, α = 1 at width 32: 0.026 sd).
MAX_SMOOTH_BRANCH_GAIN = 4.0
#: Below this width the closures are refused (an error, not a warning): an expansion in 1/√n
#: breaks down there — at widths 2-6 the biased kinked and GELU/SiLU closures overflowed and
#: emptied their mixtures (an IndexError reached the user) or returned NaN; widths 8-24 gave
#: finite numbers in every case scanned (10 classes × θ0 × q0, depth 50).
MIN_CLOSURE_WIDTH = 8
MAX_DEPTH = 50
THETA0_RANGE = (0.05, 3.0)
#: The difference chart (kinked φ, biased GELU/SiLU) from θ0 above this: the angle passes near
#: π/2 at layers 1-3, where ln sin²θ ≈ −cos²θ sits just below 0 with a tiny sd, which the
#: chart's Gaussians in (ln A, ln Δ, r) carry only through a cancellation (cot θ ∝ √(A/Δ) −
#: tanh r). Measured (3,000-4,000 networks, widths 32-256, depth 6-8; fifth session): within
#: the bar up to θ0 = 1.6 everywhere tried; at θ0 = 2 on the edge (SiLU σ_b = 0.2 at 64: sd
#: 19.9% off at layer 1); beyond, sd 16-210% off at layers 1-3 (leaky, biased GELU/SiLU), and
#: for ReLU with biases at θ0 ≥ 2.6, where layer 1 lands on π/2 (ln sin²θ ≈ −1e-5, sd 1e-6),
#: 1 to 940 sd off (KS up to 0.95). Absolutely the errors stay small: ln sin²θ's mean within
#: 0.025 and its sd within 0.047 of the simulation at every layer (θ0 > 2, widths 64-256).
MAX_THETA0_DIFFERENCE = 1.6
LN_SIN2_FLOOR = -25.0  # below (θ ≲ 4e-6) the state loses precision when the norms differ
#: The difference chart (kinked φ, biased GELU/SiLU) names h_x − h_y itself, so it keeps its
#: precision as the angle collapses: measured to mean ln sin²θ = −58 (GELU σ_w² = 1, σ_b = 0.01,
#: width 256: 0.031 sd, 5.3%), −62 and −63 (GELU σ_w² = 1, σ_b = 0.1, widths 64 and 32: within
#: 0.07 sd, 7.1%) and −64 (SiLU σ_w² = 1, σ_b = 0.2, width 32: 0.039 sd, 4.7%).
LN_SIN2_FLOOR_DIFFERENCE = -65.0


def general_domain_warnings(
    theta0: float,
    steps: Sequence[int],
    *,
    activation: str | Activation = "relu",
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: str | float | None = None,
    ln_sin2_mean: FloatArray | None = None,
) -> list[str]:
    """Why a general-network prediction falls outside the closure's measured domain."""
    act = parse_activation(activation)
    sw2 = float(weight_std) ** 2
    branch_gain = None
    if residual is not None:
        floor, what = MIN_WIDTH_RESIDUAL, "residual blocks"
        alpha = parse_residual(residual)
        if act.slopes is None and alpha is not None:  # smooth φ
            branch_gain = sw2 * alpha**2
    elif act.slopes is not None:
        kinked_bias = bias_std > 0
        floor = MIN_WIDTH_KINKED_BIAS if kinked_bias else MIN_WIDTH_KINKED
        what = f"{act.name}" + (" with biases" if kinked_bias else "")
        if kinked_bias and min(act.slopes) > MAX_CALIBRATED_SLOPE:
            floor = MIN_WIDTH_STEEP_SLOPE_BIAS
            what = f"{act.name} (slope above {MAX_CALIBRATED_SLOPE:g}) with biases"
    elif act.name in ("tanh", "erf"):
        chaotic = _above(sw2, CHAOTIC_SW2)  # residual blocks are handled above
        floor, what = MIN_WIDTH_SMOOTH, act.name
        if sw2 < 1.0 - 1e-12 and len(steps) > ORDERED_DEPTH:
            floor = MIN_WIDTH_SMOOTH_ORDERED
            what = f"{act.name} with σ_w² < 1 deeper than {ORDERED_DEPTH} layers"
            if 0 < bias_std < ORDERED_BIAS_BELOW:
                floor = MIN_WIDTH_SMOOTH_ORDERED_BIAS
                what += f" and 0 < σ_b < {ORDERED_BIAS_BELOW:g}"
        if chaotic:
            floor = MIN_WIDTH_TANH_CHAOTIC if act.name == "tanh" else MIN_WIDTH_ERF_CHAOTIC
            what = f"{act.name} with σ_w² > {CHAOTIC_SW2:g}"
    elif act.name in ("gelu", "silu") and bias_std > 0:  # the difference-chart mixture
        floor = MIN_WIDTH_BIASED_SMOOTH
        if _above(sw2, 1.0):
            floor = MIN_WIDTH_BIASED_SMOOTH_15
        if _above(sw2, MAX_BIASED_SMOOTH_SW2):  # SiLU (GELU is warned below)
            floor = MIN_WIDTH_SILU_HE_BIASED
        what = f"{act.name} with biases"
    else:
        floor, what = MIN_WIDTH_OTHER, act.name
    reasons = []
    if residual is None and act.name in ("tanh", "erf") and _above(sw2, MAX_SMOOTH_SW2):
        reasons.append(
            f"σ_w² = {sw2:.3g} > {MAX_SMOOTH_SW2:g}: the closure for {act.name} is calibrated up "
            "to σ_w² = 2 (at 3.24 its sd is 15% low at width 64)"
        )
    if residual is None and act.name in ("tanh", "erf"):
        preact_sd = math.sqrt(sw2 + bias_std**2)
        first_sd = math.sqrt(sw2 * q0 + bias_std**2)
        if preact_sd > MAX_PREACT_SD:
            reasons.append(
                f"pre-activation sd {preact_sd:.3g} > {MAX_PREACT_SD:g} (√(σ_w² + σ_b²)): "
                f"outside the measured domain for {act.name} (tanh σ_w² = 2, σ_b = 5 at width "
                "512: 0.3-0.7 sd off by layer 30); simulate instead"
            )
        elif first_sd > MAX_PREACT_SD:
            reasons += _saturated_first_reasons(act.name, steps, theta0, sw2 * q0, bias_std**2)
    if residual is None and act.name in ("gelu", "silu"):
        reasons += _gelu_silu_reasons(act.name, sw2, bias_std, q0)
    if residual is not None and act.name in ("tanh", "erf") and _above(sw2, MAX_SMOOTH_BLOCK_SW2):
        reasons.append(
            f"{act.name} residual blocks with σ_w² = {sw2:.3g} > {MAX_SMOOTH_BLOCK_SW2:g}: the "
            "branch's pre-activations grow wide along the stream, where the closure drifts "
            "(tanh block:0.1 at σ_w² = 400: 0.6 sd off by layer 31; 44: 0.12 sd); check with "
            "depthscope.simulate"
        )
    if branch_gain is not None and _above(branch_gain, MAX_SMOOTH_BRANCH_GAIN):
        reasons.append(
            f"{act.name} residual blocks with branch gain σ_w² α² = {branch_gain:.3g} > "
            f"{MAX_SMOOTH_BRANCH_GAIN:g}: beyond the gains measured (1-9 within 0.05 sd, but "
            "only at a few settings above 4); check with depthscope.simulate"
        )
    if min(steps) < floor:
        reasons.append(
            f"width {min(steps)} < {floor}: the Gram-state closure for {what} is calibrated from "
            f"width {floor} (narrower: check with depthscope.simulate)"
        )
    if len(steps) > MAX_DEPTH:
        reasons.append(f"depth {len(steps)} > {MAX_DEPTH}: the closure is calibrated to depth 50")
    if not THETA0_RANGE[0] <= theta0 <= THETA0_RANGE[1]:
        reasons.append(f"θ0 = {theta0:.3g} outside the calibrated range {THETA0_RANGE}")
    difference = takes_difference_chart(activation, bias_std=bias_std, residual=residual)
    if (
        difference
        and THETA0_RANGE[0] <= theta0 <= THETA0_RANGE[1]
        and theta0 > MAX_THETA0_DIFFERENCE
    ):
        reasons.append(
            f"θ0 = {theta0:.3g} > {MAX_THETA0_DIFFERENCE:g}: the angle passes near π/2 in the "
            "first layers, where ln sin²θ ≈ −cos²θ has a tiny sd that this closure (the "
            "difference chart) misplaces — 16-210% off, and up to 10³ sd for ReLU with biases "
            "from θ0 = 2.6 — though within 0.025 (mean) and 0.047 (sd) absolutely; later layers "
            "are inside the bar"
        )
    ln_floor = LN_SIN2_FLOOR_DIFFERENCE if difference else LN_SIN2_FLOOR
    if ln_sin2_mean is not None and np.min(ln_sin2_mean) < ln_floor:
        why = "is not calibrated there" if difference else "loses precision"
        reasons.append(
            f"the angle collapses below θ ≈ {math.exp(ln_floor / 2):.0e} (predicted mean "
            f"ln sin²θ reaches {np.min(ln_sin2_mean):.1f} < {ln_floor:g}): the closure {why}"
        )
    return reasons


def _saturated_first_reasons(
    name: str, steps: Sequence[int], theta0: float, signal: float, bias: float
) -> list[str]:
    """Why a saturated first layer (tanh/erf, pre-activation sd > 4) is outside the domain.

    ``signal`` = σ_w² q0 and ``bias`` = σ_b² make the first pre-activations' variance.
    """
    cos_pre = (signal * math.cos(theta0) + bias) / (signal + bias)
    theta_pre = math.acos(min(1.0, max(-1.0, cos_pre)))
    theta_pre = min(theta_pre, math.pi - theta_pre)
    flips = steps[0] * theta_pre / math.pi  # units expected to differ in sign, λ
    why = (
        f"the first layer saturates (pre-activation sd {math.sqrt(signal + bias):.3g} > "
        f"{MAX_PREACT_SD:g}): its law is that of the {name} units' sign pattern"
    )
    if steps[0] < MIN_WIDTH_SATURATED_FIRST:
        return [f"{why}, whose sd the closure misses by 11% at width 32 (first width {steps[0]} "
                f"< {MIN_WIDTH_SATURATED_FIRST}); simulate instead"]  # fmt: skip
    if flips < MIN_SIGN_FLIPS or theta_pre < MIN_THETA_SATURATED_FIRST:
        return [
            f"{why}, with λ = {flips:.3g} units expected to differ in sign between the inputs "
            f"(at their angle {theta_pre:.3g}; the domain needs λ ≥ {MIN_SIGN_FLIPS:g} and an "
            f"angle ≥ {MIN_THETA_SATURATED_FIRST:g}): with probability ≈ e^−λ none does and the "
            "angle collapses (λ ≤ 6: 0.7 sd and 99% in the sd off); simulate instead"
        ]
    return []


def _above(sw2: float, bound: float) -> bool:
    """σ_w² above ``bound`` beyond rounding (√2² = 2 + 4e-16 is not above 2)."""
    return sw2 > bound * (1.0 + 1e-12)


def _gelu_silu_reasons(name: str, sw2: float, bias_std: float, q0: float) -> list[str]:
    """Return why plain GELU/SiLU layers fall outside their σ_w² bounds (with or without bias)."""
    if bias_std == 0 and name == "gelu" and _above(sw2, MAX_GELU_HE_SW2):
        return [f"bias-free GELU with σ_w² = {sw2:.3g} > {MAX_GELU_HE_SW2:g}: not calibrated"]
    if bias_std == 0 and name == "gelu" and _above(sw2, MAX_OTHER_SW2) and q0 > MAX_GELU_HE_Q0:
        return [
            f"bias-free GELU with σ_w² = {sw2:.3g} > {MAX_OTHER_SW2:g} and q0 = {q0:.3g} > 1: "
            "networks split between q ≈ 1 and q → 0 later and more widely than the closure "
            "carries (σ_w² = 2, width 256: sd 22% low at q0 = 2, 29% at q0 = 3; check with "
            "depthscope.simulate)"
        ]
    if bias_std > 0 and name == "gelu" and _above(sw2, MAX_BIASED_SMOOTH_SW2):
        return [
            f"GELU with biases and σ_w² = {sw2:.3g} > {MAX_BIASED_SMOOTH_SW2:g}: mean and sd "
            "within the bar only at σ_b = 0.1-0.3, θ0 ≈ 1, widths 512-1024, and even there the "
            "predicted law is too symmetric (KS D ≈ 0.07: the tail of late-collapsing networks is "
            "short); elsewhere sd 11-18% off (σ_b ≥ 0.05) and 24-44% (σ_b = 0.01-0.03); check "
            "with depthscope.simulate"
        ]
    if bias_std > 0 and name == "silu" and _above(sw2, 2.0):
        return [f"SiLU with biases and σ_w² = {sw2:.3g} > 2: not calibrated"]
    if bias_std == 0 and name == "silu" and _above(sw2, MAX_SILU_HE_SW2):
        return [
            f"bias-free SiLU with σ_w² = {sw2:.3g} > {MAX_SILU_HE_SW2:g}: the sd is 12-69% off "
            "at σ_w² = 2.25-2.6 (width 256); check with depthscope.simulate"
        ]
    large_q0 = q0 > MAX_SILU_HE_Q0_ABOVE_175
    if bias_std == 0 and name == "silu" and _above(sw2, SILU_LARGE_Q0_SW2) and large_q0:
        return [
            f"bias-free SiLU with σ_w² = {sw2:.3g} > {SILU_LARGE_Q0_SW2:g} and q0 = {q0:.3g} > "
            f"{MAX_SILU_HE_Q0_ABOVE_175:g}: the sd is 11-17% off (σ_w² = 2, q0 = 3-4, widths "
            "256-2048); check with depthscope.simulate"
        ]
    return []
