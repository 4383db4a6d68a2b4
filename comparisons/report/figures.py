"""Figures of one comparison, drawn from the precomputed ``DataTree`` only.

Every ``fig_*`` function takes the ``tree`` of a
:class:`~mixcompare.comparisons.pipeline.ComparisonResult` and returns a
:class:`matplotlib.figure.Figure`, or ``None`` when the groups it draws are
absent (NUTS not run, multivariate data for a density, ...). Nothing is fitted
or estimated here: the harness computed every number, the figures only reshape
and draw them. Figures are plain ``Figure`` objects on their own Agg canvas, so
no pyplot state, backend, warning filter or rcParams is touched.
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from mixcompare.comparisons.io import save_figure_atomic
from mixcompare.comparisons.pipeline.metrics import AGREE_Z
from mixcompare.comparisons.report import figures_mv
from mixcompare.comparisons.report import modes as report_modes
from scipy.stats import norm

from . import _figbase
from ._figbase import DPI, group_or_none
from .about import axis_labels

_new, _color = _figbase.new_figure, _figbase.color
_CHAIN, _COMP, _OPT = _figbase.CHAIN, _figbase.COMP, _figbase.OPT
_EM, _POST, _BOOT, _HIGHLIGHT = _figbase.EM, _figbase.POST, _figbase.BOOT, _figbase.HIGHLIGHT
_id = report_modes.atlas_id  # every optimum is named by its atlas identifier (E0, M0...)

__all__ = ["CAPTIONS", "DPI", "FIGURES", "MULTIVARIATE", "fig_data_density", "fig_em_traces",
           "fig_intervals", "fig_membership", "fig_modes", "fig_pair_means", "fig_trace_raw",
           "fig_trace_relabeled", "group_or_none", "save_all"]


def _first_feature(da: xr.DataArray) -> np.ndarray:
    """Means as ``(..., component)``: the first feature of multivariate means."""
    dims = [d for d in ("chain", "draw", "optimum") if d in da.dims] + ["component"]
    v = da.transpose(*dims, ...).values
    return v[..., 0] if v.ndim > len(dims) else v


def _squeeze(x: np.ndarray) -> np.ndarray:
    return x[:, 0] if x.ndim == 2 and x.shape[1] == 1 else x  # one feature given as 2-D


def _mean_label(k: int, one_d: bool) -> str:
    return f"means[{k}]" if one_d else f"means[{k},0]"  # multivariate: first feature


def fig_data_density(tree: xr.DataTree) -> Figure | None:
    """Draw the data with EM's density and the posterior predictive density (1-D).

    For multivariate data, draw the first two features coloured by EM's hard
    label with EM's means marked.
    """
    data = group_or_none(tree, "data")
    if data is None:
        return None
    x = _squeeze(data["x"].values)
    em = group_or_none(tree, "em")
    if x.ndim == 1:
        fig, ax = _new(size=(7, 4))
        ax.hist(x, bins="auto", density=True, color="0.82", edgecolor="white",
                label=f"data (n = {x.size})")
        dens = group_or_none(tree, "comparison/density")
        if dens is not None:
            g, prob = dens["x"].values, float(dens.attrs.get("prob", 0.94))
            ax.fill_between(g, dens["lower"].values, dens["upper"].values, color=_POST,
                            alpha=0.25, lw=0, label=f"posterior predictive {prob:.0%} band")
            ax.plot(g, dens["mean"].values, color=_POST, lw=1.8,
                    label="posterior predictive mean")
            ax.plot(g, dens["em"].values, color=_EM, lw=1.5, ls="--",
                    label="EM plug-in density")
        elif em is not None:
            for m in np.ravel(em["means"].values):
                ax.axvline(m, color=_EM, ls="--", lw=1)
        ax.set(xlabel=axis_labels(tree)[0], ylabel="density")
        ax.legend(frameon=False, fontsize="small")
        return fig
    fig, ax = _new(size=(6.5, 5))
    memb = group_or_none(tree, "comparison/membership")
    if memb is not None:
        lab = memb["em"].values.argmax(axis=1)
        for k in np.unique(lab):
            ax.scatter(x[lab == k, 0], x[lab == k, 1], s=14, alpha=0.7, color=_color(_COMP, k),
                       label=f"EM label {k}")
    else:
        ax.scatter(x[:, 0], x[:, 1], s=14, alpha=0.7, color="0.5", label="data")
    if em is not None:
        for k, m in enumerate(em["means"].values):
            ax.scatter(m[0], m[1], marker="X", s=160, color=_color(_COMP, k),
                       edgecolor="black", linewidth=1.2, zorder=3)
        ax.scatter([], [], marker="X", s=100, color="white", edgecolor="black", label="EM means")
    ax.set(xlabel=axis_labels(tree)[0], ylabel=axis_labels(tree)[1])
    ax.legend(frameon=False, fontsize="small")
    return fig


def _fig_trace(tree: xr.DataTree, group: str, title: str) -> Figure | None:
    post = group_or_none(tree, group)
    if post is None or "means" not in post:
        return None
    m = _first_feature(post["means"])
    C, D, K = m.shape
    one_d = post["means"].ndim == 3
    em = group_or_none(tree, "em")
    ref = None if em is None else _first_feature(em["means"])
    fig, axes = _new(K, 1, size=(8, 1.1 + 1.5 * K), sharex=True)
    axes = np.reshape(axes, (K, 1))  # also for K = 1
    for k, ax in enumerate(axes[:, 0]):
        for c in range(C):
            ax.plot(np.arange(D), m[c, :, k], color=_color(_CHAIN, c), lw=0.7, alpha=0.85,
                    label=f"chain {c}")
        if ref is not None:
            ax.axhline(ref[k], color=_EM, ls="--", lw=1.2, label="EM MLE")
        ax.set_ylabel(_mean_label(k, one_d))
    axes[-1, 0].set_xlabel("draw")
    h, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(h, lab, loc="outside lower center", ncols=min(len(h), 6), frameon=False,
               fontsize="small")
    fig.suptitle(title)
    return fig


def fig_trace_raw(tree: xr.DataTree) -> Figure | None:
    """Draw per-chain traces of the component means as sampled (raw labels)."""
    return _fig_trace(tree, "posterior", "Component means as sampled (raw labels)")


def fig_trace_relabeled(tree: xr.DataTree) -> Figure | None:
    """Draw per-chain traces of the component means after relabelling."""
    return _fig_trace(tree, "posterior_relabeled",
                      "Component means relabelled to the EM pivot's labelling")


def fig_pair_means(tree: xr.DataTree) -> Figure | None:
    """Draw raw draws of means[0] against means[1] with EM's optima in every labelling."""
    post = group_or_none(tree, "posterior")
    if post is None or post.sizes.get("component", 0) < 2:
        return None
    m = _first_feature(post["means"])
    one_d = post["means"].ndim == 3
    fig, ax = _new(size=(8.5, 5.5))
    for c in range(m.shape[0]):
        ax.scatter(m[c, :, 0], m[c, :, 1], s=6, alpha=0.35, color=_color(_CHAIN, c),
                   lw=0, label=f"chain {c} (raw draws)")
    opt = group_or_none(tree, "em/optima")
    if opt is not None:
        om = _first_feature(opt["means"])
        for j in range(om.shape[0]):
            pairs = np.array([(om[j, a], om[j, b])
                              for a, b in permutations(range(om.shape[1]), 2)])
            ll = float(opt["log_likelihood"].values[j])
            ax.scatter(pairs[:, 0], pairs[:, 1], marker="x", s=110, linewidths=2.4,
                       color=_color(_OPT, j), zorder=3, label=f"{_id(tree, 'em', j)} "
                       f"(EM, log-lik {ll:.2f}), all labellings")
    map_em = group_or_none(tree, "map_em")
    if map_em is not None:
        p = _first_feature(map_em["means"])
        ax.scatter(p[0], p[1], marker="*", s=260, facecolor="none", edgecolor="black",
                   lw=1.3, zorder=4, label=f"MAP-EM ({_id(tree, 'map_em', 0)})")
    lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
    hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], color="0.6", lw=0.8, ls=":", label="equal means (label swap)")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=_mean_label(0, one_d),
           ylabel=_mean_label(1, one_d))
    leg = fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper",
                     frameon=False, fontsize="small")
    for h in leg.legend_handles[: m.shape[0]]:  # the chains' dots, readable in the legend
        h.set_sizes([30])
        h.set_alpha(1)
    return fig


