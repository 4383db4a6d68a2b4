"""Closed-form log marginal likelihood of one Gaussian under the conjugate prior (K = 1).

With one component the weight is 1 and :class:`em.Prior` is conjugate, so
``log p(x) = log int N(x | mu, Sigma) p(mu, Sigma) d(mu, Sigma)`` has a
closed form: Normal-Inverse-Gamma for 1-D data and per feature for ``diag``,
Normal-Inverse-Wishart for ``full``. It is the exact reference the SMC
estimates of :func:`mixcompare.comparisons.choosek.smc` are checked against.

References
----------
Murphy, K. P. (2007). Conjugate Bayesian analysis of the Gaussian
distribution. Technical note, sections 6 and 9 (eqs. 95 and 266).
"""

from __future__ import annotations

import numpy as np
from mixcompare import em
from scipy.special import gammaln, multigammaln

__all__ = ["log_marginal_one_gaussian", "nig_log_marginal", "niw_log_marginal"]


def nig_log_marginal(x: np.ndarray, m0: float, kappa: float, a: float, b: float) -> float:
    """Log marginal likelihood of 1-D ``x`` (shape (n,)) under ``N(mu, s2)``, NIG(m0, kappa, a, b).

    ``mu | s2 ~ N(m0, s2 / kappa)``, ``s2 ~ InvGamma(a, b)``.
    """
    n = x.shape[0]
    xbar = x.mean()
    kn, an = kappa + n, a + n / 2
    bn = b + 0.5 * np.sum((x - xbar) ** 2) + kappa * n * (xbar - m0) ** 2 / (2 * kn)
    return float(gammaln(an) - gammaln(a) + a * np.log(b) - an * np.log(bn)
                 + 0.5 * np.log(kappa / kn) - 0.5 * n * np.log(2 * np.pi))


def niw_log_marginal(X: np.ndarray, m0: np.ndarray, kappa: float, nu: float,
                     psi: np.ndarray) -> float:
    """Log marginal likelihood of ``X`` (shape (n, d)) under ``N(mu, Sigma)``, NIW prior.

    ``mu | Sigma ~ N(m0, Sigma / kappa)``, ``Sigma ~ InvWishart(nu, psi)``.
    """
    n, d = X.shape
    xbar = X.mean(axis=0)
    C = X - xbar
    kn, nn = kappa + n, nu + n
    dm = (xbar - m0)[:, None]
    psin = psi + C.T @ C + kappa * n / kn * (dm @ dm.T)
    return float(multigammaln(nn / 2, d) - multigammaln(nu / 2, d)
                 + nu / 2 * np.linalg.slogdet(psi)[1] - nn / 2 * np.linalg.slogdet(psin)[1]
                 + d / 2 * np.log(kappa / kn) - n * d / 2 * np.log(np.pi))


def log_marginal_one_gaussian(X, prior: em.Prior, structure: str | None = None) -> float:
    """Log marginal likelihood of one Gaussian component under ``prior``.

    Parameters
    ----------
    X : array_like of shape (n,) or (n, d)
    prior : em.Prior
    structure : str, optional
        As :func:`em.fit`; with one component ``equal``/``unequal`` (1-D) and
        ``tied``/``full`` (d > 1) are the same model. ``spherical`` has no
        closed form here (ValueError).

    Returns
    -------
    float
    """
    X, spec = em.model_spec(X, 1, structure=structure)
    if spec.one_d:
        return nig_log_marginal(X, float(prior.m0), prior.kappa, prior.a, float(prior.b))
    d = X.shape[1]
    m0 = np.broadcast_to(np.asarray(prior.m0, dtype=float), (d,))
    if spec.kind in ("full", "tied"):
        return niw_log_marginal(X, m0, prior.kappa, prior.nu, prior.psi)
    if spec.kind == "diag":
        b = np.broadcast_to(np.asarray(prior.b, dtype=float), (d,))
        return sum(nig_log_marginal(X[:, j], m0[j], prior.kappa, prior.a, b[j]) for j in range(d))
    raise ValueError("the closed-form marginal likelihood covers the 1-D, diag, tied and full "
                     "structures; spherical shares one variance across features (no closed form "
                     "here): use SMC.")
