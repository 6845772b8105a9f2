"""The exact inner sums where d's sd given u is wide: GELU/SiLU (l22 > 1.7), tanh/erf (> 1.25).

``theory._smooth_moments._wide_g_sums`` takes E[(a − φ(v))^b], v ~ N(μ, s²), as relu's part in
closed form plus the remainder φ − relu on its window; the reference here is scipy's adaptive
quadrature of the same expectation, split at φ's features (an independent method). The
Gauss–Hermite rule it replaced (160 nodes) is the negative control: 1e-3 off at s = 47.
tanh and erf take sign's part in closed form instead (``_wide_sign_sums``), checked the same way
and, in ``moments_smooth``, against nested adaptive quadrature.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import integrate

import depthscope as ds
from depthscope.theory import _smooth_moments as sm
from depthscope.theory._activations import parse_activation


def _reference(name: str, a: float, mu: float, s: float, b: int) -> float:
    """E[(a − φ(v))^b], v ~ N(mu, s²), by adaptive quadrature split at φ's features."""
    phi = parse_activation(name).fn

    def integrand(v: float) -> float:
        g = a - float(phi(np.array(v)))
        return g**b * math.exp(-0.5 * ((v - mu) / s) ** 2) / (s * math.sqrt(2.0 * math.pi))

    lo, hi = mu - 40.0 * s, mu + 40.0 * s
    cuts = sorted({-40.0, -10.0, 0.0, 10.0, 40.0, mu})
    edges = [lo, *(c for c in cuts if lo < c < hi), hi]
    return sum(
        integrate.quad(integrand, x0, x1, epsabs=0.0, epsrel=1e-13, limit=800)[0]
        for x0, x1 in itertools.pairwise(edges)
    )


def _cases(name: str, count: int, seed: int) -> list[tuple[float, float, float]]:
    """(a, μ, s): s log-uniform on [1.7, 500], μ up to 3 s, a = φ(u) with |u| up to ≈ 300."""
    gen = np.random.default_rng(seed)
    phi = parse_activation(name).fn
    out = []
    for _ in range(count):
        s = float(np.exp(gen.uniform(math.log(1.7), math.log(500.0))))
        mu = float(gen.normal() * s * gen.choice([0.3, 1.0, 3.0]))
        a = float(phi(np.array(gen.normal() * gen.choice([0.1, 1.0, 10.0, 100.0]))))
        out.append((a, mu, s))
    return out


