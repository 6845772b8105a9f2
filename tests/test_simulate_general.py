"""Exact simulation beyond bias-free ReLU: the Gram samplers against explicit-weight networks.

The reference is a brute-force torch network with explicit weight matrices (``nn.Linear``-style
W and b, and V for residual blocks). Two-sample Kolmogorov-Smirnov tests compare its ln sin²θ
and ln‖h‖² at a middle and the final layer with the Gram chain's, on both backends; each
configuration has a negative control (a wrong σ_b, σ_w or α) that the same test must reject.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

import depthscope as ds
from depthscope import DepthscopeError
from depthscope.simulation._general import smooth_pair, tanh_pair
from depthscope.simulation._metrics import ln_sin2_from_gram
from depthscope.simulation._pair import NUMPY
from depthscope.simulation._plan import make_plan, network_seeds, network_streams, root_sequence
from depthscope.simulation._samplers import pair_chain
from depthscope.theory._activations import parse_activation as parse_phi

torch = pytest.importorskip("torch")

THETA0 = 0.9
NETS = 3000


def _torch_phi(activation: str) -> Any:
    if activation == "tanh":
        return torch.tanh
    if activation == "gelu":
        return lambda u: torch.nn.functional.gelu(u, approximate="none")
    if activation == "silu":
        return torch.nn.functional.silu
    if activation.startswith("leaky:"):
        slope = float(activation.split(":")[1])
        return lambda u: torch.nn.functional.leaky_relu(u, slope)
    assert activation == "relu"
    return torch.relu


def dense_networks(
    width: int,
    depth: int,
    *,
    activation: str,
    weight_std: float = math.sqrt(2.0),
    bias_std: float = 0.0,
    q0: float = 1.0,
    residual: float | None = None,
    nets: int = NETS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Explicit weights: (ln sin²θ, ln‖a‖²) of shape (depth + 1, nets), float64 on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    phi = _torch_phi(activation)
    n0 = width
    basis = torch.linalg.qr(torch.randn(nets, n0, 2, generator=gen, dtype=torch.float64))[0]
    scale = math.sqrt(n0 * q0)
    x = scale * basis[..., 0]
    y = scale * (math.cos(THETA0) * basis[..., 0] + math.sin(THETA0) * basis[..., 1])
    h = torch.stack([x, y], dim=-1)  # (nets, n, 2)
    ln_sin2, ln_norm = [], []

    def record(h: Any) -> None:
        g = h.transpose(1, 2) @ h
        det = g[:, 0, 0] * g[:, 1, 1] - g[:, 0, 1] ** 2
        ln_sin2.append(torch.log(det / (g[:, 0, 0] * g[:, 1, 1])).numpy())
        ln_norm.append(torch.log(g[:, 0, 0]).numpy())

    record(h)
    for _ in range(depth):
        n_prev = h.shape[1]
        w = torch.randn(nets, width, n_prev, generator=gen, dtype=torch.float64)
        w *= weight_std / math.sqrt(n_prev)
        b = bias_std * torch.randn(nets, width, 1, generator=gen, dtype=torch.float64)
        branch = phi(w @ h + b)
        if residual is None:
            h = branch
        else:
            v = torch.randn(nets, width, width, generator=gen, dtype=torch.float64)
            h = h + residual * (v * (weight_std / math.sqrt(width))) @ branch
        record(h)
    return np.stack(ln_sin2), np.stack(ln_norm)


def gram_networks(
    width: int, depth: int, *, backend: str, nets: int = NETS, seed: int = 1, **network: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The Gram chain's (ln sin²θ, ln‖a‖²) (depth + 1, nets), norms kept (no rescaling)."""
    options = dict(network)
    bias_std = options.pop("bias_std", 0.0)
    if "residual" in options and options["residual"] is not None:
        options["residual"] = f"block:{options['residual']}"
    plan = make_plan(
        [width] * depth,
        THETA0,
        None,
        n_networks=nets,
        sampler="gram",
        init="gaussian",
        bias_std=bias_std,
        input_dim=None,
        tolerance=1e-3,
        **options,
    )
    root = root_sequence(seed)
    if backend == "numpy":
        streams = network_streams(root, 0, nets)
        rows = pair_chain(
            plan.widths,
            THETA0,
            streams,
            slope=plan.slope,
            bias_std=bias_std,
            network=plan.network,
            rescale=False,
        )
    else:
        from depthscope.simulation.backends._torch import pair_rows

        seeds = torch.as_tensor(network_seeds(root, 0, nets))
        rows = pair_rows(torch, plan, seeds, rescale=False)
    ln_sin2 = np.stack([ln_sin2_from_gram(*row[:3], row[3])[0] for row in rows])
    ln_norm = np.stack([np.log(row[0] * width) for row in rows])
    ln_sin2[0] = math.log(math.sin(THETA0) ** 2)
    return ln_sin2, ln_norm


