"""Architecture notation, the same everywhere: hidden widths, comma separated, ``WxK`` repeats.

``"256x30"`` is thirty layers of width 256, ``"512,256,128"`` three layers, ``"100x10,50"``
ten layers of 100 then one of 50. Input and output sizes are separate options where they matter.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence, Set

import numpy as np

from ._errors import DepthscopeError

__all__ = [
    "MAX_DEPTH",
    "MAX_WIDTH",
    "Architecture",
    "format_architecture",
    "parse_architecture",
    "short_repr",
]

Architecture = tuple[int, ...]

#: The deepest architecture any command accepts (layers). The predictors are linear in depth
#: and the simulators linear in depth × networks; past this, a request is refused up front.
MAX_DEPTH = 100_000
#: The widest layer any command accepts.
MAX_WIDTH = 10**9

_FORMS = (
    "valid forms: '256x30' (30 layers of width 256), '512,256,128' (three layers), "
    "'100x10,50' (ten layers of 100, then one of 50), or a list of positive integers"
)
_TOKEN = re.compile(r"^\s*([0-9]+)\s*(?:[xX*]\s*([0-9]+))?\s*$")


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for echoing user input in one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_sizes(widths_and_repeats: list[tuple[int, int]], spec: object) -> None:
    depth = sum(repeat for _, repeat in widths_and_repeats)
    if depth > MAX_DEPTH:
        raise DepthscopeError(
            f"architecture {short_repr(spec)} has {depth} layers; at most {MAX_DEPTH} are accepted."
        )
    widest = max(width for width, _ in widths_and_repeats)
    if widest > MAX_WIDTH:
        raise DepthscopeError(
            f"architecture {short_repr(spec)} has a layer of width {widest}; "
            f"at most {MAX_WIDTH} is accepted."
        )


def _as_width(value: object, spec: object) -> int:
    """One width from a sequence: a positive integer (int, numpy integer or integral float)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(
            f"architecture {short_repr(spec)} has a width of type {type(value).__name__}; {_FORMS}."
        )
    number = float(value)
    if not math.isfinite(number) or number != math.floor(number) or number < 1:
        raise DepthscopeError(
            f"architecture {short_repr(spec)} has width {short_repr(value)}; {_FORMS}."
        )
    return int(number)


def parse_architecture(spec: str | Iterable[int]) -> Architecture:
    """Parse hidden widths from the notation, or validate a sequence of widths.

    Parameters
    ----------
    spec : str or sequence of int
        ``"256x30"``, ``"512,256,128"``, ``"100x10,50"`` (ASCII digits); or widths such as
        ``[256] * 30`` (a list, tuple, range or 1-D integer array; integral floats are accepted).

    Returns
    -------
    tuple of int
        The hidden widths n_1, ..., n_L (input excluded).

    Raises
    ------
    TypeError
        For bytes, mappings, sets, scalars and entries that are not numbers.
    DepthscopeError
        For empty, malformed, non-integral or non-positive entries (the message lists the valid
        forms), more than :data:`MAX_DEPTH` layers or a width above :data:`MAX_WIDTH`.

    Examples
    --------
    >>> parse_architecture("100x2,50")
    (100, 100, 50)
    """
    if isinstance(spec, str):
        runs: list[tuple[int, int]] = []
        for token in spec.split(","):
            match = _TOKEN.match(token)
            if match is None:
                raise DepthscopeError(
                    f"cannot read architecture {short_repr(spec)} at {short_repr(token)}; {_FORMS}."
                )
            width, repeat = int(match.group(1)), int(match.group(2) or 1)
            if width < 1 or repeat < 1:
                raise DepthscopeError(
                    f"architecture {short_repr(spec)} has a zero in {short_repr(token.strip())}; "
                    f"{_FORMS}."
                )
            runs.append((width, repeat))
        _check_sizes(runs, spec)
        return tuple(width for width, repeat in runs for _ in range(repeat))
    if isinstance(spec, (bytes, bytearray, Mapping, Set)) or not isinstance(
        spec, (Sequence, np.ndarray)
    ):
        raise TypeError(
            f"an architecture is a string or a sequence of widths, not "
            f"{type(spec).__name__} ({short_repr(spec)}); {_FORMS}."
        )
    if isinstance(spec, np.ndarray) and spec.ndim != 1:
        raise DepthscopeError(f"an architecture array must be one-dimensional; {_FORMS}.")
    if len(spec) == 0:
        raise DepthscopeError(f"architecture {short_repr(spec)} is empty; {_FORMS}.")
    if len(spec) > MAX_DEPTH:
        raise DepthscopeError(
            f"architecture has {len(spec)} layers; at most {MAX_DEPTH} are accepted."
        )
    widths = tuple(_as_width(value, spec) for value in spec)
    _check_sizes([(width, 1) for width in widths], spec)
    return widths


def format_architecture(widths: Iterable[int]) -> str:
    """Write widths in the compact notation (runs collapsed to ``WxK``).

    Examples
    --------
    >>> format_architecture([100] * 10 + [50])
    '100x10,50'
    """
    parts: list[str] = []
    run_width, run_length = None, 0
    for width in [*widths, None]:
        if width == run_width:
            run_length += 1
            continue
        if run_width is not None:
            parts.append(f"{run_width}x{run_length}" if run_length > 1 else str(run_width))
        run_width, run_length = width, 1
    return ",".join(parts)
