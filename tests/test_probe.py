"""Tests of depthscope.probing: probe, theory overlay, TrainingMonitor, model loading, CLI."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depthscope import DepthscopeError
from depthscope.simulation._metrics import (
    PANEL_METRICS,
    effective_dimension_panel,
    ln_sin2_from_pair,
)

pytestmark = [
    pytest.mark.torch,
    # torch 2.13 deprecates TorchScript; the CLI still reads TorchScript files
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]
torch = pytest.importorskip("torch")
nn = torch.nn

from depthscope._optional import import_torch  # noqa: E402
from depthscope.cli import main  # noqa: E402
from depthscope.probing import METRICS, ProbeResult, TrainingMonitor, load_model, probe  # noqa: E402
from depthscope.probing._theory import predict_stack  # noqa: E402
from depthscope.simulation._samplers import dense_batch, dense_pair, draw_weights  # noqa: E402


def he_mlp(widths, input_dim, rng, *, dtype=torch.float64, bias=False):
    """Bias-free (default) Linear+ReLU stack with iid N(0, 2/fan_in) weights from ``rng``."""
    layers, fan_in = [], input_dim
    for width in widths:
        linear = nn.Linear(fan_in, width, bias=bias, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(draw_weights(rng, width, fan_in, "gaussian")))
        layers += [linear, nn.ReLU()]
        fan_in = width
    return nn.Sequential(*layers)


# --- the probe equals independent computations ------------------------------------------------


def test_probe_of_sequential_equals_direct_forward_float64() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(12, 40),
        nn.ReLU(),
        nn.Linear(40, 30),
        nn.LeakyReLU(0.1),
        nn.Linear(30, 20),
        nn.Tanh(),
    ).double()
    x = np.random.default_rng(0).standard_normal((9, 12))
    res = probe(model, torch.from_numpy(x), tolerance=1e-3)
    assert res.layers == ("input", "1", "3", "5")
    assert res.status == ("ok",) * 4 and res.dtype == "float64"
    # direct forward in numpy with the same weights, metrics from the whole activation matrix
    params = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in model[::2]]
    acts = [lambda z: np.maximum(z, 0), lambda z: np.where(z > 0, z, 0.1 * z), np.tanh]
    h, expected = x, [x]
    for (w, b), act in zip(params, acts, strict=True):
        h = act(h @ w.T + b)
        expected.append(h)
    for row, rep in enumerate(expected):
        panel = effective_dimension_panel(rep, active=rep > 0, tolerance=1e-3)
        ln, _ = ln_sin2_from_pair(rep[0], rep[1] - rep[0])
        np.testing.assert_allclose(res.ln_sin2[row], ln, rtol=1e-8, atol=1e-8)
        for name in PANEL_METRICS:
            np.testing.assert_allclose(res.metrics[name][row], panel[name], rtol=1e-8, atol=1e-8)
        dead = np.mean(~(rep > 0).any(axis=0))
        np.testing.assert_allclose(res.metrics["dead_fraction"][row], dead, rtol=0, atol=0)


def test_probe_equals_numpy_dense_sampler_on_same_weights() -> None:
    widths, n0, m, seed = [48, 32, 32, 24], 16, 10, 11
    inputs = np.random.default_rng(5).standard_normal((m, n0))
    panels, _dead = dense_batch(
        widths, inputs, [np.random.default_rng(seed)], n_inputs=m, input_dim=n0
    )
    model = he_mlp(widths, n0, np.random.default_rng(seed))  # same stream, same draw order
    res = probe(model, inputs)
    for name in PANEL_METRICS:
        got, want = res.metrics[name], panels[name][:, 0]
        if name in ("active_fraction", "mask_rank"):  # the simulator has no input mask
            got, want = got[1:], want[1:]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)
    # two inputs at θ0 = 0.7: the pair sampler draws the input plane first, then the weights
    gen = np.random.default_rng(seed)
    stats = dense_pair(widths, 0.7, [gen], input_dim=n0)
    want = [ln_sin2_from_pair_stats(*s) for s in stats]
    gen = np.random.default_rng(seed)
    q, r = np.linalg.qr(gen.standard_normal((n0, 2)))
    q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)
    u, v = q[:, 0], q[:, 1]
    pair = np.sqrt(n0) * np.stack([u, math.cos(0.7) * u + math.sin(0.7) * v])
    res2 = probe(he_mlp(widths, n0, gen), pair)
    np.testing.assert_allclose(res2.ln_sin2, want, rtol=1e-9)


def ln_sin2_from_pair_stats(aa, dd, ad, det):
    from depthscope.simulation._metrics import ln_sin2_from_gram

    return float(ln_sin2_from_gram(aa, dd, ad, det)[0][0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float32_and_float64_agree(dtype) -> None:
    model = he_mlp([64, 64, 64], 32, np.random.default_rng(2), dtype=torch.float64)
    x = np.random.default_rng(3).standard_normal((8, 32))
    ref = probe(model, x)
    res = probe(model.to(dtype), x)  # numpy input is cast to the model's dtype
    assert res.dtype == str(dtype).removeprefix("torch.")
    rtol = 1e-12 if dtype == torch.float64 else 1e-4
    np.testing.assert_allclose(res.ln_sin2, ref.ln_sin2, rtol=rtol)
    np.testing.assert_allclose(res.metrics["erank"], ref.metrics["erank"], rtol=rtol)
    assert res.metrics["numerical_rank"].tolist() == ref.metrics["numerical_rank"].tolist()


# --- hooks, modes, unsupported layers ---------------------------------------------------------


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


class Exploding(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_hooks_removed_and_state_restored_also_when_forward_raises() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.BatchNorm1d(8))
    model.train()
    model[1].eval()  # a mixed state must come back exactly
    flags = [m.training for m in model.modules()]
    buffers = [b.clone() for b in model.buffers()]
    x = torch.randn(6, 4)
    rng_state = torch.get_rng_state()
    for mode in ("eval", "train", "keep"):
        res = probe(model, x, mode=mode)
        assert res.mode == mode
        assert _hook_count(model) == 0
        assert [m.training for m in model.modules()] == flags
        for before, after in zip(buffers, model.buffers(), strict=True):
            assert torch.equal(before, after)
        assert torch.equal(torch.get_rng_state(), rng_state)
        assert all(p.grad is None for p in model.parameters())
    broken = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), Exploding())
    broken.train()
    with pytest.raises(RuntimeError, match="boom"):
        probe(broken, x)
    assert _hook_count(broken) == 0 and broken.training and broken[0].training


class Residual(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)
        self.relu = nn.ReLU()

    def forward(self, x):
        return x + self.relu(self.linear(x))


class TupleOut(nn.Module):
    def forward(self, x):
        return x, x


class NoTensorOut(nn.Module):
    def forward(self, x):
        return (None, "not a tensor")


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 6 * 6, 32, bias=False)
        self.fc_act = nn.ReLU()
        self.block = Residual(32)
        self.pair = TupleOut()
        self.head = nn.Linear(32, 16, bias=False)
        self.head_act = nn.Sigmoid()  # an activation the theory has no law for

    def forward(self, x):
        h = self.act(self.bn(self.conv(x)))
        h = self.block(self.fc_act(self.fc(self.flat(h))))
        h = self.pair(h)[0]
        return self.head_act(self.head(h))


def test_unsupported_layers_are_marked_and_the_rest_probed() -> None:
    torch.manual_seed(0)
    model = ConvNet().double()
    x = torch.randn(5, 3, 6, 6, dtype=torch.float64)
    res = probe(model, x)
    # the default selection adds the residual module x + relu(linear(x)), named as not of the
    # covered block form (its branch ends with the ReLU)
    assert res.layers == ("input", "act", "fc_act", "block.relu", "block", "head_act")
    assert "not the block form" in res.theory.status[4] and "ends with an" in res.theory.status[4]
    assert res.shapes[1] == (4, 6, 6) and res.n_features[1] == 144  # flattened per example
    assert all(s == "ok" for s in res.status)
    status = dict(zip(res.layers, res.theory.status, strict=True))
    assert status["act"].startswith("not covered")  # ReLU after BatchNorm
    assert "BatchNorm2d at layer 'bn'" in status["act"] and "normalisation" in status["act"]
    assert status["head_act"].startswith("not covered: Sigmoid is not a covered activation")
    # fc → fc_act → block.linear → block.relu is a bias-free chain from the flattened conv
    # features (the skip addition comes after it), so both ReLUs are covered as steps 1, 2
    assert status["fc_act"] == "covered" and status["block.relu"] == "covered"
    assert [(s.widths, s.steps) for s in res.theory.stacks] == [((32, 32), (1, 2))]
    assert status["input"].startswith("not covered")
    # a selected module whose output is a tuple is measured on its first tensor (issue 16)
    res2 = probe(model, x, ["pair", "conv", nn.BatchNorm2d, "block"])
    assert res2.layers == ("input", "conv", "bn", "block", "pair")
    assert res2.status[-1] == "ok" and res2.ln_sin2[-1] == res2.ln_sin2[-2]
    # an output with no tensor at all is reported, not crashed on
    res3 = probe(nn.Sequential(nn.Linear(4, 4), NoTensorOut()), torch.randn(3, 4), ["1"])
    assert res3.status[-1] == "unsupported: output is a tuple, not a tensor"
    assert math.isnan(res3.ln_sin2[-1]) and math.isnan(res3.metrics["erank"][-1])
    with pytest.raises(DepthscopeError, match="matches no module"):
        probe(model, x, "nothing*")


def test_bias_and_repeated_modules() -> None:
    relu = nn.ReLU()
    lin = nn.Linear(8, 8)
    model = nn.Sequential(lin, relu, nn.Linear(8, 8, bias=False), relu)
    res = probe(model, torch.randn(4, 8))
    assert res.layers == ("input", "1", "1#2")
    # the biased layer is covered beyond the paper (issue 16): a stack of its own, with its
    # measured σ_b; the bias-free layer after it starts a new stack, the paper's network
    biased, plain = res.theory.stacks
    assert biased.layers == ("input", "1") and biased.bias_std > 0 and not biased.paper
    assert plain.layers == ("1#2",) and plain.paper and res.theory.status[2] == "covered"
    with torch.no_grad():
        lin.bias.zero_()
    assert probe(model, torch.randn(4, 8)).theory.status == ("covered",) * 3


def test_conv_subsampling_channels_positions_features() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ReLU())
    x = torch.randn(4, 2, 5, 5)
    full = probe(model, x, theory=False)
    assert full.n_features[1] == 6 * 25
    with torch.no_grad():
        act = model(x).double().reshape(4, -1).numpy()
    ln, _ = ln_sin2_from_pair(act[0], act[1] - act[0])
    np.testing.assert_allclose(full.ln_sin2[1], ln, rtol=1e-10)
    assert probe(model, x, channels=2, rng=0).n_features[1] == 2 * 25
    assert probe(model, x, positions=7, rng=0).n_features[1] == 6 * 7
    assert probe(model, x, channels=3, positions=4, max_features=10, rng=0).n_features[1] == 10
    a = probe(model, x, max_features=20, rng=4)
    b = probe(model, x, max_features=20, rng=4)
    assert a.ln_sin2.tolist() == b.ln_sin2.tolist() and a.seed == 4
    # channel subsampling keeps whole channels: equal to probing those channels by hand
    seq = nn.Sequential(nn.Identity())
    y = torch.randn(3, 5, 7)  # (m, T, C) sequence, channels last
    res = probe(seq, y, "0", channels=2, channel_dim=-1, rng=9, include_input=False)
    assert res.n_features[0] == 2 * 5 and res.shapes[0] == (5, 7)


# --- the fast (Gram) route and the exact (QR) route -------------------------------------------


def test_rank_deficient_batch_takes_the_exact_route_and_equals_direct_forward(monkeypatch) -> None:
    """Duplicate and nearly parallel inputs make some layers' Gram matrices singular or ill
    conditioned: those layers fail the certificate and are redone by thin QR in a second pass.

    Negative control: without that pass, the failed rows would have no panel (NaN).
    """
    from depthscope.probing import _probe  # the driver, which calls _forward._exact_pass

    model = he_mlp([40, 40, 40], 12, np.random.default_rng(0))
    gen = np.random.default_rng(1)
    x = gen.standard_normal((9, 12))
    x[3] = x[2]  # algebraic rank 8 at most
    x[5] = x[4] + 1e-9 * gen.standard_normal(12)  # σ_min ≈ 1e-9 σ_max: only the QR keeps it
    redone = []
    original = _probe._exact_pass
    monkeypatch.setattr(
        _probe, "_exact_pass", lambda *a: (redone.append(len(a[3])), original(*a))[1]
    )
    res = probe(model, torch.from_numpy(x))
    assert redone and redone[0] == len(res.layers)  # every row: none is certified
    h, expected = x, [x]
    for layer in model[::2]:
        h = np.maximum(h @ layer.weight.detach().numpy().T, 0.0)
        expected.append(h)
    for row, rep in enumerate(expected):
        panel = effective_dimension_panel(rep, active=rep > 0, tolerance=1e-3)
        for name in PANEL_METRICS:
            np.testing.assert_allclose(res.metrics[name][row], panel[name], rtol=1e-8, atol=1e-8)
    assert res.metrics["rank"][0] == 8 and res.metrics["rank"].max() == 8
    monkeypatch.setattr(_probe, "_exact_pass", lambda *a: None)
    assert np.isnan(probe(model, torch.from_numpy(x)).metrics["erank"]).all()


@pytest.mark.parametrize("case", ["mlp", "conv-subsampled", "dropout-train"])
def test_exact_route_equals_fast_route_on_well_conditioned_layers(case, monkeypatch) -> None:
    """Forcing every certificate to fail sends every row through the second (QR) pass; on
    well-conditioned layers it must reproduce the Gram route. The pass must see the same
    features: the same random channel/position/feature subsets (replayed, not redrawn) and the
    same dropout masks (same torch random state).

    Negative control: redrawing the subsets in the second pass changes the subsampled rows.
    """
    from depthscope.probing import _certify, _reduce
    from depthscope.simulation import _gram_route

    torch.manual_seed(2)
    options: dict = {}
    if case == "mlp":
        model = he_mlp([48, 48, 32], 16, np.random.default_rng(3))
        x = torch.randn(10, 16, dtype=torch.float64)
    elif case == "conv-subsampled":
        model = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3))
        model = model.double()
        x = torch.randn(6, 2, 6, 6, dtype=torch.float64)
        options = {"layers": [nn.ReLU, nn.Conv2d], "channels": 5, "positions": 20, "rng": 7}
    else:
        model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 64))
        model = model.double()
        x = torch.randn(8, 16, dtype=torch.float64)
        options = {"layers": [nn.ReLU, nn.Dropout, nn.Linear], "mode": "train"}
    fast = probe(model, x, **options)

    def fail_all(grams, fractions, **kwargs):
        return np.zeros(len(fractions), dtype=bool)

    monkeypatch.setattr(_certify, "certify_eigenvalues", fail_all)
    exact = probe(model, x, **options)
    assert fast.layers == exact.layers
    for name in METRICS:
        np.testing.assert_allclose(
            exact.metrics[name], fast.metrics[name], rtol=1e-10, err_msg=name
        )
    np.testing.assert_array_equal(exact.ln_sin2, fast.ln_sin2)
    assert _gram_route.certify_eigenvalues is not fail_all  # the real certificate is untouched
    if case == "conv-subsampled":
        original = _reduce._features
        monkeypatch.setattr(
            _reduce, "_features", lambda t, h, sub, stream, picks=None: original(t, h, sub, stream)
        )
        redrawn = probe(model, x, **options)
        assert not np.allclose(redrawn.metrics["erank"][1:], fast.metrics["erank"][1:])


def test_device_reduction_path_equals_host_path(monkeypatch) -> None:
    """The torch-only reductions used for tensors on a GPU give the numpy host path's numbers
    (run here on CPU tensors, so that CI covers that code without a GPU)."""
    from depthscope.probing import _reduce

    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 16, 40, bias=False), nn.ReLU()
    ).double()
    x = torch.randn(7, 3, 6, 6, dtype=torch.float64)
    x[6] = x[5]  # one singular batch: the exact route runs too
    host = probe(model, x, layers=[nn.ReLU, nn.Conv2d])
    monkeypatch.setattr(_reduce, "_host_reduction", lambda feats: False)
    device = probe(model, x, layers=[nn.ReLU, nn.Conv2d])
    np.testing.assert_allclose(device.ln_sin2, host.ln_sin2, rtol=1e-12)
    for name in METRICS:
        np.testing.assert_allclose(
            device.metrics[name], host.metrics[name], rtol=1e-12, err_msg=name
        )


# --- results ------------------------------------------------------------------------------


def test_result_dict_frame_and_errors() -> None:
    model = he_mlp([16, 16], 8, np.random.default_rng(0))
    res = probe(model, np.random.default_rng(1).standard_normal((4, 8)))
    assert isinstance(res, ProbeResult) and len(res) == 3
    data = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert data["layers"] == ["input", "1", "3"] and set(data["metrics"]) == set(METRICS)
    assert data["theory"]["stacks"][0]["widths"] == [16, 16]
    assert res.records()[2]["theory_inside"] in (True, False)
    with pytest.raises(DepthscopeError, match="at least 2"):
        probe(model, np.ones((1, 8)))
    with pytest.raises(DepthscopeError, match="pair"):
        probe(model, np.ones((3, 8)), pair=(0, 0))
    with pytest.raises(DepthscopeError, match="TorchScript"):
        probe(torch.jit.script(model), np.ones((3, 8)))
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(DepthscopeError, match="pandas"):
            res.to_frame()
    else:
        assert list(res.to_frame().index) == ["input", "1", "3"]


def test_import_depthscope_does_not_import_torch_and_missing_torch_is_explained(
    monkeypatch,
) -> None:
    code = "import sys, depthscope, depthscope.probing; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DepthscopeError, match=r"depthscope\[torch\]"):
        import_torch()


@pytest.mark.parametrize(
    ("name", "module", "extra"),
    [
        ("import_torch", "torch", "torch"),
        ("import_yaml", "yaml", "yaml"),
        ("import_matplotlib_figure", "matplotlib.figure", "plot"),
        ("import_pyplot", "matplotlib", "plot"),
    ],
)
def test_every_optional_import_names_its_extra(name, module, extra, monkeypatch) -> None:
    from depthscope import _optional

    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DepthscopeError, match=rf"needs .*pip install 'depthscope\[{extra}\]'"):
        getattr(_optional, name)()


def test_probe_signature_has_no_private_parameter_and_the_monitor_path_takes_probes() -> None:
    """``probe`` shows only public parameters; ``probe_with_cache`` binds its options to
    ``probe``'s own signature (same defaults, same TypeError for a wrong option)."""
    import dataclasses
    import inspect

    from depthscope.probing import _probe

    parameters = list(inspect.signature(probe).parameters)
    assert not [p for p in parameters if p.startswith("_")]
    assert [f.name for f in dataclasses.fields(_probe._Settings)] == parameters[2:]
    model = he_mlp([8], 4, np.random.default_rng(0))
    with pytest.raises(TypeError, match="_input_cache"):
        probe(model, np.ones((2, 4)), _input_cache={})
    with pytest.raises(TypeError, match="tolerence"):
        _probe.probe_with_cache(model, np.ones((2, 4)), {}, tolerence=0.1)


