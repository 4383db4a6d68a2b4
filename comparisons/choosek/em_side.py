"""EM's side of choosing K: the best optimum per K and structure, with every criterion.

For each structure and each K = 1..K_max, :func:`em.fit` keeps the best proper
optimum of 50 restarts (``n_init="auto"``, until the best is reached twice, can
stop early at a poor optimum: on galaxies-mass K = 4 it sometimes stops at BIC
-446.98 before finding -443.38, which 7 % of restarts reach); its log-likelihood, number
of free parameters, BIC and ICL in both conventions (mclust's ``2 l - p log n``,
higher is better; scikit-learn's ``-2 l + p log n``, lower is better) and AIC
are tabulated, and the whole atlas of optima is kept. With ``mclust_start``
(1-D data), each (structure, K) is also fitted as mclust fits it
(:mod:`mclust_start`: mclust's starting partition, stopped by its rule) and
recorded in the atlas, flagged ``mclust_start``: never the chosen fit.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr
from mixcompare import em

__all__ = ["CRITERIA", "default_structures", "em_side"]

#: the criteria tabulated per (structure, K), with the direction that is better
CRITERIA = {"bic_mclust": "max", "icl_mclust": "max", "bic_sklearn": "min",
            "icl_sklearn": "min", "aic_sklearn": "min"}


def default_structures(X) -> tuple[str, ...]:
    """Every structure that applies: ``equal, unequal`` (1-D) or ``spherical, diag, tied, full``."""
    one_d = np.ndim(X) == 1
    return ("equal", "unequal") if one_d else ("spherical", "diag", "tied", "full")


def _atlas_rows(fit, structure: str, k: int, n: int) -> list[dict]:
    """One row per distinct optimum of ``fit`` (its BIC counted with the fit's parameters)."""
    p = fit.n_parameters()
    return [{"structure": structure, "k": k, "log_likelihood": o.log_likelihood,
             "bic_mclust": 2 * o.log_likelihood - p * np.log(n), "count": o.count,
             "spurious": bool(o.spurious), "degenerate": bool(o.degenerate),
             "chosen": i == 0, "mclust_start": False} for i, o in enumerate(fit.optima)]


def _mclust_rows(X, k_max: int, structures, recipe) -> list[dict]:
    """One atlas row per (structure, K) fitted as mclust does (count 1: one reported fit)."""
    from .mclust_start import mclust_fits
    rows = []
    for m in mclust_fits(X, range(1, k_max + 1), structures, recipe):
        if m.fit is None:  # every start failed, as mclust's NA
            continue
        rows.append({"structure": m.structure, "k": m.k, "log_likelihood": m.log_likelihood,
                     "bic_mclust": m.bic_mclust, "count": 1,
                     "spurious": bool(m.fit.spurious.any()),
                     "degenerate": bool(m.fit.degenerate.any()), "chosen": False,
                     "mclust_start": True})
    return rows


def em_side(X, k_max: int, structures, *, n_init=50, max_init: int = 200, rng=None,
            mclust_start: bool = False, mclust_recipe: dict | None = None,
            progress: Callable[[str], None] | None = None) -> tuple[xr.Dataset, xr.Dataset, dict]:
    """Fit K = 1..k_max components with each structure by EM and tabulate the criteria.

    Parameters
    ----------
    X : ndarray of shape (n,) or (n, d)
    k_max : int
    structures : sequence of str
    n_init : int or "auto", default 50
    max_init : int, default 200
    rng : int, numpy.random.Generator or None
        One child stream per (structure, K).
    mclust_start : bool, default False
        Also fit every (structure, K) as mclust does (1-D data only; draws nothing).
    mclust_recipe : dict, optional
        mclust's starts (see :func:`mclust_start.mclust_partitions`; default:
        its quantile classes).
    progress : callable, optional
        Called with a message before each fit.

    Returns
    -------
    table : xarray.Dataset
        Dimensions ``structure`` and ``k``; variables ``log_likelihood``,
        ``n_parameters``, the :data:`CRITERIA`, ``n_optima``, ``init_cap_reached``
        and ``proper`` (the returned fit is neither spurious nor degenerate).
    atlas : xarray.Dataset
        Dimension ``optimum``: every distinct optimum of every fit, with its
        ``structure``, ``k``, ``log_likelihood``, ``bic_mclust``, ``count``,
        ``spurious``, ``degenerate``, ``chosen`` (the fit returned) and
        ``mclust_start`` (a fit as mclust's, not one of our optima).
    fits : dict of (str, int) to em.EMResult
    """
    rng = em.check_rng(rng)
    n = np.shape(X)[0]
    streams = rng.spawn(len(structures) * k_max)
    shape = (len(structures), k_max)
    cols = {name: np.full(shape, np.nan) for name in
            ("log_likelihood", "n_parameters", *CRITERIA, "n_optima")}
    flags = {name: np.zeros(shape, dtype=bool) for name in ("init_cap_reached", "proper")}
    fits, rows = {}, []
    for i, s in enumerate(structures):
        for j, k in enumerate(range(1, k_max + 1)):
            if progress is not None:
                progress(f"EM: {s}, K = {k}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", em.MixcompareWarning)
                f = em.fit(X, k, structure=s, n_init=n_init, max_init=max_init,
                           rng=streams[i * k_max + j])
            fits[s, k] = f
            crit = f.criteria()
            cols["log_likelihood"][i, j] = f.log_likelihood
            cols["n_parameters"][i, j] = f.n_parameters()
            cols["n_optima"][i, j] = len(f.optima)
            for c in CRITERIA:
                cols[c][i, j] = crit[c]
            flags["init_cap_reached"][i, j] = f.init_cap_reached
            flags["proper"][i, j] = not (f.optima[0].spurious or f.optima[0].degenerate)
            rows += _atlas_rows(f, s, k, n)
    if mclust_start:
        if progress is not None:
            progress("EM from mclust's starts, with mclust's stopping rule")
        rows += _mclust_rows(X, k_max, structures, mclust_recipe)
    dims = ("structure", "k")
    coords = {"structure": list(structures), "k": np.arange(1, k_max + 1)}
    table = xr.Dataset({c: (dims, v) for c, v in (cols | flags).items()}, coords=coords)
    table.attrs["n_samples"] = int(n)
    atlas = xr.Dataset({key: ("optimum", np.array([r[key] for r in rows]))
                        for key in rows[0]})
    return table, atlas, fits


def chosen_k(table: xr.Dataset, criterion: str) -> tuple[str, int]:
    """Return the (structure, K) a criterion of :data:`CRITERIA` prefers in ``table``."""
    v = table[criterion].values
    flat = np.nanargmax(v) if CRITERIA[criterion] == "max" else np.nanargmin(v)
    i, j = np.unravel_index(flat, v.shape)
    return str(table.structure.values[i]), int(table.k.values[j])
