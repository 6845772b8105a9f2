"""``tools/audit_domain.py --edges``: draws at the edges of the general predictor's stated domain
are quiet and sit at the class's width floor where they say so; ``--recheck`` reruns exactly the
flagged rows and the near misses."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import depthscope as ds

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_domain", ROOT / "tools/audit_domain.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("kw", "floor"),
    [
        ({"activation": "leaky:0.1", "bias_std": 0.0}, 64),
        ({"activation": "leaky:0.1", "bias_std": 0.1}, 64),  # 32 until the edge audit
        ({"activation": "tanh", "weight_std": 1.0, "bias_std": 0.0}, 32),
        (
            {"activation": "tanh", "weight_std": 0.9, "bias_std": 0.05},
            256,
        ),  # ordered, deep, small bias
        ({"activation": "erf", "weight_std": 1.4, "bias_std": 0.1}, 64),  # chaotic erf
        ({"activation": "gelu", "weight_std": 1.0, "bias_std": 0.0}, 256),
        ({"activation": "silu", "weight_std": math.sqrt(2), "bias_std": 0.1}, 256),
        ({"activation": "relu", "bias_std": 0.1, "residual": "block:1"}, 64),
    ],
)
def test_width_floor_matches_the_stated_domain(kw: dict[str, object], floor: int) -> None:
    assert _tool().width_floor(50, 1.0, kw) == floor


def test_edge_draws_are_quiet_and_at_their_floor() -> None:
    tool = _tool()
    rng = np.random.default_rng(5)
    for _ in range(12):
        width, depth, theta0, kw, edges = tool.draw_edges(rng)
        assert edges  # every draw names the edges it took
        with warnings.catch_warnings():
            warnings.simplefilter("error", ds.DepthscopeWarning)
            ds.predict([width] * depth, theta0, **kw)
        floor = tool.width_floor(depth, theta0, kw)
        assert width >= floor
        if "floor" in edges:
            assert width <= floor * 3 // 2
        assert ("deep" in edges) == (depth >= 45)


def test_recheck_reruns_flagged_rows_and_near_misses_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = _tool()
    network = {"activation": "tanh", "weight_std": 1.0, "bias_std": 0.1, "q0": 1.0}
    base = {"width": 32, "depth": 3, "theta0": 1.0, **network, "seed": 7, "edges": ["floor"]}
    rows = [
        {**base, "draw": 0, "flagged": True, "mean_err": 0.2, "sd_err": 0.05},
        {**base, "draw": 1, "flagged": False, "mean_err": 0.05, "sd_err": 0.09},  # near miss
        {**base, "draw": 2, "flagged": False, "mean_err": 0.05, "sd_err": 0.05},
    ]
    source, out = tmp_path / "audit.jsonl", tmp_path / "recheck.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    argv = ["audit_domain.py", "--recheck", str(source), "--networks", "60", "--seed", "3",
            "--out", str(out)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    tool.main()
    tool.main()  # resumable: nothing is rerun twice
    rechecked = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["recheck_of"] for row in rechecked] == [[7, 0], [7, 1]]
    assert all(row["networks"] == 60 and row["edges"] == ["floor"] for row in rechecked)