# --- theory overlay: statistics with a negative control --------------------------------------


def test_theory_band_holds_over_random_models_and_a_wrong_width_is_detected() -> None:
    """Measured ln sin²θ of N random He bias-free MLPs vs the overlay of the markov predictor.

    Per model the overlay gives mean μ and sd s at the last layer; z = (X − μ)/s has mean 0
    and sd ≈ 1 if the theory is right, so |mean z| ≤ 4 SE with SE = sd(z)/√N (false alarm
    ≈ 6e-5), and the 95% band contains X in a Binomial(N, 0.95) number of models, checked at
    4 binomial SDs. Negative control: the same statistic with width 16 instead of 32 in the
    prediction (drift ≈ 2/n per layer larger) must fail the 4-SE test.
    """
    widths, n0, n_models = [32] * 8, 32, 300
    x = np.random.default_rng(0).standard_normal((2, n0))
    root = np.random.SeedSequence(20260601)
    measured, z, inside = [], [], 0
    for stream in root.spawn(n_models):
        res = probe(he_mlp(widths, n0, np.random.default_rng(stream)), x)
        assert res.theory.status == ("covered",) * 9
        measured.append(res.ln_sin2[-1])
        z.append((res.ln_sin2[-1] - res.theory.mean[-1]) / res.theory.sd[-1])
        inside += bool(res.theory.inside[-1])
    z = np.asarray(z)
    se = z.std(ddof=1) / math.sqrt(n_models)
    assert abs(z.mean()) < 4 * se, (z.mean(), se)
    assert abs(inside - 0.95 * n_models) < 4 * math.sqrt(n_models * 0.95 * 0.05), inside
    theta0 = res.theory.stacks[0].theta0
    mean_w, sd_w, _, _ = predict_stack([16] * 8, theta0)
    z_wrong = (np.asarray(measured) - mean_w[-1]) / sd_w[-1]
    se_wrong = z_wrong.std(ddof=1) / math.sqrt(n_models)
    assert abs(z_wrong.mean()) > 4 * se_wrong, (z_wrong.mean(), se_wrong)


