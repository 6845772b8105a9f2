"""The torch backend of :func:`depthscope.simulate` (CPU or CUDA), for the Gram-chain sampler.

It runs the same algorithms as :mod:`depthscope.simulation._samplers` in float64 on a torch device:
the
two-input chain of ``docs/theory/angle-theory.md`` §8 and the m-input chain with QR factors. They
are equal *in distribution* (not bit for bit) to the numpy backend's. torch is imported lazily:
``import depthscope`` never needs it.

Random numbers. Each network's normals are a fixed function of their position in the
network's own stream: normal j is drawn by Box-Muller from outputs 2⌊j/2⌋ and 2⌊j/2⌋ + 1 of
the SplitMix64 sequence (Steele, Lea & Flood 2014) whose seed is a hash of the run's root seed
and the network's index (:func:`network_seeds`). Being counter-based, the draws of a whole
chunk of networks for a layer are one vectorised computation (a torch generator per network
costs a kernel launch per network and layer, which made the GPU slower than numpy); results do
not depend on the chunk size, and the first k networks of a run equal a k-network run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._errors import DepthscopeError
from ._metrics import PANEL_METRICS, panel_from_factors

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ._simulate import _Plan

__all__ = ["import_torch", "torch_backend"]

_HE_GAIN2 = 2.0


def import_torch() -> Any:
    """Import torch, or raise a DepthscopeError naming the extra to install."""
    try:
        import torch
    except ImportError:
        raise DepthscopeError(
            "the torch backend needs PyTorch: pip install 'depthscope[torch]'."
        ) from None
    return torch


def _device(torch: Any, device: Any) -> Any:
    if isinstance(device, str):
        text = device.strip().lower()
        if text in ("torch", "torch:cpu"):
            text = "cpu"
        elif text.startswith("torch:"):
            text = text.removeprefix("torch:")
        try:
            device = torch.device(text)
        except RuntimeError as err:
            raise DepthscopeError(f"unknown device {device!r}: {err}") from None
    if not isinstance(device, torch.device):
        raise DepthscopeError(
            f"device must be 'cpu', 'cuda[:i]' or a torch.device, not {device!r}."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DepthscopeError(f"device {str(device)!r} requested but CUDA is not available.")
    return device


def torch_backend(plan: _Plan, device: Any) -> tuple[Callable[..., Any], str]:
    """Return ``(chunk_function, device_name)`` for :func:`depthscope.simulate`."""
    torch = import_torch()
    dev = _device(torch, device)
    if plan.sampler != "gram":
        raise DepthscopeError(
            "the torch backend runs the Gram sampler only; use device='cpu' for sampler='dense'."
        )

    def run(
        plan: _Plan, root: np.random.SeedSequence, start: int, stop: int
    ) -> tuple[NDArray[np.float64] | dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
        seeds = torch.as_tensor(network_seeds(root, start, stop), device=dev)
        if plan.pair:
            return _pair(torch, plan, seeds, dev)
        return _batch(torch, plan, seeds, dev)

    return run, f"torch:{dev}"


def network_seeds(root: np.random.SeedSequence, start: int, stop: int) -> NDArray[np.int64]:
    """Return the 64-bit seeds of networks ``start..stop-1`` (as int64 bit patterns).

    Seed j is the SplitMix64 finaliser of ``k₀ + (j + 1)γ`` XOR ``k₁``, with (k₀, k₁) two
    64-bit words of ``root``'s state: a function of the root and j alone (so independent of
    the chunking), computed for a whole chunk at once. Making a numpy generator per network
    instead costs ≈ 20 µs each, more than a GPU spends on the network.
    """
    k0, k1 = root.generate_state(2, dtype=np.uint64)
    steps = np.arange(start + 1, stop + 1, dtype=np.uint64)
    z = k0 + steps * np.uint64(_GAMMA % 2**64)  # uint64 arrays wrap modulo 2⁶⁴ silently
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1 % 2**64)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2 % 2**64)
    z = z ^ (z >> np.uint64(31))
    return (z ^ k1).view(np.int64)


# SplitMix64's increment and finaliser constants, as the signed int64 values with their bits.
_GAMMA = 0x9E3779B97F4A7C15 - 2**64
_MIX1 = 0xBF58476D1CE4E5B9 - 2**64
_MIX2 = 0x94D049BB133111EB - 2**64


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
    z = seeds[:, None] + steps[None, :] * _GAMMA
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def counter_normals(torch: Any, seeds: torch.Tensor, offset: int, count: int) -> torch.Tensor:
    """Return normals ``offset`` … ``offset + count − 1`` of each network's stream, (k, count).

    Normal j is Box-Muller of the uniforms (u₁, u₂) made from SplitMix64 outputs 2⌊j/2⌋ and
    2⌊j/2⌋ + 1 (53 bits each, uᵢ = (b + ½)/2⁵³ ∈ (0, 1)): the cosine branch for even j, the
    sine branch for odd j. ``offset`` must be even, so that blocks start on a pair.
    """
    if offset % 2:
        raise ValueError("offset must be even")
    pairs = (count + 1) // 2
    bits = splitmix64(torch, seeds, offset, 2 * pairs)
    uniform = (_shift_right(bits, 11).to(torch.float64) + 0.5) * 2.0**-53
    radius = torch.sqrt(-2.0 * torch.log(uniform[:, 0::2]))
    angle = (2.0 * math.pi) * uniform[:, 1::2]
    both = torch.stack((radius * torch.cos(angle), radius * torch.sin(angle)), dim=-1)
    return both.reshape(len(seeds), 2 * pairs)[:, :count]


def _activate_pair(
    torch: Any, x: torch.Tensor, d: torch.Tensor, slope: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(φ(x), φ(x + d) − φ(x)) without cancellation, as in the numpy sampler."""
    relu_diff = torch.maximum(d, -x) + torch.clamp(x, max=0.0)
    relu_x = torch.clamp(x, min=0.0)
    if slope == 0.0:
        return relu_x, relu_diff
    return slope * x + (1.0 - slope) * relu_x, slope * d + (1.0 - slope) * relu_diff


