"""The variance floor: protection against a component collapsing onto a point, and nothing else.

Rule
----
For each feature ``j`` let ``delta_j`` be the data's *resolution*: the smallest
non-zero gap between two distinct values of column ``j``. The floor on the
variances is ``var_floor * delta_j**2`` per feature; a covariance ``Sigma``
must satisfy ``Sigma >= F`` (``Sigma - F`` positive semi-definite) with
``F = diag(var_floor * delta**2)``, i.e. every eigenvalue of
``F^{-1/2} Sigma F^{-1/2}`` is at least 1.

Why this rule
-------------
* It stops collapse: a component sitting on one point has variance 0 and is
  held at ``var_floor * delta**2 > 0``.
* It binds on nothing else: two distinct values are at least ``delta_j``
  apart, so a component whose weight is shared by two values ``delta_j``
  apart, the smaller share ``q``, has variance ``q (1 - q) delta_j**2``; it
  reaches the default floor (``1e-6 delta_j**2``) only if ``q < 1e-6``, that
  is when all but a millionth of its weight sits on one value. In ``d``
  dimensions the same holds in every direction for a component whose points
  (at least ``d + 1``) are spread in every direction by at least the
  resolution; it binds when they collapse onto a point or a lower-dimensional
  set. The resolution does not depend on how far apart clusters are, so
  well-separated clusters never meet the floor (a floor relative to the
  data's total variance, as before, grows with the separation and did).
* It is affine-equivariant: under ``x -> a x + b`` every gap scales by
  ``|a|``, so the floor scales by ``a**2``; per feature, it also follows
  separate rescalings of the features.

``delta_j`` is computed from one sort of each column (``O(n log n)`` on
floats). It is never taken below ``eps * scale`` (float64 resolution at the
data's spread), which only matters for a constant column (no gap at all: every
component is degenerate there, and the floor keeps its covariance positive
definite) or data at the limit of float precision.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_EPS = float(np.finfo(float).eps)
#: a variance within this relative distance of the floor counts as "at the floor"
AT_FLOOR_RTOL = 1e-6
#: relative accuracy asked of a covariance's smallest eigenvalue (floor metric), see unresolved()
RESOLVE_RTOL = 1e-6
#: ulps of the largest eigenvalue lost by a scatter summed in float64
SUM_ULPS = 64.0


def column_resolution(X2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest non-zero gap and number of distinct values of each column.

    Parameters
    ----------
    X2 : ndarray of shape (n_samples, n_features)

    Returns
    -------
    delta : ndarray of shape (n_features,)
        Smallest positive difference between two values of the column (0 for
        a constant column).
    n_distinct : ndarray of shape (n_features,)
        Number of distinct values of the column.
    """
    d = X2.shape[1]
    delta = np.zeros(d)
    n_distinct = np.ones(d, dtype=np.int64)
    for j in range(d):
        gaps = np.diff(np.sort(X2[:, j]))
        pos = gaps[gaps > 0]
        if pos.size:
            delta[j] = pos.min()
            n_distinct[j] = pos.size + 1
    return delta, n_distinct


def n_distinct_rows(X2: np.ndarray) -> int:
    """Count the distinct rows, by per-column codes (no row-wise sort of the data).

    Each column is replaced by the index of its value among the column's
    distinct values; the codes of the columns are combined one column at a
    time and re-compressed, so they stay below ``n_samples``.
    """
    n, d = X2.shape
    codes = np.zeros(n, dtype=np.int64)
    for j in range(d):
        _, inv = np.unique(X2[:, j], return_inverse=True)
        codes = codes * (int(inv.max()) + 1) + inv.ravel()
        _, codes = np.unique(codes, return_inverse=True)
        codes = codes.ravel().astype(np.int64)
    return int(codes.max()) + 1


