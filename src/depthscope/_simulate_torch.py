"""The torch backend of :func:`depthscope.simulate` (CPU or CUDA), for the Gram-chain sampler.

It runs the same algorithms as :mod:`depthscope._samplers` in float64 on a torch device: the
two-input chain of ``angle-theory.md`` §8 and the m-input chain with QR factors. Each network
gets a ``torch.Generator`` seeded from its own numpy stream, so results do not depend on the
chunk size and the first k networks of a run equal a k-network run; they are equal *in
distribution* (not bit for bit) to the numpy backend's. torch is imported lazily: ``import
depthscope`` never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ._errors import DepthscopeError
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
        plan: _Plan, streams: Sequence[np.random.Generator]
    ) -> tuple[NDArray[np.float64] | dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
        generators = [_torch_generator(torch, gen, dev) for gen in streams]
        if plan.pair:
            return _pair(torch, plan, generators, dev)
        return _batch(torch, plan, streams, generators, dev)

    return run, f"torch:{dev}"


def _torch_generator(torch: Any, gen: np.random.Generator, device: Any) -> Any:
    """Make a torch generator on ``device`` seeded from the network's numpy stream."""
    seeded = torch.Generator(device=device)
    seeded.manual_seed(int(gen.integers(2**63)))
    return seeded


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
    torch: Any, plan: _Plan, generators: list[Any], device: Any
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    from ._samplers import input_pair_stats
    from ._simulate import _ln_sin2_rows

    assert plan.theta0 is not None
    total = sum(plan.widths)
    normals = torch.stack(
        [torch.randn(2, total, generator=g, device=device, dtype=torch.float64) for g in generators]
    )
    k = len(generators)
    stats = tuple(torch.as_tensor(s, device=device) for s in input_pair_stats(plan.theta0, k))
    rows = [stats]
    sigma2 = plan.bias_std**2
    start = 0
    for n in plan.widths:
        xi, eta = normals[:, 0, start : start + n], normals[:, 1, start : start + n]
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
    streams: Sequence[np.random.Generator],
    generators: list[Any],
    device: Any,
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.bool_]]:
    assert plan.input_dim is not None
    k, m, n0 = len(streams), plan.n_inputs, plan.input_dim
    if plan.inputs is None:
        x = torch.stack(
            [
                torch.randn(m, n0, generator=g, device=device, dtype=torch.float64)
                for g in generators
            ]
        )
    else:
        x = torch.as_tensor(plan.inputs, device=device).expand(k, m, n0)
    r = _r_factor(torch, x.transpose(1, 2))
    panels = [panel_from_factors(r.cpu().numpy(), n0, tolerance=plan.tolerance)]
    dead = [(x == 0).all(dim=-1).any(dim=-1).cpu().numpy()]
    n_prev = n0
    for n in plan.widths:
        rows = r.shape[1]
        extra = 1 if plan.bias_std else 0
        noise = torch.stack(
            [
                torch.randn(rows + extra, n, generator=g, device=device, dtype=torch.float64)
                for g in generators
            ]
        )
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
