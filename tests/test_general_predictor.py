"""The general-network predictor against exact Gram-state Monte Carlo (slow).

The reference is tools/calibrate_general.py's exact O(n) sampler (to be switched to
depthscope.simulate once it takes these networks). The predictor is ``depthscope.predict``'s
default method (the sliced closure for plain kinked layers, the Gaussian closure otherwise).
Tolerances: the bar (mean within 0.1 sd, sd within 10%) plus three standard errors of the
Monte Carlo.
"""

from __future__ import annotations

import math
import pathlib
import sys
import warnings

import numpy as np
import pytest

import depthscope as ds
from depthscope.theory._general_law import general_law

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
from calibrate_general import simulate_x

N_NETWORKS = 2000
CASES = [
    (256, 20, 1.0, {"activation": "leaky:0.1"}),
    (64, 20, 1.0, {"activation": "tanh", "weight_std": 1.0, "bias_std": 0.1}),
    (64, 20, 1.0, {"residual": "block:0.5", "weight_std": 1.0, "bias_std": 0.2}),
    (32, 50, 1.0, {"activation": "leaky:0.1", "bias_std": 0.3}),  # narrow, biased: sliced
    (64, 50, 1.5, {"activation": "leaky:0.01"}),  # narrow, bias-free: sliced
]
MEAN_TOL = 0.1 + 3 / math.sqrt(N_NETWORKS)
SD_TOL = 0.1 + 3 / math.sqrt(2 * N_NETWORKS)


def _simulated(width, depth, theta0, kw):
    sim = simulate_x(width, depth, theta0, N_NETWORKS, np.random.default_rng(7), **kw)
    return sim.mean(0)[1:], sim.std(0, ddof=1)[1:]


def _errors(sim, mean, sd):
    s_mean, s_sd = sim
    return np.max(np.abs(mean[1:] - s_mean) / s_sd), np.max(np.abs(sd[1:] / s_sd - 1.0))


def _predicted(width, depth, theta0, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.DepthscopeWarning)
        p = ds.predict([width] * depth, theta0, **kw)
    return p.mean, p.sd


@pytest.mark.slow
@pytest.mark.parametrize(("width", "depth", "theta0", "kw"), CASES)
def test_closure_meets_the_bar(width, depth, theta0, kw) -> None:
    sim = _simulated(width, depth, theta0, kw)
    mean_err, sd_err = _errors(sim, *_predicted(width, depth, theta0, kw))
    assert mean_err <= MEAN_TOL
    assert sd_err <= SD_TOL


@pytest.mark.slow
def test_negative_control_wrong_bias_fails() -> None:
    """The same test must reject the closure run with a wrong σ_b."""
    width, depth, theta0, kw = CASES[1]
    sim = _simulated(width, depth, theta0, kw)
    law = general_law([width] * depth, theta0, **{**kw, "bias_std": 0.5})
    mean_err, sd_err = _errors(sim, law.mean, law.sd)
    assert mean_err > MEAN_TOL or sd_err > SD_TOL


@pytest.mark.slow
def test_negative_control_single_gaussian_fails_narrow_biased() -> None:
    """The single-Gaussian closure on (ln A, ln B, T) fails the narrow biased case (≈ 0.8 sd)."""
    width, depth, theta0, kw = CASES[3]
    sim = _simulated(width, depth, theta0, kw)
    law = general_law([width] * depth, theta0, **kw)
    mean_err, _ = _errors(sim, law.mean, law.sd)
    assert mean_err > 3 * MEAN_TOL


