"""Infinite-width kernel maps: closed forms vs quadrature vs Monte Carlo, and the depth law."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf, ndtr

from depthscope import infinite_width_map
from depthscope._errors import DepthscopeError
from depthscope.theory._activations import (
    Activation,
    ab_relu,
    gaussian_expectations,
    parse_activation,
)
from depthscope.theory._kernel_maps import (
    fixed_point_chi,
    infinite_width_law,
    kernel_map,
    kernel_map_entries,
    parse_residual,
)

SMOOTH = ["tanh", "erf", "gelu", "silu"]
ALL = ["relu", "leaky:0.1", "abs", "linear", *SMOOTH]


def _random_covariances(seed: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c11, c22 = rng.uniform(0.2, 3.0, size), rng.uniform(0.2, 3.0, size)
    c12 = rng.uniform(-0.99, 0.99, size) * np.sqrt(c11 * c22)
    return c11, c22, c12


# --- the a·min + b·max family: one formula, special cases agree ------------------------------


def test_ab_relu_special_cases_agree() -> None:
    c = _random_covariances(0, 50)
    relu = gaussian_expectations(*c, "relu")
    np.testing.assert_array_equal(relu, gaussian_expectations(*c, ab_relu(0, 1)))
    np.testing.assert_array_equal(relu, gaussian_expectations(*c, "leaky:0"))
    np.testing.assert_array_equal(
        gaussian_expectations(*c, "abs"), gaussian_expectations(*c, ab_relu(-1, 1))
    )
    # ReLU is the arc-cosine kernel (sin ψ + (π − ψ) cos ψ)√(C11 C22)/2π (Cho & Saul)
    psi = np.arccos(c[2] / np.sqrt(c[0] * c[1]))
    arccos = (np.sin(psi) + (np.pi - psi) * np.cos(psi)) * np.sqrt(c[0] * c[1]) / (2 * np.pi)
    np.testing.assert_allclose(relu[2], arccos, rtol=1e-13, atol=1e-15)
    # linear: E[u1 u2] = C12
    np.testing.assert_allclose(gaussian_expectations(*c, "linear")[2], c[2], rtol=1e-13)


@pytest.mark.parametrize("slope", [0.01, 0.1, 0.3, -0.5])
def test_leaky_reduces_to_relu_at_psi_and_pi_minus_psi(slope: float) -> None:
    # φ_s(u) = relu(u) − s·relu(−u): four ReLU moments, at C12 and (flipped sign) −C12
    c11, c22, c12 = _random_covariances(1, 40)
    rr = gaussian_expectations(c11, c22, c12, "relu")[2]
    rr_flip = gaussian_expectations(c11, c22, -c12, "relu")[2]
    expected = rr + slope**2 * rr - 2 * slope * rr_flip
    got = gaussian_expectations(c11, c22, c12, f"leaky:{slope}")[2]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


# --- closed forms vs quadrature ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["erf", "gelu"])
def test_smooth_closed_forms_match_quadrature(name: str) -> None:
    c = _random_covariances(2, 20)
    closed = gaussian_expectations(*c, name)
    quad = gaussian_expectations(*c, name, method="trapezoid")
    np.testing.assert_allclose(closed, quad, rtol=1e-11, atol=1e-13)


def test_erf_closed_form_is_williams() -> None:
    # Williams (1997): (2/π) arcsin(2C12/√((1 + 2C11)(1 + 2C22))); one value by hand
    got = gaussian_expectations(1.0, 2.0, 0.5, "erf")[2]
    assert got == pytest.approx(2 / math.pi * math.asin(1.0 / math.sqrt(15.0)), rel=1e-15)


def test_gelu_diagonal_matches_one_dimensional_integral() -> None:
    z = np.linspace(-40, 40, 200_001)
    dz = z[1] - z[0]
    for c in (0.3, 1.0, 4.0):
        integrand = (np.sqrt(c) * z * ndtr(np.sqrt(c) * z)) ** 2 * np.exp(-z * z / 2)
        ref = float(np.sum(integrand) * dz / math.sqrt(2 * math.pi))
        assert gaussian_expectations(c, c, c, "gelu")[0] == pytest.approx(ref, rel=1e-11)


def test_tanh_trapezoid_matches_hermite_high_order() -> None:
    c = _random_covariances(3, 5)
    c = (c[0] * 0.3, c[1] * 0.3, c[2] * 0.3)  # small variances: Gauss–Hermite converges there
    trap = gaussian_expectations(*c, "tanh")
    herm = gaussian_expectations(*c, "tanh", method="hermite", order=150)
    np.testing.assert_allclose(trap, herm, rtol=1e-12, atol=1e-14)


def test_custom_callable_uses_quadrature() -> None:
    c = _random_covariances(4, 5)
    np.testing.assert_allclose(
        gaussian_expectations(*c, lambda u: erf(u)),
        gaussian_expectations(*c, "erf"),
        rtol=1e-11,
        atol=1e-13,
    )


# --- Monte Carlo with a negative control ------------------------------------------------------


def _mc_kernel(act: str, weight_std: float, bias_std: float, k: np.ndarray, n: int, seed: int):
    rng = np.random.default_rng(seed)
    cov = weight_std**2 * k + bias_std**2
    u = rng.standard_normal((n, 2)) @ np.linalg.cholesky(cov).T
    f = parse_activation(act).fn(u)
    prods = np.stack([f[:, 0] ** 2, f[:, 1] ** 2, f[:, 0] * f[:, 1]])
    return prods.mean(axis=1), prods.std(axis=1) / math.sqrt(n)


@pytest.mark.parametrize(
    ("act", "wrong"),
    [("leaky:0.1", {"activation": "leaky:0.2"}), ("gelu", {"bias_std": 0.4})],
)
def test_monte_carlo_agrees_and_negative_control_fails(act: str, wrong: dict) -> None:
    k = np.array([[1.0, 0.3], [0.3, 0.8]])
    kw = {"activation": act, "weight_std": 1.3, "bias_std": 0.3}
    mean, se = _mc_kernel(act, 1.3, 0.3, k, 500_000, seed=5)
    theory = np.array(kernel_map_entries(1.0, 0.8, 0.3, **kw))  # type: ignore[arg-type]
    z = np.abs(theory - mean) / se
    assert z.max() < 5.0  # 5 standard errors: fails by chance with probability ≈ 2e-6
    wrong_theory = np.array(kernel_map_entries(1.0, 0.8, 0.3, **{**kw, **wrong}))  # type: ignore[arg-type]
    assert (np.abs(wrong_theory - mean) / se).max() > 8.0  # measured ≈ 10 and ≫ 10


def test_residual_block_adds_scaled_kernel() -> None:
    k = np.array([[1.2, 0.4], [0.4, 0.9]])
    plain = kernel_map(k, activation="tanh", weight_std=1.1, bias_std=0.2)
    block = kernel_map(k, activation="tanh", weight_std=1.1, bias_std=0.2, residual="block:0.5")
    np.testing.assert_allclose(block, k + 0.25 * 1.21 * plain, rtol=1e-15)


@pytest.mark.parametrize("act", ALL)
def test_output_is_symmetric_psd(act: str) -> None:
    rng = np.random.default_rng(6)
    a = rng.normal(size=(30, 2, 3))
    k = a @ a.transpose(0, 2, 1) / 3
    out = kernel_map(k, activation=act, weight_std=1.4, bias_std=0.3)
    assert out.shape == (30, 2, 2)
    np.testing.assert_array_equal(out, out.transpose(0, 2, 1))
    assert (np.linalg.eigvalsh(out) > -1e-12).all()


# --- the depth law ----------------------------------------------------------------------------


@pytest.mark.parametrize("theta0", [1e-12, 1e-3, 0.5, math.pi / 2, 3.0])
def test_relu_law_equals_theorem_infinite_width_map(theta0: float) -> None:
    law = infinite_width_law(50, theta0)
    theta = [theta0]
    for _ in range(50):
        theta.append(float(infinite_width_map(theta[-1])))
    theta_ref = np.array(theta)
    np.testing.assert_allclose(law.theta, theta_ref, rtol=2e-14)
    x_ref = 2 * np.log(np.sin(theta_ref))
    np.testing.assert_allclose(law.ln_sin2_theta, x_ref, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(law.q1, 1.0, rtol=2e-14)  # σ_w² = fl(√2)² = 2(1 + 2.2e-16)


@pytest.mark.parametrize("act", ALL)
@pytest.mark.parametrize("residual", [None, "block:0.5"])
def test_law_equals_iterated_kernel_map(act: str, residual: str | None) -> None:
    kw = {"activation": act, "weight_std": 1.2, "bias_std": 0.3, "residual": residual}
    law = infinite_width_law(8, 1.0, q0=0.7, **kw)  # type: ignore[arg-type]
    k = 0.7 * np.array([[1.0, math.cos(1.0)], [math.cos(1.0), 1.0]])
    for layer in range(1, 9):
        k = kernel_map(k, **kw)
        assert law.q1[layer] == pytest.approx(k[0, 0], rel=1e-12)
        assert law.cos_theta[layer] == pytest.approx(k[0, 1] / k[0, 0], rel=1e-12, abs=1e-13)


@pytest.mark.parametrize("name", ["erf", "gelu"])
@pytest.mark.parametrize("theta0", [1e-6, 0.05, 1.0, 3.0])
def test_law_closed_form_equals_law_by_quadrature(name: str, theta0: float) -> None:
    smooth = parse_activation(name)
    quadrature_only = Activation(name, smooth.fn, smooth.derivative, odd=smooth.odd)
    kw = {"weight_std": 1.4, "bias_std": 0.2, "q0": 1.3}
    closed = infinite_width_law(20, theta0, activation=name, **kw)  # type: ignore[arg-type]
    quad = infinite_width_law(20, theta0, activation=quadrature_only, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(closed.theta, quad.theta, rtol=1e-10)
    np.testing.assert_allclose(closed.q1, quad.q1, rtol=1e-12)


@pytest.mark.parametrize("act", ["relu", "leaky:0.1", "abs", "tanh", "gelu"])
def test_tiny_angles_scale_linearly(act: str) -> None:
    # At tiny θ the map is linear in tan(θ/2): θ_L(θ0)/θ0 is the same for 1e-12 and 1e-300
    kw = {"activation": act, "weight_std": 1.3, "bias_std": 0.2}
    a = infinite_width_law(10, 1e-12, **kw)  # type: ignore[arg-type]
    b = infinite_width_law(10, 1e-300, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(a.theta / 1e-12, b.theta / 1e-300, rtol=1e-10)
    np.testing.assert_allclose(b.ln_sin2_theta - 2 * math.log(1e-300), 2 * np.log(b.theta / 1e-300),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    assert np.isfinite(b.ln_sin2_theta).all()


def test_relu_tiny_angle_series() -> None:
    # θ' = θ − θ²/(3π) + O(θ³) for ReLU; at θ0 = 1e-12 the correction is visible at 1e-13
    law = infinite_width_law(1, 1e-12)
    assert law.theta[1] == pytest.approx(1e-12 - 1e-24 / (3 * math.pi), rel=1e-15)


def test_abs_near_pi_maps_to_small_angle() -> None:
    # abs(u) is even: θ = π − ε maps to θ' = ε(1 − 2ε/(3π)) + O(ε³)
    eps = 1e-8
    law = infinite_width_law(1, math.pi - eps, activation="abs", weight_std=1.0)
    eps_exact = math.pi - (math.pi - eps)  # the representable ε
    assert law.theta[1] == pytest.approx(eps_exact * (1 - 2 * eps_exact / (3 * math.pi)), rel=1e-7)


@pytest.mark.parametrize("act", ["tanh", "erf"])
def test_odd_activation_near_pi_matches_kernel_map(act: str) -> None:
    theta0 = math.pi - 1e-3
    law = infinite_width_law(3, theta0, activation=act, weight_std=1.5)
    k = np.array([[1.0, math.cos(theta0)], [math.cos(theta0), 1.0]])
    for layer in range(1, 4):
        k = kernel_map(k, activation=act, weight_std=1.5)
        pi_minus = math.pi - np.arccos(k[0, 1] / k[0, 0])
        assert math.pi - law.theta[layer] == pytest.approx(pi_minus, rel=1e-7)


def test_fixed_point_and_chi() -> None:
    assert fixed_point_chi("relu").chi == pytest.approx(1.0, rel=1e-15)
    assert fixed_point_chi("leaky:0.5", 1.0).chi == pytest.approx(0.625)
    q, chi = fixed_point_chi("tanh", 1.5, 0.1)
    from depthscope.theory._kernel_maps import _gauss_mean

    assert _gauss_mean(lambda u: np.tanh(u) ** 2, 2.25 * q + 0.01) == pytest.approx(q, rel=1e-12)
    assert chi < 1.0 or chi > 1.0
    assert fixed_point_chi("tanh", 0.9, 0.0).q == 0.0  # ordered, q collapses; χ = σ_w² φ'(0)²
    assert fixed_point_chi("tanh", 0.9, 0.0).chi == pytest.approx(0.81, rel=1e-12)


def test_parsing_and_errors() -> None:
    assert parse_activation("leaky:0.25").slopes == (0.25, 1.0)
    assert parse_residual("block:0.5") == 0.5
    assert parse_residual(None) is None
    for bad in ("softmax", "leaky:x"):
        with pytest.raises(DepthscopeError):
            parse_activation(bad)
    with pytest.raises(DepthscopeError):
        parse_residual("stream:0.5")
    with pytest.raises(DepthscopeError):
        infinite_width_law(5, 0.0)
    with pytest.raises(DepthscopeError):
        kernel_map(np.eye(3))


@pytest.mark.slow
@pytest.mark.parametrize("act", ALL)
def test_monte_carlo_all_activations(act: str) -> None:
    k = np.array([[0.9, -0.2], [-0.2, 1.1]])
    mean, se = _mc_kernel(act, 1.4, 0.25, k, 4_000_000, seed=7)
    theory = np.array(
        kernel_map_entries(0.9, 1.1, -0.2, activation=act, weight_std=1.4, bias_std=0.25)
    )
    assert (np.abs(theory - mean) / se).max() < 5.0
