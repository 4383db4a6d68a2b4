"""Posterior sampling of the PyMC mixture model with NUTS (PyMC's sampler or nutpie)."""

from __future__ import annotations

import logging
import warnings
from importlib.metadata import version

import pymc as pm
import xarray as xr

import em

from .points import start_from_em

__all__ = ["SAMPLERS", "fit_nuts"]

SAMPLERS = frozenset({"pymc", "nutpie"})
_log = logging.getLogger(__name__)


def _seeds(rng, chains: int) -> list[int]:
    return [int(c.integers(2**31 - 1)) for c in em.check_rng(rng).spawn(chains)]


def fit_nuts(model: pm.Model, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
             target_accept: float = 0.9, sampler: str = "pymc", rng=None, initvals=None,
             progressbar: bool = True, cores: int | None = None) -> xr.DataTree:
    """Sample the posterior with NUTS.

    Parameters
    ----------
    model : pymc.Model
        From :func:`models.build_model`.
    draws, tune : int
        Kept draws and warm-up iterations per chain.
    chains : int, default 4
    target_accept : float, default 0.9
    sampler : {"pymc", "nutpie"}, default "pymc"
        PyMC's own NUTS or nutpie (see ``benchmarks/bench_nuts.py`` for the choice of default).
    rng : int, numpy.random.Generator or None
        Per-chain seeds are spawned from it.
    initvals : dict or list of dict, optional
        Natural-scale starting values (one dict for all chains, or one per
        chain; per-chain starts need ``sampler="pymc"``). None: PyMC's default
        jittered start.
    progressbar : bool, default True
        PyMC's (or nutpie's) progress bar; False silences it.
    cores : int, optional
        Parallel chains (defaults to PyMC's choice).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood`` and
        ``observed_data``; attributes ``sampler``, ``sampler_version``,
        ``seeds``, ``target_accept``, ``draws``, ``tune``, ``chains``.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}.")
    draws = em._validation.check_positive_int(draws, "draws")
    tune = em._validation.check_positive_int(tune, "tune", minimum=0)
    chains = em._validation.check_positive_int(chains, "chains")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must lie in (0, 1), got {target_accept!r}.")
    rng = em.check_rng(rng)
    seeds = _seeds(rng, chains)
    if initvals is None and model.mixcompare_ordered:
        initvals = start_from_em(model, rng.spawn(1)[0])  # ordered means need distinct starts
    if isinstance(initvals, (list, tuple)):
        if sampler != "pymc":
            raise ValueError("per-chain initvals need sampler='pymc' (nutpie takes one start).")
        if len(initvals) != chains:
            raise ValueError(f"initvals has {len(initvals)} entries for chains={chains}.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=cores, target_accept=target_accept,
            nuts_sampler=sampler, random_seed=seeds if sampler == "pymc" else seeds[0],
            initvals=initvals, progressbar=progressbar, model=model,
            compute_convergence_checks=False,
            idata_kwargs={"log_likelihood": True} if sampler == "pymc" else None,
        )
        if "log_likelihood" not in tree.children:
            tree = pm.compute_log_likelihood(tree, model=model, progressbar=False)
    for w in caught:
        _log.info("sampler: %s", w.message)
    tree.attrs.update({
        "sampler": sampler,
        "sampler_version": version("pymc" if sampler == "pymc" else "nutpie"),
        "pymc_version": version("pymc"),
        "seeds": seeds,
        "target_accept": target_accept,
        "draws": draws,
        "tune": tune,
        "chains": chains,
    })
    return tree
