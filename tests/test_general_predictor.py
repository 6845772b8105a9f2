"""The general-network closure against exact Gram-state Monte Carlo (slow).

The reference is tools/calibrate_general.py's exact O(n) sampler (to be switched to
depthscope.simulate once it takes these networks). Tolerances: the bar (mean within 0.1 sd,
sd within 10%) plus three standard errors of the Monte Carlo.
"""

from __future__ import annotations

import math
import pathlib
import sys

import numpy as np
import pytest

from depthscope.theory._general_law import general_law

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
from calibrate_general import simulate_x

N_NETWORKS = 2000
CASES = [
    (256, 20, 1.0, {"activation": "leaky:0.1"}),
    (64, 20, 1.0, {"activation": "tanh", "weight_std": 1.0, "bias_std": 0.1}),
    (64, 20, 1.0, {"residual": "block:0.5", "weight_std": 1.0, "bias_std": 0.2}),
]


def _errors(width, depth, theta0, sim_kw, law_kw):
    sim = simulate_x(width, depth, theta0, N_NETWORKS, np.random.default_rng(7), **sim_kw)
    law = general_law([width] * depth, theta0, **law_kw)
    s_mean, s_sd = sim.mean(0)[1:], sim.std(0, ddof=1)[1:]
    mean_err = np.max(np.abs(law.mean[1:] - s_mean) / s_sd)
    sd_err = np.max(np.abs(law.sd[1:] / s_sd - 1.0))
    return mean_err, sd_err


@pytest.mark.slow
@pytest.mark.parametrize(("width", "depth", "theta0", "kw"), CASES)
def test_closure_meets_the_bar(width, depth, theta0, kw) -> None:
    mean_err, sd_err = _errors(width, depth, theta0, kw, kw)
    se = 1.0 / math.sqrt(N_NETWORKS)
    assert mean_err <= 0.1 + 3 * se
    assert sd_err <= 0.10 + 3 * se / math.sqrt(2)


@pytest.mark.slow
def test_negative_control_wrong_bias_fails() -> None:
    """The same test must reject the closure run with a wrong σ_b."""
    width, depth, theta0, kw = CASES[1]
    mean_err, sd_err = _errors(width, depth, theta0, kw, {**kw, "bias_std": 0.5})
    assert mean_err > 0.1 + 3 / math.sqrt(N_NETWORKS) or sd_err > 0.1 + 3 / math.sqrt(
        2 * N_NETWORKS
    )
