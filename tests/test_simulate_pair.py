"""Tests of the simulation's building blocks: the shared pair maths, the plan, inputs, result."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthscope import DepthscopeError
from depthscope.simulation._inputs import load_inputs
from depthscope.simulation._metrics import ln_sin2_from_pair, nan_mean_sd, pair_gram
from depthscope.simulation._pair import (
    NUMPY,
    activate_pair,
    gram_pair_chain,
    input_pair_stats,
    pair_stats,
)
from depthscope.simulation._result import SimulationResult
from depthscope.simulation._simulate import simulate


def test_nan_mean_sd_reference_values() -> None:
    # By hand: row 0 uses 1, 2, 3 (mean 2, sd 1); row 1 only 5 (sd undefined); row 2 nothing.
    values = np.array(
        [[1.0, 2.0, 3.0, np.nan], [5.0, -np.inf, np.nan, np.nan], [np.nan, np.inf, np.nan, -np.inf]]
    )
    mean, sd = nan_mean_sd(values)
    np.testing.assert_array_equal(mean, [2.0, 5.0, np.nan])
    np.testing.assert_array_equal(sd, [1.0, np.nan, np.nan])


def test_pair_stats_match_pair_gram_and_flag_one_unit_support() -> None:
    rng = np.random.default_rng(0)
    a, delta = rng.standard_normal((2, 5, 40))
    aa, dd, ad, det = pair_stats(NUMPY, a, delta)
    ref = pair_gram(a, delta)
    for got, want, power in zip((aa, dd, ad, det), ref, (1, 1, 1, 2), strict=True):
        np.testing.assert_allclose(got * 40**power, want, rtol=1e-13)  # per coordinate: / n, n²
    # Supported on one unit: parallel, determinant exactly 0 (rounding would leave ~1e-33).
    one = np.zeros((1, 8))
    one[0, 3] = 1.0 / 3.0
    assert pair_stats(NUMPY, one, 0.1 * one)[3][0] == 0.0
    # Negative control: two units of nearly parallel vectors keep their tiny determinant.
    two = np.array([[1.0, 1e-9]])
    assert pair_stats(NUMPY, two, np.array([[0.0, 1e-9]]))[3][0] > 0.0


def test_activate_pair_has_no_cancellation() -> None:
    x = np.array([[1.0, -1.0, 0.5, -2.0]])
    d = np.array([[1e-12, 1e-12, -1.0, 3.0]])
    for slope in (0.0, 0.1, -0.5):
        a, delta = activate_pair(NUMPY, x.copy(), d.copy(), slope)  # it overwrites x and d
        phi = np.where(x + d > 0, x + d, slope * (x + d)) - np.where(x > 0, x, slope * x)
        # the naive difference phi rounds to ε|x + d| ≈ 2e-16 absolute: the exact delta is within
        np.testing.assert_allclose(delta, phi, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(a, np.where(x > 0, x, slope * x))
    # φ(x + d) − φ(x) = d exactly where x and x + d are positive (1 + 1e-12 − 1 would round).
    assert activate_pair(NUMPY, x.copy(), d.copy(), 0.0)[1][0, 0] == 1e-12


@pytest.mark.torch
@pytest.mark.parametrize(("slope", "bias_std"), [(0.0, 0.0), (0.2, 0.0), (-0.5, 0.3)])
def test_numpy_and_torch_run_the_same_pair_chain(slope: float, bias_std: float) -> None:
    """One formula, two array libraries: on the same normals the chains agree to rounding."""
    torch = pytest.importorskip("torch")
    from depthscope.simulation.backends._torch import _TorchOps

    widths = [12, 7, 30, 5]
    normals = np.random.default_rng(1).standard_normal((6, 2 * sum(widths)))
    total = sum(widths)

    def numpy_normals(start: int, n: int):
        return normals[:, start : start + n], normals[:, total + start : total + start + n]

    def torch_normals(start: int, n: int):
        return tuple(torch.from_numpy(np.ascontiguousarray(z)) for z in numpy_normals(start, n))

    first = input_pair_stats(0.4, 6)
    want = gram_pair_chain(NUMPY, first, widths, numpy_normals, slope=slope, bias_std=bias_std)
    got = gram_pair_chain(
        _TorchOps(torch),
        tuple(torch.from_numpy(s) for s in first),
        widths,
        torch_normals,
        slope=slope,
        bias_std=bias_std,
    )
    # Only the summation order differs (numpy einsum, torch sum): each mean of n ≤ 30 terms agrees
    # to ~nε ≈ 1e-14 relative, and det = ā d̄ − c̄² to that much of ā d̄ (it may cancel).
    for row_got, row_want in zip(got, want, strict=True):
        aa, dd, ad, det = (g.numpy() for g in row_got)
        np.testing.assert_allclose([aa, dd, ad], row_want[:3], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(det, row_want[3], rtol=0, atol=1e-12 * np.max(aa * dd))


def test_load_inputs_refuses_an_archive_and_accepts_a_path(tmp_path) -> None:
    x = np.random.default_rng(0).standard_normal((3, 5))
    np.savez(tmp_path / "x.npz", x=x)
    with pytest.raises(DepthscopeError, match="not an archive"):
        load_inputs(tmp_path / "x.npz")
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_inputs(tmp_path / "x.npy"), x)


def test_memory_error_of_the_library_names_no_command_line_flag() -> None:
    with pytest.raises(DepthscopeError, match="raise memory_budget") as info:
        simulate([1024] * 4, inputs=512, n_networks=2, memory_budget=2**20)
    assert "--" not in str(info.value)


def test_result_holds_an_angle_or_a_panel_never_both_nor_neither() -> None:
    dead = np.zeros((2, 3), dtype=bool)
    with pytest.raises(ValueError, match="either"):
        SimulationResult(widths=(4,), n_networks=3, ln_sin2=None, dead=dead)
    with pytest.raises(ValueError, match="either"):
        SimulationResult(
            widths=(4,), n_networks=3, ln_sin2=np.zeros((2, 3)), dead=dead, panel={"rank": dead}
        )
    res = simulate([8, 8], theta0=0.5, n_networks=4, rng=0)
    assert list(res.measures) == ["ln_sin2"] and list(res.arrays()) == ["dead", "ln_sin2"]
    batch = simulate([8, 8], inputs=3, n_networks=4, rng=0)
    assert batch.ln_sin2 is None and list(batch.measures) == list(batch.panel)
    # The summary's mean over networks is nan_mean_sd of the per-network array.
    np.testing.assert_allclose(res.summary()["mean"], nan_mean_sd(res.ln_sin2)[0])


def test_input_row_is_exact_at_tiny_angles() -> None:
    # ln sin²(1e-9) = 2 ln(1e-9) + O(1e-18) = −41.4465316738928...; 1 − cos² would give −inf.
    res = simulate([8], theta0=1e-9, n_networks=2, rng=0)
    assert res.ln_sin2[0, 0] == pytest.approx(2 * math.log(1e-9), rel=1e-15)
    a = np.array([1.0, 0.0])
    delta = np.array([math.cos(1e-9) - 1.0, math.sin(1e-9)])
    assert float(ln_sin2_from_pair(a, delta)[0]) == pytest.approx(2 * math.log(1e-9), rel=1e-12)
