"""The comparison pipeline: every method on the same data, aligned, in one ``DataTree``.

:func:`compare` is a short sequence of named steps, each a function that
returns a small typed result (:mod:`.fits`: EM, its standard errors,
MAP-EM, ``find_MAP``, NUTS; :mod:`.analysis`: label switching, posterior
summaries, census), with one :class:`.runlog.RunLog` collecting warnings,
problems and timings and one :class:`.runlog.Streams` giving each method its
own random stream. :mod:`.tree` assembles the results into a
:class:`ComparisonResult`, and computes the agreement and "what EM hides"
tables (:mod:`.metrics`). A study's replicate calls the same steps.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from mixcompare.comparisons.io import read_attr

from . import sensitivity
from .analysis import PosteriorAnalysis, analyse_posterior
from .arviz_groups import arviz_groups as make_arviz_groups
from .fits import (
    Setup,
    build_model,
    em_standard_errors,
    fit_em,
    fit_map,
    fit_map_em,
    fit_nuts,
    map_em_at,
)
from .fits import setup as make_setup
from .metrics import HDI_PROB
from .runlog import RunLog, Streams
from .tree import ComparisonResult, assemble, data_about

__all__ = ["METHODS", "ComparisonResult", "PosteriorAnalysis", "RunLog", "Setup", "Streams",
           "compare", "read_attr"]

METHODS = ("em", "map_em", "map", "nuts")


def _check_methods(methods) -> tuple:
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if not methods:
        raise ValueError(f"methods is empty; choose one or more of {list(METHODS)}.")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}.")
    return methods


def _pymc_map(s, fit, map_em, methods, *, ordered: bool, rng, log: RunLog):
    """Build the PyMC model (when find_MAP or NUTS runs) and run find_MAP.

    When find_MAP reaches a higher mode than MAP-EM, MAP-EM is rerun from it
    (:func:`.fits.map_em_at`) so that the two are compared at one mode.
    """
    model = map_fit = None
    if {"map", "nuts"} & set(methods):
        with log.step("build", "building the PyMC model"):
            model = build_model(s, ordered=ordered)
    if "map" in methods:
        map_fit = fit_map(model, fit, rng=rng, log=log, map_em=map_em)
    if map_fit is not None:
        map_fit = replace(map_fit, map_em_at=map_em_at(s, fit, map_em, map_fit, log=log))
    return model, map_fit


def _settings(kw: dict, res, n_init, max_init, **settings) -> dict:
    """Return the run's settings as the tree keeps them (NUTS's from ``kw``, EM's restarts)."""
    init = kw["init"]
    return {**{k: v for k, v in kw.items() if k != "target_accept"}, **settings,
            "init": init if isinstance(init, str) else "explicit",
            "n_init": res.n_restarts, "n_init_rule": str(n_init), "max_init": int(max_init),
            "init_cap_reached": int(res.init_cap_reached)}


def _nuts_steps(s, fit, map_em, model, methods, kw: dict, *, streams: Streams, log: RunLog,
                level, ordered, permute, mode, progressbar, arviz_groups: bool):
    """NUTS, the analysis of its draws, the prior sensitivity and ArviZ's groups.

    (:func:`compare`'s settings; nothing when NUTS is not among the ``methods``.)
    """
    if "nuts" not in methods:
        return None, None, None, {}
    nuts = fit_nuts(model, fit, map_em, **kw, rng=streams.generator("nuts"), log=log,
                    progressbar=progressbar)
    post = analyse_posterior(s, fit, map_em, nuts, model, level=level, log=log, ordered=ordered,
                             permute_rng=streams.generator("spare") if permute else None,
                             mass_rng=streams.generator("mass"))
    sens = sensitivity.prior_sensitivity(s, fit, map_em, post, mode=mode, log=log,
                                         rng=streams.generator("sensitivity"),
                                         nuts_kw={**kw, "ordered": ordered})
    extra = (make_arviz_groups(model, nuts, rng=streams.generator("predictive"), log=log)
             if arviz_groups else {})
    return nuts, post, sens, extra


