"""Smoke tests of the scripts in examples/ on tiny inputs (their figures are drawn for real)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from depthscope.sweep import parse_spec, run_sweep

pytest.importorskip("matplotlib")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_phase_diagram_draws_a_small_sweep(tmp_path, capsys):
    spec = parse_spec(
        {
            "architectures": ["16x3"],
            "theta0": 1.0,
            "activation": "tanh",
            "weight_std": [0.8, 1.4],
            "bias_std": [0.0, 0.3],
            "networks": 50,
            "seed": 1,
        }
    )
    run_sweep(spec, tmp_path, workers=0, quiet=True)
    _load("phase_diagram").main([str(tmp_path)])
    assert (tmp_path / "phase.png").stat().st_size > 10_000
    assert "of 4 cells" in capsys.readouterr().out


def test_phase_spec_is_valid():
    from depthscope.sweep import load_spec

    spec = load_spec(EXAMPLES / "phase_tanh.yaml")
    assert spec.varying() == ["weight_std", "bias_std"] and len(spec.cells()) == 42
