"""What a new user sees when the probe meets networks just outside the theory (issue 16 audit).

Small models built here: the tanh approximation of GELU, residual modules x + α·f(x) whose
branch is not V φ(W x + b) (pre-LayerNorm, a trailing activation), a composite CNN block, and
the Linear and Dropout rows of a transformer layer probed by name.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from depthscope.probing import probe  # noqa: E402


def test_gelu_tanh_approximation_is_named_not_covered() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), nn.GELU(approximate="tanh"), nn.Linear(32, 32))
    res = probe(net, torch.randn(6, 16))
    status = res.theory.status[1]
    assert status.startswith("not covered: GELU(approximate='tanh') is the tanh approximation")
    assert not res.theory.stacks
    exact = probe(nn.Sequential(net[0], nn.GELU()), torch.randn(6, 16))
    assert exact.theory.status[1] == "covered"  # the exact erf form is


class _Block(nn.Module):
    def __init__(self, width: int, *, norm: bool = False, trailing: bool = False) -> None:
        super().__init__()
        parts = [nn.Linear(width, width), nn.GELU(), nn.Linear(width, width, bias=False)]
        self.branch = nn.Sequential(*parts, *([nn.GELU()] if trailing else []))
        self.norm = nn.LayerNorm(width) if norm else nn.Identity()

    def forward(self, x):
        return x + 0.5 * self.branch(self.norm(x))


@pytest.mark.parametrize(
    ("options", "why"),
    [({"norm": True}, "its branch has LayerNorm"), ({"trailing": True}, "ends with an activation")],
)
def test_residual_module_not_of_the_block_form_is_measured_and_named(options, why) -> None:
    # Before: such blocks were neither probed nor named; only their inner activations showed.
    torch.manual_seed(0)
    model = nn.Sequential(*[_Block(32, **options) for _ in range(3)])
    res = probe(model, torch.randn(8, 32))
    for name in ("0", "1", "2"):
        i = res.layers.index(name)  # the stream is measured ...
        assert res.status[i] == "ok"
        status = res.theory.status[i]  # ... and named as not covered, with the reason
        assert "is a residual module x + α·f(x), but not the block form" in status
        assert why in status
    assert not any(s.residual for s in res.theory.stacks)


def test_covered_block_form_is_unchanged() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(*[_Block(32) for _ in range(3)])
    res = probe(model, torch.randn(8, 32))
    assert [res.theory.status[res.layers.index(n)] for n in "012"] == ["covered"] * 3
    (stack,) = res.theory.stacks
    assert stack.residual is not None and stack.residual.startswith("block:")


def test_composite_cnn_block_names_its_uncovered_parts() -> None:
    class Stage(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

        def forward(self, x):
            return torch.relu(x + self.bn(self.conv(x)))

    torch.manual_seed(0)
    res = probe(nn.Sequential(Stage(), Stage()), torch.randn(4, 3, 5, 5), layers=[Stage])
    status = res.theory.status[1]
    assert "contains BatchNorm2d, Conv2d (normalisation, convolution: not covered)" in status


def test_transformer_linear_and_dropout_rows_say_what_they_are() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True)
    res = probe(layer, torch.randn(4, 3, 16), layers=["linear1", "dropout1", "self_attn"])
    status = dict(zip(res.layers, res.theory.status, strict=True))
    assert "gives a pre-activation" in status["linear1"]
    assert "changes no angle here" in status["dropout1"]
    assert "attention is not covered" in status["self_attn"]


def _mlp(act: type[nn.Module], bias: bool = True) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(*[m for _ in range(3) for m in (nn.Linear(32, 32, bias=bias), act())])


@pytest.mark.filterwarnings(r"ignore:screen.*width 32 < 64.*:depthscope.DepthscopeWarning")
def test_screen_reads_a_module_beyond_relu_with_matching_keywords() -> None:
    import depthscope as ds
    from depthscope import DepthscopeError

    leaky = _mlp(lambda: nn.LeakyReLU(0.1))  # PyTorch default init, biased
    network = {"activation": "leaky:0.1", "weight_std": 0.577, "bias_std": 0.1}
    (row,) = ds.screen(leaky, **network)
    (same,) = ds.screen(["32x3"], input_dim=32, **network)
    assert row.widths == (32, 32, 32) and row.ln_sin2_final == same.ln_sin2_final
    for spelling in ("LEAKY:0.10", " leaky:0.1 "):  # any spelling of the module's φ
        (other,) = ds.screen(leaky, **{**network, "activation": spelling})
        assert other.ln_sin2_final == same.ln_sin2_final
    with pytest.raises(DepthscopeError, match=r"activation='leaky:0\.1'\."):
        ds.screen(leaky)
    # Before: a ReLU module screened with activation="gelu" was silently predicted as GELU.
    with pytest.raises(DepthscopeError, match="uses activation relu, but activation='gelu'"):
        ds.screen(_mlp(nn.ReLU, bias=False), activation="gelu")
    with pytest.raises(DepthscopeError, match="have no bias"):
        ds.screen(_mlp(nn.Tanh, bias=False), activation="tanh", bias_std=0.1)
    with pytest.raises(DepthscopeError, match="non-zero bias"):
        ds.screen(_mlp(nn.Tanh), activation="tanh")


def test_a_sequence_first_transformer_is_named_not_read_as_positions() -> None:
    import depthscope as ds

    torch.manual_seed(0)
    notes = {}
    for batch_first in (True, False):
        layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=batch_first)
        model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
        x = torch.randn(4, 6, 16) if batch_first else torch.randn(6, 4, 16)
        if batch_first:
            notes[batch_first] = probe(model, x, layers="layers.*").notes
        else:
            with pytest.warns(ds.DepthscopeWarning, match="sequence-first"):
                notes[batch_first] = probe(model, x, layers="layers.*").notes
    assert not any("sequence-first" in n for n in notes[True])  # the negative control
    (note,) = [n for n in notes[False] if "sequence-first" in n]
    assert "layers.0.self_attn" in note and "batch_first=True" in note
    with pytest.raises(ds.DepthscopeError, match=r"sequence-first .* as \(T, d\)"):
        probe(model, torch.randn(6, 1, 16), across="tokens")
    assert len(probe(model, torch.randn(6, 16), across="tokens", layers="layers.*").layers) > 2


def _normal_init(net: nn.Sequential, weight_var: float, bias_std: float = 0.0) -> nn.Sequential:
    """Refill the Linear layers: W iid N(0, weight_var/fan_in), b iid N(0, bias_std²)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                sd = (weight_var / layer.in_features) ** 0.5
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * sd)
                if layer.bias is not None:
                    layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * bias_std)
    return net


