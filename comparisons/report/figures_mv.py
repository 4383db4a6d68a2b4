"""Multivariate figures of one comparison (d > 1), the ones a user of mclust expects.

- :func:`fig_ellipses`: the data coloured by EM's classification with each
  component's mean and probability contours (mclust's classification plot),
  next to the same contours of a thin sample of relabelled posterior draws;
- :func:`fig_uncertainty`: every observation sized and coloured by its
  membership uncertainty, 1 − max membership probability, by EM and by the
  posterior (mclust's uncertainty plot);
- :func:`fig_pairs` (d > 2): a pair grid of the first few features with the
  contours of the marginal covariance blocks, EM below the diagonal and the
  posterior draws above it (mclust's ``clPairs`` with ellipses).

Everything drawn was computed by the pipeline: the contours' centres, axes and
angles and the axis limits in ``comparison/ellipses``
(:func:`mixcompare.comparisons.pipeline.ellipses.ellipses_dataset`), EM's
labels and uncertainty in ``em/classification``, the posterior's in
``comparison/membership``. Axes are labelled with the data's column names.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse

from ._figbase import COMP, EM, HIGHLIGHT, color, group_or_none, new_figure
from .about import axis_labels

__all__ = ["CAPTIONS", "FIGURES", "TITLES", "fig_ellipses", "fig_pairs", "fig_uncertainty"]

_LS = ("-", "--", ":")  # one line style per contour probability
_CMAP = "magma_r"  # certain: pale, uncertain: dark (and large), as in mclust


def _pair(ell: xr.Dataset, x: int, y: int) -> int:
    """Index of the ordered pair (x feature, y feature) in ``ell``."""
    hit = np.flatnonzero((ell["x_feature"].values == x) & (ell["y_feature"].values == y))
    return int(hit[0])


def _limits(ax, ell: xr.Dataset, x: int, y: int) -> None:
    lim = ell["limits"].values
    ax.set_xlim(*lim[x])
    ax.set_ylim(*lim[y])


def _classes(ax, X: np.ndarray, labels: np.ndarray, x: int, y: int, K: int, **kw) -> None:
    for k in range(K):
        sel = labels == k
        ax.scatter(X[sel, x], X[sel, y], s=kw.get("s", 12), alpha=0.6, lw=0,
                   color=color(COMP, k), label=f"EM class {k}")


def _contours(ax, ell: xr.Dataset, p: int, who: str, **style) -> None:
    """Draw the contours of ``who`` on pair ``p``.

    ``who="em"``: one patch per component and probability, with gid
    ``em:<component>:<probability>``; ``who="post"``: every sampled draw's, as
    one collection (hundreds of thin ellipses).
    """
    c = ell[f"{who}_center"].isel(pair=p).values  # (K, 2) or (S, K, 2)
    w, h, a = (ell[f"{who}_{v}"].isel(pair=p).values for v in ("width", "height", "angle"))
    probs = ell["prob"].values
    patches, colors, styles = [], [], []
    for idx in np.ndindex(c.shape[:-1]):  # (k,) or (sample, k)
        for j, prob in enumerate(probs):
            patches.append(Ellipse(tuple(c[idx]), w[idx + (j,)], h[idx + (j,)],
                                   angle=a[idx + (j,)], gid=f"{who}:{idx[-1]}:{prob:g}"))
            colors.append(color(COMP, idx[-1]))
            styles.append(_LS[j % len(_LS)])
    if who == "em":
        for e, col, ls in zip(patches, colors, styles, strict=True):
            e.set(fill=False, edgecolor=col, linestyle=ls, **style)
            ax.add_patch(e)
    else:
        ax.add_collection(PatchCollection(patches, facecolors="none", edgecolors=colors,
                                          linestyles=styles, **style))


def _em_panel(ax, X, labels, ell, x, y, K) -> None:
    p = _pair(ell, x, y)
    _classes(ax, X, labels, x, y, K)
    _contours(ax, ell, p, "em", lw=1.6)
    for k, c in enumerate(ell["em_center"].isel(pair=p).values):
        ax.scatter(*c, marker="X", s=110, color=color(COMP, k), edgecolor=EM, lw=1.0, zorder=4)
    _limits(ax, ell, x, y)


def _post_panel(ax, X, ell, x, y) -> None:
    p = _pair(ell, x, y)
    ax.scatter(X[:, x], X[:, y], s=8, color="0.75", lw=0, label="data")
    _contours(ax, ell, p, "post", linewidths=0.6, alpha=0.35)
    for k, c in enumerate(ell["post_mean_center"].isel(pair=p).values):
        ax.scatter(*c, marker="P", s=110, color=color(COMP, k), edgecolor=EM, lw=1.0, zorder=4)
    _limits(ax, ell, x, y)


def _legend_handles(ell: xr.Dataset, post: bool) -> list:
    out = [Line2D([], [], color="0.3", ls=_LS[j % len(_LS)], label=f"{p:.0%} contour")
           for j, p in enumerate(ell["prob"].values)]
    out.append(Line2D([], [], ls="", marker="X", ms=9, color="white", mec=EM,
                      label="EM mean"))
    if post:
        out.append(Line2D([], [], ls="", marker="P", ms=9, color="white", mec=EM,
                          label="posterior mean of the means"))
    return out


def _inputs(tree: xr.DataTree):
    """Return the data (n, d), EM's labels, the ellipses and column names; None unless d > 1."""
    data, cls = group_or_none(tree, "data"), group_or_none(tree, "em/classification")
    ell = group_or_none(tree, "comparison/ellipses")
    if data is None or cls is None or ell is None or data["x"].ndim != 2:
        return None
    return data["x"].values, cls, ell, axis_labels(tree)