def ks_pvalues(reference: tuple[np.ndarray, ...], sample: tuple[np.ndarray, ...]) -> list[float]:
    """KS p-values of ln sin²θ and ln‖a‖² at the middle and the final layer."""
    depth = reference[0].shape[0] - 1
    out = []
    for ref, got in zip(reference, sample, strict=True):
        for layer in (depth // 2, depth):
            out.append(float(stats.ks_2samp(ref[layer], got[layer]).pvalue))
    return out


# The torch backend runs the same maths on other random numbers: its cases are in the slow suite.
BACKENDS = ["numpy", pytest.param("torch", marks=pytest.mark.slow)]
# (name, network keywords, the wrong keywords of the negative control)
CASES = [
    ("tanh", {"activation": "tanh", "weight_std": 1.2, "bias_std": 0.3}, {"bias_std": 0.45}),
    ("gelu", {"activation": "gelu", "weight_std": 1.5, "bias_std": 0.2}, {"weight_std": 1.65}),
    ("leaky-bias", {"activation": "leaky:0.1", "bias_std": 0.3, "q0": 2.0}, {"bias_std": 0.5}),
    ("res-relu", {"activation": "relu", "residual": 0.5}, {"residual": 0.8}),
    ("res-tanh", {"activation": "tanh", "residual": 0.5, "bias_std": 0.2}, {"residual": 0.8}),
    # pre-activation sds of a few hundred, beyond silu's clip at ±700 (the numpy pair was
    # wrong there and NaN for d < −709, until the seventh session)
    ("silu-huge", {"activation": "silu", "q0": 1e5}, {"q0": 1.0}),
    ("res-silu-huge", {"activation": "silu", "residual": 0.5, "q0": 1e5}, {"residual": 0.8}),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "network", "wrong"), CASES, ids=[c[0] for c in CASES])
def test_gram_chain_matches_explicit_weights(
    backend: str, name: str, network: dict[str, Any], wrong: dict[str, Any]
) -> None:
    width, depth = 16, 6
    reference = dense_networks(width, depth, **network)
    good = ks_pvalues(reference, gram_networks(width, depth, backend=backend, **network))
    assert min(good) > 1e-3, (name, good)
    bad = ks_pvalues(reference, gram_networks(width, depth, backend=backend, **network | wrong))
    assert min(bad) < 1e-4, (name, bad)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("width", [2, 3, 4, 64])  # Bartlett with 0, 1, 2 and 62 extra rows
def test_residual_block_matches_explicit_weights_narrow_and_wide(backend: str, width: int) -> None:
    network = {"activation": "gelu", "residual": 1.0, "bias_std": 0.1, "weight_std": 1.0}
    reference = dense_networks(width, 10, nets=4000, **network)
    got = gram_networks(width, 10, backend=backend, nets=4000, **network)
    assert min(ks_pvalues(reference, got)) > 1e-3


@pytest.mark.parametrize("backend", ["cpu", pytest.param("torch", marks=pytest.mark.slow)])
@pytest.mark.parametrize(
    "network",
    [
        {"activation": "tanh", "weight_std": 1.0, "bias_std": 0.3},
        {"activation": "gelu", "weight_std": 1.4},
        {"activation": "leaky:0.1", "bias_std": 0.3, "q0": 2.0},
        {"residual": "block:0.5"},
        {"activation": "tanh", "residual": "block:0.5", "weight_std": 1.2},
    ],
)
def test_wide_networks_follow_the_infinite_width_map(backend: str, network: dict) -> None:
    widths = [2000] * 6
    res = ds.simulate(widths, theta0=THETA0, n_networks=300, rng=3, device=backend, **network)
    # cos θ from ln sin²θ: the angle stays below π/2 here.
    cos = np.sqrt(1.0 - np.exp(res.ln_sin2[-1]))
    theory = ds.predict(widths, THETA0, method="infinite", **network)
    want = math.sqrt(1.0 - math.exp(theory.mean[-1]))
    se = cos.std(ddof=1) / math.sqrt(cos.size)
    assert abs(cos.mean() - want) < 4.0 * se + 1e-4, (cos.mean(), want, se)


def test_defaults_are_the_relu_chain_and_configuration_lists_only_what_changed() -> None:
    base = ds.simulate("32x6", theta0=0.4, n_networks=20, rng=5)
    same = ds.simulate("32x6", theta0=0.4, n_networks=20, rng=5, weight_std=math.sqrt(2.0), q0=1.0)
    np.testing.assert_array_equal(base.ln_sin2, same.ln_sin2)
    assert "weight_std" not in base.configuration()
    res = ds.simulate(
        "8x3", theta0=0.4, n_networks=5, rng=5, activation="gelu", residual="block:0.5"
    )
    config = res.configuration()
    assert config["activation"] == "gelu" and config["residual"] == "block:0.5"
    # Homogeneous without bias: the angle law does not depend on σ_w or q0.
    scaled = ds.simulate("32x6", theta0=0.4, n_networks=20, rng=5, weight_std=3.0, q0=7.0)
    np.testing.assert_allclose(scaled.ln_sin2, base.ln_sin2, rtol=1e-9)


