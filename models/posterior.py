"""Posterior summaries computed from draws: membership probabilities and predictive density.

numpy kernels work on stacked draws; thin xarray adapters read the
``posterior`` group of a DataTree (dimensions ``chain``, ``draw``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em
from scipy.special import logsumexp

__all__ = ["membership_probabilities", "predictive_density"]


def _stacked(tree) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Stacked draws: weights (S, K), means and variances (S, K, d), covariances (S, K, d, d).

    ``covariances`` is None when the posterior has none (diagonal structures).
    """
    post = tree["posterior"] if isinstance(tree, xr.DataTree) else tree
    post = post.to_dataset() if hasattr(post, "to_dataset") else post
    st = post.stack(sample=("chain", "draw"))
    w = st["weights"].transpose("sample", "component").values
    mu = st["means"].transpose("sample", "component", ...).values
    var = st["variances"].transpose("sample", "component", ...).values
    if mu.ndim == 2:
        mu, var = mu[:, :, None], var[:, :, None]
    cov = None
    if "covariances" in st:
        cov = st["covariances"].transpose("sample", "component", ...).values
    return w, mu, var, cov


def _log_density(X2, w, mu, var, cov, s: slice) -> np.ndarray:
    if cov is None:
        return em.draws_log_density(X2, w[s], mu[s], var[s])
    return em.draws_log_density(X2, w[s], mu[s], covariances=cov[s])


def membership_probabilities(tree, X, *, chunk: int = 200) -> xr.DataArray:
    """Posterior membership probabilities ``P(z_i = k | data)``, averaged over the draws.

    Parameters
    ----------
    tree : xarray.DataTree or xarray.Dataset
        With a ``posterior`` group holding ``weights``, ``means`` and
        ``variances`` over ``(chain, draw)``, and ``covariances`` for the
        ``full`` and ``tied`` structures (then used, correlations included).
    X : array_like of shape (n_samples,) or (n_samples, n_features)
        As many features as the posterior's means (checked), no NaN.
    chunk : int, default 200
        Draws processed at once (memory ``chunk * n * K``).

    Returns
    -------
    xarray.DataArray of shape (n_samples, n_components)
        Dimensions ``obs`` and ``component``; rows sum to one.

    Notes
    -----
    ``P(z_i = k | x) = E_post[ w_k f_k(x_i) / sum_j w_j f_j(x_i) ]``, estimated by the
    mean over draws. Under label switching the columns mix components;
    relabel the draws first.
    """
    chunk = em.check_positive_int(chunk, "chunk")
    X = em.validate_data(X, min_samples=1)
    X2 = X.reshape(X.shape[0], -1)
    w, mu, var, cov = _stacked(tree)
    S, K = w.shape
    if X2.shape[1] != mu.shape[2]:
        raise ValueError(
            f"X has {X2.shape[1]} feature(s) but the posterior is of a mixture in "
            f"{mu.shape[2]} dimension(s); pass the data the model was fitted to, of shape "
            + ("(n_samples,)." if mu.shape[2] == 1 else f"(n_samples, {mu.shape[2]}).")
        )
    acc = np.zeros((X2.shape[0], K))
    for s in range(0, S, chunk):
        lp = _log_density(X2, w, mu, var, cov, slice(s, s + chunk))
        acc += np.exp(lp - logsumexp(lp, axis=2, keepdims=True)).sum(axis=0)
    return xr.DataArray(acc / S, dims=("obs", "component"),
                        coords={"obs": np.arange(X2.shape[0]), "component": np.arange(K)},
                        name="membership")


def predictive_density(tree, grid, *, prob: float = 0.94, chunk: int = 500) -> xr.Dataset:
    """Posterior predictive density of a 1-D mixture on a grid, with a credible band.

    Parameters
    ----------
    tree : xarray.DataTree or xarray.Dataset
    grid : array_like of shape (n_grid,)
        Finite points (checked as data: NaN, infinities and 2-D grids are refused).
    prob : float, default 0.94
        Mass of the pointwise equal-tailed band.

    Returns
    -------
    xarray.Dataset
        ``mean`` (the posterior predictive density), ``lower`` and ``upper``
        (pointwise quantiles of the density over draws), dimension ``x``.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}.")
    chunk = em.check_positive_int(chunk, "chunk")
    grid = em.validate_data(grid, name="grid", min_samples=1)
    if grid.ndim != 1:
        raise ValueError(
            f"grid has shape {grid.shape}; predictive_density evaluates a 1-D mixture on a 1-D "
            "grid of shape (n_grid,).")
    w, mu, var, cov = _stacked(tree)
    if mu.shape[2] != 1:
        raise ValueError(
            f"predictive_density is for 1-D mixtures; this posterior is in {mu.shape[2]} "
            "dimensions.")
    dens = np.empty((w.shape[0], grid.size))
    for s in range(0, w.shape[0], chunk):
        lp = _log_density(grid[:, None], w, mu, var, cov, slice(s, s + chunk))
        dens[s:s + chunk] = np.exp(logsumexp(lp, axis=2))
    lo, hi = np.quantile(dens, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return xr.Dataset(
        {"mean": ("x", dens.mean(axis=0)), "lower": ("x", lo), "upper": ("x", hi)},
        coords={"x": grid}, attrs={"prob": prob, "band": "pointwise equal-tailed"})
