"""Reduce one layer's output to a row of the probe table, inside its forward hook.

A row keeps a few numbers (the tracked pair's Gram entries, the unit counts) and either the
m × m Gram matrices of the features and of their 0/1 pattern (the fast route, certified and
diagonalised after the forward pass by :mod:`._certify`) or the spectra of a thin QR (the
exact route). No activation outlives the hook.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ..simulation._metrics import mean_cosine_of_columns, pair_gram, rank_from_singular
from ._result import METRICS
from ._scale import power_of_two_scale

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["INPUT", "NONFINITE", "Stream", "layer_tensor"]

#: Name (and module type) of the row of the batch itself.
INPUT = "input"
#: A maker of fresh independent random streams (one per subsampled row).
Stream = Callable[[], np.random.Generator]
#: Layers with at most this many float64 features in all (m · n; 8 MiB) are reduced on the host.
_HOST_ELEMENTS = 2**20
#: A row's status when its output holds NaN or ±inf (its metrics are then NaN).
NONFINITE = "non-finite: the output holds NaN or ±inf"


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
    nonfinite: bool = False  # the output held NaN or ±inf (metrics NaN, status NONFINITE)
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
    stream: Stream,
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


def layer_tensor(torch: Any, output: Any, tokens: bool = False) -> Any:
    """Return the tensor a probe measures in a module's output.

    The output itself if it is a tensor; the first tensor of a tuple or list (what
    ``nn.MultiheadAttention`` returns: ``(attn_output, attn_weights)``). In token mode
    (``tokens``), the leading batch dimension of size 1 is removed: the rows are then the T
    tokens of the one sequence.
    """
    if isinstance(output, (tuple, list)):
        output = next((item for item in output if isinstance(item, torch.Tensor)), output)
    if tokens and isinstance(output, torch.Tensor) and output.ndim >= 3 and output.shape[0] == 1:
        output = output[0]
    return output


def _unsupported(torch: Any, output: Any, m: int, tokens: bool = False) -> str | None:
    """Why a layer's output cannot be summarised (``"unsupported: ..."``), or None."""
    if not isinstance(output, torch.Tensor):
        return f"unsupported: output is a {type(output).__name__}, not a tensor"
    if output.ndim < 2 or output.shape[0] != m:
        unit = "token" if tokens else "batch"
        return f"unsupported: output shape {tuple(output.shape)} has no {unit} dimension {m}"
    if output.is_complex():
        return "unsupported: complex output"
    return None


def _summarise(
    torch: Any,
    row: _Row,
    output: Any,
    m: int,
    pair: tuple[int, int],
    sub: _Subsample,
    stream: Stream,
    tokens: bool = False,
) -> None:
    """Fill ``row`` from one layer's output (the hook's whole job).

    The output is read by :func:`layer_tensor` (a tuple's first tensor; in token mode, the
    tokens as rows).
    """
    output = layer_tensor(torch, output, tokens)
    status = _unsupported(torch, output, m, tokens)
    if status is not None:
        row.status = status
        return
    row.shape = tuple(int(s) for s in output.shape[1:])
    feats, row.picks = _features(torch, output.detach(), sub, stream)
    n = int(feats.shape[1])
    row.n_features = n
    if n == 0:
        row.status = "unsupported: no features"
        return
    # Where to reduce: a small layer goes to the host (one copy; a GPU's factorisation of a
    # 512 × 32 matrix costs more in launches and synchronisations than the copy, and so do
    # the range check's reads), a large one is reduced on its device and only m × m matrices
    # and two rows travel.
    if feats.device.type != "cpu" and feats.numel() <= _HOST_ELEMENTS:
        feats = feats.cpu()
    scaled = _scaled(torch, feats)
    if scaled is None:
        row.status, row.nonfinite = NONFINITE, True
        return
    feats = scaled
    mask = _pair_and_units(torch, row, feats, pair)
    if m <= n:  # the fast route: certified and diagonalised after the forward pass
        row.gram = (feats @ feats.T).cpu().numpy()
        row.mask_gram = (mask @ mask.T).cpu().numpy().astype(np.float64)  # exact integers
    else:
        _exact(torch, row, feats, features=True, mask=True)


def _scaled(torch: Any, feats: torch.Tensor) -> torch.Tensor | None:
    """``feats`` rescaled by :func:`power_of_two_scale` if needed; None if not all finite."""
    low, high = (float(v) for v in torch.aminmax(feats))
    factors = power_of_two_scale(max(abs(low), abs(high)))
    if factors is None:
        return None
    for factor in factors:
        feats = feats * factor
    return feats


def _pair_and_units(
    torch: Any, row: _Row, feats: torch.Tensor, pair: tuple[int, int]
) -> torch.Tensor:
    """Set the pair's Gram entries and the unit fractions of ``row``; return the 0/1 pattern."""
    m, n = feats.shape
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
        a, b = torch.stack((feats[i], feats[j])).cpu().numpy()  # no index list to send
        per_unit = active_t.sum(dim=0)  # integer counts: exact for any size
        n_live = int(torch.count_nonzero(per_unit))
        n_active = int(per_unit.sum())
    aa, dd, ad, _det = pair_gram(a, b - a)
    row.pair_gram = (float(aa), float(dd), float(ad))
    row.metrics["active_fraction"] = n_active / (m * n)
    row.metrics["dead_fraction"] = (n - n_live) / n
    return mask


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


def _redo_exact(
    torch: Any, row: _Row, output: Any, sub: _Subsample, stream: Stream, tokens: bool = False
) -> None:
    """Redo a row whose certificate failed by the exact route, replaying its subsets."""
    output = layer_tensor(torch, output, tokens)
    feats, _ = _features(torch, output.detach(), sub, stream, picks=row.picks)
    scaled = _scaled(torch, feats)  # finite, unless the model is not deterministic
    if scaled is None:
        row.status, row.nonfinite = NONFINITE, True
        row.metrics = dict.fromkeys(METRICS, math.nan)
        row.pair_gram = row.singular = row.singular_centered = None
        return
    _exact(torch, row, scaled, features=row.exact_features, mask=row.exact_mask)


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
