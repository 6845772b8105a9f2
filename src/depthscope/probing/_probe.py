"""Probe a PyTorch model layer by layer: angle of two inputs and effective-dimension panel.

Forward hooks on the chosen modules reduce each layer's output to a few numbers while the
forward pass runs (under ``torch.no_grad``); no activation outlives its hook. The numbers are
those of the simulator (:mod:`depthscope.simulation._metrics`), computed in float64 whatever the
model's dtype. torch is imported when :func:`probe` is called, never by ``import depthscope``.

This module is the driver; the steps live beside it: :mod:`._select` (which modules),
:mod:`._reduce` (a layer's output → a row, in its hook), :mod:`._forward` (the hooks and the
hooked forward passes, which restore the model's state), :mod:`._certify` (certificates,
panels and angles of all rows at once), :mod:`._theory` (the theory overlay) and
:mod:`._result` (the result).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from .._errors import DepthscopeError, DepthscopeWarning
from .._optional import import_torch
from ._certify import _certify, _fill_ln_sin2, _fill_panels
from ._forward import _exact_pass, _forward, _Recorder
from ._reduce import INPUT, _copy_row, _streams, _Subsample
from ._result import METRICS, ProbeResult
from ._select import _select, few_activations_note, sequence_first_note
from ._theory import TheoryOverlay, build_overlay

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["METRICS", "InputCache", "ProbeResult", "probe", "probe_with_cache"]

Mode = Literal["eval", "train", "keep"]
Across = Literal["samples", "tokens"]
#: The input row's cache of a caller that probes one fixed batch again and again: the
#: ``"input"`` row and the input pair's angle, per dtype, device, version, pair and tolerance.
InputCache = dict[Any, dict[str, Any]]


def probe(
    model: Any,
    x: ArrayLike | torch.Tensor,
    layers: str | type | Sequence[str | type] | None = None,
    *,
    tolerance: float = 1e-3,
    pair: tuple[int, int] = (0, 1),
    max_features: int | None = None,
    channels: int | None = None,
    positions: int | None = None,
    channel_dim: int = 1,
    mode: Mode = "eval",
    theory: bool = True,
    include_input: bool = True,
    rng: np.random.Generator | int | None = None,
    across: Across = "samples",
) -> ProbeResult:
    """Measure a model layer by layer on a batch: ln sin²θ of two inputs and the panel.

    Parameters
    ----------
    model : torch.nn.Module
        Any module called as ``model(x)`` (an eager module: TorchScript modules cannot carry
        hooks; see :func:`depthscope.probing.load_model` for how the CLI opens them).
    x : torch.Tensor or array_like, shape (m, ...)
        A batch of m ≥ 2 real inputs. Moved to the model's device and cast to the dtype of
        its first parameter when that is floating: floating, integer and boolean inputs alike
        (integers and booleans without rescaling, True → 1.0). Complex inputs are refused.
    layers : str, module type, or sequence of them, optional
        Which modules to probe: fnmatch patterns on qualified names (``"*.relu"``,
        ``"blocks.*"``) and/or module classes (``torch.nn.ReLU``). Default: every activation
        module (the classes of ``torch.nn.modules.activation``) and every residual block
        ``x + α·V φ(W x + b)`` the theory overlay recognises (Notes). A module that returns a
        tuple (``nn.MultiheadAttention``) is measured on its first tensor.
    tolerance : float, default 1e-3
        Relative tolerance τ of the numerical rank.
    pair : tuple of int, default (0, 1)
        The two rows of the batch whose angle is tracked.
    max_features : int, optional
        Keep at most this many coordinates of each flattened representation (a random
        subset, the same for all inputs).
    channels, positions : int, optional
        For outputs with ≥ 3 dimensions (convolutional ``(m, C, H, W)``, sequence
        ``(m, C, T)``): keep that many random channels (dimension ``channel_dim``) and/or
        positions (all remaining dimensions) before flattening.
    channel_dim : int, default 1
        The channel dimension for ``channels`` (use -1 for ``(m, T, C)`` sequence outputs).
    mode : {"eval", "train", "keep"}, default "eval"
        Mode of the forward pass. Every module's mode is restored afterwards, and so are the
        buffers (BatchNorm running statistics) and torch's random state.
    theory : bool, default True
        Compute the theory overlay (:class:`~depthscope.probing.TheoryOverlay`).
    include_input : bool, default True
        Add the ``"input"`` row (the batch itself, flattened per example).
    rng : numpy.random.Generator, int or None
        Seeds the subsampling (one stream per subsampled row, in execution order).
    across : {"samples", "tokens"}, default "samples"
        What the rows of each layer's representation are. ``"samples"``: the m inputs of the
        batch (each flattened). ``"tokens"``: the T tokens of *one* sequence, for sequence
        models: ``x`` has shape (1, T, d) or (T, d) (T ≥ 2), each layer's output (1, T, ...)
        or (T, ...) is read as T rows, and ``pair`` names two tokens; the angle and the panel
        then measure how far the tokens' representations collapse with depth (rank collapse
        in transformers, Noci et al. 2022). No theory overlay in token mode.

    Returns
    -------
    ProbeResult
        One row per probed layer in execution order.

    Raises
    ------
    DepthscopeError
        If torch is missing, the batch has fewer than 2 inputs, is complex or not numeric,
        has the wrong width for an ``nn.Sequential`` starting with a Linear, or ``pair`` or
        ``layers`` is invalid. An exception of the forward pass (torch's ``RuntimeError`` for
        a batch another model cannot take) propagates after the hooks are removed.

    Warns
    -----
    DepthscopeWarning
        Once, if any layer's output holds NaN or ±inf (a NaN input or weight, a diverged
        training run): those rows have NaN metrics and ``nonfinite`` True; the probe goes on.
        Once, if the default selection finds fewer than two activation modules and residual
        blocks in a model with more parametrised layers (activations called functionally,
        ``torch.relu(x)`` in a ``forward``, are invisible to hooks): the message, also kept in
        ``result.notes``, names the model's module classes and suggests ``layers=``.

    Notes
    -----
    Each output is flattened per example into a representation of length n (a convolutional
    activation ``(C, H, W)`` becomes one vector of length C·H·W), converted to float64, and
    reduced inside the hook to ln sin²θ's Gram entries of ``(a, b − a)``
    (:func:`depthscope.simulation._metrics.ln_sin2_from_gram`), the unit counts, and the m×m Gram
    matrices of the representations and of their 0/1 activation pattern. After the forward
    pass, one Cholesky call certifies for every layer that the first is well conditioned
    (λ_min > 10⁻⁶ trace, :func:`depthscope.simulation._gram_route.certify_eigenvalues`; then
    its eigenvalues give every singular value to ~10⁻¹⁰ relative) and that the second, exact in
    integers, has full rank; one eigenvalue call gives the spectra of all certified layers
    (:func:`depthscope.simulation._gram_route.spectra_from_grams`). A layer with m > n takes the
    exact route, the thin QR of the n×m matrix (as in the simulator,
    :func:`depthscope.simulation._metrics.panel_from_factors`), in its hook; a layer that fails a
    certificate (a singular or ill-conditioned batch, as in a degenerate deep network) takes
    it in a second forward pass from the same model and random state, with the same
    subsampled coordinates. The panel's formulas are one
    function for both routes
    (:func:`depthscope.simulation._metrics.panel_from_spectra`). On CUDA a layer of more than 2²⁰
    values
    (m·n) is reduced on the device and only m×m matrices are copied; a smaller one is copied
    to the host, which is faster. Only these summaries are kept: memory beyond the forward
    pass itself is one layer's float64 copy at a time. Modules called functionally
    (``torch.relu(x)`` in ``forward``) are invisible to hooks and are not probed.

    The theory overlay (:class:`~depthscope.probing.TheoryOverlay`) follows the data flow by
    tensor identity (``depthscope.probing._trace``) and covers stacks of plain layers,
    a Linear (with or without bias) followed by ``ReLU``, ``LeakyReLU``, ``Tanh``,
    ``GELU(approximate='none')`` or ``SiLU``, and of residual blocks ``x + α·V φ(W x + b)``
    (V bias-free, constant width; recognised numerically on the probe batch, α estimated).
    It reads σ_w² = fan_in·Var(W) and σ_b² = Var(b) from the weights and says which init
    they match (:attr:`Stack.init <depthscope.probing.Stack>`). A bias-free ReLU stack is
    the paper's network, predicted by the default method as before; any other is predicted
    by :func:`depthscope.predict` with ``activation``, ``weight_std``, ``bias_std``, ``q0``
    and ``residual``: its default method first, and ``method="infinite"`` (a line, no sd)
    where the default refuses. Anything else (normalisation, attention, convolution) is
    named in the row's status.

    Examples
    --------
    >>> import torch
    >>> import depthscope as ds
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), torch.nn.ReLU())
    >>> res = ds.probing.probe(net, torch.randn(4, 8))
    >>> res.layers
    ('input', '1')
    >>> res.theory.status
    ('covered', 'covered')
    """
    settings = _Settings(
        layers,
        tolerance,
        pair,
        max_features,
        channels,
        positions,
        channel_dim,
        mode,
        theory,
        include_input,
        rng,
        across,
    )
    result = _probe(model, x, settings, None)
    _warn_nonfinite(result)
    for note in result.notes:
        warnings.warn(note, DepthscopeWarning, stacklevel=2)
    return result


def probe_with_cache(model: Any, x: Any, input_cache: InputCache, **options: Any) -> ProbeResult:
    """Return ``probe(model, x, **options)``, reusing the input row kept in ``input_cache``.

    For a caller that probes one fixed batch again and again
    (:class:`~depthscope.probing.TrainingMonitor`): the ``"input"`` row and the input pair's
    angle are computed once per dtype, device and version (in-place changes) of the batch, and
    reused; not with subsampling, which draws from the random streams. The result is the one
    :func:`probe` gives; the caller warns about non-finite layers (``result.nonfinite``).
    """
    bound = _SIGNATURE.bind(model, x, **options)  # probe's own TypeError for a wrong option
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    del arguments["model"], arguments["x"]
    return _probe(model, x, _Settings(**arguments), input_cache)


_SIGNATURE = inspect.signature(probe)


@dataclass(frozen=True)
class _Settings:
    """:func:`probe`'s arguments after the model and the batch, as given (same names)."""

    layers: str | type | Sequence[str | type] | None
    tolerance: float
    pair: tuple[int, int]
    max_features: int | None
    channels: int | None
    positions: int | None
    channel_dim: int
    mode: str
    theory: bool
    include_input: bool
    rng: np.random.Generator | int | None
    across: str = "samples"


