"""Zero-cost proxies and the measured angle, for bias-free ReLU MLPs (``nn.Sequential``).

Each proxy is re-implemented from its paper's definition and scores a network at
initialisation, before any training:

``naswot``
    Mellor et al. (2021), "Neural Architecture Search without Training", ICML, Sec. 3:
    each input x_i of a minibatch gets the binary code c_i of its ReLU units (1 where the
    pre-activation is positive), over all hidden layers (N_A units in all);
    K_H[i, j] = N_A − d_H(c_i, c_j) and the score is ln |det K_H|.
``synflow``
    Tanaka et al. (2020), "Pruning neural networks without any data by iteratively conserving
    synaptic flow"; as a proxy in Abdelfattah et al. (2021), "Zero-Cost Proxies for Lightweight
    NAS", ICLR: replace every weight by its absolute value, feed an all-ones input,
    R = 1ᵀ f(1), score = Σ_θ θ ∂R/∂θ (float64).
``snip``
    Lee et al. (2019), "SNIP"; Abdelfattah et al. (2021): Σ_θ |θ ∂L/∂θ| for the cross-entropy
    loss L of one minibatch.
``grad_norm``
    Abdelfattah et al. (2021): Σ_layers ‖∂L/∂W_layer‖₂ (Euclidean norm of each layer's gradient).
``jacob_cov``
    Mellor et al. (2020, arXiv:2006.04647 v1), as in Abdelfattah et al. (2021): J_i = ∂(Σ_k
    f_k(x_i))/∂x_i for each input of the minibatch, Σ = corrcoef(J) (N × N), eigenvalues λ
    (clipped at 0 against round-off), score = −Σ_i [ln(λ_i + k) + 1/(λ_i + k)], k = 1e−5.
``measured_angle``
    ln sin²θ_L between the last-hidden-layer outputs of two random training inputs, averaged
    over a few pairs (float64, from the Gram determinant: exact for tiny angles too) — the
    quantity the theory predicts, measured on the very network that is then trained.  −inf when
    some pair's outputs are parallel or a layer died (θ = 0).

A proxy that comes out NaN or −inf is returned as such; the runner records and reports it.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..simulation._metrics import ln_sin2_from_pair

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

__all__ = [
    "PROXIES",
    "grad_norm",
    "hidden_codes",
    "jacob_cov",
    "measure_proxies",
    "measured_angle",
    "naswot",
    "naswot_kernel",
    "snip",
    "synflow",
]

#: Names of the per-network scores measured at initialisation, in results.csv order.
PROXIES = ("measured_angle", "naswot", "synflow", "snip", "grad_norm", "jacob_cov")
_JACOB_K = 1e-5


def _hidden_outputs(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Post-ReLU outputs of every hidden layer (the inputs of the next Linear)."""
    from torch import nn

    outputs = []
    h = x
    for layer in model:
        h = layer(h)
        if isinstance(layer, nn.ReLU):
            outputs.append(h)
    return outputs


def hidden_codes(model: nn.Sequential, x: torch.Tensor) -> NDArray[np.float64]:
    """Binary activation codes, shape (N, N_A): 1 where a hidden unit's pre-activation > 0."""
    import torch

    with torch.no_grad():
        codes = [(h > 0).to(torch.float64) for h in _hidden_outputs(model, x)]
    return torch.cat(codes, dim=1).numpy()


def naswot_kernel(codes: NDArray[np.float64]) -> NDArray[np.float64]:
    """K_H[i, j] = N_A − d_H(c_i, c_j) = c_iᵀc_j + (1 − c_i)ᵀ(1 − c_j)."""
    c = np.asarray(codes, dtype=np.float64)
    return c @ c.T + (1.0 - c) @ (1.0 - c).T


def naswot(model: nn.Sequential, x: torch.Tensor) -> float:
    """NASWOT score ln |det K_H| (Mellor et al. 2021).

    K_H is symmetric positive semi-definite; its log-determinant is the sum of the logs of its
    eigenvalues.  When K_H is singular (an eigenvalue ≤ N·eps·λ_max, e.g. two inputs with the
    same code, or fewer units than inputs) the score is −inf, which the runner reports.
    """
    kernel = naswot_kernel(hidden_codes(model, x))
    eig = np.linalg.eigvalsh(kernel)
    if eig.size == 0 or eig[-1] <= 0:
        return -math.inf
    if eig[0] <= kernel.shape[0] * np.finfo(np.float64).eps * eig[-1]:
        return -math.inf
    return float(np.sum(np.log(eig)))


def synflow(model: nn.Sequential, input_dim: int) -> float:
    """Synaptic-flow score Σ θ ∂R/∂θ with |θ| weights and an all-ones input, in float64.

    For a bias-free ReLU network with non-negative weights every ReLU is the identity on the
    non-negative signal, so R = 1ᵀ|W_{L+1}|···|W_1|1 and each layer contributes exactly R:
    the score is (L + 1)·R.
    """
    import torch

    net = copy.deepcopy(model).to(torch.float64)
    with torch.no_grad():
        for param in net.parameters():
            param.abs_()
    net.zero_grad(set_to_none=True)
    flow = net(torch.ones(1, input_dim, dtype=torch.float64)).sum()
    flow.backward()
    total = 0.0
    for param in net.parameters():
        assert param.grad is not None
        total += float((param.detach() * param.grad).sum())
    return total