def test_slicing_preserves_mass_mean_and_covariance() -> None:
    """Cutting a Gaussian mixture into slices along r keeps its first two moments exactly."""
    from depthscope.theory._general_mix import _R_AXIS, _slice

    rng = np.random.default_rng(3)
    weights = rng.uniform(0.1, 1.0, 5)
    mean = rng.normal(size=(5, 3))
    roots = rng.normal(size=(5, 3, 3)) * 0.5
    cov = np.swapaxes(roots, -1, -2) @ roots
    w, m, c = _slice(weights, mean, cov, _R_AXIS, 8)

    def moments(w, m, c):
        total = w.sum()
        centre = w @ m / total
        dev = m - centre
        second = (np.einsum("k,kij->ij", w, c) + np.einsum("k,ki,kj->ij", w, dev, dev)) / total
        return total, centre, second

    for before, after in zip(moments(weights, mean, cov), moments(w, m, c), strict=True):
        np.testing.assert_allclose(after, before, rtol=1e-9, atol=1e-12)
    assert len(w) == 8


def test_predict_dispatches_plain_kinked_to_the_sliced_closure() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.DepthscopeWarning)
        p = ds.predict("32x5", 1.0, activation="leaky:0.1", bias_std=0.3)
    assert p.mixture_weights.shape[1] > 1
    np.testing.assert_allclose(p.mixture_weights.sum(axis=1), 1.0)
    assert np.all(np.diff(p.quantiles[-1]) > 0)


@pytest.mark.parametrize("name", ["relu", "leaky:0.1", "leaky:0.01", "abs"])
def test_closed_form_kinked_moments_match_arc_quadrature(name) -> None:
    """The closed-form moments of w = (φ(u)², φ(u)g, g²) against 40-node Gauss–Legendre arcs."""
    from depthscope.theory._activations import parse_activation
    from depthscope.theory._general_law import _moments_homogeneous

    act = parse_activation(name)
    rng = np.random.default_rng(0)
    l11 = rng.uniform(0.5, 2.0, 60)
    l21 = rng.normal(size=60) * rng.choice([1e-6, 1e-3, 1.0], 60)
    l22 = np.abs(rng.normal(size=60)) * rng.choice([1e-7, 1e-3, 1.0], 60)
    nodes, weights = np.polynomial.legendre.leggauss(40)
    t_v = np.arctan2(l11 - l21, l22)
    kinks = [np.full(60, 0.5 * math.pi), np.full(60, 1.5 * math.pi), np.mod(t_v, 2 * math.pi),
             np.mod(t_v + math.pi, 2 * math.pi)]  # fmt: skip
    starts = np.sort(np.stack(kinks, -1), -1)
    ends = np.concatenate([starts[:, 1:], starts[:, :1] + 2 * math.pi], -1)
    half = 0.5 * (ends - starts)
    t = (0.5 * (ends + starts))[..., None] + half[..., None] * nodes
    wt = half[..., None] * weights / (2 * math.pi)
    u = l11[:, None, None] * np.cos(t)
    v = u - (l21[:, None, None] * np.cos(t) + l22[:, None, None] * np.sin(t))
    fu = act.fn(u)
    g = fu - act.fn(v)  # no cancellation issue at these sizes for the comparison below
    w = np.stack([fu * fu, fu * g, g * g], -1)
    first = 2 * np.einsum("aij,aijk->ak", wt, w)
    second = 8 * np.einsum("aij,aijk,aijl->akl", wt, w, w)
    got_first, got_second = _moments_homogeneous(act, l11, l21, l22)
    np.testing.assert_allclose(got_first, first, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(got_second, second, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("bias_std", [0.1, 0.2])
def test_collapsing_angle_leaks_no_runtime_warning(bias_std) -> None:
    """Ordered tanh (σ_w = 0.6): the angle collapses below the floor; only the domain warning.

    The suite turns any RuntimeWarning into an error (pyproject's filterwarnings); the state map
    evaluated log1p(−1) in an unused branch there.
    """
    with pytest.warns(ds.DepthscopeWarning, match="collapses"):
        p = ds.predict("64x50", 1.0, activation="tanh", weight_std=0.6, bias_std=bias_std)
    assert np.all(np.isfinite(p.mean)) and np.all(np.isfinite(p.sd))
    assert p.mean[-1] < -25
