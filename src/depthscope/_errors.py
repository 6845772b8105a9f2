"""The one exception type depthscope raises for bad input, and the checks that raise it."""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DepthscopeError",
    "DepthscopeWarning",
    "check_int",
    "check_network_number",
    "check_theta",
    "check_theta0",
    "check_width",
]


class DepthscopeError(ValueError):
    """Bad input to depthscope: the message names the problem and what is accepted.

    A subclass of ``ValueError`` so that callers who catch ``ValueError`` keep working.
    The command line prints the message and exits with status 2 instead of a traceback.
    """


class DepthscopeWarning(UserWarning):
    """A result that needs attention: outside a stated domain, or non-finite values met.

    The message says why (e.g. a width below the default predictor's calibrated range).

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


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int after checking it is an integer ≥ ``minimum``.

    Integral floats (``3.0``) and numpy integers are accepted; ``True``/``False``, strings and
    other types raise ``TypeError``; NaN, infinities, fractions and values below ``minimum``
    raise :class:`DepthscopeError`.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} ({value!r:.40}).")
    number = float(value)
    if not math.isfinite(number) or number != math.floor(number) or number < minimum:
        raise DepthscopeError(f"{name} = {value!r} must be an integer ≥ {minimum}.")
    return int(value) if isinstance(value, (int, np.integer)) else int(number)


#: The largest σ_w, σ_b, residual scale α and |leaky slope| accepted: the Gram states hold their
#: squares and fourth powers (σ_w⁴ q², α⁴), which must stay inside float64's range (1e308).
MAX_NETWORK_SCALE = 1e6
#: The smallest σ_w accepted: below, the norms underflow within a few layers.
MIN_WEIGHT_STD = 1e-6
#: The inputs' ‖x‖²/n₀ accepted, q0 ∈ [MIN_Q0, MAX_Q0].
MIN_Q0, MAX_Q0 = 1e-100, 1e100


def check_network_number(value: object, name: str, low: float, high: float) -> float:
    """Return a network keyword (σ_w, σ_b, q0, α) as a float after checking it is in [low, high].

    ``low = 0`` accepts 0 (σ_b, α); the other bounds are inclusive too.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``True``/``False`` and strings included).
    DepthscopeError
        If ``value`` is NaN, infinite or outside [low, high].
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}.")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise DepthscopeError(f"{name} = {value!r} must be a finite number in [{low:g}, {high:g}].")
    return number


def check_theta0(theta0: object, name: str = "theta0") -> float:
    """Return the angle between two inputs as a float after checking it is in (0, π].

    The one statement of the input angle's domain, used by every predictor, the probe's theory
    overlay and the command line. θ0 = π (antipodal inputs, y = −x) is valid: ln sin²θ0 = −∞
    at layer 0, and after one ReLU layer the two inputs share no active unit, so θ1 = π/2.

    Raises
    ------
    TypeError
        If ``theta0`` is not a real number.
    DepthscopeError
        If ``theta0`` is NaN, outside (0, π] (θ0 = 0: parallel inputs have no angle to lose) or
        subnormal (below 2.2e-308).
    """
    if isinstance(theta0, (bool, np.bool_)) or not isinstance(theta0, (numbers.Real, np.number)):
        raise TypeError(f"{name} must be a real number in (0, π], not {type(theta0).__name__}.")
    value = float(theta0)
    if not (0.0 < value <= math.pi):  # also rejects NaN
        if math.isnan(value):
            raise DepthscopeError(f"{name} = nan is not a number, so outside (0, π] (radians).")
        why = ": parallel inputs (θ0 = 0) have no angle to predict" if value == 0.0 else ""
        raise DepthscopeError(f"{name} = {value!r} is outside (0, π] (radians){why}.")
    if value < sys.float_info.min:
        raise DepthscopeError(
            f"{name} = {value!r} is a subnormal number: angles below {sys.float_info.min:.3g} "
            "(the smallest normal float64) have lost precision and are not accepted."
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
