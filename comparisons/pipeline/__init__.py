"""The harness: every method on the same data, aligned, in one ``xarray.DataTree``.

``compare`` runs EM (with Louis and bootstrap standard errors), MAP-EM,
``find_MAP`` and NUTS on the same data with the same prior, aligns their
components, detects and undoes label switching, and computes the agreement
and "what EM hides" tables (:mod:`mixcompare.comparisons.pipeline.metrics`).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.pipeline import metrics
from mixcompare.comparisons.posterior import census, switching
from mixcompare.comparisons.tables import flatten, table

__all__ = ["METHODS", "ComparisonResult", "compare"]

METHODS = ("em", "map_em", "map", "nuts")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComparisonResult:
    """Everything a comparison produced, in one DataTree.

    Attributes
    ----------
    tree : xarray.DataTree
        Groups: ``data``; ``em`` (estimates, attributes with the
        log-likelihood), ``em/optima``, ``em/se``, ``em/traces``; ``map_em``;
        ``map``; ``posterior``, ``posterior_relabeled``, ``sample_stats``,
        ``init``; ``comparison/agreement``, ``comparison/hidden``,
        ``comparison/label_switching``, ``comparison/diagnostics``,
        ``comparison/membership``, ``comparison/density``. Attributes:
        settings and provenance.
    """

    tree: xr.DataTree

    def to_netcdf(self, path) -> None:
        """Write the whole tree to one netCDF file (h5netcdf), atomically."""
        from pathlib import Path

        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        _netcdf_safe(self.tree).to_netcdf(tmp, engine="h5netcdf")
        tmp.replace(path)

    @classmethod
    def from_netcdf(cls, path) -> ComparisonResult:
        """Read a result written by :meth:`to_netcdf`."""
        tree = xr.open_datatree(path, engine="h5netcdf").load()
        return cls(tree)

    def summary(self) -> dict:
        """Return the ``summary.json`` contract (see :func:`.summary.summarise`)."""
        from mixcompare.comparisons.report.summary_json import summarise

        return summarise(self.tree)


def _safe_attr(v):
    """Convert an attribute to one netCDF can store (bools as ints, mappings as JSON)."""
    import json

    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if v is None:
        return ""
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    if isinstance(v, (list, tuple)):
        if len(v) == 0:
            return ""
        if all(isinstance(x, (bool, np.bool_)) for x in v):
            return [int(x) for x in v]
        if all(isinstance(x, (int, float, np.integer, np.floating)) for x in v):
            return list(v)
        return [str(x) for x in v]
    if isinstance(v, np.ndarray) and v.dtype == bool:
        return v.astype(int)
    return v


def _netcdf_safe(tree: xr.DataTree) -> xr.DataTree:
    """Copy the tree with attributes netCDF accepts."""
    out = tree.copy()
    for node in out.subtree:
        node.attrs = {k: _safe_attr(v) for k, v in node.attrs.items()}
        for var in node.variables.values():
            var.attrs = {k: _safe_attr(v) for k, v in var.attrs.items()}
    return out


def _say(progress, msg):
    _log.info(msg)
    if progress is not None:
        progress(msg)


def _em_dataset(res: em.EMResult, order: np.ndarray) -> xr.Dataset:
    """EM-like estimates in the reference component order."""
    ds = res.to_dataset().isel(component=order)
    return ds.assign_coords(component=np.arange(res.n_components))


def _point_from_tree(tree: xr.DataTree, one_d: bool) -> em.Params:
    p = tree["posterior"]
    w = p["weights"].values[0, 0]
    m = p["means"].values[0, 0]
    v = p["variances"].values[0, 0]
    K = w.shape[0]
    m2 = m.reshape(K, -1)
    cov = (p["covariances"].values[0, 0] if "covariances" in p
           else v.reshape(K, -1)[:, :, None] * np.eye(m2.shape[1]))
    return em.Params(w, m2, cov)


def compare(X, n_components, *, methods=METHODS, prior=None, structure=None, fixed=None,
            ordered=False, draws=1000, tune=1000, chains=4, sampler="pymc", init="em",
            target_accept=0.9, n_init=20, n_boot=200, rng=None, progress=None,
            progressbar=False, name="data") -> ComparisonResult:
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
    draws, tune, chains, sampler, target_accept : NUTS settings
        See :func:`models.fit_nuts`.
    init : {"em", "atlas", "prior"} or dict or list, default "em"
        Where the chains start (see :mod:`models.init`); ``"em"`` uses the
        MAP-EM optimum when MAP-EM ran, else EM's.
    n_init : int, default 20
        EM restarts (the atlas of optima).
    n_boot : int, default 200
        Bootstrap replicates for EM's standard errors (0 to skip).
    rng : int, numpy.random.Generator or None
        One seed for everything; each method gets its own spawned child.
    progress : callable, optional
        Called with a short message as each step starts (the CLI shows them).
    progressbar : bool, default False
        PyMC's progress bars.
    name : str
        Data set name (for the report).

    Returns
    -------
    ComparisonResult
    """
    methods = tuple(methods)
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {list(METHODS)}.")
    X, spec = em.model_spec(X, n_components, structure=structure, fixed=fixed)
    K, d = spec.n_components, spec.n_features
    dd = None if spec.one_d else d
    prior = em.Prior.default(X) if prior is None else prior
    rng = em.check_rng(rng)
    seeds = rng.spawn(5)
    timings, problems = {}, []
    caught = []

    def record(ws):
        caught.extend(f"{w.category.__name__}: {w.message}" for w in ws
                      if issubclass(w.category, em.MixcompareWarning))

    # ---------------------------------------------------------------- EM
    _say(progress, f"EM: {n_init} restarts")
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always", em.MixcompareWarning)
        mle = em.fit(X, K, structure=structure, fixed=fixed, n_init=n_init, rng=seeds[0])
    record(ws)
    key = mle.means if spec.one_d else mle.means[:, 0]
    order = np.argsort(key, kind="stable")  # display order of the reference (EM's MLE)
    ref = em.Params(mle.weights[order], mle.params().means[order], mle.covariances[order])
    timings["em"] = time.perf_counter() - t
    groups = {"em": _em_dataset(mle, order)}
    groups["em"].attrs.update({"log_likelihood": mle.log_likelihood,
                               "converged": int(mle.converged), "n_iter": mle.n_iter})
    groups["em/optima"] = metrics.optima_dataset(mle)
    groups["em/traces"] = metrics.traces_dataset(mle)
    se_cols = {}
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always", em.MixcompareWarning)
        try:
            louis = mle.standard_errors("louis")
            se_cols["se_louis"] = flatten(louis.weights[order], louis.means[order],
                                          louis.sds[order])
            se_cols["se_louis_method"] = np.full(len(se_cols["se_louis"]),
                                                 louis.method_used == "louis", dtype=float)
        except (ValueError, NotImplementedError, np.linalg.LinAlgError) as err:
            problems.append(f"EM standard errors (Louis) unavailable: {err}")
        if n_boot:
            _say(progress, f"EM: bootstrap, {n_boot} refits")
            t = time.perf_counter()
            boot = mle.standard_errors("bootstrap", n_boot=n_boot, rng=seeds[1])
            ci = boot.intervals(0.95)
            se_cols["se_boot"] = flatten(boot.weights[order], boot.means[order],
                                         boot.sds[order])
            se_cols["boot_low"] = flatten(ci.weights[0][order], ci.means[0][order],
                                          ci.sds[0][order])
            se_cols["boot_high"] = flatten(ci.weights[1][order], ci.means[1][order],
                                           ci.sds[1][order])
            timings["bootstrap"] = time.perf_counter() - t
            if boot.n_failed:
                problems.append(f"{boot.n_failed} of {n_boot} bootstrap refits failed")
    record(ws)
    est = {"em": flatten(ref.weights, mle.means[order], mle.sds[order])}
    groups["em/se"] = table(K, dd, se_cols) if se_cols else xr.Dataset()
    if mle.degenerate.any():
        problems.append("EM's best optimum is degenerate (a component at the variance floor)")
    if not mle.converged:
        problems.append("EM did not converge (max_iter reached)")

    # ------------------------------------------------------------ MAP-EM
    mapem = None
    if "map_em" in methods:
        _say(progress, "MAP-EM")
        t = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as ws:
                warnings.simplefilter("always", em.MixcompareWarning)
                mapem = em.fit(X, K, structure=structure, fixed=fixed, n_init=n_init,
                               rng=seeds[0], prior=prior)
            record(ws)
            perm, _ = em.match_components(ref, mapem.params())
            groups["map_em"] = _em_dataset(mapem, perm)
            groups["map_em"].attrs.update({"log_posterior": mapem.log_posterior,
                                           "log_likelihood": mapem.log_likelihood})
            est["map_em"] = flatten(mapem.weights[perm], mapem.means[perm], mapem.sds[perm])
            groups["map_em/optima"] = metrics.optima_dataset(mapem)
        except ValueError as err:
            problems.append(f"MAP-EM skipped: {err}")
        timings["map_em"] = time.perf_counter() - t

    # --------------------------------------------------------- PyMC model
    model = None
    if "map" in methods or "nuts" in methods:
        from mixcompare import models

        model = models.build_model(X, K, prior=prior, structure=structure, fixed=fixed,
                                   ordered=ordered)
    if "map" in methods:
        _say(progress, "find_MAP")
        t = time.perf_counter()
        try:
            mtree = models.fit_map(model, rng=seeds[2])
            point = _point_from_tree(mtree, spec.one_d)
            perm, _ = em.match_components(ref, point)
            sds = np.sqrt(np.einsum("kii->ki", point.covariances))
            mm = point.means[:, 0] if spec.one_d else point.means
            ss = sds[:, 0] if spec.one_d else sds
            est["map"] = flatten(point.weights[perm], mm[perm], ss[perm])
            groups["map"] = mtree["posterior"].to_dataset().isel(
                chain=0, draw=0, component=perm).assign_coords(component=np.arange(K))
            groups["map"].attrs.update({"log_density": mtree.attrs["log_density"],
                                        "n_starts": mtree.attrs["n_starts"]})
            groups["map/starts"] = mtree["map_starts"].to_dataset()
        except models.MAPError as err:
            problems.append(str(err))
        timings["map"] = time.perf_counter() - t

    post = None
    if "nuts" in methods:
        _say(progress, f"NUTS: {chains} chains x ({tune} tune + {draws} draws), {sampler}")
        t = time.perf_counter()
        start_fit = mapem if (mapem is not None and init in ("em", "atlas")) else mle
        ntree = models.fit_nuts(model, draws=draws, tune=tune, chains=chains, sampler=sampler,
                                target_accept=target_accept, rng=seeds[3], init=init,
                                em_result=start_fit, reference=ref, progressbar=progressbar)
        timings["nuts"] = time.perf_counter() - t
        post = ntree["posterior"].to_dataset()
        groups["posterior"] = post
        groups["sample_stats"] = ntree["sample_stats"].to_dataset()
        groups["init"] = ntree["init"].to_dataset()
        _say(progress, "label switching and relabelling")
        src = mle if mapem is None else mapem
        pperm = order if mapem is None else em.match_components(ref, mapem.params())[0]
        pivot = (src.weights[pperm], src.means[pperm], src.variances[pperm])
        ls = switching.analyse(post, pivot, X)
        groups["posterior_relabeled"] = ls.relabeled
        groups["comparison/label_switching"] = ls.dataset
        relabeled = ls.relabeled
        summ = metrics.posterior_summary(relabeled, K, dd)
        groups["comparison/diagnostics"] = metrics.diagnostics(post, relabeled, K, dd,
                                                               groups["sample_stats"])
        groups["comparison/membership"] = metrics.membership(relabeled, X, mle, order)
        if spec.one_d:
            groups["comparison/density"] = metrics.density(relabeled, X, mle)
        groups["comparison/modes"] = metrics.posterior_mass_near_optima(post, mle)
        atlas = mapem if mapem is not None else mle
        started = (ntree["init"].attrs.get("optimum") if init in ("em", "atlas")
                   and start_fit is atlas else None)
        groups["comparison/census"] = census.take_census(
            post, atlas, model, X, switching_rate=ls.dataset["switching_rate"].values,
            structure=structure, fixed=fixed,
            started_at=None if started is None else np.atleast_1d(started))
    else:
        summ = None

    agreement = metrics.agreement(K, dd, est, groups.get("em/se"), summ,
                                  map_comparable=spec.kind != "full")
    groups["comparison/agreement"] = agreement
    groups["comparison/hidden"] = metrics.hidden(K, dd, groups.get("em/se"), summ)
    problems += metrics.problems(groups)
    groups["data"] = xr.Dataset({"x": (("obs",) if spec.one_d else ("obs", "feature"), X)})
    tree = xr.DataTree.from_dict({"/" + k: v for k, v in groups.items()})
    tree.attrs.update({
        "name": name, "n_components": K, "structure": spec.structure, "ordered": int(ordered),
        "methods": list(methods), "draws": draws, "tune": tune, "chains": chains,
        "sampler": sampler, "init": init if isinstance(init, str) else "explicit",
        "prior": json.dumps(prior.to_dict()), "problems": json.dumps(list(problems)),
        "warnings": json.dumps(list(dict.fromkeys(caught))),
        "timings": json.dumps(timings), "n_init": n_init, "n_boot": n_boot,
        "map_comparable": int(spec.kind != "full"),
    })
    return ComparisonResult(tree)