#: Set cases beyond the random ones for tanh/erf: s at the route's bound 1.25 and above, a at
#: saturation, μ far from 0.
_SIGN_CASES = [(0.3, 0.5, 1.26), (0.999, 2.0, 3.0), (-1.0, 0.0, 500.0), (0.0, -10.0, 3.1)]


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("name", ["gelu", "silu", "tanh", "erf"])
def test_wide_inner_sums_match_adaptive_quadrature(name: str) -> None:
    """The exact inner sums against the reference for b = 1..4 over 25 random (a, μ, s), all in
    one call (the arrays' layout does not matter). GELU/SiLU (relu plus a remainder): within
    1e-10 relative to the moment's natural size (|a| + |μ| + s)^b (measured ≤ 5.5e-12). tanh/erf
    (sign plus a remainder, |g| ≤ 2), with four set cases: within 1e-13 · 2^b absolutely
    (measured ≤ 2.1e-14)."""
    soft = name in ("gelu", "silu")
    cases = _cases(name, 25, seed=11) + ([] if soft else _SIGN_CASES)
    a, mu, s = (np.array(column) for column in zip(*cases, strict=True))
    got = (sm._wide_g_sums if soft else sm._wide_sign_sums)(name, a, mu, s)
    assert got.shape == (4, len(cases))
    for i, (a_i, mu_i, s_i) in enumerate(cases):
        for b in range(1, 5):
            ref = _reference(name, a_i, mu_i, s_i, b)
            size = 1e-10 * (abs(a_i) + abs(mu_i) + s_i) ** b if soft else 1e-13 * 2**b
            assert abs(got[b - 1, i] - ref) <= size, (name, a_i, mu_i, s_i, b)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_gauss_hermite_inner_sum_misses_tanh_where_the_law_is_wide() -> None:
    """Negative control for tanh: at s = 100 the 160-node Gauss–Hermite inner sum misses E[g²]
    by more than 1e-4 (tanh's step is narrow on that scale); the exact sum is within 1e-13."""
    a, mu, s = 0.2, 0.0, 100.0
    nodes, weights = sm._gh_rule(160)[:2]
    phi = parse_activation("tanh").fn
    ref = _reference("tanh", a, mu, s, 2)
    gauss_hermite = float(weights @ (a - phi(mu - s * nodes)) ** 2)
    exact = float(sm._wide_sign_sums("tanh", np.array([a]), np.array([mu]), np.array([s]))[1, 0])
    assert abs(gauss_hermite - ref) > 1e-4
    assert abs(exact - ref) <= 1e-13


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_gauss_hermite_inner_sum_misses_where_the_law_is_wide() -> None:
    """Negative control: the 160-node Gauss–Hermite inner sum (the rule used before) is more
    than 1e-4 off E[g] at s = 47 (GELU's kink-like shape on that scale); the exact sum is not."""
    a, mu, s = 0.05, 0.0, 47.0
    nodes, weights = sm._gh_rule(160)[:2]
    phi = parse_activation("gelu").fn
    ref = _reference("gelu", a, mu, s, 1)
    gauss_hermite = float(weights @ (a - phi(mu - s * nodes)))
    exact = float(sm._wide_g_sums("gelu", np.array([a]), np.array([mu]), np.array([s]))[0, 0])
    assert abs(gauss_hermite - ref) > 1e-4 * abs(ref)
    assert abs(exact - ref) <= 1e-12 * s


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_moments_smooth_routes_wide_points_to_the_exact_inner_sum(name: str) -> None:
    """Points with l22 > 1.7 take :func:`_moments_wide` (to rounding), the rest Gauss–Hermite;
    the wide points' moments agree with a 300-node Gauss–Hermite rule on both axes to within
    that rule's own error (its algebraic convergence: ≤ 3e-4 of the largest entry; measured
    8.4e-5; exactness itself is tested against adaptive quadrature above)."""
    act = parse_activation(name)
    l11 = np.array([0.05, 0.3, 0.6, 0.2, 0.8])  # z₁'s feature scales all below the composite
    l21 = np.array([0.02, 1.0, -0.3, 0.1, 0.3])  # rule's (max(l11, |l11 − l21|) ≤ 0.9)
    l22 = np.array([0.5, 2.5, 47.0, 400.0, 1.2])  # two narrow, three wide
    first, second = sm.moments_smooth(act, l11, l21, l22)
    wide = l22 > sm._WIDE_L22
    order = 24  # max(l11, |l21|) ≤ 1.7: the first outer bin
    w_first, w_second = sm._moments_wide(act, l11[wide], l21[wide], l22[wide], order)
    np.testing.assert_allclose(first[wide], w_first, rtol=1e-12, atol=0)
    np.testing.assert_allclose(second[wide], w_second, rtol=1e-12, atol=0)
    for i, inner in ((0, 16), (4, 24)):  # the narrow points: l22 = 0.5 and 1.2
        one = sm._moments_fixed(act, l11[i : i + 1], l21[i : i + 1], l22[i : i + 1], 2.0, 24, inner)
        np.testing.assert_allclose(first[i], one[0][0], rtol=1e-12, atol=0)
    big = float(np.max(np.maximum(l11, np.abs(l21)) + l22))
    ref = sm._moments_fixed(act, l11[wide], l21[wide], l22[wide], big, order, 300)
    for got, r in ((w_first, ref[0]), (w_second, ref[1])):
        size = np.abs(r).reshape(len(r), -1).max(axis=1)
        assert np.all(np.abs(got - r).reshape(len(r), -1).max(axis=1) / size <= 3e-4)
    # a point whose z₁ features are narrow (l11 = 4) takes the composite rule over z₁ (order 0)
    one = (np.array([4.0]), np.array([0.5]), np.array([30.0]))
    np.testing.assert_allclose(
        sm.moments_smooth(act, *one)[0], sm._moments_wide(act, *one, 0)[0], rtol=1e-12, atol=0
    )


