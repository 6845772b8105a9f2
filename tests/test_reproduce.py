"""Reproductions: the statistics they rely on, the numbers in their reports, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from depthscope._errors import DepthscopeError
from depthscope.cli import main
from depthscope.reproduce._fig1 import Fig1Config, compute_fig1, fig1_report
from depthscope.reproduce._stats import direction_changes, ks_lenient, ks_one_sample, mean_band
from depthscope.simulation._simulate import simulate


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------
def test_ks_one_sample_accepts_the_true_law_and_rejects_a_wrong_one():
    sample = np.random.default_rng(11).standard_normal(5000)
    right = ks_one_sample(sample, stats.norm.cdf)
    # Negative control: a mean shifted by 0.1 sd is ≈ 0.04 in D, ≫ 1.36/√5000 ≈ 0.019.
    wrong = ks_one_sample(sample, stats.norm(loc=0.1).cdf)
    assert right["pvalue"] > 0.01 and right["n"] == 5000
    assert wrong["pvalue"] < 1e-4
    assert right["statistic"] == pytest.approx(stats.kstest(sample, "norm").statistic)


def test_lenient_variant_is_more_lenient_than_the_one_sample_test():
    sample = np.random.default_rng(12).standard_normal(5000)
    wrong = stats.norm(loc=0.05).cdf  # D ≈ 0.02: rejected by the one-sample test only
    one, lenient = ks_one_sample(sample, wrong), ks_lenient(sample, wrong)
    assert one["pvalue"] < 0.05 < lenient["pvalue"]
    assert lenient["statistic"] == pytest.approx(one["statistic"], abs=2.0 / 5000)
    assert "ks_2samp" in lenient["test"] and "kstest" in one["test"]


def test_ks_needs_two_finite_values():
    with pytest.raises(DepthscopeError):
        ks_one_sample([np.nan, 1.0], stats.norm.cdf)


def test_mean_band_matches_numpy_and_ignores_nan():
    values = np.random.default_rng(1).normal(size=(3, 40))
    values[1, 5] = np.nan
    band = mean_band(values, level=0.95)
    row = values[1][np.isfinite(values[1])]
    assert band["mean"][1] == pytest.approx(row.mean())
    assert band["sd"][1] == pytest.approx(row.std(ddof=1))
    half = stats.t.ppf(0.975, row.size - 1) * row.std(ddof=1) / np.sqrt(row.size)
    assert band["hi"][1] - band["mean"][1] == pytest.approx(half)
    assert band["n"][1] == 39


def _noisy(curve, networks=200, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return np.asarray(curve, float)[:, None] + noise * rng.standard_normal((len(curve), networks))


def test_an_oscillating_curve_is_called_oscillating():
    layers = np.arange(40)
    result = direction_changes(_noisy(np.sin(layers / 3.0)))
    assert result["oscillating"] and result["changes"] >= 3


def test_a_monotone_curve_is_not_oscillating():
    layers = np.arange(40)
    result = direction_changes(_noisy(4 * (1 - 0.7**layers)))  # rises, then a noisy plateau
    assert not result["oscillating"] and result["changes"] == 0


def test_one_bump_is_one_change_and_a_plateau_is_not_significant():
    bump = direction_changes(_noisy(-((np.arange(20) - 8.0) ** 2) / 10.0))
    assert bump["changes"] == 1 and not bump["oscillating"]
    flat = direction_changes(np.full((10, 30), 4.0))
    assert flat["signs"] == [0] * 9 and flat["changes"] == 0


def test_noise_alone_is_not_oscillating():
    # Pure noise: every paired difference is centred at 0; Bonferroni keeps false flips rare.
    calls = [direction_changes(_noisy(np.zeros(50), seed=s))["oscillating"] for s in range(20)]
    assert sum(calls) == 0


# ---------------------------------------------------------------------------------------------
# Figure 1
# ---------------------------------------------------------------------------------------------
SMALL = Fig1Config(networks=400, width=64, depth=6, theta0=0.3, seed=5, histogram_layers=(1, 5))


@pytest.fixture(scope="module")
def small_fig1():
    return compute_fig1(SMALL)


def test_fig1_numbers_are_the_simulators(small_fig1):
    reference = simulate([64] * 6, 0.3, n_networks=400, rng=5).summary()
    mc = small_fig1.results["monte_carlo"]
    np.testing.assert_allclose(mc["mean"], reference["mean"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(mc["sd"][1:], reference["sd"][1:], rtol=1e-12)
    np.testing.assert_allclose(mc["se"][1:], np.asarray(reference["sd"][1:]) / np.sqrt(400))
    assert mc["n_used"].tolist() == reference["n_used"]


def test_fig1_results_hold_every_predictor_and_both_ks_variants(small_fig1):
    res = small_fig1.results
    assert set(res["predictors"]) == {"approx1", "approx2", "infinite", "mean", "markov"}
    for layer in ("1", "5"):
        for name in ("approx2", "markov"):
            tests = res["ks"][layer][name]
            assert "kstest" in tests["one_sample"]["test"]
            assert "ks_2samp" in tests["lenient"]["test"]
            assert 0 <= tests["one_sample"]["pvalue"] <= 1
    markov = res["predictors"]["markov"]
    z = (markov["mean"][1:] - res["monte_carlo"]["mean"][1:]) / res["monte_carlo"]["se"][1:]
    np.testing.assert_allclose(markov["z"][1:], z)


def test_fig1_report_quotes_the_numbers(small_fig1):
    text = fig1_report(small_fig1)
    mc = small_fig1.results["monte_carlo"]
    assert f"{mc['mean'][5]:.4f} ± {mc['se'][5]:.4f}" in text
    p = small_fig1.results["ks"]["5"]["markov"]["one_sample"]["pvalue"]
    assert f"{p:.3f}" in text or f"{p:.2g}" in text
    assert "one-sample" in text and "lenient" in text


def test_fig1_markov_prediction_passes_and_a_wrong_width_fails():
    """Statistical check with a negative control: width 256 simulated vs 256 and 64 predicted."""
    from depthscope import predict

    result = compute_fig1(Fig1Config(networks=3000, depth=10, seed=7, histogram_layers=(10,)))
    sample = result.simulation.ln_sin2[10]
    assert result.results["ks"]["10"]["markov"]["one_sample"]["pvalue"] > 0.01
    wrong = predict([64] * 10, 0.1)
    assert ks_one_sample(sample, lambda t: wrong.cdf(10, t))["pvalue"] < 1e-6


def test_import_depthscope_does_not_import_matplotlib():
    code = (
        "import sys, depthscope, depthscope.reproduce._fig1, depthscope.cli._reproduce; "
        "assert 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_matplotlib_names_the_plot_extra(monkeypatch):
    from depthscope.report._plot import new_figure

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(DepthscopeError, match="plot"):
        new_figure()


def test_reproduce_fig1_cli_writes_the_folder_and_refuses_to_overwrite(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fig1"
    argv = ["reproduce", "fig1", "--out", str(out), "--networks", "200", "--seed", "3"]
    assert main([*argv, "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"fig1.png", "fig1.svg", "results.json", "report.md", "manifest.json"} <= names
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["configuration"]["networks"] == 200
    assert "reproduce fig1" in manifest["command"] and manifest["duration_s"] > 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["monte_carlo"]["mean"]) == 32
    capsys.readouterr()
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err
    assert main([*argv, "--quiet", "--force"]) == 0


def test_reproduce_progress_goes_to_stderr(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "f"
    assert main(["reproduce", "fig1", "--out", str(out), "--networks", "50", "--force"]) == 0
    captured = capsys.readouterr()
    assert "fig1:" in captured.err and "fig1:" not in captured.out


# ---------------------------------------------------------------------------------------------
# Figures 2 and 4
# ---------------------------------------------------------------------------------------------
def test_variance_band_covers_a_known_variance():
    from depthscope.reproduce._fig2 import variance_band

    sample = np.random.default_rng(2).normal(scale=2.0, size=20_000)
    band = variance_band(sample, level=0.99)
    assert band["lo"] < 4.0 < band["hi"]
    assert band["se"] == pytest.approx(4.0 * np.sqrt(2 / 20_000), rel=0.1)  # normal: √(2/N) σ²


def test_fig2_numbers_are_the_simulators_and_counts_are_consistent(tmp_path):
    from depthscope.reproduce._fig2 import Fig2Config, compute_fig2, run_fig2

    config = Fig2Config(networks=300, angles=3, width=128, seed=1)
    res = compute_fig2(config)
    theta = res["theta"]
    child = np.random.SeedSequence(1).spawn(3)[1]
    direct = simulate([128], float(theta[1]), n_networks=300, rng=np.random.default_rng(child))
    drop = 2 * np.log(np.sin(theta[1])) - direct.ln_sin2[1]
    assert res["monte_carlo"]["drop_mean"][1] == pytest.approx(drop.mean(), rel=1e-12)
    assert res["monte_carlo"]["var"][1] == pytest.approx(direct.ln_sin2[1].var(ddof=1))
    mc = res["monte_carlo"]
    for name, values in res["drop_predictors"].items():
        inside = np.sum((values >= mc["drop_lo"]) & (values <= mc["drop_hi"]))
        assert res["inside"]["drop"][name] == inside <= 3
    pytest.importorskip("matplotlib")
    run_fig2(config, tmp_path / "f2", quiet=True)
    assert "inside" in (tmp_path / "f2" / "report.md").read_text()


def test_fig4_infinite_width_cannot_tell_depth3_apart_and_published_values_match(tmp_path):
    from depthscope.reproduce._fig4 import compute_fig4

    res = compute_fig4()
    assert res["depth3_distinct_infinite_predictions"] == 1
    markov = [r["markov_mean"] for r in res["depth3"]]
    assert max(markov) - min(markov) > 0.3  # finite width separates them
    assert res["published_max_abs_difference"] <= 5e-4  # rounding of 3 published decimals
    pytest.importorskip("matplotlib")
    assert main(["reproduce", "fig4", "--out", str(tmp_path / "f4"), "--quiet"]) == 0
    assert (tmp_path / "f4" / "fig4.png").exists()
