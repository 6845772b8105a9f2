"""Optional heavy dependencies, imported on first use with one message naming the extra.

``import depthscope`` imports none of torch, matplotlib or PyYAML; the modules that need one
call the function here when they run, and a missing package raises a
:class:`~depthscope.DepthscopeError` that says what needs it and which extra installs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._errors import DepthscopeError

__all__ = [
    "import_matplotlib",
    "import_matplotlib_figure",
    "import_pyplot",
    "import_torch",
    "import_yaml",
]


def _import(module: str, purpose: str, package: str, extra: str) -> Any:
    """Import ``module``, or raise a DepthscopeError: ``{purpose} needs {package}: pip install``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DepthscopeError(
            f"{purpose} needs {package}: pip install 'depthscope[{extra}]'."
        ) from None


def import_torch(purpose: str = "probing PyTorch models") -> Any:
    """Return the ``torch`` module, or raise a DepthscopeError naming the ``torch`` extra."""
    return _import("torch", purpose, "PyTorch", "torch")


def import_yaml(purpose: str = "reading YAML") -> Any:
    """Return the ``yaml`` module (PyYAML), or raise a DepthscopeError naming the ``yaml`` extra."""
    return _import("yaml", purpose, "PyYAML", "yaml")


def import_matplotlib(purpose: str = "plotting") -> Any:
    """Return the ``matplotlib`` module, or raise a DepthscopeError naming the ``plot`` extra."""
    return _import("matplotlib", purpose, "matplotlib", "plot")


def import_matplotlib_figure(purpose: str = "plotting") -> Any:
    """Return ``matplotlib.figure.Figure`` (no pyplot, no backend), or raise naming ``plot``."""
    return _import("matplotlib.figure", purpose, "matplotlib", "plot").Figure


def import_pyplot(purpose: str = "drawing figures") -> Any:
    """Return ``matplotlib.pyplot`` with the non-interactive Agg backend, or raise naming ``plot``.

    The backend is forced before pyplot is first imported, so no display is ever needed.
    """
    matplotlib = _import("matplotlib", purpose, "matplotlib", "plot")
    matplotlib.use("Agg", force=True)
    return importlib.import_module("matplotlib.pyplot")
