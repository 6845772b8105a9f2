"""The probe on the networks people build (issue 16, items 4 and 5).

A ResNet-style CNN whose blocks call functional ``torch.relu``, a small
``nn.TransformerEncoder``, a biased LeakyReLU MLP and a residual MLP ``x + α·V φ(W x + b)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)
from torch import nn  # noqa: E402

import depthscope as ds  # noqa: E402
from depthscope import DepthscopeError, DepthscopeWarning  # noqa: E402
from depthscope.probing import probe  # noqa: E402
from depthscope.probing._init import read_linear  # noqa: E402
from depthscope.theory._kernel_maps import infinite_width_law  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(8), BasicBlock(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        h = self.layer1(self.relu(self.stem(x)))
        return self.fc(torch.flatten(self.pool(h), 1))


def _encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


# ---- item 5 (a): fewer than two activation modules found: say so, suggest layers= ---------


def test_resnet_with_functional_relu_warns_and_suggests_its_blocks() -> None:
    torch.manual_seed(0)
    model = TinyResNet()
    x = torch.randn(4, 3, 8, 8)
    with pytest.warns(DepthscopeWarning, match=r"layers=\[BasicBlock\]") as caught:
        res = probe(model, x)
    assert res.layers == ("input", "relu")
    (note,) = res.notes
    assert str(caught[0].message) == note
    assert "BasicBlock" in note and "Conv2d" in note and "BatchNorm2d" in note
    assert "['layer1.0', 'layer1.1']" in note and "torch.relu" in note
    assert res.to_dict()["notes"] == [note]
    # the suggestion works, and says nothing more
    res2 = probe(model, x, layers=[BasicBlock])
    assert res2.layers == ("input", "layer1.0", "layer1.1") and res2.notes == ()
    assert all(s == "ok" for s in res2.status) and np.all(np.isfinite(res2.ln_sin2))


def test_small_models_with_one_activation_module_are_not_flagged() -> None:
    net = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 4))
    res = probe(net, torch.randn(4, 8))  # strict warnings: a note would fail here
    assert res.notes == () and "notes" not in res.to_dict()


def test_mlp_with_functional_relu_is_flagged() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))

        def forward(self, x):
            for layer in self.fc:
                x = torch.relu(layer(x))
            return x

    with pytest.warns(DepthscopeWarning, match="found 0 module"):
        res = probe(Functional(), torch.randn(4, 8))
    assert "Linear" in res.notes[0]


# ---- item 5 (b): a tuple-returning module is measured on its first tensor ------------------


def test_transformer_self_attention_rows_are_measured() -> None:
    torch.manual_seed(0)
    model = _encoder()
    x = torch.randn(6, 5, 16)
    with pytest.warns(DepthscopeWarning, match="TransformerEncoderLayer"):
        res = probe(model, x)
    assert res.layers == ("input",)
    res = probe(model, x, layers="layers.*")
    attention = [i for i, name in enumerate(res.layers) if name.endswith("self_attn")]
    assert len(attention) == 2
    for i in attention:
        assert res.status[i] == "ok" and math.isfinite(res.ln_sin2[i])
        assert "attention is not covered" in res.theory.status[i]
    # the first tensor of the tuple is what dropout1 (an identity here) passes on
    i = attention[0]
    assert res.ln_sin2[i] == res.ln_sin2[res.layers.index("layers.0.dropout1")]


# ---- item 5 (c): token mode ---------------------------------------------------------------


def test_token_mode_measures_the_tokens_of_one_sequence() -> None:
    torch.manual_seed(0)
    model = _encoder()
    seq = torch.randn(1, 7, 16)
    res = probe(model, seq, layers=[nn.TransformerEncoderLayer], across="tokens")
    assert res.layers == ("input", "layers.0", "layers.1") and res.n_inputs == 7
    assert res.across == "tokens" and res.to_dict()["across"] == "tokens"
    assert all(s == "ok" for s in res.status) and np.all(np.isfinite(res.ln_sin2))
    assert all(s.startswith("not covered: token mode") for s in res.theory.status)
    # the input row is the (T, d) matrix of the tokens: its numerical rank is min(T, d) = 7
    assert res.metrics["numerical_rank"][0] == 7
    # the same panel as the samples mode on the T tokens taken as a batch of T inputs
    flat = probe(nn.Identity(), seq[0], layers=None, include_input=True)
    assert res.ln_sin2[0] == flat.ln_sin2[0]
    assert res.metrics["erank"][0] == flat.metrics["erank"][0]
    # an unbatched (T, d) sequence gives the same numbers
    again = probe(model, seq[0], layers=[nn.TransformerEncoderLayer], across="tokens")
    np.testing.assert_allclose(again.ln_sin2, res.ln_sin2, rtol=1e-6)


def test_token_mode_refuses_a_batch_of_sequences() -> None:
    with pytest.raises(DepthscopeError, match="one sequence"):
        probe(_encoder(), torch.randn(2, 5, 16), across="tokens")
    with pytest.raises(DepthscopeError, match="at least 2 tokens"):
        probe(_encoder(), torch.randn(1, 1, 16), across="tokens")
    with pytest.raises(DepthscopeError, match="across"):
        probe(_encoder(), torch.randn(1, 5, 16), across="heads")


def test_token_mode_sees_rank_collapse_in_attention_without_residuals() -> None:
    """Noci et al. 2022: pure attention layers (no skip) collapse the tokens' rank."""

    class AttentionOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.ModuleList(
                nn.MultiheadAttention(16, 2, batch_first=True) for _ in range(6)
            )

        def forward(self, x):
            for layer in self.attn:
                x = layer(x, x, x, need_weights=False)[0]
            return x

    torch.manual_seed(0)
    res = probe(AttentionOnly(), torch.randn(1, 12, 16), layers="attn.*", across="tokens")
    # the tokens' representations collapse to one direction: rank 12 → 1, angle → 0
    rank = res.metrics["numerical_rank"]
    assert rank[0] == 12 and rank[-1] == 1
    assert res.ln_sin2[-1] < res.ln_sin2[0] - 10.0


