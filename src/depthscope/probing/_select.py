"""Which modules a probe reads: name patterns, module classes, or every activation module."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence, Set
from typing import Any

from .._errors import DepthscopeError

__all__ = ["few_activations_note"]

#: Containers that are never worth suggesting as a layer to probe.
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


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


def few_activations_note(
    every_module: Sequence[tuple[str, Any]], found: Set[str]
) -> tuple[str, ...]:
    """Return a note when the default selection probed fewer than two modules of a larger model.

    ``found`` are the qualified names of the modules the default selection probed. The note
    is made when fewer than two were found while the model has more parametrised layers
    (modules with parameters of their own) than one past those found: activations called
    functionally (``torch.relu(x)``) are invisible to hooks. It names the model's distinct
    module classes (its own classes first) and suggests ``layers=`` with one of them and the
    name patterns of its instances.
    """
    named = [(name, mod) for name, mod in every_module if name]
    own = [
        name for name, mod in named if next(iter(mod.parameters(recurse=False)), None) is not None
    ]
    if len(found) >= 2 or len(own) <= len(found) + 1:
        return ()
    classes: dict[str, type[Any]] = {}
    for _, mod in named:
        kind = type(mod)
        if kind.__name__ not in _CONTAINERS:
            classes.setdefault(kind.__name__, kind)
    users = [c for c in classes.values() if not c.__module__.startswith("torch.")]
    composite = [c for c in classes.values() if any(True for _ in _children_of(named, c))]
    ordered = users + [c for c in classes.values() if c not in users]
    suggest = (users or composite or ordered)[0]
    instances = [name for name, mod in named if type(mod) is suggest]
    patterns = sorted({re.sub(r"\d+", "*", name) for name in instances})
    exact = all(
        (type(mod) is suggest) == any(fnmatch.fnmatchcase(name, p) for p in patterns)
        for name, mod in named
    )
    shown = patterns if exact else instances[:3]
    listed = ", ".join(c.__name__ for c in ordered)
    return (
        f"the default selection (activation modules and residual blocks) found {len(found)} "
        f"module(s) to probe in a model with {len(own)} parametrised layers: activations called "
        "functionally (torch.relu(x), F.gelu(x) in a forward) are invisible to hooks, so the "
        f"layers between were not measured. The model's module classes are {listed}; probe "
        f"its blocks, e.g. layers=[{suggest.__name__}] or layers={shown!r} "
        f"(CLI: --layers {' '.join(repr(p) for p in shown)}).",
    )


def _children_of(named: Sequence[tuple[str, Any]], kind: type[Any]) -> list[Any]:
    """Return the children of the first module of class ``kind``."""
    for _, mod in named:
        if type(mod) is kind:
            return list(mod.children())
    return []


def sequence_first_note(
    every_module: Sequence[tuple[str, Any]], inputs_ndim: int, tokens: bool
) -> tuple[str, ...]:
    """Return a note when the model runs sequence-first and x looks batched.

    Modules with ``batch_first=False`` (``nn.MultiheadAttention``, the ``nn.Transformer*``
    layers, ``nn.RNN``/``LSTM``/``GRU``) take (T, m, d) inputs: the probe's samples mode
    reads dim 0 of x and of every output as the samples, so it would compare two positions,
    not two sequences.
    """
    if tokens or inputs_ndim < 3:
        return ()
    late = [
        name or type(mod).__name__
        for name, mod in every_module
        if getattr(mod, "batch_first", True) is False
    ]
    if not late:
        return ()
    return (
        f"the model runs sequence-first (batch_first=False in {late[0]!r}"
        + (f" and {len(late) - 1} more" if len(late) > 1 else "")
        + "): x of shape (T, m, d) holds its samples on dim 1, but the probe reads dim 0 of x "
        "and of every layer's output as the samples, so these rows compare sequence positions. "
        "Build the model with batch_first=True (the same state_dict loads) and pass (m, T, d), "
        "or probe one sequence with across='tokens' and x of shape (T, d).",
    )
