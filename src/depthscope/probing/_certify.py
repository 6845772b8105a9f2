"""After the forward pass: certify the rows' Gram matrices, then fill every panel and angle.

Each step is one vectorised call over all rows: one Cholesky call certifies the Gram
matrices, one eigenvalue call gives the spectra of the certified ones
(:mod:`depthscope.simulation._gram_route`), one call of the panel's formulas and one of
ln sin²θ's fill the table (:mod:`depthscope.simulation._metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .._optional import import_torch
from ..simulation._gram_route import (
    FULL_RANK_SHIFT,
    GRAM_GATE,
    certify_eigenvalues,
    spectra_from_grams,
)
from ..simulation._metrics import PANEL_METRICS, ln_sin2_from_gram, panel_from_spectra
from ._reduce import _Row

__all__: list[str] = []


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
    _diagonalise([row for row in fast if not row.exact_features])
    for row in fast:
        row.gram = None
    return [row for row in fast if row.exact_features or row.exact_mask]


def _diagonalise(rows: Sequence[_Row]) -> None:
    """Set the spectra and mean cosine of certified rows from their Gram matrices (one call)."""
    if not rows:
        return
    spectra = spectra_from_grams(
        np.stack([row.gram for row in rows if row.gram is not None]),
        eigvalsh=_torch_eigvalsh,
    )
    for index, row in enumerate(rows):
        row.singular = spectra.singular[index]
        row.singular_centered = spectra.singular_centered[index]
        row.metrics["mean_cosine"] = float(spectra.mean_cosine[index])


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
    singular = np.stack([row.singular for row in done if row.singular is not None])
    centered = np.stack(
        [row.singular_centered for row in done if row.singular_centered is not None]
    )
    panel = panel_from_spectra(
        singular,
        _without_rounding_noise(singular, centered, m, [row.n_features for row in done]),
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


def _without_rounding_noise(
    singular: NDArray[np.float64],
    centered: NDArray[np.float64],
    m: int,
    n_features: Sequence[int],
) -> NDArray[np.float64]:
    """``centered`` with the rows that are rounding noise set to zero (their metrics: NaN).

    Where every singular value of the batch-centered representations is at most
    σ_max(A) · max(m, n) · ε (numpy's ``matrix_rank`` tolerance, relative to the uncentered
    matrix), the centered matrix is zero within rounding: all m inputs are the same point, and
    ``erank_centered`` is undefined rather than the entropy of rounding errors.
    """
    eps = float(np.finfo(np.float64).eps)
    bound = singular.max(axis=-1) * np.maximum(m, np.asarray(n_features)) * eps
    noise = centered.max(axis=-1) <= bound
    if not noise.any():
        return centered
    out = centered.copy()
    out[noise] = 0.0
    return out


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
