"""The claim check of arXiv:2507.07675: static formulas, verdict rules on synthetic curves, runs."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from depthscope.reproduce._claims import (
    ClaimsConfig,
    claims_grid,
    make_inputs,
    measure,
    measure_configuration,
    run_claims,
)
from depthscope.reproduce._verdicts import (
    CURVE_METRICS,
    RHO,
    VERDICTS,
    configuration_key,
    predicted_edim,
    static_checks,
    summarize_configuration,
    verdict_c1,
    verdict_c3,
    verdict_c4,
    verdict_c5,
    verdicts,
)
from depthscope.simulation._simulate import simulate
from depthscope.sweep._engine import label_seed

METRICS = (*CURVE_METRICS, "participation_ratio", "stable_rank", "mean_cosine")


# ---------------------------------------------------------------------------------------------
# Static checks (reference values: closed forms evaluated by hand)
# ---------------------------------------------------------------------------------------------
def test_static_checks_of_the_formulas():
    static = static_checks([4, 16, 64])
    assert static["value_at_layer_0"] == 0.0
    assert static["monotone_increasing"] and not static["has_local_maximum"]
    # ℓ*_k = (k + 1/2) π / ln(1/ρ), ln(1/ρ) = 1.01224...
    assert static["revival_depths"] == pytest.approx([1.5518, 4.6555, 7.7592], abs=1e-3)
    assert static["fraction_at_revival"][0] == pytest.approx(0.792, abs=1e-3)  # the "79%"
    assert static["fraction_at_revival"][1] == pytest.approx(0.991, abs=1e-3)
    # 2 exp(−ε² m/4) ≥ 1  ⇔  ε ≤ √(4 ln 2 / m)
    assert static["c4"]["4"]["vacuous_for_epsilon_up_to"] == pytest.approx(math.sqrt(math.log(2)))
    assert static["c4"]["64"]["vacuous"]["0.2"] and not static["c4"]["64"]["vacuous"]["0.3"]


# ---------------------------------------------------------------------------------------------
# Verdict rules on synthetic curves
# ---------------------------------------------------------------------------------------------
def _panel(curve, m, networks=60, noise=0.05, seed=0, rank_curve=None):
    """Synthetic per-network panel: every metric follows ``curve`` (a fraction of m) + noise."""
    rng = np.random.default_rng(seed)
    base = m * np.asarray(curve, float)[:, None]
    panel = {
        name: base + m * noise * rng.standard_normal((len(curve), networks)) for name in METRICS
    }
    rank = base if rank_curve is None else m * np.asarray(rank_curve, float)[:, None]
    panel["rank"] = np.round(np.broadcast_to(rank, (len(curve), networks))).astype(float)
    return panel


def _summary(curve, variant="relu_he", inputs="gaussian", m=16, **kwargs):
    label = {"variant": variant, "inputs": inputs, "n": 256, "m": m}
    return summarize_configuration(label, _panel(curve, m, **kwargs))


LAYERS = np.arange(31)
FULL = np.ones(31)
# Rises to 0.79 at layer 2 (≈ ℓ*₀ = 1.55), falls, revives at 5 and 8: an oscillating curve.
WAVE = 0.55 + 0.24 * np.cos((LAYERS - 2.0) * math.pi / 3.0) * np.exp(-LAYERS / 40.0)
STATIC = static_checks([16])


def test_oscillating_and_monotone_curves_are_told_apart():
    wave = _summary(WAVE)
    flat = _summary(1.0 - 0.5 * (1 - 0.9**LAYERS))  # monotone decay
    assert all(wave["changes"][name]["changes"] >= 2 for name in ("erank", "numerical_rank"))
    assert all(flat["changes"][name]["changes"] == 0 for name in CURVE_METRICS)


def test_c1_reproduced_only_when_the_mean_rank_follows_the_formula():
    following = _summary(predicted_edim(1.0, LAYERS), rank_curve=predicted_edim(1.0, LAYERS))
    assert verdict_c1([following], STATIC)["verdict"] == "reproduced"
    full_rank = _summary(FULL)
    result = verdict_c1([full_rank], STATIC)
    assert result["verdict"] == "not reproduced"
    assert max(result["evidence"]["max_abs_error_fraction_of_m"].values()) == pytest.approx(RHO)


def test_c3_needs_measured_revivals_and_otherwise_flags_the_formula():
    assert verdict_c3([_summary(WAVE)], STATIC)["verdict"] == "reproduced"
    monotone = verdict_c3([_summary(FULL)], STATIC)
    assert monotone["verdict"] == "inconsistent as stated"
    assert monotone["evidence"]["oscillating_curves"] == 0


def test_c4_zero_spread_is_vacuous_and_a_wide_spread_violates_the_bound():
    assert verdict_c4([_summary(FULL)], STATIC)["verdict"] == "holds but vacuous"
    rng = np.random.default_rng(3)
    panel = _panel(FULL, 64)
    panel["rank"] = rng.choice([8.0, 64.0], size=panel["rank"].shape)  # half the mass far away
    spread = summarize_configuration(
        {"variant": "relu_he", "inputs": "gaussian", "n": 256, "m": 64}, panel
    )
    assert verdict_c4([spread], static_checks([64]))["verdict"] == "not reproduced"


def test_c5_rules():
    variants = ("orthogonal", "leaky_-0.5", "leaky_-1")
    calm = [_summary(FULL, variant=v) for v in variants]
    assert verdict_c5([_summary(WAVE), *calm])["verdict"] == "reproduced"
    assert verdict_c5([_summary(FULL), *calm])["verdict"] == "holds but vacuous"
    waves = [_summary(WAVE, variant=v) for v in variants]
    assert verdict_c5([_summary(WAVE), *waves])["verdict"] == "not reproduced"


# ---------------------------------------------------------------------------------------------
# Measurement and files at small sizes
# ---------------------------------------------------------------------------------------------
TINY = ClaimsConfig(
    widths=(16,),
    batch_sizes=(4,),
    depth=6,
    networks={16: 6},
    orthogonal_networks={16: 3},
    orthogonal_gaussian_only=(),
    seed=4,
)


def test_grid_covers_every_variant_and_input_kind():
    grid = claims_grid(TINY)
    assert len(grid) == 7 * 3
    assert {g["variant"] for g in grid} >= {"relu_he", "bias", "orthogonal", "leaky_-1"}
    full = claims_grid(ClaimsConfig())
    assert {(g["n"], g["m"]) for g in full} == {
        (n, m) for n in (64, 256, 1024) for m in (4, 16, 64)
    }


def test_inputs_have_the_intended_rank():
    rng = np.random.default_rng(0)
    assert np.linalg.matrix_rank(make_inputs("rank_deficient", 16, 64, rng)) == 4
    collinear = make_inputs("collinear", 8, 64, rng)
    s = np.linalg.svd(collinear, compute_uv=False)
    assert s[1] / s[0] < 0.01  # one dominant direction
    assert make_inputs("gaussian", 8, 64, rng) == 8


def test_measurements_are_the_simulators():
    summaries = measure(TINY)
    first = summaries[0]
    assert (first["variant"], first["inputs"]) == ("relu_he", "gaussian")
    # the first configuration's stream: SeedSequence(4, spawn_key=SHA-256 of its name)
    _, nets = label_seed(4, "relu_he/gaussian/n=16/m=4").spawn(2)
    direct = simulate(
        [16] * 6, inputs=4, input_dim=16, n_networks=6, rng=np.random.default_rng(nets)
    )
    np.testing.assert_allclose(
        first["metrics"]["erank"]["mean"], direct.panel["erank"].mean(axis=1), rtol=1e-12
    )
    result = verdicts(summaries, static_checks([4]))
    assert set(result) == {f"C{k}" for k in range(1, 7)}
    assert all(v["verdict"] in VERDICTS and v["evidence"] for v in result.values())


def test_run_claims_writes_verdicts_report_and_figure(tmp_path):
    pytest.importorskip("matplotlib")
    results = run_claims(TINY, tmp_path / "c", quiet=True)
    written = json.loads((tmp_path / "c" / "verdicts.json").read_text())
    assert written.keys() == results["verdicts"].keys()
    assert {"claim", "verdict", "evidence"} == set(written["C3"])
    report = (tmp_path / "c" / "report.md").read_text()
    assert "Provenance" in report and "1.552" in report and "0.792" in report
    for key, v in written.items():
        assert f"| {key} |" in report and v["verdict"] in report
    assert (tmp_path / "c" / "claims.png").stat().st_size > 10_000
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["seed"] == 4 and "claims" in manifest["command"]


def test_configurations_outside_the_regime_are_left_out_and_listed():
    inside = _summary(FULL)  # n = 256, m = 16
    outside = summarize_configuration(
        {"variant": "relu_he", "inputs": "gaussian", "n": 64, "m": 64}, _panel(WAVE, 64)
    )
    result = verdicts([inside, outside], static_checks([16, 64]))
    assert result["C3"]["evidence"]["oscillating_curves"] == 0  # the wave is outside m ≤ n/4
    assert result["C1"]["evidence"]["left_out_outside_regime"] == ["relu_he/gaussian/n=64/m=64"]


def test_a_configuration_is_seeded_by_its_name_not_its_place_in_the_grid():
    wider = replace(TINY, batch_sizes=(2, 4))  # the m = 4 configurations move down the grid
    summaries = {configuration_key(s): s for s in measure(wider)}
    first = measure_configuration(TINY, claims_grid(TINY)[0])
    np.testing.assert_equal(summaries["relu_he/gaussian/n=16/m=4"], first)


@pytest.mark.slow
def test_serial_and_local_cluster_agree_bit_for_bit():
    pytest.importorskip("distributed")
    np.testing.assert_equal(measure(TINY, workers=2), measure(TINY, workers=0))