@pytest.mark.parametrize(
    "network",
    [
        {"activation": "tanh", "weight_std": 1.0, "bias_std": 0.3},
        {"activation": "gelu", "bias_std": 0.1},
        {"activation": "erf", "residual": "block:0.5"},
        {"activation": "silu", "residual": "block:1", "bias_std": 0.2},
    ],
)
def test_tiny_angles_keep_their_precision(network: dict) -> None:
    # In the linear regime ln sin²θ_L − ln sin²θ0 does not depend on θ0 (to O(θ0), measured):
    # the same networks at θ0 = 1e-8 and 1e-13 agree although 1e-13 is far below what
    # φ(x + d) − φ(x) computed naively would resolve (ε/1e-13 ≈ 1e-3 relative per unit).
    runs = [
        ds.simulate("32x8", theta0=t, n_networks=50, rng=4, **network).ln_sin2[-1]
        - 2.0 * math.log(t)
        for t in (1e-8, 1e-13)
    ]
    np.testing.assert_allclose(runs[1], runs[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "swish"}, "unknown activation"),
        ({"activation": "tanh", "residual": "block:0.5", "widths": [8, 16]}, "constant width"),
        ({"weight_std": 0.0}, "weight_std"),
        ({"weight_std": float("nan")}, "weight_std"),
        ({"weight_std": -1.0}, "weight_std"),
        ({"q0": float("inf")}, "q0"),
        ({"residual": "stream:0.5"}, "block:ALPHA"),
        ({"activation": "tanh", "sampler": "dense"}, "sampler='gram'"),
        ({"q0": 2.0, "theta0": None, "inputs": np.eye(3, 8)}, "fixed inputs"),
        ({"residual": "block:0.5", "theta0": None, "inputs": 4, "input_dim": 5}, "input_dim"),
    ],
)
def test_bad_network_keywords_are_one_line_errors(kwargs: dict, match: str) -> None:
    args = {"widths": [8] * 3, "theta0": 0.5, "n_networks": 2, "rng": 0} | kwargs
    with pytest.raises(DepthscopeError, match=match) as info:
        ds.simulate(**args)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["tanh", "erf", "gelu", "silu"])
def test_smooth_differences_have_no_cancellation(name: str) -> None:
    phi = parse_phi(name)
    assert phi.derivative is not None
    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.0] * 3)
    d = np.repeat([1e-13, 1e-3, 0.5], 5)
    a, delta = smooth_pair(NUMPY, phi.fn, phi.derivative, x.copy(), d.copy())
    np.testing.assert_array_equal(a, phi.fn(x))
    # The reference in extended precision: φ(x + d) − φ(x) ≈ d φ'(x + d/2) (error d³φ'''/24).
    mid = d * phi.derivative(x + d / 2)
    tiny, small = d < 1e-10, (d > 1e-10) & (d < 1e-2)
    np.testing.assert_allclose(delta[tiny], mid[tiny], rtol=1e-13)
    np.testing.assert_allclose(delta[small], mid[small], rtol=1e-5)
    large = d > 1e-2
    np.testing.assert_allclose(delta[large], phi.fn(x + d)[large] - a[large], rtol=1e-14)
    if name == "tanh":
        _, exact = tanh_pair(np.tanh, x, d)
        np.testing.assert_allclose(exact, delta, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["tanh", "erf", "gelu", "silu"])
def test_torch_activations_equal_theory_ones(name: str) -> None:
    from depthscope.simulation.backends._torch import torch_activation

    phi = parse_phi(name)
    fn, derivative = torch_activation(torch, name)
    u = np.linspace(-30.0, 30.0, 2001)
    t = torch.as_tensor(u)
    np.testing.assert_allclose(fn(t).numpy(), phi.fn(u), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(derivative(t).numpy(), phi.derivative(u), rtol=1e-12, atol=1e-15)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_runs_the_general_chain() -> None:
    kw = {"activation": "gelu", "residual": "block:0.5", "bias_std": 0.1}
    gpu = ds.simulate("64x8", theta0=0.5, n_networks=4000, rng=2, device="cuda", **kw)
    cpu = ds.simulate("64x8", theta0=0.5, n_networks=4000, rng=2, device="torch", **kw)
    np.testing.assert_allclose(gpu.ln_sin2, cpu.ln_sin2, rtol=1e-9, atol=1e-12)


def test_cli_simulate_says_the_whole_network(capsys: pytest.CaptureFixture[str]) -> None:
    """The table's header and --json name σ_w, q0 and the residual block where they are set
    (before: only the activation and σ_b were named, the JSON held no configuration)."""
    import json

    from depthscope.cli import main

    argv = ["simulate", "16x3", "--theta0", "1", "--networks", "20", "--seed", "1"]
    network = ["--activation", "tanh", "--weight-std", "1.2", "--residual", "block:0.5"]
    assert main([*argv, *network]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "activation=tanh" in header and "weight_std=1.2" in header
    assert "residual=block:0.5" in header and "q0" not in header  # q0 left at its default
    assert main([*argv, *network, "--q0", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = ds.simulate(
        "16x3",
        1.0,
        n_networks=20,
        rng=1,
        activation="tanh",
        weight_std=1.2,
        residual="block:0.5",
        q0=2.0,
    )
    assert data["configuration"] == json.loads(json.dumps(expected.configuration()))
    assert data["mean"] == expected.summary()["mean"]
