"""The bench's results.csv: its columns, its rows, and the folder a resumed bench continues.

Rows go through :mod:`._store` (checksummed, fsync-ed, repaired on resume); this module says
what a row holds, which rows a run counts, and when a folder may be resumed.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import DepthscopeError
from ..report import _output as output
from . import _store as store
from ._proxies import PROXIES

if TYPE_CHECKING:  # pragma: no cover
    from ._config import BenchConfig

__all__ = [
    "COLUMNS",
    "SCORES",
    "counted_runs",
    "format_cell",
    "prepare_folder",
    "read_results",
    "run_key",
]

#: Scores correlated with accuracy (higher predicted angle = better expected, for the angles).
SCORES = (
    "predicted_markov",
    "predicted_paper_mean",
    "predicted_infinite",
    *PROXIES,
    "params",
    "depth",
)
#: Columns of results.csv.
COLUMNS = (
    "architecture",
    "seed",
    "schedule",
    "epochs",
    "test_accuracy",
    "final_loss",
    "train_seconds",
    *SCORES,
)


def format_cell(value: Any) -> str:
    """Write a cell: floats by ``repr`` (exact), non-finite ones as ``nan``/``inf``/``-inf``."""
    if isinstance(value, float):
        return (
            repr(value)
            if math.isfinite(value)
            else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
        )
    return str(value)


def _parse_row(cells: list[str]) -> dict[str, Any]:
    """One row of results.csv from its cells; ``ValueError`` if a number does not parse."""
    row: dict[str, Any] = dict(zip(COLUMNS, cells, strict=True))
    for key in COLUMNS[3:]:
        row[key] = float(row[key])
    row["seed"] = int(row["seed"])
    row["epochs"] = int(row["epochs"])
    if row["schedule"] == "" or row["architecture"] == "":
        raise ValueError("empty name")
    return row


def run_key(row: dict[str, Any]) -> tuple[str, int, str]:
    return row["architecture"], row["seed"], row["schedule"]


def _scan(path: Path) -> store.LogScan:
    return store.scan_log(path, COLUMNS, _parse_row, run_key)


def read_results(path: Path) -> list[dict[str, Any]]:
    """Read results.csv; numeric columns as floats (``nan``/``-inf`` kept), seed/epochs as int.

    Only complete rows are returned: a row whose checksum does not match (cut short by an
    interrupted write, or garbage) and a repeated run are left out (see :mod:`._store`).

    Raises
    ------
    DepthscopeError
        If the header is not the expected one (an incompatible or foreign file).
    """
    return [_parse_row(cells) for cells in _scan(path).rows]


def _warn(message: str) -> None:
    warnings.warn(message, store.ResumeWarning, stacklevel=4)


def prepare_folder(out: str | os.PathLike[str], force: bool, config: BenchConfig) -> Path:
    """Check a folder to resume (same settings) and repair it, or prepare a fresh one.

    A damaged results.csv keeps its complete rows (the others are run again); a missing or
    unreadable bench.json next to a results.csv is rebuilt from ``config``. Each repair gives
    one :class:`~._store.ResumeWarning`. A stale manifest.json is removed first, so that a
    folder holds a manifest only once its run has finished.
    """
    directory = Path(out)
    results, marker = directory / "results.csv", directory / "bench.json"
    store.remove_temporaries(directory, ["results.csv", "bench.json"])
    if not force and results.is_file():
        try:
            previous = json.loads(marker.read_text())
        except (OSError, ValueError):
            previous = None
        scan = _scan(results)  # a foreign results.csv is refused before anything is written
        if previous is None or not isinstance(previous, dict):
            _warn(
                f"{marker} is missing or unreadable; rebuilt from the current settings "
                f"(the {len(scan.rows)} finished runs in {results.name} are assumed to share them)."
            )
            store.write_json_atomic(marker, config.identity())
        elif previous != config.identity():
            raise DepthscopeError(
                f"{results} was made with other settings ({previous}); use another --out or "
                "add --force to start afresh."
            )
        if scan.dropped or not scan.canonical:
            if scan.dropped:
                _warn(
                    f"{results}: dropped {scan.dropped} damaged, incomplete or repeated "
                    f"row(s) (an interrupted write?); kept {len(scan.rows)} finished runs, the "
                    "dropped ones are run again."
                )
            store.repair_log(results, COLUMNS, scan)
        (directory / "manifest.json").unlink(missing_ok=True)
        return directory
    if not force and marker.is_file() and {p.name for p in directory.iterdir()} == {marker.name}:
        force = True  # interrupted between writing bench.json and results.csv: nothing to keep
    output.prepare_out_dir(directory, force=force)
    store.write_json_atomic(marker, config.identity())
    store.start_log(results, COLUMNS)
    return directory


def counted_runs(
    rows: list[dict[str, Any]], config: BenchConfig, names: Sequence[str]
) -> tuple[list[dict[str, Any]], int]:
    """Return the runs of ``config`` (grid, seeds 0 .. seeds − 1, schedules) and the others' count.

    A folder resumed with fewer ``seeds`` or a smaller grid keeps the other finished runs in
    results.csv, but the correlations, figure and report count exactly the runs returned here,
    in grid, seed and schedule order (whatever order they finished in).
    """
    position = {name: i for i, name in enumerate(names)}
    schedules = {name: i for i, (name, _) in enumerate(config.schedules)}
    counted = [
        r
        for r in rows
        if r["architecture"] in position and r["seed"] < config.seeds and r["schedule"] in schedules
    ]
    counted.sort(key=lambda r: (position[r["architecture"]], r["seed"], schedules[r["schedule"]]))
    return counted, len(rows) - len(counted)
