"""Architecture screening: ranking, published Algorithm-1 values, files, modules, CLI."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

import depthscope as ds
from depthscope._screen import DEFAULT_THRESHOLD, screen
from depthscope.cli import main
from depthscope.cli._files import read_architectures


def test_rows_agree_with_predict_and_rank_by_final_angle():
    archs = ["100x10", "30x15", "50x50", "512,256,128"]
    rows = screen(archs, input_dim=784, output_dim=10)
    assert [r.architecture for r in rows] == archs
    for r in rows:
        p = ds.predict(r.architecture, math.pi / 2)
        assert r.ln_sin2_final == pytest.approx(p.mean[-1], rel=1e-12)
        assert r.sd_final == pytest.approx(p.sd[-1], rel=1e-12)
        inf = ds.predict(r.architecture, math.pi / 2, method="infinite")
        assert r.ln_sin2_final_infinite == pytest.approx(inf.mean[-1], rel=1e-12)
        below = np.flatnonzero(p.mean[1:] < DEFAULT_THRESHOLD)
        assert r.degeneracy_depth == (below[0] + 1 if below.size else None)
    finals = [r.ln_sin2_final for r in sorted(rows, key=lambda r: r.rank)]
    assert finals == sorted(finals, reverse=True)
    # 784·100 + 9·100² + 100·10 weights, bias-free.
    assert rows[0].params == 784 * 100 + 9 * 100**2 + 100 * 10
    assert rows[0].flops == 2 * rows[0].params
    assert rows[2].degeneracy_depth == 40  # 50x50 crosses ln sin²(0.1) at layer 40


def test_paper_convention_is_the_published_algorithm_1():
    # Published (docs/theory/angle-theory.md §9): [85]x2 -0.500, [100]x10 -1.727, [30]x15 -3.595,
    # [75]x35 -4.126, [50]x50 -6.230 (input 784, θ0 = π/2, fan-in widths).
    archs = ["85x2", "100x10", "30x15", "75x35", "50x50"]
    published = [-0.500, -1.727, -3.595, -4.126, -6.230]
    rows = screen(archs, input_dim=784, convention="paper")
    np.testing.assert_allclose([r.ln_sin2_final for r in rows], published, atol=5e-4)
    assert [r.rank for r in rows] == [1, 2, 3, 4, 5]


def test_params_need_input_dim():
    (row,) = screen(["30x3"])
    assert row.params is None and row.flops is None


def test_read_architecture_files(tmp_path):
    (tmp_path / "a.txt").write_text("100x10  # wide\n\n30x15\n")
    (tmp_path / "a.json").write_text(json.dumps(["100x10", [30, 30], {"architecture": "50x2"}]))
    (tmp_path / "a.yaml").write_text("architectures:\n  - 100x10\n  - [30, 30]\n")
    assert read_architectures(tmp_path / "a.txt") == ["100x10", "30x15"]
    assert read_architectures(tmp_path / "a.json") == ["100x10", "30,30", "50x2"]
    try:
        import yaml  # noqa: F401
    except ImportError:  # the optional extra is missing: the error must say how to get it
        with pytest.raises(ds.DepthscopeError, match="PyYAML"):
            read_architectures(tmp_path / "a.yaml")
    else:
        assert read_architectures(tmp_path / "a.yaml") == ["100x10", "30,30"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ds.DepthscopeError, match=r"bad\.json"):
        read_architectures(tmp_path / "bad.json")
    with pytest.raises(ds.DepthscopeError, match="cannot read"):
        read_architectures(tmp_path / "missing.txt")


def test_errors():
    with pytest.raises(ds.DepthscopeError, match="no architectures"):
        screen([])
    with pytest.raises(ds.DepthscopeError, match="input_dim"):
        screen(["30x3"], convention="paper")
    with pytest.raises(ds.DepthscopeError, match="valid forms"):
        screen(["30y3"])


class TestModules:
    torch = pytest.importorskip("torch")

    def test_sequential_mlp(self):
        nn = self.torch.nn
        model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 100, bias=False),
            nn.ReLU(),
            nn.Linear(100, 50, bias=False),
            nn.ReLU(),
            nn.Linear(50, 10, bias=False),
        )
        (row,) = screen([model])
        assert row.widths == (100, 50) and row.params == 784 * 100 + 100 * 50 + 50 * 10
        assert row.ln_sin2_final == pytest.approx(screen(["100,50"])[0].ln_sin2_final)

    def test_uncovered_modules_are_named(self):
        nn = self.torch.nn
        with pytest.raises(ds.DepthscopeError, match="Conv2d"):
            screen([nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())])
        with pytest.raises(ds.DepthscopeError, match="BatchNorm1d"):
            screen([nn.Sequential(nn.Linear(4, 4, bias=False), nn.BatchNorm1d(4), nn.ReLU())])
        with pytest.raises(ds.DepthscopeError, match="bias"):
            screen([nn.Sequential(nn.Linear(4, 4), nn.ReLU())])

    def test_screen_and_probe_apply_one_coverage_rule(self):
        """The screen (torch.fx graph) and the probe (forward hooks) read the same chain.

        Transparent layers (Flatten, Identity, eval-mode Dropout) are skipped by both; a
        non-zero bias is refused by both. Negative control: in training mode the probe's
        Dropout is no identity, so the chain ends there and a new one starts after it.
        """
        torch, nn = self.torch, self.torch.nn

        def model(bias: bool) -> nn.Module:
            torch.manual_seed(0)
            return nn.Sequential(
                nn.Flatten(),
                nn.Linear(12, 16, bias=bias),
                nn.ReLU(),
                nn.Dropout(0.5),
                nn.Linear(16, 8, bias=False),
                nn.Identity(),
                nn.ReLU(),
                nn.Linear(8, 3, bias=False),
            )

        x = torch.randn(5, 3, 4)
        (row,) = screen([model(bias=False)])
        stacks = ds.probe(model(bias=False), x).theory.stacks
        assert row.widths == (16, 8) and [s.widths for s in stacks] == [row.widths]
        assert stacks[0].layers == ("input", "2", "6")
        with pytest.raises(ds.DepthscopeError, match="bias"):
            screen([model(bias=True)])
        biased = ds.probe(model(bias=True), x).theory
        assert biased.status[1] == "covered" and not biased.stacks[0].paper
        assert [s.widths for s in biased.stacks] == [(16,), (8,)]
        trained = ds.probe(model(bias=False), x, mode="train").theory
        assert [s.widths for s in trained.stacks] == [(16,), (8,)]

    def test_residual_connection_is_rejected(self):
        torch, nn = self.torch, self.torch.nn

        class Residual(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(8, 8, bias=False)
                self.b = nn.Linear(8, 8, bias=False)

            def forward(self, x):
                h = torch.relu(self.a(x))
                return h + torch.relu(self.b(h))

        with pytest.raises(ds.DepthscopeError, match="skip or branch"):
            screen([Residual()])


class TestCommandLine:
    def test_table(self, capsys):
        assert main(["screen", "100x10", "30x15", "--input-dim", "784", "--output-dim", "10"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[2].split()[:2] == ["1", "100x10"] and out[3].split()[:2] == ["2", "30x15"]

    def test_json_keys(self, capsys):
        assert main(["screen", "100x10", "15x30", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert [d["architecture"] for d in data] == ["100x10", "15x30"]
        for key in (
            "architecture",
            "ln_sin2_final",
            "sd_final",
            "ln_sin2_final_infinite",
            "degeneracy_depth",
            "params",
            "rank",
        ):
            assert key in data[0]

    def test_csv_from_file(self, tmp_path, capsys):
        path = tmp_path / "archs.txt"
        path.write_text("30x15\n100x10\n")
        assert main(["screen", "--file", str(path), "--csv"]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert [r["architecture"] for r in rows] == ["100x10", "30x15"]  # by rank

    def test_missing_file(self, capsys):
        assert main(["screen", "--file", "/nonexistent/archs.yaml"]) == 2
        assert "archs.yaml" in capsys.readouterr().err


def test_screen_shows_dead_and_collapsed_networks_like_predict(capsys) -> None:
    from depthscope.cli import main

    rows = {r.architecture: r for r in screen(["6x10", "30x5"])}
    p = ds.predict("6x10", math.pi / 2)
    assert rows["6x10"].dead_final == pytest.approx(p.dead[-1], abs=1e-10)
    assert rows["6x10"].collapsed_final == pytest.approx(p.collapsed[-1], abs=1e-10)
    assert rows["6x10"].dead_final > 0.1 and rows["30x5"].dead_final < 1e-6
    assert main(["screen", "6x10", "30x5"]) == 0
    assert "collapsed" in capsys.readouterr().out
    with pytest.warns(ds.DepthscopeWarning, match="width 3 < 4"):  # the same warning as predict
        screen(["3x4"])
