"""Rank statistics of simulation-based calibration and their uniformity tests.

Ranks take the values ``0..L``; under calibration they are uniform. Two tests
per parameter: a chi-square test of the ranks binned into equal bins, and the
ECDF of the ranks inside its simultaneous band (Säilynoja, Bürkner & Vehtari
2022), whose pointwise level is calibrated by simulating uniform ranks.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["ecdf_band", "ecdf_counts", "rank_figure", "uniformity"]


def ecdf_counts(ranks: np.ndarray, n_ranks: int) -> np.ndarray:
    """Count the ranks ``<= r`` for ``r = 0..L-1`` in each row of ``ranks`` (rows: samples)."""
    c = np.stack([np.bincount(row, minlength=n_ranks + 1) for row in ranks])
    return np.cumsum(c, axis=1)[:, :-1]


def ecdf_band(n_sims: int, n_ranks: int, alpha: float, *, n_rep: int = 2000,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous ``1 - alpha`` band for the ECDF counts of ``n_sims`` uniform ranks.

    Returns ``(lower, upper)`` bounds on ``#{rank <= r}`` for ``r = 0..L-1``
    (Säilynoja et al. 2022: the pointwise level is lowered until ``1 - alpha``
    of simulated uniform rank samples stay inside at every ``r``).
    """
    L1 = n_ranks + 1
    z = np.arange(1, L1) / L1
    rng = np.random.default_rng(seed)
    sims = rng.integers(0, L1, size=(n_rep, n_sims))
    counts = ecdf_counts(sims, n_ranks)
    cdf = stats.binom.cdf(counts, n_sims, z)
    sf = stats.binom.sf(counts - 1, n_sims, z)
    gamma = float(np.quantile(np.minimum(1.0, 2 * np.minimum(cdf, sf)).min(axis=1), alpha))
    return stats.binom.ppf(gamma / 2, n_sims, z), stats.binom.ppf(1 - gamma / 2, n_sims, z)


def uniformity(ranks: np.ndarray, n_ranks: int, bins: int, alpha: float) -> dict:
    """Chi-square and ECDF-band tests of each column of ``ranks``.

    Each test of each column is at level ``alpha / (2 P)`` (Bonferroni over the
    ``P`` columns and the two tests), so the family-wise level is ``alpha``.
    """
    N, P = ranks.shape
    level = alpha / (2 * P)
    counts = np.stack([np.bincount(ranks[:, j] * bins // (n_ranks + 1), minlength=bins)
                       for j in range(P)])
    expected = N / bins
    chi2 = ((counts - expected) ** 2 / expected).sum(axis=1)
    p = stats.chi2.sf(chi2, bins - 1)
    lo, hi = ecdf_band(N, n_ranks, level)
    ecdf = ecdf_counts(ranks.T, n_ranks)
    inside = np.all((ecdf >= lo) & (ecdf <= hi), axis=1)
    return {"counts": counts, "chi2": chi2, "pvalues": p, "ecdf": ecdf, "band": (lo, hi),
            "ecdf_inside": inside, "flagged": (p < level) | ~inside}


def rank_figure(ranks: np.ndarray, parameters, *, cfg, title: str = ""):
    """Rank histograms (top) and ECDF differences with the simultaneous band (bottom).

    Parameters
    ----------
    ranks : ndarray of int, shape (N, P)
    parameters : sequence of str
    cfg : object with ``n_ranks``, ``bins`` and ``alpha`` (e.g. an ``SBCConfig``)
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Flagged parameters are drawn in orange.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    u = uniformity(ranks, cfg.n_ranks, cfg.bins, cfg.alpha)
    P, N = len(parameters), ranks.shape[0]
    fig = Figure(figsize=(3.2 * P, 5.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, P, squeeze=False)
    level = cfg.alpha / (2 * P)
    e_lo, e_hi = stats.binom.ppf([level / 2, 1 - level / 2], N, 1 / cfg.bins)
    z = np.arange(1, cfg.n_ranks + 1) / (cfg.n_ranks + 1)
    lo, hi = u["band"]
    for j, name in enumerate(parameters):
        ax = axes[0, j]
        ax.bar(np.arange(cfg.bins), u["counts"][j], color="C1" if u["flagged"][j] else "C0")
        ax.axhspan(e_lo, e_hi, color="0.85", zorder=0)
        ax.axhline(N / cfg.bins, color="0.3", lw=1)
        ax.set_title(f"{name}: p = {u['pvalues'][j]:.2g}", fontsize=9)
        ax.set_xlabel("rank bin")
        ax = axes[1, j]
        ax.fill_between(z, lo / N - z, hi / N - z, color="0.85", step="mid")
        ax.step(z, u["ecdf"][j] / N - z, where="mid", color="C1" if u["flagged"][j] else "C0")
        ax.axhline(0, color="0.3", lw=1)
        ax.set_xlabel("fractional rank")
    axes[0, 0].set_ylabel("count")
    axes[1, 0].set_ylabel("ECDF − uniform")
    if title:
        fig.suptitle(title)
    return fig
