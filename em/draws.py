"""Component log-densities for many parameter draws at once (posterior draws, restarts)."""

from __future__ import annotations

import numpy as np

__all__ = ["draws_log_density"]

_LOG_2PI = float(np.log(2 * np.pi))


def draws_log_density(X2: np.ndarray, weights: np.ndarray, means: np.ndarray,
                      variances: np.ndarray) -> np.ndarray:
    """Weighted component log-densities ``log w_k + log N(x_i | mu_k, diag var_k)`` per draw.

    Parameters
    ----------
    X2 : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_draws, n_components)
    means, variances : ndarray of shape (n_draws, n_components, n_features)
        Diagonal covariances (a ``full`` model's correlations are not used).

    Returns
    -------
    ndarray of shape (n_draws, n_samples, n_components)
        ``-inf`` where a weight is 0.
    """
    diff = X2[None, :, None, :] - means[:, None, :, :]
    q = np.sum(diff**2 / variances[:, None], axis=-1)
    with np.errstate(divide="ignore"):
        logw = np.log(weights)
    return logw[:, None, :] - 0.5 * (q + np.sum(np.log(variances), axis=-1)[:, None, :]
                                     + X2.shape[1] * _LOG_2PI)
