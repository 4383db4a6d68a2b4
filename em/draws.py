"""Component log-densities for many parameter draws at once (posterior draws, restarts)."""

from __future__ import annotations

import numpy as np

__all__ = ["draws_log_density"]

_LOG_2PI = float(np.log(2 * np.pi))


def draws_log_density(X2: np.ndarray, weights: np.ndarray, means: np.ndarray,
                      variances: np.ndarray | None = None, *,
                      covariances: np.ndarray | None = None) -> np.ndarray:
    """Weighted component log-densities ``log w_k + log N(x_i | mu_k, Sigma_k)`` per draw.

    Parameters
    ----------
    X2 : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_draws, n_components)
    means : ndarray of shape (n_draws, n_components, n_features)
    variances : ndarray of shape (n_draws, n_components, n_features), optional
        Diagonal covariances. A 4-D array is taken as ``covariances``.
    covariances : ndarray of shape (n_draws, n_components, n_features, n_features), optional
        Full covariance matrices (correlations used), through their Cholesky
        factors. Give ``variances`` or ``covariances``, not both.

    Returns
    -------
    ndarray of shape (n_draws, n_samples, n_components)
        ``-inf`` where a weight is 0.

    Raises
    ------
    numpy.linalg.LinAlgError
        When a covariance matrix is not positive definite.
    """
    if variances is not None and np.ndim(variances) == 4:
        if covariances is not None:
            raise ValueError("give variances or covariances, not both.")
        variances, covariances = None, variances
    if (variances is None) == (covariances is None):
        raise ValueError("give either variances (diagonal) or covariances (full matrices).")
    X2 = np.asarray(X2, dtype=float)
    means = np.asarray(means, dtype=float)
    with np.errstate(divide="ignore"):
        logw = np.log(np.asarray(weights, dtype=float))
    d = X2.shape[1]
    diff = X2[None, :, None, :] - means[:, None, :, :]  # (S, n, K, d)
    if covariances is None:
        variances = np.asarray(variances, dtype=float)
        q = np.sum(diff**2 / variances[:, None], axis=-1)
        logdet = np.sum(np.log(variances), axis=-1)
    else:
        chol = np.linalg.cholesky(np.asarray(covariances, dtype=float))  # (S, K, d, d)
        # z = L^{-1} (x - mu) for every draw, component and observation
        rhs = np.moveaxis(diff, 1, -1)  # (S, K, d, n)
        z = _solve_lower(chol, rhs)
        q = np.moveaxis(np.sum(z**2, axis=-2), -1, 1)  # (S, n, K)
        logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return logw[:, None, :] - 0.5 * (q + logdet[:, None, :] + d * _LOG_2PI)


def _solve_lower(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L z = rhs`` by forward substitution, batched over the leading axes."""
    d = chol.shape[-1]
    z = np.empty_like(rhs)
    for i in range(d):
        acc = rhs[..., i, :] - np.einsum("...j,...jn->...n", chol[..., i, :i], z[..., :i, :])
        z[..., i, :] = acc / chol[..., i, i][..., None]
    return z
