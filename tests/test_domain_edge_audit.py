"""The domain bounds that the ninth session's edge audit moved (tools/audit_domain.py --edges).

Each hole was confirmed with 8,000-12,000 networks (numbers in theory/_general_domain.py): the
configuration must now warn, and its neighbour just inside the measured domain must stay quiet
(a bound that warned everywhere would pass the first half alone).
"""

from __future__ import annotations

import pytest

from depthscope.theory._general_domain import general_domain_warnings

CASES = [  # (θ0, widths, network that must warn, the match, a quiet neighbour's changes)
    (2.84, [256] * 45, {"activation": "silu", "weight_std": 2.25**0.5}, "SiLU with σ_w² = 2.25",
     {"weight_std": 2.0**0.5}),
    (0.89, [454] * 47, {"activation": "silu", "weight_std": 2.0**0.5, "q0": 4.0}, "q0 = 4 > 2",
     {"q0": 2.0}),
    (0.42, [64] * 50, {"activation": "erf", "weight_std": 0.54**0.5, "bias_std": 0.01, "q0": 3.28},
     "calibrated from width 256", {"bias_std": 0.1}),
    (1.21, [80] * 50, {"activation": "gelu", "weight_std": 1.5**0.5, "bias_std": 0.01, "q0": 1.0},
     "calibrated from width 256", {"weight_std": 1.0}),
    (2.18, [95] * 50, {"activation": "tanh", "weight_std": 20.0, "bias_std": 0.1,
                       "residual": "block:0.1"}, "σ_w² = 400 > 16", {"weight_std": 4.0}),
    (1.6, [32] * 50, {"activation": "leaky:0.3", "bias_std": 0.03}, "calibrated from width 64",
     {"widths": [64] * 50}),
    (1.6, [64] * 50, {"activation": "leaky:0.5", "bias_std": 0.13}, "calibrated from width 128",
     {"activation": "leaky:0.3"}),
    # eleventh session: saturated first layers of tanh/erf with few sign flips (λ = nθ/π ≤ 6:
    # 0.7 sd and 99% in the sd off, 8,000 networks); the neighbours have λ ≥ 30 or no saturation
    (0.215, [78] * 36, {"activation": "erf", "weight_std": 0.56**0.5, "q0": 2.3e5},
     "λ = 5.34 units", {"theta0": 1.5}),
    (0.087, [141] * 31, {"activation": "tanh", "weight_std": 1.84**0.5, "q0": 3.1e3},
     "λ = 3.9 units", {"q0": 4.0}),
    (3.0, [64] * 30, {"activation": "tanh", "weight_std": 1.0, "bias_std": 0.1, "q0": 1e8},
     "λ = 2.88 units", {"theta0": 1.571}),
]  # fmt: skip


@pytest.mark.parametrize(("theta0", "widths", "network", "match", "inside"), CASES)
def test_audit_hole_warns_and_its_neighbour_does_not(
    theta0: float, widths: list[int], network: dict, match: str, inside: dict
) -> None:
    reasons = general_domain_warnings(theta0, widths, **network)
    assert len(reasons) == 1 and match in reasons[0], reasons
    quiet = {**network, **inside}
    widths, theta0 = quiet.pop("widths", widths), quiet.pop("theta0", theta0)
    assert general_domain_warnings(theta0, widths, **quiet) == []
