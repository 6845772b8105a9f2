"""Theorem 1, ρ(n) and the infinite-width map: references, series vs closed form, limits."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import depthscope as ds
from depthscope.theory._jfunctions import J
from depthscope.theory._theorem import (
    SERIES_SWITCH,
    _theorem_terms,
    infinite_width_map,
    mu,
    one_minus_two_j11,
    rho,
    sigma2,
)

# docs/theory/angle-theory.md §9: the closed forms of §4 evaluated in double precision
# at angles where they are well-conditioned. Columns: θ, μ(θ,256), σ²(θ,256), μ(θ,1024),
# σ²(θ,1024), printed to 8 decimals.
SPEC_TABLE = [
    (0.05, -6.01228439, 0.02975125, -6.00501340, 0.00765069),
    (0.1, -4.63924043, 0.02926232, -4.63195865, 0.00752460),
    (0.3, -2.51154736, 0.02599520, -2.50432910, 0.00667643),
    (1.0, -0.52594798, 0.00842771, -0.52040661, 0.00213441),
    (math.pi / 2, -0.11054665, 0.00106853, -0.10772910, 0.00026672),
]


@pytest.mark.parametrize(("theta", "mu256", "s256", "mu1024", "s1024"), SPEC_TABLE)
def test_spec_reference_values(theta, mu256, s256, mu1024, s1024):
    assert mu(theta, 256) == pytest.approx(mu256, abs=6e-9)
    assert sigma2(theta, 256) == pytest.approx(s256, abs=6e-9)
    assert mu(theta, 1024) == pytest.approx(mu1024, abs=6e-9)
    assert sigma2(theta, 1024) == pytest.approx(s1024, abs=6e-9)


def test_rho_reference_values():
    # docs/theory/angle-theory.md §9, Corollary 2's formula in double precision, 8 decimals.
    expected = [0.80712192, 0.07517157, 0.02935580, 0.00929836, 0.00204785]
    np.testing.assert_allclose(rho([10, 50, 100, 256, 1024]), expected, atol=6e-9)
    # Its large-n expansion 2/n + 100/n² − 690/n³ (docs/theory/angle-theory.md §5) at n = 10⁶.
    assert rho(1e6) == pytest.approx(2e-6 + 100e-12 - 690e-18, rel=1e-9)


def _closed_form(lib, theta, n):
    """Theorem 1's closed forms (docs/theory/angle-theory.md §4) written once.

    Evaluated with ``lib`` (math or mpmath).
    """
    c, s, pm = lib.cos(theta), lib.sin(theta), lib.pi - theta
    j11 = (s + pm * c) / (2 * lib.pi)
    j22 = (pm * (2 * c**2 + 1) + 3 * s * c) / (2 * lib.pi)
    j31 = (3 * pm * c + s * c**2 + 2 * s) / (2 * lib.pi)
    k = 8 * j11**2 * j22 - 8 * j11**4 + 4 * j11**2 - 8 * j11 * j31 + j22 + 1
    z = 1 - 4 * j11**2
    d = 4 * j22 - 1 + n
    m = (
        lib.log((n - 1) * z / d)
        + 4 * (j22 + 1) / (n * (d / n) ** 2)
        - 4 * k / (n * (1 - 1 / n) ** 2 * z**2)
    )
    v = (
        8 * n * (j22 + 1) / d**2
        + 8 * n * k / ((n - 1) ** 2 * z**2)
        - 16 * n * (2 * j11**2 - 4 * j11 * j31 + j22 + 1) / (d * (n - 1) * z)
    )
    return m, v


def _mp_closed_form(theta: float, n: float) -> tuple[float, float]:
    """The closed forms in 60-digit arithmetic (no series): the independent reference."""
    with mpmath.workdps(60):
        m, v = _closed_form(mpmath, mpmath.mpf(theta), mpmath.mpf(n))
        return float(m), float(v)


@pytest.mark.parametrize(
    "theta", [1e-9, 1e-6, 1e-4, 3e-3, 0.03, 0.1, 0.4999, 0.5001, 2.0, 3.0, math.pi - 1e-3]
)
@pytest.mark.parametrize("n", [2, 5, 30, 256, 1e7])
def test_against_60_digit_closed_form(theta, n):
    mu_ref, s2_ref = _mp_closed_form(theta, n)
    assert mu(theta, n) == pytest.approx(mu_ref, rel=1e-12, abs=1e-14)
    # Near π, σ² ≈ 1e-13 (θ = 3) down to 1e-33 (π − 1e-3) is a difference of terms ~1e-5/n²:
    # there a relative 1e-8, and beyond that an absolute accuracy, is what float64 allows.
    rel = 1e-8 if theta > 2.5 else 1e-10
    assert sigma2(theta, n) == pytest.approx(s2_ref, rel=rel, abs=1e-30)


def test_theorem_uses_the_j_functions_of_jfunctions():
    """One owner: the J₁₁, J₂₂, J₃₁ inside Theorem 1 equal ``J`` on the whole of [0, π]."""
    theta = np.concatenate(
        [
            np.linspace(0.0, math.pi, 4001),
            np.geomspace(1e-300, 1.0, 300),
            math.pi - np.geomspace(1e-12, 1.0, 300),
            [SERIES_SWITCH, np.nextafter(SERIES_SWITCH, 0), np.nextafter(math.pi / 2, 4)],
        ]
    )
    terms = _theorem_terms(theta)
    for (a, b), values in zip([(1, 1), (2, 2), (3, 1)], terms[1:4], strict=True):
        np.testing.assert_allclose(values, J(a, b, theta), rtol=1e-14, atol=0)
    # 1 − 2J₁₁ (from the series of J₁₁ below π/2) where the subtraction is well-conditioned.
    wide = theta[theta >= SERIES_SWITCH]
    np.testing.assert_allclose(one_minus_two_j11(wide), 1 - 2 * J(1, 1, wide), rtol=1e-14)


def test_closed_form_loses_precision_where_the_series_takes_over():
    """Negative control: the plain float64 closed form is far off at θ = 1e-4.

    (docs/theory/angle-theory.md §4.)
    """
    theta, n = 1e-4, 256
    naive = _closed_form(math, theta, n)[1]
    reference = _mp_closed_form(theta, n)[1]
    assert abs(naive / reference - 1) > 0.01
    assert sigma2(theta, n) == pytest.approx(reference, rel=1e-10)


def test_series_and_closed_form_meet_at_the_switch():
    below, above = np.nextafter(SERIES_SWITCH, 0), SERIES_SWITCH
    for n in (2, 30, 1e6):
        assert mu(below, n) == pytest.approx(mu(above, n), rel=1e-12)
        assert sigma2(below, n) == pytest.approx(sigma2(above, n), rel=1e-10)


@pytest.mark.parametrize("n", [2, 7, 50, 256, 1e7])
def test_corollary_2_small_angle_limits(n):
    """μ − ln sin²θ → −ρ(n) − [2/(3π) + 8n/(15π(n−1)²)]θ and σ²(0) of Corollary 2.

    (docs/theory/angle-theory.md §5.)
    """
    theta = 1e-9
    slope = 2 / (3 * math.pi) + 8 * n / (15 * math.pi * (n - 1) ** 2)
    drift = mu(theta, n) - 2 * math.log(math.sin(theta))
    assert drift == pytest.approx(-rho(n) - slope * theta, rel=1e-12, abs=1e-13)
    limit = 8 * n * (n**2 - 2 * n + 55) / ((n - 1) ** 2 * (n + 5) ** 2)
    assert sigma2(1e-12, n) == pytest.approx(limit, rel=1e-9)


def test_finite_positive_and_monotone_over_the_whole_range():
    theta = np.geomspace(1e-12, math.pi - 1e-2, 3000)
    for n in (2, 3, 10, 256, 1e5, 1e7):
        m, v = mu(theta, n), sigma2(theta, n)
        assert np.isfinite(m).all() and np.isfinite(v).all()
        assert (v > 0).all()
        assert (np.diff(m) > 0).all()  # a wider input angle keeps a wider output angle


def test_endpoints():
    assert mu(0.0, 256) == -math.inf  # θ = 0 is a fixed point: ln sin²0 = −∞
    assert sigma2(0.0, 256) == pytest.approx(8 * 256 * (256**2 - 512 + 55) / (255**2 * 261**2))
    # Antipodal inputs: ReLU features have disjoint supports, θ' = π/2 exactly.
    assert mu(math.pi, 256) == pytest.approx(0.0, abs=1e-13)
    assert sigma2(math.pi, 256) == 0.0


def test_broadcasting_and_scalars():
    theta = np.array([[0.1], [0.3]])
    n = np.array([256, 1024])
    out = mu(theta, n)
    assert out.shape == (2, 2)
    assert out[0, 1] == pytest.approx(-4.63195865, abs=6e-9)
    assert np.ndim(mu(0.1, 256)) == 0


class TestInfiniteWidthMap:
    def test_against_arccos_where_well_conditioned(self):
        theta = np.linspace(0.2, math.pi, 50)
        expected = np.arccos((np.sin(theta) + (math.pi - theta) * np.cos(theta)) / math.pi)
        np.testing.assert_allclose(infinite_width_map(theta), expected, rtol=1e-12)

    def test_small_angle_expansion(self):
        # θ_∞ = θ − θ²/(3π) + O(θ³) (docs/theory/angle-theory.md §2); at θ = 1e-7 the O(θ³) term
        # is ~1e-21.
        theta = 1e-7
        assert infinite_width_map(theta) == pytest.approx(
            theta - theta**2 / (3 * math.pi), rel=1e-13
        )

    def test_mpmath_reference_at_tiny_angle(self):
        with mpmath.workdps(50):
            t = mpmath.mpf("1e-5")
            ref = mpmath.acos((mpmath.sin(t) + (mpmath.pi - t) * mpmath.cos(t)) / mpmath.pi)
        assert infinite_width_map(1e-5) == pytest.approx(float(ref), rel=1e-12)

    def test_shape_of_the_map(self):
        theta = np.linspace(0, math.pi, 200)
        image = infinite_width_map(theta)
        assert image[0] == 0.0 and image[-1] == pytest.approx(math.pi / 2, abs=1e-15)
        assert (image[1:] < theta[1:]).all() and (np.diff(image) > 0).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mu(0.1, 1), "too small"),
        (lambda: sigma2(0.1, 0), "too small"),
        (lambda: rho(1.5), "too small"),
        (lambda: mu(3.5, 256), "outside"),
        (lambda: mu(-0.1, 256), "outside"),
        (lambda: sigma2(math.nan, 256), "NaN"),
        (lambda: mu(0.1, math.inf), "finite"),
        (lambda: infinite_width_map(4.0), "outside"),
    ],
)
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ds.DepthscopeError, match=message):
        call()
