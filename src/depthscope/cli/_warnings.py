"""Warnings on the command line: one line each, ``depthscope: warning: ...``, on stderr."""

from __future__ import annotations

import sys
import warnings
from typing import Any

from .._errors import DepthscopeWarning

__all__ = ["one_line_warnings"]


def _show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    if issubclass(category, DepthscopeWarning):
        print(f"depthscope: warning: {message}", file=sys.stderr)
    else:
        _default(message, category, *args, **kwargs)


_default = warnings.showwarning


def one_line_warnings() -> None:
    """Print depthscope's own warnings as one line each (other warnings keep Python's format)."""
    warnings.showwarning = _show