def compare(X, n_components, *, methods=METHODS, prior=None, structure=None, fixed=None,
            ordered=False, draws=1000, tune=1000, chains=4, sampler="pymc", init="em",
            target_accept=0.9, max_treedepth=10, n_init="auto", max_init=200, n_boot=200,
            level=HDI_PROB, permute=False, rng=None, progress=None, progressbar=False,
            name="data", source="", command="", columns=None, units=None, description="",
            prior_sensitivity="reweight", arviz_groups=True) -> ComparisonResult:
    """Fit the same mixture by EM, MAP-EM, ``find_MAP`` and NUTS and compare them.

    Parameters
    ----------
    X : array_like of shape (n_samples,) or (n_samples, n_features)
    n_components : int
    methods : sequence of {"em", "map_em", "map", "nuts"}
        ``"em"`` always runs (it is the reference for alignment).
    prior : em.Prior, optional
        Shared by MAP-EM and the PyMC model; ``em.Prior.default(X)`` by default.
    structure, fixed : optional
        As in :func:`em.fit`.
    ordered : bool, default False
        Ordered means in the PyMC model (labels identified) or not
        (label switching is then possible and detected).
    draws, tune, chains, sampler, target_accept, max_treedepth : NUTS settings
        See :func:`models.fit_nuts`.
    init : {"em", "atlas", "prior"} or dict or list, default "em"
        Where the chains start (see :mod:`models.init`); ``"em"`` uses the
        MAP-EM optimum when MAP-EM ran, else EM's.
    n_init, max_init : int or "auto", default "auto"; int, default 200
        EM restarts (the atlas): ``"auto"`` until EM's answer is reached twice, at most
        ``max_init`` (:func:`em.fit`); MAP-EM runs as many, from the same starts.
    n_boot : int, default 200
        Bootstrap replicates for EM's standard errors (0 to skip).
    permute : bool, default False
        Randomly permute each draw's labels before the label-switching analysis
        (unordered models; Frühwirth-Schnatter 2001): the full symmetric posterior.
    level : float, default 0.94
        The one level of every interval: the posterior HDI, the predictive
        band and the bootstrap percentile interval (recorded as ``level``).
    rng : int, numpy.random.Generator or None
        One seed for everything; each method gets its own named child stream
        (:class:`.runlog.Streams`), so skipping a method changes no other's numbers.
    progress : callable, optional
        Called with a short message as each step starts (the CLI shows them).
    progressbar : bool, default False
        PyMC's progress bars.
    name, source, description, command : str
        The data set's name, source, description and the command run (kept in the tree).
    columns, units : sequence of str, optional
        The data's column names and units (report and axes: "waiting (min)").
    prior_sensitivity : {"reweight", "refit", "off"}, default "reweight"
        Hidden spread and agreement under ``b`` / 10 and / 100 (:mod:`.sensitivity`).
    arviz_groups : bool, default True
        Keep ArviZ's groups (``observed_data``, ``log_likelihood``, ``prior``, the
        predictive draws; :mod:`.arviz_groups`) in the tree when NUTS ran.

    Returns
    -------
    ComparisonResult
    """
    methods = _check_methods(methods)
    sensitivity.check_mode(prior_sensitivity)
    if permute and ordered:
        raise ValueError("permute=True shows the symmetric posterior of unordered labels; "
                         "it cannot apply to ordered=True (drop one of them).")
    seed = rng if isinstance(rng, (int, np.integer)) else None
    s = make_setup(X, n_components, structure=structure, fixed=fixed, prior=prior)
    about = data_about(s.X, columns, units, description)  # refused before any fitting
    streams, log = Streams(rng), RunLog(progress=progress)
    fit = fit_em(s, n_init=n_init, max_init=max_init, rng=streams.generator("restarts"),
                 log=log)
    errs = em_standard_errors(fit, n_boot=n_boot, level=level,
                              rng=streams.generator("bootstrap"), log=log)
    map_em = (fit_map_em(s, fit, n_init=n_init, rng=streams.generator("restarts"), log=log)
              if "map_em" in methods else None)
    model, map_fit = _pymc_map(s, fit, map_em, methods, ordered=ordered,
                               rng=streams.generator("map"), log=log)
    kw = {"draws": draws, "tune": tune, "chains": chains, "sampler": sampler, "init": init,
          "target_accept": target_accept, "max_treedepth": max_treedepth}
    nuts, post, sens, extra = _nuts_steps(
        s, fit, map_em, model, methods, kw, streams=streams, log=log, level=level,
        ordered=ordered, permute=permute, mode=prior_sensitivity, progressbar=progressbar,
        arviz_groups=arviz_groups)
    settings = _settings(kw, fit.result, n_init, max_init, name=name, ordered=int(ordered),
                         methods=list(methods), n_boot=n_boot, level=float(level),
                         permute_labels=int(permute), prior_sensitivity=prior_sensitivity,
                         provenance=json.dumps({"seed": None if seed is None else int(seed),
                                                "command": command, "source": source}))
    return assemble(s, settings, log, fit, errs, map_em, map_fit, nuts, post, about=about,
                    sensitivity=sens, extra=extra)
