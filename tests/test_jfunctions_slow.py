"""Slow checks of J_{a,b}(θ): the full reference grid, a dense grid, larger orders, properties."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depthscope.theory._jfunctions import J, j_polynomials
from test_jfunctions import RTOL_AUTO, THETA_GRID, relative_errors

pytestmark = pytest.mark.slow

PAIRS = [(a, b) for b in range(9) for a in range(b + 1)]


@pytest.mark.parametrize("a, b", PAIRS)
def test_auto_matches_50_digit_quadrature(a, b):
    """All a ≤ b ≤ 8 on the reference grid, against 50-digit quadrature (see j_quadrature)."""
    assert relative_errors(a, b, THETA_GRID, "auto", dps=50) < RTOL_AUTO


@pytest.mark.parametrize("a, b", [(12, 12), (20, 3), (16, 15)])
def test_larger_orders_match_quadrature(a, b):
    """Beyond the a, b ≤ 8 guarantee: still ~1e-14 for these orders."""
    assert relative_errors(a, b, THETA_GRID, "auto", dps=50) < RTOL_AUTO


def exact_polynomial_form(a: int, b: int, theta: float) -> float:
    """J from the exact integer polynomials, evaluated in 300-digit arithmetic.

    At 300 digits the cancellation of the ρ form near π (a factor ~ (π − θ)^−(a+b) ≤ 1e160 on
    this grid) leaves > 100 correct digits; the polynomials themselves are checked against
    quadrature in ``test_jfunctions.py``. This isolates the float64 evaluation.
    """
    with mpmath.workdps(300):
        th = mpmath.pi - (mpmath.mpf(math.pi) - mpmath.mpf(theta))
        rho = mpmath.cos(th)
        polys = j_polynomials(a, b)

        def value(p: tuple[int, ...]) -> mpmath.mpf:
            return mpmath.polyval(list(reversed(p)), rho)

        if (a + b) % 2:
            return float(value(polys[0]) / (2 * mpmath.sqrt(2 * mpmath.pi)))
        return float(
            ((mpmath.pi - th) * value(polys[0]) + mpmath.sin(th) * value(polys[1]))
            / (2 * mpmath.pi)
        )


DENSE = np.concatenate(
    [np.linspace(0.0, math.pi, 161)[:-1], math.pi - np.array([1e-2, 1e-4, 1e-6, 1e-8, 1e-10])]
)


@pytest.mark.parametrize("a, b", PAIRS)
def test_dense_grid_against_exact_polynomials(a, b):
    reference = np.array([exact_polynomial_form(a, b, t) for t in DENSE])
    np.testing.assert_allclose(J(a, b, DENSE), reference, rtol=RTOL_AUTO, atol=0)


# --------------------------------------------------------------------------- properties
orders = st.integers(min_value=0, max_value=8)
angles = st.floats(min_value=0.0, max_value=math.pi, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(a=orders, b=orders, theta=angles)
def test_non_negative_and_symmetric(a, b, theta):
    value = J(a, b, theta)
    assert value >= 0.0
    assert value == J(b, a, theta)
    assert (value == 0.0) == (theta == math.pi)


@settings(max_examples=300, deadline=None)
@given(a=orders, b=orders, theta1=angles, theta2=angles)
def test_decreasing_in_theta(a, b, theta1, theta2):
    """dJ/dθ = −sin θ · E[f'(X) g'(Y)] ≤ 0 (Price's theorem with non-decreasing f, g)."""
    lo, hi = min(theta1, theta2), max(theta1, theta2)
    assert J(a, b, lo) >= J(a, b, hi) * (1 - 1e-13)


@settings(max_examples=300, deadline=None)
@given(a=orders, b=orders, theta=angles)
def test_cauchy_schwarz(a, b, theta):
    """φ(X)^a φ(Y)^b = [φ(X)^a 1{Y>0}][φ(Y)^b 1{X>0}], so J_ab² ≤ J_{2a,0} J_{0,2b}."""
    assert J(a, b, theta) ** 2 <= J(2 * a, 0, theta) * J(0, 2 * b, theta) * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(
    a=orders,
    b=orders,
    thetas=st.lists(angles, min_size=1, max_size=20),
    method=st.sampled_from(["auto", "closed", "recursion"]),
)
def test_vectorised_equals_elementwise(a, b, thetas, method):
    vector = J(a, b, np.array(thetas), method=method)
    assert np.array_equal(vector, [J(a, b, t, method=method) for t in thetas])
