"""Tests of J_{a,b}(θ) = E[φ(X)^a φ(Y)^b] (docs/theory/angle-theory.md §3) and the Bessel numbers.

Reference values are computed here with mpmath (a dev dependency) from the defining expectation,
by a route that shares nothing with the implementation: the quadrant integral in polar
coordinates (see ``j_quadrature``). Heavier grids and the Hypothesis properties live in
``test_jfunctions_slow.py``.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from numpy.polynomial import hermite_e

from depthscope._errors import DepthscopeError
from depthscope.theory._jfunctions import J, bessel_number, horner, j_polynomials, taylor_at_zero

#: The angles of the reference grid: both ends, the switch point, and the region near π where
#: the closed form and the recursion cancel.
THETA_GRID = (
    0.0,
    1e-8,
    0.05,
    1.0,
    math.pi / 2,
    2.5,
    3.0,
    math.pi - 1e-3,
    math.pi - 1e-6,
    math.pi,
)

#: Relative accuracy asserted for method="auto" (the requirement is 1e-9; we achieve ~1e-14).
RTOL_AUTO = 1e-12


def j_quadrature(a: int, b: int, theta: float, dps: int = 30) -> mpmath.mpf:
    """J_{a,b}(θ) by mpmath quadrature of the defining expectation, at ``dps`` digits.

    Provenance: J = ∫∫_{x, y > 0} x^a y^b ϕ_ρ(x, y) dx dy with ρ = cos θ. In polar coordinates
    x = r cos α, y = r sin α the r-integral is a Gamma function, leaving

        J = Γ(k) 2^k sin^(a+b+1) θ / (4π) ∫_0^{π/2} cos^a α sin^b α (1 − ρ sin 2α)^(−k) dα,

    k = (a + b)/2 + 1, a positive integrand. With α = π/4 + β, 1 − ρ sin 2α is written as
    2 sin²(θ/2) + 2ρ sin²β (no cancellation as θ → 0), and for θ < 1 the peak at β = 0, of
    width ~θ, is resolved by β = θ sinh u. J(0) = E[φ(X)^(a+b)] = 2^((a+b)/2−1) Γ((a+b+1)/2)/√π
    and J(π) = 0. The float θ is read with numpy.pi standing for π, as depthscope documents:
    θ_exact = π − (numpy.pi − θ).
    """
    with mpmath.workdps(dps):
        n = a + b
        if theta == 0.0:
            return (
                2 ** (mpmath.mpf(n) / 2 - 1)
                * mpmath.gamma(mpmath.mpf(n + 1) / 2)
                / mpmath.sqrt(mpmath.pi)
            )
        if theta == math.pi:
            return mpmath.mpf(0)
        th = mpmath.pi - (mpmath.mpf(math.pi) - mpmath.mpf(theta))
        rho = mpmath.cos(th)
        half_gap = 2 * mpmath.sin(th / 2) ** 2  # 1 − ρ
        k = mpmath.mpf(n) / 2 + 1
        quarter = mpmath.pi / 4

        def integrand(beta: mpmath.mpf) -> mpmath.mpf:
            alpha = quarter + beta
            base = half_gap + 2 * rho * mpmath.sin(beta) ** 2
            return mpmath.cos(alpha) ** a * mpmath.sin(alpha) ** b * base ** (-k)

        if th < 1:
            edge = mpmath.asinh(quarter / th)
            integral = mpmath.quad(
                lambda u: integrand(th * mpmath.sinh(u)) * th * mpmath.cosh(u), [-edge, 0, edge]
            )
        else:
            integral = mpmath.quad(integrand, [-quarter, 0, quarter])
        return mpmath.gamma(k) * 2**k * mpmath.sin(th) ** (n + 1) / (4 * mpmath.pi) * integral


def relative_errors(a: int, b: int, thetas: tuple[float, ...], method: str, dps: int = 30):
    """Max relative error of J(a, b, ·, method) against ``j_quadrature``; zeros must be exact."""
    got = J(a, b, np.array(thetas), method=method)
    worst = 0.0
    for value, theta in zip(got, thetas, strict=True):
        ref = j_quadrature(a, b, theta, dps)
        if ref == 0:
            assert value == 0.0, (a, b, theta, value)
            continue
        worst = max(worst, float(abs((value - ref) / ref)))
    return worst


# --------------------------------------------------------------------------- 1. references
@pytest.mark.parametrize("a, b", [(0, 0), (1, 0), (2, 1), (5, 2), (6, 6), (7, 8), (8, 8)])
def test_auto_matches_quadrature_on_reference_grid(a, b):
    assert relative_errors(a, b, THETA_GRID, "auto") < RTOL_AUTO


# docs/theory/angle-theory.md §9 table (double precision, formulas of §3), 10 significant digits.
SPEC_TABLE = {
    0.05: (0.4993817600, 1.4975020694, 1.4981254105),
    0.1: (0.4975550813, 1.4900328653, 1.4925068829),
    0.3: (0.4790877889, 1.4125664298, 1.4331558278),
    1.0: (0.3180836369, 0.7569272920, 0.8594226974),
    math.pi / 2: (0.1591549431, 0.2500000000, 0.3183098862),
}


@pytest.mark.parametrize("theta", sorted(SPEC_TABLE))
def test_spec_section9_table(theta):
    j11, j22, j31 = SPEC_TABLE[theta]
    np.testing.assert_allclose(
        [J(1, 1, theta), J(2, 2, theta), J(3, 1, theta)], [j11, j22, j31], rtol=5e-10
    )


@pytest.mark.parametrize(
    "a, b, theta, expected, rtol",
    [
        (2, 2, 1.0, 0.7569272920, 1e-10),  # docs/theory/angle-theory.md §9
        (4, 4, 1.0, 15.9648249026, 1e-10),  # docs/theory/angle-theory.md §9
        (3, 3, 0.3, 6.9147404168, 1e-10),  # docs/theory/angle-theory.md §9
        (6, 6, 3.0, 5.5539514629e-12, 1e-10),  # issue 2; confirmed by j_quadrature (30 digits)
    ],
)
def test_spec_reference_values(a, b, theta, expected, rtol):
    assert J(a, b, theta) == pytest.approx(expected, rel=rtol)


def test_endpoints_exact():
    """J(π) = 0 exactly (the quadrant has probability 0) and J(0) = E[φ(X)^(a+b)]."""
    for a in range(9):
        for b in range(9):
            assert J(a, b, math.pi) == 0.0
            n = a + b
            moment = 2 ** (n / 2 - 1) * math.gamma((n + 1) / 2) / math.sqrt(math.pi)
            assert J(a, b, 0.0) == pytest.approx(moment, rel=1e-14)
            assert J(a, b, math.pi - 1e-12) > 0.0


# --------------------------------------------------------------------------- 2. independent
def test_spec_listed_polynomials():
    assert j_polynomials(2, 2) == ((1, 0, 2), (0, 3))
    assert j_polynomials(3, 1) == ((0, 3), (2, 0, 1))
    assert j_polynomials(3, 3) == ((0, 9, 0, 6), (4, 0, 11))
    assert j_polynomials(4, 4) == ((9, 0, 72, 0, 24), (0, 55, 0, 50))
    assert j_polynomials(2, 1) == ((1, 2, 1),)
    assert j_polynomials(3, 0) == ((2, 3, 0, -1),)
    assert j_polynomials(0, 0) == ((1,), (0,))
    assert j_polynomials(1, 1) == ((0, 1), (1,))


def test_recursion_p_equals_bessel_number_formula():
    """P_{a,b} from the integration-by-parts recursion = Σ_k k! T(a,(a−k)/2) T(b,(b−k)/2) ρ^k."""
    for a in range(13):
        for b in range(13):
            if (a + b) % 2:
                continue
            bessel = [0] * (min(a, b) + 1)
            for k in range(a % 2, min(a, b) + 1, 2):
                bessel[k] = (
                    math.factorial(k)
                    * bessel_number(a, (a - k) // 2)
                    * bessel_number(b, (b - k) // 2)
                )
            while len(bessel) > 1 and bessel[-1] == 0:
                bessel.pop()
            assert j_polynomials(a, b)[0] == tuple(bessel), (a, b)


def test_bessel_numbers():
    assert [bessel_number(6, k) for k in range(5)] == [1, 15, 45, 15, 0]
    assert bessel_number(0, 0) == 1
    assert bessel_number(5, -1) == 0
    assert bessel_number(40, 20) == math.prod(range(39, 0, -2))  # perfect matchings of K_40
    for n in range(12):  # |coefficients| of the probabilists' Hermite polynomial He_n
        coefficients = hermite_e.herme2poly([0] * n + [1])
        for k in range(n // 2 + 1):
            assert abs(coefficients[n - 2 * k]) == bessel_number(n, k)
    with pytest.raises(DepthscopeError, match="negative"):
        bessel_number(-1, 0)


def test_closed_and_recursion_agree_where_well_conditioned():
    theta = np.linspace(0.0, 2.0, 41)
    for a in range(9):
        for b in range(9):
            closed = J(a, b, theta, method="closed")
            recursion = J(a, b, theta, method="recursion")
            auto = J(a, b, theta)
            np.testing.assert_allclose(recursion, closed, rtol=1e-11, err_msg=f"{a},{b}")
            np.testing.assert_allclose(auto, closed, rtol=1e-11, err_msg=f"{a},{b}")


def test_symmetric_in_a_b():
    theta = np.linspace(0.0, math.pi, 33)
    for a in range(9):
        for b in range(a):
            for method in ("auto", "closed", "recursion"):
                np.testing.assert_array_equal(
                    J(a, b, theta, method=method), J(b, a, theta, method=method)
                )


@pytest.mark.parametrize("a, b", [(1, 1), (2, 2), (3, 1), (4, 3), (6, 6), (8, 5)])
def test_price_theorem(a, b):
    """dJ_{a,b}/d(cos θ) = a b J_{a−1,b−1}, by a central difference in ρ.

    The step, 1e-5 (1 + ρ), shrinks near ρ = −1 where J ~ (1 + ρ)^((a+b+1)/2) is steep.
    """
    rho = np.cos(np.array([0.3, 1.0, 1.5, 2.0, 2.5, 2.9, 3.1]))
    step = 1e-5 * (1 + rho)
    derivative = (J(a, b, np.arccos(rho + step)) - J(a, b, np.arccos(rho - step))) / (2 * step)
    np.testing.assert_allclose(derivative, a * b * J(a - 1, b - 1, np.arccos(rho)), rtol=1e-7)


@pytest.mark.parametrize("a, b", [(0, 0), (1, 1), (2, 2), (3, 1), (2, 1), (4, 3), (6, 6)])
def test_taylor_series_at_zero_sums_to_j(a, b):
    """The Taylor coefficients about θ = 0 (Theorem 1's small-angle series) sum to J."""
    theta = np.concatenate([[0.0, 1e-300, 1e-8], np.linspace(1e-3, 0.5, 400)])
    series = horner(taylor_at_zero(a, b, 40), theta)
    np.testing.assert_allclose(series, J(a, b, theta), rtol=1e-14, atol=0)


def test_taylor_coefficients_of_j11():
    # J₁₁ = [sin θ + (π − θ) cos θ]/(2π) = 1/2 − θ²/4 + θ³/(6π) + θ⁴/48 − θ⁵/(60π) + ...
    expected = [0.5, 0.0, -0.25, 1 / (6 * math.pi), 1 / 48, -1 / (60 * math.pi)]
    np.testing.assert_allclose(taylor_at_zero(1, 1, 5), expected, rtol=1e-15, atol=0)
    assert not taylor_at_zero(2, 1, 7)[1::2].any()  # a + b odd: an even function of θ


def test_continuous_across_the_switch():
    below, above = np.nextafter(math.pi / 2, 0.0), np.nextafter(math.pi / 2, 4.0)
    for a in range(9):
        for b in range(9):
            lo, hi = J(a, b, below), J(a, b, above)
            assert lo >= hi
            assert hi == pytest.approx(lo, rel=1e-13)


@pytest.mark.parametrize("a, b, theta", [(2, 1, 1.0), (0, 0, 2.0), (3, 1, 0.5)])
def test_monte_carlo(a, b, theta):
    """Seeded Monte Carlo: within 4 standard errors; a wrong angle (θ + 0.1) is rejected."""
    rng = np.random.default_rng(20240917)
    n_samples = 200_000
    z1, z2 = rng.standard_normal((2, n_samples))
    x, y = z1, math.cos(theta) * z1 + math.sin(theta) * z2
    samples = np.where(x > 0, x, 0.0) ** a * (x > 0) * np.where(y > 0, y, 0.0) ** b * (y > 0)
    mean = samples.mean()
    standard_error = samples.std(ddof=1) / math.sqrt(n_samples)
    assert abs(mean - J(a, b, theta)) < 4 * standard_error
    assert abs(mean - J(a, b, theta + 0.1)) > 4 * standard_error  # negative control


# --------------------------------------------------------------------------- 3. negative control
def test_naive_methods_fail_near_pi_where_auto_does_not():
    """The accuracy gain near π is real: plain float64 forms are > 1% off at J_66(3.0)."""
    reference = float(j_quadrature(6, 6, 3.0))
    for method in ("closed", "recursion"):
        assert abs(J(6, 6, 3.0, method=method) / reference - 1) > 0.01
    assert abs(J(6, 6, 3.0) / reference - 1) < RTOL_AUTO


# --------------------------------------------------------------------------- API and errors
def test_shapes_and_types():
    assert isinstance(J(1, 1, 1.0), float)
    assert isinstance(J(1, 1, np.float64(1.0)), float)
    assert isinstance(J(1, 1, np.array(1.0)), float)
    out = J(2, 1, [[0.0, 1.0, 2.0], [3.0, math.pi, 0.5]])
    assert isinstance(out, np.ndarray)
    assert out.shape == (2, 3)
    assert out.dtype == np.float64
    assert J(3, 3, np.empty((0, 4))).shape == (0, 4)
    assert J(np.int64(2), np.int32(2), 1.0) == J(2, 2, 1.0)
    vector = np.linspace(0, math.pi, 7)
    assert np.array_equal(J(4, 2, vector), [J(4, 2, t) for t in vector])


@pytest.mark.parametrize("a, b", [(-1, 0), (0, -3), (2.5, 1), (2.0, 1), ("2", 1), (True, 1)])
def test_bad_orders(a, b):
    with pytest.raises(DepthscopeError):
        J(a, b, 1.0)


@pytest.mark.parametrize("theta", [3.5, -0.1, float("nan"), [0.5, 4.0]])
def test_bad_theta(theta):
    with pytest.raises(DepthscopeError):
        J(1, 1, theta)


def test_bad_method_lists_choices():
    with pytest.raises(DepthscopeError, match="'auto', 'closed', 'recursion'"):
        J(1, 1, 1.0, method="series")
