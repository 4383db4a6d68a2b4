"""Run PyMC's NUTS and nutpie around a model's cached compiled objects (:mod:`.compiled`).

PyMC: ``pm.sample`` with the model's cached ``pm.NUTS`` step (``pm.sample``
resets its adaptation and reseeds it for every chain) and trace template.
nutpie: ``nutpie.sample`` on the cached compiled model, with the current
data (``with_data``) and start. The element-wise log-likelihood is computed
from the draws (:func:`models.points.log_likelihood_dataset`), so nothing
is compiled after the first fit of a model.
"""

from __future__ import annotations

import threading

import numpy as np
import pymc as pm
import xarray as xr

from .map import jittered_start
from .points import log_likelihood_dataset, observed_dataset

__all__ = ["sample_nutpie", "sample_pymc"]

_NUTPIE_LOCK = threading.Lock()  # the start lives in shared variables of the compiled model


def _free_values(mm, point: dict) -> dict:
    values = mm.cache.values(mm.model)(point)
    return {rv.name: values[rv.name] for rv in mm.model.free_RVs}


def sample_pymc(mm, *, draws: int, tune: int, chains: int, cores: int, target_accept: float,
                seeds: list[int], starts: list[dict], jitter: bool, rngs,
                progressbar: bool) -> xr.DataTree:
    """PyMC's NUTS from ``starts`` (natural scale, one per chain).

    With ``jitter``, each start gets U(-1, 1) jitter on the unconstrained
    scale from that chain's generator in ``rngs``, redrawn until the log
    density is finite. The mass matrix starts at PyMC's default (diagonal of
    ones) and adapts as in ``pm.sample(init="adapt_diag")``. Returns the
    groups ``posterior``, ``sample_stats``, ``observed_data`` and
    ``log_likelihood``.
    """
    cache, model = mm.cache, mm.model
    points = [jittered_start(mm, s, jitter, rng) for s, rng in zip(starts, rngs, strict=True)]
    initvals = [_free_values(mm, p) for p in points]
    step = cache.nuts_step(model, target_accept, points[0])
    # pm.sample resets the step's adaptation per chain when it samples in this process, not in
    # its worker processes (cores > 1), which get a copy of the step as it is: reset it here
    step.reset_tuning()
    tree = pm.sample(
        draws=draws, tune=tune, chains=chains, cores=cores, step=step, initvals=initvals,
        random_seed=seeds, progressbar=progressbar, model=model, trace=cache.trace(model),
        compute_convergence_checks=False, idata_kwargs={"log_likelihood": False},
    )
    for group in ("constant_data",):
        if group in tree.children:
            del tree[group]
    tree["observed_data"] = observed_dataset(mm)
    tree["log_likelihood"] = log_likelihood_dataset(mm, tree["posterior"])
    return tree


def sample_nutpie(mm, *, draws: int, tune: int, chains: int, cores: int, target_accept: float,
                  seed: int, start: dict, progressbar: bool) -> xr.DataTree:
    """``nutpie.sample`` on the model's compiled nutpie model, with its current data.

    Every chain starts at ``start`` (natural scale) with nutpie's own
    U(-1, 1) jitter on the unconstrained scale, seeded by ``seed``. Returns
    the groups ``posterior``, ``sample_stats``, ``observed_data`` and
    ``log_likelihood``.
    """
    import nutpie

    cache, model = mm.cache, mm.model
    compiled_model = cache.nutpie(model)
    data = {"x": np.asarray(model["x"].get_value())}
    with _NUTPIE_LOCK:
        compiled = compiled_model.prepared(start, data)
        tree = nutpie.sample(
            compiled, draws=draws, tune=max(tune, 1), chains=chains, cores=cores,
            seed=int(seed), save_warmup=False, store_unconstrained=False,
            progress_bar=bool(progressbar), target_accept=target_accept,
        )
    tree["observed_data"] = observed_dataset(mm)
    tree["log_likelihood"] = log_likelihood_dataset(mm, tree["posterior"])
    return tree