def _check(torch: Any, model: Any, settings: _Settings) -> None:
    """Raise a DepthscopeError for a model or a setting that :func:`probe` cannot take."""
    if not isinstance(model, torch.nn.Module):
        raise DepthscopeError(f"model must be a torch.nn.Module, not {type(model).__name__}.")
    if isinstance(model, torch.jit.ScriptModule):
        raise DepthscopeError(
            "TorchScript modules cannot carry forward hooks; open the file with "
            "depthscope.probing.load_model, which rebuilds a TorchScript nn.Sequential eagerly."
        )
    if not 0.0 < settings.tolerance < 1.0:
        raise DepthscopeError(f"tolerance = {settings.tolerance!r} must be in (0, 1).")
    if settings.mode not in ("eval", "train", "keep"):
        raise DepthscopeError(f"mode = {settings.mode!r}; choose 'eval', 'train' or 'keep'.")
    if settings.across not in ("samples", "tokens"):
        raise DepthscopeError(f"across = {settings.across!r}; choose 'samples' or 'tokens'.")
    for label in ("max_features", "channels", "positions"):
        value = getattr(settings, label)
        if value is not None and value < 1:
            raise DepthscopeError(f"{label} = {value!r} must be a positive integer.")


def _batch(
    torch: Any, model: Any, x: Any, pair: tuple[int, int], tokens: bool = False
) -> tuple[Any, tuple[int, int], Any]:
    """Return the batch as a tensor, the checked pair of rows, and the dtype's reference.

    The reference is the model's first parameter, else the batch: the result's ``dtype`` and
    ``device`` are its. In token mode the rows are the tokens of one sequence.
    """
    parameter = next(model.parameters(), None)
    inputs = _as_input(
        torch, parameter if parameter is not None else next(model.buffers(), None), x
    )
    if tokens:
        if inputs.ndim < 2 or (inputs.ndim >= 3 and inputs.shape[0] != 1):
            raise DepthscopeError(
                f"across='tokens' takes one sequence, of shape (1, T, d) or (T, d); got shape "
                f"{tuple(inputs.shape)}"
                + (
                    "; for a sequence-first model (batch_first=False) pass the sequence as (T, d)."
                    if inputs.ndim >= 3 and inputs.shape[1] == 1
                    else "."
                )
            )
        m = int(inputs.shape[1] if inputs.ndim >= 3 else inputs.shape[0])
        if m < 2:
            raise DepthscopeError(
                f"across='tokens' needs a sequence of at least 2 tokens, got shape "
                f"{tuple(inputs.shape)}."
            )
    else:
        m = int(inputs.shape[0]) if inputs.ndim else 0
        if m < 2:
            raise DepthscopeError(
                f"x must hold a batch of at least 2 inputs, got shape {tuple(inputs.shape)}."
            )
    _check_width(torch, model, inputs)
    i, j = (int(p) for p in pair)
    what = "tokens of the sequence" if tokens else "rows of the batch"
    if not (0 <= i < m and 0 <= j < m and i != j):
        raise DepthscopeError(f"pair = {pair!r} must be two different {what} 0..{m - 1}.")
    return inputs, (i, j), parameter if parameter is not None else inputs