# ---- item 4: biased LeakyReLU MLP, residual MLP -------------------------------------------


def test_read_linear_measures_pytorch_default_init() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(256, 256)
    init = read_linear(torch, lin, "fc")
    assert init.weight_var == pytest.approx(1 / 3, rel=0.02)  # U(±1/√256): 1/3 exactly in law
    assert init.bias_var == pytest.approx(1 / (3 * 256), rel=0.3) and init.has_bias
    with torch.no_grad():
        lin.bias.fill_(0.01)
    assert "not centred" in read_linear(torch, lin, "fc").problem


def test_biased_leaky_relu_mlp_is_covered_with_its_measured_init() -> None:
    torch.manual_seed(0)
    width, slope = 64, 0.1
    layers: list[nn.Module] = []
    for _ in range(4):
        layers += [nn.Linear(width, width), nn.LeakyReLU(slope)]
    model = nn.Sequential(*layers)
    x = torch.randn(8, width)
    res = probe(model, x)
    assert res.theory.status == ("covered",) * 5
    (stack,) = res.theory.stacks
    assert stack.activation == "leaky:0.1" and stack.residual is None and not stack.paper
    assert stack.weight_std**2 == pytest.approx(1 / 3, rel=0.05)
    assert stack.bias_std**2 == pytest.approx(1 / (3 * width), rel=0.3)
    assert "PyTorch's default init" in stack.init
    # the numbers are the theory's for the measured network (default method, else infinite)
    with warnings.catch_warnings():  # a domain note, if any, is the probe's to keep
        warnings.simplefilter("ignore", ds.DepthscopeWarning)
        expected = ds.predict(
            [width] * 4,
            stack.theta0,
            activation="leaky:0.1",
            weight_std=stack.weight_std,
            bias_std=stack.bias_std,
            q0=stack.q0,
            method=stack.method,
        )
    # the default method's Gram-state closure covers it: a band
    assert stack.band and stack.method == "markov" and "a band (finite-width law" in stack.init
    np.testing.assert_allclose(res.theory.mean, expected.mean, rtol=1e-12)
    band = stack.band
    assert res.theory.kind == ("band" if band else "line",) * 5
    if not band:  # the infinite-width map: a line, no inside/outside verdict
        assert stack.method == "infinite" and "a line (no sd)" in stack.init
        assert res.theory.inside == (None,) * 5
        assert np.array_equal(res.theory.low, res.theory.high)
    out = res.to_dict()["theory"]["stacks"][0]
    assert out["activation"] == "leaky:0.1" and out["band"] == band


