"""Aggregation of a study's replicate records: bias, RMSE, coverage, width, failures.

Every statistic is computed per cell and method from the records sorted by
cell and replicate, so the same records give bit-identical tables whatever
the number or order of the workers that produced them. Timings are kept
out of these tables (:func:`timings` and :func:`reuse`).

Monte Carlo standard errors (Morris, White & Crowther 2019, Table 6), over
the ``m`` replicates where the method gave a value:

* bias ``mean(est - truth)``: ``sd(est - truth) / sqrt(m)``;
* RMSE ``sqrt(mean((est - truth)^2))``: ``sd((est - truth)^2) / (2 RMSE sqrt(m))``;
* coverage ``p`` (share of intervals containing the truth): ``sqrt(p (1 - p) / m)``;
* width ``mean(upper - lower)``: ``sd(width) / sqrt(m)``.

A failed fit is counted in ``failure_rate`` and left out of the other
statistics; an interval that could not be computed (a NaN standard error)
is counted in ``interval_missing``. Coverage is therefore conditional on
success: read it with the failure rate next to it.

References
----------
Morris, T. P., White, I. R. & Crowther, M. J. (2019). Using simulation
studies to evaluate statistical methods. Statistics in Medicine 38, 2074-2102.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

__all__ = ["BLOCKS", "PYMC_METHODS", "block_summary", "has_intervals", "long_table",
           "method_summary", "parameter_summary", "reuse", "timings"]

BLOCKS = ("weights", "means", "sds")
PYMC_METHODS = ("map", "nuts_ordered", "nuts_unordered")
_FACTORS = ("n", "separation", "weights", "K", "structure")


def _nan(v) -> float:
    return np.nan if v is None else float(v)


def long_table(records: list[dict], methods: tuple) -> pd.DataFrame:
    """One row per replicate, method and parameter.

    Parameters
    ----------
    records : list of dict
        Replicate records (see :func:`mixcompare.comparisons.study.replicate.run_replicate`).
    methods : tuple of str
        The study's result rows (``StudyConfig.fit_methods``); a method absent
        from a record counts as failed.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell``, ``replicate``, ``method``, ``block``, ``component``,
        ``parameter``, ``truth``, ``estimate``, ``lower``, ``upper``, ``ok``
        (the fit succeeded), ``covered`` (1.0, 0.0 or NaN without an interval),
        ``width``, ``error`` (estimate - truth).
    """
    rows = []
    recs = sorted(records, key=lambda r: (r["cell"], r["replicate"]))
    for rec in recs:
        truth = rec["truth"]
        K = len(truth["weights"])
        for meth in methods:
            entry = rec.get("methods", {}).get(meth)
            ok = rec.get("status") == "ok" and entry is not None and entry["status"] == "ok"
            for block in BLOCKS:
                est = entry["estimate"][block] if ok and entry.get("estimate") else [None] * K
                lo = entry["lower"][block] if ok and entry.get("lower") else [None] * K
                hi = entry["upper"][block] if ok and entry.get("upper") else [None] * K
                for k in range(K):
                    rows.append((rec["cell"], rec["replicate"], meth, block, k,
                                 f"{block}[{k}]", float(truth[block][k]), _nan(est[k]),
                                 _nan(lo[k]), _nan(hi[k]), ok))
    cols = ["cell", "replicate", "method", "block", "component", "parameter", "truth",
            "estimate", "lower", "upper", "ok"]
    df = pd.DataFrame(rows, columns=cols)
    inside = (df["lower"] <= df["truth"]) & (df["truth"] <= df["upper"])
    has = df["lower"].notna() & df["upper"].notna()
    df["covered"] = np.where(has, inside.astype(float), np.nan)
    df["width"] = df["upper"] - df["lower"]
    df["error"] = df["estimate"] - df["truth"]
    return df


def has_intervals(method: str) -> bool:
    """Whether a result row carries intervals (EM's Louis/bootstrap, NUTS)."""
    return method.startswith(("em_", "nuts_"))


def _stats(err: np.ndarray, cov: np.ndarray, width: np.ndarray, n_rep: int, n_ok: int,
           intervals: bool) -> dict:
    e = err[np.isfinite(err)]
    m = e.size
    out = {"n_replicates": n_rep, "n_ok": n_ok,
           "failure_rate": 1.0 - n_ok / n_rep if n_rep else np.nan}
    sq = e**2
    rmse = float(np.sqrt(sq.mean())) if m else np.nan
    out.update({
        "bias": float(e.mean()) if m else np.nan,
        "bias_mcse": float(e.std(ddof=1) / np.sqrt(m)) if m > 1 else np.nan,
        "rmse": rmse,
        "rmse_mcse": (float(sq.std(ddof=1) / (2 * rmse * np.sqrt(m)))
                      if m > 1 and rmse > 0 else np.nan),
    })
    c = cov[np.isfinite(cov)]
    w = width[np.isfinite(width)]
    p = float(c.mean()) if c.size else np.nan
    out.update({
        "n_intervals": int(c.size),
        "interval_missing": int(n_ok - c.size) if intervals else 0,
        "coverage": p,
        "coverage_mcse": float(np.sqrt(p * (1 - p) / c.size)) if c.size else np.nan,
        "width": float(w.mean()) if w.size else np.nan,
        "width_mcse": float(w.std(ddof=1) / np.sqrt(w.size)) if w.size > 1 else np.nan,
    })
    return out


def _with_factors(df: pd.DataFrame, config) -> pd.DataFrame:
    fac = pd.DataFrame([c.factors() for c in config.cells])
    return fac.merge(df, on="cell", how="right")[list(fac.columns) + [
        c for c in df.columns if c != "cell"]]


def parameter_summary(long: pd.DataFrame, config) -> pd.DataFrame:
    """Bias, RMSE, coverage and width (with MCSEs) per cell, method and parameter."""
    rows = []
    order = {m: i for i, m in enumerate(config.fit_methods)}
    for (cell, meth, block, k), g in long.groupby(["cell", "method", "block", "component"],
                                                  sort=True):
        ok = g["ok"].to_numpy()
        st = _stats(g["error"].to_numpy()[ok], g["covered"].to_numpy()[ok],
                    g["width"].to_numpy()[ok], len(g), int(ok.sum()), has_intervals(meth))
        rows.append({"cell": cell, "method": meth, "block": block, "component": k,
                     "parameter": f"{block}[{k}]", "truth": float(g["truth"].iloc[0]), **st})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["_m"] = df["method"].map(order)
    df["_b"] = df["block"].map({b: i for i, b in enumerate(BLOCKS)})
    df = df.sort_values(["cell", "_m", "_b", "component"], kind="stable").drop(
        columns=["_m", "_b"]).reset_index(drop=True)
    return _with_factors(df, config)


def block_summary(long: pd.DataFrame, config) -> pd.DataFrame:
    """Per cell, method and block (weights, means, sds): statistics pooled over components.

    Coverage is the mean over replicates of each replicate's share of
    covered components, with MCSE ``sd / sqrt(m)`` of those shares;
    ``abs_bias`` is the mean over components of each component's absolute
    bias (a plain mean of biases would cancel: the weights' errors sum to 0);
    width is averaged over components; RMSE is the root of the mean squared
    error over replicates and components.
    """
    rows = []
    order = {m: i for i, m in enumerate(config.fit_methods)}
    for (cell, meth, block), g in long.groupby(["cell", "method", "block"], sort=True):
        g = g[g["ok"]]
        n_rep = int(long[(long["cell"] == cell) & (long["method"] == meth)
                         & (long["block"] == block)]["replicate"].nunique())
        per = g.groupby("replicate", sort=True).agg(
            cov=("covered", "mean"), sq=("error", lambda e: (e**2).mean()),
            width=("width", "mean"))
        comp_bias = g.groupby("component", sort=True)["error"].mean().dropna().to_numpy()
        cov = per["cov"].dropna().to_numpy()
        sq = per["sq"].dropna().to_numpy()
        w = per["width"].dropna().to_numpy()
        rmse = float(np.sqrt(sq.mean())) if sq.size else np.nan
        rows.append({
            "cell": cell, "method": meth, "block": block, "n_replicates": n_rep,
            "n_ok": int(per.shape[0]),
            "failure_rate": 1.0 - per.shape[0] / n_rep if n_rep else np.nan,
            "abs_bias": float(np.abs(comp_bias).mean()) if comp_bias.size else np.nan,
            "rmse": rmse,
            "rmse_mcse": (float(sq.std(ddof=1) / (2 * rmse * np.sqrt(sq.size)))
                          if sq.size > 1 and rmse > 0 else np.nan),
            "coverage": float(cov.mean()) if cov.size else np.nan,
            "coverage_mcse": float(cov.std(ddof=1) / np.sqrt(cov.size)) if cov.size > 1
            else np.nan,
            "n_intervals": int(cov.size),
            "width": float(w.mean()) if w.size else np.nan,
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["_m"] = df["method"].map(order)
    df["_b"] = df["block"].map({b: i for i, b in enumerate(BLOCKS)})
    df = df.sort_values(["cell", "_m", "_b"], kind="stable").drop(
        columns=["_m", "_b"]).reset_index(drop=True)
    return _with_factors(df, config)


def method_summary(records: list[dict], config) -> pd.DataFrame:
    """Failures and sampler diagnostics per cell and method (no timings).

    Columns: ``n_replicates``, ``n_failed``, ``failure_rate``, ``top_reason``
    (the most frequent failure reason), ``n_warned`` (fits with a mixcompare
    warning) and, for NUTS, ``divergent_share`` (fits with at least one
    divergence), ``divergences_mean``, ``rhat_gt_1_01`` (share of fits with
    R-hat above 1.01), ``ess_bulk_min_median``, ``switching_share`` (fits
    with label switching detected against the pivot).
    """
    rows = []
    recs = sorted(records, key=lambda r: (r["cell"], r["replicate"]))
    for cell in config.cells:
        rs = [r for r in recs if r["cell"] == cell.index]
        for meth in config.fit_methods:
            ents = [r.get("methods", {}).get(meth) if r.get("status") == "ok" else None
                    for r in rs]
            ok = [e for e in ents if e is not None and e["status"] == "ok"]
            reasons = Counter(
                (e["reason"] if e is not None else (r.get("reason") or "missing"))
                for e, r in zip(ents, rs, strict=True) if e is None or e["status"] != "ok")
            row = {"cell": cell.index, "method": meth, "n_replicates": len(rs),
                   "n_failed": len(rs) - len(ok),
                   "failure_rate": (len(rs) - len(ok)) / len(rs) if rs else np.nan,
                   "top_reason": reasons.most_common(1)[0][0] if reasons else "",
                   "n_warned": sum(bool(e["warnings"]) for e in ok)}
            if meth.startswith("nuts"):
                info = [e["info"] for e in ok]
                div = np.array([i["divergences"] for i in info], float)
                rh = np.array([_nan(i["rhat_max"]) for i in info], float)
                ess = np.array([_nan(i["ess_bulk_min"]) for i in info], float)
                sw = np.array([i["label_switching"] for i in info], float)
                row.update({
                    "divergent_share": float((div > 0).mean()) if div.size else np.nan,
                    "divergences_mean": float(div.mean()) if div.size else np.nan,
                    "rhat_gt_1_01": float((rh > 1.01).mean()) if rh.size else np.nan,
                    "ess_bulk_min_median": float(np.nanmedian(ess)) if ess.size else np.nan,
                    "switching_share": float(sw.mean()) if sw.size else np.nan})
            rows.append(row)
    return _with_factors(pd.DataFrame(rows), config)


def timings(records: list[dict], config) -> pd.DataFrame:
    """Median wall time per cell and method, in seconds (fits that succeeded)."""
    rows = []
    for cell in config.cells:
        rs = [r for r in records if r["cell"] == cell.index and r.get("status") == "ok"]
        for meth in config.fit_methods:
            t = [r["methods"][meth]["time"] for r in rs if meth in r["methods"]
                 and r["methods"][meth]["status"] == "ok"]
            rows.append({"cell": cell.index, "method": meth,
                         "median_seconds": float(np.median(t)) if t else np.nan,
                         "total_seconds": float(np.sum(t)) if t else 0.0})
    return _with_factors(pd.DataFrame(rows), config)


def reuse(records: list[dict]) -> dict:
    """Cost of a PyMC fit on a freshly built model against one on a reused model.

    Returns
    -------
    dict
        Per PyMC method: ``n_fresh``, ``n_reused``, ``fresh_median`` and
        ``reused_median`` (seconds of the whole method: building or swapping
        the model, compiling when fresh, fitting, summarising), ``ratio``
        (reused over fresh medians; small means the compiled model is reused)
        and, for NUTS, ``overhead_ratio``: the median of a reused fit's time
        minus its sampling time, over ``fresh_median`` -- what reuse can
        remove (the sampling of a new data set cannot be reused).
    """
    out = {}
    for meth in PYMC_METHODS:
        fresh, again, overhead = [], [], []
        for r in records:
            e = r.get("methods", {}).get(meth)
            if e is None or e["status"] != "ok":
                continue
            (fresh if e["info"].get("fresh") else again).append(e["time"])
            if not e["info"].get("fresh") and "sampling_time" in e["info"]:
                overhead.append(e["time"] - e["info"]["sampling_time"])
        if not fresh and not again:
            continue
        fm = float(np.median(fresh)) if fresh else np.nan
        am = float(np.median(again)) if again else np.nan
        out[meth] = {"n_fresh": len(fresh), "n_reused": len(again), "fresh_median": fm,
                     "reused_median": am,
                     "ratio": am / fm if fresh and again and fm > 0 else np.nan}
        if overhead and fresh and fm > 0:
            out[meth]["overhead_ratio"] = float(np.nanmedian(overhead)) / fm
    return out
