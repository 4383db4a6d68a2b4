"""mclust's published BIC values for bundled data, and where they sit in our atlas.

Source: the mclust 6 vignette (Scrucca, Fop, Murphy & Raftery 2016, The R
Journal 8, 289-317; "A quick tour of mclust"), univariate examples: BIC on
mclust's scale (``2 l - p log n``, higher is better) for ``MASS::galaxies / 1000``
(our ``galaxies-mass``) with unequal variances ("V"). The vignette takes
the best BIC per (model, G) over 20 runs of ``mclustBIC`` started from random
merge trees (``hcRandomPairs``) after R's ``set.seed(20181116)``: V,3 comes
from tree 2, V,4 from tree 11, V,5 from tree 18 (checked with R 4.2.2 and
mclust 6.0.0); :data:`MCLUST_RECIPE` replays that.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["MCLUST_BIC", "MCLUST_RECIPE", "mclust_panel"]

#: (data set, structure, K) -> mclust's BIC (vignette)
MCLUST_BIC = {("galaxies-mass", "unequal", 3): -441.6122,
              ("galaxies-mass", "unequal", 4): -443.3997,
              ("galaxies-mass", "unequal", 5): -446.3497}

#: data set -> how mclust's published values were started (see mclust_start.mclust_partitions)
MCLUST_RECIPE = {"galaxies-mass": {"random_trees": 20, "r_seed": 20181116}}

_TOL = 1e-3
_HIGHER = ("ours is higher (mclust's EM stops at a relative change of the log-likelihood "
           "of 1e-5, before the optimum)")


def _label(ours: float, ref: float, atlas_hit: bool, mclust_hit: bool,
           improper: bool = False) -> str:
    if abs(ours - ref) <= _TOL:
        return "reproduced (our chosen optimum)"
    if mclust_hit:
        why = ""
        if ours > ref:
            why = f"; {_HIGHER}"
        elif improper:
            why = ("; mclust's fit has a spurious or degenerate component by our rule "
                   "(see em.fit), so our chosen (proper) optimum is lower")
        return "reproduced (mclust's start and stopping rule)" + why
    if atlas_hit:
        return "in our atlas, not our chosen optimum"
    if ours > ref:
        return f"not an optimum we reach: {_HIGHER}"
    return "not reproduced: no optimum of our atlas has mclust's value"


def mclust_panel(name: str, table: xr.Dataset, atlas: xr.Dataset) -> list[dict]:
    """Compare our EM side with mclust's published values for data set ``name``.

    Returns
    -------
    list of dict
        One per published value within our table: ``structure``, ``k``,
        ``mclust_bic``, ``our_bic`` (the chosen fit's), ``in_atlas`` (an optimum of
        the atlas within 1e-3 of mclust's value), ``mclust_start_bic`` (our fit
        from mclust's start with its stopping rule, None when not run) and
        ``status``.
    """
    rows = []
    for (ds, s, k), ref in MCLUST_BIC.items():
        if ds != name or s not in table.structure.values or k not in table.k.values:
            continue
        ours = float(table.bic_mclust.sel(structure=s, k=k))
        sel = (atlas.structure.values == s) & (atlas.k.values == k)
        flag = (atlas.mclust_start.values if "mclust_start" in atlas
                else np.zeros(sel.size, dtype=bool))
        close = np.abs(atlas.bic_mclust.values - ref) <= _TOL
        hit = bool(np.any(close & sel & ~flag))
        mine = sel & flag
        improper = bool(np.any(atlas.spurious.values[mine] | atlas.degenerate.values[mine]))
        rows.append({"structure": s, "k": int(k), "mclust_bic": ref, "our_bic": ours,
                     "in_atlas": hit,
                     "mclust_start_bic": (float(atlas.bic_mclust.values[mine][0])
                                          if mine.any() else None),
                     "status": _label(ours, ref, hit, bool(np.any(close & mine)), improper)})
    return rows
