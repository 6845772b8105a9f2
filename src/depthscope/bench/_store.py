"""The bench's results log: one checksummed CSV row per finished run, safe to resume.

``results.csv`` starts with a header (the columns, then ``crc32``); each row ends with the
CRC-32 of its other cells (eight hex digits).  A row is written with one ``write`` call, then
flushed and ``fsync``-ed before the next run is counted as done, so an interrupted run (Ctrl-C,
``kill -9``, a full disk, a power cut) can lose at most the row being written.  On resume,
:func:`scan_log` keeps the rows whose checksum matches and that parse, and drops everything else
(a truncated last row, a garbage line, a duplicate of a finished run); :func:`repair_log`
rewrites the file with the kept rows only (atomically: a temporary file, then ``os.replace``),
and the dropped runs are trained again.

The small files (the header of a fresh log, ``bench.json``) are written by
:func:`atomic_write_text`: a reader sees the old content or the new, never half of it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import DepthscopeError
from ..report._output import atomic_write_text, write_json

__all__ = [
    "CHECKSUM",
    "LogScan",
    "ResumeWarning",
    "append_row",
    "atomic_write_text",
    "repair_log",
    "row_checksum",
    "scan_log",
    "start_log",
    "write_json_atomic",
]

#: Name of the last column of results.csv: CRC-32 of the row's other cells.
CHECKSUM = "crc32"


class ResumeWarning(UserWarning):
    """A resumed bench found damaged files: what was dropped or rebuilt (it is recomputed)."""


def row_checksum(cells: Sequence[str]) -> str:
    """CRC-32 (eight lower-case hex digits) of the cells joined by the unit separator."""
    return f"{zlib.crc32(chr(0x1F).join(cells).encode()):08x}"


def _line(cells: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def write_json_atomic(path: Path, value: Any) -> None:
    """Write strict JSON (non-finite numbers as ``null``) atomically: :func:`write_json`."""
    write_json(path, value)


def remove_temporaries(directory: Path, names: Sequence[str]) -> None:
    """Remove the temporary files an interrupted :func:`atomic_write_text` left for ``names``."""
    for name in names:
        for stale in directory.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


def start_log(path: Path, columns: Sequence[str], rows: Sequence[Sequence[str]] = ()) -> None:
    """Write a log holding the header and ``rows`` (cells without their checksum), atomically."""
    text = _line([*columns, CHECKSUM]) + "".join(_line([*r, row_checksum(r)]) for r in rows)
    atomic_write_text(path, text)


def append_row(path: Path, cells: Sequence[str]) -> None:
    """Append one checksummed row with a single write, then flush and ``fsync`` it."""
    with path.open("a", newline="") as handle:
        handle.write(_line([*cells, row_checksum(cells)]))
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class LogScan:
    """What :func:`scan_log` found in a log.

    Attributes
    ----------
    rows : list of list of str
        Cells (checksum removed) of the rows kept, in file order.
    dropped : int
        Lines dropped: damaged, unparsable or a repeated run.
    canonical : bool
        Whether the file is exactly the header and the kept rows (nothing to repair).
    """

    rows: list[list[str]]
    dropped: int
    canonical: bool


def scan_log(
    path: Path,
    columns: Sequence[str],
    parse: Callable[[list[str]], Any],
    key: Callable[[Any], Any],
) -> LogScan:
    """Read a log, keeping each row whose checksum matches, that ``parse`` accepts, once per key.

    Parameters
    ----------
    path : pathlib.Path
        The log.
    columns : sequence of str
        Its columns (without the checksum).
    parse : callable
        ``parse(cells)`` returns the row or raises ``ValueError``.
    key : callable
        ``key(row)`` identifies a run; a repeated key is dropped (the first one is kept).

    Raises
    ------
    DepthscopeError
        If the header is complete and not the expected one (a foreign file, kept untouched).
    """
    text = path.read_bytes().decode("utf-8", errors="replace")
    header = _line([*columns, CHECKSUM])
    lines = text.splitlines(keepends=True)
    if not lines or (len(lines) == 1 and header.startswith(lines[0]) and lines[0] != header):
        return LogScan([], 0, canonical=False)  # an empty log, or its header cut short
    if lines[0] != header:
        raise DepthscopeError(
            f"{path} does not have the columns of a depthscope bench results.csv (or was made "
            "by an older depthscope); use another --out or add --force to start afresh."
        )
    rows: list[list[str]] = []
    seen = set()
    dropped = 0
    for line in lines[1:]:
        try:
            (cells,) = list(csv.reader([line]))
            *values, checksum = cells
            if len(values) != len(columns) or checksum != row_checksum(values):
                raise ValueError("damaged row")
            identity = key(parse(values))
        except (ValueError, csv.Error):
            dropped += 1
            continue
        if identity in seen:
            dropped += 1
            continue
        seen.add(identity)
        rows.append(values)
    canonical = text == header + "".join(_line([*r, row_checksum(r)]) for r in rows)
    return LogScan(rows, dropped, canonical)


def repair_log(path: Path, columns: Sequence[str], scan: LogScan) -> None:
    """Rewrite the log with the rows :func:`scan_log` kept, unless it is already exactly that."""
    if not scan.canonical:
        start_log(path, columns, scan.rows)
