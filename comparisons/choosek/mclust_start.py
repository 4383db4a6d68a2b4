"""EM as mclust runs it: from mclust's starting partitions, stopped by mclust's rule.

mclust's ``mclustBIC`` runs, for each K and model, one M-step on a hard
partition and iterates EM until the log-likelihood's relative change is at
most 1e-5 (:func:`em.mclust_stop`); on a flat optimum it stops
before the optimum, so its BIC can sit below ours. The partition (see
:func:`em.quantile_classes`) is mclust's quantile classes for 1-D data by default, or
a cut of a merge tree the user passes; mclust's vignette takes, for
``MASS::galaxies / 1000``, the best BIC over 20 random trees drawn after R's
``set.seed(20181116)`` (:data:`mclust_refs.MCLUST_RECIPE`), which
:mod:`r_random` replays. Above 2000 observations mclust starts from a random
subset of 2000 (R's ``sample``, seed unknown); here the quantile classes of all
the data are used, so its numbers there are not reproduced.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from mixcompare import em
from mixcompare.em import MCLUST_TOL, cut_tree, mclust_stop, quantile_classes

from .r_random import RRandom, hc_random_pairs

__all__ = ["MclustFit", "mclust_fits", "mclust_partitions", "partition_start", "run_as_mclust"]

#: iterations of the first call of em.fit looking for mclust's stopping point (doubled after)
_CHUNK = 25
#: mclust's EM has no iteration cap; ours stops looking after this many
_MAX_ITER = 100_000


class MclustFit(NamedTuple):
    """One (structure, K) fitted as mclust does: the best over its starts."""

    structure: str
    k: int
    log_likelihood: float  # NaN when every start failed (mclust: NA)
    bic_mclust: float
    n_iter: int  # mclust's iterations (M-steps) of the best start
    start: str  # which start: "quantile classes" or "random tree j (R seed s)"
    fit: em.EMResult | None  # EM stopped at mclust's iterate


def partition_start(x: np.ndarray, labels: np.ndarray, k: int) -> dict:
    """Return starting parameters of 1-D data: one M-step on a hard partition into ``k`` groups.

    Weights are group shares, means and (population) variances the groups';
    :func:`em.fit` pools the variances by weight for ``structure="equal"``, as
    mclust's M-step does. Raises ValueError when a group is empty.
    """
    counts = np.bincount(labels, minlength=k)
    if counts.size != k or counts.min() == 0:
        raise ValueError(f"the partition must fill all {k} groups; group sizes {counts.tolist()}.")
    means = np.bincount(labels, weights=x, minlength=k) / counts
    var = np.bincount(labels, weights=(x - means[labels]) ** 2, minlength=k) / counts
    return {"weights": counts / x.size, "means": means, "variances": var}


def run_as_mclust(x: np.ndarray, k: int, structure: str, start: dict,
                  tol: float = MCLUST_TOL) -> tuple[float, int, dict | None]:
    """EM from ``start`` stopped where mclust stops.

    Returns
    -------
    log_likelihood : float
        At mclust's stopping iterate; NaN where mclust fails.
    iterations : int
        mclust's count (its first M-step, our start, included).
    params : dict or None
        ``weights, means, variances`` at that iterate (an ``init`` of :func:`em.fit`).

    Notes
    -----
    mclust fails (returns NA) when a variance falls to machine precision or a
    component's weight to ``sqrt(eps) / n``; here when that happens on the
    way, or a variance reaches our floor (which stops the collapse mclust
    fails on). A component of one or two effective points is a fit for mclust.
    """
    failed = (np.nan, 0, None)
    if np.min(start["variances"]) <= np.finfo(float).eps:
        return failed
    offset, chunk, chunk_start = 0, _CHUNK, start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.MixcompareWarning)
        while offset < _MAX_ITER:
            f = em.fit(x, k, structure=structure, init=chunk_start, tol=0, max_iter=chunk)
            tr = f.trace
            t = mclust_stop(tr.log_likelihood, tol)
            end = tr.log_likelihood.size if t is None else t + 1
            low = max(np.finfo(float).eps, f.variance_floor * (1 + 1e-6))
            if (np.min(tr.variances[:end]) <= low
                    or np.min(tr.weights[:end]) * x.size <= np.sqrt(np.finfo(float).eps)):
                return failed
            last = end - 1
            params = {"weights": tr.weights[last], "means": tr.means[last],
                      "variances": tr.variances[last]}
            if t is not None:
                # mclust counts its first M-step (our start) as an iteration
                return float(tr.log_likelihood[t]), offset + t + 1, params
            offset, chunk, chunk_start = offset + chunk, 2 * chunk, params
    raise RuntimeError(f"mclust's stopping rule was not met in {_MAX_ITER} EM iterations "
                       f"({structure}, K = {k}).")


def mclust_partitions(x: np.ndarray, k: int, recipe: dict | None) -> list[tuple[str, np.ndarray]]:
    """Return mclust's starting partitions of 1-D data into ``k`` groups, named.

    ``recipe`` None: mclust's default (quantile classes). ``{"random_trees": m,
    "r_seed": s}``: the cuts of ``m`` random merge trees drawn after R's
    ``set.seed(s)`` (mclust's ``hcRandomPairs``, as its vignette).
    """
    if recipe is None:
        return [("quantile classes", quantile_classes(x, k))]
    r = RRandom(recipe["r_seed"])
    return [(f"random tree {j + 1} (R seed {recipe['r_seed']})",
             cut_tree(hc_random_pairs(x.size, r), x.size, k))
            for j in range(recipe["random_trees"])]


def mclust_fits(x, ks, structures, recipe: dict | None = None) -> list[MclustFit]:
    """Fit each K of ``ks`` with each structure as mclust does, keeping the best BIC per cell.

    Parameters
    ----------
    x : array_like of shape (n,)
        1-D data (mclust's multivariate start, hierarchical clustering, is not
        reproduced here).
    ks : iterable of int
        The K's (mclust's ``G``), each at least 1.
    structures : sequence of {"equal", "unequal"}
    recipe : dict, optional
        See :func:`mclust_partitions`.

    Returns
    -------
    list of MclustFit
        One per (structure, K), structures outer. A K above the number of
        distinct values gets no start and a NaN fit (mclust: NA).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError("mclust's start is reproduced for 1-D data only; pass mclust_start="
                         "False for multivariate data.")
    n, out, ks = x.size, [], [int(k) for k in ks]
    distinct = np.unique(x).size
    parts = {k: mclust_partitions(x, k, recipe) if 1 < k <= distinct else [] for k in ks}
    for s in structures:
        for k in ks:
            named = parts[k] if k > 1 else [("all data", np.zeros(n, dtype=np.intp))]
            runs = [(name, *run_as_mclust(x, k, s, partition_start(x, lab, k)))
                    for name, lab in named if np.bincount(lab, minlength=k).min() > 0]
            name, ll, its, params = max(runs, key=lambda r: np.nan_to_num(r[1], nan=-np.inf),
                                        default=("none", np.nan, 0, None))
            fit = None
            if params is not None:  # the reported iterate, as an EMResult
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", em.MixcompareWarning)
                    fit = em.fit(x, k, structure=s, init=params, max_iter=0)
            p = em.model_spec(x, k, structure=s)[1].n_parameters()
            out.append(MclustFit(s, k, ll, 2 * ll - p * np.log(n), its, name, fit))
    return out