def fig_ellipses(tree: xr.DataTree) -> Figure | None:
    """Draw EM's classification with its contours, beside posterior draws' contours.

    The first two features; two panels (EM, posterior) when NUTS ran, else EM's only.
    """
    got = _inputs(tree)
    if got is None:
        return None
    X, cls, ell, names = got
    K = cls.sizes["component"]
    post = "post_width" in ell
    fig, axes = new_figure(1, 1 + post, size=(5.2 * (1 + post) + 0.6, 5.0))
    axes = axes.ravel() if isinstance(axes, np.ndarray) else np.array([axes])
    _em_panel(axes[0], X, cls["label"].values, ell, 0, 1, K)
    axes[0].set_title("EM: classification, means and contours")
    if post:
        _post_panel(axes[1], X, ell, 0, 1)
        axes[1].set_title(f"Posterior: {ell.sizes['sample']} relabelled draws "
                          f"(of {int(ell.attrs.get('n_draws_total', 0))})")
    for ax in axes:
        ax.set(xlabel=names[0], ylabel=names[1])
    handles = axes[0].get_legend_handles_labels()[0] + _legend_handles(ell, post)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5),
               frameon=False, fontsize="small")
    return fig


def fig_uncertainty(tree: xr.DataTree) -> Figure | None:
    """Draw each observation sized and coloured by its membership uncertainty.

    EM's ``1 − max responsibility`` and, when NUTS ran, the posterior's
    ``1 − max membership probability`` (ringed: hard labels that change), on
    one colour scale from 0 to ``1 − 1/K``, the largest uncertainty possible.
    """
    got = _inputs(tree)
    if got is None:
        return None
    X, cls, ell, names = got
    memb = group_or_none(tree, "comparison/membership")
    panels = [("EM: 1 − max responsibility", cls["uncertainty"].values)]
    if memb is not None:
        panels.append(("posterior: 1 − max membership probability",
                       memb["uncertainty"].values))
    top = 1.0 - 1.0 / cls.sizes["component"]
    fig, axes = new_figure(1, len(panels), size=(5.0 * len(panels) + 1.2, 4.8))
    axes = axes.ravel() if isinstance(axes, np.ndarray) else np.array([axes])
    for ax, (title, u) in zip(axes, panels, strict=True):
        o = np.argsort(u, kind="stable")  # the most uncertain drawn last, on top
        sc = ax.scatter(X[o, 0], X[o, 1], c=u[o], s=6 + 120 * u[o] / top, cmap=_CMAP,
                        vmin=0.0, vmax=top, edgecolors="0.5", linewidths=0.3)
        ax.set(title=title, xlabel=names[0], ylabel=names[1])
        _limits(ax, ell, 0, 1)
    if memb is not None:
        ch = memb["changed"].values.astype(bool)
        axes[-1].scatter(X[ch, 0], X[ch, 1], s=80, facecolor="none", edgecolor=HIGHLIGHT,
                         lw=1.3, label=f"hard label changes ({int(ch.sum())})")
        axes[-1].legend(frameon=False, fontsize="small", loc="best")
    fig.colorbar(sc, ax=list(axes), label="membership uncertainty", shrink=0.9)
    return fig


