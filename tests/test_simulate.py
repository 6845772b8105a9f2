"""Fast tests of depthscope.simulate, its samplers, the torch backend and the CLI."""

from __future__ import annotations

import json
import math
import sys
import threading

import numpy as np
import pytest
from scipy import stats

from depthscope import DepthscopeError
from depthscope.cli import main
from depthscope.simulation._metrics import PANEL_METRICS
from depthscope.simulation._samplers import draw_weights, parse_activation, standard_normal
from depthscope.simulation._simulate import SimulationResult, simulate

# --- shapes, reference values ----------------------------------------------------------------


def test_two_input_result_shapes_and_input_row() -> None:
    res = simulate([16] * 4, theta0=0.1, n_networks=7, rng=1)
    assert isinstance(res, SimulationResult)
    assert res.ln_sin2 is not None and res.ln_sin2.shape == (5, 7)
    assert res.dead.shape == (5, 7) and res.dead_fraction.shape == (5,)
    # mpmath: 2*log(sin(0.1)) = -4.60850463113853
    np.testing.assert_allclose(res.ln_sin2[0], -4.60850463113853, rtol=1e-13)
    assert np.all(res.ln_sin2[np.isfinite(res.ln_sin2)] <= 0.0)
    assert res.configuration()["architecture"] == "16x4" and res.seed == 1


def test_one_layer_mean_matches_theorem_1() -> None:
    # docs/theory/angle-theory.md §9 (double precision, Theorem 1): μ(0.1, 256) = −4.63924043,
    # σ²(0.1, 256) = 0.02926232; Theorem 1 is exact to O(n⁻²) ≈ 1e-5 in the mean and
    # underestimates the variance by ≈ 5 % at n = 256 (§7).
    res = simulate([256], theta0=0.1, n_networks=40_000, rng=7)
    row = res.ln_sin2[1]
    se = row.std(ddof=1) / math.sqrt(row.size)
    assert abs(row.mean() - (-4.63924043)) < 4 * se + 1e-4
    assert 0.97 < row.var(ddof=1) / 0.02926232 < 1.15


def test_antiparallel_inputs_become_orthogonal_after_relu() -> None:
    # b = −a: a ReLU layer gives disjoint supports, so θ₁ = π/2 exactly: ln sin²θ₁ = 0.
    res = simulate([32, 32], theta0=math.pi, n_networks=5, rng=0)
    assert np.all(res.ln_sin2[0] == -math.inf)
    np.testing.assert_allclose(res.ln_sin2[1], 0.0, atol=1e-12)


def test_theta_zero_stays_zero() -> None:
    res = simulate([64] * 5, theta0=0.0, n_networks=20, rng=3)
    assert np.all(res.ln_sin2 == -math.inf)
    np.testing.assert_array_equal(res.collapsed_fraction, 1.0)
    assert res.summary()["mean"] == [None] * 6


# --- reproducibility -------------------------------------------------------------------------


def test_same_seed_same_numbers_and_prefix_property() -> None:
    full = simulate([64] * 6, theta0=0.5, n_networks=300, rng=11)
    again = simulate([64] * 6, theta0=0.5, n_networks=300, rng=11, memory_budget=200_000)
    prefix = simulate([64] * 6, theta0=0.5, n_networks=37, rng=11, memory_budget=120_000)
    np.testing.assert_array_equal(full.ln_sin2, again.ln_sin2)
    np.testing.assert_array_equal(full.ln_sin2[:, :37], prefix.ln_sin2)
    other = simulate([64] * 6, theta0=0.5, n_networks=37, rng=12)
    assert not np.array_equal(other.ln_sin2, prefix.ln_sin2)


