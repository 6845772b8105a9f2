"""The torch backend of :func:`depthscope.simulate` (CPU or CUDA), for the Gram-chain sampler.

It runs the same algorithms as :mod:`depthscope.simulation._samplers` in float64 on a torch
device: the two-input Gram chain, whose maths it shares with numpy (:mod:`.._pair`, through
:class:`_TorchOps`), and the m-input chain with QR factors. They are equal *in distribution*
(not bit for bit) to the numpy backend's. torch is imported lazily: ``import depthscope`` never
needs it.

Random numbers. Each network's normals are a fixed function of their position in the
network's own stream: normal j is drawn by Box-Muller from outputs 2⌊j/2⌋ and 2⌊j/2⌋ + 1 of
the SplitMix64 sequence (Steele, Lea & Flood 2014) whose seed is a hash of the run's root seed
and the network's index (:func:`.._plan.network_seeds`). Being counter-based, the draws of a whole
chunk of networks for a layer are one vectorised computation (a torch generator per network
costs a kernel launch per network and layer, which made the GPU slower than numpy); results do
not depend on the chunk size, and the first k networks of a run equal a k-network run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._errors import DepthscopeError
from ..._optional import import_torch as _import_torch
from .._batch_general import bartlett_dof, block_stack, orthogonal_rows
from .._general import block_pair_stats, chi2_shapes, first_pair_stats, pair_activation
from .._metrics import PANEL_METRICS, ln_sin2_rows, panel_from_factors
from .._pair import PairStats, gram_pair_chain, input_pair_stats
from .._plan import SPLITMIX64_GAMMA, SPLITMIX64_MIX1, SPLITMIX64_MIX2, Plan, network_seeds
from . import ChunkResult, RunChunk

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "counter_normals",
    "counter_uniforms",
    "import_torch",
    "pair_rows",
    "splitmix64",
    "torch_activation",
    "torch_backend",
]


def import_torch() -> Any:
    """Import torch, or raise a DepthscopeError naming the extra to install."""
    return _import_torch("the torch backend")


def _device(torch: Any, device: Any) -> Any:
    given = device
    if isinstance(device, str):
        text = device.strip().lower()
        if text in ("torch", "torch:cpu"):
            text = "cpu"
        elif text.startswith("torch:"):
            text = text.removeprefix("torch:")
        try:
            device = torch.device(text)
        except RuntimeError:  # torch lists twenty device types, most not ours
            raise DepthscopeError(
                f"unknown device {device!r:.60}; use 'cpu', 'cuda', 'cuda:i' or a torch.device."
            ) from None
    if not isinstance(device, torch.device) or device.type not in ("cpu", "cuda"):
        raise DepthscopeError(
            f"device must be 'cpu', 'cuda[:i]' or a torch.device of those, not {given!r:.60} "
            "(the torch backend computes in float64 on the CPU or a CUDA GPU)."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DepthscopeError(f"device {str(device)!r} requested but CUDA is not available.")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise DepthscopeError(
                f"device {str(device)!r} requested but this machine has {count} CUDA "
                f"device(s), cuda:0 to cuda:{count - 1}."
            )
    return device


def torch_backend(plan: Plan, device: Any) -> tuple[RunChunk, str]:
    """Return ``(run_chunk, device_name)`` for :func:`depthscope.simulate` on a torch device."""
    torch = import_torch()
    dev = _device(torch, device)
    if plan.sampler != "gram":
        raise DepthscopeError(
            "the torch backend runs the Gram sampler only; use device='cpu' for sampler='dense'."
        )

    def run(plan: Plan, root: np.random.SeedSequence, start: int, stop: int) -> ChunkResult:
        seeds = torch.as_tensor(network_seeds(root, start, stop), device=dev)
        if plan.pair:
            return _pair(torch, plan, seeds, dev)
        return _batch(torch, plan, seeds, dev)

    return run, f"torch:{dev}"


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(torch: Any, seeds: torch.Tensor, first: int, count: int) -> torch.Tensor:
    """Return outputs ``first`` … ``first + count − 1`` of each seed's SplitMix64 sequence.

    ``seeds`` has shape (k,) and dtype int64; the result (k, count) holds the 64-bit outputs
    as int64 bit patterns. int64 products wrap modulo 2⁶⁴ in torch, which is the arithmetic
    SplitMix64 is defined in.
    """
    steps = torch.arange(first + 1, first + count + 1, device=seeds.device, dtype=torch.int64)
    z = seeds[:, None] + steps[None, :] * SPLITMIX64_GAMMA
    z = (z ^ _shift_right(z, 30)) * SPLITMIX64_MIX1
    z = (z ^ _shift_right(z, 27)) * SPLITMIX64_MIX2
    return z ^ _shift_right(z, 31)


def counter_uniforms(torch: Any, seeds: torch.Tensor, offset: int, count: int) -> torch.Tensor:
    """Uniforms (b + ½)/2⁵³ ∈ (0, 1) of SplitMix64 outputs ``offset … offset + count − 1``."""
    bits = splitmix64(torch, seeds, offset, count)
    return (_shift_right(bits, 11).to(torch.float64) + 0.5) * 2.0**-53


def counter_normals(torch: Any, seeds: torch.Tensor, offset: int, count: int) -> torch.Tensor:
    """Return normals ``offset`` … ``offset + count − 1`` of each network's stream, (k, count).

    Normal j is Box-Muller of the uniforms (u₁, u₂) made from SplitMix64 outputs 2⌊j/2⌋ and
    2⌊j/2⌋ + 1 (53 bits each, uᵢ = (b + ½)/2⁵³ ∈ (0, 1)): the cosine branch for even j, the
    sine branch for odd j. ``offset`` must be even, so that blocks start on a pair.
    """
    if offset % 2:
        raise ValueError("offset must be even")
    pairs = (count + 1) // 2
    uniform = counter_uniforms(torch, seeds, offset, 2 * pairs)
    radius = torch.sqrt(-2.0 * torch.log(uniform[:, 0::2]))
    angle = (2.0 * math.pi) * uniform[:, 1::2]
    both = torch.stack((radius * torch.cos(angle), radius * torch.sin(angle)), dim=-1)
    return both.reshape(len(seeds), 2 * pairs)[:, :count]


class _TorchOps:
    """:class:`.._pair.ArrayOps` for torch tensors."""

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self.where = torch.where
        self.sqrt = torch.sqrt
        self.abs = torch.abs

    def _bounded(self, pairwise: Any, bound: str, x: Any, y: Any, out: Any) -> torch.Tensor:
        """``pairwise(x, y)``, or torch.clamp with ``bound`` = y where y is a float."""
        if isinstance(y, float):
            return self._torch.clamp(x, out=out, **{bound: y})
        return pairwise(x, y, out=out)

    def maximum(self, x: Any, y: Any, out: Any = None) -> torch.Tensor:
        return self._bounded(self._torch.maximum, "min", x, y, out)

    def minimum(self, x: Any, y: Any, out: Any = None) -> torch.Tensor:
        return self._bounded(self._torch.minimum, "max", x, y, out)

    @staticmethod
    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(dim=-1)

    @staticmethod
    def one_unit(a: torch.Tensor, delta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return rows & (((a != 0) | (delta != 0)).sum(dim=-1) <= 1)


def torch_activation(torch: Any, name: str) -> tuple[Any, Any]:
    """(φ, φ') in torch for the smooth activations of :mod:`depthscope.theory._activations`.

    The same functions as theory's numpy ones, spelled with torch operations so that they run
    on the device (a test checks them against theory's to rounding).
    """
    root_pi, root_2pi = math.sqrt(math.pi), math.sqrt(2.0 * math.pi)

    def ndtr(u: Any) -> Any:  # Φ(u) = erfc(−u/√2)/2: 4× faster than torch.special.ndtr on CPU
        return 0.5 * torch.special.erfc(u * -math.sqrt(0.5))

    def gelu(u: Any) -> Any:
        return u * ndtr(u)

    def gelu_prime(u: Any) -> Any:
        return ndtr(u) + u * torch.exp(-0.5 * u * u) / root_2pi

    def silu_prime(u: Any) -> Any:
        sig = torch.sigmoid(u)
        return sig * (1.0 + u * (1.0 - sig))

    table = {
        "tanh": (torch.tanh, lambda u: 1.0 / torch.cosh(torch.clamp(u, -350, 350)) ** 2),
        "erf": (torch.special.erf, lambda u: 2.0 / root_pi * torch.exp(-u * u)),
        "gelu": (gelu, gelu_prime),
        "silu": (torch.nn.functional.silu, silu_prime),
    }
    if name not in table:  # pragma: no cover - check_network admits only these
        raise DepthscopeError(f"the torch backend has no activation {name!r}.")
    return table[name]


def pair_rows(torch: Any, plan: Plan, seeds: torch.Tensor, rescale: bool = True) -> list[PairStats]:
    """Run the two-input Gram chain of ``plan`` on a chunk of networks; host stats of 0..L.

    Layer ℓ's ξ, η are normals 2s … 2s + 2n − 1 of each network's stream (s: the units before
    it). Residual blocks use normals 2S + 6ℓ … 2S + 6ℓ + 4 (S = Σ n) and χ² by the inverse
    gamma CDF of uniforms 2S + 6L + 2ℓ, + 1 (exact; on the host, for all blocks at once).
    """
    assert plan.theta0 is not None
    device = seeds.device
    ops = _TorchOps(torch)
    network = plan.network
    widths = plan.widths
    total = int(sum(widths))

    def layer_normals(start: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        block = counter_normals(torch, seeds, 2 * start, 2 * n)  # layer ℓ: its own block
        return block[:, :n], block[:, n:]

    first = tuple(
        torch.as_tensor(s, device=device) for s in input_pair_stats(plan.theta0, len(seeds))
    )
    if network.is_default:
        rows: list[PairStats] = gram_pair_chain(
            ops, first, widths, layer_normals, slope=plan.slope, bias_std=plan.bias_std,
            rescale=rescale,
        )  # fmt: skip
    else:
        activate = None
        if network.phi is not None:
            activate = pair_activation(
                ops, network.phi.name, *torch_activation(torch, network.phi.name)
            )
        alpha = network.residual
        if alpha is not None:
            depth = len(widths)
            extra = counter_normals(torch, seeds, 2 * total, 6 * depth)
            uniforms = counter_uniforms(torch, seeds, 2 * total + 6 * depth, 2 * depth)
            dof = np.array([chi2_shapes(n) for n in widths]).ravel()
            chi2 = torch.as_tensor(_chi_square(dof, uniforms), device=device)

        def residual_block(index: int, stats: PairStats, branch: PairStats) -> PairStats:
            assert alpha is not None
            z = extra[:, 6 * index : 6 * index + 5]
            return block_pair_stats(
                ops, stats, branch, widths[index], network.gain2, alpha,
                (z[:, 0], z[:, 1], z[:, 2], z[:, 3]),
                (chi2[:, 2 * index], chi2[:, 2 * index + 1], z[:, 4]),
            )  # fmt: skip

        rows = gram_pair_chain(
            ops,
            first_pair_stats(first, network.q0),
            widths,
            layer_normals,
            slope=0.0 if network.slope is None else network.slope,
            bias_std=plan.bias_std,
            gain2=network.gain2,
            activate=activate,
            block=residual_block if alpha is not None else None,
            rescale=rescale,
        )
    return [tuple(t.cpu().numpy() for t in row) for row in rows]


def _pair(torch: Any, plan: Plan, seeds: torch.Tensor, device: Any) -> ChunkResult:
    """Run the two-input Gram chain of :func:`.._pair.gram_pair_chain` on counter-based normals."""
    assert plan.theta0 is not None
    ln_sin2, dead = ln_sin2_rows(pair_rows(torch, plan, seeds), plan.theta0)
    return {"ln_sin2": ln_sin2}, dead


def _r_factor(torch: Any, columns: torch.Tensor) -> torch.Tensor:
    return torch.linalg.qr(columns, mode="r")[1]


def _batch(torch: Any, plan: Plan, seed_tensor: torch.Tensor, device: Any) -> ChunkResult:
    """Run the m-input Gram chain of ``plan`` (:mod:`.._batch_general` beyond He ReLU).

    Each draw takes the next block of the networks' counter streams, at an even position: the
    inputs (m × n₀, times √q₀), then per layer the pre-activations' (rows R + [σ_b > 0]) × n
    normals and, for a residual block, G₁ with Bartlett's normals (or G₂) in one block and
    the r_p uniforms of its χ² (inverse gamma CDF on the host, as :func:`pair_rows`).
    """
    assert plan.input_dim is not None
    k, m, n0 = len(seed_tensor), plan.n_inputs, plan.input_dim
    network = plan.network
    offset = 0  # each draw takes the next block of the networks' streams, at an even position

    def draw(rows: int, cols: int) -> torch.Tensor:
        nonlocal offset
        block = counter_normals(torch, seed_tensor, offset, rows * cols)
        offset += rows * cols + (rows * cols) % 2
        return block.reshape(k, rows, cols)

    def uniforms(count: int) -> torch.Tensor:
        nonlocal offset
        block = counter_uniforms(torch, seed_tensor, offset, count)
        offset += count + count % 2
        return block

    if plan.inputs is None:
        x = draw(m, n0)
        if network.q0 != 1.0:
            x = x * math.sqrt(network.q0)
    else:
        x = torch.as_tensor(plan.inputs, device=device).expand(k, m, n0)
    r = _r_factor(torch, x.transpose(1, 2))
    dead = [(x == 0).all(dim=-1).any(dim=-1).cpu().numpy()]
    smooth = None if network.phi is None else torch_activation(torch, network.phi.name)[0]
    alpha = network.residual
    with _host_panels(_host_workers(device), plan.tolerance) as panel:
        panels = [panel(r.cpu().numpy(), n0)]  # each a thunk: the host may still compute it
        n_prev = n0
        for n in plan.widths:
            rows = r.shape[1]
            extra = 1 if plan.bias_std else 0
            noise = draw(rows + extra, n)
            z = torch.matmul(r.transpose(1, 2), noise[:, :rows]) * math.sqrt(network.gain2 / n_prev)
            if extra:
                z = z + plan.bias_std * noise[:, rows:]
            active = z > 0
            phi = torch.where(active, z, plan.slope * z) if smooth is None else smooth(z)
            r_post = _r_factor(torch, phi.transpose(1, 2))
            if alpha is None:
                r = r_post
                is_dead = (phi == 0).all(dim=-1).any(dim=-1)
            else:
                scale = alpha * math.sqrt(network.gain2 / n)
                r = _block(torch, r, r_post, n, scale, draw, uniforms)
                is_dead = (r == 0).all(dim=-2).any(dim=-1)
            mask_r = _r_factor(torch, active.transpose(1, 2).to(torch.float64))
            # count / (m n) divided on the host, rounded as numpy's mean: CUDA's mean (and its
            # division by a number, a product with its reciprocal) put some fractions a last bit
            # off k/(m n), which split the ties of this discrete metric in a KS test
            fraction = active.sum(dim=(1, 2)).cpu().numpy() / (m * n)
            panels.append(
                panel(r.cpu().numpy(), n, mask_r=mask_r.cpu().numpy(), active_fraction=fraction)
            )
            dead.append(is_dead.cpu().numpy())
            n_prev = n
        done = [get() for get in panels]
    return {name: np.stack([p[name] for p in done]) for name in PANEL_METRICS}, np.stack(dead)


def _block(
    torch: Any,
    r: torch.Tensor,
    r_p: torch.Tensor,
    width: int,
    scale: float,
    draw: Callable[[int, int], torch.Tensor],
    uniforms: Callable[[int], torch.Tensor],
) -> torch.Tensor:
    """Return the stream's new R factor after a residual block (:mod:`.._batch_general`)."""
    rows_h, rows_p = r.shape[1], r_p.shape[1]
    rows_o, bartlett = orthogonal_rows(width, rows_h, rows_p)
    normals = draw(rows_h + rows_o, rows_p)
    g1, orth = normals[:, :rows_h], normals[:, rows_h:]
    if bartlett:  # Aᵀ: upper triangular, √χ² on the diagonal, normals above it
        chi2 = _chi_square(bartlett_dof(width, rows_h, rows_p), uniforms(rows_p))
        root = torch.as_tensor(np.sqrt(chi2), device=r.device)
        orth = torch.triu(orth.transpose(1, 2), 1) + torch.diag_embed(root)
    stacked = block_stack(r, r_p, g1, orth, scale, lambda parts: torch.cat(parts, dim=1))
    return _r_factor(torch, stacked)


def _chi_square(dof: np.ndarray, uniforms: torch.Tensor) -> np.ndarray:
    """χ²_dof by the inverse gamma CDF of counter uniforms, on the host; 0 where dof = 0."""
    from scipy.special import gammaincinv

    with np.errstate(all="ignore"):
        chi2 = 2.0 * gammaincinv(dof / 2.0, uniforms.cpu().numpy())
    return np.where(dof > 0, chi2, 0.0)


def _host_workers(device: Any) -> int:
    """Host threads for the panel's singular values on a CUDA run, 1 on the CPU.

    The panel takes three SVDs of m × m matrices per network and layer; on a GPU torch's batched
    ``svdvals`` is slower than numpy's LAPACK on the host (H100: 333 ms for 200 matrices of
    64 × 64 against ≈ 80 ms on one core), and numpy's on one core took two thirds of the panel
    run (11.9 of 18.0 s, bench_gpu.py's panel). LAPACK releases the GIL, so threads over the
    networks scale; on the CPU torch's own threads use the cores.
    """
    if device.type != "cuda":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


@contextmanager
def _host_panels(workers: int, tolerance: float) -> Iterator[Callable[..., Callable[[], Any]]]:
    """Yield ``panel(r, n, **kw)``, which returns a thunk of ``panel_from_factors``'s result.

    With one worker the panel is computed at once. With more, the networks are split into
    ``workers`` contiguous groups computed on host threads while the device goes on with the
    next layer; the groups' panels are joined in order, bit for bit the one-call result (each
    network's panel depends on its own matrices only).
    """
    if workers == 1:

        def now(r: Any, n: int, **kw: Any) -> Callable[[], Any]:
            result = panel_from_factors(r, n, tolerance=tolerance, **kw)
            return lambda: result

        yield now
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="depthscope-panel") as pool:

        def later(r: Any, n: int, **kw: Any) -> Callable[[], Any]:
            groups = np.array_split(np.arange(len(r)), min(workers, len(r)))
            futures = [
                pool.submit(
                    panel_from_factors,
                    r[g[0] : g[-1] + 1],
                    n,
                    tolerance=tolerance,
                    **{k: v[g[0] : g[-1] + 1] for k, v in kw.items()},
                )
                for g in groups
            ]
            return lambda: {
                name: np.concatenate([f.result()[name] for f in futures]) for name in PANEL_METRICS
            }

        yield later
