"""Per-layer measurements of a simulated network: the angle of two inputs, the effective dimension.

Everything here is a pure function of arrays, vectorised over leading (network) axes.

* :func:`ln_sin2_from_gram` -- ln sin²θ from the Gram entries of ``(a, Δ = b − a)``, accurate
  at tiny angles (no ``1 − cos²θ``); :func:`nan_mean_sd` -- the summary over networks.
* :func:`effective_dimension_panel` -- algebraic and numerical rank, entropy effective rank
  (uncentered and centered), participation ratio, stable rank, mean pairwise cosine and the
  activation-mask diagnostics of ``docs/theory/effective-dimension.md`` §3, all from a float64
  thin QR followed by the singular values of the small triangular factor
  (:func:`panel_from_factors`), or, when the m × m Gram matrix is well conditioned, from its
  eigenvalues (``spectra_from_grams`` in :mod:`._gram_route`, the probe's fast route). The
  formulas themselves are written once, in :func:`panel_from_spectra`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._errors import DepthscopeError
from ._pair import NUMPY, gram_determinant, gram_entries

__all__ = [
    "PANEL_METRICS",
    "effective_dimension_panel",
    "ln_sin2_from_gram",
    "ln_sin2_from_pair",
    "ln_sin2_rows",
    "mean_cosine_of_columns",
    "nan_mean_sd",
    "pair_gram",
    "panel_from_factors",
    "panel_from_spectra",
    "r_factor",
    "rank_from_singular",
]

#: Names of the effective-dimension panel, in the order they are reported.
PANEL_METRICS: tuple[str, ...] = (
    "rank",
    "numerical_rank",
    "erank",
    "erank_centered",
    "participation_ratio",
    "stable_rank",
    "mean_cosine",
    "active_fraction",
    "mask_rank",
)

_EPS = float(np.finfo(np.float64).eps)


def pair_gram(
    a: NDArray[np.float64], delta: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Gram entries of ``a`` and ``Δ`` over the last axis, and their Gram determinant.

    Parameters
    ----------
    a, delta : ndarray, shape (..., n)
        Representation of the first input and the difference ``b − a`` to the second.

    Returns
    -------
    aa, dd, ad, det : ndarray, shape (...)
        ``|a|²``, ``|Δ|²``, ``a·Δ`` and ``max(|a|²|Δ|² − (a·Δ)², 0)`` (:mod:`._pair`).
    """
    return gram_entries(NUMPY, a, delta)


