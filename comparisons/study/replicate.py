"""One replicate of a study: simulate, fit every method, align to the truth, record.

:func:`run_replicate` runs on a worker (a Dask worker process, or the
calling process) and returns a JSON-ready record; it never raises for a
failed fit: each method's failure is recorded with its reason.

Seeds
-----
Replicate ``r`` of cell ``c`` draws everything from
``np.random.SeedSequence(entropy=seed, spawn_key=(c, r))`` (see
:func:`replicate_seed`). Its first child seeds the data; its second is the
root of the comparison pipeline's named streams
(:class:`~mixcompare.comparisons.pipeline.Streams`): ``restarts`` for EM *and*
MAP-EM (the same restarts, tested), ``bootstrap``, ``map`` and ``nuts``, whose
children 0 and 1 seed the ordered and unordered variants. The record does not
depend on which worker runs it, nor when.

Fits
----
Every method runs through the comparison pipeline's own steps
(:mod:`mixcompare.comparisons.pipeline.fits`), so a study fits exactly what
``mixcompare run`` fits; posterior intervals are HDIs at the study's
``level`` (as in the report), EM's are Wald (Louis) and bootstrap percentile
intervals at the same level.

Compiled models
---------------
The PyMC models come from the worker's cache (:func:`.worker.model_for`):
built once per shape and process, then reused with new data. Each record
says, per PyMC method, whether that fit was the first one of its model in
its process (``fresh``) and how long it took.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time

import numpy as np
from mixcompare import em
from mixcompare.comparisons.pipeline import RunLog, Streams
from mixcompare.comparisons.pipeline import fits as steps
from mixcompare.comparisons.pipeline.metrics import posterior_summary
from mixcompare.comparisons.posterior.units import standardised

from .store import RECORD_SCHEMA
from .worker import FITTED, model_for, quiet_loggers

__all__ = ["replicate_seed", "run_replicate"]

_PARAMS = ("weights", "means", "sds")


def replicate_seed(seed: int, cell: int, replicate: int) -> np.random.SeedSequence:
    """Return the seed sequence of one replicate, keyed by its cell and replicate index."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(int(cell), int(replicate)))


# --------------------------------------------------------------------------- helpers
def _scale(cell) -> float:
    w, mu, s = (np.asarray(v, float) for v in (cell.weights, cell.means, cell.sds))
    mean = float(w @ mu)
    return float(np.sqrt(w @ (s**2 + mu**2) - mean**2))


def _align(cell, est: dict) -> tuple[np.ndarray, float]:
    """Permutation of a fit's components matching the truth (Hungarian, never sorting)."""
    sc = _scale(cell)
    return em.match_components(standardised(cell.weights, cell.means, cell.sds, sc, sds=True),
                               standardised(est["weights"], est["means"], est["sds"], sc,
                                            sds=True))


def _block(est: dict, perm) -> dict:
    return {p: np.asarray(est[p], float)[perm] for p in _PARAMS}


def _entry(**kw) -> dict:
    base = {"status": "ok", "reason": None, "time": None, "estimate": None, "lower": None,
            "upper": None, "info": {}, "warnings": []}
    base.update(kw)
    return base


def _failed(err: BaseException | str, t0: float | None = None, warns=None) -> dict:
    reason = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return _entry(status="failed", reason=reason[:500],
                  time=None if t0 is None else time.perf_counter() - t0, warnings=warns or [])



# --------------------------------------------------------------------------- methods
def _fit_em(cfg, cell, s, streams, out: dict):
    """EM with Wald (Louis) and bootstrap percentile intervals; returns the EM fit or None."""
    names = [f"em_{k}" for k in cfg.em.intervals] or ["em"]
    log = RunLog()
    t0 = time.perf_counter()
    try:
        fit = steps.fit_em(s, n_init=cfg.em.n_init, rng=streams.generator("restarts"), log=log)
        perm, dist = _align(cell, _est(fit.result))
    except Exception as err:  # noqa: BLE001 - every failure is recorded, never raised
        for name in names:
            out[name] = _failed(err, t0, log.unique_warnings())
        return None
    mle = fit.result
    t_fit = time.perf_counter() - t0
    est = _block(_est(mle), perm)
    info = {"converged": bool(mle.converged), "n_iter": int(mle.n_iter),
            "log_likelihood": mle.log_likelihood, "n_optima": len(mle.optima),
            "align_distance": dist, "degenerate": bool(np.any(mle.degenerate))}
    if not cfg.em.intervals:
        out["em"] = _entry(time=t_fit, estimate=est, info=info, warnings=log.unique_warnings())
    for kind in cfg.em.intervals:
        klog = RunLog(warnings=list(log.warnings))
        t1 = time.perf_counter()
        try:
            with klog.step(kind, timed=False):
                if kind == "louis":
                    se = mle.standard_errors("louis")
                else:
                    se = mle.standard_errors("bootstrap", n_boot=cfg.em.n_boot,
                                             rng=streams.generator("bootstrap"))
                ci = se.intervals(cfg.level)
        except Exception as err:  # noqa: BLE001
            out[f"em_{kind}"] = _failed(err, t1, klog.unique_warnings())
            continue
        extra = {"interval": ci.kind, "se_method": se.method_used,
                 "se_nan": list(se.affected), "n_failed": int(se.n_failed)}
        out[f"em_{kind}"] = _entry(
            time=t_fit + time.perf_counter() - t1, estimate=est,
            lower=_block({"weights": ci.weights[0], "means": ci.means[0], "sds": ci.sds[0]},
                         perm),
            upper=_block({"weights": ci.weights[1], "means": ci.means[1], "sds": ci.sds[1]},
                         perm),
            info={**info, **extra}, warnings=klog.unique_warnings())
    return fit


