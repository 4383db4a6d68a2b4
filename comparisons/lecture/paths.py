"""EM's paths and basins of attraction on the two-means surface of :mod:`.surface`.

:func:`em_means` runs EM (or classification EM) on the two means from many
starts at once; :func:`em_paths` records each start's path with ``em``
itself; :func:`basin_map` colours every start by the local maximum it
climbs to (:func:`classify`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em

from .surface import _as_x, _component_logpdf, _weights_variances, mixture_loglik

__all__ = ["basin_map", "classify", "em_means", "em_paths"]


def em_means(x, starts, *, weights=(0.5, 0.5), variances=1.0, algorithm: str = "em",
             max_iter: int = 1000, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run EM (or CEM) on the two means only, from many starts at once.

    The same updates as ``em.fit(x, 2, fixed={"weights": ..., "variances": ...})``
    (a component that receives no data keeps its mean; CEM ties go to the first
    component), vectorised over the starts.

    Parameters
    ----------
    x : array_like of shape (n,)
    starts : array_like of shape (S, 2)
    weights, variances : optional
        Held fixed.
    algorithm : {"em", "cem"}, default "em"
    max_iter : int, default 1000
    tol : float, default 1e-10
        A start has converged when neither mean moves by more than
        ``tol`` times the data's sd.

    Returns
    -------
    means : ndarray of shape (S, 2)
    n_iter : ndarray of int, shape (S,)
    converged : ndarray of bool, shape (S,)
    """
    if algorithm not in ("em", "cem"):
        raise ValueError(f"algorithm must be 'em' or 'cem', got {algorithm!r}.")
    x = _as_x(x)
    w, v = _weights_variances(weights, variances)
    mu = np.array(starts, float).reshape(-1, 2)
    S, n = mu.shape[0], x.size
    n_iter = np.zeros(S, dtype=int)
    active = np.ones(S, dtype=bool)
    eps = tol * float(np.std(x))
    for _ in range(int(max_iter)):
        if not active.any():
            break
        a = mu[active]
        lp1 = _component_logpdf(x, a[:, :1], np.log(w[0]), v[0])
        lp2 = _component_logpdf(x, a[:, 1:], np.log(w[1]), v[1])
        if algorithm == "cem":
            r = (lp1 >= lp2).astype(float)
        else:
            r = np.exp(lp1 - np.logaddexp(lp1, lp2))
        N1, N2 = r.sum(axis=1), (1 - r).sum(axis=1)
        empty = 1e-12 * n
        new = a.copy()
        new[:, 0] = np.where(N1 > empty, (r @ x) / np.where(N1 > empty, N1, 1), a[:, 0])
        new[:, 1] = np.where(N2 > empty, ((1 - r) @ x) / np.where(N2 > empty, N2, 1), a[:, 1])
        moved = np.max(np.abs(new - a), axis=1) > eps
        mu[active] = new
        idx = np.flatnonzero(active)
        n_iter[idx] += 1
        active[idx[~moved]] = False
    return mu, n_iter, ~active


def classify(final, maxima, *, tol: float) -> np.ndarray:
    """Index of the maximum each final point sits at (-1: none within ``tol``).

    Parameters
    ----------
    final : array_like of shape (S, 2)
    maxima : array_like of shape (m, 2)
        Labelled maxima: ``(a, b)`` and ``(b, a)`` are different points.
    tol : float
        Largest Euclidean distance counted as "at" a maximum.

    Returns
    -------
    ndarray of int, shape (S,)
    """
    final = np.asarray(final, float).reshape(-1, 2)
    maxima = np.asarray(maxima, float).reshape(-1, 2)
    if maxima.size == 0:
        return np.full(final.shape[0], -1)
    dist = np.linalg.norm(final[:, None, :] - maxima[None, :, :], axis=-1)
    best = dist.argmin(axis=1)
    return np.where(dist[np.arange(final.shape[0]), best] <= tol, best, -1)