def ln_sin2_from_gram(
    aa: ArrayLike, dd: ArrayLike, ad: ArrayLike, det: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Ln sin²θ between ``a`` and ``b = a + Δ`` from their Gram entries, and a "dead" mask.

    Parameters
    ----------
    aa, dd, ad : array_like
        ``|a|²``, ``|Δ|²`` and ``a·Δ`` (broadcast together).
    det : array_like, optional
        The Gram determinant ``|a|²|Δ|² − (a·Δ)²`` if it is known more accurately than the
        difference of products (for the inputs, where it is ``sin²θ₀`` exactly).

    Returns
    -------
    ln_sin2 : ndarray
        ``ln sin²θ``; ``-inf`` where the vectors are parallel, NaN where the angle is undefined.
    dead : ndarray of bool
        True where ``a = 0`` or ``b = 0`` (every unit inactive for one input), so the angle is
        undefined and ``ln_sin2`` is NaN.

    Notes
    -----
    sin²θ = (|a|²|Δ|² − (a·Δ)²) / (|a|² |a + Δ|²): the numerator is the Gram determinant of
    ``(a, b)`` written with ``Δ``, so a tiny angle is not lost to ``1 − cos²θ`` rounding.
    """
    aa = np.asarray(aa, dtype=np.float64)
    dd = np.asarray(dd, dtype=np.float64)
    ad = np.asarray(ad, dtype=np.float64)
    if det is None:
        det = gram_determinant(NUMPY, aa, dd, ad)
    det = np.asarray(det, dtype=np.float64)
    bb = np.maximum(aa + 2.0 * ad + dd, 0.0)
    dead = (aa <= 0.0) | (bb <= 0.0)
    denominator = aa * bb
    ratio = np.divide(det, denominator, out=np.full(np.shape(denominator), np.nan), where=~dead)
    ratio = np.minimum(ratio, 1.0, out=ratio, where=~dead)
    with np.errstate(divide="ignore"):  # ln 0 = -inf is the right answer for parallel vectors
        ln_sin2 = np.log(ratio)
    return ln_sin2, dead


def angle_from_gram(
    aa: ArrayLike, dd: ArrayLike, ad: ArrayLike, det: ArrayLike
) -> NDArray[np.float64]:
    """Return the angle θ in [0, π] between ``a`` and ``b = a + Δ`` from their Gram entries.

    ``atan2(√det, a·b)`` with ``a·b = |a|² + a·Δ``: accurate for tiny and for obtuse angles
    alike (no ``arccos`` of a rounded cosine). NaN where ``a = 0`` or ``b = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> float(angle_from_gram(1.0, 2.0, -1.0, 1.0))  # a = (1, 0), b = (0, 1)
    1.5707963267948966
    """
    aa = np.asarray(aa, dtype=np.float64)
    dd = np.asarray(dd, dtype=np.float64)
    ad = np.asarray(ad, dtype=np.float64)
    det = np.asarray(det, dtype=np.float64)
    dead = (aa <= 0.0) | (aa + 2.0 * ad + dd <= 0.0)
    theta = np.arctan2(np.sqrt(det), aa + ad)
    return np.where(dead, np.nan, theta)


def ln_sin2_from_pair(
    a: NDArray[np.float64], delta: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Ln sin²θ between ``a`` and ``a + Δ`` along the last axis (see :func:`ln_sin2_from_gram`).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([1.0, 0.0]); delta = np.array([0.0, 1e-9])
    >>> float(ln_sin2_from_pair(a, delta)[0])  # doctest: +ELLIPSIS
    -41.44653167389...
    """
    aa, dd, ad, det = pair_gram(a, delta)
    return ln_sin2_from_gram(aa, dd, ad, det)


def ln_sin2_rows(
    stats: Sequence[tuple[NDArray[np.float64], ...]], theta0: float
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Ln sin²θ and dead arrays (L+1, k) from per-layer Gram entries; row 0 = ln sin²θ₀ exactly."""
    ln_sin2 = np.empty((len(stats), stats[0][0].shape[0]))
    dead = np.empty(ln_sin2.shape, dtype=bool)
    for i, (aa, dd, ad, det) in enumerate(stats):
        ln_sin2[i], dead[i] = ln_sin2_from_gram(aa, dd, ad, det)
    sin2 = 0.0 if theta0 in (0.0, math.pi) else math.sin(theta0) ** 2
    with np.errstate(divide="ignore"):
        ln_sin2[0] = np.log(sin2)
    return ln_sin2, dead


def nan_mean_sd(values: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and sample sd (ddof 1) over axis 1 of the finite entries of each row.

    NaN where a row has no finite entry (mean) or fewer than two (sd); ±inf count as missing.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)
    squares = (np.where(finite, values - mean[:, None], 0.0) ** 2).sum(axis=1)
    var = np.divide(squares, count - 1, out=np.full(count.shape, np.nan), where=count > 1)
    return mean, np.sqrt(var)


def r_factor(columns: ArrayLike) -> NDArray[np.float64]:
    """Triangular factor R of the float64 thin QR of each ``(n, m)`` matrix in a stack.

    Parameters
    ----------
    columns : array_like, shape (..., n, m)
        The m representations as columns (for example the post-activations of m inputs).

    Returns
    -------
    ndarray, shape (..., min(n, m), m)
        Upper-triangular ``R`` with ``columnsᵀ columns = Rᵀ R``; its singular values are those
        of ``columns``. Rank-deficient matrices are fine (Householder QR never fails).

    Notes
    -----
    Calls LAPACK ``dgeqrf`` once per matrix: for tall matrices this is several times faster
    than numpy's batched QR, and a matrix that is Fortran-ordered (a transposed view of
    C-ordered rows) is passed without reordering.
    """
    from scipy.linalg import lapack

    arr = np.asarray(columns, dtype=np.float64)
    *lead, n, m = arr.shape
    stack = arr.reshape(-1, n, m)
    rows = min(n, m)
    out = np.zeros((stack.shape[0], rows, m))
    for j in range(stack.shape[0]):
        qr, _tau, _work, info = lapack.dgeqrf(stack[j])
        if info != 0:  # pragma: no cover - LAPACK reports only illegal arguments here
            raise DepthscopeError(f"LAPACK dgeqrf failed with info={info}.")
        out[j] = np.triu(qr[:rows])
    return out.reshape(*lead, rows, m)


def _entropy_rank(singular: NDArray[np.floating]) -> NDArray[np.float64]:
    """Roy & Vetterli effective rank exp(H(p)), p = σ / Σσ; NaN for an all-zero matrix."""
    total = singular.sum(axis=-1, keepdims=True)
    live = total > 0
    p = np.divide(singular, total, out=np.zeros_like(singular), where=live)
    positive = p > 0
    log_p = np.log(p, out=np.zeros_like(p), where=positive)
    entropy = -(p * log_p).sum(axis=-1)
    return np.where(live[..., 0], np.exp(entropy), np.nan)


def rank_from_singular(singular: NDArray[np.floating], max_dim: ArrayLike) -> NDArray[np.float64]:
    """Count σ (..., k) above numpy's ``matrix_rank`` tolerance σ_max · max(M, N) · ε.

    ``max_dim`` is max(M, N) of the matrix the singular values belong to (broadcast over ...).
    """
    top = singular.max(axis=-1, initial=0.0)
    threshold = top * np.asarray(max_dim, dtype=np.float64) * _EPS
    return (singular > threshold[..., None]).sum(axis=-1).astype(np.float64)


#: Largest singular value beyond which (or below whose inverse) the participation ratio and
#: the stable rank are computed from σ / σ_max: σ⁴ stays inside float64 up to ≈ 1e77.
_SCALE_FREE_LIMIT = 1e75


def panel_from_spectra(
    singular: ArrayLike,
    singular_centered: ArrayLike,
    *,
    n_inputs: int,
    n_features: ArrayLike,
    mean_cosine: ArrayLike,
    tolerance: float = 1e-3,
    mask_rank: ArrayLike | None = None,
    active_fraction: ArrayLike | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Compute the effective-dimension panel from singular values (the formulas, once).

    Parameters
    ----------
    singular : array_like, shape (..., k)
        Singular values of the m × n matrix A whose rows are the m representations, in any
        order; zeros may pad the last axis (they change no metric).
    singular_centered : array_like, shape (..., k')
        Singular values of A with the batch mean of each feature removed (zero-padded alike).
    n_inputs : int
        m, the number of representations.
    n_features : int or array_like, shape (...)
        n, the length of each representation (enters the algebraic-rank tolerance).
    mean_cosine : array_like, shape (...)
        Mean cosine over pairs of non-zero representations (computed from A or its Gram
        matrix by the caller).
    tolerance : float, default 1e-3
        Relative tolerance τ of the numerical rank.
    mask_rank, active_fraction : array_like, shape (...), optional
        Rank of the 0/1 activation pattern and the fraction of active (unit, input) pairs;
        NaN when not given.

    Returns
    -------
    dict of str to ndarray, shape (...)
        One float64 array per name in :data:`PANEL_METRICS` (definitions in
        :func:`panel_from_factors`).
    """
    singular = np.asarray(singular, dtype=np.float64)
    top = singular.max(axis=-1, initial=0.0)
    live = top > 0
    lam = singular * singular
    lam_sum = lam.sum(axis=-1)
    lam_sq = (lam * lam).sum(axis=-1)
    nan = np.full(top.shape, np.nan)

    def given(values: ArrayLike | None) -> NDArray[np.float64]:
        if values is None:
            return nan.copy()
        return np.broadcast_to(np.asarray(values, dtype=np.float64), top.shape).copy()

    participation = np.divide(lam_sum * lam_sum, lam_sq, out=nan.copy(), where=live)
    stable = np.divide(lam_sum, top * top, out=nan.copy(), where=live)
    # Both are scale-free; where σ⁴ would leave float64 (representations beyond ≈ 1e75 or below
    # ≈ 1e-75: inputs of size 1e300 gave NaN, tiny ones 0/0), take them from σ / σ_max.
    far = live & ((top > _SCALE_FREE_LIMIT) | (top < 1.0 / _SCALE_FREE_LIMIT))
    if far.any():
        lam_far = (singular[far] / top[far][..., None]) ** 2
        sums = lam_far.sum(axis=-1)
        participation[far] = sums * sums / (lam_far * lam_far).sum(axis=-1)
        stable[far] = sums
    return {
        "rank": rank_from_singular(singular, np.maximum(n_inputs, n_features)),
        "numerical_rank": (singular > tolerance * top[..., None]).sum(axis=-1).astype(np.float64),
        "erank": _entropy_rank(singular),
        "erank_centered": _entropy_rank(np.asarray(singular_centered, dtype=np.float64)),
        "participation_ratio": participation,
        "stable_rank": stable,
        "mean_cosine": given(mean_cosine),
        "active_fraction": given(active_fraction),
        "mask_rank": given(mask_rank),
    }


def panel_from_factors(
    r: NDArray[np.float64],
    n_features: int,
    *,
    tolerance: float = 1e-3,
    mask_r: NDArray[np.float64] | None = None,
    active_fraction: NDArray[np.float64] | None = None,
    svdvals: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Compute the effective-dimension panel from the R factors of thin QR decompositions.

    Parameters
    ----------
    r : ndarray, shape (..., k, m)
        R factor of the ``(n_features, m)`` matrix whose columns are the m representations
        (see :func:`r_factor`); ``k = min(n_features, m)``.
    n_features : int
        n, the length of each representation (enters the algebraic-rank tolerance).
    tolerance : float, default 1e-3
        Relative tolerance τ of the numerical rank: singular values above τ·σ_max count.
    mask_r : ndarray, shape (..., k, m), optional
        R factor of the 0/1 activation pattern (1 where a unit is active for an input).
    active_fraction : ndarray, shape (...), optional
        Fraction of (unit, input) pairs that are active.
    svdvals : callable, optional
        Singular values of a stack of matrices, ``(..., k, m) -> (..., min(k, m))``, in place
        of ``numpy.linalg.svd(a, compute_uv=False)`` (e.g. torch's, which links a
        faster LAPACK for these small matrices).

    Returns
    -------
    dict of str to ndarray, shape (...)
        One float64 array per name in :data:`PANEL_METRICS`. ``active_fraction`` and
        ``mask_rank`` are NaN when no mask was given; the spectral measures other than the
        ranks are NaN for an all-zero matrix, ``mean_cosine`` when fewer than two
        representations are non-zero.

    Notes
    -----
    With σ_i the singular values of the m×n matrix A (rows = representations) and
    λ_i = σ_i² the eigenvalues of its Gram matrix:

    * rank: #{σ_i > σ_max · max(m, n) · ε} (numpy's ``matrix_rank`` default);
      numerical rank: #{σ_i > τ σ_max};
    * entropy effective rank: exp(−Σ p_i ln p_i), p_i = σ_i / Σ_j σ_j (Roy & Vetterli 2007);
      centered: the same for A with the batch mean of each feature removed, whose singular
      values are those of ``Rᵀ`` minus its column means (``A = Rᵀ Qᵀ``);
    * participation ratio (Σλ_i)² / Σλ_i²; stable rank Σλ_i / λ_max = ‖A‖_F² / ‖A‖_2²;
    * mean cosine over the m(m−1)/2 pairs of non-zero representations.

    The formulas are :func:`panel_from_spectra`; this function supplies the spectra.

    References
    ----------
    O. Roy and M. Vetterli, "The effective rank: a measure of effective dimensionality",
    EUSIPCO 2007.
    """
    r = np.asarray(r, dtype=np.float64)
    m = r.shape[-1]
    finite = np.asarray(np.isfinite(r).all(axis=(-2, -1)))
    if not finite.all():  # representations beyond float64's range: NaN, the rest as usual
        return _panel_of_finite(
            r, finite, n_features, tolerance, mask_r, active_fraction, svdvals
        )  # fmt: skip
    exponent = np.frexp(np.abs(r).max(axis=(-2, -1), initial=0.0))[1]
    rescale = (exponent > 250) | (exponent < -250)
    if rescale.any():  # by a power of 2 (exact; every metric is scale-free): no λ = σ² overflow
        r = np.ldexp(r, -np.where(rescale, exponent, 0)[..., None, None])
    if svdvals is None:
        svdvals = _numpy_svdvals
    centered = np.swapaxes(r, -1, -2)
    centered = centered - centered.mean(axis=-2, keepdims=True)
    mask_rank = None
    if mask_r is not None:
        mask_singular = svdvals(np.asarray(mask_r, dtype=np.float64))
        mask_rank = rank_from_singular(mask_singular, max(m, int(n_features)))
    return panel_from_spectra(
        svdvals(r),
        svdvals(centered),
        n_inputs=m,
        n_features=int(n_features),
        mean_cosine=mean_cosine_of_columns(r),
        tolerance=tolerance,
        mask_rank=mask_rank,
        active_fraction=active_fraction,
    )


def _panel_of_finite(
    r: NDArray[np.float64],
    finite: NDArray[np.bool_],
    n_features: int,
    tolerance: float,
    mask_r: NDArray[np.float64] | None,
    active_fraction: NDArray[np.float64] | None,
    svdvals: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None,
) -> dict[str, NDArray[np.float64]]:
    """:func:`panel_from_factors` where some factors are not finite: NaN there, ranks too.

    A network whose norms left float64's range (σ_w or α far from criticality for the depth)
    has an inf or NaN factor, on which LAPACK's SVD fails ("did not converge") for the whole
    stack; its panel is NaN instead (``SimulationResult.nonfinite_fraction`` counts it).
    """
    out = {name: np.full(finite.shape, np.nan) for name in PANEL_METRICS}
    if finite.any():
        part = panel_from_factors(
            r[finite],
            n_features,
            tolerance=tolerance,
            mask_r=None if mask_r is None else np.asarray(mask_r)[finite],
            active_fraction=None
            if active_fraction is None
            else np.asarray(active_fraction)[finite],
            svdvals=svdvals,
        )
        for name, values in part.items():
            out[name][finite] = values
    return out


def _numpy_svdvals(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.linalg.svd(a, compute_uv=False), dtype=np.float64)


def mean_cosine_of_columns(r: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean cosine over pairs of non-zero columns of r (..., k, m), e.g. of an R factor.

    The columns of R have the inner products of the m representations it factors.
    """
    norms = np.sqrt(np.einsum("...ij,...ij->...j", r, r))
    nonzero = norms > 0
    unit = np.divide(r, norms[..., None, :], out=np.zeros_like(r), where=nonzero[..., None, :])
    total = unit.sum(axis=-1)
    count = nonzero.sum(axis=-1).astype(np.float64)
    pairs = count * (count - 1.0)
    sum_all = np.einsum("...i,...i->...", total, total)  # Σ_ij cos_ij, diagonal included
    return np.divide(sum_all - count, pairs, out=np.full_like(count, np.nan), where=pairs > 0)


def effective_dimension_panel(
    representations: ArrayLike,
    *,
    active: ArrayLike | None = None,
    tolerance: float = 1e-3,
) -> dict[str, NDArray[np.float64]]:
    """Effective-dimension panel of a batch of m representations (see :func:`panel_from_factors`).

    Parameters
    ----------
    representations : array_like, shape (..., m, n)
        m representations of length n (rows), for example a layer's post-activations of m inputs.
    active : array_like of bool, shape (..., m, n), optional
        Activation pattern (pre-activation > 0) for the mask diagnostics; without it
        ``active_fraction`` and ``mask_rank`` are NaN.
    tolerance : float, default 1e-3
        Relative tolerance τ of the numerical rank.

    Returns
    -------
    dict of str to ndarray, shape (...)
        One array per name in :data:`PANEL_METRICS`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0, 0.0], [1.0, 1e-6, 0.0]])
    >>> panel = effective_dimension_panel(x)
    >>> int(panel["rank"]), int(panel["numerical_rank"])
    (2, 1)
    """
    if not 0.0 < tolerance < 1.0:
        raise DepthscopeError(f"tolerance = {tolerance!r} must be in (0, 1).")
    rep = np.asarray(representations, dtype=np.float64)
    if rep.ndim < 2:
        raise DepthscopeError("representations must have shape (..., m, n).")
    r = r_factor(np.swapaxes(rep, -1, -2))
    mask_r = fraction = None
    if active is not None:
        mask = np.asarray(active, dtype=bool)
        mask_r = r_factor(np.swapaxes(mask, -1, -2).astype(np.float64))
        fraction = mask.mean(axis=(-1, -2))
    return panel_from_factors(
        r, rep.shape[-1], tolerance=tolerance, mask_r=mask_r, active_fraction=fraction
    )
