"""PSIS-LOO per K: NUTS draws of each K's model, ``az.loo`` and ArviZ's comparison table.

The pointwise log-likelihood is that of the observed data under the mixture
with the labels summed out: the ``log_likelihood`` group :func:`models.fit_nuts`
returns (the one ``compare``'s trees keep for ``az.loo``). The chains start
at MAP-EM's optimum under the same prior, jittered by its standard errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr
from mixcompare import em

__all__ = ["PARETO_K_BAD", "loo_side"]

#: Pareto k above which PSIS is unreliable for an observation (Vehtari et al. 2024's
#: sample-size dependent threshold is at most 0.7; ArviZ's ``good_k``)
PARETO_K_BAD = 0.7


def _nuts_tree(X, k: int, structure: str, prior: em.Prior, *, draws: int, tune: int,
               chains: int, rng, on_progress=None):
    """NUTS draws of the K-component model started at MAP-EM's optimum."""
    from mixcompare import models

    r_em, r_nuts = rng.spawn(2)
    mm = models.cached_model(X, k, prior=prior, structure=structure).model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.MixcompareWarning)
        fit = em.fit(X, k, structure=structure, prior=prior, n_init=5, rng=r_em)
        return models.fit_nuts(mm, draws=draws, tune=tune, chains=chains, rng=r_nuts,
                               init="em", em_result=fit, progressbar=False, cores=1,
                               on_progress=on_progress)


def loo_side(X, k_max: int, structure: str, prior: em.Prior, *, draws: int = 500,
             tune: int = 500, chains: int = 2, rng=None,
             on_progress: Callable[[str, int, int], None] | None = None
             ) -> tuple[xr.Dataset, object, dict]:
    """Run NUTS for K = 1..k_max and compute PSIS-LOO for each, and ArviZ's comparison.

    Parameters
    ----------
    X : ndarray of shape (n,) or (n, d)
    k_max : int
    structure : str
    prior : em.Prior
    draws, tune, chains : int
        NUTS settings per K.
    rng : int, numpy.random.Generator or None
        One child stream per K.
    on_progress : callable, optional
        ``on_progress(what, done, total)`` with NUTS's iterations for each K.

    Returns
    -------
    loo : xarray.Dataset
        Dimension ``k`` (and ``obs``): ``elpd_loo``, ``se``, ``p_loo``,
        ``n_bad_k`` (observations with Pareto k > :data:`PARETO_K_BAD`),
        ``max_pareto_k``, ``divergences`` and ``pareto_k`` (k, obs).
    table : pandas.DataFrame
        ``az.compare`` of the K's (index ``K=1``, ...).
    trees : dict of str to xarray.DataTree
        The NUTS draws per K.
    """
    import arviz as az

    rng = em.check_rng(rng)
    ks = np.arange(1, k_max + 1)
    trees, rows = {}, []
    for k, r in zip(ks, rng.spawn(ks.size), strict=True):
        cb = None if on_progress is None else (
            lambda done, total, k=k: on_progress(f"NUTS K = {k}", done, total))
        tree = _nuts_tree(X, int(k), structure, prior, draws=draws, tune=tune, chains=chains,
                          rng=r, on_progress=cb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the Pareto k's are reported, not warned
            loo = az.loo(tree, pointwise=True)
        pk = np.asarray(loo.pareto_k).ravel()
        rows.append({"elpd_loo": loo.elpd, "se": loo.se, "p_loo": loo.p, "pareto_k": pk,
                     "divergences": int(tree["sample_stats"]["diverging"].values.sum())})
        trees[f"K={k}"] = tree
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(trees, round_to="none")
    data = {name: ("k", np.array([row[name] for row in rows], dtype=float))
            for name in ("elpd_loo", "se", "p_loo", "divergences")}
    pk = np.stack([row["pareto_k"] for row in rows])
    data["pareto_k"] = (("k", "obs"), pk)
    data["max_pareto_k"] = ("k", pk.max(axis=1))
    data["n_bad_k"] = ("k", (pk > PARETO_K_BAD).sum(axis=1))
    out = xr.Dataset(data, coords={"k": ks, "obs": np.arange(pk.shape[1])},
                     attrs={"structure": structure, "draws": draws, "tune": tune,
                            "chains": chains, "pareto_k_bad": PARETO_K_BAD})
    return out, table, trees
