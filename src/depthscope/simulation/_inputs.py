"""A fixed batch of inputs for :func:`depthscope.simulate`: read from a ``.npy`` file, checked.

The only place in :mod:`depthscope.simulation` that touches a file: :func:`load_inputs` reads
one, for the command line and for callers who pass ``simulate(inputs=path)``; the simulation
itself receives the array.
"""

from __future__ import annotations

import math
import os
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._architecture import short_repr
from .._errors import DepthscopeError

__all__ = ["MAX_INPUTS_BYTES", "check_inputs", "load_inputs"]

#: The largest ``.npy`` array of inputs read (bytes of data, from the header): 1 GiB.
MAX_INPUTS_BYTES = 2**30
_NUMBER_KINDS = "iuf"  # signed and unsigned integers, reals: bool, complex, str, object refused


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters (for messages quoting numpy's)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _header(handle: BinaryIO, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype from the header of an open ``.npy`` file, before reading any data."""
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as err:
        raise DepthscopeError(
            f"cannot read inputs from {name}: not a .npy array file ({one_line(str(err), 80)})."
        ) from None
    return shape, dtype


def load_inputs(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Read an (m, n₀) batch of inputs from a ``.npy`` file and check it (:func:`check_inputs`).

    The header is read first: an array of other than real numbers (bool, complex, strings,
    objects) or of more than :data:`MAX_INPUTS_BYTES` is refused before its data is read.

    Raises
    ------
    DepthscopeError
        If the file cannot be read, holds an archive (``.npz``) or something other than a
        ``.npy`` array, is too large or truncated, or fails the checks.
    """
    text = repr(os.fspath(path))
    name = text if len(text) <= 60 else "'..." + text[-56:]  # the end of a long name
    try:
        with open(path, "rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                raise DepthscopeError(
                    f"inputs file {name} must hold one array (.npy), not an archive (.npz)."
                )
            handle.seek(0)
            shape, dtype = _header(handle, name)
            if dtype.kind not in _NUMBER_KINDS or dtype.fields is not None:
                raise DepthscopeError(
                    f"inputs file {name} holds an array of dtype {short_repr(str(dtype))}; "
                    "inputs must be real numbers (float or integer)."
                )
            size = math.prod(shape) * dtype.itemsize
            if size > MAX_INPUTS_BYTES:
                raise DepthscopeError(
                    f"inputs file {name} holds an array of shape {short_repr(shape)} "
                    f"({size / 2**20:.0f} MiB); at most {MAX_INPUTS_BYTES // 2**20} MiB is read."
                )
            handle.seek(0)
            loaded = np.lib.format.read_array(handle, allow_pickle=False)
    except OSError as err:
        raise DepthscopeError(f"cannot read inputs from {name}: {err.strerror or err}.") from None
    except ValueError as err:  # truncated data
        if isinstance(err, DepthscopeError):
            raise
        raise DepthscopeError(
            f"cannot read inputs from {name}: {one_line(str(err), 120)}"
        ) from None
    return check_inputs(loaded)


def check_inputs(inputs: ArrayLike) -> NDArray[np.float64]:
    """Return ``inputs`` as a new float64 (m, n₀) array with m ≥ 2 finite rows.

    Raises
    ------
    DepthscopeError
        If ``inputs`` are not real numbers (bool, complex, strings and objects are refused),
        not two-dimensional with m ≥ 2 and n₀ ≥ 1, or not finite.
    """
    try:
        raw = np.asarray(inputs)
    except (TypeError, ValueError) as err:
        raise DepthscopeError(f"cannot read inputs as numbers: {one_line(str(err), 120)}") from None
    if raw.dtype.kind not in _NUMBER_KINDS:
        raise DepthscopeError(
            f"inputs must be real numbers (float or integer), got an array of dtype "
            f"{short_repr(str(raw.dtype))}."
        )
    arr = np.array(raw, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise DepthscopeError(
            f"inputs must be an (m, input_dim) array with m ≥ 2 rows, got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise DepthscopeError(
            f"inputs contain {bad} NaN or infinite value(s) (or integers too large for float64); "
            "inputs must be finite."
        )
    return arr
