"""Architecture notation, the same everywhere: hidden widths, comma separated, ``WxK`` repeats.

``"256x30"`` is thirty layers of width 256, ``"512,256,128"`` three layers, ``"100x10,50"``
ten layers of 100 then one of 50. Input and output sizes are separate options where they matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._errors import DepthscopeError

__all__ = ["Architecture", "format_architecture", "parse_architecture"]

Architecture = tuple[int, ...]

_FORMS = (
    "valid forms: '256x30' (30 layers of width 256), '512,256,128' (three layers), "
    "'100x10,50' (ten layers of 100, then one of 50); widths and repeat counts are positive "
    "integers"
)
_TOKEN = re.compile(r"^\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*$")


def parse_architecture(spec: str | Iterable[int]) -> Architecture:
    """Parse hidden widths from the notation, or validate a sequence of widths.

    Parameters
    ----------
    spec : str or iterable of int
        ``"256x30"``, ``"512,256,128"``, ``"100x10,50"``; or widths such as ``[256] * 30``.

    Returns
    -------
    tuple of int
        The hidden widths n_1, ..., n_L (input excluded).

    Raises
    ------
    DepthscopeError
        For empty, malformed or non-positive entries; the message lists the valid forms.

    Examples
    --------
    >>> parse_architecture("100x2,50")
    (100, 100, 50)
    """
    if isinstance(spec, str):
        widths: list[int] = []
        tokens = spec.split(",")
        for token in tokens:
            match = _TOKEN.match(token)
            if match is None:
                raise DepthscopeError(f"cannot read architecture {spec!r} at {token!r}; {_FORMS}.")
            width, repeat = int(match.group(1)), int(match.group(2) or 1)
            if width < 1 or repeat < 1:
                raise DepthscopeError(
                    f"architecture {spec!r} has a zero in {token.strip()!r}; {_FORMS}."
                )
            widths.extend([width] * repeat)
        return tuple(widths)
    try:
        widths = [int(w) for w in spec]
        exact = all(float(w) == int(w) for w in spec)
    except (TypeError, ValueError) as err:
        raise DepthscopeError(f"cannot read architecture {spec!r}: {err}; {_FORMS}.") from None
    if not widths or not exact or min(widths) < 1:
        raise DepthscopeError(
            f"architecture {list(spec)!r} must be a non-empty list of positive integers; {_FORMS}."
        )
    return tuple(widths)


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
