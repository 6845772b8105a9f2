"""Probe a PyTorch model layer by layer: angle of two inputs and effective-dimension panel.

Forward hooks on the chosen modules reduce each layer's output to a few numbers while the
forward pass runs (under ``torch.no_grad``); no activation outlives its hook. The numbers are
those of the simulator (:mod:`depthscope._metrics`), computed in float64 whatever the model's
dtype. torch is imported when :func:`probe` is called, never by ``import depthscope``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import DepthscopeError
from .._metrics import PANEL_METRICS, ln_sin2_from_gram, panel_from_factors
from ._theory import StackTracer, TheoryOverlay, build_overlay

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["METRICS", "ProbeResult", "import_torch", "probe"]

#: Per-layer metrics of a probe: the effective-dimension panel, then the dead-unit fraction.
METRICS: tuple[str, ...] = (*PANEL_METRICS, "dead_fraction")
INPUT = "input"
Mode = Literal["eval", "train", "keep"]


def import_torch() -> Any:
    """Import torch, or raise a DepthscopeError naming the extra to install."""
    try:
        import torch
    except ImportError:
        raise DepthscopeError(
            "probing PyTorch models needs PyTorch: pip install 'depthscope[torch]'."
        ) from None
    return torch


def _finite_or_none(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class ProbeResult:
    """Per-layer measurements of one probe (rows = probed layers in execution order).

    Attributes
    ----------
    layers : tuple of str
        Row names: ``"input"`` (the batch itself, flattened per example) and the qualified
        module names (``"3"``, ``"encoder.relu1"``); a module that ran k > 1 times gets
        ``"name#k"`` for its later calls.
    module_types : tuple of str
        Class name of each row's module (``"input"`` for the input row).
    shapes : tuple of tuple of int
        Per-example shape of each row's output (batch dimension removed).
    n_features : ndarray of int, shape (n_layers,)
        Length n of each representation after flattening and subsampling.
    ln_sin2 : ndarray, shape (n_layers,)
        ln sin²θ between the two inputs ``pair`` (natural log, dimensionless); ``-inf`` for
        parallel representations, NaN where one of them is all zero or the row is unsupported.
    metrics : mapping of str to ndarray, shape (n_layers,)
        One array per name in :data:`METRICS`: the effective-dimension panel of the m inputs
        (``rank``, ``numerical_rank`` at ``tolerance``, ``erank``, ``erank_centered``,
        ``participation_ratio``, ``stable_rank``, ``mean_cosine``, ``active_fraction``,
        ``mask_rank``) and ``dead_fraction``, the fraction of units inactive for all m inputs.
        "Active" means output > 0 (for ReLU and leaky ReLU: pre-activation > 0).
    status : tuple of str
        ``"ok"`` or ``"unsupported: <reason>"`` (a non-tensor output, a batch dimension that is
        not m); unsupported rows hold NaN.
    theory : TheoryOverlay
        The predicted band per row, ``"covered"`` or ``"not covered: <reason>"``.
    n_inputs : int
        m, the batch size.
    pair : tuple of int
        Rows of the batch whose angle is ``ln_sin2``.
    tolerance : float
        Relative tolerance τ of the numerical rank.
    dtype, device : str
        The model's parameter dtype and device.
    mode : str
        ``"eval"``, ``"train"`` or ``"keep"``: the mode the forward pass ran in.
    subsample : mapping
        ``max_features``, ``channels``, ``positions``, ``channel_dim`` as given.
    seed : int or None
        Entropy of the root ``SeedSequence`` of the subsampling streams (None when a Generator
        was passed).
    """

    layers: tuple[str, ...]
    module_types: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    n_features: NDArray[np.int64]
    ln_sin2: NDArray[np.float64]
    metrics: Mapping[str, NDArray[np.float64]]
    status: tuple[str, ...]
    theory: TheoryOverlay
    n_inputs: int
    pair: tuple[int, int]
    tolerance: float
    dtype: str
    device: str
    mode: str
    subsample: Mapping[str, int | None] = field(default_factory=dict)
    seed: int | None = None

    def __len__(self) -> int:
        return len(self.layers)

    def records(self) -> list[dict[str, Any]]:
        """One flat dictionary per layer (the rows of the CSV table and of :meth:`to_frame`).

        Non-finite numbers are kept as floats (NaN, -inf); :meth:`to_dict` makes them JSON-safe.
        """
        rows = []
        for i, name in enumerate(self.layers):
            row: dict[str, Any] = {
                "layer": name,
                "index": i,
                "module": self.module_types[i],
                "shape": "x".join(map(str, self.shapes[i])),
                "n_features": int(self.n_features[i]),
                "status": self.status[i],
                "ln_sin2": float(self.ln_sin2[i]),
            }
            row.update({name_: float(self.metrics[name_][i]) for name_ in METRICS})
            row.update(
                theory_status=self.theory.status[i],
                theory_mean=float(self.theory.mean[i]),
                theory_sd=float(self.theory.sd[i]),
                theory_low=float(self.theory.low[i]),
                theory_high=float(self.theory.high[i]),
                theory_inside=self.theory.inside[i],
            )
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: per-layer lists of every metric, the overlay and the settings.

        NaN and ±inf become None (JSON has neither); ``status`` says why a value is missing.
        """

        def clean(values: Sequence[float] | NDArray[np.float64]) -> list[float | None]:
            return [_finite_or_none(v) for v in values]

        return {
            "layers": list(self.layers),
            "module_types": list(self.module_types),
            "shapes": [list(s) for s in self.shapes],
            "n_features": [int(v) for v in self.n_features],
            "status": list(self.status),
            "ln_sin2": clean(self.ln_sin2),
            "metrics": {name: clean(self.metrics[name]) for name in METRICS},
            "theory": {
                "method": self.theory.method,
                "probabilities": [0.025, 0.975],
                "status": list(self.theory.status),
                "mean": clean(self.theory.mean),
                "sd": clean(self.theory.sd),
                "low": clean(self.theory.low),
                "high": clean(self.theory.high),
                "inside": list(self.theory.inside),
                "stacks": [
                    {
                        "widths": list(s.widths),
                        "theta0": s.theta0,
                        "layers": list(s.layers),
                        "steps": list(s.steps),
                    }
                    for s in self.theory.stacks
                ],
            },
            "n_inputs": self.n_inputs,
            "pair": list(self.pair),
            "tolerance": self.tolerance,
            "dtype": self.dtype,
            "device": self.device,
            "mode": self.mode,
            "subsample": dict(self.subsample),
            "seed": self.seed,
        }

    def to_frame(self) -> Any:
        """Return the per-layer table as a ``pandas.DataFrame`` indexed by layer name.

        Raises
        ------
        DepthscopeError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise DepthscopeError("to_frame needs pandas: pip install pandas.") from None
        return pd.DataFrame.from_records(self.records(), index="layer")


# --------------------------------------------------------------------------------------------
# Per-layer summary
# --------------------------------------------------------------------------------------------
@dataclass
class _Row:
    name: str
    module_type: str
    shape: tuple[int, ...] = ()
    n_features: int = 0
    ln_sin2: float = math.nan
    metrics: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, math.nan))
    status: str = "ok"
    r: NDArray[np.float64] | None = None  # R factors, kept until the panel is computed
    mask_r: NDArray[np.float64] | None = None
    pair_gram: tuple[float, float, float] | None = None  # |a|², |Δ|², a·Δ of the tracked pair


@dataclass(frozen=True)
class _Subsample:
    max_features: int | None
    channels: int | None
    positions: int | None
    channel_dim: int

    @property
    def active(self) -> bool:
        """Whether any subsampling is asked for (it then draws from the random streams)."""
        return not (self.max_features is None and self.channels is None and self.positions is None)

    def as_dict(self) -> dict[str, int | None]:
        return {
            "max_features": self.max_features,
            "channels": self.channels,
            "positions": self.positions,
            "channel_dim": self.channel_dim,
        }


def _choose(stream: np.random.Generator, total: int, keep: int | None) -> NDArray[np.int64] | None:
    """Sorted random subset of ``keep`` of ``range(total)``; None if nothing is dropped."""
    if keep is None or keep >= total:
        return None
    return np.sort(stream.choice(total, size=keep, replace=False))


def _features(
    torch: Any, h: torch.Tensor, sub: _Subsample, stream: Callable[[], np.random.Generator]
) -> torch.Tensor:
    """Flatten ``h`` (m, ...) per example to float64 (m, n), subsampling as ``sub`` says.

    For outputs with ≥ 3 dimensions, ``channels`` keeps that many random channels (dimension
    ``channel_dim``) and ``positions`` that many random positions (all other dimensions
    flattened); then ``max_features`` keeps that many random coordinates of the flattened row.
    The same subset is used for all m inputs.
    """
    m = h.shape[0]
    if h.ndim >= 3 and (sub.channels is not None or sub.positions is not None):
        dim = sub.channel_dim % h.ndim
        if dim == 0:
            raise DepthscopeError("channel_dim must not be the batch dimension 0.")
        h = h.movedim(dim, 1).reshape(m, h.shape[dim], -1)  # (m, C, P)
        gen = stream()
        keep_c = _choose(gen, h.shape[1], sub.channels)
        keep_p = _choose(gen, h.shape[2], sub.positions)
        if keep_c is not None:
            h = h.index_select(1, torch.as_tensor(keep_c, device=h.device))
        if keep_p is not None:
            h = h.index_select(2, torch.as_tensor(keep_p, device=h.device))
    flat = h.reshape(m, -1)
    keep = _choose(stream(), flat.shape[1], sub.max_features) if sub.max_features else None
    if keep is not None:
        flat = flat.index_select(1, torch.as_tensor(keep, device=flat.device))
    return flat.to(torch.float64)


#: Layers with at most this many float64 features in all (m · n; 8 MiB) are reduced on the host.
_HOST_ELEMENTS = 2**20


def _summarise(
    torch: Any,
    row: _Row,
    output: Any,
    m: int,
    pair: tuple[int, int],
    tolerance: float,
    sub: _Subsample,
    stream: Callable[[], np.random.Generator],
) -> None:
    """Fill ``row`` from one layer's output (the hook's whole job)."""
    if not isinstance(output, torch.Tensor):
        row.status = f"unsupported: output is a {type(output).__name__}, not a tensor"
        return
    if output.ndim < 2 or output.shape[0] != m:
        row.status = f"unsupported: output shape {tuple(output.shape)} has no batch dimension {m}"
        return
    if output.is_complex():
        row.status = "unsupported: complex output"
        return
    row.shape = tuple(int(s) for s in output.shape[1:])
    feats = _features(torch, output.detach(), sub, stream)
    n = int(feats.shape[1])
    row.n_features = n
    if n == 0:
        row.status = "unsupported: no features"
        return
    # Where to reduce: a small layer goes to the host (one copy; a GPU's QR of a 512 × 32
    # matrix costs more in launches and synchronisations than the copy), a large one is reduced
    # on its device and only the small R factors and two rows travel. torch's QR is used on
    # the CPU too: on a 512 × 32 float64 matrix it is ≈ 5× faster than scipy's dgeqrf with the
    # OpenBLAS of the scipy wheels, and the QR is most of a probe's cost.
    if feats.device.type != "cpu" and feats.numel() <= _HOST_ELEMENTS:
        feats = feats.cpu()
    mask = _active(torch, feats)
    row.r = torch.linalg.qr(feats.T, mode="r").R.cpu().numpy()
    row.mask_r = torch.linalg.qr(mask.T, mode="r").R.cpu().numpy()
    # The rest is done in numpy on two rows and n counts (a few µs per op where torch's
    # dispatch costs ~5-10 µs): the pair as (a, Δ = b − a) and its 2 × 2 Gram entries (no
    # cancellation at tiny angles, see ln_sin2_from_gram; the logarithm is taken for all
    # layers at once), and per unit the number of inputs for which it is active.
    a, b = feats[list(pair)].cpu().numpy()
    delta = b - a
    row.pair_gram = (float(a @ a), float(delta @ delta), float(a @ delta))
    per_unit = mask.sum(dim=0).cpu().numpy()
    row.metrics["active_fraction"] = float(per_unit.sum()) / (m * n)
    row.metrics["dead_fraction"] = float(np.count_nonzero(per_unit == 0)) / n


def _active(torch: Any, feats: torch.Tensor) -> torch.Tensor:
    """Return the 0/1 float64 activation pattern of ``feats`` (numpy on the host: ≈ 3× faster)."""
    if feats.device.type == "cpu":
        return torch.from_numpy(np.greater(feats.numpy(), 0.0).astype(np.float64))
    return (feats > 0).to(torch.float64)


def _torch_svdvals(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Singular values of a stack of small matrices with torch's LAPACK (≈ 30 % faster)."""
    torch = import_torch()
    return np.asarray(torch.linalg.svdvals(torch.from_numpy(np.ascontiguousarray(a))).numpy())


