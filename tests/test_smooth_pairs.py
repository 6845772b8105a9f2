"""(φ(x), φ(x + d) − φ(x)) of the smooth activations against 80-digit arithmetic.

The Gram chain needs the difference of φ at the two inputs' pre-activations without
cancellation (:mod:`depthscope.simulation._general`). Errors are measured relative to the size
of the terms, |d| (|Φ(x)| + |x| ϕ(x)) for gelu and |d| (σ(x) + |x| σ(x) σ(−x)) for silu (both
differences cancel where φ' = 0), and |d φ'(x)| for erf.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, ndtr

from depthscope.simulation._general import (
    SMALL_STEP,
    gelu_pair,
    pair_activation,
    silu_pair,
    smooth_pair,
)
from depthscope.simulation._pair import NUMPY
from depthscope.theory._activations import normal_cdf
from depthscope.theory._activations import parse_activation as parse_phi

mpmath = pytest.importorskip("mpmath")


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-8.0, 8.0, n)
    d = rng.choice([-1.0, 1.0], n) * np.exp(rng.uniform(math.log(1e-14), math.log(0.5), n))
    return x, d


def _exact(name: str, x: np.ndarray, d: np.ndarray) -> np.ndarray:
    def gelu(u: object) -> object:
        return u * mpmath.ncdf(u)

    def silu(u: object) -> object:
        return u / (1 + mpmath.exp(-u))

    fn = {"gelu": gelu, "silu": silu, "erf": mpmath.erf}[name]
    out = np.empty_like(x)
    with mpmath.workdps(80):
        for i, (u, step) in enumerate(zip(x.tolist(), d.tolist(), strict=True)):
            big, small = mpmath.mpf(u), mpmath.mpf(step)
            out[i] = float(fn(big + small) - fn(big))
    return out


def _scale(name: str, x: np.ndarray, d: np.ndarray) -> np.ndarray:
    if name == "gelu":
        return np.abs(d) * (ndtr(x) + np.abs(x) * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))
    if name == "silu":
        return np.abs(d) * (expit(x) + np.abs(x) * expit(x) * expit(-x))
    return np.abs(d) * 2.0 / math.sqrt(math.pi) * np.exp(-x * x)


def test_gelu_pair_is_exact_to_rounding() -> None:
    x, d = _points(3000, 1)
    a, delta = gelu_pair(normal_cdf, x, d)
    np.testing.assert_array_equal(a, parse_phi("gelu").fn(x))
    err = np.abs(delta - _exact("gelu", x, d)) / _scale("gelu", x, d)
    small = (np.abs(d) < SMALL_STEP) & (np.abs(x * d) < 0.25)
    assert 0.5 < small.mean() < 0.95  # both branches are exercised (|d| log-uniform)
    assert err[small & (np.abs(x) <= 6)].max() < 2e-15
    assert err[small].max() < 1e-14
    assert err[~small & (np.abs(x) <= 3)].max() < 2e-14
    assert err[~small].max() < 1e-13  # the lower tail, where Φ itself carries ≈ x² ε


def test_silu_pair_is_exact_to_rounding_at_any_step() -> None:
    x, d = _points(3000, 2)
    d[:4] = [3.0, -7.5, 1e-30, 0.5]
    phi = parse_phi("silu")
    a, delta = silu_pair(x, d)
    np.testing.assert_array_equal(a, phi.fn(x))
    err = np.abs(delta - _exact("silu", x, d)) / _scale("silu", x, d)
    assert err[4:].max() < 2e-15
    assert err[:4].max() < 1e-15  # |d| = 3, 7.5: relative to the terms at x, a looser scale
    assert phi.derivative is not None
    tiny = np.array([1e-300, -1e-300, 0.0])
    _, zero = silu_pair(x[:3], tiny)
    np.testing.assert_allclose(zero, tiny * phi.derivative(x[:3]), rtol=1e-14, atol=0.0)


def test_silu_pair_is_exact_beyond_the_exponentials_clip() -> None:
    """Pre-activations of sd 100–2000 (a network with q0 = 1e5, a deep SiLU residual stack):
    |x| or |x + d| beyond silu's clip at ±700, and d < −709, where e^(−d) overflows. Before,
    the pair was wrong there by factors of e^(|u| − 700) and NaN for d < −709."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0.0, scale, 100) for scale in (100.0, 450.0, 2000.0)])
    d = np.concatenate([rng.normal(0.0, scale, 100) for scale in (100.0, 450.0, 2000.0)])
    assert (np.abs(x) > 700).any() and (np.abs(x + d) > 700).any() and (d < -709).any()
    _, delta = silu_pair(x, d)
    exact = _exact("silu", x, d)
    assert np.isfinite(delta).all()
    assert (np.abs(delta - exact) <= 2e-14 * np.abs(d) * (1.0 + np.abs(x))).all()


def test_erf_quadrature_branch_is_exact_to_rounding() -> None:
    x, d = _points(2000, 3)
    x *= 3.0 / 8.0  # |x| ≤ 3: beyond, erf saturates and its difference weighs nothing
    phi = parse_phi("erf")
    assert phi.derivative is not None
    a, delta = smooth_pair(NUMPY, phi.fn, phi.derivative, x, d)
    np.testing.assert_array_equal(a, phi.fn(x))
    err = np.abs(delta - _exact("erf", x, d)) / _scale("erf", x, d)
    small = np.abs(d) < SMALL_STEP
    assert err[small].max() < 5e-15
    assert err[~small].max() < 2e-11  # the plain difference: ≈ ε / erf'(x)


@pytest.mark.parametrize("name", ["gelu", "silu", "erf"])
def test_pairs_do_not_depend_on_layout(name: str) -> None:
    # Branches gather by flat indices: a strided view gives the same numbers as a copy.
    phi = parse_phi(name)
    assert phi.derivative is not None
    activate = pair_activation(NUMPY, name, phi.fn, phi.derivative)
    x, d = _points(600, 4)
    x, d = x.reshape(20, 30).T, d.reshape(20, 30).T
    a, delta = activate(x, d)
    a_copy, delta_copy = activate(np.ascontiguousarray(x), np.ascontiguousarray(d))
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(delta, delta_copy)
    assert a.shape == delta.shape == x.shape
    # A unit's difference does not depend on its neighbours' branches.
    mixed = np.where(np.arange(x.size).reshape(x.shape) % 3 == 0, 1e-3, 0.3)
    _, delta_mixed = activate(x, mixed)
    for step in (1e-3, 0.3):
        _, delta_one = activate(x, np.full_like(x, step))
        np.testing.assert_array_equal(delta_one[mixed == step], delta_mixed[mixed == step])


def test_pair_activation_routes_numpy_gelu_and_silu() -> None:
    gelu = parse_phi("gelu")
    assert gelu.derivative is not None
    x = np.array([[-1.0, 0.5], [2.0, -3.0]])
    d = np.array([[1e-3, 0.2], [1e-9, -0.1]])
    got = pair_activation(NUMPY, "gelu", gelu.fn, gelu.derivative)(x, d)
    want = gelu_pair(normal_cdf, x, d)
    np.testing.assert_array_equal(got[1], want[1])
