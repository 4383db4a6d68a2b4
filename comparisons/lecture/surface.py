"""Log-likelihood surfaces of a two-component 1-D mixture over the two means, and EM on them.

The lecture's picture: with the weights and variances held fixed (the
lecture's ``tau = 0.5`` and ``sigma^2 = 1``), the log-likelihood is a function of
``(mu1, mu2)`` alone and can be drawn as a landscape; every EM run is a path
on it, and every starting point belongs to the basin of the local maximum EM
climbs to. The numbers are computed here, by numpy kernels vectorised over
the grid (or over many starts at once), and returned as ``xarray`` Datasets;
:mod:`comparisons.lecture_figures` only draws them: :func:`loglik_surface`
(fixed or profiled, with its local maxima), :func:`em_paths` and :func:`basin_map`.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from mixcompare import em
from scipy.ndimage import maximum_filter

__all__ = ["grid_maxima", "loglik_surface", "mixture_loglik", "profile_loglik"]

_LOG2PI = np.log(2 * np.pi)
_CHUNK = 2_000_000  # grid points x observations per vectorised block


def _as_x(x) -> np.ndarray:
    x = em.validate_data(x)
    if x.ndim != 1:
        raise ValueError(f"the surface is for 1-D data; got shape {x.shape}.")
    return np.asarray(x, float)


def _weights_variances(weights, variances) -> tuple[np.ndarray, np.ndarray]:
    w = np.broadcast_to(np.asarray(weights, float), (2,)).copy()
    v = np.broadcast_to(np.asarray(variances, float), (2,)).copy()
    if np.any(w <= 0) or not np.isclose(w.sum(), 1.0) or np.any(v <= 0):
        raise ValueError(f"weights must be positive and sum to 1 and variances positive; got "
                         f"weights={w.tolist()}, variances={v.tolist()}.")
    return w, v


def _pairs(mu1, mu2):
    """Broadcast two arrays of means; return them as columns (g, 1) and their shape."""
    m1, m2 = np.broadcast_arrays(np.asarray(mu1, float), np.asarray(mu2, float))
    return m1.ravel()[:, None], m2.ravel()[:, None], m1.shape


def _component_logpdf(x, mu, log_w, var):
    """``log w + log N(x | mu, var)`` for points ``mu`` (g, 1) against data ``x`` (n,)."""
    return log_w - 0.5 * (_LOG2PI + np.log(var)) - 0.5 * (x - mu) ** 2 / var


def mixture_loglik(x, mu1, mu2, *, weights=(0.5, 0.5), variances=1.0) -> np.ndarray:
    """Evaluate the two-component log-likelihood at many pairs of means.

    Parameters
    ----------
    x : array_like of shape (n,)
    mu1, mu2 : array_like
        Means of components 1 and 2, broadcast against each other.
    weights : pair of float, default (0.5, 0.5)
    variances : float or pair of float, default 1.0

    Returns
    -------
    ndarray
        ``sum_i log(w1 N(x_i | mu1, v1) + w2 N(x_i | mu2, v2))``, shaped like
        ``mu1 + mu2``.
    """
    x = _as_x(x)
    w, v = _weights_variances(weights, variances)
    m1, m2, shape = _pairs(mu1, mu2)
    out = np.empty(m1.shape[0])
    step = max(1, _CHUNK // x.size)
    for s in range(0, out.size, step):
        lp1 = _component_logpdf(x, m1[s:s + step], np.log(w[0]), v[0])
        lp2 = _component_logpdf(x, m2[s:s + step], np.log(w[1]), v[1])
        out[s:s + step] = np.logaddexp(lp1, lp2).sum(axis=1)
    return out.reshape(shape)


def profile_loglik(x, mu1, mu2, *, weights=(0.5, 0.5), max_iter: int = 500,
                   tol: float = 1e-10, var_floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Maximise the log-likelihood over a common variance at each pair of means.

    EM on ``sigma^2`` with the means and weights held, vectorised over the
    points; each step cannot decrease the likelihood, so the result is a local
    maximum of the profile (from ``sigma^2`` = the data's variance). A common
    variance keeps the profile bounded (separate variances would let one
    collapse onto a data point); fixed weights keep a component from emptying
    (with a free weight the profile is flat along the mean of an empty
    component).

    Parameters
    ----------
    x : array_like of shape (n,)
    mu1, mu2 : array_like
        Broadcast against each other.
    weights : pair of float, default (0.5, 0.5)
        Held fixed.
    max_iter : int, default 500
    tol : float, default 1e-10
        Stop when no point's log-likelihood changes by more than this.
    var_floor : float, default 1e-6
        Lower bound on the variance, relative to the data's variance.

    Returns
    -------
    loglik, variance : ndarray
        The profile log-likelihood and the maximising common variance at each
        point, shaped like ``mu1 + mu2``.
    """
    x = _as_x(x)
    w, _ = _weights_variances(weights, 1.0)
    m1, m2, shape = _pairs(mu1, mu2)
    floor = var_floor * float(np.var(x))
    ll, var = np.empty(m1.shape[0]), np.empty(m1.shape[0])
    step = max(1, _CHUNK // x.size)
    for s in range(0, m1.shape[0], step):
        d1, d2 = (x - m1[s:s + step]) ** 2, (x - m2[s:s + step]) ** 2
        v = np.full((d1.shape[0], 1), max(float(np.var(x)), floor))
        prev = np.full(d1.shape[0], -np.inf)
        for _ in range(max_iter + 1):
            lp1 = np.log(w[0]) - 0.5 * (_LOG2PI + np.log(v)) - 0.5 * d1 / v
            lp2 = np.log(w[1]) - 0.5 * (_LOG2PI + np.log(v)) - 0.5 * d2 / v
            tot = np.logaddexp(lp1, lp2)
            cur = tot.sum(axis=1)
            if np.all(np.abs(cur - prev) <= tol):
                break
            prev = cur
            r = np.exp(lp1 - tot)
            v = np.maximum((r * d1 + (1 - r) * d2).mean(axis=1, keepdims=True), floor)
        ll[s:s + step], var[s:s + step] = cur, v[:, 0]
    return ll.reshape(shape), var.reshape(shape)


def grid_maxima(values: np.ndarray) -> np.ndarray:
    """Return the indices ``(i, j)``, shape (m, 2), of a 2-D grid's interior local maxima.

    A local maximum is at least as high as its 8 neighbours; the border is excluded.
    """
    values = np.asarray(values, float)
    peak = values >= maximum_filter(values, size=3, mode="nearest")
    peak[[0, -1], :] = False
    peak[:, [0, -1]] = False
    return np.argwhere(peak & np.isfinite(values))


def _fit_quiet(x, **kwargs) -> em.EMResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.MixcompareWarning)
        return em.fit(x, 2, **kwargs)


