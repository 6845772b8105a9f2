"""Regression tests of issue 14 for the PyTorch side: bad or edge inputs to probe, the training
monitor, screen and ``depthscope probe`` give a flagged result or one clear error, never a
traceback or a silent wrong number."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import depthscope as ds
from depthscope import DepthscopeError, DepthscopeWarning

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")

from depthscope.cli import main  # noqa: E402
from depthscope.probing import TrainingMonitor, probe  # noqa: E402


def _mlp(width: int = 16, depth: int = 2, n_in: int = 8, dtype=torch.float32) -> torch.nn.Module:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for k in range(depth):
        layers += [torch.nn.Linear(n_in if k == 0 else width, width, bias=False), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers).to(dtype)


def _strict(value: object) -> object:
    """Round-trip through a strict JSON parser (no NaN / Infinity)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-strict JSON constant {constant}")

    return json.loads(json.dumps(value, allow_nan=False), parse_constant=refuse)


# ---- 1. non-finite weights or inputs: flagged, one warning, no LinAlgError ------------------


@pytest.mark.parametrize("where", ["weight", "input-nan", "input-inf"])
def test_probe_flags_nonfinite_layers_and_warns_once(where: str) -> None:
    model = _mlp()
    x = torch.randn(6, 8)
    if where == "weight":
        with torch.no_grad():
            model[2].weight[0, 0] = math.nan
    else:
        x[0, 0] = math.nan if where == "input-nan" else math.inf
    with pytest.warns(DepthscopeWarning, match="non-finite") as caught:
        res = probe(model, x)
    assert len([w for w in caught if w.category is DepthscopeWarning]) == 1
    expected = (False, False, True) if where == "weight" else (True, True, True)
    assert res.nonfinite == expected
    for i, bad in enumerate(expected):
        values = [res.ln_sin2[i]] + [res.metrics[name][i] for name in ds.probing.METRICS]
        assert all(math.isnan(v) for v in values) == bad
        assert res.status[i].startswith("non-finite") == bad
    assert res.columns()["nonfinite"] == list(expected)
    assert [r["nonfinite"] for r in res.records()] == list(expected)
    assert _strict(res.to_dict())["nonfinite"] == list(expected)


def test_monitor_keeps_going_when_training_diverges(tmp_path) -> None:
    model = _mlp()
    batch = torch.randn(6, 8)
    monitor = TrainingMonitor(model, batch, every=1, log_dir=tmp_path, tensorboard=False)
    monitor.step()
    with torch.no_grad():
        model[0].weight[0, 0] = math.inf  # diverged
    with pytest.warns(DepthscopeWarning, match="TrainingMonitor") as caught:
        monitor.step()
        monitor.step()  # warned once per monitor
    assert len([w for w in caught if w.category is DepthscopeWarning]) == 1
    monitor.close()
    flags = [res.nonfinite for _, res in monitor.history]
    assert flags == [(False, False, False), (False, True, True), (False, True, True)]
    lines = (tmp_path / "probe_log.jsonl").read_text().splitlines()
    parsed = [json.loads(line, parse_constant=lambda c: pytest.fail(c)) for line in lines]
    assert [p["nonfinite"] for p in parsed][-1] == [False, True, True]
    assert parsed[-1]["metrics"]["erank"][1] is None
    header, *rows = (tmp_path / "probe_log.csv").read_text().splitlines()
    assert "nonfinite" in header.split(",")
    assert len(rows) == 9


# ---- 2. an antipodal pair is measured; the overlay says why it is not covered --------------


def test_probe_measures_an_antipodal_pair() -> None:
    model = _mlp(width=32)
    x = torch.randn(4, 8)
    x[1] = -x[0]
    res = probe(model, x)
    assert res.ln_sin2[0] == -math.inf
    assert res.ln_sin2[1] == pytest.approx(
        0.0, abs=1e-12
    )  # ReLU of x and -x: disjoint supports, orthogonal
    # The default predictor covers θ0 = π: layer 0 is the point mass at −∞, layer 1 the atom
    # at 0 (every live network has θ1 = π/2 exactly).
    assert res.theory.status[0] == "covered"
    assert res.theory.inside[0] is True and res.theory.inside[1] is True
    assert res.theory.low[1] == res.theory.high[1] == 0.0
    out = _strict(res.to_dict())
    assert out["ln_sin2"][0] is None
    assert {"field": "ln_sin2", "layer": "input", "value": "-inf"} in out["infinite"]


# ---- 3. wrong width, integer and bool inputs, screen and monitor arguments -----------------


def test_probe_names_the_expected_width() -> None:
    with pytest.raises(DepthscopeError, match=r"7 features .* in_features = 8"):
        probe(_mlp(), torch.randn(4, 7))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8])
def test_probe_casts_integer_and_bool_inputs_to_the_model_dtype(dtype) -> None:
    model = _mlp(dtype=torch.float64)
    x = torch.randint(0, 2, (5, 8)).to(dtype)
    res = probe(model, x)
    ref = probe(model, x.to(torch.float64))
    assert res.dtype == "float64"
    np.testing.assert_array_equal(res.ln_sin2, ref.ln_sin2)
    np.testing.assert_array_equal(res.metrics["erank"], ref.metrics["erank"])


def test_probe_refuses_complex_and_non_numeric_inputs() -> None:
    with pytest.raises(DepthscopeError, match="complex"):
        probe(_mlp(), torch.randn(4, 8, dtype=torch.complex64))
    with pytest.raises(DepthscopeError, match="real numeric"):
        probe(_mlp(), np.array([["a"] * 8] * 4))


