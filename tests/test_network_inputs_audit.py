"""Regression tests for the bad-input audit of the network keywords (issue 16).

Each case was found failing before the fix: a traceback (OverflowError, ZeroDivisionError,
ValueError, MemoryError), NaN with only a RuntimeWarning, a hang, or a misleading answer.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

import depthscope as ds
from depthscope import DepthscopeError


@pytest.mark.parametrize("spelling", ["RELU", "relu ", " ReLU", "leaky:0", "leaky:-0"])
def test_relu_spelled_otherwise_gets_the_exact_relu_prediction(spelling):
    # before: "RELU" went to the general closure (-1.25 vs -1.246) and method="mean" refused it
    reference = ds.predict("64x5", 1.0)
    p = ds.predict("64x5", 1.0, activation=spelling)
    np.testing.assert_array_equal(p.mean, reference.mean)
    np.testing.assert_array_equal(p.sd, reference.sd)
    ds.predict("64x5", 1.0, activation=spelling, method="mean")


def test_numpy_integer_weight_std_is_a_real_number():
    p = ds.predict("64x5", 1.0, activation="tanh", weight_std=np.int64(1))
    q = ds.predict("64x5", 1.0, activation="tanh", weight_std=1.0)
    np.testing.assert_array_equal(p.mean, q.mean)


@pytest.mark.parametrize("method", ["markov", "infinite"])
@pytest.mark.parametrize(
    "network",
    [
        {"activation": "leaky:1e300"},
        {"activation": "tanh", "weight_std": 1e200},
        {"activation": "tanh", "weight_std": 1e-200},
        {"activation": "relu", "weight_std": 1e200},
        {"activation": "tanh", "bias_std": 1e200},
        {"activation": "tanh", "q0": 1e300},
        {"activation": "gelu", "q0": 1e-300},
        {"activation": "relu", "residual": "block:1e300"},
        {"activation": "tanh", "residual": 1e300},
    ],
)
def test_extreme_network_numbers_are_refused_up_front(network, method):
    with pytest.raises(DepthscopeError, match=r"must be a finite number in|slopes must be"):
        ds.predict("64x5", 1.0, method=method, **network)


@pytest.mark.parametrize("method", ["markov", "infinite"])
@pytest.mark.parametrize(
    "network",
    [
        {"activation": "relu", "weight_std": 10.0, "bias_std": 0.1},  # norms overflow
        {"activation": "leaky:0.1", "weight_std": 0.1},  # norms underflow
        {"activation": "tanh", "weight_std": 0.3},  # q → 0 geometrically
        {"activation": "relu", "weight_std": 2.0, "residual": "block:1"},
    ],
)
def test_norms_leaving_float64_are_an_error_not_nan(network, method):
    # before: NaN mean/sd with a RuntimeWarning, or a ZeroDivisionError traceback
    with pytest.raises(DepthscopeError, match="norms leave float64's range"):
        ds.predict("64x500", 1.0, method=method, **network)


def test_collapsing_gelu_norms_do_not_hang():
    # before: bias-free GELU at depth 3000 carried NaN through the largest quadrature (> 120 s)
    # (a behaviour, not a timing: the closure stops at the first non-finite layer, ≈ 500)
    with pytest.raises(DepthscopeError, match=r"not finite at layer (\d+)") as caught:
        ds.predict("64x3000", 1.0, activation="gelu")
    layer = re.search(r"not finite at layer (\d+)", str(caught.value))
    assert layer is not None and int(layer.group(1)) < 1000


@pytest.mark.parametrize("activation", ["relu", "leaky:0.1", "gelu", "silu", "abs"])
def test_tiny_theta0_with_the_difference_chart(activation):
    # before: ValueError "math domain error" (1 − cos θ0 underflows to 0)
    with pytest.warns(ds.DepthscopeWarning) as record:
        p = ds.predict("64x5", 1e-300, activation=activation, bias_std=0.1)
    assert any("outside the calibrated range" in str(w.message) for w in record)
    assert np.isfinite(p.mean).all() and np.isfinite(p.sd).all()


def test_residual_true_is_a_type_error():
    with pytest.raises(TypeError, match="residual"):
        ds.predict("64x5", 1.0, residual=True)
    with pytest.raises(TypeError, match="residual"):
        ds.simulate("64x5", 1.0, n_networks=4, rng=0, residual=True)


@pytest.mark.parametrize("activation", [True, None, [0.1]])
def test_simulate_activation_of_the_wrong_type(activation):
    # before: True ran as slope 1; None raised float()'s own TypeError
    with pytest.raises(TypeError, match="activation must be a name"):
        ds.simulate("64x5", 1.0, n_networks=4, rng=0, activation=activation)


@pytest.mark.parametrize(
    "keywords",
    [
        {"weight_std": 1e200},
        {"weight_std": 1e-200},
        {"q0": 1e300},
        {"activation": "leaky:1e300"},
    ],
)
def test_simulate_refuses_extreme_network_numbers(keywords):
    with pytest.raises(DepthscopeError, match=r"must be a finite number|leaky slope must be"):
        ds.simulate("64x5", 1.0, n_networks=4, rng=0, **keywords)


@pytest.mark.parametrize(
    ("args", "keywords", "error"),
    [
        (("tanh", math.inf), {}, DepthscopeError),  # before: ZeroDivisionError
        (("tanh", math.nan), {}, DepthscopeError),  # before: q = χ = inf
        (("tanh", -1.0), {}, DepthscopeError),  # before: ran as σ_w = 1
        (("tanh", 1e200), {}, DepthscopeError),  # before: OverflowError
        (("tanh", "1"), {}, TypeError),
        (("tanh", True), {}, TypeError),
        (("tanh", 1.0, math.nan), {}, DepthscopeError),
        (("tanh", 1.0, -1.0), {}, DepthscopeError),
        (("tanh", 1.0), {"q_start": -1.0}, DepthscopeError),  # before: math domain error
        (("gelu", 1.0), {"q_start": 1e300}, DepthscopeError),  # before: ValueError (array size)
    ],
)
def test_fixed_point_chi_checks_its_numbers(args, keywords, error):
    with pytest.raises(error):
        ds.fixed_point_chi(*args, **keywords)


def test_fixed_point_chi_he_relu_is_critical_not_exploding():
    # √2² = 2 + 4e-16 made χ = 1 + 2e-16 and q* = inf; the norm is preserved exactly
    point = ds.fixed_point_chi("relu")
    assert point.q == 1.0
    assert point.chi == pytest.approx(1.0, rel=1e-15)


def test_simulate_says_where_the_norms_leave_float64() -> None:
    # Before: 100% NaN angles (or underflow counted as dead units) with only numpy's
    # RuntimeWarnings. Now one DepthscopeWarning each, naming the first layer: with σ_w² = 100
    # the norms grow ≈ 50× a layer and the Gram's products (A·Δ ≈ A²) pass 1e308 once
    # A ≈ 1e154, at layer ln(1e154)/ln 50 ≈ 91.
    with pytest.warns(ds.DepthscopeWarning, match=r"left float64's range in 100% .* layer 9\d"):
        hot = ds.simulate([64] * 120, theta0=1.0, n_networks=8, rng=0, weight_std=10.0,
                          bias_std=0.1)  # fmt: skip
    assert hot.nonfinite_fraction[-1] == 1.0
    with pytest.warns(ds.DepthscopeWarning) as record:
        ds.simulate([64] * 320, theta0=1.0, n_networks=4, rng=0, activation="tanh",
                    weight_std=0.3)  # fmt: skip
    said = [str(w.message) for w in record]
    assert any("fell below float64's range" in m and "underflow" in m for m in said), said
    with warnings.catch_warnings():  # negative controls: in range, and ReLU's real dead units
        warnings.simplefilter("error")
        ds.simulate([64] * 120, theta0=1.0, n_networks=8, rng=0, weight_std=1.5, bias_std=0.1)
        dead = ds.simulate([2] * 30, theta0=1.0, n_networks=50, rng=0)
    assert dead.dead_fraction.max() > 0


@pytest.mark.parametrize(
    ("spelling", "hint"),
    [
        ("LeakyReLU", "leaky:0.01"),
        ("leaky", "leaky:0.01"),
        ("swish", "is silu"),
        ("gelu_tanh", "not covered"),
        ("softplus", "or silu."),  # no hint: the plain list
    ],
)
def test_unknown_activation_names_the_spelling_users_mean(spelling: str, hint: str) -> None:
    with pytest.raises(ds.DepthscopeError, match=f"unknown activation {spelling!r}.*{hint}"):
        ds.predict("64x3", 1.0, activation=spelling)


def test_residual_width_error_quotes_the_widths_as_given() -> None:
    with pytest.raises(ds.DepthscopeError, match=r"got widths 128,64x2,32\."):
        ds.predict([128, 64, 64, 32], 1.0, residual="block:0.5")


def test_gelu_blocks_follow_norms_as_far_as_relu_and_say_how_far():
    # before: GELU/SiLU's exact inner sum formed eighth powers of the pre-activations' scale
    # (with coefficient 0), which overflowed at norms ≈ 1e75 (layer 26 here): "non-finite".
    kw = {"activation": "gelu", "weight_std": 20.0, "residual": "block:0.1"}
    law = ds.predict("64x50", 1.0, **kw)  # norms ≈ 1e143 at layer 50
    sim = ds.simulate("64x50", theta0=1.0, n_networks=2000, rng=3, **kw).ln_sin2
    assert sim is not None
    for layer in (10, 30, 50):  # measured: within 0.03 sd, sd within 3%
        sd = sim[layer].std()
        assert abs(law.mean[layer] - sim[layer].mean()) < 0.1 * sd, layer
        assert abs(law.sd[layer] / sd - 1.0) < 0.1, layer
    # beyond 1e150 (layer ≈ 52) the closure's squares overflow: the message says so
    with pytest.raises(DepthscopeError, match=r"norms leave float64's range .* about 1e±150"):
        ds.predict("64x60", 1.0, **kw)
