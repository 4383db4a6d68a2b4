"""Building blocks of the PyMC mixture model: log densities, the ordering transform, modes.

The mixture's log density with the labels summed out (diagonal and full
covariances, Cholesky-based), the Inverse-Wishart and Inverse-Gamma log
densities that make the PyMC prior equal :class:`em.Prior`, the transform
that orders components by their first mean coordinate, and the prior modes
used as starting values. :mod:`.build` assembles them into the model.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import Transform

_LOG_2PI = float(np.log(2 * np.pi))


def _diag_mixture_logp(value, weights, means, variances):
    """Log density of observations under a mixture with diagonal covariances.

    value (..., d); weights (K,); means, variances (K, d). Labels summed out.
    """
    diff = value[..., None, :] - means
    comp = -0.5 * pt.sum(_LOG_2PI + pt.log(variances) + diff**2 / variances, axis=-1)
    return pm.math.logsumexp(pt.log(weights) + comp, axis=-1, keepdims=False)


def _inv_chol_logdet(cov):
    """Return ``L^{-1}`` and ``log det`` of SPD matrices ``cov`` (..., d, d), by Cholesky.

    Under the Cholesky-based transform of the covariances, PyTensor rewrites
    ``cholesky(L @ L.T)`` to ``L``, so no decomposition is computed.
    """
    chol = pt.linalg.cholesky(cov)
    d = cov.type.shape[-1]
    inv = pt.linalg.solve_triangular(chol, pt.broadcast_to(pt.eye(d), chol.shape), lower=True)
    logdet = 2.0 * pt.sum(pt.log(pt.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return inv, logdet


def _full_mixture_logp(value, weights, means, covariances):
    """Log density of observations under a mixture with full covariances (Cholesky-based).

    value (n, d); weights (K,); means (K, d); covariances (K, d, d). Labels summed out.
    """
    inv, logdet = _inv_chol_logdet(covariances)  # (K, d, d), (K,)
    diff = value[..., None, :] - means  # (n, K, d)
    z = pt.sum(inv * diff[..., None, :], axis=-1)  # L_k^{-1} (x_i - mu_k): (n, K, d)
    d = covariances.type.shape[-1]
    comp = -0.5 * (d * _LOG_2PI + logdet + pt.sum(z**2, axis=-1))
    return pm.math.logsumexp(pt.log(weights) + comp, axis=-1, keepdims=False)


def _inv_wishart_logp_fn(nu: float, psi: np.ndarray):
    """``logp(value)`` of ``InvWishart(nu, psi)`` for SPD matrices ``value`` (..., d, d).

    ``nu/2 log|psi| - nu d/2 log 2 - log Gamma_d(nu/2) - (nu + d + 1)/2 log|S|
    - tr(psi S^{-1})/2``, as :meth:`em.Prior.log_density`.
    """
    from scipy.special import multigammaln

    d = psi.shape[0]
    c_psi = np.linalg.cholesky(psi)
    const = (0.5 * nu * np.linalg.slogdet(psi)[1] - 0.5 * nu * d * np.log(2.0)
             - multigammaln(nu / 2, d))

    def logp(value, _psi):
        inv, logdet = _inv_chol_logdet(value)
        tr = pt.sum((inv @ c_psi) ** 2, axis=(-2, -1))  # tr(psi S^{-1}) = |L^{-1} C|^2
        return const - 0.5 * (nu + d + 1) * logdet - 0.5 * tr

    return logp


def _inv_gammas_logp_fn(a: float, b: np.ndarray):
    """``logp(value)`` of a per-component variance under one Inverse-Gamma(a, b_j) per feature.

    The ``spherical`` prior of :meth:`em.Prior.log_density`: each component's
    single variance enters the Inverse-Gamma density of every feature.
    """
    from scipy.special import gammaln

    b = np.asarray(b, dtype=float)
    const = float(np.sum(a * np.log(b) - gammaln(a)))

    def logp(value, _a):
        return const - b.size * (a + 1) * pt.log(value) - float(b.sum()) / value

    return logp


class _OrderedFirstColumn(Transform):
    """Order the rows of a (K, d) matrix by their first column (the other columns are free).

    Unconstrained: ``y[0, 0] = x[0, 0]``, ``y[k, 0] = log(x[k, 0] - x[k-1, 0])``,
    ``y[:, 1:] = x[:, 1:]``; the log-Jacobian is ``sum_k y[k, 0]`` for k >= 1.
    """

    name = "ordered_first_column"
    ndim_supp = 2

    def backward(self, value, *inputs):
        col = pt.concatenate([value[..., :1, 0], pt.exp(value[..., 1:, 0])], axis=-1)
        return pt.set_subtensor(value[..., :, 0], pt.cumsum(col, axis=-1))

    def forward(self, value, *inputs):
        col = value[..., :, 0]
        y0 = pt.concatenate([col[..., :1], pt.log(col[..., 1:] - col[..., :-1])], axis=-1)
        return pt.set_subtensor(value[..., :, 0], y0)

    def log_jac_det(self, value, *inputs):
        return pt.sum(value[..., 1:, 0], axis=-1)


def _iw_mode(nu: float, psi: np.ndarray):
    """``support_point`` of the Inverse-Wishart: its mean ``psi / (nu - d - 1)`` (else its mode).

    The mean, as for the Inverse-Gamma variances, where it exists (``nu > d + 1``).
    """
    d = psi.shape[0]
    mode = np.asarray(psi, dtype=float) / (nu - d - 1 if nu > d + 1 else nu + d + 1)

    def support_point(rv, size, _psi):
        return pt.broadcast_to(pt.as_tensor(mode), rv.shape)

    return support_point


def _ig_sum_mode(a: float, b: np.ndarray):
    """``support_point`` of the ``spherical`` variance: the mode ``sum b / (d (a + 1))``."""
    mode = float(np.sum(b)) / (b.size * (a + 1))

    def support_point(rv, size, _a):
        return pt.full(rv.shape, mode)

    return support_point
