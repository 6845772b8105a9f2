"""Audit 11: simulate's and probe's messages say what the user set, in the user's terms.

Each test reproduces one finding: ``input_dim`` ignored by residual blocks with two inputs; the
dense sampler's refusal naming options that were not set; the leaky slope's error naming an
internal function and a second slope; the probe saying nothing of the init it assumed for a
bias-free ReLU chain.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import depthscope as ds
from depthscope import DepthscopeError
from depthscope.cli import main

# 1. Residual blocks start their stream at the inputs, with two inputs as with a batch ----------


@pytest.mark.parametrize("pair", [{"theta0": 1.0}, {"inputs": 4}])
def test_residual_input_dim_must_be_the_width_for_two_inputs_too(pair):
    with pytest.raises(DepthscopeError, match="input_dim = 7 must equal the width 64"):
        ds.simulate("64x3", **pair, n_networks=10, residual="block:0.5", input_dim=7, rng=0)


def test_residual_input_dim_error_on_the_command_line(refused):
    argv = "simulate 64x3 --theta0 1 --networks 10 --residual block:0.5 --input-dim 7 --json"
    line = refused([*argv.split(), "--quiet"])
    assert "input_dim = 7 must equal the width 64" in line


def test_residual_input_dim_equal_to_the_width_runs_and_plain_layers_ignore_it():
    kwargs = {"n_networks": 5, "rng": 3}
    same = ds.simulate("16x3", 1.0, residual="block:0.5", input_dim=16, **kwargs)
    default = ds.simulate("16x3", 1.0, residual="block:0.5", **kwargs)
    assert (same.ln_sin2 == default.ln_sin2).all()
    # plain layers: the two-input Gram chain does not depend on n0 (documented), no error
    plain = ds.simulate("16x3", 1.0, input_dim=7, weight_std=1.2, **kwargs)
    assert (plain.ln_sin2 == ds.simulate("16x3", 1.0, weight_std=1.2, **kwargs).ln_sin2).all()


# 2. The dense sampler's refusal names only what was set -----------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named", "not_named"),
    [
        ({"weight_std": 1.0}, "weight_std = 1 needs", ("activation", "q0", "residual")),
        ({"q0": 2.0}, "q0 = 2 needs", ("activation", "weight_std", "residual")),
        ({"activation": "tanh"}, "activation 'tanh' needs", ("weight_std", "q0", "residual")),
        (
            {"activation": "gelu", "residual": "block:0.5"},
            "activation 'gelu' and residual 'block:0.5' need",
            ("weight_std", "q0"),
        ),
    ],
)
def test_dense_refusal_names_only_what_was_set(kwargs, named, not_named):
    with pytest.raises(DepthscopeError) as info:
        ds.simulate("64x10", 1.0, n_networks=10, sampler="dense", **kwargs)
    message = str(info.value)
    assert named in message and "sampler='gram'" in message, message
    assert "He ReLU/leaky network only" in message, message  # the reason stays
    for name in not_named:
        assert name not in message, message
    assert "relu'" not in message, message  # the default activation is not named


def test_dense_refusal_on_the_command_line(refused):
    argv = "simulate 64x10 --theta0 1 --networks 10 --weight-std 1.0 --sampler dense"
    line = refused(argv.split())
    assert "weight_std = 1 needs sampler='gram'" in line and "'relu'" not in line, line


# 3. The leaky slope's error names the activation as written, in predict as in simulate ----------

LEAKY_SLOPE = "the leaky slope must be a finite number in"


@pytest.mark.parametrize("spec", ["leaky:1e7", "leaky:nan", "Leaky:-inf", "leaky:abc"])
def test_predict_and_simulate_word_a_bad_leaky_slope_alike(spec):
    expected = f"activation {spec!r}: {LEAKY_SLOPE}"
    with pytest.raises(DepthscopeError) as predicted:
        ds.predict("64x10", 1.0, activation=spec)
    with pytest.raises(DepthscopeError) as simulated:
        ds.simulate("64x10", 1.0, n_networks=4, activation=spec)
    for info in (predicted, simulated):
        message = str(info.value)
        assert message.startswith(expected), message
        assert "ab_relu" not in message and "1.0" not in message, message


def test_leaky_slope_error_on_the_predict_command_line(refused):
    line = refused(["predict", "64x10", "--activation", "leaky:nan"])
    assert f"activation 'leaky:nan': {LEAKY_SLOPE}" in line and "ab_relu" not in line, line


def test_ab_relu_itself_keeps_its_two_slope_wording():
    from depthscope.theory._activations import ab_relu

    with pytest.raises(DepthscopeError, match=r"ab_relu slopes .* got nan, 1\.0"):
        ab_relu(float("nan"), 1.0)


# 4. The probe says which init it assumed for a bias-free ReLU stack, as for a leaky one ---------


def _bias_free_chain(torch: Any, activation: str, init: str) -> Any:
    nn = torch.nn
    act = {"relu": nn.ReLU, "leaky": nn.LeakyReLU}[activation]
    layers = [nn.Linear(20, 64, bias=False), act()]
    for _ in range(4):
        layers += [nn.Linear(64, 64, bias=False), act()]
    model = nn.Sequential(*layers)
    if init == "kaiming":
        for module in model:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model


@pytest.mark.parametrize("init", ["pytorch", "kaiming"])
@pytest.mark.parametrize("activation", ["relu", "leaky"])
def test_probe_names_the_assumed_init_of_a_bias_free_relu_stack(activation, init):
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _bias_free_chain(torch, activation, init)
    x = torch.randn(32, 20, generator=gen)
    x[1] = x[0] + 0.5 * x[1]  # θ0 ≈ 0.5 rad: no closure warning near π/2 to muddle the note
    result = ds.probe(model, x, rng=0, pair=(0, 1))
    (stack,) = result.theory.stacks
    assert stack.paper == (activation == "relu")
    assert stack.init.startswith("σ_w changes no angle of a bias-free ReLU"), stack.init
    assert "(σ_w² = 2 used); predicted by method 'markov': a band" in stack.init, stack.init
    (entry,) = result.to_dict()["theory"]["stacks"]
    assert entry["init"] == stack.init
    assert ("activation" in entry) == (activation != "relu")  # network keys beyond the paper's


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_probe_command_line_writes_the_assumed_init_of_a_bias_free_relu_stack(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = _bias_free_chain(torch, "relu", "pytorch")
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(str(path))
    batch = tmp_path / "x.npy"
    inputs = np.random.default_rng(0).standard_normal((6, 20))
    inputs[1] = inputs[0] + 0.5 * inputs[1]  # the pair (0, 1) at θ0 ≈ 0.5 rad
    np.save(batch, inputs.astype(np.float32))
    argv = ["probe", "--model", str(path), "--inputs", str(batch), "--no-figure"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    written = json.loads((tmp_path / "o" / "layers.json").read_text())
    (entry,) = written["theory"]["stacks"]
    assert entry["init"].startswith("σ_w changes no angle of a bias-free ReLU"), entry
