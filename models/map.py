"""MAP estimation of the PyMC mixture model, ``pymc.find_MAP``'s way, compiled once per model.

``pm.find_MAP`` compiles its objective, its start function and a values
function on every call. :func:`fit_map` runs the same optimisation (the same
objective ``-model.logp(jacobian=False)`` on the raveled unconstrained
values, the same seeded U(-1, 1) start jitter redrawn until the objective is
finite, ``scipy.optimize.minimize`` with the same options) around functions
compiled once and kept on the model (:mod:`models.compiled`), so that a
study fitting one model to many data sets (``pm.set_data``) compiles once.
The tests check it against ``pm.find_MAP`` itself.
"""

from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
import pymc as pm
import xarray as xr
from mixcompare import em
from scipy import optimize

from .compiled import JITTER_MAX_RETRIES, cache_for
from .points import start_from_em

__all__ = ["MAPError", "fit_map"]

_log = logging.getLogger(__name__)
#: largest |gradient| (unconstrained scale) accepted as converged when scipy reports failure
GRAD_ACCEPT = 1e-4


class MAPError(RuntimeError):
    """No start of the optimiser converged to a point that moved from its start."""


def _ravel(point: dict, names: list[str]) -> np.ndarray:
    return np.concatenate([np.ravel(point[n]) for n in names]).astype(float)


def _unravel(x: np.ndarray, like: dict, names: list[str]) -> dict:
    out, i = dict(like), 0
    for n in names:
        size = np.size(like[n])
        out[n] = np.reshape(x[i:i + size], np.shape(like[n]))
        i += size
    return out


def _start(model: pm.Model, values, jitter: bool, seed: int) -> dict:
    """Return ``find_MAP``'s start for ``random_seed=seed`` (jitter redrawn until finite)."""
    cache = cache_for(model)
    f, names = cache.map_loss(model)
    fn = cache.start(model, values, jitter)
    rng = np.random.default_rng(seed)
    point = fn(int(rng.integers(2**30)))
    for _ in range(JITTER_MAX_RETRIES if jitter else 0):
        if np.isfinite(f(_ravel(point, names))[0]):
            return point
        point = fn(int(rng.integers(2**30)))
    if not np.isfinite(f(_ravel(point, names))[0]):
        model.check_start_vals(point)  # raises PyMC's informative SamplingError
    return point


def _labels(point: dict, names: list[str]) -> list[str]:
    """One label per element of the raveled vector, e.g. ``means[1]``."""
    return [n if np.ndim(point[n]) == 0 else f"{n}[{','.join(map(str, idx))}]"
            for n in names for idx in np.ndindex(np.shape(point[n]))]


def _result_dataset(res: optimize.OptimizeResult, method: str, labels: list[str]) -> xr.Dataset:
    """Store the fields of scipy's result, per-parameter ones over ``variables``."""
    data = {"x": ("variables", np.asarray(res.x)), "method": ((), method),
            "message": ((), str(res.get("message", "")))}
    for key in ("fun", "nit", "nfev", "njev", "status", "success"):
        if key in res:
            data[key] = ((), np.asarray(res[key]))
    if "jac" in res:
        data["jac"] = ("variables", np.asarray(res.jac))
    if isinstance(res.get("hess_inv"), np.ndarray):
        data["hess_inv"] = (("variables", "variables_aux"), res.hess_inv)
    return xr.Dataset(data, coords={"variables": labels, "variables_aux": labels})


def _map_tree(model: pm.Model, point: dict, res, method: str, labels: list[str]) -> xr.DataTree:
    """``find_MAP``'s tree: one-draw ``posterior``, ``fit``, ``optimizer_result``, data."""
    from pymc.backends.arviz import to_inference_data
    from pymc.backends.base import MultiTrace

    trace = copy.copy(cache_for(model).trace(model))  # fresh buffers, shared compiled function
    trace.setup(draws=1, chain=0)
    trace.record({v.name: np.asarray(point[v.name], dtype=v.dtype) for v in model.value_vars},
                 in_warmup=False)
    trace.close()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*sample_stats.*")
        tree = to_inference_data(MultiTrace([trace]), model=model)
    if "sample_stats" in tree.children and not tree["sample_stats"].data_vars:
        del tree["sample_stats"]
    tree["fit"] = xr.DataTree(xr.Dataset(
        {"mean_vector": ("rows", np.asarray(res.x))}, coords={"rows": labels}))
    tree["optimizer_result"] = xr.DataTree(_result_dataset(res, method, labels))
    return tree


