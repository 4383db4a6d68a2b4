"""Matching mixture components between two fits (label alignment)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["component_distance", "match_components"]


def component_distance(a, b) -> np.ndarray:
    """Pairwise distances between the components of two parameter sets.

    Parameters
    ----------
    a, b : Params-like
        Tuples ``(weights (K,), means (K, d), covariances (K, d, d))`` on a
        common scale (standardised data, so the units are comparable).

    Returns
    -------
    ndarray of shape (K, K)
        ``D[i, j]`` is the largest of ``|w_i - w'_j|``, ``max |mu_i - mu'_j|``
        and ``max |log diag Sigma_i - log diag Sigma'_j| / 2`` (the log-sd scale).
    """
    wa, ma, ca = a
    wb, mb, cb = b
    dw = np.abs(wa[:, None] - wb[None, :])
    dm = np.abs(ma[:, None, :] - mb[None, :, :]).max(axis=2)
    la = 0.5 * np.log(np.einsum("kii->ki", ca))
    lb = 0.5 * np.log(np.einsum("kii->ki", cb))
    ds = np.abs(la[:, None, :] - lb[None, :, :]).max(axis=2)
    return np.maximum(np.maximum(dw, dm), ds)


def match_components(a, b) -> tuple[np.ndarray, float]:
    """Permutation of ``b``'s components that best matches ``a`` (Hungarian algorithm).

    Returns
    -------
    perm : ndarray of shape (K,)
        ``b[perm]`` is aligned with ``a``.
    distance : float
        The largest matched distance (see :func:`component_distance`).
    """
    D = component_distance(a, b)
    rows, cols = linear_sum_assignment(D)
    perm = np.empty_like(cols)
    perm[rows] = cols
    return perm, float(D[rows, cols].max())
