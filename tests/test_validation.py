"""Bad input at the public API boundary: each case was a silent wrong answer or a traceback."""

from __future__ import annotations

import math

import numpy as np
import pytest

import depthscope as ds
from depthscope._errors import check_int


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "3", None, [3], 1 + 0j])
def test_check_int_refuses_non_integers_by_type(value: object) -> None:
    with pytest.raises(TypeError):
        check_int(value, "n")


@pytest.mark.parametrize("value", [2.5, math.nan, math.inf, -math.inf, 0, -1])
def test_check_int_refuses_bad_values(value: object) -> None:
    with pytest.raises(ds.DepthscopeError):
        check_int(value, "n")


def test_check_int_accepts_integral_numbers_exactly() -> None:
    assert check_int(3.0, "n") == 3
    assert check_int(np.int64(7), "n") == 7
    assert check_int(2**70, "n") == 2**70  # no float round trip for Python ints


def test_simulate_refuses_bool_network_count() -> None:
    # Before: n_networks=True ran one network.
    with pytest.raises(TypeError, match="n_networks"):
        ds.simulate("4x2", 1.0, n_networks=True, rng=0)


@pytest.mark.parametrize("seed", [-1, -(2**70)])
def test_simulate_refuses_negative_seeds(seed: int) -> None:
    # Before: a raw numpy ValueError ("expected non-negative integer").
    with pytest.raises(ds.DepthscopeError, match="non-negative"):
        ds.simulate("4x2", 1.0, n_networks=2, rng=seed)


@pytest.mark.parametrize("seed", [1.5, "1", b"1", [1]])
def test_simulate_refuses_seeds_of_other_types(seed: object) -> None:
    with pytest.raises(TypeError, match="rng"):
        ds.simulate("4x2", 1.0, n_networks=2, rng=seed)  # type: ignore[arg-type]


def test_predict_refuses_fractional_input_dim() -> None:
    # Before: input_dim=2.5 was truncated to 2.
    with pytest.raises(ds.DepthscopeError, match="input_dim"):
        ds.predict("10x3", 1.0, convention="paper", input_dim=2.5)


@pytest.mark.parametrize("method", ["infinite", "mean", "approx1"])
@pytest.mark.parametrize("theta0", [1e-170, 2.3e-199, 1e-300])
def test_deterministic_methods_stay_finite_at_tiny_angles(method: str, theta0: float) -> None:
    # Before: θ² underflowed in the infinite-width map below θ ≈ 1e-162 and arcsin(√e^X)
    # below X ≈ −745, so layer 1 or 2 became −inf. At tiny θ the infinite-width map is
    # θ(1 − θ/(3π) + ...) = θ to rounding, and one μ step lowers X by about ρ-dependent
    # O(1) amounts, so every layer must be finite and within 50 of X_0.
    p = ds.predict("30x3", theta0, method=method)
    assert np.isfinite(p.mean).all()
    assert p.mean[0] == pytest.approx(2 * math.log(theta0), rel=1e-15)
    assert (np.abs(p.mean - p.mean[0]) < 50).all()


def test_infinite_width_map_is_the_identity_to_rounding_at_tiny_angles() -> None:
    theta = np.array([1e-170, 1e-250, 1e-300])
    np.testing.assert_allclose(ds.infinite_width_map(theta), theta, rtol=1e-15)


@pytest.mark.parametrize("bias_std", [1e200, math.inf, math.nan, -0.1])
def test_simulate_refuses_bias_std_outside_its_stated_range(bias_std: float) -> None:
    # Before: bias_std = 1e200 overflowed every network and reported dead = collapsed = 0.
    with pytest.raises(ds.DepthscopeError, match="bias_std"):
        ds.simulate("8x3", 1.0, n_networks=2, rng=0, bias_std=bias_std)


def test_simulate_counts_no_nonfinite_networks_at_the_edge_of_the_bias_range() -> None:
    from depthscope.simulation._plan import MAX_BIAS_STD

    r = ds.simulate("8x3", 1.0, n_networks=50, rng=0, bias_std=MAX_BIAS_STD)
    assert (r.nonfinite_fraction == 0).all()
    assert np.isfinite(r.ln_sin2[~r.dead]).sum() + np.isinf(r.ln_sin2[~r.dead]).sum() == (
        (~r.dead).sum()
    )


def test_approx2_refuses_depths_whose_cost_explodes() -> None:
    # Before: approx2 on 30x20000 ran for minutes (its cost is quadratic in depth).
    from depthscope.theory._predict import MAX_APPROX2_DEPTH

    with pytest.raises(ds.DepthscopeError, match="quadratic"):
        ds.predict(f"30x{MAX_APPROX2_DEPTH + 1}", 1.0, method="approx2")


@pytest.mark.parametrize("theta0", [1e-300, 5.914536261777453e-155, 1e-100])
def test_no_floating_point_warnings_at_tiny_angles(theta0: float) -> None:
    # Found by the fuzz campaign: σ² evaluated 1/Z (Z ≈ θ²) on its unused branch and overflowed
    # with a RuntimeWarning below θ ≈ 1e-154 (pytest turns warnings into errors here).
    for method in ("approx2", "approx1", "mean", "infinite", "markov", "lattice"):
        ds.predict("30x3", theta0, method=method)
    assert np.isfinite(ds.sigma2(theta0, 3)) and np.isfinite(ds.mu(theta0, 3))


@pytest.mark.parametrize("method", ["approx1", "approx2"])
def test_approximations_refuse_antipodal_inputs(method: str) -> None:
    with pytest.raises(ds.DepthscopeError, match="antipodal"):
        ds.predict("30x3", math.pi, method=method)


def test_default_method_refuses_widths_its_grid_cannot_hold() -> None:
    # Found by a long fuzz run: the law's grid cells shrink as 1/√n, so width 10⁸ allocated
    # over 24 GB (the process was killed); width 10⁶ already took 2.4 GB for two layers.
    from depthscope.theory._predict import MAX_LAW_WIDTH

    ds.predict([MAX_LAW_WIDTH], 1.0)
    with pytest.raises(ds.DepthscopeError, match="method='mean'"):
        ds.predict([MAX_LAW_WIDTH + 1], 1.0)
    with pytest.raises(ds.DepthscopeError, match="method='mean'"):
        ds.screen([f"{10**8}x2"])
    assert np.isfinite(ds.predict([10**8] * 2, 1.0, method="mean").mean).all()
