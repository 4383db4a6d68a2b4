"""One replicate of a study: simulate, fit every method, align to the truth, record.

:func:`run_replicate` runs on a worker (a Dask worker process, or the
calling process) and returns a JSON-ready record; it never raises for a
failed fit: each method's failure is recorded with its reason.

Seeds
-----
Replicate ``r`` of cell ``c`` draws everything from
``np.random.SeedSequence(entropy=seed, spawn_key=(c, r))`` (see
:func:`replicate_seed`), whose children seed, in order, the data, EM (and
MAP-EM, which uses the same restarts), the bootstrap, ``find_MAP`` and each
NUTS variant. The record does not depend on which worker runs it, nor when.

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

from .store import RECORD_SCHEMA
from .worker import FITTED, capture_warnings, model_for, quiet_loggers

__all__ = ["replicate_seed", "run_replicate"]

_N_STREAMS = 7  # data, em, bootstrap, map, nuts_ordered, nuts_unordered, spare


def replicate_seed(seed: int, cell: int, replicate: int) -> np.random.SeedSequence:
    """Return the seed sequence of one replicate, keyed by its cell and replicate index."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(int(cell), int(replicate)))


# --------------------------------------------------------------------------- helpers
def _scale(cell) -> float:
    w, mu, s = (np.asarray(v, float) for v in (cell.weights, cell.means, cell.sds))
    mean = float(w @ mu)
    return float(np.sqrt(w @ (s**2 + mu**2) - mean**2))


def _params(w, m, s, scale: float) -> em.Params:
    m = np.asarray(m, float) / scale
    s = np.asarray(s, float) / scale
    return em.Params(np.asarray(w, float), m[:, None], (s**2)[:, None, None])


def _align(cell, w, m, s) -> tuple[np.ndarray, float]:
    """Permutation of a fit's components matching the truth (Hungarian, never sorting)."""
    sc = _scale(cell)
    return em.match_components(_params(cell.weights, cell.means, cell.sds, sc),
                               _params(w, m, s, sc))


def _block(w, m, s, perm) -> dict:
    return {"weights": np.asarray(w, float)[perm], "means": np.asarray(m, float)[perm],
            "sds": np.asarray(s, float)[perm]}


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
def _fit_em(cfg, cell, X, g_em, g_boot, out: dict):
    """EM with Louis (Wald) and bootstrap (percentile) intervals; returns (mle, perm)."""
    names = [f"em_{k}" for k in cfg.em.intervals] or ["em"]
    warns: list = []
    t0 = time.perf_counter()
    try:
        with capture_warnings(warns):
            mle = em.fit(X, cell.K, structure=cell.structure, n_init=cfg.em.n_init, rng=g_em)
        perm, dist = _align(cell, mle.weights, mle.means, mle.sds)
    except Exception as err:  # noqa: BLE001 - every failure is recorded, never raised
        for name in names:
            out[name] = _failed(err, t0, warns)
        return None, None
    t_fit = time.perf_counter() - t0
    est = _block(mle.weights, mle.means, mle.sds, perm)
    info = {"converged": bool(mle.converged), "n_iter": int(mle.n_iter),
            "log_likelihood": mle.log_likelihood, "n_optima": len(mle.optima),
            "align_distance": dist, "degenerate": bool(np.any(mle.degenerate))}
    if not cfg.em.intervals:
        out["em"] = _entry(time=t_fit, estimate=est, info=info, warnings=warns)
    for kind in cfg.em.intervals:
        w2 = list(warns)
        t1 = time.perf_counter()
        try:
            with capture_warnings(w2):
                if kind == "louis":
                    se = mle.standard_errors("louis")
                else:
                    se = mle.standard_errors("bootstrap", n_boot=cfg.em.n_boot, rng=g_boot)
                ci = se.intervals(cfg.level)
        except Exception as err:  # noqa: BLE001
            out[f"em_{kind}"] = _failed(err, t1, w2)
            continue
        extra = {"interval": ci.kind, "se_method": se.method_used,
                 "se_nan": list(se.affected), "n_failed": int(se.n_failed)}
        out[f"em_{kind}"] = _entry(
            time=t_fit + time.perf_counter() - t1, estimate=est,
            lower=_block(ci.weights[0], ci.means[0], ci.sds[0], perm),
            upper=_block(ci.weights[1], ci.means[1], ci.sds[1], perm),
            info={**info, **extra}, warnings=w2)
    return mle, perm


