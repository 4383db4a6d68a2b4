"""Run PyMC's NUTS and nutpie around a model's cached compiled functions (:mod:`.compiled`).

Each run builds what depends on it afresh (the NUTS step with its adaptive
mass matrix and step size, nutpie's sampler, the chain starts from cached
start functions), so the same seed gives the same draws on a first and on
any later call, and the draws do not depend on the number of cores.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pymc as pm
import xarray as xr
from pymc.blocking import DictToArrayBijection
from pymc.step_methods.hmc import quadpotential

from .compiled import (
    JITTER_MAX_RETRIES,
    ModelCache,
    _data,
    cache_for,
    cacheable_starts,
    default_cores,
    log_likelihood,
)

__all__ = ["sample_nutpie", "sample_pymc"]


# ------------------------------------------------------------------------ starts
def _chain_points(model, cache: ModelCache, initvals, seeds, jitter: bool) -> list[dict]:
    """Unconstrained start of each chain, as ``pm.sample``'s ``init_nuts`` computes it.

    With ``jitter``, PyMC's U(-1, 1) jitter, redrawn (new seed) up to
    :data:`JITTER_MAX_RETRIES` times until the log density is finite.
    """
    per_chain = initvals if isinstance(initvals, list) else [initvals] * len(seeds)
    logp = cache.logp_dlogp(model) if jitter else None
    points = []
    for values, seed in zip(per_chain, seeds, strict=True):
        fn = cache.start(model, values, jitter)
        if not jitter:
            points.append(fn(seed))
            continue
        rng = np.random.default_rng(seed)
        for attempt in range(JITTER_MAX_RETRIES + 1):
            point = fn(seed)
            q, _ = DictToArrayBijection.map(point)
            if np.isfinite(logp([q], extra_vars={})[0]):
                break
            if attempt == JITTER_MAX_RETRIES:
                model.check_start_vals(point)  # raises PyMC's informative SamplingError
            seed = rng.integers(2**30, dtype=np.int64)
        points.append(point)
    return points


def _chain_seeds(random_seed, chains: int) -> list[int]:
    """Per-chain seeds as ``pm.sample`` derives them from its ``random_seed``."""
    return [int(r.integers(2**30)) for r in np.random.default_rng(random_seed).spawn(chains)]


def _check_overrides(initvals) -> None:
    if not cacheable_starts(initvals):
        raise TypeError("start values must be numeric arrays (no strategy strings or None).")


# ------------------------------------------------------------------------ PyMC's NUTS
def sample_pymc(model: pm.Model, *, draws: int, tune: int, chains: int, cores: int | None,
                target_accept: float, seeds: list[int], initvals, jitter: bool,
                progressbar: bool) -> xr.DataTree:
    """``pm.sample`` with PyMC's NUTS around the model's cached compiled functions.

    Equivalent to ``pm.sample(init="jitter+adapt_diag" if jitter else "adapt_diag",
    initvals=initvals, random_seed=seeds, target_accept=target_accept, ...)``:
    the same starts, the same diagonal mass-matrix adaptation started at the
    mean of the starts, a fresh step (adaptation state) every run. Returns
    the groups ``posterior``, ``sample_stats``, ``observed_data`` and
    ``log_likelihood``.
    """
    _check_overrides(initvals)
    cache = cache_for(model)
    seed_list = _chain_seeds(seeds, chains)
    points = _chain_points(model, cache, initvals, seed_list, jitter)
    mean = np.mean([DictToArrayBijection.map(p).data for p in points], axis=0)
    potential = quadpotential.QuadPotentialDiagAdapt(mean.size, mean, np.ones_like(mean), 10,
                                                     rng=seed_list[0])
    step = pm.NUTS(model=model, potential=potential, rng=seed_list[0], initial_point=points[0],
                   logp_dlogp_func=cache.logp_dlogp(model), target_accept=target_accept)
    # pm.sample recomputes each chain's start from ``initvals`` without jitter: hand it the
    # natural-scale values when there is no jitter (the same numbers), else the jittered points
    starts = initvals if not jitter else [dict(p) for p in points]
    tree = pm.sample(
        draws=draws, tune=tune, chains=chains, cores=cores, step=step, initvals=starts,
        random_seed=seeds, progressbar=progressbar, model=model, trace=cache.trace(model),
        compute_convergence_checks=False, idata_kwargs={"log_likelihood": False},
    )
    tree["log_likelihood"] = log_likelihood(model, tree)
    return tree


# ------------------------------------------------------------------------ nutpie
def _blas_limiter(cores: int | None):
    """BLAS threads as ``pm.sample`` limits them around nutpie (not under ``fork``)."""
    import contextlib
    import multiprocessing

    if multiprocessing.get_context().get_start_method() == "fork":  # as pm.sample decides
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=cores if cores is not None else default_cores(None, 4))


def sample_nutpie(model: pm.Model, *, draws: int, tune: int, chains: int, cores: int | None,
                  target_accept: float, seed: int, initvals: dict | None,
                  progressbar: bool) -> xr.DataTree:
    """``nutpie.sample`` on the model's cached compiled nutpie model, with the current data.

    Equivalent to ``pm.sample(nuts_sampler="nutpie", random_seed=seed,
    initvals=initvals, target_accept=target_accept, ...)``: the same seed,
    cores, jittered start (nutpie's own, around ``initvals``), and the groups
    ``pm.sample`` returns (``posterior``, ``sample_stats``, ``constant_data``,
    ``observed_data``), plus ``log_likelihood``.
    """
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    if isinstance(initvals, list):
        raise NotImplementedError("nutpie takes one start for all chains.")
    _check_overrides(initvals)
    cache = cache_for(model)
    compiled = cache.nutpie(model)
    data = _data(model)
    names = {var.name for var in compiled.shared_var_keys}
    compiled = compiled.with_data(**{k: v for k, v in data.items() if k in names})
    start = cache.start(model, initvals, jitter=True)
    compiled = dataclasses.replace(compiled, initial_point_func=start.flat)
    t0 = time.time()
    with _blas_limiter(cores):
        tree = nutpie.sample(
            compiled, draws=draws, tune=max(tune, 1), chains=chains,
            cores=default_cores(cores, chains), seed=_chain_seeds(seed, chains)[0],
            save_warmup=False, store_unconstrained=False, progress_bar=bool(progressbar),
            target_accept=target_accept,
        )
    patch_nutpie_idata(tree, model, sampling_time=time.time() - t0)
    tree["log_likelihood"] = log_likelihood(model, tree)
    return tree