#: Settings whose pre-activation sd reaches 2-15 (σ_b up to 3, q0 = 100): where the Gauss–Hermite
#: rule over z₁ drifted from the kernel map by up to 0.48 in ln sin²θ by layer 30.
_LARGE_SD = [
    {"activation": "gelu", "weight_std": 1.2, "bias_std": 3.0},
    {"activation": "gelu", "weight_std": 1.4142, "q0": 100.0},
    {"activation": "gelu", "weight_std": 1.2, "bias_std": 1.5},
    {"activation": "silu", "weight_std": 1.4142, "bias_std": 3.0, "q0": 100.0},
    {"activation": "silu", "weight_std": 1.2, "bias_std": 3.0},
    {"activation": "tanh", "weight_std": 1.4142, "bias_std": 1.5},  # 0.16 with Gauss–Hermite
    {"activation": "erf", "weight_std": 1.4142, "bias_std": 1.5},  # 0.08
]


def _gap_to_kernel_map(network: dict[str, float]) -> float:
    """Largest |closure − kernel map| of the mean ln sin²θ over 30 layers at width 10⁶."""
    widths = [10**6] * 30
    closure = ds.predict(widths, 1.0, **network).mean
    kernel = ds.predict(widths, 1.0, method="infinite", **network).mean
    return float(np.max(np.abs(closure - kernel)[1:]))


