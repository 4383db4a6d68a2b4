"""Exact covariances for components the summed statistics cannot resolve.

The E-step sums ``r_ik u_ik u_ik^T`` in float64, so a scatter carries an
absolute error of a few ulps of its largest eigenvalue. For a component
stretched along a line or a plane (two points in the plane; points on a line;
a correlation within 1e-10 of 1) the smallest eigenvalue, in the variance
floor's metric, is then lost in that error, and so is the decision to clip it
at the floor: the M-step may return a covariance whose likelihood is *below*
the previous one, and EM is no longer monotone (seen: a decrease of 4.9 in
the log-likelihood of a 2-point component in the plane).

For those components only (:func:`em._floor.unresolved`), the M-step's
covariance is recomputed here from the data: with the responsibilities of the
current E-step, the rows ``sqrt(r_ik) F^{-1/2} (u_ik - delta_k)`` are
decomposed by a singular value decomposition, whose singular values carry an
error of a few ulps of the *largest singular value*, i.e. the square root of
the scatter's condition number instead of the condition number itself. The
eigenvalues are then clipped at the floor exactly as in
:func:`em._floor.project`, so the constrained maximiser is the same, only
computed accurately. Cost: one pass over the data and an ``(n, d)`` SVD per
such component, only in the iterations that need it.

Every function here is pure: it takes arrays and returns new ones.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._design import Components, Design
from ._estep import log_prob
from ._floor import Factors, from_whitened_eig
from ._mstep import Update

__all__ = ["responsibilities", "refine"]


def responsibilities(design: Design, comp: Components, hard: bool) -> np.ndarray:
    """Responsibilities (soft) or one-hot labels (hard) at ``comp``, shape (n, K)."""
    K = comp.anchors.shape[0]
    out = np.zeros((design.n, K))
    for start, stop, lp in log_prob(design, comp):
        if hard:
            out[np.arange(start, stop), lp.argmax(axis=1)] = 1.0
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start:stop] = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    return out


def _whitened_rows(design: Design, anchor: np.ndarray, offset: np.ndarray, r: np.ndarray,
                   s: np.ndarray) -> np.ndarray:
    """``sqrt(r_i) F^{-1/2} ((x_i - anchor) / scale - offset)``, shape (n, d)."""
    D = (design.X - anchor) * (1.0 / design.scale) - offset
    return D * s * np.sqrt(r)[:, None]


def _eig_from_rows(A: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues and eigenvectors of ``A^T A / total`` from the SVD of ``A``."""
    _, sv, vt = np.linalg.svd(A, full_matrices=False)
    order = np.argsort(sv)
    return sv[order] ** 2 / total, vt[order].T


def refine(design: Design, comp: Components, upd: Update, *, kind: str, hard: bool,
           floor: np.ndarray) -> Update:
    """Recompute the covariances flagged ``upd.unresolved`` from the data.

    Parameters
    ----------
    design : Design
    comp : Components
        The parameters whose E-step gave the statistics of ``upd`` (the
        responsibilities are recomputed at them).
    upd : Update
        The M-step's result; its weights and offsets are kept.
    kind : {"full", "tied"}
    hard : bool
        Classification EM (one-hot labels) instead of responsibilities.
    floor : ndarray of shape (n_features,)
        Variance floor, internal scale.

    Returns
    -------
    Update
        With the flagged covariances (every one, for ``tied``) and their
        factors replaced, and ``unresolved`` cleared.

    Notes
    -----
    For component ``k``, ``A_k`` has rows ``sqrt(r_ik) F^{-1/2}(u_ik -
    delta_k)``; with ``A_k = U S V^T``, the whitened scatter is ``V (S^2 /
    N_k) V^T`` (``tied``: the rows of every component stacked, divided by
    ``n``); the eigenvalues are clipped at 1 (:func:`em._floor.from_whitened_eig`).
    """
    K, d = comp.anchors.shape
    R = responsibilities(design, comp, hard)
    s = 1.0 / np.sqrt(floor) if np.any(floor > 0) else np.ones(d)
    cov = upd.covariances.copy()
    whiten = upd.factors.whiten.copy()
    logdet = upd.factors.logdet.copy()
    ratio = upd.factors.floor_ratio.copy()
    if kind == "tied":
        rows = [_whitened_rows(design, comp.anchors[k], upd.offsets[k], R[:, k], s)
                for k in range(K)]
        vals, vecs = _eig_from_rows(np.concatenate(rows), float(R.sum()))
        groups = [(np.arange(K), vals, vecs)]
    else:
        groups = []
        for k in np.flatnonzero(upd.unresolved):
            A = _whitened_rows(design, comp.anchors[k], upd.offsets[k], R[:, k], s)
            vals, vecs = _eig_from_rows(A, float(R[:, k].sum()))
            groups.append(([k], vals, vecs))
    for ks, vals, vecs in groups:
        c, f = from_whitened_eig(vals[None], vecs[None], floor)
        cov[ks], whiten[ks], logdet[ks], ratio[ks] = c[0], f.whiten[0], f.logdet[0], \
            f.floor_ratio[0]
    return Update(upd.weights, upd.offsets, cov, Factors(whiten, logdet, ratio), None)