def _fit_map_em(cfg, cell, X, prior, g_em, out: dict):
    warns: list = []
    t0 = time.perf_counter()
    try:
        with capture_warnings(warns):
            res = em.fit(X, cell.K, structure=cell.structure, n_init=cfg.em.n_init, rng=g_em,
                         prior=prior)
        perm, dist = _align(cell, res.weights, res.means, res.sds)
    except Exception as err:  # noqa: BLE001
        out["map_em"] = _failed(err, t0, warns)
        return None, None
    out["map_em"] = _entry(
        time=time.perf_counter() - t0, estimate=_block(res.weights, res.means, res.sds, perm),
        info={"converged": bool(res.converged), "log_posterior": res.log_posterior,
              "align_distance": dist}, warnings=warns)
    return res, perm


def _fit_map(cfg, cell, X, prior, ordered, g_map, out: dict):
    from mixcompare import models

    warns: list = []
    t0 = time.perf_counter()
    try:
        model, key, built, t_build = model_for(cell, prior, ordered, X)
        fresh = (key, "map") not in FITTED
        with capture_warnings(warns):
            tree = models.fit_map(model, rng=g_map, n_starts=cfg.map.n_starts)
        FITTED.add((key, "map"))
        p = tree["posterior"]
        w = p["weights"].values[0, 0]
        m = p["means"].values[0, 0]
        s = p["sds"].values[0, 0]
        perm, dist = _align(cell, w, m, s)
    except Exception as err:  # noqa: BLE001
        out["map"] = _failed(err, t0, warns)
        return
    out["map"] = _entry(
        time=time.perf_counter() - t0, estimate=_block(w, m, s, perm),
        info={"log_density": tree.attrs["log_density"], "align_distance": dist,
              "model_built": built, "fresh": fresh, "build_time": t_build,
              "ordered": bool(ordered)}, warnings=warns)


def _posterior_block(post, level: float):
    flat = {v: post[v].transpose("chain", "draw", "component").values.reshape(
        -1, post.sizes["component"]) for v in ("weights", "means", "sds")}
    q = [(1 - level) / 2, (1 + level) / 2]
    mean = {v: a.mean(axis=0) for v, a in flat.items()}
    lo = {v: np.quantile(a, q[0], axis=0) for v, a in flat.items()}
    hi = {v: np.quantile(a, q[1], axis=0) for v, a in flat.items()}
    return mean, lo, hi


