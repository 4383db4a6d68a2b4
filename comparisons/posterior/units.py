"""Mixture parameters on standardised units, the footing on which components are matched.

Matching (:func:`em.match_components`) compares weights, means and covariances
of two solutions; means divided by the data's scale and covariances by its
square make that comparison independent of the data's units. Every caller
that matches optima, chains, draws or simulated truths builds its parameters
here.
"""

from __future__ import annotations

import numpy as np
from mixcompare import em

__all__ = ["standardised"]


def standardised(weights, means, spread, scale: float, *, sds: bool = False) -> em.Params:
    """Parameters divided by the data's scale, as ``em.Params``.

    Parameters
    ----------
    weights : array_like of shape (n_components,)
    means : array_like of shape (n_components,) or (n_components, n_features)
    spread : array_like
        Variances of shape ``(n_components,)`` or ``(n_components,
        n_features)`` (diagonal covariances), or covariances of shape
        ``(n_components, n_features, n_features)``; standard deviations
        instead of variances when ``sds`` is True.
    scale : float
        The data's scale (1 leaves the units as they are).
    sds : bool, default False
        ``spread`` holds standard deviations.

    Returns
    -------
    em.Params
        ``weights``, ``means / scale`` of shape (n_components, n_features),
        ``covariances / scale**2`` of shape (n_components, n_features, n_features).
    """
    w = np.asarray(weights, dtype=float)
    K = w.size
    m = np.reshape(np.asarray(means, dtype=float), (K, -1))
    d = m.shape[1]
    s = np.asarray(spread, dtype=float)
    if sds:
        s = s**2
    cov = s if s.ndim == 3 else np.reshape(s, (K, d))[:, :, None] * np.eye(d)
    return em.Params(w, m / scale, cov / scale**2)
