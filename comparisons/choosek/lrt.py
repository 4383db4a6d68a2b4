"""The parametric bootstrap likelihood-ratio test of K against K + 1 components.

McLachlan (1987): the statistic ``LRTS = 2 (l_{K+1} - l_K)`` has no chi-square
null distribution for mixtures (the null is on the boundary of the parameter
space), so its null distribution is simulated: data sets drawn from the
K-component fit are refitted with K and K + 1 components. The p-value is
``(1 + #{LRTS_b >= LRTS}) / (B + 1)``, as mclust's ``mclustBootstrapLRT``.

References
----------
McLachlan, G. J. (1987). On bootstrapping the likelihood ratio test statistic
for the number of components in a normal mixture. Applied Statistics 36, 318-324.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import xarray as xr
from mixcompare import em

from .lrt_jobs import run_stats

__all__ = ["bootstrap_lrt", "lrt_choice", "lrt_p_value"]

#: EM's settings for the bootstrap refits: the statistic needs the log-likelihood to about
#: 1e-3, not the parameters to 1e-6 (which polishing along flat directions costs)
_BOOT_FIT = {"tol": 1e-4, "max_iter": 200}


def lrt_p_value(observed: float, boot: np.ndarray) -> float:
    """Bootstrap p-value ``(1 + #{boot >= observed}) / (B + 1)`` (mclust's)."""
    boot = np.asarray(boot, dtype=float)
    return float((1 + np.sum(boot >= observed)) / (boot.size + 1))


class Null(NamedTuple):
    """What one test's bootstrap needs of the K-component fit (picklable, small)."""

    k: int
    structure: str
    params: dict  # the fit's parameters, an ``init`` of em.fit
    split: dict  # K + 1 starting parameters (split_largest)


def _draw(params: dict, n: int, rng) -> np.ndarray:
    """One data set of size ``n`` simulated from the mixture ``params``."""
    if "variances" in params:
        return em.sample(n, params["weights"], params["means"], params["variances"], rng=rng)[0]
    return em.sample(n, params["weights"], params["means"], covariances=params["covariances"],
                     rng=rng)[0]


def _params(fit) -> dict:
    """Return the fit's parameters as an ``init`` dict of :func:`em.fit`."""
    if fit.spec.one_d:
        return {"weights": fit.weights, "means": fit.means, "variances": fit.variances}
    return {"weights": fit.weights, "means": fit.means, "covariances": fit.covariances}


def split_largest(fit) -> dict:
    """Return K + 1 starting parameters: the heaviest component of ``fit`` split in two halves.

    The halves have half its weight, its covariance, and means half a standard
    deviation either side of its mean along its principal axis.
    """
    p = _params(fit)
    j = int(np.argmax(fit.weights))
    vals, vecs = np.linalg.eigh(fit.covariances[j])
    step = 0.5 * np.sqrt(vals[-1]) * vecs[:, -1]
    means = np.asarray(fit.means, dtype=float).reshape(fit.n_components, -1)
    new_means = np.vstack([means, means[j] + step])
    new_means[j] = means[j] - step
    w = np.append(fit.weights, fit.weights[j] / 2)
    w[j] /= 2
    out = {"weights": w, "means": new_means[:, 0] if fit.spec.one_d else new_means}
    if fit.spec.one_d:
        out["variances"] = np.append(p["variances"], p["variances"][j])
    else:
        out["covariances"] = np.concatenate([p["covariances"], p["covariances"][j:j + 1]])
    return out


def _best_ll(Xb, k: int, structure: str, start: dict, n_init: int, rng) -> float:
    """Highest log-likelihood of EM from ``start`` and from ``n_init`` random restarts."""
    warm = em.fit(Xb, k, structure=structure, init=start, rng=rng, **_BOOT_FIT)
    cold = em.fit(Xb, k, structure=structure, n_init=n_init, rng=rng, **_BOOT_FIT)
    return max(warm.log_likelihood, cold.log_likelihood)


def boot_stat(null: Null, n: int, n_init: int, rng) -> float:
    """``2 (l_{K+1} - l_K)`` on one data set simulated from the K-component fit.

    Each refit keeps the best of a start at the generating parameters (for K + 1:
    their heaviest component split, :func:`split_largest`) and ``n_init`` random
    restarts.
    """
    r_draw, r_k, r_k1 = rng.spawn(3)
    Xb = _draw(null.params, n, r_draw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.MixcompareWarning)
        lk = _best_ll(Xb, null.k, null.structure, null.params, n_init, r_k)
        lk1 = _best_ll(Xb, null.k + 1, null.structure, null.split, n_init, r_k1)
    # K + 1 components nest K (a weight at 0): a lower K + 1 fit is an optimum that the
    # restarts (or the spurious filter) left behind, so the statistic is at least 0
    return 2.0 * max(lk1 - lk, 0.0)


def bootstrap_lrt(fits: dict, structures, k_max: int, n_samples: int, *, n_boot: int = 99,
                  n_init: int = 3, rng=None, n_jobs=1,
                  on_progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Test K against K + 1 (K = 1..k_max - 1) for each structure by the parametric bootstrap.

    Parameters
    ----------
    fits : dict of (str, int) to em.EMResult
        The fits of :func:`em_side.em_side`.
    structures : sequence of str
    k_max : int
    n_samples : int
    n_boot : int, default 99
        Bootstrap data sets per test (0: no test).
    n_init : int, default 3
        Random EM restarts per bootstrap refit, besides the start at the
        generating parameters.
    rng : int, numpy.random.Generator or None
        One child stream per test, one per bootstrap data set.
    n_jobs : int or "auto", default 1
        Worker processes (see :func:`lrt_jobs.run_stats`); each bootstrap data
        set depends only on its own stream, so the results do not depend on it.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each bootstrap data set.

    Returns
    -------
    xarray.Dataset
        Dimensions ``structure`` and ``k`` (the null K, 1..k_max - 1) and
        ``boot``: ``lrts`` (observed), ``p_value``, ``boot_lrts``; attribute
        ``n_boot``.
    """
    rng = em.check_rng(rng)
    ks = np.arange(1, k_max)
    shape = (len(structures), ks.size)
    lrts, pval = np.full(shape, np.nan), np.full(shape, np.nan)
    boot = np.full((*shape, n_boot), np.nan)
    streams = rng.spawn(max(1, shape[0] * shape[1]))
    nulls, items = [], []
    for i, s in enumerate(structures):
        for j, k in enumerate(ks):
            lrts[i, j] = 2.0 * (fits[s, k + 1].log_likelihood - fits[s, k].log_likelihood)
            nulls.append(Null(int(k), s, _params(fits[s, k]), split_largest(fits[s, k])))
            items += [(len(nulls) - 1, r) for r in streams[i * ks.size + j].spawn(n_boot)]
    boot[...] = np.reshape(run_stats(boot_stat, nulls, items, n_samples, n_init, n_jobs,
                                     on_progress), boot.shape)
    if n_boot:
        pval = np.vectorize(lrt_p_value, signature="(),(b)->()")(lrts, boot)
    dims = ("structure", "k")
    return xr.Dataset({"lrts": (dims, lrts), "p_value": (dims, pval),
                       "boot_lrts": ((*dims, "boot"), boot)},
                      coords={"structure": list(structures), "k": ks},
                      attrs={"n_boot": int(n_boot), "n_init": int(n_init)})


def lrt_choice(lrt: xr.Dataset, structure: str, level: float = 0.05) -> int | None:
    """Return where sequential testing stops: the first K whose test of K + 1 is not significant.

    None when no test was run or when too few bootstrap samples were drawn to
    reject at ``level`` (the smallest p-value is ``1 / (B + 1)``); ``k_max``
    when every test rejects.
    """
    p = lrt.p_value.sel(structure=structure).values
    if p.size == 0 or np.all(np.isnan(p)) or 1.0 / (lrt.attrs["n_boot"] + 1) >= level:
        return None
    for k, pk in zip(lrt.k.values, p, strict=True):
        if not pk < level:
            return int(k)
    return int(lrt.k.values[-1]) + 1