def fig_pairs(tree: xr.DataTree) -> Figure | None:
    """Draw a pair grid of the first few features (d > 2) with projected contours.

    Below the diagonal: the data by EM's classification with EM's contours;
    above it: the posterior draws' contours (EM's again without NUTS); on the
    diagonal: each feature's histogram by EM's class. Row ``i`` has feature
    ``i`` on its y axis, column ``j`` feature ``j`` on its x axis.
    """
    got = _inputs(tree)
    if got is None or got[0].shape[1] < 3:
        return None
    X, cls, ell, names = got
    K, m, labels = cls.sizes["component"], ell.sizes["feature"], cls["label"].values
    post = "post_width" in ell
    fig, axes = new_figure(m, m, size=(2.5 * m + 0.8, 2.5 * m + 0.8))
    for i in range(m):
        for j in range(m):
            ax = axes[i, j]
            if i == j:
                ax.hist([X[labels == k, i] for k in range(K)], bins=20, stacked=True,
                        range=tuple(ell["limits"].values[i]),
                        color=[color(COMP, k) for k in range(K)])
                ax.set_xlim(*ell["limits"].values[i])
                ax.set_yticks([])
            elif i > j or not post:
                _em_panel(ax, X, labels, ell, j, i, K)
            else:
                _post_panel(ax, X, ell, j, i)
            ax.tick_params(labelsize="x-small")
        axes[m - 1, i].set_xlabel(names[i])
        axes[i, 0].set_ylabel(names[i])
    fig.suptitle(f"First {m} features: EM's contours below the diagonal, "
                 + (f"{ell.sizes['sample']} posterior draws' above" if post else "EM's above"))
    handles = axes[1, 0].get_legend_handles_labels()[0] + _legend_handles(ell, post)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
               frameon=False, fontsize="small")
    return fig


FIGURES = {"mv_ellipses": fig_ellipses, "mv_uncertainty": fig_uncertainty,
           "mv_pairs": fig_pairs}

TITLES = {"mv_ellipses": "Classification and covariance ellipses",
          "mv_uncertainty": "Classification uncertainty",
          "mv_pairs": "Pairs of features with ellipses"}

CAPTIONS = {
    "mv_ellipses": "Left: the first two features coloured by EM's classification (largest "
                   "responsibility), with each component's mean (cross) and its 50 % and 95 % "
                   "probability contours (the marginal covariance of the two features). Right: "
                   "the same contours for an evenly spaced sample of relabelled posterior "
                   "draws, and the posterior mean of each component's mean: their spread is "
                   "the uncertainty EM's single ellipse does not show.",
    "mv_uncertainty": "Each observation sized and coloured by its membership uncertainty "
                      "(1 − largest membership probability, from 0 to 1 − 1/K) by EM and by "
                      "the posterior; ringed: observations whose hard label changes.",
    "mv_pairs": "Pair grid of the first few features (at most four): below the diagonal the "
                "data by EM's class with EM's 50 % and 95 % contours projected on the pair "
                "(marginal covariance blocks); above it the contours of the sampled posterior "
                "draws; on the diagonal each feature's histogram by EM's class.",
}