# --- TrainingMonitor --------------------------------------------------------------------------


def test_training_monitor_logs_at_the_right_steps(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    data, target = torch.randn(64, 6), torch.randn(64, 1)
    monitor = TrainingMonitor(model, data[:8], every=3, log_dir=tmp_path / "log", tensorboard=False)
    monitor.record(0)
    probed = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(data), target)
        loss.backward()
        optimizer.step()
        probed.append(monitor.step() is not None)
    monitor.close()
    assert probed == [k % 3 == 0 for k in range(1, 11)]
    assert [s for s, _ in monitor.history] == [0, 3, 6, 9]
    with open(tmp_path / "log" / "probe_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [s for s in (0, 3, 6, 9) for _ in range(3)]
    assert {r["layer"] for r in rows} == {"input", "1", "3"}
    lines = (tmp_path / "log" / "probe_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 3, 6, 9]
    steps, values = monitor.series("erank", "3")
    assert steps.tolist() == [0, 3, 6, 9] and np.all(values > 0)
    assert [float(r["erank"]) for r in rows if r["layer"] == "3"] == values.tolist()
    assert model.training and _hook_count(model) == 0
    assert monitor.step(12) is not None and monitor.step(13) is None  # after close(): appends
    monitor.close()
    with open(tmp_path / "log" / "probe_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [s for s in (0, 3, 6, 9, 12) for _ in range(3)]


def test_training_monitor_copies_an_array_batch() -> None:
    """An array batch is copied at construction: changing the array later changes nothing (a
    cached input row could not notice such a change, numpy arrays have no version counter)."""
    model = he_mlp([16, 16], 6, np.random.default_rng(0))
    batch = np.random.default_rng(1).standard_normal((6, 6))
    original = batch.copy()
    monitor = TrainingMonitor(model, batch, every=1)
    first = monitor.step()
    batch[1] = batch[0]
    second = monitor.step()
    np.testing.assert_array_equal(second.ln_sin2, first.ln_sin2)
    np.testing.assert_array_equal(second.ln_sin2, probe(model, original).ln_sin2)


def test_two_monitors_on_one_log_dir_leave_readable_logs(tmp_path: Path) -> None:
    """A second monitor on the same folder replaces the logs; the first one's later lines are
    appended after it (the files are open in append mode), not written into a hole of NULs."""
    model = he_mlp([8], 4, np.random.default_rng(0))
    batch = np.random.default_rng(1).standard_normal((5, 4))
    first = TrainingMonitor(model, batch, log_dir=tmp_path, tensorboard=False)
    first.record(1)
    first.record(2)
    second = TrainingMonitor(model, batch, log_dir=tmp_path, tensorboard=False)
    second.record(10)
    first.record(3)
    lines = (tmp_path / "probe_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 3]
    with open(tmp_path / "probe_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [10, 10, 3, 3]
    first.close()
    second.close()


def test_training_monitor_reuses_input_row_only_while_the_batch_is_unchanged() -> None:
    """The monitor keeps the fixed batch's own row and input angle; its probes equal fresh ones.

    Negative control: after an in-place change of the batch, a stale row would keep the old
    input angle (and a stale θ₀ the old theory band); the cache key carries the tensor's
    version counter, so both are recomputed.
    """
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 32, bias=False), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
    batch = torch.randn(8, 6)
    monitor = TrainingMonitor(model, batch, every=1)

    def same(a: ProbeResult, b: ProbeResult) -> None:
        assert a.layers == b.layers
        np.testing.assert_array_equal(a.ln_sin2, b.ln_sin2)
        for name in METRICS:
            np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
        assert a.theory.stacks == b.theory.stacks  # θ₀ of each stack
        np.testing.assert_array_equal(a.theory.mean, b.theory.mean)

    for _ in range(3):
        same(monitor.step(), probe(model, batch, rng=0))
    assert len(monitor._input_cache) == 1
    before = monitor.history[-1][1].ln_sin2[0]
    with torch.no_grad():
        batch[1] = batch[0] + 1e-3 * batch[1]  # in place: the tracked pair almost aligned
    after = monitor.step()
    same(after, probe(model, batch, rng=0))
    assert after.ln_sin2[0] < before - 5
    # With subsampling the input row draws from the random streams: never cached.
    sub = TrainingMonitor(model, batch, every=1, max_features=4)
    for _ in range(2):
        same(sub.step(), probe(model, batch, rng=0, max_features=4))
    assert sub._input_cache == {}


def test_training_monitor_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    with TrainingMonitor(model, torch.randn(4, 4), every=1, log_dir=tmp_path) as monitor:
        monitor.step()
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


# --- loading and CLI -------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(10, 32, bias=False),
        nn.ReLU(),
        nn.Linear(32, 32, bias=False),
        nn.ReLU(),
        nn.Linear(32, 3, bias=False),
    )
    x = np.random.default_rng(0).standard_normal((6, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    torch.jit.script(model).save(str(tmp_path / "script.pt"))
    torch.save(model.state_dict(), tmp_path / "state.pt")
    return model, x, tmp_path


def test_load_model_rebuilds_torchscript_and_state_dict(saved) -> None:
    model, x, tmp = saved
    want = probe(model, x)
    for loaded in (load_model(tmp / "script.pt"), load_model(tmp / "state.pt", arch="32x2,3")):
        got = probe(loaded, x)
        assert got.layers == want.layers
        np.testing.assert_allclose(got.ln_sin2, want.ln_sin2, rtol=1e-12)
    with pytest.raises(DepthscopeError, match="does not fit"):
        load_model(tmp / "state.pt", arch="16x2,3")


def test_cli_probe_torchscript_and_state_dict(saved, capsys) -> None:
    pytest.importorskip("matplotlib")
    model, x, tmp = saved
    out = tmp / "run1"
    assert (
        main(
            [
                "probe",
                "--model",
                str(tmp / "script.pt"),
                "--inputs",
                str(tmp / "x.npy"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == ["layers.csv", "layers.json", "manifest.json", "probe.png", "probe.svg"]
    data = json.loads((out / "layers.json").read_text())
    np.testing.assert_allclose(data["ln_sin2"], probe(model, x).ln_sin2, rtol=1e-12)
    assert data["theory"]["status"] == ["covered"] * 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["shape"] == [6, 10] and "manifest.json" in manifest["files"]
    printed = capsys.readouterr().out
    assert printed.startswith("layer") and "not covered" not in printed
    out2 = tmp / "run2"
    assert (
        main(
            [
                "probe",
                "--model",
                str(tmp / "state.pt"),
                "--arch",
                "32x2,3",
                "--inputs",
                str(tmp / "x.npy"),
                "--out",
                str(out2),
                "--no-figure",
            ]
        )
        == 0
    )
    assert json.loads((out2 / "layers.json").read_text())["ln_sin2"] == data["ln_sin2"]


def test_cli_probe_without_matplotlib_keeps_the_table_and_says_why(
    saved, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No matplotlib: a one-line error naming the fix, exit status 2, the table on disk."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _model, _x, tmp = saved
    out = tmp / "nofig"
    args = ["probe", "--model", str(tmp / "script.pt"), "--inputs", str(tmp / "x.npy")]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err and "--no-figure" in err and "Traceback" not in err
    assert (out / "layers.csv").is_file() and (out / "layers.json").is_file()


def test_cli_probe_rejects_files_that_are_not_models(saved, capsys) -> None:
    model, _x, tmp = saved
    (tmp / "junk.pt").write_text("not a model")
    torch.save(model, tmp / "pickled.pt")  # a whole pickled module: never unpickled
    cases = [
        (["--model", str(tmp / "junk.pt")], "not a model file"),
        (["--model", str(tmp / "x.npy")], "not a model file"),
        (["--model", str(tmp / "pickled.pt")], "never unpickles"),
        (["--model", str(tmp / "state.pt")], "pass --arch"),
        (["--model", str(tmp / "missing.pt")], "does not exist"),
    ]
    for extra, message in cases:
        code = main(["probe", *extra, "--inputs", str(tmp / "x.npy"), "--out", str(tmp / "o")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, err
    np.save(tmp / "one.npy", np.ones((1, 10)))
    code = main(
        [
            "probe",
            "--model",
            str(tmp / "script.pt"),
            "--inputs",
            str(tmp / "one.npy"),
            "--out",
            str(tmp / "o"),
        ]
    )
    assert code == 2 and "m ≥ 2" in capsys.readouterr().err


# --- CUDA ------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("on_device", [False, True])
def test_cuda_probe_equals_cpu_probe(on_device: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from depthscope.probing import _reduce

    if on_device:  # reduce every layer on the GPU (by default only large ones are)
        monkeypatch.setattr(_reduce, "_HOST_ELEMENTS", 0)
    model = he_mlp([128] * 6, 64, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((32, 64))
    cpu = probe(model, x)
    gpu = probe(model.cuda(), x)
    assert gpu.device.startswith("cuda")
    np.testing.assert_allclose(gpu.ln_sin2, cpu.ln_sin2, rtol=1e-9)
    for name in METRICS:
        np.testing.assert_allclose(gpu.metrics[name], cpu.metrics[name], rtol=1e-8, atol=1e-10)
    assert gpu.theory.status == cpu.theory.status


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_monitor_logs_and_leaves_no_hooks(tmp_path: Path) -> None:
    model = he_mlp([64] * 3, 16, np.random.default_rng(0)).cuda().float()
    batch = torch.randn(8, 16, device="cuda")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    with TrainingMonitor(model, batch, every=2, log_dir=tmp_path, tensorboard=False) as monitor:
        for _ in range(6):
            optimizer.zero_grad()
            model(batch).square().mean().backward()
            optimizer.step()
            monitor.step()
    assert [step for step, _ in monitor.history] == [2, 4, 6]
    assert all(result.device.startswith("cuda") for _, result in monitor.history)
    assert _hook_count(model) == 0
    rows = list(csv.DictReader((tmp_path / "probe_log.csv").read_text().splitlines()))
    assert sorted({int(r["step"]) for r in rows}) == [2, 4, 6]


# --- Lightning ------------------------------------------------------------------------------


# Lightning warns about the tiny loader (no workers, few batches) and, on a GPU machine, about
# the unused GPU: its warnings are not the subject here.
@pytest.mark.filterwarnings("ignore")
def test_lightning_callback_probes_every_k_global_steps(tmp_path: Path) -> None:
    pl = pytest.importorskip("lightning.pytorch")
    from depthscope.probing import lightning_callback

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: list[torch.Tensor], _index: int) -> torch.Tensor:
            return self(batch[0]).square().mean()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=1e-2)

    data = torch.utils.data.TensorDataset(torch.randn(64, 8))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    callback = lightning_callback(torch.randn(6, 8), every=3, log_dir=tmp_path / "log")
    trainer = pl.Trainer(
        max_steps=7,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[callback],
    )
    module = Module()
    trainer.fit(module, loader)
    # Lightning's global step counts optimiser steps: 1..7 after each batch; 3 and 6 are probed.
    assert [step for step, _ in callback.monitor.history] == [3, 6]
    rows = list(csv.DictReader((tmp_path / "log" / "probe_log.csv").read_text().splitlines()))
    assert sorted({int(r["step"]) for r in rows}) == [3, 6]
    assert {r["layer"] for r in rows} == {"input", "net.1", "net.3"}
    assert _hook_count(module) == 0