def test_generator_rng_advances_and_records_its_stream() -> None:
    gen = np.random.default_rng(5)
    first = simulate([8, 8], theta0=1.0, n_networks=4, rng=gen)
    second = simulate([8, 8], theta0=1.0, n_networks=4, rng=gen)
    assert not np.array_equal(first.ln_sin2, second.ln_sin2)
    assert first.spawn_key != second.spawn_key and first.seed == 5
    fresh = simulate([8, 8], theta0=1.0, n_networks=4)
    assert isinstance(fresh.seed, int)
    np.testing.assert_array_equal(
        simulate([8, 8], theta0=1.0, n_networks=4, rng=fresh.seed).ln_sin2, fresh.ln_sin2
    )


def test_batch_prefix_property_across_chunks() -> None:
    full = simulate([32] * 3, inputs=5, n_networks=9, rng=2, sampler="dense")
    part = simulate([32] * 3, inputs=5, n_networks=4, rng=2, sampler="dense", memory_budget=600_000)
    for name in PANEL_METRICS:
        np.testing.assert_array_equal(full.panel[name][:, :4], part.panel[name])


# --- Gram chain against dense weights (independent methods) ------------------------------------


@pytest.mark.parametrize(
    ("activation", "bias_std"), [("relu", 0.0), ("leaky:0.3", 0.5), ("leaky:-0.5", 0.0)]
)
def test_gram_chain_agrees_with_dense_weights(activation: str, bias_std: float) -> None:
    kw = {"n_networks": 1500, "activation": activation, "bias_std": bias_std}
    gram = simulate([32] * 6, theta0=1.0, rng=1, **kw)
    dense = simulate([32] * 6, theta0=1.0, rng=2, sampler="dense", input_dim=32, **kw)
    for layer in (1, 3, 6):
        p = stats.ks_2samp(gram.ln_sin2[layer], dense.ln_sin2[layer]).pvalue
        assert p > 1e-3, (layer, p)


def test_negative_control_wrong_width_is_rejected() -> None:
    gram = simulate([32] * 8, theta0=1.0, n_networks=3000, rng=1)
    wrong = simulate([24] * 8, theta0=1.0, n_networks=3000, rng=3, sampler="dense")
    assert stats.ks_2samp(gram.ln_sin2[8], wrong.ln_sin2[8]).pvalue < 1e-3


def test_orthogonal_init_differs_from_gaussian() -> None:
    # The Gram chain is not exact for orthogonal weights: the dense sampler must show it.
    gram = simulate([32] * 8, theta0=0.5, n_networks=1500, rng=1)
    ortho = simulate(
        [32] * 8, theta0=0.5, n_networks=1500, rng=2, sampler="dense", init="orthogonal"
    )
    assert stats.ks_2samp(gram.ln_sin2[8], ortho.ln_sin2[8]).pvalue < 1e-6


def test_batch_gram_chain_agrees_with_dense_weights() -> None:
    gram = simulate([48] * 4, inputs=6, n_networks=300, rng=1, input_dim=20)
    dense = simulate([48] * 4, inputs=6, n_networks=300, rng=2, input_dim=20, sampler="dense")
    for name in ("erank", "mean_cosine", "active_fraction"):
        p = stats.ks_2samp(gram.panel[name][4], dense.panel[name][4]).pvalue
        assert p > 1e-3, (name, p)
    np.testing.assert_array_equal(gram.panel["rank"][1:], 6.0)


# --- weights, random numbers, activation -----------------------------------------------------


def test_weight_initializations() -> None:
    gen = np.random.default_rng(0)
    w = draw_weights(gen, 300, 200, "gaussian")
    assert w.var() == pytest.approx(2 / 200, rel=0.02)
    t = draw_weights(gen, 300, 200, "truncated_normal")
    assert np.abs(t).max() <= 2 * math.sqrt(2 / 200) / 0.87962566103423978
    assert t.var() == pytest.approx(2 / 200, rel=0.02)
    for shape in ((30, 20), (20, 30)):
        q = draw_weights(gen, *shape, "orthogonal")
        small = min(shape)
        gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
        np.testing.assert_allclose(gram, 2 * np.eye(small), atol=1e-12)
    with pytest.raises(DepthscopeError, match="init"):
        draw_weights(gen, 2, 2, "xavier")


