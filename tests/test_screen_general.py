"""``screen`` beyond bias-free ReLU: the same keywords as ``predict``, ranked by its closure."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import depthscope as ds
from depthscope._screen import DEFAULT_THRESHOLD

NETWORK = {"activation": "leaky:0.1", "bias_std": 0.3}


def test_rows_agree_with_predict_and_rank_by_final_angle() -> None:
    archs = ["64x20", "128x10", "512x5"]
    rows = ds.screen(archs, **NETWORK)
    for arch, row in zip(archs, rows, strict=True):
        p = ds.predict(arch, math.pi / 2, **NETWORK)
        inf = ds.predict(arch, math.pi / 2, method="infinite", **NETWORK)
        assert row.ln_sin2_final == pytest.approx(p.mean[-1], rel=1e-12)
        assert row.sd_final == pytest.approx(p.sd[-1], rel=1e-12)
        assert row.ln_sin2_final_infinite == pytest.approx(inf.mean[-1], rel=1e-12)
        below = np.flatnonzero(p.mean[1:] < DEFAULT_THRESHOLD)
        assert row.degeneracy_depth == (int(below[0]) + 1 if below.size else None)
        assert row.dead_final == row.collapsed_final == 0.0
    finals = [r.ln_sin2_final for r in rows]
    assert [r.rank for r in rows] == list(np.argsort(np.argsort(-np.array(finals))) + 1)


def test_default_network_is_unchanged() -> None:
    archs = ["100x10", "30x15"]
    assert ds.screen(archs) == ds.screen(archs, activation="relu", bias_std=0.0)
    # σ_w and q0 leave a bias-free ReLU network's angle unchanged: same rows
    assert ds.screen(archs) == ds.screen(archs, weight_std=1.0, q0=3.0)


def test_network_changes_the_ranking_input() -> None:
    plain = ds.screen(["64x30"])[0]
    biased = ds.screen(["64x30"], bias_std=0.5)[0]
    assert biased.ln_sin2_final < plain.ln_sin2_final  # biases pull the inputs together


def test_domain_warnings_are_issued_once() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds.screen(["16x10", "16x12", "16x14"], activation="gelu")
    texts = [str(w.message) for w in caught if issubclass(w.category, ds.DepthscopeWarning)]
    assert texts and len(texts) == len(set(texts))
    assert all(t.startswith("screen(") for t in texts)


def test_residual_and_paper_convention() -> None:
    rows = ds.screen(["64x10"], residual="block:0.5", weight_std=1.0)
    assert math.isfinite(rows[0].ln_sin2_final)
    with pytest.raises(ds.DepthscopeError, match="bias-free ReLU only"):
        ds.screen(["64x10"], bias_std=0.1, convention="paper", input_dim=10)


def test_cli_screen_takes_the_network_flags(capsys):
    import json

    from depthscope.cli import main

    argv = ["screen", "64x10", "32x10", "--activation", "tanh", "--weight-std", "1.2"]
    assert main([*argv, "--bias-std", "0.1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = ds.screen(["64x10", "32x10"], activation="tanh", weight_std=1.2, bias_std=0.1)
    assert [r["ln_sin2_final"] for r in rows] == [r.ln_sin2_final for r in expected]
    # each JSON row names the network it was predicted for (before: nothing said which)
    assert {(r["activation"], r["weight_std"], r["bias_std"], r["residual"]) for r in rows} == {
        ("tanh", 1.2, 0.1, None)
    }
    # the plain-ReLU answer differs: the flags reach the predictor
    relu = ds.screen(["64x10", "32x10"])
    assert rows[0]["ln_sin2_final"] != relu[0].ln_sin2_final
    assert main([*argv]) == 0
    assert "network: activation = tanh, weight_std = 1.2" in capsys.readouterr().out
