"""The log marginal likelihood per K by Sequential Monte Carlo, and the posterior over K.

``pm.sample_smc`` tempers from the prior to the posterior; the product of
its normalising-constant increments estimates ``log p(y | K)``, one estimate
per chain (independent runs). The model is the comparison's, unordered (its
tempering starts from prior draws, which a transform ordering the means would
refuse), with the same prior. The posterior over K is
``p(K | y) ∝ p(y | K) p(K)``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr
from mixcompare import em
from scipy.special import logsumexp

__all__ = ["posterior_over_k", "smc_log_marginal", "smc_side"]


def smc_log_marginal(mm, *, draws: int = 400, chains: int = 4, rng=None) -> np.ndarray:
    """Estimate ``log p(y)`` of a model by SMC, once per chain.

    Parameters
    ----------
    mm : models.MixtureModel
    draws : int, default 400
        Particles per chain.
    chains : int, default 4
    rng : int, numpy.random.Generator or None

    Returns
    -------
    ndarray of shape (chains,)
    """
    import pymc as pm

    rng = em.check_rng(rng)
    seeds = [int(r.integers(2**31)) for r in rng.spawn(chains)]
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # SMC draws its first particles from the prior by compiled random functions;
            # PyTensor's notice that a custom one runs in Python is not for the user
            warnings.filterwarnings("ignore", message="Numba will use object mode")
            tree = pm.sample_smc(draws=draws, chains=chains, model=mm.model,
                                 random_seed=seeds, cores=1, progressbar=False,
                                 compute_convergence_checks=False)
    finally:
        logger.setLevel(level)
    lml = tree["sample_stats"]["log_marginal_likelihood"].values
    out = np.array([float(np.asarray(row, dtype=float)[-1]) for row in lml])
    if not np.all(np.isfinite(out)):
        raise FloatingPointError(f"SMC returned a non-finite log marginal likelihood {out}; "
                                 "give more draws.")
    return out


def posterior_over_k(log_ml: np.ndarray, log_prior_k: np.ndarray | None = None) -> np.ndarray:
    """``p(K | y)`` from ``log p(y | K)`` (shape (n_k,)) and a prior on K (uniform by default)."""
    log_ml = np.asarray(log_ml, dtype=float)
    lp = np.zeros_like(log_ml) if log_prior_k is None else np.asarray(log_prior_k, dtype=float)
    z = log_ml + lp
    return np.exp(z - logsumexp(z))


def smc_side(X, k_max: int, structure: str, prior: em.Prior, *, draws: int = 400,
             chains: int = 4, rng=None,
             on_progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """SMC's log marginal likelihood for K = 1..k_max and the posterior over K (uniform prior).

    Returns
    -------
    xarray.Dataset
        Dimensions ``k`` and ``smc_chain``: ``log_ml_chain`` (one estimate per
        chain), ``log_ml`` (their mean), ``log_ml_sd`` (their spread),
        ``log_ml_se`` (``sd / sqrt(chains)``), ``prior_k`` and ``posterior_k``;
        attributes ``structure``, ``draws``, ``chains``.
    """
    from mixcompare import models

    rng = em.check_rng(rng)
    ks = np.arange(1, k_max + 1)
    est = np.empty((ks.size, chains))
    for j, (k, r) in enumerate(zip(ks, rng.spawn(ks.size), strict=True)):
        mm = models.cached_model(X, int(k), prior=prior, structure=structure).model
        est[j] = smc_log_marginal(mm, draws=draws, chains=chains, rng=r)
        if on_progress is not None:
            on_progress(j + 1, ks.size)
    log_ml = est.mean(axis=1)
    sd = est.std(axis=1, ddof=1) if chains > 1 else np.full(ks.size, np.nan)
    prior_k = np.full(ks.size, 1.0 / ks.size)
    post = posterior_over_k(log_ml, np.log(prior_k))
    return xr.Dataset(
        {"log_ml_chain": (("k", "smc_chain"), est), "log_ml": ("k", log_ml),
         "log_ml_sd": ("k", sd), "log_ml_se": ("k", sd / np.sqrt(chains)),
         "prior_k": ("k", prior_k), "posterior_k": ("k", post)},
        coords={"k": ks, "smc_chain": np.arange(chains)},
        attrs={"structure": structure, "draws": int(draws), "chains": int(chains),
               "prior_on_k": "uniform"})
