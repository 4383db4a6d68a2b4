"""Observed information of a Gaussian mixture by Louis' (1982) method.

Works on the internal (standardised) scale in the parameterisation of
:mod:`em._theta`, on a centred footing: every difference ``x_i - mu_k`` is
formed in data units from the exact means (then divided by the scale), so
the information is right at any offset and separation of the clusters.
Supported: free or fixed weights and means with any covariance structure
whose covariances are fixed, and free covariances for ``diag`` (1-D
``unequal`` included) and for 1-D ``equal`` (one shared sd).
"""

from __future__ import annotations

import numpy as np

from ._design import Design
from ._model import Params
from ._theta import Layout

CHUNK = 4096
_LOG_2PI = float(np.log(2.0 * np.pi))


def louis_supported(lay: Layout) -> bool:
    """Tell whether :func:`louis_information` handles the layout analytically."""
    return lay.cov_mode in (None, "diag") or (
        lay.cov_mode == "chol_tied" and lay.spec.n_features == 1)


def _log_joint(diff: np.ndarray, p: Params) -> np.ndarray:
    """``log w_k + log N(z_i | mu_k, Sigma_k)`` from the differences ``diff`` (n, K, d)."""
    K, d = p.means.shape
    L = np.linalg.cholesky(p.covariances)
    sol = np.stack([np.linalg.solve(L[k], diff[:, k].T).T for k in range(K)], axis=1)
    logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    with np.errstate(divide="ignore"):
        logw = np.log(p.weights)
    return logw - 0.5 * (d * _LOG_2PI + logdet + (sol**2).sum(axis=2))


def louis_information(design: Design, anchors: np.ndarray, p: Params,
                      lay: Layout) -> np.ndarray:
    """Observed information ``-d^2 l / d theta^2`` of the observed-data log-likelihood.

    Parameters
    ----------
    design : Design
        The data and the internal scale.
    anchors : ndarray of shape (n_components, n_features)
        The means in data units (exact); ``p.means`` is not read.
    p : Params
        Parameters (internal scale) at which the information is evaluated.
    lay : Layout
        Parameterisation (see :mod:`em._theta`).

    Returns
    -------
    ndarray of shape (p, p)

    Notes
    -----
    With ``a_ik = log w_k + log N(x_i | mu_k, Sigma_k)``, responsibilities
    ``r_ik``, the complete-data score of point ``i`` when it belongs to
    ``k`` is ``s_ik = grad a_ik`` and Louis' identity (exact at any
    ``theta``) reads::

        I_obs = sum_i sum_k r_ik (-hess a_ik)
                - sum_i [ sum_k r_ik s_ik s_ik^T - g_i g_i^T ],   g_i = sum_k r_ik s_ik

    i.e. the expected complete-data information minus the conditional
    covariance of the complete-data score (the missing information). The
    components of ``s_ik`` are ``delta_kj - w_j`` for ``eta_j``,
    ``Sigma_k^{-1}(x_i - mu_k)`` for ``mu_k``, ``(x_ij - mu_kj)^2 /
    sigma_kj^2 - 1`` for ``log sigma_kj`` (summed over the components for a
    shared sd). The expected complete-data information has blocks
    ``n (diag(w) - w w^T)`` (log-ratios), ``N_k Sigma_k^{-1}`` (means),
    ``2 sum_i r_ik (x_ij - mu_kj) / sigma_kj^2`` (mean, log-sd) and
    ``2 sum_i r_ik (x_ij - mu_kj)^2 / sigma_kj^2`` (log-sd).
    """
    if not louis_supported(lay):
        raise ValueError(f"Louis' method is not implemented for cov_mode={lay.cov_mode!r}.")
    n, d = design.n, design.d
    K = p.means.shape[0]
    inv_scale = 1.0 / design.scale
    P = lay.size
    w = p.weights
    prec = np.linalg.inv(p.covariances)
    var = np.einsum("kii->ki", p.covariances)  # (K, d)
    eyeK = np.eye(K)
    E = np.zeros((P, P))
    A = np.zeros((P, P))  # sum_i sum_k r_ik s s^T - g g^T
    Nk = np.zeros(K)
    S1 = np.zeros((K, d))  # sum_i r_ik (x - mu) / var
    S2 = np.zeros((K, d))  # sum_i r_ik (x - mu)^2 / var
    for start in range(0, n, CHUNK):
        x = design.X[start : start + CHUNK]
        c = x.shape[0]
        diff = (x[:, None, :] - anchors[None]) * inv_scale  # (c, K, d), centred on each mean
        lj = _log_joint(diff, p)
        lj -= lj.max(axis=1, keepdims=True)
        r = np.exp(lj)
        r /= r.sum(axis=1, keepdims=True)
        S = np.zeros((c, K, P))
        if lay.weights is not None:
            S[:, :, lay.weights] = (eyeK - w)[:, : K - 1]
        if lay.means is not None:
            sc = np.einsum("kab,ckb->cka", prec, diff)
            blk = np.einsum("cka,kl->ckla", sc, eyeK).reshape(c, K, K * d)
            S[:, :, lay.means] = blk
        u = diff**2 / var  # (c, K, d)
        if lay.cov_mode == "diag":
            S[:, :, lay.cov] = np.einsum("cka,kl->ckla", u - 1.0, eyeK).reshape(c, K, K * d)
        elif lay.cov_mode == "chol_tied":
            S[:, :, lay.cov] = u - 1.0
        g = np.einsum("ck,ckp->cp", r, S)
        A += np.einsum("ck,ckp,ckq->pq", r, S, S) - g.T @ g
        Nk += r.sum(axis=0)
        S1 += np.einsum("ck,cka->ka", r, diff / var)
        S2 += np.einsum("ck,cka->ka", r, u)
    if lay.weights is not None:
        sw = lay.weights
        E[sw, sw] = n * (np.diag(w) - np.outer(w, w))[: K - 1, : K - 1]
    if lay.means is not None:
        sm = lay.means
        E[sm, sm] = np.einsum("k,kab,kl->kalb", Nk, prec, eyeK).reshape(K * d, K * d)
    if lay.cov_mode == "diag":
        sc_ = lay.cov
        E[sc_, sc_] = np.diag(2.0 * S2.ravel())
        if lay.means is not None:
            cross = np.diag(2.0 * S1.ravel())
            E[lay.means, sc_] = cross
            E[sc_, lay.means] = cross
    elif lay.cov_mode == "chol_tied":
        sc_ = lay.cov
        E[sc_, sc_] = 2.0 * S2.sum()
        if lay.means is not None:
            E[lay.means, sc_] = 2.0 * S1.ravel()[:, None]
            E[sc_, lay.means] = 2.0 * S1.ravel()[None, :]
    info = E - A
    return 0.5 * (info + info.T)
