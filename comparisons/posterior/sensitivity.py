"""Prior sensitivity of posterior summaries: weaker priors by importance reweighting.

The posterior under a prior ``p1`` differs from the one sampled (prior
``p0``, same likelihood) by the factor ``p1(theta) / p0(theta)``, so the
draws of ``p0``'s posterior, weighted by that ratio, estimate ``p1``'s
posterior (importance sampling, self-normalised). The weights are smoothed
and checked by Pareto-smoothed importance sampling (PSIS, ArviZ's
``psislw``): its Pareto ``k`` says whether the reweighting can be trusted.

The weaker priors here keep the Inverse-Gamma shape ``a`` and divide its
scale ``b`` (and the Inverse-Wishart ``psi``) by a factor: the prior's
pseudo sum of squares shrinks, so it widens small components less.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import xarray as xr
from mixcompare import em
from scipy.special import softmax

__all__ = ["MIN_DRAWS", "is_ess", "k_threshold", "log_prior_draws", "psis_weights", "weaker_prior",
           "weighted_summary"]

#: fewest draws for PSIS: its Pareto tail (0.2 S draws here) needs at least 5
MIN_DRAWS = 25


def weaker_prior(prior: em.Prior, factor: float) -> em.Prior:
    """Return ``prior`` with its variance scale ``b`` (and ``psi``) divided by ``factor``.

    Parameters
    ----------
    prior : em.Prior
    factor : float
        > 0; 10 gives ``b / 10``.

    Returns
    -------
    em.Prior
        Same ``alpha``, ``m0``, ``kappa``, ``a`` and ``nu``.
    """
    if not np.isfinite(factor) or factor <= 0:
        raise ValueError(f"a prior scale factor must be a positive number, got {factor!r}.")
    b = np.asarray(prior.b, dtype=float) / factor
    return replace(prior, b=float(b) if b.ndim == 0 else b,
                   psi=None if prior.psi is None else prior.psi / factor)


def _covariances(post: xr.Dataset, K: int, d: int) -> np.ndarray:
    """Return the draws' covariances, shape (S, K, d, d), from ``covariances`` or ``variances``."""
    if "covariances" in post:
        c = post["covariances"].transpose("chain", "draw", "component", ...).values
        return c.reshape(-1, K, d, d)
    v = post["variances"].transpose("chain", "draw", "component", ...).values
    v = np.broadcast_to(v.reshape(v.shape[0] * v.shape[1], K, -1), (v.shape[0] * v.shape[1], K, d))
    return v[..., :, None] * np.eye(d)


def log_prior_draws(post: xr.Dataset, prior: em.Prior, spec: em.Spec) -> np.ndarray:
    """Log prior density of every draw, :meth:`em.Prior.log_density` (free blocks, no Jacobian).

    Parameters
    ----------
    post : xarray.Dataset
        Draws over ``(chain, draw, component[, feature])``: ``weights``,
        ``means`` and ``variances`` (and ``covariances`` for ``full``/``tied``).
    prior : em.Prior
        On the data's scale.
    spec : em.Spec

    Returns
    -------
    ndarray of shape (chain, draw)

    Notes
    -----
    A ratio of two priors' densities is the same in every parameterisation
    (the Jacobians cancel), so the log density of the variances, as em
    writes it, serves for draws sampled on any unconstrained scale.
    """
    C, D, K = post.sizes["chain"], post.sizes["draw"], spec.n_components
    d = spec.n_features
    w = post["weights"].transpose("chain", "draw", "component").values.reshape(-1, K)
    m = post["means"].transpose("chain", "draw", "component", ...).values.reshape(-1, K, d)
    cov = _covariances(post, K, d)
    return prior.log_density_draws(w, m, cov, spec).reshape(C, D)


def k_threshold(n_draws: int) -> float:
    """Pareto-k above which PSIS estimates are unreliable: ``min(1 - 1/log10(S), 0.7)``.

    References
    ----------
    Vehtari, A., Simpson, D., Gelman, A., Yao, Y. & Gabry, J. (2024). Pareto
    smoothed importance sampling. *JMLR* 25(72), 1-58.
    """
    if n_draws < MIN_DRAWS:
        return -np.inf
    return float(min(1.0 - 1.0 / np.log10(n_draws), 0.7))


def psis_weights(log_ratio: np.ndarray) -> tuple[np.ndarray, float]:
    """Self-normalised PSIS weights of draws with log importance ratios ``log_ratio``.

    Parameters
    ----------
    log_ratio : ndarray of shape (chain, draw)
        ``log p1(theta) - log p0(theta)`` per draw (any additive constant).

    Returns
    -------
    weights : ndarray of shape (chain * draw,)
        Smoothed, summing to 1.
    k : float
        Pareto-k of the largest ratios (:func:`k_threshold` says when too large).
        ``-inf`` when every ratio is the same (the weights are uniform); ``inf``
        with fewer than :data:`MIN_DRAWS` draws (raw, unsmoothed weights); NaN
        when the tail cannot be fitted. Both are unreliable.
    """
    import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor)

    lr = np.asarray(log_ratio, dtype=float)
    if np.ptp(lr) == 0:
        return np.full(lr.size, 1.0 / lr.size), -np.inf
    if lr.size < MIN_DRAWS:  # too few draws for a Pareto tail: raw weights, never reliable
        return softmax(lr.ravel()), np.inf
    # arviz-stats' psislw takes log-likelihoods (LOO: log ratio = -log lik), hence the sign
    lw, k = xr.DataArray(-lr, dims=("chain", "draw")).azstats.psislw(dim=["chain", "draw"])
    return softmax(lw.values.ravel()), float(k)


def is_ess(weights: np.ndarray) -> float:
    """Effective number of independent draws of normalised weights, ``1 / sum w^2``."""
    return float(1.0 / np.sum(np.asarray(weights) ** 2))


def weighted_summary(rows: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """Weighted mean and sd of every column, with the sd's Monte Carlo standard error.

    Parameters
    ----------
    rows : ndarray of shape (S, R)
        One row of parameter values per draw.
    weights : ndarray of shape (S,), optional
        Normalised weights; uniform by default.

    Returns
    -------
    dict
        ``mean``, ``sd``, ``sd_mcse``: arrays of shape (R,).

    Notes
    -----
    ``sd^2 = sum_i w_i (x_i - mean)^2 / (1 - sum_i w_i^2)`` (reliability
    weights: with uniform weights this is the sample variance with
    ``ddof=1``). The Monte Carlo error of self-normalised importance sampling
    treats the draws as independent,
    ``se(sd^2)^2 ~ sum_i w_i^2 (h_i - sd^2)^2`` with ``h_i = (x_i - mean)^2``,
    and ``se(sd) = se(sd^2) / (2 sd)`` (delta method); for MCMC draws it
    understates the error by the chains' autocorrelation.

    References
    ----------
    Owen, A. B. (2013). *Monte Carlo theory, methods and examples*, ch. 9
    (self-normalised importance sampling).
    """
    x = np.asarray(rows, dtype=float)
    S = x.shape[0]
    w = np.full(S, 1.0 / S) if weights is None else np.asarray(weights, dtype=float)
    mean = w @ x
    h = (x - mean) ** 2
    var = (w @ h) / (1.0 - np.sum(w**2))
    sd = np.sqrt(var)
    se_var = np.sqrt((w**2) @ (h - w @ h) ** 2)
    return {"mean": mean, "sd": sd, "sd_mcse": se_var / (2 * np.where(sd > 0, sd, np.nan))}
