"""Bad-input audit of simulate's torch backend, ``depthscope sweep`` specs and ``depthscope probe``.

The surfaces the first audit (test_network_inputs_audit.py, test_cli_hardening.py) left out.
API errors are a DepthscopeError (TypeError for a wrong type), the same on both backends; CLI
errors are exit status 2 with one ``depthscope: error:`` line. Cases marked "before:" failed
so before the fix (a raw torch error, a traceback, a hang, a run that failed cell by cell).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import depthscope as ds
from depthscope import DepthscopeError

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


# 1. simulate(device="torch:cpu") ---------------------------------------------------------------

_SMALL = {"n_networks": 3, "rng": 0}


@pytest.mark.parametrize("device", ["cpu", "torch:cpu"])
@pytest.mark.parametrize(
    ("keywords", "error", "match"),
    [
        ({"widths": [8, math.nan]}, DepthscopeError, "has width nan"),
        ({"theta0": math.nan}, DepthscopeError, "NaN"),
        ({"theta0": 4.0}, DepthscopeError, "outside"),
        ({"theta0": "1"}, TypeError, "theta0 must be a real number"),  # before: ran at 1 rad
        ({"theta0": True}, TypeError, "theta0 must be a real number"),  # before: ran at 1 rad
        ({"n_networks": True}, TypeError, "n_networks"),
        ({"n_networks": 0}, DepthscopeError, "n_networks"),
        ({"bias_std": "0.1"}, TypeError, "bias_std must be a real number"),  # before: ran
        ({"bias_std": True}, TypeError, "bias_std must be a real number"),  # before: σ_b = 1
        ({"bias_std": math.inf}, DepthscopeError, r"bias_std = inf must be a finite"),
        ({"weight_std": 1e200}, DepthscopeError, "weight_std = 1e\\+200"),
        ({"weight_std": -1.0}, DepthscopeError, "weight_std"),
        ({"q0": 0.0}, DepthscopeError, "q0 = 0.0"),
        ({"activation": "nonsense"}, DepthscopeError, "unknown activation"),
        ({"activation": None}, TypeError, "activation must be a name"),
        ({"activation": "leaky:inf"}, DepthscopeError, "leaky slope"),
        ({"residual": "block:nan"}, DepthscopeError, "residual scale"),
        ({"residual": "sideways"}, DepthscopeError, "block:ALPHA"),
        ({"memory_budget": 0}, DepthscopeError, "memory_budget"),
        ({"memory_budget": "1"}, TypeError, "memory_budget"),
        ({"tolerance": "0.5"}, TypeError, "tolerance must be a real number"),
        ({"progress": 3}, TypeError, "progress must be a callable"),  # before: after 1 chunk
    ],
)
def test_bad_simulate_inputs_are_refused_alike_on_both_backends(device, keywords, error, match):
    if device != "cpu":
        pytest.importorskip("torch")
    arguments = {"widths": "8x3", "theta0": 1.0, **_SMALL, **keywords}
    widths, theta0 = arguments.pop("widths"), arguments.pop("theta0")
    with pytest.raises(error, match=match):
        ds.simulate(widths, theta0, device=device, **arguments)


@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("torch:nonsense", "unknown device 'torch:nonsense'; use 'cpu'"),
        ("", "unknown device ''"),
        ("meta", "not 'meta'"),  # before: NotImplementedError (cannot copy out of meta tensor)
        ("mps", "not 'mps'"),  # before: RuntimeError (not linked with support for mps)
        (None, "not None"),
        (7, "not 7"),
        ("cuda:7", "CUDA"),  # no CUDA: not available; a machine with fewer: counts them
    ],
)
def test_bad_devices_are_one_clear_line(device, match):
    torch = pytest.importorskip("torch")
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    with pytest.raises(DepthscopeError, match=match) as caught:
        ds.simulate("8x3", 1.0, device=device, **_SMALL)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_torch_backend_says_where_the_norms_leave_float64():
    pytest.importorskip("torch")
    # σ_w² = 100 with biases: the Gram's products overflow at layer ≈ 91 (see the numpy test)
    with pytest.warns(ds.DepthscopeWarning, match=r"left float64's range in 100% .* layer 9\d"):
        hot = ds.simulate([32] * 200, 1.0, n_networks=4, rng=0, weight_std=10.0, bias_std=0.1,
                          device="torch:cpu")  # fmt: skip
    assert hot.nonfinite_fraction[-1] == 1.0
    with pytest.warns(ds.DepthscopeWarning) as record:
        ds.simulate([32] * 320, 1.0, n_networks=2, rng=0, activation="tanh", weight_std=0.3,
                    device="torch:cpu")  # fmt: skip
    assert any("fell below float64's range" in str(w.message) for w in record)


@pytest.mark.parametrize(
    "keywords",
    [
        {"widths": [32] * 200, "theta0": 1.0, "weight_std": 10.0},  # σ_w² = 100, no bias: exact
        {"widths": "32x10", "theta0": 1e-150},
        {"widths": "32x10", "theta0": 1e-150, "activation": "tanh", "bias_std": 0.1},
        {"widths": "32x10", "theta0": 1.0, "weight_std": 1e6},
        {"widths": "32x10", "theta0": 1.0, "residual": "block:1e6", "activation": "tanh"},
    ],
)
def test_torch_backend_extreme_but_valid_networks_are_finite_and_quiet(keywords):
    pytest.importorskip("torch")
    arguments = {**_SMALL, **keywords}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ds.simulate(arguments.pop("widths"), arguments.pop("theta0"),
                             device="torch:cpu", **arguments)  # fmt: skip
    assert result.ln_sin2 is not None and np.isfinite(result.ln_sin2).all()


@pytest.mark.parametrize("device", ["cpu", "torch:cpu"])
def test_simulate_says_when_theta0_is_below_float64s_range(device):
    # before: θ0 = 1e-300 read as collapsed (−inf) from layer 0 on, silently, on both backends
    if device != "cpu":
        pytest.importorskip("torch")
    with pytest.warns(ds.DepthscopeWarning, match=r"theta0 = 1e-300 is below 1.5e-154"):
        tiny = ds.simulate("32x4", 1e-300, device=device, **_SMALL)
    assert tiny.collapsed_fraction[0] == 1.0
    with warnings.catch_warnings():  # negative controls: the smallest normal sin²θ0, and θ0 = π
        warnings.simplefilter("error")
        ds.simulate("32x4", 1e-150, device=device, **_SMALL)
        antipodal = ds.simulate("32x4", math.pi, device=device, **_SMALL)
    assert antipodal.ln_sin2 is not None and np.isfinite(antipodal.ln_sin2[1:]).all()


def test_torch_backend_width_2_counts_dead_networks_not_nan():
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ds.simulate([2] * 30, 1.0, n_networks=40, rng=0, device="torch:cpu")
    assert result.ln_sin2 is not None
    assert result.dead_fraction.max() > 0
    assert np.isnan(result.ln_sin2).sum() == result.dead.sum()  # every NaN is a dead network


# 2. depthscope sweep SPEC ----------------------------------------------------------------------

_GOOD = {"architectures": ["8x3"], "theta0": [0.5], "networks": 4, "seed": 1}


def _sweep(tmp_path: Path, body: str | bytes, suffix: str = ".json") -> list[str]:
    path = tmp_path / f"spec{suffix}"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return ["sweep", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seed": None}, "missing key 'seed'"),
        ({"colour": "red"}, "unknown key"),
        ({"architectures": []}, "'architectures' is an empty list"),
        ({"architectures": ["8x3", "8,8,8"]}, "lists a value twice"),
        ({"architectures": [8]}, "an architecture is a string"),
        ({"theta0": "0.5"}, "expected a number"),
        ({"theta0": 1e-320}, "subnormal"),  # before: every cell failed (exit 1)
        ({"networks": True}, "'networks' must be an integer"),
        ({"seed": -1}, "'seed' must be an integer ≥ 0"),
        ({"weight_std": 1e200}, r"σ_w = 1e\+200 must be a finite number in"),  # before: exit 1
        ({"weight_std": 1e-200}, r"σ_w = 1e-200 must be"),  # before: exit 1
        ({"bias_std": 1e200}, r"σ_b = 1e\+200 must be"),  # before: exit 1
        ({"q0": 1e300}, r"q0 = 1e\+300 must be"),  # before: exit 1
        ({"activation": "leaky:1e300"}, "leaky slope"),
        ({"residual": "block:x"}, "residual scale must be a number"),
        ({"method": ["markov", "nope"]}, "choose one of"),
        (  # 1000 × 3000 × 100 × 4 cells: before, a hang expanding the grid
            {
                "architectures": [f"{w}x3" for w in range(2, 1002)],
                "theta0": [0.001 * i for i in range(1, 3001)],
                "bias_std": [0.01 * i for i in range(100)],
                "method": ["markov", "lattice", "infinite", "mean"],
            },
            "the grid has 1,200,000,000 cells; at most",
        ),
    ],
)
def test_bad_sweep_specs_are_one_line(refused, tmp_path, change, match):
    spec = {key: value for key, value in (_GOOD | change).items() if value is not None}
    line = refused(_sweep(tmp_path, json.dumps(spec)))
    assert "invalid sweep spec" in line
    assert re.search(match, line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("body", "suffix", "match"),
    [
        ('{"architectures": ["8x3"], "theta0": NaN, "networks": 4, "seed": 1}', ".json", "finite"),
        ('[{"architectures": ["8x3"]}]', ".json", "must be a mapping"),
        ('{"architectures": [', ".json", "not valid JSON"),
        ("", ".json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, ".json", "nesting too deep"),
        (b"\xff\xfe{}", ".json", "not UTF-8"),  # before: UnicodeDecodeError traceback
        ("architectures: [8x3\n", ".yaml", "not valid YAML"),
        ("- 8x3\n- 16x3\n", ".yaml", "must be a mapping"),
        ("!!python/object:os.system {}\n", ".yaml", "not valid YAML"),
        ("architectures: [8x3]\ntheta0: .nan\nnetworks: 4\nseed: 1\n", ".yaml", "finite"),
    ],
)
def test_unreadable_sweep_spec_files_are_one_line(refused, tmp_path, body, suffix, match):
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    assert match in refused(_sweep(tmp_path, body, suffix))


def test_sweep_yaml_alias_bomb_isrefused(refused, tmp_path):
    # before: safe_load expanded 10⁸ aliases (~1 minute) before the spec was checked
    pytest.importorskip("yaml")
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    bomb = "\n".join([*lines, "architectures: [*h]", ""])
    assert "nodes" in refused(_sweep(tmp_path, bomb, ".yaml"))


def test_sweep_spec_that_is_missing_or_a_folder(refused, tmp_path):
    out = ["--out", str(tmp_path / "out"), "--serial"]
    assert "No such file" in refused(["sweep", str(tmp_path / "nope.json"), *out])
    assert "cannot read" in refused(["sweep", str(tmp_path), *out])


def test_load_spec_refuses_non_utf8(tmp_path):
    from depthscope.sweep import load_spec

    path = tmp_path / "spec.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(DepthscopeError, match="not UTF-8"):
        load_spec(path)


# 3. depthscope probe ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe_files(tmp_path_factory):
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("probe")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 4),
    )  # fmt: skip
    torch.jit.script(net).save(str(folder / "script.pt"))
    torch.save(net.state_dict(), folder / "state.pt")
    np.save(folder / "x.npy", np.random.default_rng(0).standard_normal((6, 8)))
    (folder / "notes.txt").write_text("not a model")
    (folder / "empty.pt").write_bytes(b"")
    (folder / "sub").mkdir()
    return folder


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--model", "{f}/nope.pt"], "does not exist"),
        (["--model", "{f}/sub"], "is a directory, not a file"),
        (["--model", "{f}/notes.txt"], "is not a model file"),
        (["--model", "{f}/empty.pt"], "is not a model file"),
        (["--model", "{f}/x.npy"], "is not a model file"),
        (["--model", "{f}/state.pt"], "pass --arch"),
        (["--model", "{f}/state.pt", "--arch", "abc"], "cannot read architecture"),
        (["--model", "{f}/state.pt", "--arch", "0,16,4"], "zero"),
        # before: torch's allocation error (32 GB for one Linear) as a traceback
        (["--model", "{f}/state.pt", "--arch", "1000000000,16,4"], "'0.weight' is of shape"),
        (["--model", "{f}/state.pt", "--arch", "16,16,5"], r"needs \(5, 16\)"),
        (["--layers", "nothing*"], "matches no module"),
        (["--layers", "["], "matches no module"),
        (["--inputs", "{f}/sub"], "is a directory, not a file"),
        (["--inputs", "{f}/notes.txt"], "not a numeric .npy"),
        (["--pair", "0", "0"], "two different rows"),
        (["--pair", "0", "99"], "two different rows"),
        (["--pair", "x", "y"], "invalid int value"),
        (["--tolerance", "nan"], "finite"),
        (["--tolerance", "2"], r"must be in \(0, 1\)"),
        (["--max-features", "0"], "positive integer"),
        (["--positions", "1e3"], "positive integer"),
        (["--seed", "-1"], "seed"),
    ],
)
def test_bad_probe_arguments_are_one_line(refused, probe_files, argv, match):
    folder = str(probe_files)
    given = [a.replace("{f}", folder) for a in argv]
    defaults = {"--model": f"{folder}/script.pt", "--inputs": f"{folder}/x.npy"}
    for flag, value in defaults.items():
        if flag not in given:
            given += [flag, value]
    line = refused(["probe", *given, "--out", f"{folder}/out", "--no-figure"])
    assert re.search(match, line), line
