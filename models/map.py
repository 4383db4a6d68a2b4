"""MAP estimation of the PyMC mixture model with ``pymc.find_MAP``, from several starts."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pymc as pm
import xarray as xr

import em

from .points import start_from_em, to_unconstrained

__all__ = ["MAPError", "fit_map"]

_log = logging.getLogger(__name__)
#: largest |gradient| (unconstrained scale) accepted as converged when scipy reports failure
GRAD_ACCEPT = 1e-4


class MAPError(RuntimeError):
    """No start of the optimiser converged to a point that moved from its start."""


def fit_map(model: pm.Model, *, rng=None, n_starts: int = 4, method: str = "BFGS",
            jitter: bool = True, initvals: list | None = None, gtol: float = 1e-8,
            maxiter: int = 10_000, progressbar: bool = False) -> xr.DataTree:
    """Maximum a posteriori estimate by ``pymc.find_MAP`` from several starts; keep the best.

    Parameters
    ----------
    model : pymc.Model
        From :func:`models.build_model`.
    rng : int, numpy.random.Generator or None
        Seeds each start's jitter (children spawned per start).
    n_starts : int, default 4
        Number of optimiser runs.
    method : str, default "BFGS"
        A ``scipy.optimize.minimize`` method.
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
    progressbar : bool, default False

    Returns
    -------
    xarray.DataTree
        ``find_MAP``'s tree for the best start (``posterior`` with one chain
        and one draw, ``fit``, ``optimizer_result``, ``observed_data``), plus
        a ``map_starts`` group with each start's log density, success, number
        of iterations and message. Attributes ``log_density`` (log posterior
        density without Jacobian terms, i.e. the maximised objective),
        ``best_start`` and ``n_starts``.

    Raises
    ------
    MAPError
        When no start converged and moved away from its starting point.
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
    records, trees = [], []
    for start, child in zip(starts, children, strict=True):
        seed = int(child.integers(2**31 - 1))
        x0 = to_unconstrained(model, start)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=RuntimeWarning)
                # convergence is judged below from the gradient and recorded per start
                warnings.filterwarnings("ignore", message="The optimizer did not converge")
                tree = pm.find_MAP(model=model, method=method, initvals=start, jitter=jitter,
                                   random_seed=seed, return_inferencedata=True,
                                   progressbar=progressbar,
                                   options={"gtol": gtol, "maxiter": maxiter})
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as err:
            records.append((np.nan, False, 0, f"failed: {err}"))
            trees.append(None)
            continue
        res = tree["optimizer_result"]
        x = np.asarray(res["x"].values)
        moved = jitter or (x0 is None or x.shape != x0.shape or np.max(np.abs(x - x0)) > 1e-8)
        nit = int(res["nit"].values) if "nit" in res else -1
        grad = float(np.max(np.abs(res["jac"].values))) if "jac" in res else np.inf
        # BFGS often stops with "precision loss" at an optimum: accept a small gradient
        converged = bool(res["success"].values) or grad <= GRAD_ACCEPT
        ok = converged and moved and nit != 0
        msg = str(res["message"].values) if ok else (
            "did not move from its start" if not moved or nit == 0
            else f"did not converge: {res['message'].values}")
        records.append((-float(res["fun"].values), ok, nit, msg))
        trees.append(tree)
    logd = np.array([r[0] for r in records])
    ok = np.array([r[1] for r in records])
    if not ok.any():
        raise MAPError(
            "find_MAP did not converge from any of the "
            f"{n_starts} starts ({'; '.join(r[3] for r in records)}); increase maxiter or "
            "n_starts, or check the data and prior."
        )
    best = int(np.nanargmax(np.where(ok, logd, -np.inf)))
    out = trees[best].copy()
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
        _log.info("find_MAP: %d of %d starts failed", int((~ok).sum()), n_starts)
    return out
