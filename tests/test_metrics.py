"""Tests of depthscope.simulation._metrics: reference values, the panel against numpy formulas."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from depthscope import DepthscopeError
from depthscope.simulation._gram_route import (
    FULL_RANK_SHIFT,
    GRAM_GATE,
    certify_eigenvalues,
    spectra_from_grams,
)
from depthscope.simulation._metrics import (
    PANEL_METRICS,
    effective_dimension_panel,
    ln_sin2_from_gram,
    ln_sin2_from_pair,
    panel_from_factors,
    panel_from_spectra,
    r_factor,
)

# --- ln sin²θ --------------------------------------------------------------------------------


def _pair_at(theta: float) -> tuple[np.ndarray, np.ndarray]:
    """a = e1 and Δ = b − a for b = (cos θ, sin θ), written without cancellation."""
    return np.array([1.0, 0.0]), np.array([-2.0 * math.sin(theta / 2) ** 2, math.sin(theta)])


@pytest.mark.parametrize(
    ("theta", "expected"),
    [
        # mpmath, 50 digits: 2*log(sin(theta))
        (1e-9, -41.4465316738928),
        (0.1, -4.60850463113853),
    ],
)
def test_ln_sin2_reference_values(theta: float, expected: float) -> None:
    value, dead = ln_sin2_from_pair(*_pair_at(theta))
    assert not dead
    assert value == pytest.approx(expected, rel=1e-12)


def test_ln_sin2_tiny_angle_beats_cosine_formula() -> None:
    a, delta = _pair_at(1e-9)
    b = a + delta
    naive = 1.0 - (a @ b) ** 2 / ((a @ a) * (b @ b))  # 1 − cos²θ: all digits cancel
    assert naive == 0.0 or abs(math.log(naive) + 41.4465) > 1.0
    assert float(ln_sin2_from_pair(a, delta)[0]) == pytest.approx(-41.4465316738928, rel=1e-12)


def test_ln_sin2_matches_direct_formula_on_random_vectors() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 30))
    b = rng.standard_normal((50, 30))
    cos = np.einsum("ij,ij->i", a, b) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    value, dead = ln_sin2_from_pair(a, b - a)
    np.testing.assert_allclose(value, np.log1p(-(cos**2)), rtol=1e-10)
    assert not dead.any()


def test_ln_sin2_dead_and_parallel() -> None:
    value, dead = ln_sin2_from_gram([0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, -1.0])
    # a = 0 → undefined; Δ = 0 → parallel (−inf); b = a + Δ = 0 → undefined
    assert dead.tolist() == [True, False, True]
    assert np.isnan(value[0]) and value[1] == -math.inf and np.isnan(value[2])


# --- effective-dimension panel ---------------------------------------------------------------


def _direct_panel(x: np.ndarray, active: np.ndarray, tol: float) -> dict[str, float]:
    """The panel from textbook numpy formulas on the m×n matrix itself."""
    s = np.linalg.svd(x, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    sc = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    pc = sc / sc.sum()
    pc = pc[pc > 0]
    lam = np.linalg.eigvalsh(x @ x.T)
    cosines = [
        x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j])
        for i, j in itertools.combinations(range(x.shape[0]), 2)
    ]
    return {
        "rank": np.linalg.matrix_rank(x),
        "numerical_rank": int((s > tol * s.max()).sum()),
        "erank": math.exp(-(p * np.log(p)).sum()),
        "erank_centered": math.exp(-(pc * np.log(pc)).sum()),
        "participation_ratio": lam.sum() ** 2 / (lam**2).sum(),
        "stable_rank": (x**2).sum() / s.max() ** 2,
        "mean_cosine": float(np.mean(cosines)),
        "active_fraction": active.mean(),
        "mask_rank": np.linalg.matrix_rank(active.astype(float)),
    }


@pytest.mark.parametrize(("m", "n", "rank"), [(6, 40, 6), (6, 40, 3), (8, 5, 5)])
def test_panel_matches_direct_formulas(m: int, n: int, rank: int) -> None:
    rng = np.random.default_rng(m * n + rank)
    z = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    x = np.maximum(z, 0.0) + 1e-5 * np.maximum(rng.standard_normal((m, n)), 0.0) * (rank == m)
    active = z > 0
    panel = effective_dimension_panel(x, active=active, tolerance=1e-3)
    expected = _direct_panel(x, active, 1e-3)
    assert set(panel) == set(PANEL_METRICS)
    for name in PANEL_METRICS:
        assert float(panel[name]) == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name


def test_panel_is_vectorised_over_networks() -> None:
    rng = np.random.default_rng(1)
    x = np.maximum(rng.standard_normal((4, 3, 5, 20)), 0.0)
    batched = effective_dimension_panel(x, active=x > 0)
    for i, j in itertools.product(range(4), range(3)):
        single = effective_dimension_panel(x[i, j], active=x[i, j] > 0)
        for name in PANEL_METRICS:
            assert batched[name][i, j] == pytest.approx(float(single[name]), rel=1e-12)


def test_panel_reference_values() -> None:
    # Exact by construction: identity → every effective rank is m; rank one → 1, cosine 1.
    eye = effective_dimension_panel(np.eye(5))
    for name in ("rank", "numerical_rank", "erank", "participation_ratio", "stable_rank"):
        assert float(eye[name]) == pytest.approx(5.0, rel=1e-12)
    assert float(eye["mean_cosine"]) == pytest.approx(0.0, abs=1e-15)
    ones = effective_dimension_panel(np.outer([1.0, 2.0, 3.0], [1.0, 1.0, 0.5, 2.0]))
    assert float(ones["rank"]) == 1 and float(ones["erank"]) == pytest.approx(1.0, rel=1e-6)
    assert float(ones["mean_cosine"]) == pytest.approx(1.0, rel=1e-12)
    assert np.isnan(ones["mask_rank"]) and np.isnan(ones["active_fraction"])


def test_panel_of_zero_matrix_is_undefined_not_a_warning() -> None:
    panel = effective_dimension_panel(np.zeros((3, 7)), active=np.zeros((3, 7), dtype=bool))
    assert float(panel["rank"]) == 0 and float(panel["mask_rank"]) == 0
    for name in ("erank", "erank_centered", "participation_ratio", "stable_rank", "mean_cosine"):
        assert np.isnan(panel[name]), name


def test_numerical_rank_depends_on_tolerance() -> None:
    x = np.diag([1.0, 1e-2, 1e-4, 1e-6])
    assert [
        int(effective_dimension_panel(x, tolerance=t)["numerical_rank"])
        for t in (0.5, 1e-3, 1e-5, 1e-7)
    ] == [1, 2, 3, 4]
    with pytest.raises(DepthscopeError, match="tolerance"):
        effective_dimension_panel(x, tolerance=0.0)


def test_r_factor_reproduces_gram_matrix() -> None:
    rng = np.random.default_rng(2)
    cols = rng.standard_normal((3, 50, 4))
    cols[1, :, 3] = cols[1, :, 0]  # singular Gram matrix is fine
    r = r_factor(cols)
    assert r.shape == (3, 4, 4)
    np.testing.assert_allclose(np.swapaxes(r, 1, 2) @ r, np.swapaxes(cols, 1, 2) @ cols, atol=1e-10)
    wide = r_factor(rng.standard_normal((2, 3, 5)))
    assert wide.shape == (2, 3, 5)


def test_panel_from_factors_matches_panel_of_rows() -> None:
    rng = np.random.default_rng(3)
    x = np.maximum(rng.standard_normal((5, 30)), 0)
    direct = effective_dimension_panel(x)
    via_r = panel_from_factors(r_factor(x.T), 30)
    for name in PANEL_METRICS:
        np.testing.assert_allclose(via_r[name], direct[name], rtol=1e-12)


# --- the Gram route (the probe's fast path) --------------------------------------------------


def test_spectra_from_grams_equal_the_svd_on_well_conditioned_rows() -> None:
    rng = np.random.default_rng(4)
    rows = np.maximum(rng.standard_normal((3, 12, 200)) + 0.5, 0.0)  # ReLU-like, common mean
    grams = rows @ np.swapaxes(rows, 1, 2)
    assert certify_eigenvalues(grams, [GRAM_GATE] * 3).all()
    spectra = spectra_from_grams(grams)
    np.testing.assert_allclose(spectra.singular, np.linalg.svd(rows, compute_uv=False), rtol=1e-10)
    centered = rows - rows.mean(axis=1, keepdims=True)
    want = np.linalg.svd(centered, compute_uv=False)
    np.testing.assert_allclose(spectra.singular_centered[:, :-1], want[:, :-1], rtol=1e-10)
    assert np.all(spectra.singular_centered[:, -1] == 0.0)
    via_gram = panel_from_spectra(
        spectra.singular,
        spectra.singular_centered,
        n_inputs=12,
        n_features=200,
        mean_cosine=spectra.mean_cosine,
    )
    direct = effective_dimension_panel(rows)
    for name in PANEL_METRICS:
        np.testing.assert_allclose(via_gram[name], direct[name], rtol=1e-10, err_msg=name)


def test_certificate_rejects_grams_whose_small_singular_values_are_lost() -> None:
    """Negative control: two rows 1e-10 apart have σ_min ≈ 1e-10 σ_max, which the thin QR
    keeps but squaring drowns in rounding (λ_min ≈ 1e-20 λ_max ≪ ε λ_max): the Gram route's
    σ_min is wrong by orders of magnitude, and the certificate refuses the matrix."""
    rng = np.random.default_rng(5)
    rows = np.maximum(rng.standard_normal((6, 100)), 0.0)
    rows[5] = rows[4] + 1e-10 * rng.standard_normal(100)
    gram = rows @ rows.T
    assert not certify_eigenvalues(gram[None], [GRAM_GATE])[0]
    assert not certify_eigenvalues(gram[None], [FULL_RANK_SHIFT])[0]
    exact = np.linalg.svd(r_factor(rows.T), compute_uv=False)[-1]
    from_gram = spectra_from_grams(gram[None]).singular[0, -1]
    assert 1e-12 < exact < 1e-8
    assert abs(from_gram - exact) > 0.5 * exact


@pytest.mark.parametrize(("smallest", "certified"), [(4e-6, True), (2e-6, False)])
def test_certificate_threshold_is_a_fraction_of_the_trace(smallest, certified) -> None:
    gram = np.diag([1.0, 1.0, 1.0, smallest])  # λ_min / trace ≈ smallest / 3
    assert certify_eigenvalues(gram[None], [1e-6])[0] == certified
    with pytest.raises(DepthscopeError, match="fractions"):
        certify_eigenvalues(gram[None], [1e-16])


def test_full_rank_certificate_of_exact_integer_pattern_grams() -> None:
    rng = np.random.default_rng(6)
    patterns = (rng.standard_normal((40, 8, 64)) > 0).astype(np.float64)
    patterns[:20, 7] = patterns[:20, 6]  # half of them rank-deficient
    grams = patterns @ np.swapaxes(patterns, 1, 2)  # integer entries: exact
    certified = certify_eigenvalues(grams, [FULL_RANK_SHIFT] * 40)
    ranks = np.array([np.linalg.matrix_rank(p) for p in patterns])
    assert not certified[:20].any()
    assert np.all(ranks[certified] == 8) and certified[20:].sum() >= 18