def _optimise(model: pm.Model, start: dict, method: str, gtol: float, maxiter: int):
    f, names = cache_for(model).map_loss(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        res = optimize.minimize(f, _ravel(start, names), jac=True, method=method,
                                options={"gtol": gtol, "maxiter": maxiter})
    moved = bool(np.max(np.abs(np.asarray(res.x) - _ravel(start, names))) > 1e-8)
    return res, moved, _unravel(np.asarray(res.x), start, names), _labels(start, names)


def fit_map(model: pm.Model, *, rng=None, n_starts: int = 4, method: str = "BFGS",
            jitter: bool = True, initvals: list | None = None, gtol: float = 1e-8,
            maxiter: int = 10_000) -> xr.DataTree:
    """Maximum a posteriori estimate, as ``pymc.find_MAP`` computes it, from several starts.

    Parameters
    ----------
    model : pymc.Model
        From :func:`models.build_model`.
    rng : int, numpy.random.Generator or None
        Seeds each start's jitter (children spawned per start).
    n_starts : int, default 4
        Number of optimiser runs.
    method : str, default "BFGS"
        A gradient-based ``scipy.optimize.minimize`` method.
    jitter : bool, default True
        Jitter each start on the unconstrained scale (PyMC's U(-1, 1) jitter).
    initvals : list of dict, optional
        Explicit starts (natural-scale values by variable name); by default
        each start is EM's k-means++ initialisation (not EM's answer) with
        a child generator, so no start is the symmetric saddle where all
        components coincide.
    gtol : float, default 1e-8
        Gradient tolerance of the optimiser.
    maxiter : int, default 10000

    Returns
    -------
    xarray.DataTree
        For the best start, the groups of ``pm.find_MAP(..., return_inferencedata=True)``
        (``posterior`` with one chain and one draw, ``fit``, ``optimizer_result``,
        ``observed_data``, ``constant_data``), plus a ``map_starts`` group with
        each start's log density, success, number of iterations and message.
        Attributes ``log_density`` (log posterior density without Jacobian
        terms, i.e. the maximised objective), ``best_start``, ``n_starts``
        and ``method``.

    Raises
    ------
    MAPError
        When no start converged and moved away from its starting point.

    Notes
    -----
    Start ``i`` equals ``pm.find_MAP(model=model, method=method,
    initvals=starts[i], jitter=jitter, random_seed=seed_i,
    options={"gtol": gtol, "maxiter": maxiter})`` with ``seed_i`` drawn from
    the ``i``-th spawned child of ``rng``; the objective, start and values
    functions are compiled once per model and reused after ``pm.set_data``.
    A start counts as converged when scipy reports success or, since BFGS
    often stops with "precision loss" at an optimum, when the largest
    gradient element is at most :data:`GRAD_ACCEPT`; a start that did not
    move is never returned as a MAP.
    """
    n_starts = em._validation.check_positive_int(n_starts, "n_starts")
    rng = em.check_rng(rng)
    children = rng.spawn(n_starts)
    if initvals is not None:
        if len(initvals) != n_starts:
            raise ValueError(f"initvals has {len(initvals)} entries for n_starts={n_starts}.")
        starts = list(initvals)
    else:
        starts = [start_from_em(model, child) for child in children]
    records, best_fit = [], (-np.inf, None)
    for i, (values, child) in enumerate(zip(starts, children, strict=True)):
        seed = int(child.integers(2**31 - 1))
        try:
            start = _start(model, values, jitter, seed)
            res, moved, point, labels = _optimise(model, start, method, gtol, maxiter)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError,
                pm.exceptions.SamplingError) as err:
            records.append((np.nan, False, 0, f"failed: {err}"))
            continue
        nit = int(res.get("nit", -1))
        grad = float(np.max(np.abs(res.jac))) if "jac" in res else np.inf
        converged = bool(res.success) or grad <= GRAD_ACCEPT
        ok = converged and moved and nit != 0
        msg = str(res.message) if ok else (
            "did not move from its start" if not moved or nit == 0
            else f"did not converge: {res.message}")
        logd = -float(res.fun)
        records.append((logd, ok, nit, msg))
        if ok and logd > best_fit[0]:
            best_fit = (logd, (i, point, res, labels))
    logd = np.array([r[0] for r in records])
    ok = np.array([r[1] for r in records])
    if best_fit[1] is None:
        raise MAPError(
            "the MAP optimiser did not converge from any of the "
            f"{n_starts} starts ({'; '.join(r[3] for r in records)}); increase maxiter or "
            "n_starts, or check the data and prior."
        )
    best, point, res, labels = best_fit[1]
    out = _map_tree(model, point, res, method, labels)
    out["map_starts"] = xr.Dataset(
        {
            "log_density": ("start", logd),
            "success": ("start", ok),
            "n_iter": ("start", np.array([r[2] for r in records])),
            "message": ("start", np.array([r[3] for r in records])),
        },
        coords={"start": np.arange(n_starts)},
    )
    out.attrs.update({"log_density": float(logd[best]), "best_start": best,
                      "n_starts": n_starts, "method": method})
    if (~ok).any():
        _log.info("MAP: %d of %d starts failed", int((~ok).sum()), n_starts)
    return out