def _refine(x, starts, weights, variances, profile: bool, tol: float) -> list[dict]:
    """Climb from each grid maximum with EM; merge points that reach the same maximum."""
    found = []
    scale = float(np.std(x))
    for m1, m2 in starts:
        if m1 == m2:  # a symmetric start is a fixed point of EM: nothing to refine
            continue
        if profile:
            v0 = float(profile_loglik(x, m1, m2, weights=weights)[1])
            res = _fit_quiet(x, structure="equal", fixed={"weights": list(weights)},
                             init={"means": [m1, m2], "variances": v0}, tol=tol,
                             max_iter=100_000)
        else:
            res = _fit_quiet(x, fixed={"weights": list(weights), "variances": list(variances)},
                             init={"means": [m1, m2]}, tol=tol, max_iter=100_000)
        mu = np.asarray(res.means, float)
        if any(np.max(np.abs(mu - f["means"])) < 1e-4 * scale for f in found):
            continue
        found.append({"means": mu, "loglik": res.log_likelihood,
                      "variance": float(res.variances[0]), "grid": (m1, m2),
                      "n_iter": res.n_iter, "converged": res.converged})
    found.sort(key=lambda f: (-round(f["loglik"], 8), f["means"][0]))
    return found


def loglik_surface(x, *, limits=None, n_grid: int = 161, weights=(0.5, 0.5),
                   variances=1.0, profile: bool = False, tol: float = 1e-12) -> xr.Dataset:
    """Compute the log-likelihood over a grid of ``(mu1, mu2)`` and its local maxima.

    Parameters
    ----------
    x : array_like of shape (n,)
    limits : pair of float, optional
        Range of both axes; by default the data's range widened by 20 %.
    n_grid : int, default 161
        Grid points per axis.
    weights, variances : optional
        The fixed weights and variances (``variances`` ignored when ``profile``).
    profile : bool, default False
        Maximise over a common variance at every point (:func:`profile_loglik`)
        instead of holding the variances fixed; the weights stay fixed.
    tol : float, default 1e-12
        ``em.fit`` tolerance of the refinement.

    Returns
    -------
    xarray.Dataset
        ``loglik`` over ``(mu1, mu2)`` (with ``variance`` when profiled) and,
        over ``optimum`` (best first, ties by ``mu1``), the refined maxima
        ``opt_mu1``, ``opt_mu2``, ``opt_loglik``, ``opt_variance`` (the
        common variance there), the grid maxima they were refined
        from (``grid_mu1``, ``grid_mu2``) and ``opt_n_iter``. Attributes
        ``mode`` ("fixed" or "profile"), ``statement`` (one line for the
        figure), ``weights``, ``variances`` and ``n_obs``.

    Notes
    -----
    A grid maximum is a point at least as high as its 8 neighbours (the border
    excluded); EM from it, with the same fixed parameters (or, profiled, EM
    over the means and a common variance), climbs to the nearby true
    maximum. Maxima that EM merges are reported once.
    """
    x = _as_x(x)
    w, v = _weights_variances(weights, variances)
    if limits is None:
        lo, hi = float(x.min()), float(x.max())
        pad = 0.2 * (hi - lo)
        limits = (lo - pad, hi + pad)
    grid = np.linspace(float(limits[0]), float(limits[1]), int(n_grid))
    M1, M2 = np.meshgrid(grid, grid, indexing="ij")
    dims = ("mu1", "mu2")
    data = {}
    if profile:
        ll, var = profile_loglik(x, M1, M2, weights=w)
        data.update(loglik=(dims, ll), variance=(dims, var))
        statement = (f"weights fixed at ({w[0]:g}, {w[1]:g}); common variance sigma^2 "
                     "profiled out (maximised at each (mu1, mu2))")
    else:
        ll = mixture_loglik(x, M1, M2, weights=w, variances=v)
        data["loglik"] = (dims, ll)
        statement = (f"weights fixed at ({w[0]:g}, {w[1]:g}), variances fixed at "
                     f"({v[0]:g}, {v[1]:g})")
    idx = grid_maxima(ll)
    found = _refine(x, [(grid[i], grid[j]) for i, j in idx], w, v, profile, tol)
    od = ("optimum",)
    data.update(
        opt_mu1=(od, [f["means"][0] for f in found]),
        opt_mu2=(od, [f["means"][1] for f in found]),
        opt_loglik=(od, [f["loglik"] for f in found]),
        opt_variance=(od, [f["variance"] for f in found]),
        grid_mu1=(od, [f["grid"][0] for f in found]),
        grid_mu2=(od, [f["grid"][1] for f in found]),
        opt_n_iter=(od, [f["n_iter"] for f in found]),
    )
    ds = xr.Dataset(data, coords={"mu1": grid, "mu2": grid, "optimum": np.arange(len(found))})
    ds.attrs.update({"mode": "profile" if profile else "fixed", "statement": statement,
                     "weights": w.tolist(), "variances": v.tolist(), "n_obs": int(x.size)})
    return ds