def _cache_entry(
    input_cache: InputCache | None, inputs: Any, x: Any, pair: tuple[int, int], tolerance: float
) -> dict[str, Any]:
    """Return the batch's entry of ``input_cache`` (made if new); a fresh dict without one."""
    if input_cache is None:
        return {}
    version = getattr(x, "_version", None)
    key = (str(inputs.dtype), str(inputs.device), version, *pair, tolerance)
    return input_cache.setdefault(key, {})


def _probe(model: Any, x: Any, settings: _Settings, input_cache: InputCache | None) -> ProbeResult:
    """Run :func:`probe` with ``settings``; see :func:`probe_with_cache` for ``input_cache``."""
    torch = import_torch()
    _check(torch, model, settings)
    tokens = settings.across == "tokens"
    inputs, pair, reference = _batch(torch, model, x, settings.pair, tokens)
    sub = _Subsample(
        settings.max_features, settings.channels, settings.positions, int(settings.channel_dim)
    )
    stream, seed = _streams(settings.rng)
    every_module = list(model.named_modules())
    selected = _select(torch, model, every_module, settings.layers)
    # The input row and the input pair's angle depend only on the batch: a caller that probes
    # the same batch again (the training monitor) may keep them. Not with subsampling, which
    # draws from the streams.
    cache = None if sub.active else input_cache
    entry = _cache_entry(cache, inputs, x, pair, settings.tolerance)
    # The tracer follows the data flow for the theory overlay, and finds the residual blocks
    # that the default selection adds; it sees every module. Not in token mode.
    blocks = settings.layers is None and not tokens
    trace = (settings.theory or blocks) and not tokens
    recorder = _Recorder(
        torch,
        inputs,
        pair,
        sub,
        stream,
        entry,
        trace,
        blocks=blocks,
        tokens=tokens,
        watch=_watched(torch, every_module) if blocks else frozenset(),
    )
    m = recorder.m
    hooked = dict(every_module) if trace else dict(selected)
    devices = [inputs.device.index or 0] if inputs.device.type == "cuda" else []
    if settings.include_input:
        recorder.add_input_row()
    if recorder.tracer is not None:
        recorder.tracer.start(inputs)
    hooks = {
        name: (mod, recorder.hook(name, mod, name in selected)) for name, mod in hooked.items()
    }
    modules = [mod for _, mod in every_module]
    _forward(torch, model, inputs, hooks, modules, settings.mode, devices)
    rows = recorder.rows
    redo = _certify(rows, m)
    if redo:  # rare: a layer too ill-conditioned for its Gram matrix; QR it in a second pass
        _exact_pass(torch, model, inputs, redo, sub, stream, settings.mode, devices, tokens)
    _fill_panels(rows, m, settings.tolerance)
    _fill_ln_sin2(rows)
    if settings.include_input and cache is not None:
        entry["row"] = _copy_row(rows[0])
    found = {row.module for row in rows if row.module != INPUT}
    notes = few_activations_note(every_module, found) if settings.layers is None else ()
    notes += sequence_first_note(every_module, int(inputs.ndim), tokens)
    return _result(recorder, settings, sub, seed, reference, notes)