def _loss_gradients(
    model: nn.Sequential, x: torch.Tensor, y: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    import torch

    net = copy.deepcopy(model)
    net.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(net(x), y).backward()
    pairs = []
    for param in net.parameters():
        assert param.grad is not None
        pairs.append((param.detach(), param.grad.detach()))
    return pairs


def snip(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> float:
    """SNIP saliency Σ |θ ∂L/∂θ| for the cross-entropy loss of the minibatch (Lee et al. 2019)."""
    return float(sum(float((w * g).abs().sum()) for w, g in _loss_gradients(model, x, y)))


def grad_norm(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> float:
    """Σ over layers of the Euclidean norm of ∂L/∂W (Abdelfattah et al. 2021)."""
    return float(sum(float(g.norm()) for _, g in _loss_gradients(model, x, y)))


def jacob_cov(model: nn.Sequential, x: torch.Tensor) -> float:
    """Jacobian-covariance score −Σ [ln(λ + k) + 1/(λ + k)], k = 1e−5 (Mellor et al. 2020).

    NaN when a row of the Jacobian is constant (e.g. zero because every unit died), since its
    correlation is undefined.
    """
    inputs = x.detach().clone().requires_grad_(True)
    model(inputs).sum().backward()
    assert inputs.grad is not None
    jac = inputs.grad.detach().numpy().astype(np.float64)
    model.zero_grad(set_to_none=True)
    centred = jac - jac.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    if not np.all(norms > 0):
        return math.nan
    unit = centred / norms[:, None]
    eig = np.clip(np.linalg.eigvalsh(unit @ unit.T), 0.0, None)
    return float(-np.sum(np.log(eig + _JACOB_K) + 1.0 / (eig + _JACOB_K)))


def _last_hidden(model: nn.Sequential) -> nn.Sequential:
    """Return the layers up to the last ReLU (their output is the last hidden layer's)."""
    from torch import nn

    last = max(i for i, layer in enumerate(model) if isinstance(layer, nn.ReLU))
    return nn.Sequential(*list(model)[: last + 1])


def measured_angle(model: nn.Sequential, x_first: torch.Tensor, x_second: torch.Tensor) -> float:
    """Mean over pairs of ln sin²θ at the last hidden layer, in float64.

    Parameters
    ----------
    model : torch.nn.Sequential
    x_first, x_second : torch.Tensor, shape (pairs, input_dim)
        The two inputs of each pair.

    Returns
    -------
    float
        Mean of ln sin²θ_L over the pairs; −inf if any pair collapsed (θ_L = 0 or a dead layer).

    Notes
    -----
    Only the last hidden layer's outputs ``a`` and ``b`` are kept; sin²θ is computed from
    their Gram determinant with ``Δ = b − a``
    (:func:`depthscope.simulation._metrics.ln_sin2_from_pair`), not as ``1 − cos²θ``, so a tiny
    angle keeps its value instead of rounding to zero.
    """
    import torch

    head = _last_hidden(copy.deepcopy(model).to(torch.float64))
    with torch.no_grad():
        a = head(x_first.to(torch.float64)).numpy()
        b = head(x_second.to(torch.float64)).numpy()
    ln_sin2, dead = ln_sin2_from_pair(a, b - a)
    if np.any(dead):
        return -math.inf
    return float(np.mean(ln_sin2))


def measure_proxies(
    model: nn.Sequential,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    *,
    rng: np.random.Generator,
    batch: int = 64,
    angle_pairs: int = 8,
) -> dict[str, Any]:
    """All proxies of :data:`PROXIES` on one freshly initialised network (left unchanged).

    Parameters
    ----------
    model : torch.nn.Sequential
    x : ndarray, shape (n, input_dim)
        Training inputs; the minibatch and the angle pairs are drawn from them.
    y : ndarray, shape (n,)
    rng : numpy.random.Generator
    batch : int
        Minibatch size of NASWOT, SNIP, grad_norm and jacob_cov.
    angle_pairs : int
        Number of distinct-input pairs of the measured angle.

    Returns
    -------
    dict
        One float per name in :data:`PROXIES`.
    """
    import torch

    batch_idx = rng.choice(x.shape[0], size=min(batch, x.shape[0]), replace=False)
    pair_idx = rng.choice(x.shape[0], size=(angle_pairs, 2), replace=True)
    pair_idx = pair_idx[pair_idx[:, 0] != pair_idx[:, 1]]
    xb = torch.from_numpy(np.ascontiguousarray(x[batch_idx]))
    yb = torch.from_numpy(np.ascontiguousarray(y[batch_idx]))
    return {
        "measured_angle": measured_angle(
            model, torch.from_numpy(x[pair_idx[:, 0]]), torch.from_numpy(x[pair_idx[:, 1]])
        ),
        "naswot": naswot(model, xb),
        "synflow": synflow(model, x.shape[1]),
        "snip": snip(model, xb, yb),
        "grad_norm": grad_norm(model, xb, yb),
        "jacob_cov": jacob_cov(model, xb),
    }
