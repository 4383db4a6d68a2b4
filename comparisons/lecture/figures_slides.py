"""Figures of slides 28-29 (one Gaussian or two) and 32-34 (the four-bump surface).

Like :mod:`.figures`, these only draw what was computed elsewhere
(:mod:`.theory`, :mod:`.surface`). The surface is drawn twice: as a
*tempered likelihood* in 3-D, where the four bumps are visible as on the
slide, and as log-likelihood contours beside it (:func:`tempered`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .figures import _OPT, _contour, _mark_maxima, _new
from .theory import normal_pdf

__all__ = ["MINOR_HEIGHT", "fig_k_choice", "fig_surface", "tempered"]

#: height of the worse pair of bumps relative to the best pair in the tempered view
MINOR_HEIGHT = 0.25


def tempered(surf: xr.Dataset, minor_height: float = MINOR_HEIGHT) -> tuple[np.ndarray, float]:
    """Return ``(L / L_max) ** (1 / T)`` over the grid and the temperature ``T``.

    ``T`` is chosen so that the lowest local maximum is drawn at
    ``minor_height`` of the highest: ``T = gap / log(1 / minor_height)``,
    ``gap`` being their log-likelihood difference. A power of the likelihood
    is a monotone transform: the maxima, the basins and the contour lines
    are those of the likelihood; only the heights are rescaled. (The
    likelihood itself, ``T = 1``, shows bumps 33 nats lower at ``e^-33``,
    invisible; the log-likelihood shows them but its scale is dominated by
    valleys thousands of nats deep.)

    Parameters
    ----------
    surf : xarray.Dataset
        :func:`.surface.loglik_surface`.
    minor_height : float in (0, 1), default :data:`MINOR_HEIGHT`

    Returns
    -------
    values : ndarray of shape (n_grid, n_grid)
        In ``[0, 1]``, 1 at the best maximum.
    temperature : float
        1 when there is a single maximum.
    """
    ll = surf["loglik"].values
    best = float(surf["opt_loglik"].max())
    gap = best - float(surf["opt_loglik"].min())
    temp = gap / np.log(1.0 / minor_height) if gap > 0 else 1.0
    return np.exp((ll - best) / temp), float(temp)


def fig_surface(surf: xr.Dataset) -> Figure:
    """Draw the tempered likelihood in 3-D (left) and the log-likelihood contours (right)."""
    fig = Figure(figsize=(13.5, 6.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    z, temp = tempered(surf)
    g1, g2 = np.meshgrid(surf["mu1"].values, surf["mu2"].values, indexing="ij")
    ax3.plot_surface(g1, g2, z, cmap="viridis", vmin=0, vmax=1, linewidth=0,
                     antialiased=True, rcount=120, ccount=120)
    ll_best = float(surf["opt_loglik"].max())
    for j in range(surf.sizes["optimum"]):
        m1, m2 = float(surf["opt_mu1"][j]), float(surf["opt_mu2"][j])
        h = np.exp((float(surf["opt_loglik"][j]) - ll_best) / temp)
        ax3.plot([m1, m1], [m2, m2], [h, h + 0.3], color="black", lw=0.8, zorder=10)
        ax3.text(m1, m2, h + 0.32, f"({m1:.3g}, {m2:.3g})", fontsize=7.5, ha="center",
                 zorder=11, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.8,
                                  "lw": 0})
    # few ticks, pushed off the axes: the default ones overlap at this viewing angle
    for axis in (ax3.xaxis, ax3.yaxis):
        axis.set_major_locator(MaxNLocator(5))
    ax3.zaxis.set_major_locator(MaxNLocator(3))
    ax3.tick_params(axis="both", labelsize=8, pad=1)
    ax3.tick_params(axis="z", pad=4)
    ax3.set_xlabel("mu1", labelpad=4)
    ax3.set_ylabel("mu2", labelpad=4)
    ax3.set_zlim(0, 1.4)
    ax3.view_init(elev=42, azim=-120)
    ax3.set_title(f"Tempered likelihood (L / L_max)^(1/T), T = {temp:.1f}: a monotone transform "
                  f"that draws\nthe worse bumps at {MINOR_HEIGHT:g} of the best (the likelihood "
                  "itself has them at e^-33)", fontsize=9)
    ax = fig.add_subplot(1, 2, 2)
    cs = _contour(ax, surf)
    _mark_maxima(ax, surf)
    fig.colorbar(cs, ax=ax, shrink=0.8, label="log-likelihood")
    lo = float(surf["loglik"].min())
    ax.set_title(f"Log-likelihood ({surf.attrs['statement']});\nlevels down to 300 below the "
                 f"best, deeper floored (the corners reach {lo:.0f})", fontsize=9)
    return fig


def fig_k_choice(x, mle: dict, fits: dict, table) -> Figure:
    """Slides 28-29: the closed-form Gaussian ("this?") and the K = 2 fit ("or this?").

    Parameters
    ----------
    x : array_like of shape (n,)
    mle : dict
        :func:`.theory.gaussian_mle`.
    fits, table
        :func:`.theory.k_choice`.
    """
    x = np.asarray(x, float).ravel()
    fig, axes = _new(1, 2, size=(11.5, 4.2), sharey=True)
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    best = int(table.loc[table["bic_mclust"].idxmax(), "K"])
    for ax, k in zip(axes[0], (1, 2), strict=True):
        ax.hist(x, bins=40, density=True, color="0.85", edgecolor="white", label="data")
        res = fits[k]
        comps = np.asarray(res.weights)[:, None] * normal_pdf(
            grid[None, :], np.asarray(res.means)[:, None], np.asarray(res.variances)[:, None])
        ax.plot(grid, comps.sum(axis=0), color="black", lw=1.8, label="fitted density")
        if k == 1:
            ax.plot(grid, normal_pdf(grid, mle["mean"], mle["variance"]), color="tab:red",
                    ls="--", lw=1.2, label="closed form: mean, sum (x - mean)^2 / n")
        else:
            for j in range(2):
                ax.plot(grid, comps[j], color=_OPT[j], lw=1.0, ls=":", label=f"component {j}")
        row = table.loc[table["K"] == k].iloc[0]
        verdict = "  <- preferred" if k == best else ""
        ax.set_title(f"{'This? one Gaussian' if k == 1 else 'Or this? two Gaussians'}: "
                     f"log-lik {row['loglik']:.1f}, BIC {row['bic_mclust']:.1f}, "
                     f"ICL {row['icl_mclust']:.1f}{verdict}", fontsize=9)
        ax.set(xlabel="x", ylabel="density")
        ax.legend(frameon=False, fontsize=7)
    return fig