def test_screen_takes_one_string_or_one_module_as_one_architecture() -> None:
    (row,) = ds.screen("256")
    assert row.widths == (256,)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), torch.nn.ReLU())
    (row,) = ds.screen(model)
    assert row.widths == (16,)
    with pytest.raises(TypeError, match="bytes"):
        ds.screen(b"256")
    with pytest.raises(TypeError, match="not int"):
        ds.screen(256)


@pytest.mark.parametrize(
    ("every", "error"),
    [
        (math.nan, DepthscopeError),
        (0, DepthscopeError),
        (-1, DepthscopeError),
        (1.5, DepthscopeError),
        (math.inf, DepthscopeError),
        (True, TypeError),
        ("2", TypeError),
    ],
)
def test_monitor_refuses_bad_every(every, error) -> None:
    with pytest.raises(error, match="every"):
        TrainingMonitor(_mlp(), torch.randn(4, 8), every=every)


# ---- 4. undefined metrics are NaN; scale-free metrics are scale-free ------------------------


def test_identical_inputs_have_no_centered_effective_rank() -> None:
    model = _mlp()
    x = torch.randn(1, 8).repeat(6, 1)
    res = probe(model, x)
    assert np.isnan(res.metrics["erank_centered"]).all()
    assert (res.metrics["rank"] == 1).all()


@pytest.mark.parametrize("scale", [1e160, 1e-160, 1e300, 1e-300])
def test_scale_free_metrics_do_not_depend_on_the_input_scale(scale: float) -> None:
    model = _mlp(dtype=torch.float64)  # ReLU stack without bias: positively homogeneous
    x = torch.randn(6, 8, dtype=torch.float64)
    ref = probe(model, x)
    res = probe(model, x * scale)
    assert not any(res.nonfinite)
    np.testing.assert_allclose(res.ln_sin2, ref.ln_sin2, rtol=1e-9)
    for name in (
        "rank",
        "numerical_rank",
        "erank",
        "erank_centered",
        "participation_ratio",
        "stable_rank",
        "mean_cosine",
        "dead_fraction",
    ):
        np.testing.assert_allclose(res.metrics[name], ref.metrics[name], rtol=1e-9, err_msg=name)
    assert res.theory.status == ref.theory.status


# ---- 5. depthscope probe: one-line errors, exit 2; non-finite layers marked, exit 0 ---------


@pytest.fixture
def state_dict(tmp_path):
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16, bias=False), torch.nn.ReLU(), torch.nn.Linear(16, 4, bias=False)
    )
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    return path, model


def _bad_inputs(tmp_path):
    cases = {
        "missing.npy": None,
        "empty.npy": b"",
        "latin1.npy": "café".encode("latin-1"),
        "truncated.npy": None,
    }
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "full.npy", np.ones((4, 8)))
    (tmp_path / "truncated.npy").write_bytes((tmp_path / "full.npy").read_bytes()[:90])
    np.save(tmp_path / "complex.npy", np.ones((4, 8)) + 1j)
    np.save(tmp_path / "object.npy", np.array([[1, "a"]] * 4, dtype=object), allow_pickle=True)
    np.save(tmp_path / "strings.npy", np.array([["a"] * 8] * 4))
    np.save(tmp_path / "vector.npy", np.ones(8))
    np.save(tmp_path / "width7.npy", np.ones((4, 7)))
    return [*cases, "complex.npy", "object.npy", "strings.npy", "vector.npy", "width7.npy"]


def test_cli_probe_errors_are_one_line_and_exit_2(tmp_path, state_dict, capsys) -> None:
    weights, _ = state_dict
    for name in _bad_inputs(tmp_path):
        out = tmp_path / f"out-{name}"
        argv = [
            "probe",
            "--model",
            str(weights),
            "--arch",
            "16,4",
            "--inputs",
            str(tmp_path / name),
            "--out",
            str(out),
            "--no-figure",
        ]
        assert main(argv) == 2, name
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("depthscope: error: "), (name, lines)
        assert "Traceback" not in captured.err
    capsys.readouterr()
    assert (
        main(
            [
                "probe",
                "--model",
                str(weights),
                "--arch",
                "16,4",
                "--inputs",
                str(tmp_path / "complex.npy"),
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )
    assert "complex" in capsys.readouterr().err


def test_cli_probe_marks_nonfinite_layers_and_exits_0(tmp_path, state_dict, capsys) -> None:
    _, model = state_dict
    with torch.no_grad():
        model[2].weight[0, 0] = math.nan
    nan_weights = tmp_path / "nan.pt"
    torch.save(model.state_dict(), nan_weights)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((5, 8)))
    out = tmp_path / "out"
    argv = [
        "probe",
        "--model",
        str(nan_weights),
        "--arch",
        "16,4",
        "--final-relu",
        "--inputs",
        str(tmp_path / "x.npy"),
        "--out",
        str(out),
        "--no-figure",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    table = captured.out.splitlines()
    assert "NON-FINITE" in table[-2] and "NON-FINITE" not in table[2]
    assert captured.err.count("\n") == 1 and captured.err.startswith("depthscope: warning:")
    data = json.loads((out / "layers.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert data["nonfinite"] == [False, False, True]


def test_probe_names_the_input_shape_for_any_model() -> None:
    # Before: a model that is not a Sequential starting with a Linear raised torch's raw
    # RuntimeError for inputs of the wrong width.
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(8, 16, bias=False)
            self.act = torch.nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.linear(x))

    with pytest.raises(DepthscopeError, match=r"inputs of shape \(4, 7\)"):
        probe(Block(), torch.randn(4, 7))
