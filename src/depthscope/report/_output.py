"""The one writer of output files: folders, strict JSON, manifests and progress messages.

Every command that writes a folder goes through :func:`run_experiment` (prepare the folder,
compute, render the named outputs, write them and the manifest) or, for a command with its own
shape, through :func:`prepare_out_dir`, :func:`write_outputs` and :func:`write_manifest`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypedDict, TypeVar

import numpy as np

from .._errors import DepthscopeError

__all__ = [
    "NONFINITE_KEY",
    "Progress",
    "Provenance",
    "RunOptions",
    "append_csv_row",
    "dumps_json",
    "jsonable",
    "machine",
    "prepare_out_dir",
    "python_call",
    "run_experiment",
    "strict_json",
    "write_json",
    "write_manifest",
    "write_outputs",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Provenance:
    """What the manifest of a run records besides its files.

    Attributes
    ----------
    call : tuple
        The function run and its arguments, recorded (:func:`python_call`) when the run has no
        command line.
    seed : int or None
        Root seed of the run.
    configuration : mapping or callable
        The settings of the run, or ``configuration(result) -> settings``.
    """

    call: tuple[Any, ...]
    seed: int | None
    configuration: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]]


class RunOptions(TypedDict, total=False):
    """Keyword options of every ``run_*`` function (see :func:`run_experiment`)."""

    force: bool
    quiet: bool
    command: Sequence[str] | None


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


#: The key under which :func:`strict_json` records the non-finite numbers it wrote as null.
NONFINITE_KEY = "nonfinite_values"


def _pointer_token(key: object) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _flag(number: float) -> str:
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def _strict(value: Any, pointer: str, found: dict[str, str] | None) -> Any:
    """:func:`jsonable`, recording each non-finite number at its JSON pointer in ``found``.

    The outermost objects (dicts not inside another dict) receive the flags of their contents
    under :data:`NONFINITE_KEY`; ``found`` is the flag table of the enclosing one.
    """
    if isinstance(value, Mapping):
        own: dict[str, str] | None = {} if found is None else None
        table = own if own is not None else found
        base = "" if own is not None else pointer
        out = {str(k): _strict(v, f"{base}/{_pointer_token(k)}", table) for k, v in value.items()}
        if own:
            out[NONFINITE_KEY] = own
        return out
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_strict(v, f"{pointer}/{i}", found) for i, v in enumerate(value)]
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            if found is not None:
                found[pointer] = _flag(number)
            return None
        return number
    return jsonable(value)


def strict_json(value: Any) -> Any:
    """Return ``value`` made JSON-ready for a strict parser, with its non-finite numbers flagged.

    Numpy scalars and arrays, tuples and mappings are converted as by :func:`jsonable`. JSON has
    no NaN or infinity: each non-finite number is written as ``null`` and recorded in the
    outermost object holding it (the top-level object, or each object of a top-level list)
    under the key ``"nonfinite_values"``: a mapping from the JSON pointer (RFC 6901, relative to
    that object) of the value to ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``. The key is
    present only when something was replaced, so finite outputs are unchanged.

    Examples
    --------
    >>> strict_json({"mean": [0.0, float("-inf")]})
    {'mean': [0.0, None], 'nonfinite_values': {'/mean/1': '-Infinity'}}
    """
    return _strict(value, "", None)


def dumps_json(value: Any, *, indent: int | None = None) -> str:
    """Serialise ``value`` as strict JSON (:func:`strict_json`): never NaN or Infinity."""
    return json.dumps(strict_json(value), indent=indent, allow_nan=False)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Run ``write`` on a temporary file in ``path``'s folder, fsync it, ``os.replace`` it."""
    handle = tempfile.NamedTemporaryFile(
        "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    The temporary file is flushed and ``fsync``-ed first, so ``path`` holds either its old
    content or ``text``, whatever interrupts the write.
    """
    _atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_save_npz(path: Path, arrays: Mapping[str, Any], *, compressed: bool = True) -> None:
    """Write ``arrays`` to ``path`` as ``.npz``, atomically (as :func:`atomic_write_text`)."""
    save = np.savez_compressed if compressed else np.savez
    _atomic_write(path, lambda handle: save(handle, **arrays))


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as strict JSON (:func:`dumps_json`) with indentation and a newline.

    Non-finite numbers are written as ``null`` and flagged under ``"nonfinite_values"``
    (:func:`strict_json`), never as ``NaN`` or ``Infinity``.
    """
    atomic_write_text(path, dumps_json(value, indent=2) + "\n")


def write_outputs(directory: Path, outputs: Mapping[str, Any]) -> list[str]:
    """Write named outputs into ``directory`` by the kind of their value; return the file names.

    Parameters
    ----------
    directory : pathlib.Path
        An existing folder.
    outputs : mapping of str to object
        ``NAME.json``: any JSON-ready value (:func:`write_json`); ``NAME.npz``: a mapping of
        arrays (compressed); any other name with a suffix: a ``str`` written as text; a name
        without a suffix: a matplotlib figure, saved as ``NAME.png`` and ``NAME.svg``.
    """
    files: list[str] = []
    for name, value in outputs.items():
        path = directory / name
        if not path.suffix:
            from ._plot import save_figure

            files += save_figure(value, directory, name)
            continue
        if path.suffix == ".json":
            write_json(path, value)
        elif path.suffix == ".npz":
            atomic_save_npz(path, value)
        else:
            atomic_write_text(path, value)
        files.append(name)
    return files


def append_csv_row(path: Path, cells: Sequence[Any], *, fresh: bool = False) -> None:
    """Append one row to a CSV log (``fresh``: start the file anew with this row).

    The file is closed after each row, so an interrupted run keeps every row already written.
    """
    with path.open("w" if fresh else "a", newline="") as handle:
        csv.writer(handle).writerow(cells)


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
    for optional in ("matplotlib", "torch"):
        if optional in sys.modules:
            info[optional] = sys.modules[optional].__version__
    return info


def write_manifest(
    directory: Path,
    *,
    command: Sequence[str],
    seed: int | Sequence[int] | None,
    configuration: Mapping[str, Any],
    duration_s: float,
    files: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``manifest.json``: enough to repeat the run and to know where it ran.

    Every manifest has the keys ``depthscope_version``, ``command``, ``seed``,
    ``configuration``, ``machine``, ``duration_s``, ``created`` and ``files``, then the
    command's own keys (``extra``).

    Parameters
    ----------
    directory : pathlib.Path
        Output folder.
    command : sequence of str
        The command line (or Python call) that repeats the run.
    seed : int, sequence of int or None
        Root seed (or root entropy) of all random streams.
    configuration : mapping
        Every setting of the experiment.
    duration_s : float
        Wall-clock duration in seconds (measured on a shared machine: indicative only).
    files : sequence of str
        Names of the files written next to the manifest.
    extra : mapping, optional
        Further top-level keys (e.g. the checksums of the input files a command read).
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
            **(extra or {}),
        },
    )


