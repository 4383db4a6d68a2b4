"""``choose_k``: how many components, by EM's criteria and by the posterior's, side by side."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.pipeline.runlog import RunLog

from .em_side import default_structures, em_side
from .mclust_refs import MCLUST_RECIPE, mclust_panel
from .result import ChooseKResult

__all__ = ["PARTS", "choose_k"]

#: the parts of the panel, in the order they run
PARTS = ("em", "lrt", "loo", "smc", "overfitted")


def _check(X, k_max, structures, parts) -> tuple:
    X = em.validate_data(X)
    k_max = em.check_positive_int(k_max, "k_max", minimum=1)
    structures = tuple(structures) if structures else default_structures(X)
    for s in structures:
        em.model_spec(X, k_max, structure=s)  # names the problem with a wrong structure
    bad = set(parts) - set(PARTS)
    if bad or "em" not in parts:
        raise ValueError(f"parts must include 'em' and be among {PARTS}; got {tuple(parts)}.")
    if k_max < 2 and ("lrt" in parts or "overfitted" in parts):
        raise ValueError("the likelihood-ratio test and the overfitted mixture need k_max >= 2.")
    return X, k_max, structures


def _loglik_group(trees: dict) -> xr.Dataset:
    """Stack the pointwise log-likelihood of every K over a ``k`` dimension."""
    parts = [t["log_likelihood"].to_dataset() for t in trees.values()]
    return xr.concat(parts, dim="k", join="outer").assign_coords(k=np.arange(1, len(parts) + 1))


def _table_dataset(df) -> xr.Dataset:
    """ArviZ's comparison table as a Dataset over ``model`` (text columns as str)."""
    df = df.rename_axis("model").copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].astype(str)
    return xr.Dataset.from_dataframe(df)


