"""Tail-sensitive posterior summaries: when a few rare excursions carry a posterior sd.

A small mixture component (galaxies, K = 3: three points at ~33) now and then
leaves its cluster; those excursions are a few per cent of the posterior mass
but, lying far from the bulk, they carry much of the posterior sd of the
component's mean, weight and sd. NUTS enters them rarely, so the sd depends on
a handful of visits while R-hat and bulk ESS look fine. This module measures,
per parameter row, how much of the sd comes from the extreme draws and how
well that tail was explored.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare.comparisons.tables import posterior_rows, table
from scipy import stats

__all__ = ["NORMAL_TAIL_SHARE", "TAIL_ESS_MIN", "TAIL_FRAC", "TAIL_SHARE_MAX",
           "excursions", "quantile_ess", "tail_diagnostics", "tail_share"]

#: the extreme fraction of draws whose weight in the sd is measured (each side: TAIL_FRAC / 2)
TAIL_FRAC = 0.02
_Q = stats.norm.isf(TAIL_FRAC / 2)
#: share of the sum of squares a Normal's most extreme TAIL_FRAC carry: 2 (q phi(q) + Phi(-q))
NORMAL_TAIL_SHARE = float(2 * (_Q * stats.norm.pdf(_Q) + stats.norm.sf(_Q)))
#: a summary is tail-sensitive when its extreme draws carry more than this share of the sd^2
TAIL_SHARE_MAX = 0.25
#: ESS of the extreme quantiles below which a tail-sensitive sd is called unreliable
TAIL_ESS_MIN = 400


def tail_share(flat: np.ndarray, frac: float = TAIL_FRAC) -> np.ndarray:
    """Share of the sum of squared deviations carried by the most extreme ``frac`` of draws.

    Parameters
    ----------
    flat : ndarray of shape (n_draws, n_rows)
    frac : float
        Fraction of draws counted as extreme (those with the largest squared
        deviation from the mean).

    Returns
    -------
    ndarray of shape (n_rows,)
        ``sum_{extreme} (x - xbar)^2 / sum_all (x - xbar)^2``; NaN for a
        constant row.

    Notes
    -----
    For Normal draws and ``frac = 0.02`` the share is
    ``2 (q phi(q) + Phi(-q))`` with ``q = Phi^{-1}(0.99)``, about 0.11
    (:data:`NORMAL_TAIL_SHARE`); a share well above it says the sd is set by
    a few draws far from the bulk.
    """
    dev2 = (flat - flat.mean(axis=0)) ** 2
    m = max(1, int(np.ceil(frac * flat.shape[0])))
    top = -np.sort(-dev2, axis=0)[:m].sum(axis=0)
    total = dev2.sum(axis=0)
    return np.divide(top, total, out=np.full(total.shape, np.nan), where=total > 0)


def excursions(draws: np.ndarray, frac: float = TAIL_FRAC) -> np.ndarray:
    """Count separate visits to the tails beyond the pooled ``frac/2`` and ``1 - frac/2`` quantiles.

    Parameters
    ----------
    draws : ndarray of shape (n_chains, n_draws, n_rows)
    frac : float

    Returns
    -------
    ndarray of shape (n_rows,) of int
        Visits in either tail, counted in every chain and summed. A visit
        begins when a chain crosses the tail's quantile ``q`` and lasts
        until it returns past the midpoint between the median and ``q``
        (hysteresis, so that one excursion wandering about ``q`` is one
        visit). Independent draws give about ``frac * n_chains * n_draws``;
        far fewer say the tail draws come in a few long visits.
    """
    flat = draws.reshape(-1, draws.shape[-1])
    lo, med, hi = np.quantile(flat, [frac / 2, 0.5, 1 - frac / 2], axis=0)
    out = np.zeros(draws.shape[-1], dtype=int)
    for sign, q in ((-1.0, lo), (1.0, hi)):
        dist = sign * (draws - med)
        extreme, near = dist >= sign * (q - med), dist > 0.5 * sign * (q - med)
        starts = near & ~np.pad(near, ((0, 0), (1, 0), (0, 0)))[:, :-1]
        run = np.cumsum(starts, axis=1)
        for c in range(draws.shape[0]):
            for r in range(draws.shape[2]):
                out[r] += np.unique(run[c, extreme[c, :, r], r]).size
    return out


def quantile_ess(draws: xr.DataArray, frac: float = TAIL_FRAC) -> np.ndarray:
    """Smaller ESS of the ``frac/2`` and ``1 - frac/2`` quantiles (arviz_stats, per row).

    Parameters
    ----------
    draws : xarray.DataArray of dims (chain, draw, row)

    Returns
    -------
    ndarray of shape (n_rows,)

    References
    ----------
    .. [1] Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner,
       P.-C. (2021). Rank-normalization, folding, and localization: an
       improved R-hat for assessing convergence of MCMC. *Bayesian
       Analysis* 16(2), 667-718 (ESS of quantiles, section 4.3).
    """
    import arviz_stats as azs

    return np.minimum(azs.ess(draws, method="quantile", prob=frac / 2).values,
                      azs.ess(draws, method="quantile", prob=1 - frac / 2).values)


def tail_diagnostics(post: xr.Dataset, K: int, d) -> xr.Dataset:
    """Per parameter row: how much of the sd the extreme draws carry and how well they mixed.

    Parameters
    ----------
    post : xarray.Dataset
        Relabelled draws with ``weights``, ``means``, ``sds`` (dims ``chain, draw,
        component[, feature]``).
    K : int
    d : int or None
        Features (None for 1-D data).

    Returns
    -------
    xarray.Dataset
        A row table (:func:`tables.table`) with ``tail_share``
        (:func:`tail_share`), ``tail_excursions`` (:func:`excursions`),
        ``ess_tail_quantile`` (:func:`quantile_ess`), ``tail_sensitive``
        (share above :data:`TAIL_SHARE_MAX`) and ``tail_unreliable``
        (tail-sensitive with an extreme-quantile ESS below
        :data:`TAIL_ESS_MIN`); attributes hold the thresholds.

    Notes
    -----
    A posterior sd whose square is mostly made of a few per cent of draws
    is as uncertain as the number of independent visits to those draws. The
    MCSE of the sd (from the ESS of the squared deviations) assumes those
    visits are well sampled; when the extreme quantiles have an ESS below
    400 (the threshold of Vehtari et al. 2021 for any reported summary) the
    sd, the HDI and the MCSE itself are not to be trusted, however good the
    bulk diagnostics.
    """
    rows = posterior_rows(post)
    values = rows.values
    flat = values.reshape(-1, values.shape[-1])
    share = tail_share(flat)
    ess_q = quantile_ess(rows)
    sensitive = share > TAIL_SHARE_MAX
    return table(K, d, {
        "tail_share": share,
        "tail_excursions": excursions(values),
        "ess_tail_quantile": ess_q,
        "tail_sensitive": sensitive,
        "tail_unreliable": sensitive & (ess_q < TAIL_ESS_MIN),
    }, {"tail_frac": TAIL_FRAC, "tail_share_max": TAIL_SHARE_MAX,
        "normal_tail_share": NORMAL_TAIL_SHARE, "tail_ess_min": TAIL_ESS_MIN})
