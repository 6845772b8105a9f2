"""The one exception type depthscope raises for bad input, and the checks that raise it."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DepthscopeError", "DepthscopeWarning", "check_theta", "check_theta0", "check_width"]


class DepthscopeError(ValueError):
    """Bad input to depthscope: the message names the problem and what is accepted.

    A subclass of ``ValueError`` so that callers who catch ``ValueError`` keep working.
    The command line prints the message and exits with status 2 instead of a traceback.
    """


class DepthscopeWarning(UserWarning):
    """A result depthscope computed but that needs attention (e.g. non-finite values met).

    Filter it with ``warnings.filterwarnings("ignore", category=ds.DepthscopeWarning)``.
    """


def check_theta(theta: ArrayLike, name: str = "theta") -> NDArray[np.float64]:
    """Return ``theta`` as a float64 array after checking every entry is in [0, π].

    Raises
    ------
    DepthscopeError
        If any entry is NaN or outside [0, π].
    """
    arr = np.asarray(theta, dtype=np.float64)
    if np.isnan(arr).any():
        raise DepthscopeError(f"{name} contains NaN; angles must be numbers in [0, π].")
    if (arr < 0).any() or (arr > math.pi).any():
        bad = arr[(arr < 0) | (arr > math.pi)].ravel()[0]
        raise DepthscopeError(f"{name} = {bad!r} is outside [0, π] (radians).")
    return arr


def check_theta0(theta0: object, name: str = "theta0") -> float:
    """Return the angle between two inputs as a float after checking it is in (0, π).

    The one statement of the input angle's domain, used by every predictor, the probe's theory
    overlay and the command line.

    Raises
    ------
    DepthscopeError
        If ``theta0`` is not a number, NaN, or outside (0, π): ln sin²θ0 is −∞ for parallel
        (θ0 = 0) and antipodal (θ0 = π) inputs.
    """
    try:
        value = float(theta0)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DepthscopeError(f"{name} must be a number in (0, π), got {theta0!r}.") from None
    if not (0.0 < value < math.pi):  # also rejects NaN
        raise DepthscopeError(
            f"{name} = {value!r} is outside (0, π) (radians): ln sin²θ0 is −∞ for parallel "
            "(θ0 = 0) and antipodal (θ0 = π) inputs."
        )
    return value


def check_width(n: ArrayLike, name: str = "n", minimum: int = 2) -> NDArray[np.float64]:
    """Return the width(s) ``n`` as a float64 array after checking they are ≥ ``minimum``.

    Widths may be given as floats (the formulas are analytic in n) but must be finite.

    Raises
    ------
    DepthscopeError
        If any width is NaN, infinite or below ``minimum``.
    """
    arr = np.asarray(n, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = arr.ravel()[~np.isfinite(arr.ravel())][0]
        raise DepthscopeError(f"{name} must be finite, got {bad!r}.")
    if (arr < minimum).any():
        bad = arr[arr < minimum].ravel()[0]
        raise DepthscopeError(
            f"{name} = {bad:g} is too small: the finite-width theory needs widths ≥ {minimum}."
        )
    return arr