def choose_k(X, k_max: int, *, structures=None, bayes_structure: str | None = None,
             prior: em.Prior | None = None, parts=PARTS, n_init=50, max_init: int = 200,
             n_boot: int = 99, boot_n_init: int = 3, n_jobs="auto", draws: int = 500,
             tune: int = 500,
             chains: int = 2, smc_draws: int = 400, smc_chains: int = 4,
             overfitted_alpha: float | None = None, mclust_start: bool | None = None,
             rng=None, name: str = "data", progress=None) -> ChooseKResult:
    """Answer "how many components?" with EM's criteria and the posterior's, on the same data.

    Parameters
    ----------
    X : array_like of shape (n,) or (n, d)
    k_max : int
        Largest K considered (K = 1..k_max); the overfitted mixture has k_max components.
    structures : sequence of str, optional
        EM's structures (default: every one that applies, see
        :func:`em_side.default_structures`).
    bayes_structure : str, optional
        The structure of the Bayesian side (default: ``unequal`` for 1-D data,
        ``full`` otherwise, or the first of ``structures`` when those are absent).
    prior : em.Prior, optional
        Default ``em.Prior.default(X)``: the comparison's prior.
    parts : sequence of str, default PARTS
        Which of ``em, lrt, loo, smc, overfitted`` to run (``em`` always).
    n_init, max_init
        EM's restarts per (structure, K): 50, or ``"auto"`` (with its cap).
    n_boot, boot_n_init : int
        Bootstrap data sets per likelihood-ratio test and EM restarts per refit.
        The tests (K against K + 1, K = 1..k_max - 1) are run for every
        structure of ``structures`` (mclust's ``mclustBootstrapLRT`` tests one
        model per call).
    n_jobs : int or "auto", default "auto"
        Worker processes for the bootstrap (:func:`lrt_jobs.run_stats`: with
        ``"auto"``, one per CPU when the bootstrap would take more than 20 s
        here); the results do not depend on it.
    draws, tune, chains : int
        NUTS per K (LOO) and for the overfitted mixture.
    smc_draws, smc_chains : int
        SMC particles per chain and chains per K.
    overfitted_alpha : float, optional
        The sparse Dirichlet's concentration (default
        :data:`models.overfitted.SPARSE_ALPHA`).
    mclust_start : bool, optional
        Also fit every (structure, K) as mclust does (its start and stopping
        rule, see :mod:`mclust_start`; for ``name`` in
        :data:`mclust_refs.MCLUST_RECIPE`, the starts of its published run),
        recorded in the atlas. Default: on for 1-D data, off otherwise (not
        available for multivariate data).
    rng : int, numpy.random.Generator or None
        One child stream per part.
    name : str
    progress : callable, optional
        Called with each step's message; its ``count(what, done, total)``, if
        any, gets counted work (as :class:`comparisons.progress.RunProgress`).

    Returns
    -------
    ChooseKResult
    """
    X, k_max, structures = _check(X, k_max, structures, parts)
    rng = em.check_rng(rng)
    streams = dict(zip(PARTS, rng.spawn(len(PARTS)), strict=True))
    prior = em.Prior.default(X) if prior is None else prior
    preferred = "unequal" if X.ndim == 1 else "full"
    bayes = bayes_structure or (preferred if preferred in structures else structures[0])
    log, groups = RunLog(progress=progress), {}
    mclust_start = X.ndim == 1 if mclust_start is None else bool(mclust_start)
    with log.step("em", "EM: every K and structure"):
        table, atlas, fits = em_side(X, k_max, structures, n_init=n_init, max_init=max_init,
                                     rng=streams["em"], mclust_start=mclust_start,
                                     mclust_recipe=MCLUST_RECIPE.get(name), progress=progress)
    groups |= {"em": table, "em_atlas": atlas}
    if "lrt" in parts:
        from .lrt import bootstrap_lrt
        with log.step("lrt", f"bootstrap LRT ({n_boot} data sets per test)"):
            groups["lrt"] = bootstrap_lrt(fits, structures, k_max, X.shape[0], n_boot=n_boot,
                                          n_init=boot_n_init, rng=streams["lrt"], n_jobs=n_jobs,
                                          on_progress=log.counter("bootstrap LRT"))
    if "loo" in parts:
        from .loo import loo_side
        with log.step("loo", "NUTS per K for PSIS-LOO"):
            loo, cmp_table, trees = loo_side(
                X, k_max, bayes, prior, draws=draws, tune=tune, chains=chains, rng=streams["loo"],
                on_progress=getattr(progress, "count", None))
        groups |= {"loo": loo, "loo_compare": _table_dataset(cmp_table),
                   "log_likelihood": _loglik_group(trees)}
    if "smc" in parts:
        from .smc import smc_side
        with log.step("smc", "SMC marginal likelihood per K"):
            groups["smc"] = smc_side(X, k_max, bayes, prior, draws=smc_draws, chains=smc_chains,
                                     rng=streams["smc"], on_progress=log.counter("SMC, K"))
    if "overfitted" in parts:
        from .overfitted import overfitted_side
        with log.step("overfitted", f"overfitted mixture, {k_max} components"):
            groups["overfitted"] = overfitted_side(
                X, k_max, bayes, prior, alpha=overfitted_alpha, draws=draws, tune=tune,
                chains=chains, rng=streams["overfitted"],
                on_progress=log.counter("NUTS, overfitted"))
    attrs = {"name": name, "n_samples": int(X.shape[0]),
             "n_features": 1 if X.ndim == 1 else int(X.shape[1]), "k_max": k_max,
             "structures": json.dumps(list(structures)), "bayes_structure": bayes,
             "parts": json.dumps(list(parts)), "prior": json.dumps(prior.to_dict()),
             "timings": json.dumps({k: round(v, 2) for k, v in log.timings.items()}),
             "warnings": json.dumps(log.unique_warnings()),
             "mclust": json.dumps(mclust_panel(name, table, atlas))}
    data = xr.Dataset({"x": (("obs",) if X.ndim == 1 else ("obs", "feature"), X)})
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), "data": data} | groups)
    return ChooseKResult(tree)
