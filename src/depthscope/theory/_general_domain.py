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

__all__ = ["general_domain_warnings"]

#: The measured domain (docs/theory/general-predictor.md): the narrowest width at which the
#: closure met the bar (mean within 0.1 sd, sd within 10%) on the calibration grid, per class.
MIN_WIDTH_KINKED = 64  # a·min + b·max without bias (leaky ReLU, abs), plain layers (sliced)
MIN_WIDTH_KINKED_BIAS = 32  # the same with σ_b > 0 (the sliced closure, _general_mix)
MIN_WIDTH_SMOOTH = 32  # tanh, erf with σ_w² ≤ CHAOTIC_SW2 (sliced along T)
CHAOTIC_SW2 = 1.5  # above: chaotic tanh/erf, the T law skewed
MIN_WIDTH_TANH_CHAOTIC = 32  # σ_w² = 1.96, σ_b = 0.1, depth 50: sd 8.2% low at 32, 5.9% at 64
MIN_WIDTH_ERF_CHAOTIC = 64  # σ_w² = 1.96, σ_b = 0.1: sd 5.6% low at 64 (depth 30), 11.0% at 32
MAX_SMOOTH_SW2 = 2.0  # tanh/erf calibrated for σ_w² ≤ 2 (3.24 at width 64: sd 14.7% low)
MIN_WIDTH_OTHER = 256  # gelu, silu and other smooth φ
#: GELU plain layers above this σ_w²: networks split between q ≈ 1 (ReLU-like) and q → 0
#: (nearly linear, or bias-dominated: the angle collapses), which one Gaussian cannot carry:
#: sd 12% low at width 256 without bias, 48-66% low with σ_b = 0.1 at widths 256-1024
#: (bias-free SiLU at σ_w² = 2, width 256: within 5%).
MAX_OTHER_SW2 = 1.5
#: GELU/SiLU plain layers with biases above this σ_w² (GELU 1.5, σ_b = 0.1: mean 0.12 sd off
#: at layer 50, width 256; SiLU 2, σ_b = 0.1: sd 22% low; GELU 1, σ_b = 0.2: within the bar).
MAX_OTHER_BIASED_SW2 = 1.0
MIN_WIDTH_RESIDUAL = 64
MAX_DEPTH = 50
THETA0_RANGE = (0.05, 3.0)
LN_SIN2_FLOOR = -25.0  # below (θ ≲ 4e-6) the state loses precision when the norms differ


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
    if residual is not None:
        floor, what = MIN_WIDTH_RESIDUAL, "residual blocks"
    elif act.slopes is not None:
        kinked_bias = bias_std > 0
        floor = MIN_WIDTH_KINKED_BIAS if kinked_bias else MIN_WIDTH_KINKED
        what = f"{act.name}" + (" with biases" if kinked_bias else "")
    elif act.name in ("tanh", "erf"):
        chaotic = float(weight_std) ** 2 > CHAOTIC_SW2  # residual blocks are handled above
        floor, what = MIN_WIDTH_SMOOTH, act.name
        if chaotic:
            floor = MIN_WIDTH_TANH_CHAOTIC if act.name == "tanh" else MIN_WIDTH_ERF_CHAOTIC
            what = f"{act.name} with σ_w² > {CHAOTIC_SW2:g}"
    else:
        floor, what = MIN_WIDTH_OTHER, act.name
    reasons = []
    sw2 = float(weight_std) ** 2
    if residual is None and act.name in ("tanh", "erf") and sw2 > MAX_SMOOTH_SW2:
        reasons.append(
            f"σ_w² = {sw2:.3g} > {MAX_SMOOTH_SW2:g}: the closure for {act.name} is calibrated up "
            "to σ_w² = 2 (at 3.24 its sd is 15% low at width 64)"
        )
    if residual is None and act.name in ("gelu", "silu"):
        if act.name == "gelu" and sw2 > MAX_OTHER_SW2:
            reasons.append(
                f"σ_w² = {sw2:.3g} > {MAX_OTHER_SW2:g}: GELU networks split between q ≈ 1 and "
                "q → 0 (nearly linear, or bias-dominated), which the closure cannot carry "
                "(σ_w² = 2: sd 12% low at width 256; with σ_b = 0.1, 48-66% low at widths "
                "256-1024; check with depthscope.simulate)"
            )
        elif bias_std > 0 and sw2 > MAX_OTHER_BIASED_SW2:
            reasons.append(
                f"{act.name} with biases and σ_w² = {sw2:.3g} > {MAX_OTHER_BIASED_SW2:g}: the "
                "closure is off there (GELU σ_w² = 1.5, σ_b = 0.1, width 256: mean 0.12 sd at "
                "layer 50; SiLU σ_w² = 2, σ_b = 0.1: sd 22% low; check with depthscope.simulate)"
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
    if ln_sin2_mean is not None and np.min(ln_sin2_mean) < LN_SIN2_FLOOR:
        reasons.append(
            f"the angle collapses below θ ≈ 4e-6 (predicted mean ln sin²θ reaches "
            f"{np.min(ln_sin2_mean):.1f} < {LN_SIN2_FLOOR:g}): the closure loses precision"
        )
    return reasons