def _pair(
    torch: Any, plan: _Plan, seed_tensor: torch.Tensor, device: Any
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    from ._samplers import input_pair_stats
    from ._simulate import _ln_sin2_rows

    assert plan.theta0 is not None
    k = len(seed_tensor)
    stats = tuple(torch.as_tensor(s, device=device) for s in input_pair_stats(plan.theta0, k))
    rows = [stats]
    sigma2 = plan.bias_std**2
    start = 0
    for n in plan.widths:
        block = counter_normals(torch, seed_tensor, 2 * start, 2 * n)  # layer ℓ: its own block
        xi, eta = block[:, :n], block[:, n:]
        aa, dd, ad, det = stats
        p = _HE_GAIN2 * aa + sigma2
        live = p > 0
        safe = torch.where(live, p, torch.ones_like(p))
        c_x = torch.sqrt(p)
        c_dxi = torch.where(live, _HE_GAIN2 * ad / torch.sqrt(safe), torch.zeros_like(p))
        det_pre = _HE_GAIN2**2 * det + _HE_GAIN2 * sigma2 * dd
        c_deta = torch.where(live, torch.sqrt(det_pre / safe), torch.sqrt(_HE_GAIN2 * dd))
        if sigma2 == 0.0:
            b_dead = (aa + 2.0 * ad + dd) <= 0
            c_dxi = torch.where(b_dead, -c_x, c_dxi)
            c_deta = torch.where(b_dead, torch.zeros_like(p), c_deta)
        x = c_x[:, None] * xi
        d = c_dxi[:, None] * xi + c_deta[:, None] * eta
        a, delta = _activate_pair(torch, x, d, plan.slope)
        aa = (a * a).mean(dim=1)
        dd = (delta * delta).mean(dim=1)
        ad = (a * delta).mean(dim=1)
        det_new = torch.clamp(aa * dd - ad * ad, min=0.0)
        support = ((a != 0) | (delta != 0)).sum(dim=1)
        det_new = torch.where((support <= 1) & (det_new <= 1e-10 * aa * dd), 0.0, det_new)
        if sigma2 == 0.0:  # parallel representations stay parallel without bias
            det_new = torch.where(det > 0, det_new, 0.0)
        stats = (aa, dd, ad, det_new)
        rows.append(stats)
        if sigma2 == 0.0:  # carry the angle only (see _samplers._renormalise)
            stats = _renormalise(torch, stats)
        start += n
    host = [tuple(t.cpu().numpy() for t in row) for row in rows]
    return _ln_sin2_rows(host, plan.theta0)


def _renormalise(torch: Any, stats: tuple[Any, ...]) -> tuple[Any, ...]:
    """Carry the angle only: the state of unit-norm inputs (``_samplers._renormalise``)."""
    aa, dd, ad, det = stats
    bb = aa + 2.0 * ad + dd
    live = (aa > 0) & (bb > 0)
    norm2 = torch.where(live, aa * bb, torch.ones_like(aa))
    sin2 = torch.clamp(det / norm2, max=1.0)
    cos = (aa + ad) / torch.sqrt(norm2)
    half = torch.where(cos >= 0, sin2 / (2.0 * (1.0 + cos.abs())), (1.0 - cos) / 2.0)
    return (
        torch.where(live, torch.ones_like(aa), aa),
        torch.where(live, 4.0 * half, dd),
        torch.where(live, -2.0 * half, ad),
        torch.where(live, sin2, det),
    )


def _r_factor(torch: Any, columns: torch.Tensor) -> torch.Tensor:
    return torch.linalg.qr(columns, mode="r")[1]


def _batch(
    torch: Any,
    plan: _Plan,
    seed_tensor: torch.Tensor,
    device: Any,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    assert plan.input_dim is not None
    k, m, n0 = len(seed_tensor), plan.n_inputs, plan.input_dim
    offset = 0  # each draw takes the next block of the networks' streams, at an even position

    def draw(rows: int, cols: int) -> torch.Tensor:
        nonlocal offset
        block = counter_normals(torch, seed_tensor, offset, rows * cols)
        offset += rows * cols + (rows * cols) % 2
        return block.reshape(k, rows, cols)

    if plan.inputs is None:
        x = draw(m, n0)
    else:
        x = torch.as_tensor(plan.inputs, device=device).expand(k, m, n0)
    r = _r_factor(torch, x.transpose(1, 2))
    panels = [panel_from_factors(r.cpu().numpy(), n0, tolerance=plan.tolerance)]
    dead = [(x == 0).all(dim=-1).any(dim=-1).cpu().numpy()]
    n_prev = n0
    for n in plan.widths:
        rows = r.shape[1]
        extra = 1 if plan.bias_std else 0
        noise = draw(rows + extra, n)
        z = torch.matmul(r.transpose(1, 2), noise[:, :rows]) * math.sqrt(_HE_GAIN2 / n_prev)
        if extra:
            z = z + plan.bias_std * noise[:, rows:]
        active = z > 0
        phi = torch.where(active, z, plan.slope * z)
        r = _r_factor(torch, phi.transpose(1, 2))
        mask_r = _r_factor(torch, active.transpose(1, 2).to(torch.float64))
        panels.append(
            panel_from_factors(
                r.cpu().numpy(),
                n,
                tolerance=plan.tolerance,
                mask_r=mask_r.cpu().numpy(),
                active_fraction=active.to(torch.float64).mean(dim=(1, 2)).cpu().numpy(),
            )
        )
        dead.append((phi == 0).all(dim=-1).any(dim=-1).cpu().numpy())
        n_prev = n
    return {name: np.stack([p[name] for p in panels]) for name in PANEL_METRICS}, np.stack(dead)