def python_call(function: Callable[..., Any], *args: Any) -> list[str]:
    """Describe a Python call that repeats a run, for the manifest of a run not made by the CLI."""
    arguments = ", ".join(repr(a) for a in args)
    return [f"{function.__module__}.{function.__qualname__}({arguments})"]


def run_experiment(
    name: str,
    out: str | os.PathLike[str],
    compute: Callable[[Progress], T],
    render: Callable[[T, Progress], Mapping[str, Any]],
    provenance: Provenance,
    *,
    prepare: Callable[[str | os.PathLike[str], bool], Path] | None = None,
    written: Sequence[str] = (),
    force: bool = False,
    quiet: bool = False,
    command: Sequence[str] | None = None,
) -> T:
    """Prepare ``out``, compute, write the rendered outputs and the manifest; return the result.

    Parameters
    ----------
    name : str
        Label of the progress messages (``fig1``, ``claims``, ``bench``...).
    out : str or path-like
        Output folder.
    compute : callable
        ``compute(progress) -> result``: the experiment (it may report progress).
    render : callable
        ``render(result, progress) -> outputs``: the named outputs written by
        :func:`write_outputs` (figures, JSON, text, arrays).
    provenance : Provenance
        The call, seed and settings recorded in the manifest.
    prepare : callable, optional
        ``prepare(out, force) -> folder`` in place of :func:`prepare_out_dir` (a resumable run).
    written : sequence of str
        Files that ``prepare`` or ``compute`` wrote (a log appended as runs finish), listed in
        the manifest with the rendered ones.
    force, quiet : bool
        Write into a non-empty ``out``; silence the progress messages.
    command : sequence of str, optional
        The command line that made the run (the CLI's); default: the Python ``call``.
    """
    directory = (prepare or _prepare)(out, force)
    progress = Progress(name, quiet=quiet)
    result = compute(progress)
    progress.stage("drawing the figure and writing the report")
    files = [*written, *write_outputs(directory, render(result, progress))]
    settings = provenance.configuration
    write_manifest(
        directory,
        command=command or python_call(*provenance.call),
        seed=provenance.seed,
        configuration=settings(result) if callable(settings) else settings,
        duration_s=progress.elapsed,
        files=files,
    )
    figure = next((f for f in files if f.endswith(".png")), None)
    progress.stage(f"done: {directory / figure if figure else directory}")
    return result


def _prepare(out: str | os.PathLike[str], force: bool) -> Path:
    return prepare_out_dir(out, force=force)


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
            _say(f"{self.name}: [{self.elapsed:6.1f} s] {text}")

    def counter(self, label: str) -> Callable[[int, int], None] | None:
        """Return a ``progress(done, total)`` callback for :func:`depthscope.simulate`."""
        if self.quiet:
            return None
        tty = sys.stderr.isatty()
        printed = [0]  # tenths reported so far (non-terminal output)

        def report(done: int, total: int) -> None:
            if done == total:
                end = "\r" if tty else ""
                _say(f"{end}{self.name}: {label} {done}/{total}")
            elif tty:
                _say(f"\r{self.name}: {label} {done}/{total}", end="")
            elif done * 10 >= (printed[0] + 1) * total:  # not a terminal: every tenth
                printed[0] = done * 10 // total
                self.stage(f"{label} {done}/{total}")

        return report


def _say(text: str, end: str = "\n") -> None:
    """Print progress on stderr; a closed pipe (``2>&1 | head``) drops it, the work goes on."""
    try:
        print(text, end=end, file=sys.stderr, flush=True)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
