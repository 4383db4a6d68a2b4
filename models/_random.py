"""Forward samplers of the model's custom distributions, for PyMC's predictive functions.

``pm.sample_prior_predictive`` and ``pm.sample_posterior_predictive`` draw
each variable from its distribution's ``random``; the Inverse-Wishart
covariances, the ``spherical`` variance and the multivariate mixture of
:mod:`.build` are ``pm.CustomDist`` with a log density only, so each gets its
sampler here (PyMC's ``CustomDist`` signature: ``random(*params, rng, size)``).
Each is checked against its log density in the tests (moments and
Kolmogorov-Smirnov).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _size(size) -> tuple:
    return () if size is None else tuple(np.atleast_1d(size).astype(int))


def inv_wishart_random(nu: float, psi: np.ndarray):
    """``random(psi, rng, size)`` of ``InvWishart(nu, psi)``: matrices of shape size + (d, d).

    The scale is the prior's ``psi`` (the parameter PyMC passes is ``psi``
    broadcast over the batch shape, which the draws take when ``size`` is None).
    """
    psi = np.asarray(psi, dtype=float)

    def random(psi_b, rng=None, size=None):
        shape = _size(size) if size is not None else np.shape(psi_b)[:-2]
        n = int(np.prod(shape)) if shape else 1
        draws = stats.invwishart.rvs(df=nu, scale=psi, size=n, random_state=rng)
        return np.reshape(draws, tuple(shape) + psi.shape)

    return random


def inv_gammas_random(a: float, b: np.ndarray):
    """``random(a, rng, size)`` of the ``spherical`` variance.

    Its density ``prod_j IG(s | a, b_j)`` is proportional to
    ``s^{-d (a + 1)} exp(-sum_j b_j / s)``: an Inverse-Gamma with shape
    ``d (a + 1) - 1`` and scale ``sum_j b_j``.
    """
    b = np.asarray(b, dtype=float)
    shape_ig, scale = b.size * (a + 1) - 1, float(b.sum())

    def random(a_b, rng=None, size=None):
        shape = _size(size) if size is not None else np.shape(a_b)
        return stats.invgamma.rvs(shape_ig, scale=scale, size=tuple(shape) or None,
                                  random_state=rng)

    return random


def mixture_random(weights, means, cov_or_var, rng=None, size=None):
    """Draw observations of shape size + (d,) from a Gaussian mixture.

    weights (..., K); means (..., K, d); ``cov_or_var`` (..., K, d, d)
    covariances or (..., K, d) variances (diagonal); batch dimensions ``...``
    broadcast against ``size``. A component per draw from ``weights``
    (inverse CDF), then a normal draw from it (through the Cholesky factor of
    its covariance).
    """
    rng = np.random.default_rng(rng)
    weights, means = np.asarray(weights, float), np.asarray(means, float)
    cov = np.asarray(cov_or_var, float)
    full = cov.ndim - means.ndim == 1
    K, d = means.shape[-2:]
    batch = np.broadcast_shapes(weights.shape[:-1], means.shape[:-2],
                                cov.shape[:-3] if full else cov.shape[:-2])
    shape = _size(size) if size is not None else batch
    n = int(np.prod(shape)) if shape else 1
    w = np.broadcast_to(weights, tuple(shape) + (K,)).reshape(n, K)
    mu = np.broadcast_to(means, tuple(shape) + (K, d)).reshape(n, K, d)
    cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    z = np.minimum((rng.random((n, 1)) > cdf).sum(axis=1), K - 1)
    eps = rng.standard_normal((n, d))
    rows = np.arange(n)
    if full:
        chol = np.linalg.cholesky(np.broadcast_to(cov, tuple(shape) + (K, d, d)).reshape(
            n, K, d, d)[rows, z])
        x = mu[rows, z] + np.einsum("nij,nj->ni", chol, eps)
    else:
        var = np.broadcast_to(cov, tuple(shape) + (K, d)).reshape(n, K, d)[rows, z]
        x = mu[rows, z] + np.sqrt(var) * eps
    return x.reshape(tuple(shape) + (d,))
