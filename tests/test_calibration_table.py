"""The accuracy table of docs/theory/general-predictor.md states today's closure and domain.

Its rows are ``tools/calibrate_general.py``'s grid, in order; their last column names the
closure ``predict`` takes and whether ``predict`` warns ("(warned)": outside the stated domain).
The measured numbers need the simulation (the tool, minutes); the column needs only ``predict``,
so it is checked here: a domain bound that moves without the table following fails. (Five rows
had kept an unwarned mark after the ninth session's edge audit moved the biased floors.)
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from calibrate_general import GRID, closure_of, predict_quietly  # noqa: E402

_HEADER = "| network | width × depth | θ0 | worst mean err (sd) | worst sd err | worst KS D"


def _table_rows() -> list[str]:
    """The accuracy table's data rows (after its header and separator, up to its end)."""
    lines = (ROOT / "docs" / "theory" / "general-predictor.md").read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(_HEADER)) + 2
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_the_table_rows_are_the_grid_in_order() -> None:
    rows = _table_rows()
    heads = [f"| {name} | {w} × {d} | {theta0:g} |" for name, w, d, theta0, _ in GRID]
    assert [r[: len(h)] for r, h in zip(rows, heads, strict=True)] == heads


def _stale(rows: list[str]) -> list[str]:
    """Rows whose method column differs from what ``predict`` does for the grid's network."""
    stale = []
    for (name, width, depth, theta0, kw), row in zip(GRID, rows, strict=True):
        prediction, warned = predict_quietly(width, depth, theta0, kw)
        method = closure_of(prediction.law) + (" (warned)" if warned else "")
        stated = row.rsplit("|", 2)[1].strip()
        if stated != method:
            stale.append(f"{name} {width}×{depth}: table '{stated}', predict '{method}'")
    return stale


def test_the_method_column_is_what_predict_does_today() -> None:
    rows = _table_rows()
    assert _stale(rows) == []


def test_the_check_sees_a_stale_mark() -> None:
    # negative control: ReLU with σ_b = 0.3 at width 32 as the table had it before this test
    rows = _table_rows()
    at = next(i for i, g in enumerate(GRID) if g[0] == "relu σb=0.3" and g[1] == 32)
    rows[at] = rows[at].rsplit("|", 2)[0] + "| sliced (r) |"
    assert len(_stale(rows)) == 1