def _watched(torch: Any, every_module: Sequence[tuple[str, Any]]) -> frozenset[str]:
    """Names of the modules whose parent is not a Sequential or ModuleList (a block's parts)."""
    modules = dict(every_module)
    plain = (torch.nn.Sequential, torch.nn.ModuleList)
    return frozenset(
        name
        for name, _ in every_module
        if name and not isinstance(modules.get(name.rpartition(".")[0]), plain)
    )


def _result(
    recorder: _Recorder,
    settings: _Settings,
    sub: _Subsample,
    seed: int | None,
    reference: Any,
    notes: tuple[str, ...] = (),
) -> ProbeResult:
    """Assemble the :class:`ProbeResult` of the finished rows and the theory overlay."""
    rows = recorder.rows
    names = tuple(row.name for row in rows)
    types = tuple(row.module_type for row in rows)
    measured = np.array([row.ln_sin2 for row in rows])
    tracer = recorder.tracer
    if settings.across == "tokens":
        overlay = TheoryOverlay.empty(
            len(rows), "token mode (the angle theory is about two inputs, not two tokens)"
        )
    elif tracer is None or not settings.theory:
        overlay = TheoryOverlay.empty(len(rows), "theory overlay not requested")
    else:
        input_row = 0 if settings.include_input else None
        overlay = build_overlay(tracer.finish(), names, types, measured, tracer.reasons, input_row)
    return ProbeResult(
        layers=names,
        module_types=types,
        shapes=tuple(row.shape for row in rows),
        n_features=np.array([row.n_features for row in rows], dtype=np.int64),
        ln_sin2=measured,
        metrics={name: np.array([row.metrics[name] for row in rows]) for name in METRICS},
        status=tuple(row.status for row in rows),
        theory=overlay,
        n_inputs=recorder.m,
        pair=recorder.pair,
        tolerance=float(settings.tolerance),
        dtype=str(reference.dtype).removeprefix("torch."),
        device=str(reference.device),
        mode=settings.mode,
        subsample=sub.as_dict(),
        seed=seed,
        nonfinite=tuple(row.nonfinite for row in rows),
        notes=notes,
        across=settings.across,
    )