@pytest.mark.parametrize("network", _LARGE_SD)
def test_closure_tends_to_the_kernel_map_at_large_preactivation_sd(network) -> None:
    """At width 10⁶ the finite-width closure's mean is the infinite-width map's to 2e-3 over 30
    layers (measured: ≤ 8.6e-4 on 60 GELU/SiLU settings, σ_w 1-√2, σ_b 0-3, q0 1 and 100).
    The kernel maps are independent of the closure's quadrature (GELU: closed form; SiLU:
    a trapezoid rule in other coordinates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.DepthscopeWarning)
        assert _gap_to_kernel_map(network) <= 2e-3


@pytest.mark.parametrize(("network", "drift"), [(_LARGE_SD[0], 0.1), (_LARGE_SD[5], 0.05)])
def test_gauss_hermite_over_z1_drifts_from_the_kernel_map(monkeypatch, network, drift) -> None:
    """Negative control: with Gauss–Hermite over z₁ at every scale (the composite rule off),
    biased GELU drifts by more than 0.1 (0.48 measured) and biased tanh by more than 0.05
    (0.16; at width 1024 that was 0.34 sd off the simulation at layer 30, unwarned)."""
    monkeypatch.setattr(sm, "_COMPOSITE", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.DepthscopeWarning)
        assert _gap_to_kernel_map(network) > drift


@pytest.mark.parametrize("name", ["gelu", "silu", "tanh", "erf"])
def test_composite_rule_integrates_the_normal_law(name: str) -> None:
    """The composite rule over z₁ gives E[1] = 1, E[Z²] = 1, E[Z⁴] = 3 and E[|Z|] = √(2/π) (a
    kink at 0, a panel end) to 1e-7 whatever the two feature scales (0 included: its cuts go to
    the rule's reach; measured ≤ 2.1e-8, where a 10-node window panel spans several sds at small
    feature scales); odd φ sum over z₁ ≥ 0 with doubled weights."""
    u_scale = np.array([0.0, 0.9, 3.0, 40.0, 1e4])
    v_scale = np.array([2.0, 0.0, 0.5, 40.0, 1e-3])
    odd = name in ("tanh", "erf")
    nodes, weights = sm._composite_rule(name, u_scale, v_scale, odd)
    assert np.all(weights >= 0) and np.all(np.isfinite(nodes))
    for f, exact in ((np.ones_like, 1.0), (np.square, 1.0), (lambda z: z**4, 3.0)):
        np.testing.assert_allclose(np.sum(weights * f(nodes), axis=-1), exact, rtol=1e-7)
    mean_abs = np.sum(weights * np.abs(nodes), axis=-1)
    np.testing.assert_allclose(mean_abs, math.sqrt(2.0 / math.pi), rtol=1e-7)


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_moments_smooth_routes_wide_tanh_erf_points_to_the_exact_inner_sum(name: str) -> None:
    """tanh/erf points with l22 > 1.25 take :func:`_moments_wide` (to rounding); l22 = 1.0
    keeps the 24-node Gauss–Hermite inner rule."""
    act = parse_activation(name)
    l11 = np.array([0.3, 0.4, 0.5])  # outer scales below the composite rule's (tanh 0.7)
    l21 = np.array([0.2, 0.1, 0.3])
    l22 = np.array([1.0, 5.0, 100.0])
    first, second = sm.moments_smooth(act, l11, l21, l22)
    wide = l22 > sm._WIDE_SIGN_L22
    scales = np.maximum(l11, np.abs(l21) + l22)
    order = 160  # the outer order of the wide points' scale max(l11, |l21| + l22) > 3
    w_first, w_second = sm._moments_wide(act, l11[wide], l21[wide], l22[wide], order)
    np.testing.assert_allclose(first[wide], w_first, rtol=1e-12, atol=0)
    np.testing.assert_allclose(second[wide], w_second, rtol=1e-12, atol=0)
    narrow = sm._moments_fixed(act, l11[:1], l21[:1], l22[:1], float(scales[0]), 24, 24)
    np.testing.assert_allclose(first[0], narrow[0][0], rtol=1e-12, atol=0)


def _first_moments_reference(name: str, l11: float, l21: float, l22: float) -> np.ndarray:
    """E[φ(u)²], E[φ(u) g], E[g²] by nested adaptive quadrature (an independent method):
    z₁ by Gauss–Legendre on fine panels, the inner expectation over z₂ by scipy's quad, split
    where v = u − d crosses φ's step (v = 0) and its shoulders."""
    phi = parse_activation(name).fn
    nodes, weights = np.polynomial.legendre.leggauss(20)
    edges = np.unique(np.concatenate([np.linspace(-10, 10, 81), np.linspace(-0.3, 0.3, 31)]))
    total = np.zeros(3)
    for lo, hi in itertools.pairwise(edges):
        half = 0.5 * (hi - lo)
        for z, w in zip(lo + half + half * nodes, half * weights, strict=True):
            a = float(phi(np.array(l11 * z)))
            mu = (l11 - l21) * z
            cut = -mu / l22
            points = sorted(p for p in {cut, cut - 3 / l22, cut + 3 / l22} if -12 < p < 12)
            moments = [
                integrate.quad(
                    lambda y, a=a, mu=mu, b=b: (a - float(phi(np.array(mu + l22 * y)))) ** b
                    * math.exp(-0.5 * y * y) / math.sqrt(2 * math.pi),
                    -12, 12, points=points, limit=200, epsabs=1e-13,
                )[0]
                for b in (1, 2)
            ]  # fmt: skip
            density = w * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
            total += density * np.array([a * a, a * moments[0], moments[1]])
    return total


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize(
    ("name", "l11", "l21", "l22"),
    [("tanh", 0.5, 0.2, 40.0), ("erf", 2.0, 1.5, 3.0), ("tanh", 100.0, 99.9, 1.5)],
)
def test_tanh_erf_wide_moments_match_nested_quadrature(monkeypatch, name, l11, l21, l22) -> None:
    """moments_smooth's E[w] where the inner sum is exact, against nested adaptive quadrature:
    within 1e-9 (measured ≤ 2.1e-12). Negative control: the Gauss–Hermite inner rules it
    replaced (48-160 nodes) miss by more (measured 2.5e-2, 3.2e-6, 1.8e-5)."""
    reference = _first_moments_reference(name, l11, l21, l22)
    assert np.abs(_moments_at(name, l11, l21, l22)[0] - reference).max() <= 1e-9
    monkeypatch.setattr(sm, "_WIDE_SIGN_NODES", {})
    assert np.abs(_moments_at(name, l11, l21, l22)[0] - reference).max() > 1e-9


def _moments_at(name: str, l11: float, l21: float, l22: float) -> tuple[np.ndarray, np.ndarray]:
    """moments_smooth at one point (l11, l21, l22)."""
    act = parse_activation(name)
    first, second = sm.moments_smooth(act, *(np.array([x]) for x in (l11, l21, l22)))
    return first[0], second[0]


def test_tanh_clip_keeps_the_second_argument() -> None:
    """tanh's g at |u| > 175 clips u and v = u − d, not d: u = 300, d = 250 (v = 50, both
    saturated) gives g ≈ 0; clipping d moved v to 0 and gave g = 1."""
    g = sm._g_values(parse_activation("tanh"), np.array([300.0]), np.array([250.0]))
    assert abs(float(g[0])) < 1e-15