def fig_em_traces(tree: xr.DataTree) -> Figure | None:
    """Draw the EM objective of every restart, coloured by the optimum it reached."""
    tr = group_or_none(tree, "em/traces")
    if tr is None:
        return None
    obj, reached = tr["objective"].values, tr["optimum"].values.astype(int)
    opt = group_or_none(tree, "em/optima")
    it = np.arange(obj.shape[1])
    gap = np.nanmax(obj) - obj
    floor = max(1e-10, 1e-12 * abs(np.nanmax(obj)))
    fig, axes = _new(1, 2, size=(10, 4))
    a, b = axes[0]
    for r in range(obj.shape[0]):
        col = _color(_OPT, reached[r])
        a.plot(it, obj[r], color=col, lw=1, alpha=0.8)
        b.plot(it, np.maximum(gap[r], floor), color=col, lw=1, alpha=0.8)
    b.set_yscale("log")
    a.set(xlabel="iteration", ylabel="objective (log-likelihood)", title="Every restart")
    b.set(xlabel="iteration", ylabel="highest objective − objective",
          title="Distance below the best optimum (log scale)")
    handles = []
    for j in np.unique(reached):
        n = int((reached == j).sum())
        ll = "" if opt is None else f", log-lik {float(opt['log_likelihood'].values[j]):.2f}"
        handles.append(b.plot([], [], color=_color(_OPT, j),
                              label=f"{_id(tree, 'em', j)} ({n} restart{'s' * (n != 1)}{ll})")[0])
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3),
               frameon=False, fontsize="small")
    return fig


