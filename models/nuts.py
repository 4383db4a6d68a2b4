"""Posterior sampling of the PyMC mixture model with NUTS (PyMC's sampler or nutpie)."""

from __future__ import annotations

import warnings
from importlib.metadata import version

import numpy as np
import pymc as pm
import xarray as xr
from mixcompare import em

from . import _samplers, compiled
from .init import chain_starts
from .points import (
    check_model,
    check_positive_int,
    complete_start,
    log_likelihood_dataset,
    observed_dataset,
)

__all__ = ["SAMPLERS", "SamplerWarning", "SamplingInterrupted", "fit_nuts"]

SAMPLERS = frozenset({"pymc", "nutpie"})
SamplingInterrupted = _samplers.SamplingInterrupted
#: sample-stat names of the two samplers: a divergence, a trajectory cut at the maximum depth
_DIVERGING = ("diverging",)
_MAX_DEPTH = ("reached_max_treedepth", "maxdepth_reached")


class SamplerWarning(em.MixcompareWarning):
    """NUTS's own diagnostics: divergent transitions, trajectories cut at the maximum depth."""


def _warn_diagnostics(stats: xr.Dataset, target_accept: float) -> None:
    """Warn (:class:`SamplerWarning`) about divergences and maximum tree depth after tuning."""
    total = int(stats.sizes.get("chain", 0) * stats.sizes.get("draw", 0))
    for names, what, advice in (
            (_DIVERGING, "divergent transition(s)",
             f"the sampler may have missed part of the posterior; raise target_accept "
             f"(now {target_accept:g}) or look at where they happen"),
            (_MAX_DEPTH, "draw(s) stopped at the maximum tree depth",
             "the chains explored inefficiently (steps too small or a badly scaled posterior); "
             "the draws are valid but may mix slowly")):
        name = next((n for n in names if n in stats), None)
        count = int(np.asarray(stats[name].values).sum()) if name else 0
        if count:
            warnings.warn(f"NUTS: {count} {what} after tuning, out of {total} draws; {advice}.",
                          SamplerWarning, stacklevel=3)


def _seeds(rng, chains: int) -> list[int]:
    return [int(c.integers(2**31 - 1)) for c in em.check_rng(rng).spawn(chains)]


def fit_nuts(mm, *, draws: int = 1000, tune: int = 1000, chains: int = 4,
             target_accept: float = 0.9, max_treedepth: int = 10, sampler: str = "pymc",
             rng=None, init="prior",
             em_result=None, jitter_scale: float = 1.0, reference=None,
             progressbar: bool = True,
             cores: int | None = None, on_progress=None) -> xr.DataTree:
    """Sample the posterior with NUTS.

    Parameters
    ----------
    mm : MixtureModel
        From :func:`models.build_model` (or :func:`models.cached_model`).
    draws, tune : int
        Kept draws and warm-up iterations per chain.
    chains : int, default 4
    target_accept : float, default 0.9
    max_treedepth : int, default 10
        Largest tree depth (at most ``2**max_treedepth`` leapfrog steps per
        draw; PyMC's ``max_treedepth``, nutpie's ``maxdepth``). Lower it only
        for smoke runs whose few tuning steps leave the step size tiny.
    sampler : {"pymc", "nutpie"}, default "pymc"
        PyMC's own NUTS or nutpie (see ``benchmarks/bench_nuts.py`` for the choice of default).
    rng : int, numpy.random.Generator or None
        Per-chain seeds are spawned from it.
    init : {"prior", "em", "atlas"} or dict or list of dict, default "prior"
        Where the chains start (see :mod:`models.init`): PyMC's jittered
        default, EM's best optimum jittered by its standard errors, chains
        spread over EM's atlas of optima, or explicit natural-scale values.
        Per-chain starts (``"em"``, ``"atlas"``, a list) need
        ``sampler="pymc"``; with nutpie ``"em"`` starts every chain at the
        optimum and nutpie adds its own jitter.
    em_result : em.EMResult, optional
        The EM or MAP-EM fit for ``init="em"`` / ``"atlas"``.
    jitter_scale : float, default 1.0
        Jitter of ``"em"``/``"atlas"`` starts, in standard errors.
    reference : em.Params, optional
        Component order the ``"em"``/``"atlas"`` starts are matched to.
    progressbar : bool, default True
        PyMC's (or nutpie's) progress bar; False silences it.
    cores : int, optional
        Parallel chains; by default every CPU this process may use, at most 4
        and at most ``chains`` (:func:`models.compiled.default_cores`). The
        draws are the same whatever the number of cores.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` with the iterations done over
        all chains (tuning included; ``total = chains * (tune + draws)``), in
        this process, for a progress display: after each iteration with
        PyMC's sampler, a few times a second with nutpie. Not with starts that
        only ``pm.sample`` resolves (strategy strings).

    Raises
    ------
    SamplingInterrupted
        A ``KeyboardInterrupt``: the sampler was interrupted (Ctrl-C, or
        SIGTERM turned into one) and returned fewer draws than asked for, or
        none during tuning; its message says how many ("interrupted after N
        of M draws per chain"). A cut-short run is never returned.

    Warns
    -----
    SamplerWarning
        Divergent transitions, or draws stopped at the maximum tree depth,
        after tuning (counted from ``sample_stats``; PyMC's own convergence
        checks, which only log, are off). Other warnings of the samplers
        reach the caller as they are.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``log_likelihood`` and
        ``observed_data``, and ``init`` (each chain's starting values, with
        attributes ``policy`` and ``optimum``: the EM optimum each chain
        started from, -1 otherwise); attributes ``sampler``,
        ``sampler_version``, ``seeds``, ``target_accept``, ``draws``,
        ``tune``, ``chains``, ``init``.

    Notes
    -----
    The compiled objects (PyMC's NUTS step or nutpie's compiled model, the
    trace, the start functions) are built on the first call and kept with
    ``mm`` (:mod:`models.compiled`): later calls, e.g. after
    :meth:`MixtureModel.set_data` with a data set of the same shape, do not
    recompile and sample the data the model currently holds. Each call
    starts from fresh adaptation, so the same ``rng`` gives the same draws on
    a first and a later call, on a fresh and a reused model, and with any
    number of ``cores``. The draws are not those of ``pm.sample`` with the
    same seed (the chain starts and their jitter are drawn here).
    """
    mm = check_model(mm)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}.")
    draws = check_positive_int(draws, "draws")
    tune = check_positive_int(tune, "tune", minimum=0)
    chains = check_positive_int(chains, "chains")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must lie in (0, 1), got {target_accept!r}.")
    max_treedepth = check_positive_int(max_treedepth, "max_treedepth")
    rng = em.check_rng(rng)
    seeds = _seeds(rng, chains)
    initvals, record = chain_starts(mm, init, chains, rng.spawn(1)[0], em_result=em_result,
                                    jitter_scale=jitter_scale, reference=reference)
    if isinstance(initvals, list) and sampler != "pymc":
        if record["policy"] == "em":
            initvals, record = initvals[0], {**record, "jitter": True,
                                             "note": "nutpie: one start, nutpie's own jitter"}
        else:
            raise ValueError(
                f"init={record['policy']!r} starts each chain elsewhere, which needs "
                "sampler='pymc' (nutpie takes one start for all chains)."
            )
    if cores is not None:
        cores = check_positive_int(cores, "cores")
    cores = compiled.default_cores(cores, chains)
    kw = {"draws": draws, "tune": tune, "chains": chains, "cores": cores,
          "target_accept": target_accept, "max_treedepth": max_treedepth,
          "progressbar": progressbar}
    counted = {"on_progress": on_progress}
    per_chain = initvals if isinstance(initvals, list) else [initvals] * chains
    if not compiled.cacheable_starts(initvals):
        tree = _pm_sample(mm, sampler, seeds, initvals, record["jitter"], **kw)
    elif sampler == "pymc":
        starts = [complete_start(mm, s) for s in per_chain]
        tree = _samplers.sample_pymc(mm, seeds=seeds, starts=starts, jitter=record["jitter"],
                                     rngs=[np.random.default_rng(s) for s in seeds], **kw,
                                     **counted)
    else:
        tree = _samplers.sample_nutpie(mm, seed=seeds[0], start=complete_start(mm, initvals),
                                       **kw, **counted)
    _warn_diagnostics(tree["sample_stats"].to_dataset(), target_accept)
    tree["init"] = _init_group(mm, initvals, chains, record)
    tree.attrs.update({
        "sampler": sampler,
        "sampler_version": version("pymc" if sampler == "pymc" else "nutpie"),
        "pymc_version": version("pymc"),
        "seeds": seeds,
        "target_accept": target_accept,
        "max_treedepth": max_treedepth,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "cores": cores,
        "init": record["policy"],
    })
    return tree


