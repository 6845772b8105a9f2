"""Probe a PyTorch model layer by layer: angle of two inputs and effective-dimension panel.

Forward hooks on the chosen modules reduce each layer's output to a few numbers while the
forward pass runs (under ``torch.no_grad``); no activation outlives its hook. The numbers are
those of the simulator (:mod:`depthscope.simulation._metrics`), computed in float64 whatever the
model's
dtype. torch is imported when :func:`probe` is called, never by ``import depthscope``.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import DepthscopeError
from ..simulation._metrics import (
    FULL_RANK_SHIFT,
    GRAM_GATE,
    PANEL_METRICS,
    certify_eigenvalues,
    ln_sin2_from_gram,
    mean_cosine_of_columns,
    pair_gram,
    panel_from_spectra,
    rank_from_singular,
    spectra_from_grams,
)
from ._theory import StackTracer, TheoryOverlay, build_overlay, pair_angle

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


def _floats(values: Sequence[float] | NDArray[np.float64]) -> list[float]:
    """Python floats of a sequence (what ``float`` gives, element by element, but at once)."""
    return list(np.asarray(values, dtype=np.float64).tolist())


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

    def columns(self) -> dict[str, list[Any]]:
        """Return the per-layer table as columns: name → one value per layer (Python scalars).

        The columns of :meth:`records`, in the same order; non-finite numbers are kept as
        floats (NaN, -inf).
        """
        theory = self.theory
        return {
            "layer": list(self.layers),
            "index": list(range(len(self.layers))),
            "module": list(self.module_types),
            "shape": ["x".join(map(str, shape)) for shape in self.shapes],
            "n_features": np.asarray(self.n_features).tolist(),
            "status": list(self.status),
            "ln_sin2": _floats(self.ln_sin2),
            **{name: _floats(self.metrics[name]) for name in METRICS},
            "theory_status": list(theory.status),
            "theory_mean": _floats(theory.mean),
            "theory_sd": _floats(theory.sd),
            "theory_low": _floats(theory.low),
            "theory_high": _floats(theory.high),
            "theory_inside": list(theory.inside),
        }

    def records(self) -> list[dict[str, Any]]:
        """One flat dictionary per layer (the rows of the CSV table and of :meth:`to_frame`).

        Non-finite numbers are kept as floats (NaN, -inf); :meth:`to_dict` makes them JSON-safe.
        """
        columns = self.columns()
        rows = zip(*columns.values(), strict=True)
        return [dict(zip(columns, values, strict=True)) for values in rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: per-layer lists of every metric, the overlay and the settings.

        NaN and ±inf become None (JSON has neither); ``status`` says why a value is missing.
        """

        def clean(values: Sequence[float] | NDArray[np.float64]) -> list[float | None]:
            return [v if math.isfinite(v) else None for v in _floats(values)]

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
    module: str = ""  # qualified name of the module (INPUT for the input row)
    call: int = 1  # which call of that module in the forward pass
    shape: tuple[int, ...] = ()
    n_features: int = 0
    ln_sin2: float = math.nan
    metrics: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, math.nan))
    status: str = "ok"
    picks: list[NDArray[np.int64] | None] = field(default_factory=list)  # subsampled subsets
    pair_gram: tuple[float, float, float] | None = None  # |a|², |Δ|², a·Δ of the tracked pair
    # The fast route keeps the m × m Gram matrices of the features and of their 0/1 pattern
    # until all layers are certified and diagonalised at once; a layer whose certificate fails
    # is marked for the exact route (thin QR) in a second pass.
    gram: NDArray[np.float64] | None = None
    mask_gram: NDArray[np.float64] | None = None
    exact_features: bool = False
    exact_mask: bool = False
    # Singular values of the representations and of their centered version, zero-padded to
    # length m, until the panels of all rows are computed in one call.
    singular: NDArray[np.float64] | None = None
    singular_centered: NDArray[np.float64] | None = None