def fig_intervals(tree: xr.DataTree) -> Figure | None:
    """Draw every parameter's intervals on a common standardised scale, one row each.

    Each row is centred on the posterior mean and scaled by the posterior sd
    (EM's estimate and Louis SE without a posterior), so ``|z| <= 2`` reads
    directly off the x axis.
    """
    agr = group_or_none(tree, "comparison/agreement")
    if agr is None or "em" not in agr:
        return None
    se = group_or_none(tree, "em/se")
    se = xr.Dataset() if se is None else se
    has_post = "post_mean" in agr
    if not has_post and "se_louis" not in se:
        return None
    center, scale = ((agr["post_mean"].values, agr["post_sd"].values) if has_post
                     else (agr["em"].values, se["se_louis"].values))
    scale = np.where(scale > 0, scale, np.nan)

    def std(v):
        return (np.asarray(v, float) - center) / scale

    names = agr["name"].values
    n = names.size
    y = np.arange(n)[::-1].astype(float)
    fig, ax = _new(size=(8, 1.6 + 0.3 * n))
    z, level = AGREE_Z, float(tree.attrs.get("level", agr.attrs.get("hdi_prob", 0.94)))
    ax.axvspan(-z, z, color="0.93", lw=0, label=f"|z| ≤ {z:g}" + " (agreement)" * has_post)
    ax.axvline(0, color="0.5", lw=0.8)
    bars = []
    if has_post:
        bars.append((agr["hdi_low"], agr["hdi_high"], _POST, 0.22,
                     f"posterior {float(agr.attrs.get('hdi_prob', 0.94)):.0%} HDI"))
    if "se_louis" in se:
        e, s, q = agr["em"].values, se["se_louis"].values, norm.ppf(0.5 + level / 2)
        bars.append((e - q * s, e + q * s, _EM, 0.0, f"EM {level:.0%} Wald: ± {q:.2f} Louis SE"))
    if "boot_low" in se:
        failed, n_boot = se.attrs.get("n_failed"), se.attrs.get("n_boot")
        bars.append((se["boot_low"], se["boot_high"], _BOOT, -0.22,
                     f"EM bootstrap {float(se.attrs.get('level', level)):.0%} percentile"
                     + (f" ({int(failed)} of {int(n_boot)} refits failed)" if n_boot
                        and failed is not None else "")))
    for lo, hi, col, dy, lab in bars:
        ax.hlines(y + dy, std(lo), std(hi), color=col, lw=2.6, label=lab)
    ax.scatter(std(agr["em"].values), y, color=_EM, s=22, zorder=3, label="EM MLE")
    if "map_em" in agr:
        ax.scatter(std(agr["map_em"].values), y, marker="D", s=22, facecolor="none",
                   edgecolor=_HIGHLIGHT, zorder=3, label="MAP-EM")
    kinds = agr["parameter"].values
    for i in np.flatnonzero(kinds[1:] != kinds[:-1]):  # separate weights, means, sds
        ax.axhline(y[i] - 0.5, color="0.75", lw=0.6)
    ax.set_yticks(y, names, fontsize="small")
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("(value − posterior mean) / posterior sd" if has_post
                  else "(value − EM MLE) / Louis SE")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=3,
               frameon=False, fontsize="small")
    return fig


