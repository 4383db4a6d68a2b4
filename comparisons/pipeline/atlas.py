"""One atlas of optima for a comparison: EM's and MAP-EM's, one numbering.

EM's restarts reach a set of distinct optima of the likelihood, MAP-EM's (the
same restarts) a set of optima of the posterior density. Both are listed in
one table with stable identifiers -- ``E0, E1, ...`` for EM's optima and
``M0, M1, ...`` for MAP-EM's, best first -- each with its log-likelihood and
its log posterior density (log-likelihood plus the shared prior's log
density, without Jacobian), and the identifier of its counterpart in the
other atlas (the same solution, moved by the prior: the two are each
other's nearest optimum of the other atlas). Every table and
sentence that names an optimum (census, modes, figures) uses these identifiers.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior.census import optimum_id
from mixcompare.comparisons.posterior.units import standardised

__all__ = ["atlas_dataset", "optimum_id"]



def _std(o, scale: float) -> em.Params:
    return standardised(o.weights, o.means, o.covariances, scale)


def _log_posterior(o, prior: em.Prior, spec: em.Spec) -> float:
    K = len(o.weights)
    p = em.Params(np.asarray(o.weights), np.reshape(o.means, (K, -1)), np.asarray(o.covariances))
    return float(o.log_likelihood + prior.log_density(p, spec))


def atlas_dataset(em_fit: em.EMResult, map_em: em.EMResult | None, prior: em.Prior,
                  spec: em.Spec, scale: float) -> xr.Dataset:
    """Both atlases in one table (see the module docstring).

    Parameters
    ----------
    em_fit, map_em : em.EMResult
        The EM and (optional) MAP-EM fits, each with its ``optima``.
    prior : em.Prior
    spec : em.Spec
    scale : float
        The data's scale, for matching counterparts on standardised units.

    Returns
    -------
    xarray.Dataset
        Over ``optimum`` (coordinate ``id``): ``source``, ``index``,
        ``log_likelihood``, ``log_posterior``, ``count``, ``basin_share``,
        ``converged``, ``degenerate``, ``spurious`` (a component fitted to a few
        close points, see :func:`em.fit`), ``counterpart``.
    """
    rows = [("em", j, o) for j, o in enumerate(em_fit.optima)]
    if map_em is not None:
        rows += [("map_em", j, o) for j, o in enumerate(map_em.optima)]
    ids = [optimum_id(src, j) for src, j, _ in rows]
    n = len(rows)
    dist = np.full((n, n), np.inf)
    for a in range(n):
        for b in range(n):
            if rows[a][0] != rows[b][0]:
                pa, pb = _std(rows[a][2], scale), _std(rows[b][2], scale)
                dist[a, b] = em.match_components(pa, pb)[1]
    nearest = np.argmin(dist, axis=1)
    counterpart = [ids[nearest[a]] if np.isfinite(dist[a, nearest[a]])
                   and nearest[nearest[a]] == a else "" for a in range(n)]
    return xr.Dataset({
        "source": ("optimum", np.array([r[0] for r in rows], dtype=str)),
        "index": ("optimum", np.array([r[1] for r in rows], dtype=int)),
        "log_likelihood": ("optimum", [r[2].log_likelihood for r in rows]),
        "log_posterior": ("optimum", [_log_posterior(r[2], prior, spec) for r in rows]),
        "count": ("optimum", [r[2].count for r in rows]),
        "basin_share": ("optimum", [r[2].basin_share for r in rows]),
        "converged": ("optimum", [bool(r[2].converged) for r in rows]),
        "degenerate": ("optimum", [bool(r[2].degenerate) for r in rows]),
        "spurious": ("optimum", [bool(r[2].spurious) for r in rows]),
        "counterpart": ("optimum", np.array(counterpart, dtype=str)),
    }, coords={"optimum": np.arange(len(rows)), "id": ("optimum", np.array(ids, dtype=str))},
        attrs={"counterpart": "mutual nearest optimum of the other atlas (em.match_components "
                              "on standardised units)",
               "log_posterior": "log-likelihood + log prior density (no Jacobian)"})