def _copy_row(row: _Row) -> _Row:
    """Copy a finished row, with a metrics dictionary of its own."""
    twin = copy.copy(row)
    twin.metrics = dict(row.metrics)
    return twin


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
    torch: Any,
    h: torch.Tensor,
    sub: _Subsample,
    stream: Callable[[], np.random.Generator],
    picks: Sequence[NDArray[np.int64] | None] | None = None,
) -> tuple[torch.Tensor, list[NDArray[np.int64] | None]]:
    """Flatten ``h`` (m, ...) per example to float64 (m, n), subsampling as ``sub`` says.

    For outputs with ≥ 3 dimensions, ``channels`` keeps that many random channels (dimension
    ``channel_dim``) and ``positions`` that many random positions (all other dimensions
    flattened); then ``max_features`` keeps that many random coordinates of the flattened row.
    The same subset is used for all m inputs. Returns the features and the subsets drawn;
    passing those back as ``picks`` replays them instead of drawing.
    """
    m = h.shape[0]
    drawn: list[NDArray[np.int64] | None] = []
    replay = None if picks is None else iter(picks)

    def subsets(*sizes: tuple[int, int | None]) -> list[NDArray[np.int64] | None]:
        if replay is not None:
            chosen = [next(replay) for _ in sizes]
        else:
            gen = stream()
            chosen = [_choose(gen, total, keep) for total, keep in sizes]
        drawn.extend(chosen)
        return chosen

    if h.ndim >= 3 and (sub.channels is not None or sub.positions is not None):
        dim = sub.channel_dim % h.ndim
        if dim == 0:
            raise DepthscopeError("channel_dim must not be the batch dimension 0.")
        h = h.movedim(dim, 1).reshape(m, h.shape[dim], -1)  # (m, C, P)
        keep_c, keep_p = subsets((h.shape[1], sub.channels), (h.shape[2], sub.positions))
        if keep_c is not None:
            h = h.index_select(1, torch.as_tensor(keep_c, device=h.device))
        if keep_p is not None:
            h = h.index_select(2, torch.as_tensor(keep_p, device=h.device))
    flat = h.reshape(m, -1)
    if sub.max_features:
        (keep,) = subsets((flat.shape[1], sub.max_features))
        if keep is not None:
            flat = flat.index_select(1, torch.as_tensor(keep, device=flat.device))
    return flat.to(torch.float64), drawn


#: Layers with at most this many float64 features in all (m · n; 8 MiB) are reduced on the host.
_HOST_ELEMENTS = 2**20


