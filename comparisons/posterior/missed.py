"""Optima the atlas missed: more (MAP-)EM restarts, and climbs from the farthest draws.

The regions whose masses :mod:`.mass` estimates are centred on the atlas's
optima. An atlas of a few restarts can miss an optimum the posterior holds
some mass around: on galaxies K = 3 (ordered), the optimum where the small
component leaves its cluster (MAP-EM log-likelihood −211.45, 0.71 % of the
mass; 2 restarts in 10 reach it) was missing from the atlas at 1 seed in 12
of ``compare``'s defaults, and the mass-weighted sds then missed its share.
Two cheap searches add the centres: :data:`N_RESTARTS` more restarts, and EM
climbed from the draws farthest from every known optimum (when the chains
made an excursion there).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior.relabel import draw_arrays
from mixcompare.comparisons.posterior.units import standardised

__all__ = ["MAX_SAMPLES", "N_FAR", "N_RESTARTS", "SAME_TOL", "missed_optima"]

#: restarts of the extra search
N_RESTARTS = 40
#: draws EM is climbed from (the farthest from every known optimum)
N_FAR = 4
#: a climbed optimum within this standardised distance of a known one is that one
SAME_TOL = 1e-3
#: draws scanned at most (evenly thinned)
MAX_SCAN = 1000
#: data sets larger than this are not searched (each restart or climb is a full EM fit)
MAX_SAMPLES = 20_000


def missed_optima(post: xr.Dataset, centres: list, X, scale: float, rng, *, prior=None,
                  structure=None, fixed=None, n_restarts: int = N_RESTARTS,
                  n_far: int = N_FAR) -> list:
    """Optima (MAP-)EM reaches from more restarts and from the draws farthest from every centre.

    Parameters
    ----------
    post : xarray.Dataset
        Posterior draws with ``weights``, ``means`` and ``variances``.
    centres : list of (weights, means, covariances)
        The known optima (natural scale).
    X : ndarray of shape (n_samples,) or (n_samples, n_features)
    scale : float
        The data's scale (standardised distances, as :func:`em.match_components`).
    rng : int, numpy.random.Generator or None
        For the restarts' starts.
    prior : em.Prior, optional
        MAP-EM's prior (None: EM, the likelihood's optima).
    structure, fixed : optional
        As the fit's.
    n_restarts : int, default 40
        0 skips the restarts.
    n_far : int, default 4

    Returns
    -------
    list of (weights, means, covariances)
        New optima, none degenerate or spurious, none within :data:`SAME_TOL`
        of a centre or of each other: the restarts' first, best first, then
        the climbs' in the order of the draws' distance. Empty for more than
        :data:`MAX_SAMPLES` data points.

    Notes
    -----
    A draw's distance to a centre is :func:`em.match_components`' largest
    matched component distance on standardised units; EM is run once from
    each of the ``n_far`` draws farthest from their nearest centre.
    """
    if len(X) > MAX_SAMPLES:
        return []
    w, m, v = draw_arrays(post)
    known = [standardised(cw, cm, cv, scale) for cw, cm, cv in centres]
    found = []

    def add(res):
        for o in res.optima:
            if o.degenerate or o.spurious:
                continue
            mine = standardised(o.weights, o.means, o.covariances, scale)
            if all(em.match_components(k, mine)[1] >= SAME_TOL for k in known):
                found.append((o.weights, o.means, o.covariances))
                known.append(mine)

    kw = {"structure": structure, "fixed": fixed, "prior": prior}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.MixcompareWarning)
        try:
            if n_restarts > 0:
                add(em.fit(X, w.shape[-1], n_init=n_restarts, max_init=n_restarts, rng=rng,
                           **kw))
        except (ValueError, FloatingPointError):
            pass
        C, D = w.shape[:2]
        step = max(1, int(np.ceil(C * D / MAX_SCAN)))
        flat = [(c, t) for c in range(C) for t in range(0, D, step)]
        dist = np.array([min(em.match_components(k, standardised(w[c, t], m[c, t], v[c, t],
                                                                  scale))[1] for k in known)
                         for c, t in flat])
        for i in np.argsort(-dist)[:n_far]:
            c, t = flat[i]
            try:
                add(em.fit(X, w.shape[-1], init={"weights": w[c, t] / w[c, t].sum(),
                                                 "means": m[c, t],
                                                 "variances": v[c, t]}, **kw))
            except (ValueError, FloatingPointError):
                continue
    return found
