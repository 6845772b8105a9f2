"""A fixed batch of inputs for :func:`depthscope.simulate`: read from a ``.npy`` file, checked.

The only place in :mod:`depthscope.simulation` that touches a file: :func:`load_inputs` reads
one, for the command line and for callers who pass ``simulate(inputs=path)``; the simulation
itself receives the array.
"""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import DepthscopeError

__all__ = ["check_inputs", "load_inputs"]


def load_inputs(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Read an (m, n₀) batch of inputs from a ``.npy`` file and check it (:func:`check_inputs`).

    Raises
    ------
    DepthscopeError
        If the file cannot be read, holds an archive (``.npz``), or fails the checks.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DepthscopeError(f"cannot read inputs from {os.fspath(path)!r}: {err}") from None
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise DepthscopeError(
            f"inputs file {os.fspath(path)!r} must hold one array (.npy), not an archive."
        )
    return check_inputs(loaded)


def check_inputs(inputs: ArrayLike) -> NDArray[np.float64]:
    """Return ``inputs`` as a new float64 (m, n₀) array with m ≥ 2 finite rows.

    Raises
    ------
    DepthscopeError
        If ``inputs`` are not numbers, not two-dimensional with m ≥ 2 and n₀ ≥ 1, or not finite.
    """
    try:
        arr = np.array(inputs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DepthscopeError(f"cannot read inputs as numbers: {err}") from None
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise DepthscopeError(
            f"inputs must be an (m, input_dim) array with m ≥ 2 rows, got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        raise DepthscopeError("inputs contain NaN or infinite values.")
    return arr