@pytest.mark.filterwarnings(r"ignore:screen.*width 32 < 64.*:depthscope.DepthscopeWarning")
def test_screen_refuses_keywords_that_do_not_describe_the_modules_weights() -> None:
    """Before: a tanh MLP at PyTorch's default init (σ_w² = 1/3, deeply ordered) screened with
    the default weight_std = √2 was predicted as a σ_w² = 2 network, with no word. Now the
    hidden layers' σ_w², σ_b² are read as the probe reads them and must match the keywords
    within sampling error (4 standard errors + 2%)."""
    import depthscope as ds
    from depthscope import DepthscopeError

    tanh = _mlp(nn.Tanh, bias=False)  # PyTorch's default init: σ_w² = 1/3
    with pytest.raises(DepthscopeError, match=r"σ_w² = 0\.3.*PyTorch's default init.*") as err:
        ds.screen(tanh, activation="tanh")
    assert "weight_std=1.414" in str(err.value) and "weight_std=0.5" in str(err.value)
    (row,) = ds.screen(tanh, activation="tanh", weight_std=0.577)
    (same,) = ds.screen(["32x3"], input_dim=32, activation="tanh", weight_std=0.577)
    assert row.ln_sin2_final == same.ln_sin2_final
    # Negative control: He-scaled weights are what the default keywords describe.
    he = _normal_init(_mlp(nn.Tanh, bias=False), 2.0)
    assert ds.screen(he, activation="tanh")[0].widths == (32, 32, 32)
    # σ_w changes no angle of a bias-free ReLU stack: PyTorch's default init is accepted.
    relu = _mlp(nn.ReLU, bias=False)
    assert ds.screen(relu)[0].ln_sin2_final == ds.screen(["32x3"])[0].ln_sin2_final
    # Biases five times larger than bias_std says.
    loud = _normal_init(_mlp(lambda: nn.LeakyReLU(0.1)), 1.0, bias_std=0.5)
    with pytest.raises(DepthscopeError, match=r"bias_std=0\.1: .*bias_std=0\.[45]"):
        ds.screen(loud, activation="leaky:0.1", weight_std=1.0, bias_std=0.1)
    assert ds.screen(loud, activation="leaky:0.1", weight_std=1.0, bias_std=0.5)
    # Layers of different σ_w: no one weight_std describes them.
    mixed = _normal_init(_mlp(nn.Tanh, bias=False), 1.0)
    with torch.no_grad():
        mixed[2].weight.mul_(2.0)
    with pytest.raises(DepthscopeError, match=r"σ_w² differ .* probe it instead"):
        ds.screen(mixed, activation="tanh", weight_std=1.0)
    # A biased module screened bias-free: the error gives the measured σ_b to screen it with.
    with pytest.raises(DepthscopeError, match=r"non-zero bias \(σ_b = 0\.\d+ as measured"):
        ds.screen(_mlp(nn.Tanh), activation="tanh", weight_std=0.577)
    with pytest.raises(DepthscopeError, match="a screened module is a plain chain"):
        ds.screen(he, activation="tanh", residual="block:0.5")


def test_screen_warns_where_only_the_first_layers_bias_differs() -> None:
    """PyTorch's default init scales biases by 1/√fan_in: an input of another size than the
    width gives the first hidden layer another σ_b. That layer is named in a warning."""
    import depthscope as ds
    from depthscope import DepthscopeWarning

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
    network = {"activation": "gelu", "weight_std": 0.577, "bias_std": (1 / 192) ** 0.5}
    with pytest.warns(DepthscopeWarning, match=r"first hidden layer .* σ_b = 0\.\d+ \(fan_in 8\)"):
        (row,) = ds.screen(net, **network)
    assert row.widths == (64, 64)
