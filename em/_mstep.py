"""M-step of EM from statistics centred on the anchors (see :mod:`em._design`).

The M-step returns each new mean as an *offset* from its anchor, so the
driver moves the anchor by ``offset * scale`` and the next E-step
(:mod:`em._estep`) is again centred on the current means (the per-component
shift is the previous iterate's mean, as in a two-pass scatter at
convergence). The covariances go through the variance floor of
:mod:`em._floor`, which also gives their exact factors.

Every function here is pure: it takes arrays and returns new ones.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._design import moments, scatter
from ._floor import Factors, factorise, project, unresolved

__all__ = ["Update", "covariance_update", "m_step"]


class Update(NamedTuple):
    """Result of an M-step.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    offsets : ndarray of shape (n_components, n_features)
        New mean minus the anchor, on the internal scale (0 for fixed means and
        for components that received no data).
    covariances : ndarray of shape (n_components, n_features, n_features)
        Internal scale.
    factors : Factors
        Exact factors of ``covariances`` (see :class:`em._floor.Factors`).
    unresolved : ndarray of bool, shape (n_components,), optional
        Covariances whose thinnest direction the summed statistics cannot
        resolve (see :func:`em._floor.unresolved`); the engine recomputes them
        from the data (:mod:`em._refine`). None: nothing to recompute.
    """

    weights: np.ndarray
    offsets: np.ndarray
    covariances: np.ndarray
    factors: Factors
    unresolved: np.ndarray | None = None


# ------------------------------------------------------------------- M-step
def covariance_update(cov: np.ndarray, floor, kind: str, fixed: dict,
                      diagonal: bool) -> tuple[np.ndarray, Factors]:
    """Dense covariances and their exact factors after the floor (fixed blocks factorised)."""
    if "covariances" in fixed:
        return cov, factorise(cov, floor, diagonal)
    return project(cov, floor, kind, diagonal)


def m_step(stats: np.ndarray, prev, *, kind: str, fixed: dict, floor) -> Update:
    """Maximisation step from statistics centred on the anchors.

    Parameters
    ----------
    stats : ndarray of shape (n_components, p)
        Centred on the current anchors (see :func:`e_step`).
    prev : Params
        Current parameters (internal scale): used for fixed blocks and for
        components that received no data (empty clusters keep their
        parameters, weight 0).
    kind : {"full", "diag", "spherical", "tied"}
    fixed : dict
        Fixed blocks (internal scale); they are returned unchanged (a fixed
        mean is the anchor itself, offset 0).
    floor : float or ndarray of shape (n_features,)
        Variance floor per feature, internal scale (see :mod:`em._floor`).

    Notes
    -----
    With ``N_k = sum_i r_ik`` and ``u_ik = (x_i - anchor_k) / scale``:
    ``w_k = N_k / n``, offset ``delta_k = sum_i r_ik u_ik / N_k`` (new mean
    ``anchor_k + delta_k scale``), ``Sigma_k = sum_i r_ik (u_ik - delta_k)
    (u_ik - delta_k)^T / N_k`` (full); diag keeps the diagonal, spherical its
    mean, tied pools the scatters over components and divides by ``n``.
    """
    d = prev.means.shape[1]
    Nk, Sx, Sxx = moments(stats, d)
    n = Nk.sum()
    empty = Nk <= 1e-12 * max(n, 1.0)
    safeN = np.where(empty, 1.0, Nk)
    weights = fixed["weights"] if "weights" in fixed else Nk / n
    if "means" in fixed:
        offsets = np.zeros_like(Sx)
    else:
        offsets = np.where(empty[:, None], 0.0, Sx / safeN[:, None])
    diagonal = kind in ("diag", "spherical") or d == 1
    if "covariances" in fixed:
        return Update(weights, offsets, *covariance_update(fixed["covariances"], floor, kind,
                                                          fixed, diagonal))
    S = scatter(Nk, Sx, Sxx, offsets)
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    if kind == "tied":
        pooled = S.sum(axis=0) / n
        cov = np.broadcast_to(pooled, S.shape).copy()
    else:
        cov = S / safeN[:, None, None]
        if kind == "diag":
            cov = np.einsum("kii->ki", cov)[:, :, None] * np.eye(d)
        elif kind == "spherical":
            cov = (np.einsum("kii->k", cov) / d)[:, None, None] * np.eye(d)
        cov = np.where(empty[:, None, None], prev.covariances, cov)
    flags = None
    if not diagonal:
        flags = unresolved(cov, floor) & ~empty
    return Update(weights, offsets, *project(cov, floor, kind, diagonal), flags)