def _est(res) -> dict:
    return {"weights": res.weights, "means": res.means, "sds": res.sds}


def _fit_map_em(cfg, cell, s, fit, streams, out: dict):
    log = RunLog()
    t0 = time.perf_counter()
    try:
        ref = fit if fit is not None else _truth_fit(cell)
        res = steps.fit_map_em(s, ref, n_init=cfg.em.n_init,
                               rng=streams.generator("restarts"), log=log)
        if res is None:
            raise ValueError("; ".join(log.problems))
        perm, dist = _align(cell, _est(res.result))
    except Exception as err:  # noqa: BLE001
        out["map_em"] = _failed(err, t0, log.unique_warnings())
        return None
    out["map_em"] = _entry(
        time=time.perf_counter() - t0, estimate=_block(_est(res.result), perm),
        info={"converged": bool(res.result.converged), "log_posterior": res.result.log_posterior,
              "align_distance": dist}, warnings=log.unique_warnings())
    return res


def _fit_map(cfg, cell, s, ordered, fit, streams, out: dict):
    log = RunLog()
    t0 = time.perf_counter()
    try:
        model, key, built, t_build = model_for(cell, s.prior, ordered, s.X)
        fresh = (key, "map") not in FITTED
        ref = fit if fit is not None else _truth_fit(cell)
        res = steps.fit_map(model, ref, rng=streams.generator("map"), log=log,
                            n_starts=cfg.map.n_starts)
        if res is None:
            raise RuntimeError("; ".join(log.problems))
        FITTED.add((key, "map"))
        est = res.estimates(one_d=True)
        perm, dist = _align(cell, est)
    except Exception as err:  # noqa: BLE001
        out["map"] = _failed(err, t0, log.unique_warnings())
        return
    out["map"] = _entry(
        time=time.perf_counter() - t0, estimate=_block(est, perm),
        info={"log_density": res.tree.attrs["log_density"], "align_distance": dist,
              "model_built": built, "fresh": fresh, "build_time": t_build,
              "ordered": bool(ordered)}, warnings=log.unique_warnings())


def _truth_fit(cell) -> steps.EMFit:
    """Return the truth as the reference order, for when EM failed (alignment needs one)."""
    truth = standardised(cell.weights, cell.means, cell.sds, 1.0, sds=True)
    return steps.EMFit(None, np.arange(len(cell.weights)), truth)


def _by_param(table, column: str) -> dict:
    return {p: table[column].values[table["parameter"].values == p] for p in _PARAMS}