def _as_input(torch: Any, reference: Any, x: Any) -> Any:
    """Return the batch as a tensor on ``reference``'s device, real inputs in its dtype.

    ``reference`` is the model's first parameter (else its first buffer, else None). Floating,
    integer and boolean inputs are cast to its floating dtype (integers and booleans without
    rescaling: ``True`` is 1.0, a uint8 pixel 255 is 255.0); complex inputs and non-numeric
    arrays are refused.
    """
    if isinstance(x, torch.Tensor):
        tensor = x
    else:
        array = np.asarray(x)
        if array.dtype.kind not in "biuf":
            raise DepthscopeError(
                f"x must be a real numeric array (bool, integer or float), not dtype "
                f"{array.dtype} ({type(x).__name__})."
            )
        tensor = torch.as_tensor(array)
    if tensor.is_complex():
        raise DepthscopeError(f"x has complex dtype {tensor.dtype}; the probe takes real inputs.")
    if reference is not None:
        tensor = tensor.to(reference.device)
        if reference.is_floating_point() and tensor.dtype != reference.dtype:
            tensor = tensor.to(reference.dtype)
    return tensor


def _check_width(torch: Any, model: Any, inputs: Any) -> None:
    """Refuse a batch whose width does not fit an ``nn.Sequential`` that starts with a Linear."""
    if not isinstance(model, torch.nn.Sequential) or not len(model):
        return
    first = model[0]
    if isinstance(first, torch.nn.Linear) and inputs.shape[-1] != first.in_features:
        raise DepthscopeError(
            f"x has shape {tuple(inputs.shape)}: {inputs.shape[-1]} features per example, but "
            f"the model's first Linear takes in_features = {first.in_features}."
        )


def _warn_nonfinite(result: ProbeResult) -> None:
    """Warn once that layers held NaN or ±inf (their rows are flagged ``nonfinite``)."""
    flagged = [name for name, bad in zip(result.layers, result.nonfinite, strict=True) if bad]
    if flagged:
        shown = ", ".join(flagged[:5]) + (
            f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
        )
        warnings.warn(
            f"non-finite values (NaN or ±inf) in {len(flagged)} layer(s): {shown}; their "
            "metrics are NaN and flagged in the 'nonfinite' column (a NaN input or weight, or "
            "a diverged training run).",
            DepthscopeWarning,
            stacklevel=3,
        )
