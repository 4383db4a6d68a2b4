"""Simulation from a Gaussian mixture."""

from __future__ import annotations

import numpy as np

from ._model import check_covariances, check_means, check_variances, check_weights
from ._validation import check_positive_int, check_rng

__all__ = ["sample"]


def sample(n_samples, weights, means, variances=None, *, covariances=None, rng=None):
    """Draw observations and their component labels from a Gaussian mixture.

    Parameters
    ----------
    n_samples : int
    weights : array_like of shape (n_components,)
    means : array_like of shape (n_components,) or (n_components, n_features)
        1-D means give 1-D data.
    variances : float or array_like of shape (n_components,), optional
        1-D variances (a scalar means every component).
    covariances : array_like of shape (n_components, n_features, n_features), optional
        For multivariate data.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    X : ndarray of shape (n_samples,) or (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    """
    n = check_positive_int(n_samples, "n_samples", minimum=1)
    rng = check_rng(rng)
    w = np.asarray(weights, dtype=float)
    K = w.shape[0] if w.ndim == 1 else 0
    w = check_weights(w, K)
    m = np.asarray(means, dtype=float)
    one_d = m.ndim == 1
    if one_d:
        if variances is None:
            raise ValueError("1-D means need variances=; give one per component or a scalar.")
        m = check_means(m, K, 1, True)
        cov = check_variances(variances, K)
    else:
        if covariances is None:
            raise ValueError("multivariate means need covariances= of shape (K, d, d).")
        m = check_means(m, K, m.shape[1], False)
        cov = check_covariances(covariances, K, m.shape[1])
    labels = rng.choice(K, size=n, p=w)
    d = m.shape[1]
    chol = np.linalg.cholesky(cov)
    eps = rng.standard_normal((n, d))
    X = m[labels] + np.einsum("nij,nj->ni", chol[labels], eps)
    return (X[:, 0] if one_d else X), labels