def _pm_sample(mm, sampler: str, seeds: list[int], initvals, jitter: bool, *, draws, tune,
               chains, cores, target_accept, max_treedepth, progressbar) -> xr.DataTree:
    """Sample through ``pm.sample`` itself, compiling everything afresh.

    Used for starts with strategy strings (which only ``pm.sample`` resolves).
    """
    model = mm.model
    with _samplers.sampling(draws):
        tree = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=cores, target_accept=target_accept,
            nuts_sampler=sampler, random_seed=seeds if sampler == "pymc" else seeds[0],
            initvals=initvals, progressbar=progressbar, model=model,
            **({"nuts": {"max_treedepth": max_treedepth}} if sampler == "pymc"
               else {"nuts_sampler_kwargs": {"maxdepth": max_treedepth}}),
            init="jitter+adapt_diag" if jitter else "adapt_diag",
            compute_convergence_checks=False,
            **({"callback": _samplers.stop_after_interrupt(draws + tune)}
               if sampler == "pymc" and (cores == 1 or chains == 1) else {}),
        )
    if "posterior" not in tree.children:
        raise SamplingInterrupted(0, draws, tuning=True)
    _samplers.check_complete(tree["posterior"], draws, chains)
    for group in ("constant_data",):
        if group in tree.children:
            del tree[group]
    tree["observed_data"] = observed_dataset(mm)
    tree["log_likelihood"] = log_likelihood_dataset(mm, tree["posterior"])
    return tree


def _init_group(mm, initvals, chains: int, record: dict) -> xr.Dataset:
    """Record the starting values per chain (NaN where PyMC chose them) and the policy."""
    model = mm.model
    per_chain = initvals if isinstance(initvals, list) else [initvals] * chains
    dims_of = model.named_vars_to_dims
    data = {}
    for rv in model.free_RVs:
        name = rv.name
        vals = [np.asarray(p[name], float) if p and name in p and not isinstance(p[name], str)
                else None for p in per_chain]
        shape = next((v.shape for v in vals if v is not None), None)
        if shape is None:
            continue
        arr = np.stack([v if v is not None else np.full(shape, np.nan) for v in vals])
        dims = tuple(dims_of.get(name, ())) or tuple(f"{name}_dim_{i}" for i in range(len(shape)))
        data[name] = (("chain",) + dims, arr)
    attrs = {k: (v if not isinstance(v, list) else np.asarray(v)) for k, v in record.items()}
    return xr.Dataset(data, coords={"chain": np.arange(chains)}, attrs=attrs)