def _fill_panels(rows: Sequence[_Row], tolerance: float) -> None:
    """Compute the panel of every summarised row, one vectorised call per (k, m, n) group.

    The hooks keep only each layer's R factors (min(n, m) × m); the singular values are taken
    here for all layers of the same shape at once (numpy's batched SVD), which is what makes a
    probe cheap enough to run inside a training loop.
    """
    groups: dict[tuple[int, int, int], list[_Row]] = {}
    for row in rows:
        if row.r is not None:
            groups.setdefault((*row.r.shape, row.n_features), []).append(row)
    for (_k, _m, n), members in groups.items():
        panel = panel_from_factors(
            np.stack([row.r for row in members if row.r is not None]),
            n,
            tolerance=tolerance,
            mask_r=np.stack([row.mask_r for row in members if row.mask_r is not None]),
            active_fraction=np.array([row.metrics["active_fraction"] for row in members]),
            svdvals=_torch_svdvals,
        )
        for index, row in enumerate(members):
            row.metrics.update({name: float(panel[name][index]) for name in PANEL_METRICS})
            row.r = row.mask_r = None


def _fill_ln_sin2(rows: Sequence[_Row]) -> None:
    """Set ln sin²θ of every summarised row from its pair's Gram entries (one numpy call)."""
    done = [row for row in rows if row.pair_gram is not None]
    if not done:
        return
    aa, dd, ad = np.array([row.pair_gram for row in done]).T
    ln_sin2, _dead = ln_sin2_from_gram(aa, dd, ad)
    for row, value in zip(done, ln_sin2.tolist(), strict=True):
        row.ln_sin2 = value
        row.pair_gram = None


