"""Slow statistical and property tests of depthscope.simulate (run with ``pytest -m slow``)."""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from depthscope.simulation._simulate import simulate

pytestmark = pytest.mark.slow

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_figure1_layer30_matches_an_independent_sampler() -> None:
    # Reference: an independent sampler (dense-free Gram chain written separately by the
    # maintainer), 5000 networks, width 256, 31 weight layers, θ₀ = 0.1:
    # layer-30 mean −5.398, sd 0.868 (docs/theory/experiments.md, Figure 1, quotes ≈ −5.40, 0.85).
    res = simulate([256] * 31, theta0=0.1, n_networks=5000, rng=1)
    row = res.ln_sin2[30]
    n = row.size
    ref_mean, ref_sd = -5.398, 0.868
    # SE of a difference of two independent means / sds of n = 5000 normal-ish samples.
    se_mean = math.sqrt(row.var(ddof=1) / n + ref_sd**2 / n)
    se_sd = math.sqrt(row.var(ddof=1) / (2 * (n - 1)) + ref_sd**2 / (2 * (n - 1)))
    assert abs(row.mean() - ref_mean) < 4 * se_mean  # 4 SE ≈ 0.069
    assert abs(row.std(ddof=1) - ref_sd) < 4 * se_sd  # 4 SE ≈ 0.049
    assert not res.dead.any()


@pytest.mark.parametrize("theta0", [0.1, 1.0])
def test_gram_and_dense_agree_at_several_layers(theta0: float) -> None:
    gram = simulate([64] * 12, theta0=theta0, n_networks=4000, rng=10)
    dense = simulate([64] * 12, theta0=theta0, n_networks=4000, rng=11, sampler="dense")
    wrong = simulate([48] * 12, theta0=theta0, n_networks=4000, rng=12, sampler="dense")
    for layer in (1, 4, 8, 12):
        assert stats.ks_2samp(gram.ln_sin2[layer], dense.ln_sin2[layer]).pvalue > 1e-3
    # Negative control: a deliberately wrong width must be rejected.
    assert stats.ks_2samp(gram.ln_sin2[12], wrong.ln_sin2[12]).pvalue < 1e-4


def test_truncated_normal_close_to_gaussian_but_orthogonal_not() -> None:
    gauss = simulate([64] * 10, theta0=0.5, n_networks=3000, rng=1)
    trunc = simulate(
        [64] * 10, theta0=0.5, n_networks=3000, rng=2, sampler="dense", init="truncated_normal"
    )
    ortho = simulate(
        [64] * 10, theta0=0.5, n_networks=3000, rng=3, sampler="dense", init="orthogonal"
    )
    assert abs(trunc.ln_sin2[10].mean() - gauss.ln_sin2[10].mean()) < 0.1
    assert stats.ks_2samp(gauss.ln_sin2[10], ortho.ln_sin2[10]).pvalue < 1e-6


def test_batch_gram_and_dense_agree() -> None:
    gram = simulate([96] * 8, inputs=8, n_networks=600, rng=1, input_dim=32)
    dense = simulate([96] * 8, inputs=8, n_networks=600, rng=2, input_dim=32, sampler="dense")
    for name in ("erank", "erank_centered", "participation_ratio", "mean_cosine"):
        for layer in (2, 8):
            p = stats.ks_2samp(gram.panel[name][layer], dense.panel[name][layer]).pvalue
            assert p > 1e-3, (name, layer, p)


def test_infinite_width_limit_of_the_mean_cosine() -> None:
    # cos θ₁ = (sin θ₀ + (π − θ₀) cos θ₀)/π for He weights (docs/theory/angle-theory.md §2): at
    # width 4096 the one-layer cosine of two inputs at θ₀ = 1 is within O(1/n) of it.
    x = np.array([[1.0, 0.0], [math.cos(1.0), math.sin(1.0)]])
    res = simulate([4096], inputs=x, n_networks=200, rng=0)
    expected = (math.sin(1.0) + (math.pi - 1.0) * math.cos(1.0)) / math.pi
    cos1 = res.panel["mean_cosine"][1]
    assert abs(cos1.mean() - expected) < 4 * cos1.std(ddof=1) / math.sqrt(cos1.size) + 2e-4


@_SETTINGS
@given(
    width=st.integers(2, 40),
    depth=st.integers(1, 6),
    theta0=st.floats(0.0, math.pi),
    slope=st.sampled_from([0.0, 0.2, -0.7, 1.0]),
    bias=st.sampled_from([0.0, 0.3]),
    sampler=st.sampled_from(["gram", "dense"]),
)
def test_angle_is_an_angle(width, depth, theta0, slope, bias, sampler) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = simulate(
            [width] * depth,
            theta0=theta0,
            n_networks=20,
            rng=0,
            activation=slope,
            bias_std=bias,
            sampler=sampler,
            input_dim=max(width, 2),
        )
    # the one warning these networks may give: θ0 so small that sin²θ0 is subnormal or 0
    tiny = 0.0 < theta0 < 1.0 and math.sin(theta0) ** 2 < sys.float_info.min
    said = [str(w.message) for w in caught]
    if tiny:
        assert len(said) == 1 and "below 1.5e-154" in said[0], said
    else:
        assert not said, said
    values = res.ln_sin2
    assert np.array_equal(np.isnan(values), res.dead)  # NaN only for dead layers
    assert np.all(values[~np.isnan(values)] <= 1e-12)  # sin²θ ≤ 1, θ ∈ [0, π]
    if theta0 == 0.0 and bias == 0.0:
        assert np.all(np.isneginf(values[~res.dead]))  # θ = 0 stays 0


@_SETTINGS
@given(
    n_networks=st.integers(1, 60),
    k=st.integers(1, 60),
    budget=st.integers(60_000, 2_000_000),
    seed=st.integers(0, 2**32),
)
def test_chunking_and_prefix_invariance(n_networks, k, budget, seed) -> None:
    k = min(k, n_networks)
    full = simulate([40] * 4, theta0=0.7, n_networks=n_networks, rng=seed)
    part = simulate([40] * 4, theta0=0.7, n_networks=k, rng=seed, memory_budget=budget)
    np.testing.assert_array_equal(full.ln_sin2[:, :k], part.ln_sin2)


@_SETTINGS
@given(m=st.integers(2, 8), width=st.integers(3, 30), seed=st.integers(0, 1000))
def test_panel_invariants(m, width, seed) -> None:
    res = simulate([width] * 3, inputs=m, n_networks=4, rng=seed, input_dim=5)
    p = res.panel
    ok = ~np.isnan(p["erank"])
    assert np.all(p["rank"][0] <= min(m, 5))
    assert np.all(p["numerical_rank"] <= p["rank"])
    assert np.all(p["rank"] <= m) and np.all(p["mask_rank"][1:] <= m)
    assert np.all(p["erank"][ok] <= p["rank"][ok] + 1e-9)
    assert np.all(p["erank"][ok] >= 1 - 1e-9)
    assert np.all(p["stable_rank"][ok] <= p["participation_ratio"][ok] + 1e-9)
    assert np.all((p["active_fraction"][1:] >= 0) & (p["active_fraction"][1:] <= 1))
    cos = p["mean_cosine"][~np.isnan(p["mean_cosine"])]
    assert np.all((cos >= -1 - 1e-12) & (cos <= 1 + 1e-12))