def _fit_nuts(cfg, cell, s, variant, rng, fit, map_em, out: dict):
    from mixcompare.comparisons.pipeline.analysis import pivot_of
    from mixcompare.comparisons.posterior import relabel

    name = f"nuts_{variant}"
    ns = cfg.nuts
    log = RunLog()
    t0 = time.perf_counter()
    if ns.init in ("em", "atlas") and fit is None:
        out[name] = _failed(f"init={ns.init!r} starts from the EM fit, which failed", t0)
        return
    ref = fit if fit is not None else _truth_fit(cell)
    pivot = (pivot_of(fit, map_em) if fit is not None else
             (np.asarray(cell.weights), np.asarray(cell.means), np.asarray(cell.variances)))
    try:
        model, key, built, t_build = model_for(cell, s.prior, variant == "ordered", s.X)
        fresh = (key, "nuts") not in FITTED
        t1 = time.perf_counter()
        nuts = steps.fit_nuts(model, ref, map_em, draws=ns.draws, tune=ns.tune,
                              chains=ns.chains, sampler=ns.sampler, init=ns.init,
                              target_accept=ns.target_accept, rng=rng, log=log, cores=1)
        t_fit = time.perf_counter() - t1
        FITTED.add((key, "nuts"))
        post = nuts.posterior
        relabeled, perms = relabel.relabel_pivot(post, pivot)
        summ = relabel.switching_summary(perms.values)
        used = relabeled if variant == "unordered" else post
        table = posterior_summary(used, cell.K, None, prob=cfg.level)
        mean, lo, hi = (_by_param(table, c) for c in ("post_mean", "hdi_low", "hdi_high"))
        vars_ = list(_PARAMS)
        diag = relabel.rhat_ess(used, var_names=vars_)
        raw = relabel.rhat_ess(post, var_names=vars_) if variant == "unordered" else diag
        stats = nuts.tree["sample_stats"]
        t_sampling = float(nuts.tree["posterior"].attrs.get("sampling_time", np.nan))
        div = int(np.sum(stats["diverging"].values)) if "diverging" in stats else 0
        perm, dist = _align(cell, mean)
    except Exception as err:  # noqa: BLE001
        out[name] = _failed(err, t0, log.unique_warnings())
        return

    def _max(ds, d):
        return float(np.nanmax([ds[v].sel(diagnostic=d).max() for v in vars_]))

    def _min(ds, d):
        return float(np.nanmin([ds[v].sel(diagnostic=d).min() for v in vars_]))

    out[name] = _entry(
        time=time.perf_counter() - t0, estimate=_block(mean, perm),
        lower=_block(lo, perm), upper=_block(hi, perm),
        info={"divergences": div, "rhat_max": _max(diag, "r_hat"),
              "rhat_max_raw": _max(raw, "r_hat"), "ess_bulk_min": _min(diag, "ess_bulk"),
              "label_switching": bool(summ.detected), "switching_reason": summ.reason,
              "switching_rate_max": float(np.max(summ.switching_rate)),
              "model_built": built, "fresh": fresh, "build_time": t_build, "fit_time": t_fit,
              "sampling_time": t_sampling, "align_distance": dist, "draws": ns.draws,
              "chains": ns.chains, "interval": "hdi"},
        warnings=log.unique_warnings())


# --------------------------------------------------------------------------- driver
def run_replicate(config, cell_index: int, replicate: int) -> dict:
    """Simulate one data set of a cell and fit every method of the study to it.

    Parameters
    ----------
    config : StudyConfig
    cell_index : int
    replicate : int

    Returns
    -------
    dict
        The JSON-ready record: ``schema``, ``cell``, ``replicate``, ``seed``,
        ``factors``, ``truth``, ``data`` (``n``, ``sha256``, ``counts`` per true
        component), ``status`` (``"ok"``, or ``"failed"`` when the data could not
        be simulated), ``reason``, ``methods`` (per result row: ``status``,
        ``reason``, ``time``, ``estimate``, ``lower``, ``upper`` as ``weights``,
        ``means``, ``sds`` lists aligned to the truth, ``info``, ``warnings``),
        ``worker`` and ``time``.
    """
    t0 = time.perf_counter()
    cell = config.cells[cell_index]
    data_seed, run_seed = replicate_seed(config.seed, cell_index, replicate).spawn(2)
    streams = Streams(run_seed)
    nuts_rngs = dict(zip(("ordered", "unordered"),
                         (np.random.default_rng(c) for c in streams.seed("nuts").spawn(2)),
                         strict=True))
    record = {"schema": RECORD_SCHEMA, "cell": cell_index, "replicate": replicate,
              "seed": {"entropy": config.seed, "spawn_key": [cell_index, replicate]},
              "factors": cell.factors(), "truth": cell.truth(), "status": "ok",
              "reason": None, "data": None, "methods": {},
              "worker": {"host": socket.gethostname(), "pid": os.getpid()}}
    try:
        X, z = em.sample(cell.n, cell.weights, cell.means, cell.variances,
                         rng=np.random.default_rng(data_seed))
    except Exception as err:  # noqa: BLE001
        record.update(status="failed", reason=f"simulation: {type(err).__name__}: {err}",
                      time=time.perf_counter() - t0)
        return record
    record["data"] = {"n": int(X.shape[0]), "sha256": hashlib.sha256(X.tobytes()).hexdigest(),
                      "counts": np.bincount(z, minlength=cell.K).tolist()}
    out = record["methods"]
    s = steps.setup(X, cell.K, structure=cell.structure, prior=config.prior_for(cell))
    if {"map", "nuts"} & set(config.methods):
        import pymc  # noqa: F401 - imported before _quiet_loggers: its import sets pymc's level
    with quiet_loggers():
        fit = map_em = None
        if "em" in config.methods:
            fit = _fit_em(config, cell, s, streams, out)
        if "map_em" in config.methods:
            map_em = _fit_map_em(config, cell, s, fit, streams, out)
        if "map" in config.methods:
            _fit_map(config, cell, s, "ordered" in config.nuts.variants, fit, streams, out)
        if "nuts" in config.methods:
            for variant in ("ordered", "unordered"):
                if variant in config.nuts.variants:
                    _fit_nuts(config, cell, s, variant, nuts_rngs[variant], fit, map_em, out)
    record["time"] = time.perf_counter() - t0
    return record
