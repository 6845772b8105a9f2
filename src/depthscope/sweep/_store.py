"""The store of a sweep's finished cells: JSON lines, one per cell, each with its checksum.

Only the process that drives the sweep writes; each record is one ``os.write`` of one line
``SHA256 JSON`` and a newline on a file opened for appending, then ``fsync``. A run killed in
the middle of a write leaves at most one torn last line: its checksum fails, it is dropped when
the store is opened again (the file is rewritten without it, through a temporary file renamed
into place) and its cell is computed again. Strict JSON: non-finite numbers are ``null``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from ..report._output import jsonable

__all__ = ["CellStore"]


class CellStore:
    """Records of finished cells by key, appended as cells finish.

    Parameters
    ----------
    path : pathlib.Path
        The JSON-lines file (created if missing).

    Attributes
    ----------
    records : dict of str to dict
        The latest valid record of each cell: ``{"key", "status": "ok" | "failed", "cell",
        "result" | "error"}``.
    dropped : int
        Lines that failed their checksum when the store was opened (a torn write).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self.dropped = 0
        lines = path.read_bytes().split(b"\n") if path.exists() else []
        valid = []
        for line in filter(None, lines):
            record = _decode(line)
            if record is None:
                self.dropped += 1
                continue
            valid.append(line)
            self.records[record["key"]] = record
        if self.dropped or (lines and lines[-1]):  # a torn line: rewrite without it
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(b"".join(line + b"\n" for line in valid))
            os.replace(temporary, path)

    def done(self) -> set[str]:
        """Return the keys of the cells computed successfully."""
        return {key for key, r in self.records.items() if r["status"] == "ok"}

    def append(self, record: dict[str, Any]) -> None:
        """Append one record atomically (one write of one line, then fsync)."""
        payload = json.dumps(jsonable(record), sort_keys=True, allow_nan=False)
        line = f"{hashlib.sha256(payload.encode()).hexdigest()} {payload}\n".encode()
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self.records[record["key"]] = _restore(json.loads(payload))


def _decode(line: bytes) -> dict[str, Any] | None:
    """Return the record of a line whose checksum holds, else None."""
    checksum, _, payload = line.partition(b" ")
    if hashlib.sha256(payload).hexdigest().encode() != checksum:
        return None
    try:
        record = json.loads(payload)
    except ValueError:  # pragma: no cover - a valid checksum over invalid JSON
        return None
    return _restore(record)


def _restore(record: dict[str, Any]) -> dict[str, Any]:
    """Turn the ``null`` numbers of a result back into NaN."""
    result = record.get("result")
    if result is not None:
        record["result"] = {
            name: [math.nan if v is None else v for v in value]
            if isinstance(value, list)
            else math.nan
            if value is None
            else value
            for name, value in result.items()
        }
    return record