def fig_membership(tree: xr.DataTree) -> Figure | None:
    """Draw each observation's membership uncertainty, EM's against the posterior's.

    For 1-D data the x axis is the data value; otherwise it is EM's
    uncertainty, so points above the diagonal are more uncertain than EM says.
    """
    memb, data = group_or_none(tree, "comparison/membership"), group_or_none(tree, "data")
    if memb is None or data is None:
        return None
    x = _squeeze(data["x"].values)
    u_post = memb["uncertainty"].values
    u_em = 1 - memb["em"].values.max(axis=1)
    changed = memb["changed"].values.astype(bool)
    thr = float(memb.attrs.get("uncertainty_threshold", 0.2))
    fig, ax = _new(size=(7.5, 4.2))
    if x.ndim == 1:
        ax.scatter(x, u_em, s=22, facecolor="none", edgecolor=_EM, lw=0.8,
                   label="EM: 1 − max responsibility")
        ax.scatter(x, u_post, s=10, color=_POST, alpha=0.8,
                   label="posterior: 1 − max membership")
        hx, hy = x[changed], u_post[changed]
        ax.set_xlabel(axis_labels(tree)[0])
    else:
        lim = max(float(np.max(u_em)), float(np.max(u_post)), thr) * 1.05
        ax.plot([0, lim], [0, lim], color="0.6", ls=":", lw=0.8, label="equal uncertainty")
        ax.axvline(thr, color="0.4", ls="--", lw=0.8)
        ax.scatter(u_em, u_post, s=12, color=_POST, alpha=0.7, label="observation")
        hx, hy = u_em[changed], u_post[changed]
        ax.set_xlabel("EM: 1 − max responsibility")
    ax.axhline(thr, color="0.4", ls="--", lw=0.8, label=f"threshold {thr:g}")
    ax.scatter(hx, hy, s=70, facecolor="none", edgecolor=_HIGHLIGHT, lw=1.5, zorder=3,
               label=f"hard label changes ({int(changed.sum())})")
    ax.set_ylabel("membership uncertainty" if x.ndim == 1 else "posterior: 1 − max membership")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=3,
               frameon=False, fontsize="small")
    return fig


