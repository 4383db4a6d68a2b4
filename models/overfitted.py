"""The overfitted mixture: K_max components with a sparse symmetric Dirichlet on the weights.

With ``alpha`` small (below d_theta / 2, d_theta the number of parameters of
one component), the posterior empties the superfluous components instead of
splitting true ones (Rousseau & Mengersen 2011); the number of non-empty
components per draw then estimates the number of clusters
(Malsiner-Walli, Frühwirth-Schnatter & Grün 2016, who use ``alpha = 0.01``).
The model is :func:`models.build_model`'s with the prior's ``alpha``
replaced; the allocations, summed out of the likelihood, are drawn afterwards
from their full conditional given each posterior draw.

References
----------
Rousseau, J. & Mengersen, K. (2011). Asymptotic behaviour of the posterior
distribution in overfitted mixture models. JRSS B 73, 689-710.
Malsiner-Walli, G., Frühwirth-Schnatter, S. & Grün, B. (2016). Model-based
clustering based on sparse finite Gaussian mixtures. Statistics and
Computing 26, 303-324.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr
from mixcompare import em

from .build import cached_model

__all__ = ["SPARSE_ALPHA", "occupied_components", "overfitted_model"]

#: the sparse Dirichlet concentration (Malsiner-Walli et al. 2016 use 0.01 with Gibbs
#: sampling; NUTS moves through weights near 0 better with a less extreme value)
SPARSE_ALPHA = 0.05


def overfitted_model(X, k_max: int, prior: em.Prior, *, alpha: float = SPARSE_ALPHA,
                     structure: str | None = None):
    """Return the (cached) model with ``k_max`` components and ``Dirichlet(alpha, ..., alpha)``.

    ``alpha`` must be a positive scalar below 1 (ValueError otherwise).
    """
    if not (np.isscalar(alpha) and 0 < alpha < 1):
        raise ValueError(f"the overfitted mixture needs a sparse symmetric Dirichlet, a scalar "
                         f"0 < alpha < 1 (e.g. {SPARSE_ALPHA}); got {alpha!r}.")
    return cached_model(X, k_max, prior=replace(prior, alpha=float(alpha)),
                        structure=structure).model


def _stack(post: xr.Dataset, name: str) -> np.ndarray:
    v = post[name].values
    return v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])


def occupied_components(X, posterior: xr.Dataset, *, rng=None) -> np.ndarray:
    """Count the non-empty components per draw, allocations drawn from their full conditional.

    Parameters
    ----------
    X : array_like of shape (n,) or (n, d)
    posterior : xarray.Dataset
        ``weights``, ``means``, ``variances`` (and ``covariances`` for full
        and tied structures) over ``(chain, draw, component[, ...])``.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    ndarray of int, shape (chain, draw)
    """
    rng = em.check_rng(rng)
    X2 = em.validate_data(X).reshape(np.shape(X)[0], -1)
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    w = _stack(posterior, "weights")
    S, K = w.shape
    mu = _stack(posterior, "means").reshape(S, K, -1)
    kw = ({"covariances": _stack(posterior, "covariances")} if "covariances" in posterior
          else {"variances": _stack(posterior, "variances").reshape(S, K, -1)})
    out = np.empty(S, dtype=int)
    for s0 in range(0, S, 200):
        sl = slice(s0, min(S, s0 + 200))
        kw_s = {key: v[sl] for key, v in kw.items()}
        lp = em.draws_log_density(X2, w[sl], mu[sl], **kw_s)  # (s, n, K)
        lp -= lp.max(axis=2, keepdims=True)
        p = np.exp(lp)
        cum = np.cumsum(p, axis=2)
        u = rng.random(cum.shape[:2])[..., None] * cum[..., -1:]
        z = (u > cum).sum(axis=2)  # (s, n) sampled component
        occ = np.zeros((z.shape[0], K), dtype=bool)
        np.put_along_axis(occ, z, True, axis=1)
        out[sl] = occ.sum(axis=1)
    return out.reshape(n_chain, n_draw)
