"""MAP-EM: the M-step as the closed-form conditional mode under the conjugate prior."""

from __future__ import annotations

import numpy as np

from ._design import moments, scatter
from ._model import Params
from ._mstep import Update, covariance_update


def map_m_step(stats: np.ndarray, prev: Params, *, kind: str, one_d: bool, fixed: dict, floor,
               prior, m0_offsets: np.ndarray) -> Update:
    """Maximise the expected complete-data log posterior given E-step statistics.

    Parameters
    ----------
    stats : ndarray of shape (n_components, p)
        Responsibility-weighted sufficient statistics, centred on the anchors
        (see :func:`em._estep.e_step`).
    prev : Params
        Current parameters (used for fixed blocks).
    kind : {"diag", "spherical", "tied", "full"}
        Internal structure ("tied" with 1-D data is the 1-D ``equal`` structure).
    one_d : bool
        The data are 1-D (``Spec.one_d``): ``tied`` then has one shared
        variance under the Inverse-Gamma, otherwise one shared matrix under
        the Inverse-Wishart (as :meth:`em.Prior.log_density`).
    fixed : dict
        Fixed blocks, returned unchanged; they carry no prior.
    floor : float or ndarray of shape (n_features,)
        Variance floor (rarely active: the prior keeps variances positive).
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
    offsets. With ``N_k``, ``S_k = sum_i r_ik u_ik`` (``u_ik`` the point
    relative to anchor ``k``), ``n = sum_k N_k``, the scatter ``W_k`` about
    the new mean, ``dev_k = mu_k - m0`` and ``e = 1`` when the means are
    free (``e = 0`` otherwise: no mean-prior term)::

        w_k      = (N_k + alpha_k - 1) / (n + sum alpha - K)
        mu_k     = (S_k + kappa m0) / (N_k + kappa)
        diag     sigma2_kj = (W_kjj + e kappa dev_kj^2 + 2 b_j) / (N_k + 2 a + 2 + e)
        equal    sigma2 = (sum_k W_k + e kappa sum_k dev_k^2 + 2 b) / (n + e K + 2 a + 2)
        spherical sigma2_k = (tr W_k + e kappa |dev_k|^2 + 2 sum_j b_j)
                             / (d (N_k + 2 a + 2 + e))
        full     Sigma_k = (W_k + e kappa dev_k dev_k^T + psi) / (N_k + nu + d + 1 + e)
        tied     Sigma = (sum_k W_k + e kappa sum_k dev_k dev_k^T + psi)
                         / (n + nu + d + 1 + e K)

    Each covariance update maximises ``-(c / 2) log|Sigma| - tr(Sigma^{-1} M) / 2``
    with ``M`` the numerator and ``c`` the denominator: for ``tied`` the data
    give ``n``, the Inverse-Wishart ``nu + d + 1`` and the ``K`` means'
    Normal priors ``N(m0, Sigma / kappa)`` one each; for ``spherical`` the
    ``d`` features of each point give ``d N_k``, the ``d`` Inverse-Gamma
    factors ``prod_j IG(sigma2_k | a, b_j)`` give ``2 d (a + 1)`` and the
    ``d`` coordinates of the mean ``d``. The projection onto the variance
    floor is the exact maximiser under the floor of this objective (see
    :func:`em._floor.project`).

    These are joint modes: every mean's prior covariance is proportional to
    its component's covariance, so the mean update does not depend on the
    variance, and one conditional step each is exact (no ECM iteration is
    needed). The expected complete-data log posterior is maximised exactly,
    so the log posterior never decreases.
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
    if kind == "full" or (kind == "tied" and not one_d):
        pen = (prior.kappa * np.einsum("ki,kj->kij", dev, dev) if means_free
               else np.zeros_like(W))
        if kind == "tied":  # one shared matrix: pooled scatters, one psi, every count
            shared = ((W.sum(axis=0) + pen.sum(axis=0) + prior.psi)
                      / (n + prior.nu + d + 1 + extra * K))
            cov = np.broadcast_to(shared, (K, d, d)).copy()
        else:
            cov = (W + pen + prior.psi) / (Nk + prior.nu + d + 1 + extra)[:, None, None]
    else:
        b = np.broadcast_to(np.asarray(prior.b, dtype=float), (d,))
        wdiag = np.einsum("kii->ki", W)
        pen = prior.kappa * dev**2 if means_free else np.zeros_like(dev)
        if kind == "tied":
            var = (wdiag.sum(axis=0) + pen.sum(axis=0) + 2 * b) / (n + extra * K + 2 * prior.a + 2)
            var = np.broadcast_to(var, (K, d))
        elif kind == "spherical":  # one variance per component, d Inverse-Gamma factors
            var = ((wdiag.sum(axis=1) + pen.sum(axis=1) + 2 * b.sum())
                   / (d * (Nk + 2 * prior.a + 2 + extra)))
            var = np.broadcast_to(var[:, None], (K, d))
        else:
            var = (wdiag + pen + 2 * b) / (Nk[:, None] + 2 * prior.a + 2 + extra)
        cov = var[:, :, None] * np.eye(d)
    return Update(weights, means, *covariance_update(cov, floor, kind, fixed, diagonal))
