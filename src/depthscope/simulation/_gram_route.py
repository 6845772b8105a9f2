"""The probe's fast route to a layer's spectra: the m × m Gram matrix, when it is accurate.

:func:`certify_eigenvalues` proves, by one Cholesky factorisation per matrix, that a Gram
matrix is well conditioned enough for its eigenvalues to give the singular values;
:func:`spectra_from_grams` then takes the spectra of A and of the batch-centered A, and the
mean cosine, from one eigenvalue call. The panel's formulas are :mod:`._metrics`'s
(``panel_from_spectra``); a matrix that fails its certificate takes the thin-QR route there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import DepthscopeError

__all__ = [
    "FULL_RANK_SHIFT",
    "GRAM_GATE",
    "GramSpectra",
    "certify_eigenvalues",
    "spectra_from_grams",
]

_EPS = float(np.finfo(np.float64).eps)

#: The fast route takes singular values from a Gram matrix G = A Aᵀ only where
#: λ_min(G) > GRAM_GATE · trace(G) (so σ_min > 10⁻³ σ_max). Rounding in forming G perturbs its
#: eigenvalues by about √n·ε·λ_max, so there every σ_i is accurate to ~10⁻¹⁰ relative; below
#: it the thin-QR route (``panel_from_factors`` in :mod:`._metrics`) is needed, which keeps σ
#: down to ε·σ_max.
GRAM_GATE = 1e-6

#: Shift of the full-rank certificate of an exactly computed Gram matrix (of a 0/1 pattern).
FULL_RANK_SHIFT = 1e-10


def certify_eigenvalues(
    grams: ArrayLike,
    fractions: ArrayLike,
    *,
    cholesky_info: Callable[[NDArray[np.float64]], NDArray[np.int_]] | None = None,
) -> NDArray[np.bool_]:
    """Prove λ_min(G) > f · trace(G) for each Gram matrix G of a stack, by one Cholesky each.

    Parameters
    ----------
    grams : array_like, shape (k, m, m)
        Symmetric positive semi-definite matrices (e.g. Gram matrices A Aᵀ).
    fractions : array_like, shape (k,)
        The fraction f for each; each must exceed 4(m + 1)·ε (10⁻¹⁰ does while m < 10⁵).
    cholesky_info : callable, optional
        For a stack of matrices, an integer per matrix: 0 where a floating-point Cholesky
        factorisation runs to completion (torch's ``linalg.cholesky_ex(...).info``). Default:
        ``numpy.linalg.cholesky`` on each matrix.

    Returns
    -------
    ndarray of bool, shape (k,)
        True where the Cholesky factorisation of G − f·trace(G)·I succeeds. That proves
        λ_min(G) > f·trace(G)·(1 − 4(m + 1)ε/f) (Rump 2006: a completed floating-point Cholesky
        factorisation of a matrix is exact for a perturbation of it no larger than about
        (m + 1)·ε times its trace). False proves nothing. An all-zero G gives False.

    References
    ----------
    S. M. Rump, "Verification of positive definiteness", BIT 46 (2006) 433-452.
    """
    shifted = np.array(grams, dtype=np.float64)
    fractions = np.asarray(fractions, dtype=np.float64)
    m = shifted.shape[-1]
    if float(fractions.min()) <= 4.0 * (m + 1) * _EPS:
        raise DepthscopeError(
            f"certificate fractions must exceed 4(m + 1)ε = {4 * (m + 1) * _EPS:.1e}."
        )
    trace = np.trace(shifted, axis1=-2, axis2=-1)
    diagonal = np.arange(m)
    shifted[:, diagonal, diagonal] -= (fractions * trace)[:, None]
    if cholesky_info is None:
        cholesky_info = _numpy_cholesky_info
    return (np.asarray(cholesky_info(shifted)) == 0) & (trace > 0.0)


def _numpy_eigvalsh(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.linalg.eigvalsh(a), dtype=np.float64)


def _numpy_cholesky_info(stack: NDArray[np.float64]) -> NDArray[np.int_]:
    info = np.zeros(len(stack), dtype=np.int_)
    for index, matrix in enumerate(stack):
        try:
            np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            info[index] = 1
    return info


@lru_cache(maxsize=64)
def _centering_basis(m: int) -> NDArray[np.float64]:
    """Orthonormal basis H (m × (m−1)) of the vectors orthogonal to (1, ..., 1)."""
    centering = np.eye(m) - 1.0 / m
    basis = np.linalg.qr(centering[:, : m - 1])[0]
    basis.flags.writeable = False
    return basis


class GramSpectra(NamedTuple):
    """What the panel needs from Gram matrices (see :func:`spectra_from_grams`).

    Attributes
    ----------
    singular, singular_centered : ndarray, shape (..., m)
        Singular values of A and of the batch-centered A, descending (the latter ends with the
        exact zero that centering creates).
    mean_cosine : ndarray, shape (...)
        Mean cosine over the m(m−1)/2 pairs of rows of A.
    """

    singular: NDArray[np.float64]
    singular_centered: NDArray[np.float64]
    mean_cosine: NDArray[np.float64]


def spectra_from_grams(
    grams: ArrayLike,
    *,
    eigvalsh: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> GramSpectra:
    """Spectra and mean cosine of A and of the batch-centered A from G = A Aᵀ, for a stack.

    Parameters
    ----------
    grams : array_like, shape (k, m, m)
        Gram matrices of m representations (rows of A), m ≥ 2, each certified well conditioned
        (:func:`certify_eigenvalues` with ``GRAM_GATE``): the squared singular values are only
        as accurate as the smallest eigenvalue is large.
    eigvalsh : callable, optional
        Eigenvalues (ascending) of a stack of symmetric matrices, ``(..., m, m) -> (..., m)``,
        in place of ``numpy.linalg.eigvalsh`` (the probe passes torch's).

    Returns
    -------
    GramSpectra
        Arrays with leading dimension k.

    Notes
    -----
    The centered matrix C A (C = I − 11ᵀ/m) has Gram matrix C G C, whose eigenvalues are those
    of Hᵀ G H, with H an orthonormal basis of 1^⊥, and one zero; both spectra come from one
    call on the stack of G and Hᵀ G H ⊕ 0. The centered eigenvalues interlace those of G, so
    the gate on G also bounds the relative error of the centered spectrum. The cosine of rows
    i and j is G_ij / √(G_ii G_jj).
    """
    if eigvalsh is None:
        eigvalsh = _numpy_eigvalsh
    grams = np.asarray(grams, dtype=np.float64)
    k, m, _ = grams.shape
    basis = _centering_basis(m)
    stack = np.zeros((2, k, m, m))
    stack[0] = grams
    stack[1, :, 1:, 1:] = basis.T @ grams @ basis
    singular = np.sqrt(np.clip(eigvalsh(stack.reshape(2 * k, m, m)), 0.0, None)[:, ::-1])
    singular = singular.reshape(2, k, m)
    inverse_norms = 1.0 / np.sqrt(np.diagonal(grams, axis1=-2, axis2=-1))  # all > 0 if certified
    total = np.einsum("ki,kij,kj->k", inverse_norms, grams, inverse_norms)  # Σ_ij cos_ij
    return GramSpectra(singular[0], singular[1], (total - m) / (m * (m - 1.0)))