def test_box_muller_normals() -> None:
    out = np.empty(200_001)
    standard_normal(np.random.default_rng(4), out)
    assert stats.kstest(out, "norm").pvalue > 1e-3
    half = out.size // 2 + 1
    assert abs(np.corrcoef(out[: half - 1], out[half:])[0, 1]) < 0.01


def test_parse_activation() -> None:
    assert parse_activation("relu") == 0.0
    assert parse_activation("leaky:-0.5") == -0.5 and parse_activation(0.1) == 0.1
    for bad in ("tanh", "leaky:", "leaky:x", "leaky:nan"):
        with pytest.raises(DepthscopeError, match="activation"):
            parse_activation(bad)


# --- dead layers ---------------------------------------------------------------------------


def test_dead_layers_are_counted_and_marked() -> None:
    res = simulate([4] * 8, theta0=1.0, n_networks=400, rng=0)
    assert res.dead_fraction[-1] > 0.05
    assert np.array_equal(np.isnan(res.ln_sin2), res.dead)
    summary = res.summary()
    live = np.isfinite(res.ln_sin2[-1])
    assert summary["n_used"][-1] == live.sum()
    assert summary["mean"][-1] == pytest.approx(res.ln_sin2[-1][live].mean())


def test_leaky_networks_never_die() -> None:
    res = simulate([2] * 12, theta0=1.0, n_networks=200, rng=0, activation="leaky:0.1")
    assert not res.dead.any()


# --- m inputs ------------------------------------------------------------------------------


def test_batch_result_and_inputs_file(tmp_path) -> None:
    x = np.random.default_rng(0).standard_normal((4, 10))
    path = tmp_path / "x.npy"
    np.save(path, x)
    res = simulate([16, 16], inputs=str(path), n_networks=3, rng=0)
    same = simulate([16, 16], inputs=x, n_networks=3, rng=0)
    assert res.ln_sin2 is None and res.input_dim == 10 and res.n_inputs == 4
    for name in PANEL_METRICS:
        assert res.panel[name].shape == (3, 3)
        np.testing.assert_array_equal(res.panel[name], same.panel[name])
    assert np.isnan(res.panel["mask_rank"][0]).all()
    np.testing.assert_array_equal(res.panel["rank"][0], 4.0)
    summary = res.summary()
    assert set(PANEL_METRICS) <= set(summary) and summary["tolerance"] == 1e-3


def test_rank_deficient_inputs() -> None:
    base = np.random.default_rng(0).standard_normal((2, 30))
    x = np.random.default_rng(1).standard_normal((6, 2)) @ base  # 6 inputs in a plane
    res = simulate([64] * 3, inputs=x, n_networks=5, rng=0)
    np.testing.assert_array_equal(res.panel["rank"][0], 2.0)
    assert np.all(res.panel["rank"][1:] > 2.0)  # ReLU creates new directions


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"widths": [16, 0], "theta0": 1.0}, "positive"),
        ({"widths": "16x0", "theta0": 1.0}, "zero"),
        ({"widths": [16], "theta0": 3.2}, "outside"),
        ({"widths": [16], "theta0": -0.1}, "outside"),
        ({"widths": [16]}, "exactly one"),
        ({"widths": [16], "theta0": 1.0, "inputs": 3}, "exactly one"),
        ({"widths": [16], "inputs": "/no/such/file.npy"}, "cannot read inputs"),
        ({"widths": [16], "inputs": 1}, "inputs"),
        ({"widths": [16], "inputs": np.ones(3)}, "shape"),
        ({"widths": [16], "theta0": 1.0, "init": "orthogonal"}, "sampler='dense'"),
        ({"widths": [16], "theta0": 1.0, "sampler": "exact"}, "sampler"),
        ({"widths": [16], "theta0": 1.0, "bias_std": -1.0}, "bias_std"),
        ({"widths": [16], "theta0": 1.0, "n_networks": 0}, "n_networks"),
        ({"widths": [16], "inputs": 3, "tolerance": 2.0}, "tolerance"),
        ({"widths": [4096] * 3, "theta0": 1.0, "sampler": "dense", "memory_budget": 10**8}, "MiB"),
    ],
)
def test_bad_input_raises_depthscope_error(kwargs: dict, match: str) -> None:
    kwargs = {"n_networks": 3, "rng": 0, **kwargs}
    with pytest.raises(DepthscopeError, match=match):
        simulate(**kwargs)