class ResidualBlock(nn.Module):
    def __init__(self, width: int, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha
        self.branch = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width, bias=False)
        )

    def forward(self, x):
        return x + self.alpha * self.branch(x)


def test_residual_mlp_blocks_are_recognised_and_predicted() -> None:
    torch.manual_seed(0)
    width, alpha, depth = 64, 0.5, 4
    model = nn.Sequential(*[ResidualBlock(width, alpha) for _ in range(depth)])
    x = torch.randn(8, width)
    res = probe(model, x)
    blocks = [str(i) for i in range(depth)]
    assert res.layers == ("input", *(n for i in blocks for n in (f"{i}.branch.1", i)))
    for name in blocks:
        assert res.theory.status[res.layers.index(name)] == "covered"
        inner = res.theory.status[res.layers.index(f"{name}.branch.1")]
        assert "inside the residual branch" in inner
    (stack,) = res.theory.stacks
    assert stack.layers == ("input", *blocks) and stack.steps == tuple(range(depth + 1))
    residual = stack.residual
    assert residual is not None and residual.startswith("block:")
    # α measured on the batch, times σ_V/σ_W (both PyTorch default init: ≈ 1)
    assert float(residual.split(":")[1]) == pytest.approx(alpha, rel=0.05)
    law = infinite_width_law(
        depth,
        stack.theta0,
        activation="relu",
        weight_std=stack.weight_std,
        bias_std=stack.bias_std,
        q0=stack.q0,
        residual=residual,
    )
    if stack.method == "infinite":
        np.testing.assert_allclose(res.theory.mean[[0, 2, 4, 6, 8]], law.ln_sin2_theta)
    # measured vs infinite-width theory at width 64: within a loose absolute margin
    covered = [res.layers.index(name) for name in blocks]
    assert np.all(np.abs(res.ln_sin2[covered] - law.ln_sin2_theta[1:]) < 0.5)


def test_not_a_block_is_not_recognised() -> None:
    class PostActivation(nn.Module):  # relu(x + branch(x)): not the block form
        def __init__(self) -> None:
            super().__init__()
            self.branch = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16, bias=False))

        def forward(self, x):
            return torch.relu(x + self.branch(x))

    res = probe(nn.Sequential(PostActivation(), PostActivation()), torch.randn(4, 16), "*")
    assert not any(s.residual for s in res.theory.stacks)


def test_layer_norm_between_is_named() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.ReLU())
    res = probe(model, torch.randn(4, 8))
    assert "LayerNorm at layer '1'" in res.theory.status[1]
    assert "normalisation is not covered" in res.theory.status[1]


def test_cli_prints_the_note_and_the_stack(tmp_path, capsys) -> None:
    from depthscope.cli import main

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(str(path))
    batch = tmp_path / "x.npy"
    np.save(batch, np.random.default_rng(0).standard_normal((6, 16)).astype(np.float32))
    out = tmp_path / "o"
    code = main(
        ["probe", "--model", str(path), "--inputs", str(batch), "--no-figure", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "# theory for input, 1: tanh:" in printed and "as measured" in printed