def fig_modes(tree: xr.DataTree) -> Figure | None:
    """Draw, per chain, the share of posterior draws nearest each EM optimum."""
    modes = group_or_none(tree, "comparison/modes")
    if modes is None:
        return None
    per = modes["share_per_chain"].transpose("chain", "optimum").values
    rows = np.vstack([per, modes["share"].values[None, :]]) if "share" in modes else per
    labels = [f"chain {c}" for c in range(per.shape[0])] + (["all"] if rows is not per else [])
    ll = modes["log_likelihood"].values
    fig, ax = _new(size=(1.8 + 0.9 * len(labels), 4))
    bottom = np.zeros(len(labels))
    for j in range(rows.shape[1]):
        ax.bar(labels, rows[:, j], bottom=bottom, color=_color(_OPT, j), width=0.7,
               label=f"{_id(tree, 'em', j)} (log-lik {float(ll[j]):.2f})")
        bottom += rows[:, j]
    ax.set(ylim=(0, 1.02), ylabel="share of draws nearest the optimum")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False,
               fontsize="small")
    return fig


FIGURES = {
    "data_density": fig_data_density,
    "trace_raw": fig_trace_raw,
    "trace_relabeled": fig_trace_relabeled,
    "pair_means": fig_pair_means,
    "em_traces": fig_em_traces,
    "intervals": fig_intervals,
    "membership": fig_membership,
    "modes": fig_modes,
    "census": report_modes.fig_census,
    **figures_mv.FIGURES,
}

#: figures drawn for multivariate data only (``mv_pairs`` for d > 2 only)
MULTIVARIATE = frozenset(figures_mv.FIGURES)

CAPTIONS = {
    "census": report_modes.CAPTION,
    "data_density": "The data with EM's plug-in density and the posterior predictive mean "
                    "density with its pointwise band (1-D), or the first two features coloured "
                    "by EM's hard label with EM's means marked.",
    "trace_raw": "Per-chain traces of each component mean as sampled, against EM's estimate "
                 "(dashed): jumps between levels are label switches.",
    "trace_relabeled": "The same traces after relabelling every draw to the EM pivot's "
                       "labelling, which is what the posterior summaries use.",
    "pair_means": "Raw posterior draws of the first two component means by chain, with every "
                  "optimum of EM's atlas (E0, E1...) in all its labellings (crosses) and the "
                  "MAP-EM point (star).",
    "em_traces": "EM's objective for every restart, coloured by the optimum (E0, E1...) the "
                 "restart reached, with the distance below the best optimum on a log scale.",
    "intervals": "Each parameter on its own standardised scale: the posterior HDI, EM's Wald "
                 "interval (± z Louis SE) and the bootstrap percentile interval, all at the "
                 "report's one level (stated in the legend), with EM's and MAP-EM's estimates.",
    "membership": "Membership uncertainty (1 − largest membership probability) per "
                  "observation by EM and by the posterior, with the threshold and the "
                  "observations whose hard label changes ringed.",
    "modes": "Share of each chain's posterior draws nearest each optimum of EM's atlas "
             "(E0, E1...; up to relabelling), and over all chains.",
    **figures_mv.CAPTIONS,
}


def save_all(tree: xr.DataTree, outdir) -> dict[str, Path]:
    """Write every figure the tree has data for as a PNG (atomically).

    Parameters
    ----------
    tree : xarray.DataTree
        The tree of a :class:`~mixcompare.comparisons.pipeline.ComparisonResult`.
    outdir : str or Path
        Folder for ``<name>.png``; created if needed.

    Returns
    -------
    dict of str to Path
        Figure name to file, for the figures that were drawn.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, func in FIGURES.items():
        fig = func(tree)
        if fig is None:
            continue
        out[name] = save_figure_atomic(fig, outdir / f"{name}.png", dpi=DPI)
    return out