def basin_map(x, maxima, *, limits, n_grid: int = 81, weights=(0.5, 0.5), variances=1.0,
              algorithm: str = "em", max_iter: int = 1000, match_tol=None) -> xr.Dataset:
    """Colour a grid of starting means by the maximum EM (or CEM) reaches from each.

    Parameters
    ----------
    x : array_like of shape (n,)
    maxima : array_like of shape (m, 2)
        The labelled maxima, e.g. ``opt_mu1``/``opt_mu2`` of :func:`loglik_surface`.
    limits : pair of float
        Range of both axes of starting points.
    n_grid : int, default 81
    weights, variances : optional
        Held fixed, as in the surface.
    algorithm : {"em", "cem"}, default "em"
    max_iter : int, default 1000
    match_tol : float, optional
        Distance from a maximum counted as reaching it; default 1 % of the
        data's sd. CEM stops at partition means, which differ from EM's maxima
        by about the overlap of the components.

    Returns
    -------
    xarray.Dataset
        Over ``(start_mu1, start_mu2)``: ``optimum`` (index into ``maxima``,
        -1 when none is reached, e.g. from the symmetric line ``mu1 = mu2``,
        a fixed point of EM), ``final_mu1``, ``final_mu2``, ``n_iter``,
        ``converged``; ``max_mu1``/``max_mu2`` over ``optimum``; attributes
        ``algorithm``, ``match_tol``, ``weights``, ``variances``.
    """
    x = _as_x(x)
    w, v = _weights_variances(weights, variances)
    tol = 0.01 * float(np.std(x)) if match_tol is None else float(match_tol)
    grid = np.linspace(float(limits[0]), float(limits[1]), int(n_grid))
    S1, S2 = np.meshgrid(grid, grid, indexing="ij")
    final, n_iter, conv = em_means(x, np.column_stack([S1.ravel(), S2.ravel()]), weights=w,
                                   variances=v, algorithm=algorithm, max_iter=max_iter)
    mx = np.asarray(maxima, float).reshape(-1, 2)
    which = classify(final, mx, tol=tol)
    dims, shape = ("start_mu1", "start_mu2"), S1.shape
    ds = xr.Dataset({
        "optimum": (dims, which.reshape(shape)),
        "final_mu1": (dims, final[:, 0].reshape(shape)),
        "final_mu2": (dims, final[:, 1].reshape(shape)),
        "n_iter": (dims, n_iter.reshape(shape)),
        "converged": (dims, conv.reshape(shape)),
        "max_mu1": ("optimum_index", mx[:, 0]),
        "max_mu2": ("optimum_index", mx[:, 1]),
    }, coords={"start_mu1": grid, "start_mu2": grid, "optimum_index": np.arange(len(mx))})
    ds.attrs.update({"algorithm": algorithm, "match_tol": tol, "weights": w.tolist(),
                     "variances": v.tolist()})
    return ds


def em_paths(x, starts, *, algorithm: str = "em", fixed=None, prior=None,
             max_iter: int = 10) -> xr.Dataset:
    """Record every iterate of ``em.fit`` from several starting means (``tol=0``).

    Parameters
    ----------
    x : array_like of shape (n,)
    starts : array_like of shape (S, 2)
        Starting means; symmetric starts (equal means) are refused by
        ``em.fit``'s warning and should be avoided.
    algorithm : {"em", "cem"}, default "em"
    fixed : dict, optional
        Passed to ``em.fit``, with ``"weights"`` and ``"variances"``; default
        the lecture's weights 0.5 and variances 1.
    prior : em.Prior, optional
        MAP-EM: the path climbs the log posterior instead.
    max_iter : int, default 10
        Exactly this many iterations per start.

    Returns
    -------
    xarray.Dataset
        Over ``(start, iteration, component)``: ``means``; over
        ``(start, iteration)``: ``loglik`` (the observed-data log-likelihood,
        recomputed for CEM whose trace holds its own objective) and
        ``objective`` (what the algorithm increases); attributes ``algorithm``
        and ``map`` (1 with a prior).
    """
    x = _as_x(x)
    fixed = {"weights": [0.5, 0.5], "variances": 1.0} if fixed is None else dict(fixed)
    if not {"weights", "variances"} <= set(fixed):
        raise ValueError("em_paths draws paths of the means: fixed= must hold 'weights' and "
                         f"'variances', got keys {sorted(fixed)}.")
    starts = np.asarray(starts, float).reshape(-1, 2)
    means, objective = [], []
    for s in starts:
        res = em.fit(x, 2, algorithm=algorithm, fixed=fixed, init={"means": s.tolist()},
                     tol=0, max_iter=max_iter, prior=prior)
        means.append(res.trace.means)
        objective.append(res.trace.objective)
    means = np.stack(means)
    ll = mixture_loglik(x, means[..., 0], means[..., 1], weights=fixed["weights"],
                        variances=fixed["variances"])
    ds = xr.Dataset({
        "means": (("start", "iteration", "component"), means),
        "loglik": (("start", "iteration"), ll),
        "objective": (("start", "iteration"), np.stack(objective)),
    }, coords={"start": np.arange(starts.shape[0]), "iteration": np.arange(means.shape[1]),
               "component": [0, 1]})
    ds.attrs.update({"algorithm": algorithm, "map": int(prior is not None)})
    return ds
