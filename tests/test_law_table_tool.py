"""``tools/make_law_table.py``: the shipped law table is reproducible node by node, whatever the
engine (serial or a Dask LocalCluster), and an interrupted run resumes from its node cache."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "depthscope" / "data" / "law_table.npz"
# Widths 4 and 6 at every 8th θ node of the full grid, at the full settings: two nodes of the
# scale-invariant regime (θ ≤ 1e-5, 500,000 draws), five ordinary ones and two near θ = π
# whose continuous part is too small (their knots are carried from the node below).
SUBSET = ["--widths", "4,6", "--thetas", "0:65:8"]
THETA_INDICES, WIDTH_INDICES = np.arange(0, 65, 8), [0, 2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_law_table", ROOT / "tools/make_law_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(tmp_path: Path, name: str, *engine: str) -> dict[str, np.ndarray]:
    out = tmp_path / f"{name}.npz"
    assert _tool().main([*engine, *SUBSET, "--out", str(out), "--cache", str(tmp_path / name)]) == 0
    with np.load(out) as table:
        return {key: table[key] for key in table.files}


def _nodes(cache: Path) -> dict[str, dict[str, np.ndarray]]:
    nodes = {}
    for path in sorted(cache.iterdir()):
        with np.load(path) as node:
            nodes[path.name] = {key: node[key] for key in node.files}
    return nodes


def test_a_subset_built_serially_equals_the_shipped_table_bit_for_bit(tmp_path):
    table = _build(tmp_path, "serial", "--serial")
    with np.load(SHIPPED) as shipped_file:
        shipped = {key: shipped_file[key] for key in shipped_file.files}
    tool = _tool()
    # The shipped table was built at the full settings with this seed (as the tool records).
    assert not shipped["quick"] and shipped["samples"] == tool.SAMPLES == table["samples"]
    assert shipped["seed"] == tool.SEED == table["seed"]
    rows, columns = THETA_INDICES, WIDTH_INDICES
    np.testing.assert_array_equal(table["theta"], shipped["theta"][rows])
    np.testing.assert_array_equal(table["n"], shipped["n"][columns])
    for key in ("levels", "log_theta_inf"):
        np.testing.assert_array_equal(
            table[key], shipped[key][rows] if key != "levels" else shipped[key]
        )
    for key in ("node_samples", "atoms_mc", "z_moments"):
        np.testing.assert_array_equal(table[key], shipped[key][np.ix_(rows, columns)])
    # Knots: equal where the node has its own continuous part; the others carry the law of the
    # θ node below, which in the subset is another node than in the full grid.
    own = table["z_moments"][..., 0] >= tool.MIN_CONTINUOUS
    assert own.sum() == 14 and own[:7].all()
    np.testing.assert_array_equal(table["knots"][own], shipped["knots"][np.ix_(rows, columns)][own])
    assert len(list((tmp_path / "serial").iterdir())) == 18  # one file per node, no leftovers


def test_a_rerun_computes_only_the_missing_nodes(tmp_path, capsys):
    first = _build(tmp_path, "run", "--serial")
    cache = tmp_path / "run"
    kept = {path.name: path.stat().st_mtime_ns for path in cache.iterdir()}
    lost = sorted(kept)[3]
    (cache / lost).unlink()
    capsys.readouterr()
    second = _build(tmp_path, "run", "--workers", "0")
    assert "18 nodes, 17 cached" in capsys.readouterr().err
    after = {path.name: path.stat().st_mtime_ns for path in cache.iterdir()}
    assert after.keys() == kept.keys()
    assert [name for name in kept if after[name] != kept[name]] == [lost]
    for key in first:
        np.testing.assert_array_equal(second[key], first[key])


@pytest.mark.slow
def test_serial_and_a_local_cluster_give_bit_identical_nodes(tmp_path):
    pytest.importorskip("distributed")
    serial = _build(tmp_path, "serial", "--serial")
    cluster = _build(tmp_path, "cluster", "--workers", "2")
    serial_nodes, cluster_nodes = _nodes(tmp_path / "serial"), _nodes(tmp_path / "cluster")
    assert serial_nodes.keys() == cluster_nodes.keys() and len(serial_nodes) == 18
    for name, node in serial_nodes.items():
        for key, value in node.items():
            np.testing.assert_array_equal(cluster_nodes[name][key], value, err_msg=name)
    for key, value in serial.items():
        np.testing.assert_array_equal(cluster[key], value, err_msg=key)


def test_a_partial_table_needs_out_and_known_widths(capsys):
    tool = _tool()
    for argv in (SUBSET, ["--widths", "3", "--out", "x.npz"], ["--thetas", "5:1", "--out", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            tool.main(argv)
        assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "give --out" in err and "not in the table's widths" in err and "no θ node" in err
