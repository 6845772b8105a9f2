"""The command line and its file readers under hostile input (issue 14).

Each test reproduces one finding of the issue: every error is one short line
``depthscope: error: ...`` with exit status 2 (never a traceback, never a usage block); every
``--json`` output and JSON file is strict JSON with its non-finite numbers flagged; nonsense
options are refused before anything is computed or written; files are read within stated limits.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depthscope.cli import main


def _strict_loads(text: str) -> object:
    def reject(constant: str) -> object:
        raise AssertionError(f"non-strict JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


# 1. One error line, exit status 2 -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "10x3", "--bogus"],
        ["predict", "10x3", "--method", "nope"],
        ["predict"],
        ["screen", "10x3", "--json", "--csv"],
    ],
)
def test_argparse_errors_are_one_line_with_a_help_hint(refused, argv):
    line = refused(argv)
    assert "usage:" not in line and "--help)" in line


def test_memory_error_says_out_of_memory(refused, monkeypatch):
    from depthscope.cli import _predict

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(_predict, "predict", exhausted)
    line = refused(["predict", "10x3"])
    assert "out of memory" in line


def test_echoed_input_is_truncated_to_one_short_line(refused, tmp_path):
    path = tmp_path / "archs.json"
    path.write_text(json.dumps([{"architecture": ["x" * 5000, [1] * 5000]}]))
    line = refused(["screen", "--file", str(path)])
    assert len(line) < 200


# 2. Strict JSON ---------------------------------------------------------------------------------


# The predictor's own log(0) warning at θ0 = 1e-300 is the predictor's issue, not the CLI's.
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_predict_json_is_strict_with_nonfinite_values_flagged(capsys):
    argv = ["predict", "256x3", "--theta0", "1e-300", "--method", "infinite", "--json"]
    assert main(argv) == 0
    data = _strict_loads(capsys.readouterr().out)  # printed -Infinity before
    assert isinstance(data, dict)
    flags = data.get("nonfinite_values", {})
    for pointer, flag in flags.items():
        assert flag in ("NaN", "Infinity", "-Infinity")
        value: object = data
        for token in pointer.split("/")[1:]:
            value = value[int(token)] if isinstance(value, list) else value[token]  # type: ignore[index]
        assert value is None


def test_strict_writer_flags_every_nonfinite_number(tmp_path):
    from depthscope.report._output import dumps_json, write_json

    value = {"a": [1.0, math.nan], "b": {"c/d": np.array([-math.inf])}, "e": math.inf}
    data = _strict_loads(dumps_json(value))
    assert data == {
        "a": [1.0, None],
        "b": {"c/d": [None]},
        "e": None,
        "nonfinite_values": {"/a/1": "NaN", "/b/c~1d/0": "-Infinity", "/e": "Infinity"},
    }
    write_json(tmp_path / "x.json", [{"x": math.nan}, {"y": 1.0}])
    rows = _strict_loads((tmp_path / "x.json").read_text())
    assert rows == [{"x": None, "nonfinite_values": {"/x": "NaN"}}, {"y": 1.0}]
    assert "nonfinite_values" not in _strict_loads(dumps_json({"finite": [1.0, 2.0]}))


# 3. Nonsense options refused before anything runs -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["reproduce", "fig1", "--networks", "0"], "positive integer"),
        (["reproduce", "fig4", "--networks", "10"], "theory only"),
        (["reproduce", "fig4", "--seed", "3"], "theory only"),
        (["screen", "10x3", "--input-dim", "-4"], "positive integer"),
        (["screen", "10x3", "--output-dim", "0"], "positive integer"),
        (["screen", "10x3", "--threshold", "nan"], "finite"),
        (["predict", "10x3", "--theta0", "inf"], "finite"),
        (["predict", "10x3", "--theta0", "4"], "outside [0, π]"),
        (["predict", "10x3", "--input-dim", "2.5"], "positive integer"),
        (["simulate", "8x2", "--theta0", "1", "--networks", "-3"], "positive integer"),
        (["simulate", "8x2", "--theta0", "1", "--networks", "2", "--seed", "2.0"], "seed"),
        (["simulate", "8x2", "--theta0", "1", "--networks", "2", "--bias-std", "nan"], "finite"),
        (["claims", "--seed", str(2**63)], "seed"),
    ],
)
def test_nonsense_options_arerefused(refused, argv, expected):
    assert expected in refused(argv)


def test_negative_seed_is_refused_before_the_output_folder_is_made(refused, tmp_path):
    out = tmp_path / "never"
    argv = ["simulate", "8x2", "--theta0", "1", "--networks", "2", "--seed", "-1"]
    assert "seed" in refused([*argv, "--save", str(out)])
    assert not out.exists()
    assert "seed" in refused(["reproduce", "fig1", "--out", str(out), "--seed", "-1"])
    assert not out.exists()


def test_approx2_is_refused_past_its_depth_limit(refused):
    from depthscope.cli._predict import MAX_APPROX2_DEPTH

    argv = ["predict", f"30x{MAX_APPROX2_DEPTH + 1}", "--method", "approx2"]
    assert "quadratic" in refused(argv)


# 4. Files read within limits ---------------------------------------------------------------------

_ALIAS_BOMB = """\
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
architectures: [*h]
"""


def test_yaml_alias_bomb_is_refused_quickly(refused, tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "bomb.yaml"
    path.write_text(_ALIAS_BOMB)
    assert "nodes" in refused(["screen", "--file", str(path)])


def test_recursive_yaml_isrefused(refused, tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\n")
    refused(["screen", "--file", str(path)])


def test_oversized_text_file_isrefused(refused, tmp_path):
    from depthscope.cli._files import MAX_TEXT_BYTES

    path = tmp_path / "big.txt"
    path.write_bytes(b"10x3\n" * (MAX_TEXT_BYTES // 5 + 1))
    assert "MiB" in refused(["screen", "--file", str(path)])


def test_non_utf8_architecture_file_is_one_line(refused, tmp_path):
    path = tmp_path / "archs.txt"
    path.write_bytes(b"10x3\n\xff\xfe20x2\n")
    assert "UTF-8" in refused(["screen", "--file", str(path)])


@pytest.mark.parametrize("suffix", [".txt", ".json", ".yaml"])
def test_architecture_file_with_a_byte_order_mark_is_read(capsys, tmp_path, suffix):
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    body = {".txt": "10x3\n", ".json": '["10x3"]', ".yaml": "- 10x3\n"}[suffix]
    path = tmp_path / f"archs{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert main(["screen", "--file", str(path), "--json"]) == 0
    rows = _strict_loads(capsys.readouterr().out)
    assert [row["architecture"] for row in rows] == ["10x3"]  # type: ignore[union-attr]


def _simulate_inputs(path: Path) -> list[str]:
    return ["simulate", "8x2", "--inputs-file", str(path), "--networks", "2", "--seed", "1"]


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.ones((3, 4), dtype=np.complex128), "complex"),
        (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
        (np.ones((3, 4), dtype=bool), "real numbers"),
        (np.array([[np.nan, 1.0], [1.0, 2.0]]), "NaN or infinite"),
        (np.array([[np.inf, 1.0], [1.0, 2.0]]), "NaN or infinite"),
    ],
)
def test_bad_npy_inputs_arerefused(refused, tmp_path, array, expected):
    path = tmp_path / "x.npy"
    np.save(path, array)
    assert expected in refused([*_simulate_inputs(path), "--quiet"])


@pytest.mark.parametrize(
    "content",
    [b"", b"\x93NUMPY", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'"],
)
def test_empty_or_truncated_npy_isrefused(refused, tmp_path, content):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    assert ".npy" in refused([*_simulate_inputs(path), "--quiet"])


def test_npy_size_is_checked_from_the_header(refused, tmp_path):
    from depthscope.simulation._inputs import MAX_INPUTS_BYTES

    path = tmp_path / "x.npy"
    rows = MAX_INPUTS_BYTES // (8 * 16) + 1
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 16)))
    header["shape"] = (rows, 16)
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\x00" * 64)  # the data is never read
    assert "MiB" in refused([*_simulate_inputs(path), "--quiet"])


def test_truncated_npy_data_isrefused(refused, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((4, 8)))
    path.write_bytes(path.read_bytes()[:-8])
    refused([*_simulate_inputs(path), "--quiet"])


def test_interrupt_turned_into_another_error_by_a_c_extension_exits_130(monkeypatch, capsys):
    """A SIGINT that lands inside a C extension can come out as another exception: matplotlib's
    SVG writer raised "ValueError: Invalid affine transformation matrix" from a KeyboardInterrupt
    (a fault-injection test signalled `reproduce fig1` while it drew its figure, and the user got
    a traceback). main() notes the signal and reports it as an interruption, exit 130; the same
    ValueError without a signal (negative control) still propagates."""
    import os
    import signal

    from depthscope.cli import _predict

    previous = signal.getsignal(signal.SIGINT)

    def converted(args):  # what matplotlib's converter did with the interrupt
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs at the next bytecode
            for _ in range(1000):
                pass
        except KeyboardInterrupt:
            raise ValueError("Invalid affine transformation matrix") from None
        raise AssertionError("the signal was not delivered")

    monkeypatch.setattr(_predict, "run", converted)
    assert main(["predict", "10x3"]) == 130
    assert capsys.readouterr().err == "depthscope: interrupted\n"

    def plain(args):
        raise ValueError("Invalid affine transformation matrix")

    monkeypatch.setattr(_predict, "run", plain)
    with pytest.raises(ValueError, match="Invalid affine"):
        main(["predict", "10x3"])
    assert signal.getsignal(signal.SIGINT) is previous  # restored


#: Run ``python -m depthscope --help`` with an import hook that sends this process SIGINT when
#: the named module is first imported: Ctrl-C at a fixed point of the start-up.
_SIGINT_AT_IMPORT = """
import importlib.abc, os, runpy, signal, sys
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == TARGET:
            os.kill(os.getpid(), signal.SIGINT)
        return None
TARGET, sys.argv = sys.argv[1], ["depthscope", "--help"]
sys.meta_path.insert(0, Hook())
runpy.run_module("depthscope", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(
    "module",
    [
        "depthscope.cli",  # imported by __main__ after its handler (numpy comes with it)
        "depthscope.cli._predict",  # build_parser's imports, inside main (scipy comes with it)
    ],
)
def test_ctrl_c_during_start_up_is_one_line(module):
    # before: Python's KeyboardInterrupt traceback through the imports (≈ 0.5 s of them)
    done = subprocess.run(
        [sys.executable, "-c", _SIGINT_AT_IMPORT, module], capture_output=True, text=True
    )
    assert done.stderr == "depthscope: interrupted\n"
    assert done.returncode in (130, -signal.SIGINT)  # (Python's own exit by signal, as seen)


def test_ctrl_c_before_the_package_is_imported_is_pythons_own():
    # negative control: before __main__ runs nothing of depthscope handles it (the window that
    # remains: the interpreter's start and the package's few-millisecond __init__)
    done = subprocess.run(
        [sys.executable, "-c", _SIGINT_AT_IMPORT, "depthscope"], capture_output=True, text=True
    )
    assert "Traceback" in done.stderr and "depthscope: interrupted" not in done.stderr
