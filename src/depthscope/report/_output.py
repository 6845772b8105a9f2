"""Output folders, manifests, JSON and progress messages shared by the reproductions."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DepthscopeError

__all__ = [
    "Progress",
    "jsonable",
    "machine",
    "prepare_out_dir",
    "write_json",
    "write_manifest",
]


def prepare_out_dir(path: str | os.PathLike[str], *, force: bool) -> Path:
    """Create the output folder; refuse a non-empty one unless ``force``.

    Parameters
    ----------
    path : str or path-like
        The folder to write into (created with its parents if missing).
    force : bool
        Allow writing into a folder that already holds files (they are overwritten by name;
        other files are left alone).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DepthscopeError
        If ``path`` exists and is not a folder, or is a non-empty folder and not ``force``.
    """
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise DepthscopeError(f"--out {os.fspath(path)!r} exists and is not a directory.")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise DepthscopeError(
            f"output directory {os.fspath(path)!r} is not empty; add --force to overwrite it."
        )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and non-finite floats into JSON-ready values.

    NaN and ±inf become None (JSON has neither); arrays become (nested) lists.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` (made JSON-ready by :func:`jsonable`) with indentation and a newline."""
    path.write_text(json.dumps(jsonable(value), indent=2, allow_nan=False) + "\n")


def machine() -> dict[str, Any]:
    """Describe the machine and the library versions (for manifests)."""
    import scipy

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if "matplotlib" in sys.modules:
        info["matplotlib"] = sys.modules["matplotlib"].__version__
    return info


def write_manifest(
    directory: Path,
    *,
    command: Sequence[str],
    seed: int | None,
    configuration: Mapping[str, Any],
    duration_s: float,
    files: Sequence[str],
) -> None:
    """Write ``manifest.json``: enough to repeat the run and to know where it ran.

    Parameters
    ----------
    directory : pathlib.Path
        Output folder.
    command : sequence of str
        The command line that repeats the run (``depthscope reproduce fig1 ...``).
    seed : int or None
        Root seed of all random streams.
    configuration : mapping
        Every setting of the experiment.
    duration_s : float
        Wall-clock duration in seconds (measured on a shared machine: indicative only).
    files : sequence of str
        Names of the files written next to the manifest.
    """
    from .. import __version__

    write_json(
        directory / "manifest.json",
        {
            "depthscope_version": __version__,
            "command": " ".join(command),
            "seed": seed,
            "configuration": configuration,
            "machine": machine(),
            "duration_s": round(duration_s, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": sorted({*files, "manifest.json"}),
        },
    )


class Progress:
    """Progress messages on stderr (``quiet`` silences them).

    ``stage(text)`` prints one line with the elapsed time; ``counter(label)`` returns a
    ``(done, total)`` callback that rewrites one line on a terminal and prints only the final
    count otherwise.
    """

    def __init__(self, name: str, *, quiet: bool = False) -> None:
        self.name = name
        self.quiet = quiet
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since this object was made."""
        return time.perf_counter() - self.started

    def stage(self, text: str) -> None:
        """Print ``name: [elapsed] text`` on stderr."""
        if not self.quiet:
            print(f"{self.name}: [{self.elapsed:6.1f} s] {text}", file=sys.stderr, flush=True)

    def counter(self, label: str) -> Callable[[int, int], None] | None:
        """Return a ``progress(done, total)`` callback for :func:`depthscope.simulate`."""
        if self.quiet:
            return None
        tty = sys.stderr.isatty()
        printed = [0]  # tenths reported so far (non-terminal output)

        def report(done: int, total: int) -> None:
            if done == total:
                end = "\r" if tty else ""
                print(f"{end}{self.name}: {label} {done}/{total}", file=sys.stderr, flush=True)
            elif tty:
                print(f"\r{self.name}: {label} {done}/{total}", end="", file=sys.stderr, flush=True)
            elif done * 10 >= (printed[0] + 1) * total:  # not a terminal: every tenth
                printed[0] = done * 10 // total
                self.stage(f"{label} {done}/{total}")

        return report
