"""MAP estimation of the PyMC mixture model, compiled once per model.

:func:`fit_map` maximises ``model.logp(jacobian=False)`` (the objective of
``pymc.find_MAP``) over the unconstrained values with
``scipy.optimize.minimize``, from several jittered starts. Its objective
and gradient, start and values functions are compiled once per
:class:`models.MixtureModel` (:mod:`models.compiled`), so that a study
fitting one model to many data sets (:meth:`MixtureModel.set_data`)
compiles once. ``pm.find_MAP`` compiles them on every call; the tests check
that both reach the same optimum.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pymc as pm
import xarray as xr
from mixcompare import em
from scipy import optimize

from .build import check_prior
from .compiled import ravel_point
from .points import (
    check_model,
    check_positive_int,
    complete_start,
    observed_dataset,
    posterior_dataset,
    start_from_em,
)

__all__ = ["JITTER_MAX_RETRIES", "MAPError", "fit_map"]

_log = logging.getLogger(__name__)
#: largest |gradient| (unconstrained scale) accepted as converged when scipy reports failure
GRAD_ACCEPT = 1e-4
#: attempts at a jittered start with a finite objective
JITTER_MAX_RETRIES = 10


class MAPError(RuntimeError):
    """No start of the optimiser converged to a point that moved from its start."""


def _unravel(x: np.ndarray, names: list[str], shapes: list[tuple]) -> dict:
    out, i = {}, 0
    for n, s in zip(names, shapes, strict=True):
        size = int(np.prod(s))
        out[n] = np.reshape(x[i:i + size], s)
        i += size
    return out


def jittered_start(mm, values, jitter: bool, rng: np.random.Generator) -> dict:
    """Unconstrained start at natural-scale ``values``, plus U(-1, 1) jitter.

    The jitter is redrawn up to :data:`JITTER_MAX_RETRIES` times until the
    model's log density (:meth:`ModelCache.objective`) is finite there.

    Raises
    ------
    pymc.exceptions.SamplingError
        When no finite start was found.
    """
    cache, model = mm.cache, mm.model
    point = cache.to_unconstrained(model)(values)

    def finite(p):
        return np.isfinite(cache.objective(model, p))

    if not jitter:
        candidate = point
        ok = finite(candidate)
    else:
        for _ in range(JITTER_MAX_RETRIES + 1):
            candidate = {k: v + rng.uniform(-1, 1, size=np.shape(v)) for k, v in point.items()}
            ok = finite(candidate)
            if ok:
                break
    if not ok:
        raise pm.exceptions.SamplingError(
            "no start with a finite log density was found "
            f"({'after jittering ' + str(JITTER_MAX_RETRIES + 1) + ' times' if jitter else ''}); "
            "check the starting values, data and prior.")
    return candidate


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


def _map_tree(mm, point: dict, res, method: str, labels: list[str]) -> xr.DataTree:
    """Build the MAP tree: one-draw ``posterior``, ``fit``, ``optimizer_result``, data."""
    values = mm.cache.values(mm.model)(point)
    tree = xr.DataTree.from_dict({
        "posterior": posterior_dataset(mm, [[values]]),
        "observed_data": observed_dataset(mm),
    })
    tree["fit"] = xr.DataTree(xr.Dataset(
        {"mean_vector": ("rows", np.asarray(res.x))}, coords={"rows": labels}))
    tree["optimizer_result"] = xr.DataTree(_result_dataset(res, method, labels))
    return tree


def _optimise(mm, start: dict, method: str, gtol: float, maxiter: int):
    f, names, shapes = mm.cache.map_loss(mm.model, start)
    x0 = ravel_point(start, names)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        res = optimize.minimize(f, x0, jac=True, method=method,
                                options={"gtol": gtol, "maxiter": maxiter})
    moved = bool(np.max(np.abs(np.asarray(res.x) - x0)) > 1e-8)
    return res, moved, _unravel(np.asarray(res.x), names, shapes), _labels(start, names)


def fit_map(mm, *, rng=None, n_starts: int = 4, method: str = "BFGS",
            jitter: bool = True, initvals: list | None = None, gtol: float = 1e-8,
            maxiter: int = 10_000, extra_starts: list | None = None,
            on_progress=None) -> xr.DataTree:
    """Maximum a posteriori estimate, as ``pymc.find_MAP`` computes it, from several starts.

    Parameters
    ----------
    mm : MixtureModel
        From :func:`models.build_model` (or :func:`models.cached_model`).
    rng : int, numpy.random.Generator or None
        Seeds each start's jitter (children spawned per start).
    n_starts : int, default 4
        Number of optimiser runs.
    method : str, default "BFGS"
        A gradient-based ``scipy.optimize.minimize`` method.
    jitter : bool, default True
        Jitter each start by U(-1, 1) on the unconstrained scale (as PyMC does).
    initvals : list of dict, optional
        Explicit starts (natural-scale values by variable name); by default
        each start is EM's k-means++ initialisation (not EM's answer) with
        a child generator, so no start is the symmetric saddle where all
        components coincide.
    gtol : float, default 1e-8
        Gradient tolerance of the optimiser.
    maxiter : int, default 10000
    extra_starts : list of dict, optional
        Further starts (natural-scale values by variable name) run after the
        ``n_starts`` others, never jittered, e.g. :func:`models.start_near`
        an EM optimum, to check that the model's density has its maximum
        there. They compete for the best start like the others.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` after each start (for a progress
        display; ``total`` counts the extra starts).

    Returns
    -------
    xarray.DataTree
        For the best start: ``posterior`` (free variables and deterministics,
        one chain and one draw), ``fit``, ``optimizer_result`` and
        ``observed_data`` (as ``pm.find_MAP(..., return_inferencedata=True)``
        names them), plus a ``map_starts`` group with
        each start's log density, success, number of iterations, message and
        whether it was an extra start (``given``). Attributes ``log_density``
        (log posterior density without Jacobian terms, i.e. the maximised
        objective), ``best_start``, ``n_starts`` (including the extra ones),
        ``n_given`` and ``method``.

    Raises
    ------
    ValueError
        When the prior has no interior mode: ``alpha < 1`` for free weights
        (the density is unbounded on the simplex's boundary), refused as
        MAP-EM refuses it (:meth:`em.Prior.check_for` with ``mode="map"``).
    MAPError
        When no start converged and moved away from its starting point.

    Notes
    -----
    Each start runs what ``pm.find_MAP(model=mm.model, method=method,
    initvals=starts[i], jitter=jitter, options={"gtol": gtol, "maxiter":
    maxiter})`` runs, with its jitter drawn from the ``i``-th spawned child of
    ``rng`` (the same ``rng`` gives the same result on every call, on a fresh
    or a reused model); the objective, start and values functions are
    compiled once per model and reused after :meth:`MixtureModel.set_data`.
    A start counts as converged when scipy reports success or, since BFGS
    often stops with "precision loss" at an optimum, when the largest
    gradient element is at most :data:`GRAD_ACCEPT`; a start that did not
    move is never returned as a MAP.
    """
    mm = check_model(mm)
    check_prior(mm.prior, mm.spec, mode="map")
    n_starts = check_positive_int(n_starts, "n_starts")
    rng = em.check_rng(rng)
    children = rng.spawn(n_starts)
    if initvals is not None:
        if len(initvals) != n_starts:
            raise ValueError(f"initvals has {len(initvals)} entries for n_starts={n_starts}.")
        starts = list(initvals)
    else:
        starts = [start_from_em(mm, child) for child in children]
    extra = list(extra_starts or [])
    jitters = [jitter] * n_starts + [False] * len(extra)
    starts, children = starts + extra, children + [None] * len(extra)
    n_given = len(extra)
    n_starts += n_given
    records, best_fit = [], (-np.inf, None)
    for i, (values, child, jit) in enumerate(zip(starts, children, jitters, strict=True)):
        if on_progress is not None and i:
            on_progress(i, n_starts)
        try:
            start = jittered_start(mm, complete_start(mm, values), jit, child)
            res, moved, point, labels = _optimise(mm, start, method, gtol, maxiter)
        except (ValueError, KeyError, np.linalg.LinAlgError, FloatingPointError,
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
    if on_progress is not None:
        on_progress(n_starts, n_starts)
    logd = np.array([r[0] for r in records])
    ok = np.array([r[1] for r in records])
    if best_fit[1] is None:
        raise MAPError(
            "the MAP optimiser did not converge from any of the "
            f"{n_starts} starts ({'; '.join(r[3] for r in records)}); increase maxiter or "
            "n_starts, or check the data and prior."
        )
    best, point, res, labels = best_fit[1]
    out = _map_tree(mm, point, res, method, labels)
    out["map_starts"] = xr.Dataset(
        {
            "log_density": ("start", logd),
            "success": ("start", ok),
            "n_iter": ("start", np.array([r[2] for r in records])),
            "message": ("start", np.array([r[3] for r in records])),
            "given": ("start", np.arange(n_starts) >= n_starts - n_given),
        },
        coords={"start": np.arange(n_starts)},
    )
    out.attrs.update({"log_density": float(logd[best]), "best_start": best,
                      "n_starts": n_starts, "n_given": n_given, "method": method})
    if (~ok).any():
        _log.info("MAP: %d of %d starts failed", int((~ok).sum()), n_starts)
    return out
