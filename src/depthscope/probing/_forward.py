"""Run the model with forward hooks, and leave it as it was: mode, buffers, random state.

:class:`_Recorder` makes the first pass's hooks (a row per probed call, the tracer's calls),
:func:`_forward` runs one hooked forward pass, and :func:`_exact_pass` is the rare second pass
that redoes the rows whose Gram certificate failed, from the same model and random state.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .._errors import DepthscopeError
from ._reduce import (
    INPUT,
    Stream,
    _copy_row,
    _redo_exact,
    _Row,
    _Subsample,
    _summarise,
    layer_tensor,
)
from ._theory import pair_angle
from ._trace import StackTracer

__all__: list[str] = []


@contextlib.contextmanager
def _restored_state(
    torch: Any, model: Any, modules: Sequence[Any], mode: str, devices: list[int]
) -> Iterator[None]:
    """Set the mode; afterwards restore every module's mode, the buffers and the RNG state.

    ``modules`` are all of ``model``'s modules (``model.modules()``).
    """
    flags = [(mod, mod.training) for mod in modules]
    if mode != "keep":
        target = mode == "train"
        if all(type(mod).train is torch.nn.Module.train for mod, _ in flags):
            for mod, _ in flags:  # what model.train(target) does, without its recursion
                mod.__dict__["training"] = target
        else:  # a module overrides train(): let it
            model.train(target)
    training = any(mod.training for mod, _ in flags)
    saved = [(buf, buf.detach().clone()) for buf in model.buffers()] if training else []
    # torch's random state: the CPU generator's directly (fork_rng costs more), or fork_rng
    # for the CPU and the CUDA devices.
    cpu_state = None if devices else torch.get_rng_state()
    forked = torch.random.fork_rng(devices=devices) if devices else contextlib.nullcontext()
    try:
        with forked, torch.no_grad():
            yield
    finally:
        if cpu_state is not None:
            torch.set_rng_state(cpu_state)
        for mod, flag in flags:
            mod.__dict__["training"] = flag  # Module.__setattr__ costs ~5 µs a call
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def _forward(
    torch: Any,
    model: Any,
    inputs: Any,
    hooks: Mapping[str, tuple[Any, Callable[..., None]]],
    modules: Sequence[Any],
    mode: str,
    devices: list[int],
) -> None:
    """Run ``model(inputs)`` with forward hooks, which are removed whatever happens."""
    handles = []
    try:
        for module, hook in hooks.values():
            handles.append(module.register_forward_hook(hook))
        with _restored_state(torch, model, modules, mode, devices):
            try:
                model(inputs)
            except RuntimeError as err:  # a shape mismatch: say what was given, in one line
                if "shape" not in str(err) and "size" not in str(err):
                    raise  # the model's own error, as it raised it
                detail = " ".join(str(err).split())[:200]
                raise DepthscopeError(
                    f"the model cannot take inputs of shape {tuple(inputs.shape)} (batch of "
                    f"{inputs.shape[0]} examples): {detail}"
                ) from None
    finally:
        for handle in handles:
            handle.remove()


def _exact_pass(
    torch: Any,
    model: Any,
    inputs: Any,
    redo: Sequence[_Row],
    sub: _Subsample,
    stream: Stream,
    mode: str,
    devices: list[int],
    tokens: bool = False,
) -> None:
    """Recompute ``redo``'s rows by the exact route, in a second forward pass if needed.

    The pass starts from the same model state and torch random state as the first (both are
    restored after each), and replays each row's subsampled subsets, so it sees the same
    features.
    """
    wanted = {(row.module, row.call): row for row in redo}
    if (INPUT, 1) in wanted:
        _redo_exact(torch, wanted.pop((INPUT, 1)), inputs, sub, stream, tokens)
    if not wanted:
        return
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}

    def make_hook(name: str) -> Callable[..., None]:
        def hook(mod: Any, args: tuple[Any, ...], output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            row = wanted.get((name, calls[name]))
            if row is not None:
                _redo_exact(torch, row, output, sub, stream, tokens)

        return hook

    hooks = {name: (modules[name], make_hook(name)) for name, _ in wanted}
    _forward(torch, model, inputs, hooks, list(modules.values()), mode, devices)


class _Recorder:
    """What the forward hooks of one probe share: the rows, the call counts, the tracer.

    ``entry`` is the batch's entry of an input cache (an empty dictionary without one): the
    input pair's angle and row are read from it and written into it. ``trace``: follow the
    data flow (:class:`~depthscope.probing._trace.StackTracer`); ``blocks``: also add a row
    for every residual block the tracer recognises, and for every module x + α·f(x) that is
    not of the block form (the default selection; its row says why). ``tokens``: token
    mode (the rows are the tokens of one sequence; no tracer). ``watch``: see
    :class:`~depthscope.probing._trace.StackTracer`.
    """

    def __init__(
        self,
        torch: Any,
        inputs: Any,
        pair: tuple[int, int],
        sub: _Subsample,
        stream: Stream,
        entry: dict[str, Any],
        trace: bool,
        *,
        blocks: bool = False,
        tokens: bool = False,
        watch: frozenset[str] = frozenset(),
    ) -> None:
        self.torch, self.inputs, self.pair, self.sub, self.stream = torch, inputs, pair, sub, stream
        self.tokens = tokens
        self.m = int(layer_tensor(torch, inputs, tokens).shape[0])
        self.entry = entry
        self.rows: list[_Row] = []
        self.calls: dict[str, int] = {}
        self.blocks = blocks
        self.tracer = StackTracer(torch, self.pair_rows, self.pair_angle, watch) if trace else None

    def summarise(self, name: str, module_type: str, output: Any) -> int:
        """Add the row of one call of module ``name``; return its index."""
        calls = self.calls[name] = self.calls.get(name, 0) + 1
        label = name if calls == 1 else f"{name}#{calls}"
        row = _Row(label or "(model)", module_type, module=name, call=calls)
        _summarise(self.torch, row, output, self.m, self.pair, self.sub, self.stream, self.tokens)
        self.rows.append(row)
        return len(self.rows) - 1

    def add_input_row(self) -> None:
        """Add the row of the batch itself (from the cache when it holds it)."""
        cached = self.entry.get("row")
        if cached is None:
            self.summarise(INPUT, INPUT, self.inputs)
        else:
            self.calls[INPUT] = 1
            self.rows.append(_copy_row(cached))

    def pair_rows(self, tensor: Any) -> Any:
        """Return a copy of the pair's rows of ``tensor`` (None: no batch dimension)."""
        torch, m, (i, j) = self.torch, self.m, self.pair
        if not isinstance(tensor, torch.Tensor) or tensor.ndim < 1 or tensor.shape[0] != m:
            return None
        # Two basic-index views stacked: a list index would send the indices to the device
        # (a host-to-device copy and a synchronisation per call on a GPU).
        tensor = tensor.detach()
        return torch.stack((tensor[i], tensor[j]))

    def pair_angle(self, rows: Any, is_input: bool) -> float:
        """Return the angle between the pair's rows, NaN if unreadable (cached for the input)."""
        if rows is None:
            return math.nan
        if is_input and "angle" in self.entry:
            return float(self.entry["angle"])
        picked = rows.reshape(2, -1).to(self.torch.float64)
        angle = pair_angle(np.asarray(picked.cpu().numpy()))  # NaN if not finite
        if is_input:
            self.entry["angle"] = angle
        return angle

    def hook(self, name: str, module: Any, probed: bool) -> Callable[..., None]:
        """Make the forward hook of module ``name``: the tracer's record, its row if probed."""
        tracer = self.tracer
        module_type = type(module).__name__

        def hook(mod: Any, args: tuple[Any, ...], output: Any) -> None:
            event = tracer.observe(name, mod, args, output) if tracer is not None else None
            block = self.blocks and event is not None and bool(event.block or event.not_block)
            if probed or block:
                row = self.summarise(name, module_type, output)
                if event is not None:
                    event.row = row

        return hook