def _summarise(
    torch: Any,
    row: _Row,
    output: Any,
    m: int,
    pair: tuple[int, int],
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
    feats, row.picks = _features(torch, output.detach(), sub, stream)
    n = int(feats.shape[1])
    row.n_features = n
    if n == 0:
        row.status = "unsupported: no features"
        return
    # Where to reduce: a small layer goes to the host (one copy; a GPU's factorisation of a
    # 512 × 32 matrix costs more in launches and synchronisations than the copy), a large one
    # is reduced on its device and only m × m matrices and two rows travel.
    if feats.device.type != "cpu" and feats.numel() <= _HOST_ELEMENTS:
        feats = feats.cpu()
    i, j = pair
    if _host_reduction(feats):  # numpy for the small steps: a few µs where torch takes ~10
        values = feats.numpy()
        active = values > 0.0
        mask = torch.from_numpy(active.astype(_mask_dtype(np, n)))
        a, b = values[i], values[j]
        n_live = int(np.count_nonzero(active.any(axis=0)))
        n_active = int(np.count_nonzero(active))
    else:
        active_t = feats > 0
        mask = active_t.to(_mask_dtype(torch, n))
        a, b = feats[[i, j]].cpu().numpy()
        per_unit = active_t.sum(dim=0)  # integer counts: exact for any size
        n_live = int(torch.count_nonzero(per_unit))
        n_active = int(per_unit.sum())
    aa, dd, ad, _det = pair_gram(a, b - a)
    row.pair_gram = (float(aa), float(dd), float(ad))
    row.metrics["active_fraction"] = n_active / (m * n)
    row.metrics["dead_fraction"] = (n - n_live) / n
    if m <= n:  # the fast route: certified and diagonalised after the forward pass
        row.gram = (feats @ feats.T).cpu().numpy()
        row.mask_gram = (mask @ mask.T).cpu().numpy().astype(np.float64)  # exact integers
    else:
        _exact(torch, row, feats, features=True, mask=True)


def _exact(torch: Any, row: _Row, feats: torch.Tensor, *, features: bool, mask: bool) -> None:
    """Take spectra by the exact route: thin QR of the features and/or of their 0/1 pattern."""
    m, n = feats.shape
    if features:
        r = torch.linalg.qr(feats.T, mode="r").R  # (min(n, m), m)
        centered = r.T - r.T.mean(dim=0, keepdim=True)  # singular values of the centered rows
        row.singular = _padded(torch.linalg.svdvals(r).cpu().numpy(), m)
        row.singular_centered = _padded(torch.linalg.svdvals(centered).cpu().numpy(), m)
        row.metrics["mean_cosine"] = float(mean_cosine_of_columns(r.cpu().numpy()))
    if mask:
        mask_r = torch.linalg.qr((feats.T > 0).to(torch.float64), mode="r").R
        mask_singular = torch.linalg.svdvals(mask_r).cpu().numpy()
        row.metrics["mask_rank"] = float(rank_from_singular(mask_singular, max(m, n)))


def _certify(rows: Sequence[_Row], m: int) -> list[_Row]:
    """Certify the fast-route rows' Gram matrices, diagonalise the good ones; return the rest.

    One Cholesky call proves, for every such row, λ_min ≥ GRAM_GATE · trace of the features'
    Gram matrix (then its eigenvalues give every singular value accurately) and full rank of
    the 0/1 pattern's exact integer Gram matrix (then mask_rank = m). One eigenvalue call
    then gives the spectra of all certified rows. The returned rows need the exact route.
    """
    fast = [row for row in rows if row.gram is not None]
    if not fast:
        return []
    k = len(fast)
    certified = certify_eigenvalues(
        np.stack(
            [row.gram for row in fast if row.gram is not None]
            + [row.mask_gram for row in fast if row.mask_gram is not None]
        ),
        [GRAM_GATE] * k + [FULL_RANK_SHIFT] * k,
        cholesky_info=_torch_cholesky_info,
    )
    for index, row in enumerate(fast):
        row.exact_features = not certified[index]
        row.exact_mask = not certified[k + index]
        if not row.exact_mask:
            row.metrics["mask_rank"] = float(m)
        row.mask_gram = None
    good = [row for row in fast if not row.exact_features]
    if good:
        spectra = spectra_from_grams(
            np.stack([row.gram for row in good if row.gram is not None]),
            eigvalsh=_torch_eigvalsh,
        )
        for index, row in enumerate(good):
            row.singular = spectra.singular[index]
            row.singular_centered = spectra.singular_centered[index]
            row.metrics["mean_cosine"] = float(spectra.mean_cosine[index])
    for row in fast:
        row.gram = None
    return [row for row in fast if row.exact_features or row.exact_mask]


def _host_reduction(feats: torch.Tensor) -> bool:
    """Whether a layer's small reductions run in numpy (CPU tensors) or in torch (devices)."""
    return bool(feats.device.type == "cpu")


def _mask_dtype(xp: Any, n: int) -> Any:
    """float32 while its sums of 0/1 products are exact integers (n < 2²⁴), else float64."""
    return xp.float32 if n < 2**24 else xp.float64


def _padded(values: NDArray[np.float64], length: int) -> NDArray[np.float64]:
    """``values`` followed by zeros up to ``length`` (zeros change no metric of the panel)."""
    out = np.zeros(length)
    out[: len(values)] = values
    return out


def _torch_cholesky_info(a: NDArray[np.float64]) -> NDArray[np.int_]:
    """Per matrix of a stack, 0 where torch's Cholesky factorisation runs to completion."""
    torch = import_torch()
    return np.asarray(torch.linalg.cholesky_ex(torch.from_numpy(a)).info.numpy())


def _torch_eigvalsh(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Eigenvalues (ascending) of a stack of small symmetric matrices with torch's LAPACK."""
    torch = import_torch()
    return np.asarray(torch.linalg.eigvalsh(torch.from_numpy(a)).numpy())


def _fill_panels(rows: Sequence[_Row], m: int, tolerance: float) -> None:
    """Compute the panel of every summarised row from its spectra, in one vectorised call."""
    done = [row for row in rows if row.singular is not None]
    if not done:
        return
    panel = panel_from_spectra(
        np.stack([row.singular for row in done if row.singular is not None]),
        np.stack([row.singular_centered for row in done if row.singular_centered is not None]),
        n_inputs=m,
        n_features=np.array([row.n_features for row in done]),
        mean_cosine=np.array([row.metrics["mean_cosine"] for row in done]),
        tolerance=tolerance,
        mask_rank=np.array([row.metrics["mask_rank"] for row in done]),
        active_fraction=np.array([row.metrics["active_fraction"] for row in done]),
    )
    for index, row in enumerate(done):
        row.metrics.update({name: float(panel[name][index]) for name in PANEL_METRICS})
        row.singular = row.singular_centered = None


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
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()


def _exact_pass(
    torch: Any,
    model: Any,
    inputs: Any,
    redo: Sequence[_Row],
    sub: _Subsample,
    stream: Callable[[], np.random.Generator],
    mode: str,
    devices: list[int],
) -> None:
    """Recompute ``redo``'s rows by the exact route, in a second forward pass if needed.

    The pass starts from the same model state and torch random state as the first (both are
    restored after each), and replays each row's subsampled subsets, so it sees the same
    features.
    """
    wanted = {(row.module, row.call): row for row in redo}

    def redo_row(row: _Row, output: Any) -> None:
        feats, _ = _features(torch, output.detach(), sub, stream, picks=row.picks)
        _exact(torch, row, feats, features=row.exact_features, mask=row.exact_mask)

    if (INPUT, 1) in wanted:
        redo_row(wanted.pop((INPUT, 1)), inputs)
    if not wanted:
        return
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}

    def make_hook(name: str) -> Callable[..., None]:
        def hook(mod: Any, args: tuple[Any, ...], output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            row = wanted.get((name, calls[name]))
            if row is not None:
                redo_row(row, output)

        return hook

    hooks = {name: (modules[name], make_hook(name)) for name, _ in wanted}
    _forward(torch, model, inputs, hooks, list(modules.values()), mode, devices)


def _as_input(torch: Any, reference: Any, x: Any) -> Any:
    """Return the batch as a tensor on ``reference``'s device, floating inputs in its dtype.

    ``reference`` is the model's first parameter (else its first buffer, else None).
    """
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
    if isinstance(rng, (int, np.integer)) and rng >= 0:  # the root is made when first needed
        roots: list[np.random.SeedSequence] = []

        def stream() -> np.random.Generator:
            if not roots:
                roots.append(np.random.SeedSequence(int(rng)))
            return np.random.default_rng(roots[0].spawn(1)[0])

        return stream, int(rng)
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
    _input_cache: dict[Any, dict[str, Any]] | None = None,
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
        the ``"input"`` row and the input pair's angle are computed once per dtype, device and
        version (in-place changes) of the batch, and reused.

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
    reduced inside the hook to ln sin²θ's Gram entries of ``(a, b − a)``
    (:func:`depthscope.simulation._metrics.ln_sin2_from_gram`), the unit counts, and the m×m Gram
    matrices of the representations and of their 0/1 activation pattern. After the forward
    pass, one Cholesky call certifies for every layer that the first is well conditioned
    (λ_min > 10⁻⁶ trace, :func:`depthscope.simulation._metrics.certify_eigenvalues`; then its
    eigenvalues
    give every singular value to ~10⁻¹⁰ relative) and that the second, exact in integers, has
    full rank; one eigenvalue call gives the spectra of all certified layers
    (:func:`depthscope.simulation._metrics.spectra_from_grams`). A layer with m > n takes the exact
    route, the thin QR of the n×m matrix (as in the simulator,
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
    parameter = next(model.parameters(), None)
    inputs = _as_input(
        torch, parameter if parameter is not None else next(model.buffers(), None), x
    )
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
    every_module = list(model.named_modules())
    selected = _select(torch, model, every_module, layers)
    rows: list[_Row] = []
    calls: dict[str, int] = {}

    def summarise(name: str, module_type: str, output: Any) -> int:
        calls[name] = calls.get(name, 0) + 1
        label = name if calls[name] == 1 else f"{name}#{calls[name]}"
        row = _Row(label or "(model)", module_type, module=name, call=calls[name])
        _summarise(torch, row, output, m, (i, j), sub, stream)
        rows.append(row)
        return len(rows) - 1

    # The input row and the input pair's angle depend only on the batch: a caller that probes
    # the same batch again (the training monitor) may keep them. Not with subsampling, which
    # draws from the streams.
    cache = None if sub.active else _input_cache
    cache_key = (
        str(inputs.dtype),
        str(inputs.device),
        getattr(x, "_version", None),
        i,
        j,
        tolerance,
    )
    entry: dict[str, Any] = {} if cache is None else cache.setdefault(cache_key, {})

    def angle_of(tensor: Any) -> float:
        if not isinstance(tensor, torch.Tensor) or tensor.ndim < 1 or tensor.shape[0] != m:
            return math.nan
        if tensor is inputs and "angle" in entry:
            return float(entry["angle"])
        picked = tensor.detach()[[i, j]].reshape(2, -1).to(torch.float64)
        angle = pair_angle(np.asarray(picked.cpu().numpy()))
        if tensor is inputs:
            entry["angle"] = angle
        return angle

    tracer = StackTracer(angle_of) if theory else None

    def make_hook(name: str, module: Any) -> Callable[..., None]:
        probed = name in selected
        is_relu = tracer is not None and isinstance(module, torch.nn.ReLU)
        is_linear = tracer is not None and isinstance(module, torch.nn.Linear)
        is_flatten = tracer is not None and isinstance(module, torch.nn.Flatten)
        module_type = type(module).__name__

        def hook(mod: Any, args: tuple[Any, ...], output: Any) -> None:
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
        for name, mod in every_module:
            if isinstance(mod, (torch.nn.ReLU, torch.nn.Linear, torch.nn.Flatten)):
                hooked.setdefault(name, mod)
    devices = [inputs.device.index or 0] if inputs.device.type == "cuda" else []
    cached = entry.get("row")
    if include_input and cached is not None:
        calls[INPUT] = 1
        rows.append(_copy_row(cached))
    elif include_input:
        summarise(INPUT, INPUT, inputs)
    if tracer is not None:
        tracer.start(inputs)
    hooks = {name: (mod, make_hook(name, mod)) for name, mod in hooked.items()}
    modules = [mod for _, mod in every_module]
    _forward(torch, model, inputs, hooks, modules, mode, devices)
    redo = _certify(rows, m)
    if redo:  # rare: a layer too ill-conditioned for its Gram matrix; QR it in a second pass
        _exact_pass(torch, model, inputs, redo, sub, stream, mode, devices)
    _fill_panels(rows, m, tolerance)
    _fill_ln_sin2(rows)
    if include_input and cache is not None:
        entry["row"] = _copy_row(rows[0])
    names = tuple(row.name for row in rows)
    types = tuple(row.module_type for row in rows)
    measured = np.array([row.ln_sin2 for row in rows])
    if tracer is None:
        overlay = TheoryOverlay.empty(len(rows), "theory overlay not requested")
    else:
        overlay = build_overlay(
            tracer.finish(), names, types, measured, tracer.reasons, 0 if include_input else None
        )
    reference = parameter if parameter is not None else inputs
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