def resolution(X2: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature resolution ``delta`` used by the floor (guarded below by ``eps * scale``)."""
    delta, n_distinct = column_resolution(X2)
    return np.maximum(delta, _EPS * scale), n_distinct


def internal_floor(var_floor: float, delta: np.ndarray, scale: float) -> np.ndarray:
    """Return the floor ``var_floor * delta**2`` per feature, divided by ``scale**2``."""
    return float(var_floor) * (np.asarray(delta, dtype=float) / scale) ** 2


def _as_floor(floor, d: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(floor, dtype=float), (d,))


class Factors(NamedTuple):
    """Exact factors of the covariances, as the projection onto the floor produces them.

    Attributes
    ----------
    whiten : ndarray of shape (K, d) or (K, d, d)
        Inverse standard deviations (diagonal covariances) or matrices ``W_k``
        with ``u^T Sigma_k^{-1} u = |u @ W_k|^2``.
    logdet : ndarray of shape (K,)
        ``log det Sigma_k``.
    floor_ratio : ndarray of shape (K,)
        Smallest eigenvalue of ``F^{-1/2} Sigma_k F^{-1/2}`` (1 at the floor;
        ``inf`` without a floor).

    A covariance at the floor in one direction and wide in another has a
    large condition number; rebuilt from the dense matrix, its smallest
    eigenvalue would carry a relative error of ``eps * cond``, and since the
    log-likelihood has a non-zero slope along an active constraint, that error
    would show in the objective at first order (EM would look non-monotone).
    The factors keep the clipped eigenvalue exact.
    """

    whiten: np.ndarray
    logdet: np.ndarray
    floor_ratio: np.ndarray


def project(cov: np.ndarray, floor, kind: str, diagonal: bool) -> tuple[np.ndarray, Factors]:
    """Project covariances onto ``{Sigma : Sigma >= diag(floor)}`` respecting the structure.

    Parameters
    ----------
    cov : ndarray of shape (n_components, d, d)
    floor : float or ndarray of shape (d,)
        Lower bound on the variance of each feature (a scalar: the same for every feature).
    kind : {"full", "diag", "spherical", "tied"}
    diagonal : bool
        The covariances are diagonal (``diag``, ``spherical`` or ``d == 1``).

    Returns
    -------
    cov : ndarray of shape (n_components, d, d)
        ``diag``: each diagonal entry raised to its floor; ``spherical``: the
        common variance raised to the largest floor; ``full``/``tied``: with
        ``F = diag(floor)``, the eigenvalues of ``F^{-1/2} Sigma F^{-1/2}``
        raised to 1. For a Gaussian log-likelihood this is the exact
        maximiser under the constraint (the constrained problem is the
        unconstrained one after the linear change of variables
        ``x -> F^{-1/2} x``, where the constraint is the eigenvalue clip), so
        EM stays monotone, unlike adding a ridge. Returned unchanged (the
        same array) when nothing is clipped.
    factors : Factors
        Of the returned covariances, from the same decomposition.
    """
    K, d = cov.shape[:2]
    f = _as_floor(floor, d)
    floored = bool(np.any(f > 0))
    if diagonal:
        diag = np.einsum("kii->ki", cov)
        lo = f if kind != "spherical" else np.full(d, f.max())
        if floored and np.any(diag < lo):
            diag = np.maximum(diag, lo)
            cov = cov.copy()
            idx = np.arange(d)
            cov[:, idx, idx] = diag
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (diag / lo).min(axis=1) if floored else np.full(K, np.inf)
            return cov, Factors(1.0 / np.sqrt(diag), np.log(diag).sum(axis=1), ratio)
    s = 1.0 / np.sqrt(f) if floored else np.ones(d)  # every f > 0 (see resolution())
    vals, vecs = np.linalg.eigh(cov * s[:, None] * s[None, :])
    if not (floored and np.any(vals < 1.0)):
        return cov, _eig_factors(vals, vecs, s, floored)
    return from_whitened_eig(vals, vecs, f)


def _eig_factors(vals, vecs, s, floored) -> Factors:
    with np.errstate(divide="ignore", invalid="ignore"):
        whiten = s[None, :, None] * vecs / np.sqrt(vals)[:, None, :]
        logdet = np.log(vals).sum(axis=1) - 2.0 * np.log(s).sum()
    ratio = vals[:, 0] if floored else np.full(vals.shape[0], np.inf)
    return Factors(whiten, logdet, ratio)


def from_whitened_eig(vals: np.ndarray, vecs: np.ndarray, floor) -> tuple[np.ndarray, Factors]:
    """Covariances on the floor and their exact factors from a whitened eigen-decomposition.

    Parameters
    ----------
    vals : ndarray of shape (n_components, d)
        Eigenvalues, ascending, of ``F^{-1/2} Sigma F^{-1/2}`` (``F = diag(floor)``;
        the identity without a floor).
    vecs : ndarray of shape (n_components, d, d)
        The eigenvectors, as columns.
    floor : float or ndarray of shape (d,)

    Returns
    -------
    cov : ndarray of shape (n_components, d, d)
        ``F^{1/2} V max(Lambda, 1) V^T F^{1/2}``.
    factors : Factors
    """
    d = vals.shape[1]
    f = _as_floor(floor, d)
    floored = bool(np.any(f > 0))
    s = 1.0 / np.sqrt(f) if floored else np.ones(d)
    if floored:
        vals = np.maximum(vals, 1.0)
    cov = np.einsum("kij,kj,klj->kil", vecs, vals, vecs) / (s[:, None] * s[None, :])
    return cov, _eig_factors(vals, vecs, s, floored)


def unresolved(cov: np.ndarray, floor) -> np.ndarray:
    """Covariances formed from summed statistics that cannot resolve their thinnest direction.

    A scatter summed in float64 carries an absolute error of about
    ``SUM_ULPS * eps * lambda_max``; in the floor's metric (eigenvalues of
    ``F^{-1/2} Sigma F^{-1/2}``) the smallest eigenvalue, or the decision to
    clip it at 1, is trustworthy only when that error is below
    ``RESOLVE_RTOL * max(lambda_min, 1)`` (``lambda_min`` without a floor).
    A component stretched along a line (two points in the plane, points on
    a line, a correlation of 1 - 1e-10) fails this, and its covariance must
    be recomputed from the data (see :mod:`em._refine`).

    Parameters
    ----------
    cov : ndarray of shape (n_components, d, d)
        Before the floor's projection.
    floor : float or ndarray of shape (d,)

    Returns
    -------
    ndarray of bool, shape (n_components,)
    """
    K, d = cov.shape[:2]
    f = _as_floor(floor, d)
    floored = bool(np.any(f > 0))
    s = 1.0 / np.sqrt(f) if floored else np.ones(d)
    with np.errstate(invalid="ignore"):
        vals = np.linalg.eigvalsh(cov * s[:, None] * s[None, :])
    ref = np.maximum(vals[:, 0], 1.0) if floored else vals[:, 0]
    return SUM_ULPS * _EPS * vals[:, -1] > RESOLVE_RTOL * ref


def factorise(cov: np.ndarray, floor, diagonal: bool) -> Factors:
    """Factors of covariances given as dense matrices (starting values, fixed blocks)."""
    K, d = cov.shape[:2]
    f = _as_floor(floor, d)
    floored = bool(np.any(f > 0))
    if diagonal:
        diag = np.einsum("kii->ki", cov)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (diag / f).min(axis=1) if floored else np.full(K, np.inf)
            return Factors(1.0 / np.sqrt(diag), np.log(diag).sum(axis=1), ratio)
    chol = np.linalg.cholesky(cov)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    ratio = np.full(K, np.inf)
    if floored:
        s = 1.0 / np.sqrt(f)
        ratio = np.linalg.eigvalsh(cov * s[:, None] * s[None, :])[:, 0]
    return Factors(np.swapaxes(np.linalg.inv(chol), 1, 2), logdet, ratio)


def apply_floor(cov: np.ndarray, floor, kind: str) -> np.ndarray:
    """Project covariances onto the floor; see :func:`project` (dense result only)."""
    return project(cov, floor, kind, diagonal=kind in ("diag", "spherical"))[0]


def at_floor(factors: Factors) -> np.ndarray:
    """Components whose covariance touches the floor (smallest whitened eigenvalue ~ 1)."""
    return factors.floor_ratio <= 1.0 + AT_FLOOR_RTOL