def test_unreadable_inputs_file(tmp_path) -> None:
    bad = tmp_path / "bad.npy"
    bad.write_text("not numpy")
    with pytest.raises(DepthscopeError, match="cannot read inputs"):
        simulate([8], inputs=bad, n_networks=1)


def test_memory_budget_error_carries_estimate() -> None:
    with pytest.raises(DepthscopeError, match=r"needs about [\d.]+ MiB"):
        simulate([1024] * 4, inputs=512, n_networks=2, memory_budget=2**20)


def test_memory_beyond_the_machine_is_refused_whatever_the_budget() -> None:
    # Sized from this machine: the results alone (one float64 per layer and network, 10^4
    # layers) take twice its physical memory. A fixed 10^6 networks (80 GB of results) fitted
    # on a 128 GiB machine, where the test then ran a simulation for hours.
    from depthscope.simulation._plan import _physical_memory

    physical = _physical_memory()
    if physical is None:
        pytest.skip("this platform does not report its physical memory")
    n_networks = 2 * physical // (8 * 10_000) + 1
    with pytest.raises(DepthscopeError, match="more than this machine's memory"):
        simulate([8] * 10_000, theta0=1.0, n_networks=n_networks, memory_budget=2**62)


def test_cli_memory_budget(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "512x4", "--inputs", "256", "--networks", "2", "--seed", "0"]
    assert main([*args, "--memory-budget", "1"]) == 2
    err = capsys.readouterr().err
    assert "needs about" in err and "--memory-budget" in err
    assert main([*args, "--memory-budget", "0"]) == 2
    assert "positive number of MiB" in capsys.readouterr().err
    assert main([*args, "--memory-budget", "2048", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rank"]["mean"][0] == 256


def test_progress_callback() -> None:
    calls: list[tuple[int, int]] = []
    simulate(
        [64] * 3,
        theta0=1.0,
        n_networks=50,
        rng=0,
        memory_budget=120_000,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert len(calls) > 1 and calls[-1] == (50, 50)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# --- torch backend ----------------------------------------------------------------------------


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DepthscopeError, match=r"depthscope\[torch\]"):
        simulate([8], theta0=1.0, n_networks=2, device="torch")


@pytest.mark.torch
def test_torch_cpu_backend_agrees_with_numpy() -> None:
    pytest.importorskip("torch")
    ref = simulate([32] * 5, theta0=1.0, n_networks=2000, rng=1)
    tor = simulate([32] * 5, theta0=1.0, n_networks=2000, rng=2, device="torch:cpu")
    assert tor.device == "torch:cpu"
    for layer in (1, 5):
        assert stats.ks_2samp(ref.ln_sin2[layer], tor.ln_sin2[layer]).pvalue > 1e-3
    prefix = simulate(
        [32] * 5, theta0=1.0, n_networks=30, rng=2, device="torch:cpu", memory_budget=150_000
    )
    np.testing.assert_array_equal(prefix.ln_sin2, tor.ln_sin2[:, :30])
    batch = simulate([32] * 3, inputs=4, n_networks=20, rng=0, device="torch:cpu")
    np.testing.assert_array_equal(batch.panel["rank"], 4.0)
    with pytest.raises(DepthscopeError, match="Gram sampler only"):
        simulate([8], theta0=1.0, n_networks=2, sampler="dense", device="torch:cpu")


@pytest.mark.torch
def test_panel_on_host_threads_is_the_one_call_panel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA run computes the panel's SVDs on host threads, networks split into groups: the
    joined panel is bit for bit the one-call panel (run here on the CPU with 3 threads for 7
    networks: uneven groups; with biases and a leaky slope, so that every metric is filled)."""
    pytest.importorskip("torch")
    from depthscope.simulation.backends import _torch

    kwargs = {"inputs": 6, "n_networks": 7, "rng": 4, "device": "torch:cpu", "bias_std": 0.2}
    one = simulate([16, 12, 16], activation="leaky:0.2", **kwargs)
    monkeypatch.setattr(_torch, "_host_workers", lambda device: 3)
    threads: set[str] = set()
    panel = _torch.panel_from_factors

    def spy(*args: object, **kw: object) -> object:
        threads.add(threading.current_thread().name)
        return panel(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(_torch, "panel_from_factors", spy)
    split = simulate([16, 12, 16], activation="leaky:0.2", **kwargs)
    assert threads and all(name.startswith("depthscope-panel") for name in threads)
    assert set(one.panel) == set(split.panel)
    for name, values in one.panel.items():
        np.testing.assert_array_equal(split.panel[name], values, err_msg=name)
    assert np.isfinite(one.panel["mask_rank"][1:]).all()  # layer 0 (the inputs): no mask


@pytest.mark.torch
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_counter_based_normals(device: str) -> None:
    """The torch backend's random numbers: SplitMix64 bit for bit, then N(0, 1) by KS.

    Reference: the first five outputs of SplitMix64 for seed 1234567, as published on Rosetta
    Code ("Pseudo-random numbers/Splitmix64") from the reference implementation splitmix64.c.
    """
    torch = pytest.importorskip("torch")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from depthscope.simulation.backends._torch import counter_normals, splitmix64

    bits = splitmix64(torch, torch.tensor([1234567], device=device), 0, 5)
    assert bits.cpu().numpy().view(np.uint64)[0].tolist() == [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]
    seeds = torch.arange(20, device=device, dtype=torch.int64) * 977 + 5
    z = counter_normals(torch, seeds, 0, 10_001).cpu().numpy()
    assert z.shape == (20, 10_001)
    # Any block at an even offset is the same slice of the stream, whatever it is drawn with.
    part = counter_normals(torch, seeds[3:5], 4_000, 999).cpu().numpy()
    np.testing.assert_array_equal(part, z[3:5, 4_000:4_999])
    flat = z.ravel()
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    assert abs(flat.mean()) < 4 / math.sqrt(flat.size)
    assert abs(flat.var() - 1) < 4 * math.sqrt(2 / flat.size)
    # Negative control: the same test rejects Student's t with 30 degrees of freedom.
    heavy = np.random.default_rng(0).standard_t(30, size=flat.size)
    assert stats.kstest(heavy, "norm").pvalue < 1e-3 or abs(heavy.var() - 1) > 4 * math.sqrt(
        2 / flat.size
    )
    # Neighbouring networks' streams are uncorrelated.
    assert abs(np.corrcoef(z[0], z[1])[0, 1]) < 4 / math.sqrt(z.shape[1])


@pytest.mark.gpu
def test_cuda_backend() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    ref = simulate([64] * 5, theta0=0.5, n_networks=2000, rng=1)
    gpu = simulate([64] * 5, theta0=0.5, n_networks=2000, rng=2, device="cuda")
    assert gpu.device.startswith("torch:cuda")
    assert stats.ks_2samp(ref.ln_sin2[5], gpu.ln_sin2[5]).pvalue > 1e-3
    # Prefix stability on the device: the first 30 networks do not depend on the chunk size.
    prefix = simulate(
        [64] * 5, theta0=0.5, n_networks=30, rng=2, device="cuda", memory_budget=200_000
    )
    np.testing.assert_array_equal(prefix.ln_sin2, gpu.ln_sin2[:, :30])
    # The m-input chain on the device agrees in distribution with numpy's.
    ref_panel = simulate([128] * 6, inputs=8, n_networks=400, rng=3, input_dim=32).panel
    gpu_panel = simulate(
        [128] * 6, inputs=8, n_networks=400, rng=4, input_dim=32, device="cuda"
    ).panel
    for name in ("erank", "erank_centered", "mean_cosine", "active_fraction"):
        assert stats.ks_2samp(ref_panel[name][6], gpu_panel[name][6]).pvalue > 1e-3, name
    np.testing.assert_array_equal(gpu_panel["rank"], 8.0)


# --- command line ----------------------------------------------------------------------------


def test_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "64x3", "--theta0", "0.1", "--networks", "50", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "layer" in out and "-4.6085" in out and len(out.strip().splitlines()) == 3 + 4


def test_cli_json_two_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    main(["simulate", "64x3", "--theta0", "0.1", "--networks", "50", "--seed", "1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["layers"] == [0, 1, 2, 3]
    assert {"mean", "sd", "dead_fraction"} <= set(data)
    assert data["mean"][0] == pytest.approx(-4.60850463113853)
    res = simulate([64] * 3, theta0=0.1, n_networks=50, rng=1)
    assert data["mean"] == res.summary()["mean"]


def test_cli_json_batch(capsys: pytest.CaptureFixture[str]) -> None:
    main(["simulate", "32x2", "--inputs", "4", "--networks", "5", "--seed", "0", "--json"])
    data = json.loads(capsys.readouterr().out)
    for name in PANEL_METRICS:
        assert len(data[name]["mean"]) == 3 and len(data[name]["sd"]) == 3
    assert data["tolerance"] == 1e-3 and data["layers"] == [0, 1, 2]
    assert data["mask_rank"]["mean"][0] is None


def test_cli_save_and_refuse_overwrite(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = [
        "simulate",
        "16x2",
        "--theta0",
        "1",
        "--networks",
        "4",
        "--seed",
        "3",
        "--save",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["configuration"]["widths"] == [16, 16]
    assert {"depthscope_version", "machine", "duration_s"} <= set(manifest)
    with np.load(out / "arrays.npz") as arrays:
        assert arrays["ln_sin2"].shape == (3, 4)
    capsys.readouterr()
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "0x5", "--theta0", "1", "--networks", "2"],
        ["simulate", "8x2", "--theta0", "4", "--networks", "2"],
        ["simulate", "8x2", "--inputs-file", "/no/such.npy", "--networks", "2"],
        ["simulate", "8x2", "--theta0", "1", "--networks", "2", "--activation", "swish"],
    ],
)
def test_cli_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("depthscope: error:") and "Traceback" not in err


def test_two_fixed_inputs_give_a_panel_not_an_angle() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    res = simulate([16], inputs=x, n_networks=3, rng=0)
    assert res.ln_sin2 is None and res.panel["rank"].shape == (2, 3)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_panel_is_scale_free_at_the_ends_of_float64(scale: float) -> None:
    """Participation ratio and stable rank are scale-free; from inputs of size 1e300 they were
    NaN (σ⁴ overflowed) and from 1e-300 0/0. The same networks at scale 1 are the reference."""
    x = np.random.default_rng(0).standard_normal((8, 32))
    ref = simulate([32] * 3, inputs=x, n_networks=5, rng=0).panel
    got = simulate([32] * 3, inputs=x * scale, n_networks=5, rng=0).panel
    for name in ("participation_ratio", "stable_rank", "erank", "rank"):
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-12, err_msg=name)
