"""MAP-EM: the M-step as the closed-form conditional mode under the conjugate prior."""

from __future__ import annotations

import numpy as np

from ._design import moments, scatter
from ._model import Params
from ._mstep import Update, covariance_update


def map_m_step(stats: np.ndarray, prev: Params, *, kind: str, fixed: dict, floor,
               prior, m0_offsets: np.ndarray) -> Update:
    """Maximise the expected complete-data log posterior given E-step statistics.

    Parameters
    ----------
    stats : ndarray of shape (n_components, p)
        Responsibility-weighted sufficient statistics, centred on the anchors
        (see :func:`em._estep.e_step`).
    prev : Params
        Current parameters (used for fixed blocks).
    kind : {"diag", "tied", "full"}
        Internal structure ("tied" with d = 1 is the 1-D ``equal`` structure).
    fixed : dict
        Fixed blocks, returned unchanged; they carry no prior.
    floor : float or ndarray of shape (n_features,)
        Variance floor (rarely active: the Inverse-Gamma keeps variances positive).
    prior : em.Prior
        On the internal scale (``b`` and ``psi`` divided by ``scale**2``); its
        ``m0`` is not read, see ``m0_offsets``.
    m0_offsets : ndarray of shape (n_components, n_features)
        The prior centre relative to each anchor, ``(m0 - anchor_k) / scale``.

    Returns
    -------
    Update
        New means as offsets from the anchors.

    Notes
    -----
    Everything is relative to the anchors, so nothing cancels at large
    offsets. With ``N_k``, ``S_k = sum_i r_ik x_i`` and the scatter ``W_k``
    about the new mean:

    * ``w_k = (N_k + alpha_k - 1) / (n + sum alpha - K)``;
    * ``mu_k = (S_k + kappa m0) / (N_k + kappa)`` (whatever the variance);
    * unequal/diag: ``sigma2_k = (W_k + kappa (mu_k - m0)^2 + 2 b) / (N_k + 2 a + 3)``;
    * equal: ``sigma2 = (sum_k W_k + kappa sum_k (mu_k - m0)^2 + 2 b) / (n + K + 2 a + 2)``;
    * full: ``Sigma_k = (W_k + kappa dd^T + psi) / (N_k + nu + d + 2)``, ``d = mu_k - m0``.

    Without a free mean the mean-prior terms leave the variance update (one
    fewer in the denominator per component and no ``kappa`` term). These
    are joint modes: the mean update does not depend on the variance, so one
    conditional step each is exact (no ECM iteration is needed).
    """
    K, d = prev.means.shape
    Nk, Sx, Sxx = moments(stats, d)
    n = Nk.sum()
    m0 = np.asarray(m0_offsets, dtype=float)
    if "weights" in fixed:
        weights = fixed["weights"]
    else:
        alpha = np.broadcast_to(np.asarray(prior.alpha, dtype=float), (K,))
        weights = (Nk + alpha - 1) / (n + alpha.sum() - K)
    means_free = "means" not in fixed
    if means_free:
        means = (Sx + prior.kappa * m0) / (Nk[:, None] + prior.kappa)
    else:
        means = np.zeros_like(Sx)  # a fixed mean is its anchor
    diagonal = kind in ("diag", "spherical") or d == 1
    if "covariances" in fixed:
        return Update(weights, means, *covariance_update(fixed["covariances"], floor, kind,
                                                        fixed, diagonal))
    W = scatter(Nk, Sx, Sxx, means)
    W = 0.5 * (W + np.swapaxes(W, 1, 2))
    dev = means - m0
    extra = 1.0 if means_free else 0.0
    if kind == "full":
        num = W + prior.psi
        if means_free:
            num = num + prior.kappa * np.einsum("ki,kj->kij", dev, dev)
        cov = num / (Nk + prior.nu + d + 1 + extra)[:, None, None]
    else:
        b = np.broadcast_to(np.asarray(prior.b, dtype=float), (d,))
        wdiag = np.einsum("kii->ki", W)
        pen = prior.kappa * dev**2 if means_free else np.zeros_like(dev)
        if kind == "tied":
            var = (wdiag.sum(axis=0) + pen.sum(axis=0) + 2 * b) / (n + extra * K + 2 * prior.a + 2)
            var = np.broadcast_to(var, (K, d))
        else:
            var = (wdiag + pen + 2 * b) / (Nk[:, None] + 2 * prior.a + 2 + extra)
        cov = var[:, :, None] * np.eye(d)
    return Update(weights, means, *covariance_update(cov, floor, kind, fixed, diagonal))
