"""depthscope sweep: a grid with a cell that cannot fit in memory is refused before anything runs.

The sizes come from this machine's physical memory (as in test_simulate.py): one float64 result
per layer and network for 10⁴ layers is twice the machine's memory, whatever the machine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from depthscope import DepthscopeError
from depthscope.cli import main
from depthscope.simulation._plan import _physical_memory
from depthscope.sweep import Cell, SweepSpec, parse_spec, run_sweep
from depthscope.sweep import _run as sweep_run
from depthscope.sweep._cells import compute_cell


def _too_many_networks() -> int:
    """Networks of depth 10⁴ whose results alone take twice this machine's memory."""
    physical = _physical_memory()
    if physical is None:
        pytest.skip("this platform does not report its physical memory")
    return 2 * physical // (8 * 10_000) + 1


def _oversized_spec(**extra: object) -> dict[str, object]:
    """Two cells: 8x3 fits; 8x10000 needs twice the machine's memory."""
    return {
        "architectures": ["8x3", "8x10000"],
        "theta0": 1.0,
        "networks": _too_many_networks(),
        "seed": 0,
        **extra,
    }


@pytest.fixture
def no_cell_runs(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every cell the sweep would compute (the refusal must come before any)."""
    calls: list[object] = []

    def compute(*args: object) -> None:
        calls.append(args)
        raise AssertionError("a cell ran")

    monkeypatch.setattr(sweep_run, "compute_cell", compute)
    return calls


def test_api_refuses_before_any_cell_or_file(tmp_path: Path, no_cell_runs: list[object]) -> None:
    out = tmp_path / "out"
    with pytest.raises(DepthscopeError) as err:
        run_sweep(parse_spec(_oversized_spec()), out, workers=0, quiet=True)
    message = str(err.value)
    assert message.startswith("invalid sweep spec: 1 of 2 cells cannot fit in memory")
    assert "architecture=8x10000 (" in message and "architecture=8x3" not in message
    figures = re.findall(r"\(([\d.]+) MiB > this machine's memory ([\d.]+) MiB\)", message)
    need, limit = map(float, figures[0])
    assert need > limit == pytest.approx(_physical_memory() / 2**20, abs=0.1)
    assert not out.exists() and not no_cell_runs


def test_spec_made_by_hand_is_refused_too() -> None:
    axes = parse_spec({**_oversized_spec(), "networks": 2}).axes
    with pytest.raises(DepthscopeError, match=r"architecture=8x10000 \("):
        SweepSpec(axes=axes, networks=_too_many_networks(), seed=0)


def test_estimate_is_the_one_simulate_refuses_with() -> None:
    # The sweep's figure for the cell is the figure simulate itself stops at for that cell.
    with pytest.raises(DepthscopeError) as err:
        parse_spec(_oversized_spec())
    sweep_need = re.findall(r"architecture=8x10000 \(([\d.]+) MiB", str(err.value))[0]
    cell = Cell("8x10000", 1.0, "relu", 0.0, "markov", _too_many_networks())
    with pytest.raises(DepthscopeError, match=f"needs about {re.escape(sweep_need)} MiB even"):
        compute_cell(cell, 0)


def test_few_cells_named_then_how_many_more() -> None:
    architectures = ["8x3", *(f"8x{10_000 + k}" for k in range(5))]
    with pytest.raises(DepthscopeError) as err:
        parse_spec(_oversized_spec(architectures=architectures, theta0=[0.5, 1.0]))
    message = str(err.value)
    # θ0 does not change the estimate: one name per architecture, the 10 cells counted.
    assert "10 of 12 cells" in message and "theta0" not in message
    assert re.findall(r"architecture=(8x\d+) \(", message) == ["8x10000", "8x10001", "8x10002"]
    assert "; and 2 more; " in message


def test_cli_one_line_exit_2_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_cell_runs: list[object]
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_oversized_spec()))
    out = tmp_path / "out"
    code = main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    (line,) = captured.err.splitlines()
    assert line.startswith("depthscope: error: invalid sweep spec: 1 of 2 cells")
    assert len(line) < 400
    assert "architecture=8x10000" in line and "Traceback" not in captured.err
    assert not out.exists() and not no_cell_runs


def test_spec_within_limits_runs(tmp_path: Path) -> None:
    spec = parse_spec({**_oversized_spec(), "architectures": ["8x3", "8x4"], "networks": 20})
    summary = run_sweep(spec, tmp_path / "out", workers=0, quiet=True)
    assert (summary.total, summary.computed, summary.failed) == (2, 2, 0)
    assert (tmp_path / "out" / "results.csv").is_file()
