"""Which modules a probe reads: name patterns, module classes, or every activation module."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from .._errors import DepthscopeError

__all__: list[str] = []


def _is_activation(torch: Any, module: Any) -> bool:
    return type(module).__module__ == "torch.nn.modules.activation" and not isinstance(
        module, torch.nn.MultiheadAttention
    )


def _select(
    torch: Any,
    model: Any,
    every_module: Sequence[tuple[str, Any]],
    layers: str | type | Sequence[str | type] | None,
) -> dict[str, Any]:
    """Qualified name → module of the modules to probe, in registration order."""
    named = [(name, mod) for name, mod in every_module if name]
    if layers is None:
        chosen = [(name, mod) for name, mod in named if _is_activation(torch, mod)]
        if not chosen and _is_activation(torch, model):
            chosen = [("", model)]
    else:
        items = [layers] if isinstance(layers, (str, type)) else list(layers)
        for item in items:
            if not isinstance(item, (str, type)):
                raise DepthscopeError(
                    f"layers entries must be name patterns or module types, not {item!r}."
                )

        def wanted(name: str, mod: Any) -> bool:
            return any(
                fnmatch.fnmatchcase(name, item) if isinstance(item, str) else isinstance(mod, item)
                for item in items
            )

        chosen = [(name, mod) for name, mod in named if wanted(name, mod)]
        if not chosen:
            sample = ", ".join(repr(name) for name, _ in named[:8]) or "(no submodules)"
            raise DepthscopeError(
                f"layers={layers!r} matches no module of the model; its modules include "
                f"{sample} (name patterns use fnmatch, e.g. '*relu*' or 'encoder.*')."
            )
    return dict(chosen)
