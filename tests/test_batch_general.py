"""The m-input Gram chain beyond He ReLU (any φ, σ_w, σ_b, q0, residual blocks), in distribution.

The reference is written here, independently of the samplers: explicit weight matrices W, V
and biases drawn with numpy for a few hundred small networks, h ← φ(W h + b) or
h ← h + α V φ(W h + b), and the panel of ``effective_dimension_panel``. The Gram chain's panel
metrics are compared with it by two-sample KS tests at every layer; negative controls (σ_w off
by 15%, the residual block without its orthogonal Wishart part) show that the tests see a wrong
sampler. Seeds are fixed: every p-value below is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.special import expit, ndtr
from scipy.stats import ks_2samp

import depthscope as ds
from depthscope.cli import main
from depthscope.simulation._general import DEFAULT_WEIGHT_STD
from depthscope.simulation._metrics import effective_dimension_panel
from depthscope.simulation._plan import (
    chunk_size,
    make_plan,
    memory_estimate,
    network_streams,
    root_sequence,
)
from depthscope.simulation._samplers import batch_chain, parse_activation

Panel = Mapping[str, NDArray[np.float64]]

_PHI = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "gelu": lambda z: z * ndtr(z),
    "silu": lambda z: z * expit(z),
}
METRICS = ("erank", "stable_rank", "mean_cosine", "numerical_rank", "active_fraction")
N_NETWORKS = 300
#: Family-wise floor of the smallest of ≈ 20 KS p-values (5 metrics × 4–5 layers).
MIN_P = 1e-3


def _phi(name: str) -> Any:
    if name.startswith("leaky:"):
        slope = float(name.removeprefix("leaky:"))
        return lambda z: np.where(z > 0.0, z, slope * z)
    return _PHI[name]


def reference(
    widths: list[int],
    inputs: int | NDArray[np.float64],
    n_networks: int,
    seed: int,
    *,
    activation: str = "relu",
    weight_std: float = DEFAULT_WEIGHT_STD,
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: float | None = None,
    input_dim: int = 10,
    orthogonal_part: bool = True,
) -> Panel:
    """Panel of explicit random networks, layers 0..L (see the module docstring).

    ``inputs``: an int m draws iid N(0, q0) inputs of dimension ``input_dim`` per network, an
    (m, n0) array is used as given. ``orthogonal_part=False`` (a wrong block, the negative
    control) keeps only the part of V p inside the span of h's columns.
    """
    rng = np.random.default_rng(seed)
    phi = _phi(activation)
    if isinstance(inputs, int):
        h = rng.normal(0.0, math.sqrt(q0), size=(n_networks, input_dim, inputs))
    else:
        h = np.broadcast_to(inputs.T, (n_networks, *inputs.T.shape)).copy()
    rows = [effective_dimension_panel(np.swapaxes(h, 1, 2))]
    for n in widths:
        w = rng.normal(0.0, weight_std / math.sqrt(h.shape[1]), size=(n_networks, n, h.shape[1]))
        z = w @ h
        if bias_std:
            z += rng.normal(0.0, bias_std, size=(n_networks, n, 1))
        p = phi(z)
        if residual is None:
            h = p
        else:
            v = rng.normal(0.0, weight_std / math.sqrt(n), size=(n_networks, n, n))
            vp = v @ p
            if not orthogonal_part:
                q = np.linalg.qr(h)[0]
                vp = q @ (np.swapaxes(q, 1, 2) @ vp)
            h = h + residual * vp
        active = np.swapaxes(z > 0.0, 1, 2)
        rows.append(effective_dimension_panel(np.swapaxes(h, 1, 2), active=active))
    return {name: np.stack([row[name] for row in rows]) for name in rows[0]}


def ks_pvalues(a: Panel, b: Panel) -> list[tuple[float, str, int]]:
    """KS p-values of ``METRICS`` at layers 1..L where the two samples are not one constant."""
    out = []
    for name in METRICS:
        for layer in range(1, a[name].shape[0]):
            x, y = a[name][layer], b[name][layer]
            if np.ptp(np.concatenate([x, y])) > 0:
                out.append((float(ks_2samp(x, y, method="asymp").pvalue), name, layer))
    return out


def _fixed(m: int, n0: int, seed: int = 6) -> NDArray[np.float64]:
    return np.random.default_rng(seed).normal(size=(m, n0))


def _simulate(widths: list[int], inputs: Any, kw: dict[str, Any], **options: Any) -> Panel:
    network = dict(kw)
    if network.get("residual") is not None:
        network["residual"] = f"block:{network['residual']:g}"
    input_dim = 10 if isinstance(inputs, int) and network.get("residual") is None else None
    return ds.simulate(
        widths, inputs=inputs, n_networks=N_NETWORKS, input_dim=input_dim, **network, **options
    ).panel


#: (widths, inputs, network keywords): n0 = 10 into width 24 for plain layers; residual blocks
#: at n = 24 (Bartlett), n = 8 < 2m (G₂ drawn whole) and n = 4 < m (no orthogonal part).
CASES = {
    "tanh_bias": ([24] * 5, _fixed(5, 10), {"activation": "tanh", "weight_std": 1.3,
                                            "bias_std": 0.4}),
    "gelu": ([24] * 5, _fixed(5, 10), {"activation": "gelu", "weight_std": math.sqrt(1.5)}),
    "leaky": ([24] * 5, _fixed(5, 10), {"activation": "leaky:0.2", "weight_std": 1.2,
                                        "bias_std": 0.1}),
    "block_tanh": ([24] * 5, _fixed(5, 24), {"activation": "tanh", "residual": 0.5}),
    "block_relu": ([24] * 5, _fixed(5, 24), {"activation": "relu", "residual": 1.0,
                                             "bias_std": 0.2}),
    "block_narrow": ([8] * 5, _fixed(5, 8), {"activation": "gelu", "residual": 0.7}),
    "block_below_m": ([4] * 4, _fixed(6, 4), {"activation": "relu", "residual": 1.0}),
    "q0_drawn": ([24] * 5, 5, {"activation": "tanh", "q0": 3.0}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_gram_chain_matches_explicit_networks(case: str) -> None:
    widths, inputs, kw = CASES[case]
    chain = _simulate(widths, inputs, kw, rng=1)
    explicit = reference(widths, inputs, N_NETWORKS, 2, **kw)
    pvalues = ks_pvalues(chain, explicit)
    assert len(pvalues) >= 12
    assert min(pvalues)[0] > MIN_P, min(pvalues)


@pytest.mark.parametrize(
    ("case", "wrong"),
    [
        ("tanh_bias", {"weight_std": 1.3 * 1.15}),
        ("gelu", {"weight_std": math.sqrt(1.5) * 1.15}),
        ("block_tanh", {"orthogonal_part": False}),
        ("block_relu", {"orthogonal_part": False}),
    ],
)
def test_negative_control_fails(case: str, wrong: dict[str, Any]) -> None:
    # The same comparison against a wrong reference: σ_w off by 15%, or a residual block whose
    # V p lacks the part orthogonal to h (the Wishart term). The KS p-value collapses.
    widths, inputs, kw = CASES[case]
    chain = _simulate(widths, inputs, kw, rng=1)
    explicit = reference(widths, inputs, N_NETWORKS, 2, **(kw | wrong))
    assert min(ks_pvalues(chain, explicit))[0] < 1e-8


def test_two_inputs_agree_with_the_pair_chain() -> None:
    # m = 2 at angle θ0 with ‖x‖² = n: sin²θ from the batch panel's cosine against the
    # two-input chain's ln sin²θ (a separate sampler: block_pair_stats), residual tanh block.
    n, theta0 = 16, 0.8
    x = np.zeros((2, n))
    x[0, 0] = x[1, 0] = math.sqrt(n) * math.cos(theta0 / 2)
    x[0, 1], x[1, 1] = math.sqrt(n) * math.sin(theta0 / 2), -math.sqrt(n) * math.sin(theta0 / 2)
    kw = {"activation": "tanh", "residual": "block:0.7", "bias_std": 0.3, "weight_std": 1.2}
    batch = ds.simulate([n] * 4, inputs=x, n_networks=800, rng=3, **kw)
    pair = ds.simulate([n] * 4, theta0=theta0, n_networks=800, rng=4, **kw)
    assert pair.ln_sin2 is not None
    sin2 = 1.0 - batch.panel["mean_cosine"] ** 2
    for layer in range(1, 5):
        p = ks_2samp(sin2[layer], np.exp(pair.ln_sin2[layer]), method="asymp").pvalue
        assert p > 1e-3, (layer, p)


#: The last layer's panel of three networks (of six), pinned from the ReLU / leaky-ReLU chain as
#: it stood before it was merged into the general one (``batch_chain`` at bf1d849, this machine):
#: the general chain must give today's numbers draw for draw (any change in the order of the
#: draws changes them at the first digit; 1e-12 leaves room for another BLAS's last bits).
PINNED = {
    "relu": {
        "erank": [3.1243494752403507, 2.873770219261063, 1.795045546294894],
        "mean_cosine": [0.536860858650043, 0.7849686418105709, 0.7174664549488795],
        "active_fraction": [0.6041666666666666, 0.5625, 0.5208333333333334],
    },
    "leaky:0.1": {
        "erank": [2.6107298186845407, 3.1186624971724357, 3.7956756538749294],
        "mean_cosine": [0.6408245611744798, 0.7363145815384247, 0.4370519168954242],
        "active_fraction": [0.25, 0.5166666666666667, 0.5166666666666667],
    },
    "leaky:-0.5": {
        "erank": [1.7960401783616777, 1.7701531528203214, 1.915383899406435],
        "mean_cosine": [0.9015751058165643, 0.9160097000534572, 0.7411627684519195],
        "active_fraction": [0.75, 0.5, 0.2777777777777778],
    },
}


@pytest.mark.parametrize(
    ("activation", "bias_std", "inputs"),
    [("relu", 0.0, 4), ("leaky:0.1", 0.3, 5), ("leaky:-0.5", 0.2, _fixed(3, 7))],
)
def test_the_he_relu_chain_keeps_its_pinned_numbers(
    activation: str, bias_std: float, inputs: Any
) -> None:
    # batch_chain, the backend's entry, hands the He ReLU / leaky network to general_batch_chain
    slope = parse_activation(activation)
    fixed = None if isinstance(inputs, int) else inputs
    m, n0 = (inputs, 9) if fixed is None else fixed.shape
    widths = [12, 7, 12]

    def streams() -> list[np.random.Generator]:
        return network_streams(root_sequence(5), 0, 6)

    options = {"n_inputs": m, "input_dim": n0, "bias_std": bias_std, "tolerance": 1e-3}
    panel, dead = batch_chain(widths, fixed, streams(), slope=slope, **options)
    for name, values in PINNED[activation].items():
        np.testing.assert_allclose(panel[name][-1, :3], values, rtol=1e-12, err_msg=name)
    assert not dead.any()
    # negative control: one draw fewer (the streams shifted by a normal) misses the pins
    shifted = streams()
    for gen in shifted:
        gen.standard_normal()
    panel = batch_chain(widths, fixed, shifted, slope=slope, **options)[0]
    assert not np.allclose(panel["erank"][-1, :3], PINNED[activation]["erank"], rtol=1e-6)


def test_default_keywords_give_todays_panel() -> None:
    base = ds.simulate("20x4", inputs=5, n_networks=20, rng=8, bias_std=0.1)
    same = ds.simulate(
        "20x4", inputs=5, n_networks=20, rng=8, bias_std=0.1, weight_std=math.sqrt(2.0), q0=1.0
    )
    for name, values in base.panel.items():
        np.testing.assert_array_equal(same.panel[name], values)


def test_chunking_does_not_change_a_network() -> None:
    kw = {"activation": "silu", "residual": "block:0.5", "q0": 2.0, "n_networks": 12}
    plan = make_plan(
        "16x3", None, 5, sampler="gram", init="gaussian", bias_std=0.1, input_dim=None,
        tolerance=1e-3, **kw,
    )  # fmt: skip
    fixed, per_network, _ = memory_estimate(plan)
    budget = fixed + 5 * per_network
    assert chunk_size(plan, budget) == 5
    whole = ds.simulate("16x3", inputs=5, rng=4, bias_std=0.1, **kw)
    chunked = ds.simulate("16x3", inputs=5, rng=4, bias_std=0.1, memory_budget=budget, **kw)
    for name, values in whole.panel.items():
        np.testing.assert_array_equal(chunked.panel[name], values)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"inputs": _fixed(4, 10), "q0": 2.0}, "q0 = 2 applies to drawn inputs"),
        ({"inputs": _fixed(4, 10), "residual": "block:0.5"}, "input_dim = 10 must equal"),
        ({"inputs": 4, "input_dim": 10, "residual": "block:0.5"}, "input_dim = 10 must equal"),
        ({"inputs": 4, "activation": "gelu", "sampler": "dense"}, "sampler='gram'"),
        ({"inputs": 4, "residual": "block:0.5", "widths": [24, 12]}, "constant width"),
    ],
)
def test_refusals_are_one_line(kwargs: dict[str, Any], match: str) -> None:
    args = {"widths": [24] * 3, "n_networks": 2, "rng": 0} | kwargs
    with pytest.raises(ds.DepthscopeError, match=match) as info:
        ds.simulate(**args)
    assert "\n" not in str(info.value)


def test_cli_runs_general_networks_and_refuses_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    flags = ["--activation", "gelu", "--weight-std", "1.3", "--bias-std", "0.2"]
    argv = ["simulate", "16x3", "--inputs", "4", "--networks", "20", "--seed", "0", "--quiet"]
    assert main([*argv, *flags, "--q0", "2", "--residual", "block:0.5", "--json"]) == 0
    assert "erank" in capsys.readouterr().out
    path = tmp_path / "x.npy"
    np.save(path, _fixed(4, 10))
    fixed = ["simulate", "16x3", "--inputs-file", str(path), "--networks", "5", "--quiet"]
    for extra in (["--q0", "2"], ["--residual", "block:0.5"]):
        assert main([*fixed, *extra]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("depthscope: error: "), err


@pytest.mark.torch
@pytest.mark.parametrize(
    ("inputs", "kw"),
    [
        (5, {"activation": "gelu", "weight_std": math.sqrt(1.5), "bias_std": 0.2, "q0": 2.0}),
        (_fixed(5, 24), {"activation": "tanh", "residual": 0.5, "bias_std": 0.1}),
    ],
)
def test_torch_backend_matches_numpy(inputs: Any, kw: dict[str, Any]) -> None:
    pytest.importorskip("torch")
    widths = [24] * 5
    on_numpy = _simulate(widths, inputs, kw, rng=1)
    on_torch = _simulate(widths, inputs, kw, rng=2, device="torch:cpu")
    explicit = reference(widths, inputs, N_NETWORKS, 3, **kw)
    assert min(ks_pvalues(on_torch, on_numpy))[0] > MIN_P
    assert min(ks_pvalues(on_torch, explicit))[0] > MIN_P


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("inputs", "kw"),
    [
        (_fixed(5, 24), {}),
        (5, {"activation": "gelu", "bias_std": 0.2, "q0": 2.0}),
        (_fixed(5, 24), {"activation": "tanh", "residual": 0.5}),
    ],
)
def test_cuda_equals_torch_cpu(inputs: Any, kw: dict[str, Any]) -> None:
    # The same counter streams on both devices: the panels agree to rounding, and the active
    # fraction is exactly k/(m n) (CUDA's mean put some a last bit off, which split the ties
    # of a KS test against numpy: p = 1e-11 between two identical-in-law samples).
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    on_cpu = _simulate([24] * 4, inputs, kw, rng=2, device="torch:cpu")
    on_gpu = _simulate([24] * 4, inputs, kw, rng=2, device="cuda")
    for name, values in on_cpu.items():
        np.testing.assert_allclose(on_gpu[name], values, rtol=1e-9, atol=1e-12, err_msg=name)
    fraction = on_gpu["active_fraction"][1:]
    np.testing.assert_array_equal(fraction, np.round(fraction * 120) / 120)
    explicit = reference([24] * 4, inputs, N_NETWORKS, 3, **kw)
    assert min(ks_pvalues(on_gpu, explicit))[0] > MIN_P


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("torch:cpu", marks=pytest.mark.torch)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gram_chain_matches_explicit_networks_large(case: str, device: str) -> None:
    if device != "cpu":
        pytest.importorskip("torch")
    widths, inputs, kw = CASES[case]
    n_networks = 10_000
    network = dict(kw)
    if network.get("residual") is not None:
        network["residual"] = f"block:{network['residual']:g}"
    input_dim = 10 if isinstance(inputs, int) else None
    chain = ds.simulate(
        widths, inputs=inputs, n_networks=n_networks, rng=11, input_dim=input_dim,
        device=device, **network,
    ).panel  # fmt: skip
    explicit = reference(widths, inputs, n_networks, 12, **kw)
    assert min(ks_pvalues(chain, explicit))[0] > MIN_P


def test_norms_beyond_range_are_nan_counted_and_warned() -> None:
    """A network far from criticality overflows: its panel is NaN from there on (LAPACK's SVD
    raised "did not converge" on the whole stack before), counted in nonfinite_fraction and
    said in a warning; the networks still in range keep the panel of a run without them."""
    from depthscope.simulation._metrics import panel_from_factors

    with pytest.warns(ds.DepthscopeWarning, match="panel metrics there are NaN"):
        result = ds.simulate(
            [16] * 600, inputs=3, input_dim=16, n_networks=4, rng=0, activation="gelu",
            weight_std=6.0,
        )  # fmt: skip
    nonfinite = result.nonfinite_fraction
    assert nonfinite[0] == 0.0 and nonfinite[-1] == 1.0
    assert np.isnan(result.panel["erank"][-1]).all()
    gen = np.random.default_rng(1)
    r = np.triu(gen.standard_normal((3, 4, 4)))
    r[1, 0, 0] = np.inf
    r[2] *= 1e200  # huge but finite: rescaled by a power of 2 (the panel is scale-free)
    mixed = panel_from_factors(r, 8)
    alone = panel_from_factors(r[[0, 2]], 8)
    for name, values in mixed.items():
        assert np.isnan(values[1]), name
        np.testing.assert_array_equal(values[[0, 2]], alone[name], err_msg=name)
