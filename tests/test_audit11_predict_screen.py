"""predict and screen agree on their inputs and messages (audit 11).

1. screen's infinite-width column is empty (with one warning saying why) where the kernel map
   cannot follow the network, instead of the whole ranking failing;
2. convention 'paper' is refused beyond bias-free ReLU by predict too, with screen's words;
3. θ0 out of range: the parallel-inputs clause only for θ0 = 0;
4. the command line names --weight-std, --bias-std, --q0 and --residual when it refuses them;
5. predict and screen take a leaky slope as a bare number (as simulate does), and a bare α.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import depthscope as ds
from depthscope import DepthscopeError, DepthscopeWarning
from depthscope.cli import main


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# 1. screen's infinite-width column --------------------------------------------------------------

_BEYOND_THE_MAP = [  # the default method follows these; the kernel map does not
    ({"activation": "tanh", "q0": 1e8}, "Gaussian quadrature"),
    ({"activation": "gelu", "weight_std": 1000.0, "residual": "block:0.3"}, "float64's range"),
]


@pytest.mark.parametrize(("network", "reason"), _BEYOND_THE_MAP)
def test_screen_leaves_the_infinite_column_empty_where_the_map_cannot_follow(network, reason):
    # before: DepthscopeError "predict(method='infinite') cannot follow ...": no ranking at all
    with pytest.warns(DepthscopeWarning) as record:
        rows = ds.screen(["64x10", "32x10"], **network)
    assert [r.ln_sin2_final_infinite for r in rows] == [None, None]
    assert all(math.isfinite(r.ln_sin2_final) for r in rows)
    assert sorted(r.rank for r in rows) == [1, 2]
    with warnings.catch_warnings():  # (tanh at q0 = 1e8 is inside the domain from width 64)
        warnings.simplefilter("ignore", DepthscopeWarning)
        p = ds.predict("64x10", math.pi / 2, **network)
    assert rows[0].ln_sin2_final == p.mean[-1]
    notes = [str(w.message) for w in record if "ln_sin2_final_infinite" in str(w.message)]
    assert len(notes) == 1  # one note per reason, naming the architectures
    assert "64x10, 32x10" in notes[0] and reason in notes[0]
    assert "\n" not in notes[0] and "method" not in notes[0]  # screen has no --method
    assert rows[0].to_dict()["ln_sin2_final_infinite"] is None


def test_screen_keeps_the_infinite_column_where_the_map_follows():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DepthscopeWarning)
        (row,) = ds.screen(["64x10"], activation="tanh")
    q = ds.predict("64x10", math.pi / 2, activation="tanh", method="infinite")
    assert row.ln_sin2_final_infinite == q.mean[-1]


def test_cli_screen_shows_an_empty_infinite_column(capsys):
    argv = ["screen", "64x10", "--activation", "tanh", "--q0", "1e8"]
    code, out, err = _run(capsys, [*argv, "--json"])
    assert code == 0
    (row,) = json.loads(out)
    assert row["ln_sin2_final_infinite"] is None and row["rank"] == 1
    assert "depthscope: warning: screen: ln_sin2_final_infinite is empty for 64x10" in err
    code, out, _ = _run(capsys, argv)
    assert code == 0
    line = out.splitlines()[-1].split()
    assert line[:2] == ["1", "64x10"] and line[4] == "-"
    code, out, _ = _run(capsys, [*argv, "--csv"])
    assert code == 0
    header, values = out.splitlines()
    assert values.split(",")[header.split(",").index("ln_sin2_final_infinite")] == ""


# 2. convention 'paper' beyond bias-free ReLU ------------------------------------------------------

_PAPER_ONLY = "convention 'paper' covers bias-free ReLU only; use convention='exact'."


@pytest.mark.parametrize("method", ["markov", "infinite"])
@pytest.mark.parametrize(
    "network", [{"activation": "tanh"}, {"bias_std": 0.1}, {"residual": "block:0.5"}]
)
def test_predict_refuses_the_paper_convention_beyond_relu_like_screen(network, method):
    # before: predict applied the paper's fan-in widths to tanh; screen refused
    with pytest.raises(DepthscopeError) as predicted:
        ds.predict("64x3", 1.0, convention="paper", input_dim=64, method=method, **network)
    with pytest.raises(DepthscopeError) as screened:
        ds.screen(["64x3"], convention="paper", input_dim=64, **network)
    assert str(predicted.value) == str(screened.value) == _PAPER_ONLY


def test_paper_convention_still_takes_bias_free_relu_at_any_weight_std():
    p = ds.predict("64x3", 1.0, convention="paper", input_dim=64, weight_std=3.0)
    q = ds.predict("64x3", 1.0, convention="paper", input_dim=64)
    np.testing.assert_array_equal(p.mean, q.mean)


def test_cli_predict_refuses_the_paper_convention_beyond_relu(refused):
    argv = ["predict", "64x3", "--activation", "tanh", "--convention", "paper"]
    line = refused([*argv, "--input-dim", "64", "--json"])
    assert line == f"depthscope: error: {_PAPER_ONLY}"


# 3. θ0 out of range -------------------------------------------------------------------------------


@pytest.mark.parametrize("theta0", [4.0, -1.0, math.nan, -math.inf])
def test_theta0_out_of_range_has_no_parallel_inputs_clause(theta0):
    with pytest.raises(DepthscopeError, match=r"outside \(0, π\]") as error:
        ds.predict("64x3", theta0, activation="tanh")
    assert "parallel" not in str(error.value)


def test_theta0_zero_keeps_the_parallel_inputs_clause():
    with pytest.raises(DepthscopeError, match=r"parallel inputs \(θ0 = 0\) have no angle"):
        ds.predict("64x3", 0.0)


# 4. the command line names its flags --------------------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "screen", "simulate"])
@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--weight-std", "1e7"),
        ("--weight-std", "1e-7"),
        ("--bias-std", "1e7"),
        ("--q0", "1e101"),
        ("--q0", "1e-101"),
        ("--residual", "0.5"),
        ("--residual", "block:1e7"),
        ("--activation", "foo"),
        ("--activation", "leaky:nan"),
    ],
)
def test_cli_network_errors_name_the_flag(refused, command, flag, value):
    # before: "weight_std = 10000000.0 must be ...", "residual must be ..." (API names)
    extra = ["--theta0", "1", "--networks", "2"] if command == "simulate" else []
    line = refused([command, "64x10", *extra, flag, value])
    assert f"argument {flag}: " in line, line


def test_cli_bare_residual_says_how_to_write_it(refused):
    line = refused(["predict", "64x10", "--residual", "0.5"])
    assert "block:0.5" in line


def test_screen_checks_the_network_keywords_like_predict():
    # before: screen of bias-free ReLU took weight_std=1e7 or q0=0 without a word
    for keywords in ({"weight_std": 1e7}, {"q0": 0.0}, {"bias_std": -1.0}):
        with pytest.raises(DepthscopeError, match="must be a finite number in"):
            ds.screen(["64x10"], **keywords)


# 5. the same inputs as simulate -------------------------------------------------------------------


def test_predict_takes_a_leaky_slope_as_a_number():
    # before: TypeError "activation must be a string or a callable" (simulate took it)
    p = ds.predict("64x3", 1.0, activation=0.1)
    q = ds.predict("64x3", 1.0, activation="leaky:0.1")
    np.testing.assert_array_equal(p.mean, q.mean)
    np.testing.assert_array_equal(p.sd, q.sd)
    assert p.network == q.network
    relu = ds.predict("64x3", 1.0, activation=np.float64(0.0))
    assert relu.network == ds.predict("64x3", 1.0).network  # slope 0: the exact ReLU law
    np.testing.assert_array_equal(relu.mean, ds.predict("64x3", 1.0).mean)


def test_screen_takes_a_leaky_slope_as_a_number():
    (row,) = ds.screen(["64x10"], activation=0.1)
    (same,) = ds.screen(["64x10"], activation="leaky:0.1")
    assert row == same


@pytest.mark.parametrize("activation", [True, None, [0.1]])
def test_predict_activation_of_the_wrong_type(activation):
    with pytest.raises(TypeError, match="activation must be a name"):
        ds.predict("64x3", 1.0, activation=activation)


def test_predict_reads_a_bare_residual_scale_as_a_block():
    p = ds.predict("64x3", 1.0, residual=0.5)
    q = ds.predict("64x3", 1.0, residual="block:0.5")
    np.testing.assert_array_equal(p.mean, q.mean)
    assert p.network == q.network
    assert p.network.endswith("residual block:0.5")


@pytest.mark.parametrize("spelling", ["leaky_relu:0.1", "LeakyReLU:0.1", " leaky:0.1 "])
def test_predict_takes_simulates_leaky_spellings(spelling):
    """predict reads the leaky spellings simulate reads (it refused leaky_relu:S before)."""
    np.testing.assert_array_equal(
        ds.predict("64x5", 1.0, activation=spelling).mean,
        ds.predict("64x5", 1.0, activation="leaky:0.1").mean,
    )
    simulated = ds.simulate("64x5", 1.0, n_networks=20, rng=3, activation=spelling)
    reference = ds.simulate("64x5", 1.0, n_networks=20, rng=3, activation="leaky:0.1")
    np.testing.assert_array_equal(simulated.ln_sin2, reference.ln_sin2)
