"""Run a sweep: prepare or resume the output folder, compute the missing cells, write outputs.

The folder holds ``spec.json`` (the checked spec; a resumed run must have the same) and
``cells.jsonl`` (:class:`~._store.CellStore`, appended as cells finish). A killed run resumes
with the same command: only the cells without a valid record, or whose record is a failure,
are computed again. The outputs are rendered from the store, in grid order, whatever the order
in which cells finished.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import DepthscopeError
from ..report._output import prepare_out_dir, python_call, write_json, write_manifest, write_outputs
from ._cells import compute_cell
from ._engine import ProgressLine, engine_name, open_client, run_tasks
from ._report import error_figure, layers_arrays, markdown_report, results_csv, rows
from ._spec import SweepSpec
from ._store import CellStore

__all__ = ["SweepSummary", "run_sweep"]

_STATE = ("spec.json", "cells.jsonl")


@dataclass(frozen=True)
class SweepSummary:
    """What a run of :func:`run_sweep` did.

    Attributes
    ----------
    directory : pathlib.Path
        The output folder.
    total, reused, computed, failed : int
        Cells in the grid; finished by an earlier run; computed by this run (failures
        included); failed on every attempt.
    rows : list of dict
        One row per cell (the lines of ``results.csv``).
    """

    directory: Path
    total: int
    reused: int
    computed: int
    failed: int
    rows: list[dict[str, Any]]


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    retries: int = 2,
    quiet: bool = False,
    command: Sequence[str] | None = None,
) -> SweepSummary:
    """Compute every cell of ``spec`` not yet in ``out``; write the results, report and figure.

    Parameters
    ----------
    spec : SweepSpec
        The checked grid (:func:`~._spec.load_spec`).
    out : str or path-like
        Output folder: new, empty, or holding a run of the same spec (resumed).
    workers : int, optional
        0: serial in this process; otherwise the workers of a local Dask cluster (default: the
        machine's cores). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler.
    force : bool
        Start anew in a non-empty folder (finished cells are discarded).
    retries : int
        Attempts after the first for a cell that raises.
    quiet : bool
        No progress on stderr.
    command : sequence of str, optional
        The command line, for the manifest.

    Returns
    -------
    SweepSummary

    Raises
    ------
    DepthscopeError
        If ``out`` holds a sweep of another spec. (A grid with a cell that cannot fit in
        memory is refused when its ``SweepSpec`` is made: no file is written.)
    """
    directory = _prepare(Path(out), spec, force)
    store = CellStore(directory / "cells.jsonl")
    cells = spec.cells()
    done = store.done()
    todo = {c.key: (c, spec.seed) for c in cells if c.key not in done}
    engine = engine_name(workers, scheduler)
    progress = ProgressLine("sweep", len(cells), done=len(cells) - len(todo), quiet=quiet)
    if store.dropped:
        progress.say(f"dropped {store.dropped} torn record(s) of {store.path.name}")
    progress.say(
        f"{len(cells)} cells, {len(cells) - len(todo)} already done, {len(todo)} to compute "
        f"({engine})"
    )
    started = time.perf_counter()
    failed = 0

    def on_result(key: str, value: dict[str, Any]) -> None:
        store.append({"key": key, "status": "ok", "result": value})
        progress.step()

    def on_error(key: str, message: str) -> None:
        nonlocal failed
        failed += 1
        store.append({"key": key, "status": "failed", "error": message})
        progress.step()

    if todo:
        with open_client(workers, scheduler) as client:
            link = getattr(client, "dashboard_link", None) if client is not None else None
            if link:
                progress.say(f"dashboard: {link}")
            progress.restart()
            run_tasks(
                compute_cell,
                todo,
                client=client,
                retries=retries,
                on_result=on_result,
                on_error=on_error,
            )
    duration = time.perf_counter() - started
    table_rows = rows(spec, store.records)
    files = _write(directory, spec, store.records, engine, duration, progress)
    write_manifest(
        directory,
        command=command or python_call(run_sweep, spec, os.fspath(out)),
        seed=spec.seed,
        configuration=spec.to_dict(),
        duration_s=duration,
        files=[*_STATE, *files],
        extra={
            "engine": engine,
            "cells": len(cells),
            "computed": len(todo),
            "failed": sum(r["status"] != "ok" for r in table_rows),
        },
    )
    progress.say(f"done: {directory / 'report.md'}")
    return SweepSummary(
        directory=directory,
        total=len(cells),
        reused=len(cells) - len(todo),
        computed=len(todo),
        failed=failed,
        rows=table_rows,
    )


def _prepare(directory: Path, spec: SweepSpec, force: bool) -> Path:
    """Create, resume or (``force``) restart the output folder; write ``spec.json``."""
    saved = directory / "spec.json"
    if force:
        for name in _STATE:
            (directory / name).unlink(missing_ok=True)
    elif saved.is_file():
        try:
            same = json.loads(saved.read_text()) == spec.to_dict()
        except ValueError:
            same = False
        if not same:
            raise DepthscopeError(
                f"{os.fspath(directory)!r} holds a sweep of another spec; use another --out, "
                "or --force to start anew there."
            )
        return directory
    prepare_out_dir(directory, force=force)
    write_json(saved, spec.to_dict())
    return directory


def _write(
    directory: Path,
    spec: SweepSpec,
    records: dict[str, dict[str, Any]],
    engine: str,
    duration: float,
    progress: ProgressLine,
) -> list[str]:
    """Write results.csv, layers.npz, report.md and the figure; return the file names."""
    table_rows = rows(spec, records)
    outputs: dict[str, Any] = {
        "results.csv": results_csv(table_rows),
        "layers.npz": layers_arrays(spec, records),
        "report.md": markdown_report(spec, table_rows, engine, duration),
    }
    files = write_outputs(directory, outputs)
    try:
        files += write_outputs(directory, {"errors": error_figure(spec, table_rows)})
    except DepthscopeError as err:  # matplotlib missing: the tables are written all the same
        progress.say(f"no figure: {err}")
    return files