# --------------------------------------------------------------------------------------------
# Module selection, model state
# --------------------------------------------------------------------------------------------
def _is_activation(torch: Any, module: Any) -> bool:
    return type(module).__module__ == "torch.nn.modules.activation" and not isinstance(
        module, torch.nn.MultiheadAttention
    )


def _select(
    torch: Any, model: Any, layers: str | type | Sequence[str | type] | None
) -> dict[str, Any]:
    """Qualified name → module of the modules to probe, in registration order."""
    named = [(name, mod) for name, mod in model.named_modules() if name]
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


@contextlib.contextmanager
def _restored_state(torch: Any, model: Any, mode: str, devices: list[int]) -> Iterator[None]:
    """Set the mode; afterwards restore every module's mode, the buffers and the RNG state."""
    flags = [(mod, mod.training) for mod in model.modules()]
    if mode == "eval":
        model.eval()
    elif mode == "train":
        model.train()
    training = any(mod.training for mod in model.modules())
    saved = [(buf, buf.detach().clone()) for buf in model.buffers()] if training else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            yield
    finally:
        for mod, flag in flags:
            mod.training = flag
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


_BLAS: list[Any] = []  # the threadpoolctl controller, made on first use


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit numpy/scipy's BLAS to one thread while probing (if threadpoolctl is installed).

    The probe's matrices are small (n × m with m the batch); a multi-threaded OpenBLAS on
    them is slower, and on a loaded machine its spinning threads can cost 10× the work.
    """
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS.append(None)
        else:
            _BLAS.append(ThreadpoolController())
    if _BLAS[0] is None:
        return contextlib.nullcontext()
    return _BLAS[0].limit(limits=1, user_api="blas")


def _as_input(torch: Any, model: Any, x: Any) -> Any:
    """Return the batch as a tensor on the model's device, floating inputs in the model's dtype."""
    reference = next(model.parameters(), None)
    if reference is None:
        reference = next(model.buffers(), None)
    tensor = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if reference is not None:
        tensor = tensor.to(reference.device)
        if tensor.is_floating_point() and reference.is_floating_point():
            tensor = tensor.to(reference.dtype)
    return tensor


def _streams(
    rng: np.random.Generator | int | None,
) -> tuple[Callable[[], np.random.Generator], int | None]:
    """Return a maker of fresh independent streams and the root entropy."""
    if isinstance(rng, np.random.Generator):
        return (lambda: rng.spawn(1)[0]), None
    root = np.random.SeedSequence(rng)
    entropy = root.entropy if isinstance(root.entropy, int) else None
    return (lambda: np.random.default_rng(root.spawn(1)[0])), entropy


# --------------------------------------------------------------------------------------------
# probe
# --------------------------------------------------------------------------------------------
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
    _input_cache: dict[Any, _Row] | None = None,
) -> ProbeResult:
    """Measure a model layer by layer on a batch: ln sin²θ of two inputs and the panel.

    Parameters
    ----------
    model : torch.nn.Module
        Any module called as ``model(x)`` (an eager module: TorchScript modules cannot carry
        hooks; see :func:`depthscope.probing.load_model` for how the CLI opens them).
    x : torch.Tensor or array_like, shape (m, ...)
        A batch of m ≥ 2 inputs. Moved to the model's device; floating inputs are cast to the
        model's dtype.
    layers : str, module type, or sequence of them, optional
        Which modules to probe: fnmatch patterns on qualified names (``"*.relu"``,
        ``"blocks.*"``) and/or module classes (``torch.nn.ReLU``). Default: every activation
        module (the classes of ``torch.nn.modules.activation``).
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
    _input_cache : dict, optional
        Internal (used by :class:`~depthscope.probing.TrainingMonitor`, whose batch is fixed):
        the ``"input"`` row is computed once per dtype and device of the batch, and reused.

    Returns
    -------
    ProbeResult
        One row per probed layer in execution order.

    Raises
    ------
    DepthscopeError
        If torch is missing, the batch has fewer than 2 inputs, ``pair`` or ``layers`` is
        invalid. An exception of the forward pass propagates after the hooks are removed.

    Notes
    -----
    Each output is flattened per example into a representation of length n (a convolutional
    activation ``(C, H, W)`` becomes one vector of length C·H·W), converted to float64, and
    reduced inside the hook: ln sin²θ from the Gram entries of ``(a, b − a)``
    (:func:`depthscope._metrics.ln_sin2_from_gram`), the panel from the R factor of a thin QR
    of the n×m matrix (:func:`depthscope._metrics.panel_from_factors`) -- the same functions
    the simulator uses. On CUDA a layer of more than 2²⁰ values (m·n) is reduced on the device
    and only R (m×m) is copied; a smaller one is copied to the host, which is faster. Only
    these summaries are kept: memory beyond the forward pass itself is one layer's float64
    copy at a time. Modules called functionally (``torch.relu(x)`` in ``forward``) are
    invisible to hooks and are not probed.

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
    torch = import_torch()
    if not isinstance(model, torch.nn.Module):
        raise DepthscopeError(f"model must be a torch.nn.Module, not {type(model).__name__}.")
    if isinstance(model, torch.jit.ScriptModule):
        raise DepthscopeError(
            "TorchScript modules cannot carry forward hooks; open the file with "
            "depthscope.probing.load_model, which rebuilds a TorchScript nn.Sequential eagerly."
        )
    if not 0.0 < tolerance < 1.0:
        raise DepthscopeError(f"tolerance = {tolerance!r} must be in (0, 1).")
    if mode not in ("eval", "train", "keep"):
        raise DepthscopeError(f"mode = {mode!r}; choose 'eval', 'train' or 'keep'.")
    for label, value in (("max_features", max_features), ("channels", channels)):
        if value is not None and value < 1:
            raise DepthscopeError(f"{label} = {value!r} must be a positive integer.")
    if positions is not None and positions < 1:
        raise DepthscopeError(f"positions = {positions!r} must be a positive integer.")
    inputs = _as_input(torch, model, x)
    m = int(inputs.shape[0]) if inputs.ndim else 0
    if m < 2:
        raise DepthscopeError(
            f"x must hold a batch of at least 2 inputs, got shape {tuple(inputs.shape)}."
        )
    i, j = (int(p) for p in pair)
    if not (0 <= i < m and 0 <= j < m and i != j):
        raise DepthscopeError(
            f"pair = {pair!r} must be two different rows of the batch 0..{m - 1}."
        )
    sub = _Subsample(max_features, channels, positions, int(channel_dim))
    stream, seed = _streams(rng)
    selected = _select(torch, model, layers)
    rows: list[_Row] = []
    calls: dict[str, int] = {}

    def summarise(name: str, module_type: str, output: Any) -> int:
        calls[name] = calls.get(name, 0) + 1
        label = name if calls[name] == 1 else f"{name}#{calls[name]}"
        row = _Row(name=label or "(model)", module_type=module_type)
        _summarise(torch, row, output, m, (i, j), tolerance, sub, stream)
        rows.append(row)
        return len(rows) - 1

    def pair_rows(tensor: Any) -> NDArray[np.float64] | None:
        if not isinstance(tensor, torch.Tensor) or tensor.ndim < 1 or tensor.shape[0] != m:
            return None
        picked = tensor.detach()[[i, j]].reshape(2, -1).to(torch.float64)
        return np.asarray(picked.cpu().numpy())

    tracer = StackTracer(pair_rows) if theory else None
    handles = []

    def make_hook(name: str, module: Any) -> Callable[..., None]:
        probed = name in selected
        is_relu = tracer is not None and isinstance(module, torch.nn.ReLU)
        is_linear = tracer is not None and isinstance(module, torch.nn.Linear)
        is_flatten = tracer is not None and isinstance(module, torch.nn.Flatten)
        module_type = type(module).__name__

        def hook(mod: Any, args: tuple[Any, ...], output: Any) -> None:
            with torch.no_grad():
                row = summarise(name, module_type, output) if probed else None
                if tracer is None:
                    return
                if is_relu:
                    tracer.on_relu(args, output, row)
                elif is_linear:
                    tracer.on_linear(mod, args, output)
                elif is_flatten:
                    tracer.on_flatten(args, output)

        return hook

    hooked = dict(selected)
    if tracer is not None:
        for name, mod in model.named_modules():
            if isinstance(mod, (torch.nn.ReLU, torch.nn.Linear, torch.nn.Flatten)):
                hooked.setdefault(name, mod)
    devices = [inputs.device.index or 0] if inputs.device.type == "cuda" else []
    # The input row depends only on the batch: a caller that probes the same batch again
    # (the training monitor) may keep it. Not with subsampling, which draws from the streams.
    cache = None if sub.active else _input_cache
    cache_key = (
        str(inputs.dtype),
        str(inputs.device),
        getattr(x, "_version", None),
        i,
        j,
        tolerance,
    )
    with _one_blas_thread():
        try:
            for name, mod in hooked.items():
                handles.append(mod.register_forward_hook(make_hook(name, mod)))
            with _restored_state(torch, model, mode, devices):
                cached = None if cache is None else cache.get(cache_key)
                if include_input and cached is not None:
                    calls[INPUT] = 1
                    rows.append(replace(cached, metrics=dict(cached.metrics)))
                elif include_input:
                    summarise(INPUT, INPUT, inputs)
                if tracer is not None:
                    tracer.start(inputs)
                model(inputs)
        finally:
            for handle in handles:
                handle.remove()
        _fill_panels(rows, tolerance)
    _fill_ln_sin2(rows)
    if include_input and cache is not None:
        cache[cache_key] = replace(rows[0], metrics=dict(rows[0].metrics))
    names = tuple(row.name for row in rows)
    types = tuple(row.module_type for row in rows)
    measured = np.array([row.ln_sin2 for row in rows])
    if tracer is None:
        overlay = TheoryOverlay.empty(len(rows), "theory overlay not requested")
    else:
        overlay = build_overlay(
            tracer.finish(), names, types, measured, tracer.reasons, 0 if include_input else None
        )
    reference = next(model.parameters(), inputs)
    return ProbeResult(
        layers=names,
        module_types=types,
        shapes=tuple(row.shape for row in rows),
        n_features=np.array([row.n_features for row in rows], dtype=np.int64),
        ln_sin2=measured,
        metrics={name: np.array([row.metrics[name] for row in rows]) for name in METRICS},
        status=tuple(row.status for row in rows),
        theory=overlay,
        n_inputs=m,
        pair=(i, j),
        tolerance=float(tolerance),
        dtype=str(reference.dtype).removeprefix("torch."),
        device=str(reference.device),
        mode=mode,
        subsample=sub.as_dict(),
        seed=seed,
    )
