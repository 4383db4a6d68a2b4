"""Numerical Hessian of the observed-data log-likelihood (central differences + Richardson)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._design import Components, Design
from ._estep import centred_log_prob
from ._theta import Layout, unpack

_CHUNK = 65536


def loglik_function(design: Design, anchors: np.ndarray, theta_hat: np.ndarray, lay: Layout):
    """Return ``theta -> sum_i log sum_k w_k N(z_i | mu_k, Sigma_k)`` (internal scale).

    Centred on the fit: a mean ``theta`` is evaluated as the exact anchor
    (the fitted mean, in data units) plus the offset ``theta - theta_hat``, so
    ``x_i - mu_k`` is formed without cancellation and the function is smooth
    to round-off in ``theta`` however far the clusters are from the origin.
    """
    K, d = lay.spec.n_components, lay.spec.n_features
    anchors = np.asarray(anchors, dtype=float).reshape(K, d)

    def loglik(theta: np.ndarray) -> float:
        p = unpack(theta, lay)
        offsets = None
        if lay.means is not None:
            offsets = (theta[lay.means] - theta_hat[lay.means]).reshape(K, d)
        comp = Components(p.weights, anchors, p.covariances)
        total = 0.0
        for start in range(0, design.n, _CHUNK):
            stop = min(start + _CHUNK, design.n)
            total += float(np.sum(logsumexp(centred_log_prob(design, comp, offsets, start, stop),
                                            axis=1)))
        return total

    return loglik


def _central_hessian(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    p = x.size
    H = np.empty((p, p))
    f0 = f(x)
    E = np.diag(h)
    for i in range(p):
        H[i, i] = (f(x + E[i]) - 2.0 * f0 + f(x - E[i])) / h[i] ** 2
        for j in range(i):
            v = (f(x + E[i] + E[j]) - f(x + E[i] - E[j])
                 - f(x - E[i] + E[j]) + f(x - E[i] - E[j])) / (4.0 * h[i] * h[j])
            H[i, j] = H[j, i] = v
    return H


def richardson_hessian(f, x, step: float = 5e-3, scales=None) -> np.ndarray:
    """Hessian of a scalar function by central differences with one Richardson step.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of shape (p,)
        Point of evaluation.
    step : float, default 5e-3
        Base step; coordinate ``i`` uses ``h_i = step * scales[i]``.
    scales : ndarray of shape (p,), optional
        Typical size of each coordinate; default ``max(1, |x_i|)``.

    Returns
    -------
    ndarray of shape (p, p)

    Notes
    -----
    The central formulas ``(f(x + h e_i) - 2 f(x) + f(x - h e_i)) / h^2`` and
    ``(f(++) - f(+-) - f(-+) + f(--)) / (4 h_i h_j)`` have errors that are
    even in ``h``; combining steps ``h`` and ``h / 2`` as
    ``(4 H(h / 2) - H(h)) / 3`` cancels the ``O(h^2)`` term, leaving
    ``O(h^4)`` plus round-off ``O(eps |f| / h^2)``. About ``4 p^2``
    evaluations of ``f``.
    """
    x = np.asarray(x, dtype=float)
    h = step * (np.maximum(1.0, np.abs(x)) if scales is None else np.asarray(scales, float))
    H1 = _central_hessian(f, x, h)
    H2 = _central_hessian(f, x, h / 2.0)
    H = (4.0 * H2 - H1) / 3.0
    return 0.5 * (H + H.T)