def _fit_nuts(cfg, cell, X, prior, variant, g, start_fit, reference, pivot, out: dict):
    from mixcompare import models
    from mixcompare.comparisons.posterior import relabel as labels

    name = f"nuts_{variant}"
    ns = cfg.nuts
    warns: list = []
    t0 = time.perf_counter()
    if ns.init in ("em", "atlas") and start_fit is None:
        out[name] = _failed(f"init={ns.init!r} starts from the EM fit, which failed", t0)
        return
    try:
        model, key, built, t_build = model_for(cell, prior, variant == "ordered", X)
        fresh = (key, "nuts") not in FITTED
        t1 = time.perf_counter()
        with capture_warnings(warns):
            tree = models.fit_nuts(model, draws=ns.draws, tune=ns.tune, chains=ns.chains,
                                   target_accept=ns.target_accept, sampler=ns.sampler, rng=g,
                                   init=ns.init, em_result=start_fit, reference=reference,
                                   progressbar=False, cores=1)
        t_fit = time.perf_counter() - t1
        FITTED.add((key, "nuts"))
        post = tree["posterior"].to_dataset()
        relabeled, perms = labels.relabel_pivot(post, pivot)
        summ = labels.switching_summary(perms.values)
        used = relabeled if variant == "unordered" else post
        mean, lo, hi = _posterior_block(used, cfg.level)
        vars_ = ["weights", "means", "sds"]
        diag = labels.rhat_ess(used, var_names=vars_)
        raw = labels.rhat_ess(post, var_names=vars_) if variant == "unordered" else diag
        stats = tree["sample_stats"]
        t_sampling = float(tree["posterior"].attrs.get("sampling_time", np.nan))
        div = int(np.sum(stats["diverging"].values)) if "diverging" in stats else 0
        perm, dist = _align(cell, mean["weights"], mean["means"], mean["sds"])
    except Exception as err:  # noqa: BLE001
        out[name] = _failed(err, t0, warns)
        return

    def _max(ds, d):
        return float(np.nanmax([ds[v].sel(diagnostic=d).max() for v in vars_]))

    def _min(ds, d):
        return float(np.nanmin([ds[v].sel(diagnostic=d).min() for v in vars_]))

    out[name] = _entry(
        time=time.perf_counter() - t0,
        estimate=_block(mean["weights"], mean["means"], mean["sds"], perm),
        lower=_block(lo["weights"], lo["means"], lo["sds"], perm),
        upper=_block(hi["weights"], hi["means"], hi["sds"], perm),
        info={"divergences": div, "rhat_max": _max(diag, "r_hat"),
              "rhat_max_raw": _max(raw, "r_hat"), "ess_bulk_min": _min(diag, "ess_bulk"),
              "label_switching": bool(summ.detected), "switching_reason": summ.reason,
              "switching_rate_max": float(np.max(summ.switching_rate)),
              "model_built": built, "fresh": fresh, "build_time": t_build, "fit_time": t_fit,
              "sampling_time": t_sampling, "align_distance": dist, "draws": ns.draws,
              "chains": ns.chains},
        warnings=warns)


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
    ss = replicate_seed(config.seed, cell_index, replicate)
    g_data, g_em, g_boot, g_map, g_ord, g_unord, _ = (np.random.default_rng(c)
                                                      for c in ss.spawn(_N_STREAMS))
    record = {"schema": RECORD_SCHEMA, "cell": cell_index, "replicate": replicate,
              "seed": {"entropy": config.seed, "spawn_key": [cell_index, replicate]},
              "factors": cell.factors(), "truth": cell.truth(), "status": "ok",
              "reason": None, "data": None, "methods": {},
              "worker": {"host": socket.gethostname(), "pid": os.getpid()}}
    try:
        X, z = em.sample(cell.n, cell.weights, cell.means, cell.variances, rng=g_data)
    except Exception as err:  # noqa: BLE001
        record.update(status="failed", reason=f"simulation: {type(err).__name__}: {err}",
                      time=time.perf_counter() - t0)
        return record
    record["data"] = {"n": int(X.shape[0]), "sha256": hashlib.sha256(X.tobytes()).hexdigest(),
                      "counts": np.bincount(z, minlength=cell.K).tolist()}
    out = record["methods"]
    prior = config.prior_for(cell)
    if {"map", "nuts"} & set(config.methods):
        import pymc  # noqa: F401 - imported before _quiet_loggers: its import sets pymc's level
    with quiet_loggers():
        mle = perm = mapem = mperm = None
        if "em" in config.methods:
            mle, perm = _fit_em(config, cell, X, g_em, g_boot, out)
        if "map_em" in config.methods:
            mapem, mperm = _fit_map_em(config, cell, X, prior, g_em, out)
        if "map" in config.methods:
            _fit_map(config, cell, X, prior, "ordered" in config.nuts.variants, g_map, out)
        if "nuts" in config.methods:
            start = mapem if mapem is not None else mle
            sperm = mperm if mapem is not None else perm
            if start is not None:
                ref = _params(start.weights[sperm], start.means[sperm], start.sds[sperm], 1.0)
                pivot = (start.weights[sperm], start.means[sperm], start.variances[sperm])
            else:
                ref = None
                pivot = (np.asarray(cell.weights), np.asarray(cell.means),
                         np.asarray(cell.variances))
            for variant, g in (("ordered", g_ord), ("unordered", g_unord)):
                if variant in config.nuts.variants:
                    _fit_nuts(config, cell, X, prior, variant, g, start, ref, pivot, out)
    record["time"] = time.perf_counter() - t0
    return record
