"""Posterior summaries stratified by region: each region's draws weighted by its estimated mass.

A run of NUTS spends in each region of the posterior a share of its draws
that, for a rarely entered region, depends on a handful of visits: on
galaxies K = 3 (ordered), the region where the small component leaves its
cluster holds 0.71 % of the mass (exact Gibbs sampler), and runs of 4 x 1000
draws spent from 0.08 % to over 1 % of their draws there. The posterior sd
of that component's parameters follows the share. Stratifying replaces the
share by the region's mass, estimated from the density (:mod:`.mass`), and
takes each region's moments from draws inside it (the chains' draws, or
chains confined to it, :mod:`.confined`)::

    mean = Σ_j m_j μ_j,    var = Σ_j m_j (σ_j² + (μ_j − mean)²)

with ``m_j`` the region's mass and ``μ_j``, ``σ_j²`` the mean and variance
of a parameter's draws in region ``j`` (the law of total variance).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior.bridge import integrated_time, masses_from_log_evidence

__all__ = ["POOLED_DRAWS", "UNCOVERED_MAX", "VISIT_RATIO", "mass_weighted_rows", "region_moments",
           "resample_by_mass", "visits"]

#: a region's draw share off its estimated mass by more than this factor is misvisited
VISIT_RATIO = 3.0
#: regions holding less than this of the mass and of the draws are not judged
VISIT_MIN = 2e-3
#: largest share of draws in regions without a mass estimate that stratifying leaves out
UNCOVERED_MAX = 0.01
#: draws the regions are resampled to: enough that a region of 0.5 % of the mass keeps
#: hundreds of its draws (each region's draws are otherwise used in full)
POOLED_DRAWS = 100_000
#: replicates of the parametric bootstrap behind the stratified MCSE
N_REPLICATES = 400


def region_moments(rows: np.ndarray, chain: np.ndarray) -> dict:
    """Mean and variance of each row over one region's draws, with Monte Carlo errors.

    Parameters
    ----------
    rows : ndarray of shape (S, n_rows)
        Draws in the region (natural parameters in row order), in chain order.
    chain : ndarray of shape (S,)

    Returns
    -------
    dict of ndarray of shape (n_rows,)
        ``mean``, ``var``, ``mean_mcse`` and ``var_mcse``: the MCSE is
        ``sqrt(τ Var(f) / S)`` with ``f`` the draw (for the mean) or its squared
        deviation (for the variance) and ``τ`` its integrated autocorrelation
        time by batch means (:func:`.bridge.integrated_time`).
    """
    rows = np.asarray(rows, float)
    S = rows.shape[0]
    mean, var = rows.mean(axis=0), rows.var(axis=0)
    dev2 = (rows - mean) ** 2
    tau_m = np.array([integrated_time(rows[:, r], chain) for r in range(rows.shape[1])])
    tau_v = np.array([integrated_time(dev2[:, r], chain) for r in range(rows.shape[1])])
    return {"mean": mean, "var": var,
            "mean_mcse": np.sqrt(tau_m * var / S),
            "var_mcse": np.sqrt(tau_v * dev2.var(axis=0) / S)}


def _combine(mass: np.ndarray, mean: np.ndarray, var: np.ndarray):
    """Mass-weighted mean and sd over regions (axis -2) of per-region moments."""
    m = mass[..., :, None]
    total = np.sum(m * mean, axis=-2)
    v = np.sum(m * (var + (mean - total[..., None, :]) ** 2), axis=-2)
    return total, np.sqrt(np.maximum(v, 0.0))


def _strata(masses: xr.Dataset) -> np.ndarray | None:
    """Regions to stratify over (finite integral and moments), or None when the rest matter.

    The other regions (no estimate, or a Laplace estimate without draws) may
    hold at most :data:`UNCOVERED_MAX` of the chains' draws and of the
    estimated mass; they are left out.
    """
    if "row_mean" not in masses:
        return None
    log_z = masses["log_evidence"].values
    has = np.isfinite(log_z) & np.all(np.isfinite(masses["row_mean"].values), axis=1)
    n = masses["n_draws"].values
    if not has.any() or n[~has].sum() > UNCOVERED_MAX * n.sum():
        return None
    mass = masses_from_log_evidence(log_z, masses["log_evidence_sd"].values)[0]
    if np.nansum(mass[~has]) > UNCOVERED_MAX:
        return None
    return has


def mass_weighted_rows(masses: xr.Dataset, rng) -> dict | None:
    """Posterior mean and sd of each row with every region weighted by its estimated mass.

    Parameters
    ----------
    masses : xarray.Dataset
        :func:`.mass.mode_masses` with the per-region moments
        (``row_mean``, ``row_var`` and their MCSEs over ``(region, row)``).
    rng : int, numpy.random.Generator or None
        For the parametric bootstrap of the MCSE.

    Returns
    -------
    dict of ndarray of shape (n_rows,) or None
        ``mean_by_mass``, ``mean_by_mass_mcse``, ``sd_by_mass`` and
        ``sd_by_mass_mcse``; None when
        the moments are missing, or when regions without an estimate and
        draws (centres that are no posterior mode, or Laplace estimates)
        hold more than :data:`UNCOVERED_MAX` of the chains' draws or of the
        mass: the strata would not cover the posterior. Below that they are
        left out.

    Notes
    -----
    The MCSE is the sd over :data:`N_REPLICATES` replicates in which every
    region's log integral, row means and row variances are redrawn from
    Normals with their estimated standard errors (independent errors: the
    regions' draws and integrals come from separate samples).
    """
    used = _strata(masses)
    if used is None:
        return None
    lz = masses["log_evidence"].values[used]
    lz_sd = np.nan_to_num(masses["log_evidence_sd"].values[used])
    mu, v = masses["row_mean"].values[used], masses["row_var"].values[used]
    mu_sd = masses["row_mean_mcse"].values[used]
    v_sd = masses["row_var_mcse"].values[used]
    m = np.exp(lz - lz.max())
    total, sd = _combine(m / m.sum(), mu, v)
    g = em.check_rng(rng)
    R = N_REPLICATES
    lzr = lz + lz_sd * g.standard_normal((R, lz.size))
    mr = np.exp(lzr - lzr.max(axis=1, keepdims=True))
    mr /= mr.sum(axis=1, keepdims=True)
    mur = mu + mu_sd * g.standard_normal((R,) + mu.shape)
    vr = np.maximum(v + v_sd * g.standard_normal((R,) + v.shape), 0.0)
    totr, sdr = _combine(mr, mur, vr)
    return {"mean_by_mass": total, "mean_by_mass_mcse": totr.std(axis=0), "sd_by_mass": sd,
            "sd_by_mass_mcse": sdr.std(axis=0)}


def resample_by_mass(masses: xr.Dataset, rows: list, n: int) -> np.ndarray | None:
    """``n`` draws in which each region carries its estimated mass (systematic resampling).

    Parameters
    ----------
    masses : xarray.Dataset
        As :func:`mass_weighted_rows`.
    rows : list of (ndarray of shape (S_j, n_rows) or None)
        Each region's draws (natural parameters in row order), as used for
        its moments.
    n : int

    Returns
    -------
    ndarray of shape (n, n_rows) or None
        None under the conditions of :func:`mass_weighted_rows`, or with
        fewer than two regions. A draw of region ``j`` weighs ``m_j / S_j``;
        draw ``i`` of the result is the one whose cumulative weight first
        exceeds ``(i + 1/2) / n`` (no randomness).
    """
    used = _strata(masses)
    if used is None or used.sum() < 2:
        return None
    lz = masses["log_evidence"].values
    m = np.where(used, np.exp(lz - np.nanmax(np.where(used, lz, -np.inf))), 0.0)
    m /= m.sum()
    pool = np.concatenate([rows[j] for j in np.flatnonzero(used)])
    w = np.concatenate([np.full(len(rows[j]), m[j] / len(rows[j]))
                        for j in np.flatnonzero(used)])
    idx = np.searchsorted(np.cumsum(w), (np.arange(n) + 0.5) / n)
    return pool[np.minimum(idx, len(pool) - 1)]


def visits(mass: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Whether the chains visited each region as often as its mass says.

    Parameters
    ----------
    mass, share : ndarray of shape (n_regions,)
        Estimated posterior mass and share of the chains' draws.

    Returns
    -------
    ndarray of str, shape (n_regions,)
        ``"under"`` (draw share below the mass by more than :data:`VISIT_RATIO`),
        ``"over"`` (above it by more), ``"as its mass"``, or ``"not judged"``
        (no mass estimate, or mass and share both below :data:`VISIT_MIN`).
    """
    mass, share = np.asarray(mass, float), np.asarray(share, float)
    out = np.full(mass.shape, "as its mass", dtype=object)
    out[share * VISIT_RATIO < mass] = "under"
    out[share > VISIT_RATIO * mass] = "over"
    out[~np.isfinite(mass) | (np.maximum(mass, share) < VISIT_MIN)] = "not judged"
    return out.astype(str)
