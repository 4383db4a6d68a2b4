"""Figures and pages of the EM lecture, drawn from precomputed results only.

Each ``fig_*`` function takes what :mod:`mixcompare.comparisons.lecture` and
:mod:`comparisons.surface` computed (xarray Datasets, a pandas table, a
comparison ``DataTree``) and returns a :class:`matplotlib.figure.Figure` on its
own Agg canvas; nothing is fitted here. :data:`CAPTIONS` says what each figure
shows and which claim of the lecture it supports; :mod:`comparisons.lecture_pages`
writes the figures, the tables and ``index.md``/``captions.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from mixcompare.comparisons.io import save_figure_atomic

__all__ = ["CAPTIONS", "DPI", "GRID_CAPTION", "fig_atlas", "fig_basins", "fig_cem_bias",
           "fig_iterations", "fig_paths", "fig_posterior", "fig_profile", "save"]

DPI = 110
_OPT = colormaps["Dark2"].colors
_CHAIN = colormaps["tab10"].colors
DEPTH = 300.0  # contours are drawn down to this far below the best maximum

CAPTIONS = {
    "one_or_two": (
        "Slides 28-29 on the simulated CpG o/e ratios: left, one Gaussian (EM with K = 1, and "
        "dashed the closed form, the same curve); right, two Gaussians by EM (components "
        "dotted). Titles: log-likelihood, BIC and ICL in mclust's convention (higher is "
        "better). Supports: 'This? Or this?' -- two components are preferred by both "
        "criteria, by far more than the extra three parameters cost."),
    "bumps_surface": (
        "Slides 32-34: the likelihood of the nine-point example over (mu1, mu2) in [-20, 20]^2 "
        "with sigma1 = sigma2 = 1 and tau1 = tau2 = 0.5 fixed. Left, 3-D: the tempered "
        "likelihood (L / L_max)^(1/T), a monotone transform (same maxima, same basins) whose "
        "T makes the worse pair of bumps a quarter as high as the best (they stand on the "
        "flanks of the best pair) -- the likelihood itself has them e^-33 lower, flat on the "
        "floor, and the log-likelihood's scale is "
        "dominated by valleys thousands of nats deep. Right: log-likelihood contours, levels "
        "down to {depth:g} below the best, with the four local maxima. Supports: the "
        "likelihood has four bumps, near (-5, 12), (12, -5), (-10, 6) and (6, -10); two are "
        "the same fit with the labels swapped, the other two are a worse local maximum."),
    "bumps_profile": (
        "The same surface with the common variance sigma^2 profiled out (maximised at each "
        "(mu1, mu2)) instead of fixed at 1; crosses: the fixed-sigma maxima, circles: the "
        "profile's. Supports: the number and place of the bumps depend on what is held fixed "
        "-- the lecture's surface is a slice of a higher-dimensional likelihood."),
    "bumps_paths": (
        "EM (left) and classification EM (right) from the same eight starts, every iterate "
        "marked, on the fixed-sigma surface. Supports: EM climbs to the local maximum of the "
        "basin it starts in, here in one or two iterations that move; CEM reaches the same "
        "bumps through hard assignments."),
    "bumps_basins": (
        "Basins of attraction: every starting point of a grid coloured by the maximum EM (left) "
        "or CEM (right) reaches from it; grey: no maximum (the symmetric line mu1 = mu2 is a "
        "fixed point). Supports: which local maximum EM returns is decided by the start; "
        "the worse bumps own a large share of the starts."),
    "bumps_posterior": (
        "NUTS draws of the nine-point posterior (same means, sigma and tau fixed, default "
        "prior) over the same axes. Left, unordered model: chains started in both labellings "
        "of the best bump and at the two worse bumps (legend); the MAP-EM path "
        "(the iterates of EM on the log posterior; find_MAP's own iterates are not exposed) "
        "and the find_MAP point are marked. Right, ordered model (mu1 < mu2): only one "
        "labelling remains. Supports: the posterior has the same bumps as the likelihood; the "
        "valleys between them are hundreds of nats deep, so a chain stays at the bump it "
        "starts at, even a minor one (33 nats below the best); ordering removes the "
        "label-swapped copy but not the minor mode."),
    "two_iterations": (
        "Slide 42 on stand-in data (ours, not the slide's): EM on six points in two clusters "
        "near 0 and 4 with sigma = 1 "
        "and tau = 0.5 fixed, from means ({start}). Left: the means per iteration; right: "
        "how far the log-likelihood is below its final value (log scale). Supports: with "
        "well-separated components EM is essentially converged after two iterations."),
    "cem_bias": (
        "Bias of the estimated separation |mu2 - mu1| against the true separation (in sds), "
        "mean over {reps} simulated data sets of n = {n} per separation (bars: +/- 2 standard "
        "errors), for EM and classification EM started at the truth; posterior: {posterior}. "
        "Supports: CEM's hard assignments bias the means apart as the components overlap, "
        "while EM's estimates stay close to the truth until the overlap is severe."),
    "galaxies_atlas": (
        "Galaxies, K = 3. Left: the data with the fitted density of each distinct optimum EM "
        "reached from {n_init} restarts. Middle: log-likelihood of each optimum and the share "
        "of restarts that reached it. Right: share of each NUTS chain's draws nearest each "
        "optimum (unordered model, chains started over MAP-EM's atlas by basin share: the "
        "labels say where); census: {census}. Supports: EM converges to a local, not global, "
        "maximum -- which one depends on the start; the right panel shows whether the "
        "posterior has a matching mode (a chain started at a worse optimum stays there) or "
        "not (it leaves for the best one)."),
}


#: caption of ``bumps_posterior.png`` when the posterior is the exact grid one (``--quick``)
GRID_CAPTION = (
    "The nine-point posterior (same means, sigma and tau fixed, default prior) computed "
    "exactly on a grid (quick mode; the full run shows NUTS chains here), over the same "
    "axes. Left, unordered model: independent draws from the grid posterior, the MAP-EM "
    "path (the iterates of EM on the log posterior) and the grid's most probable cell. "
    "Right, ordered model (mu1 < mu2): the same posterior restricted to mu1 < mu2. "
    "Supports: the posterior has the same bumps as the likelihood, but all its mass is on "
    "the best pair (half on each labelling); the regions nearest the worse pair (33 nats "
    "lower) hold about e^-32 of it and get no draw; ordering removes the label-swapped copy.")


def _new(nrows=1, ncols=1, *, size, **kwargs):
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def _levels(surf: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Clip the surface at most ``DEPTH`` below its best value; 31 contour levels."""
    best = float(surf["loglik"].max())
    depth = min(DEPTH, best - float(surf["loglik"].min()))
    ll = np.maximum(surf["loglik"].values, best - depth)
    return ll, np.linspace(best - depth, best, 31)


def _contour(ax, surf: xr.Dataset, *, filled: bool = True, alpha: float = 1.0):
    """Draw the surface as filled contours (mu1 on x, mu2 on y) and return the mappable."""
    ll, levels = _levels(surf)
    g1, g2 = surf["mu1"].values, surf["mu2"].values
    cs = None
    if filled:
        cs = ax.contourf(g1, g2, ll.T, levels=levels, cmap="viridis", alpha=alpha)
    ax.contour(g1, g2, ll.T, levels=levels[::3], colors="white" if filled else "0.6",
               linewidths=0.4, alpha=0.7)
    ax.plot([g1[0], g1[-1]], [g1[0], g1[-1]], color="0.85" if filled else "0.5", lw=0.8,
            ls=":")
    ax.set(xlabel="mu1", ylabel="mu2", aspect="equal")
    return cs


def _mark_maxima(ax, surf: xr.Dataset, *, label: bool = True, marker="X", size=110):
    m1, m2, ll = (surf[k].values for k in ("opt_mu1", "opt_mu2", "opt_loglik"))
    for j in range(m1.size):
        ax.scatter(m1[j], m2[j], marker=marker, s=size, color=_OPT[j % len(_OPT)],
                   edgecolor="white", linewidth=1.2, zorder=5)
        if label:
            ax.annotate(f"{j}: ({m1[j]:.3g}, {m2[j]:.3g})\nlog-lik {ll[j]:.2f}", (m1[j], m2[j]),
                        xytext=(6, -26 if m2[j] > m1[j] else 8), textcoords="offset points",
                        fontsize=7.5, color="white",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "0.15", "alpha": 0.7,
                              "lw": 0})


def fig_profile(profile: xr.Dataset, surf: xr.Dataset) -> Figure:
    """Draw the profile surface with its maxima, and the fixed-sigma maxima for comparison."""
    fig, ax = _new(size=(7, 6))
    ax = ax[0, 0]
    cs = _contour(ax, profile)
    _mark_maxima(ax, profile, marker="o", size=90)
    ax.scatter(surf["opt_mu1"], surf["opt_mu2"], marker="x", s=70, color="red", lw=2,
               zorder=6, label="maxima with sigma^2 = 1 fixed")
    fig.colorbar(cs, ax=ax, shrink=0.8, label="profile log-likelihood")
    ax.set_title(profile.attrs["statement"].replace("; ", ";\n"), fontsize=9)
    ax.legend(loc="lower left", fontsize="small")
    return fig


def _draw_paths(ax, paths: xr.Dataset, surf: xr.Dataset):
    maxima = np.column_stack([surf["opt_mu1"].values, surf["opt_mu2"].values])
    for s in range(paths.sizes["start"]):
        m = paths["means"].values[s]
        end = int(np.argmin(np.linalg.norm(maxima - m[-1], axis=1)))
        col = _OPT[end % len(_OPT)]
        ax.plot(m[:, 0], m[:, 1], color="white", lw=3.2, zorder=3)
        ax.plot(m[:, 0], m[:, 1], color=col, lw=1.6, marker="o", ms=3.5, zorder=4)
        ax.scatter(m[0, 0], m[0, 1], marker="s", s=40, color=col, edgecolor="white", zorder=5)
        moves = int(np.sum(np.linalg.norm(np.diff(m, axis=0), axis=1) > 1e-3))
        ax.annotate(f"{moves} it.", m[0], xytext=(4, 4), textcoords="offset points",
                    fontsize=7, color="white")


def fig_paths(surf: xr.Dataset, paths_em: xr.Dataset, paths_cem: xr.Dataset) -> Figure:
    """Draw EM and CEM paths from the same starts on the contour view."""
    fig, axes = _new(1, 2, size=(12, 5.8))
    for ax, paths, title in ((axes[0, 0], paths_em, "EM"),
                             (axes[0, 1], paths_cem, "classification EM (CEM)")):
        _contour(ax, surf)
        _mark_maxima(ax, surf, label=False)
        _draw_paths(ax, paths, surf)
        ax.set_title(f"{title}: {paths.sizes['start']} starts (squares), iterates (dots);\n"
                     "'n it.': iterations that moved the means", fontsize=9)
    return fig


def fig_basins(surf: xr.Dataset, basin_em: xr.Dataset, basin_cem: xr.Dataset) -> Figure:
    """Draw the basin-of-attraction maps of EM and CEM (categorical colours)."""
    n = surf.sizes["optimum"]
    cmap = ListedColormap(["0.75"] + [_OPT[j % len(_OPT)] for j in range(n)])
    norm = BoundaryNorm(np.arange(-1.5, n), cmap.N)
    fig, axes = _new(1, 2, size=(12, 5.6))
    for ax, b, title in ((axes[0, 0], basin_em, "EM"), (axes[0, 1], basin_cem, "CEM")):
        g1, g2 = b["start_mu1"].values, b["start_mu2"].values
        ax.pcolormesh(g1, g2, b["optimum"].values.T, cmap=cmap, norm=norm, shading="nearest")
        _contour(ax, surf, filled=False)
        _mark_maxima(ax, surf, label=False)
        shares = [float((b["optimum"] == j).mean()) for j in range(n)]
        ax.set_title(f"{title}: starting point coloured by the maximum reached", fontsize=9)
        ax.set(xlim=(g1[0], g1[-1]), ylim=(g2[0], g2[-1]))
        handles = [ax.scatter([], [], marker="s", s=60, color=_OPT[j % len(_OPT)],
                              label=f"{j}: ({surf['opt_mu1'].values[j]:.3g}, "
                                    f"{surf['opt_mu2'].values[j]:.3g}), {shares[j]:.0%} of "
                                    "starts") for j in range(n)]
        handles.append(ax.scatter([], [], marker="s", s=60, color="0.75",
                                  label=f"none, {float((b['optimum'] < 0).mean()):.1%}"))
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.85)
    return fig


def fig_posterior(surf: xr.Dataset, post: dict) -> Figure:
    """Draw NUTS draws (unordered, ordered), the MAP-EM path and find_MAP on the surface."""
    fig, axes = _new(1, 2, size=(12.5, 6))
    for ax, key in ((axes[0, 0], "unordered"), (axes[0, 1], "ordered")):
        _contour(ax, surf, filled=False)
        ax.scatter(surf["opt_mu1"], surf["opt_mu2"], marker="+", s=80, color="black", lw=1,
                   zorder=5, label="likelihood maxima")
        ds = post[key]
        m = ds["means"].transpose("chain", "draw", "component").values
        grid = "starts" not in ds.attrs  # draws from the exact grid posterior
        starts = np.reshape(ds.attrs.get("starts", []), (-1, 2))
        for c in range(m.shape[0]):
            ax.scatter(m[c, :, 0], m[c, :, 1], s=5, alpha=0.4, lw=0, color=_CHAIN[c],
                       label=f"draws ({m.shape[1]}, independent)" if grid else
                       f"chain {c}, started at ({starts[c, 0]:g}, {starts[c, 1]:g})")
        if key == "ordered":
            lo, hi = surf["mu1"].values[[0, -1]]
            ax.fill_between([lo, hi], [lo, hi], lo, color="0.9", zorder=0,
                            label="mu1 > mu2: excluded by the ordering")
        else:
            path = post["map_path"]["means"].values[0]
            ax.plot(path[:, 0], path[:, 1], color="black", lw=1.4, marker="o", ms=3,
                    label="MAP-EM path (EM on the log posterior)")
            fm = post["mode"] if grid else post["find_map"]
            ax.scatter(fm[0], fm[1], marker="*", s=260, facecolor="none", edgecolor="red",
                       lw=1.5, zorder=6, label=f"{'grid mode' if grid else 'find_MAP'} "
                                               f"({fm[0]:.3g}, {fm[1]:.3g})")
        ax.set_title(f"{ds.attrs['method']}, {key} model ({m.shape[1]} draws)" if grid else
                     f"NUTS, {key} model ({m.shape[1]} draws per chain)", fontsize=9)
        leg = ax.legend(loc="lower left", fontsize=7, framealpha=0.85)
        for h, t in zip(leg.legend_handles, leg.get_texts(), strict=True):
            if t.get_text().startswith(("chain", "draws")):  # the dots, readable in the legend
                h.set_sizes([25])
                h.set_alpha(1)
    return fig


def fig_iterations(table) -> Figure:
    """Draw the spreadsheet slide: means per iteration and the log-likelihood gap."""
    fig, axes = _new(1, 2, size=(10, 3.8))
    a, b = axes[0]
    it = table["iteration"].values
    a.plot(it, table["mu1"], marker="o", label="mu1")
    a.plot(it, table["mu2"], marker="o", label="mu2")
    a.set(xlabel="iteration", ylabel="mean", title="Means")
    a.legend(frameon=False)
    gap = np.maximum(table["gap_to_final"].values, 1e-16)
    b.semilogy(it, gap, marker="o", color="black")
    b.set(xlabel="iteration", ylabel="final log-lik - log-lik",
          title="Distance below the converged log-likelihood")
    for i, g in zip(it[1:3], gap[1:3], strict=True):
        b.annotate(f"{g:.2g}", (i, g), xytext=(5, 5), textcoords="offset points", fontsize=8)
    return fig


def fig_cem_bias(bias: xr.Dataset) -> Figure:
    """Draw the bias of EM, CEM (and posterior mean) against the separation."""
    fig, ax = _new(size=(7.5, 4.5))
    ax = ax[0, 0]
    sep = bias["separation"].values
    for meth, col, lab in (("em", "black", "EM (MLE)"), ("cem", "tab:red", "classification EM")):
        y = bias["bias"].sel(algorithm=meth).values
        se = bias["bias_se"].sel(algorithm=meth).values
        ax.errorbar(sep, y, yerr=2 * se, color=col, marker="o", capsize=3, label=lab)
    if "post_bias" in bias:
        reps = bias.sizes["post_replicate"]
        ax.plot(bias["post_separation"], bias["post_bias"], color="tab:blue", marker="D",
                ls="--", label=f"posterior mean (quadrature), first {reps} data set(s)")
        ax.plot(bias["post_separation"], bias["post_em_bias"], color="black", marker="D",
                mfc="none", ls=":", label=f"EM on the same {reps} data set(s)")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="true separation of the means (sds)", ylabel="bias of |mu2 - mu1|",
           title=f"n = {bias.attrs['n']}, {bias.sizes['replicate']} data sets per separation")
    ax.legend(frameon=False)
    return fig


def fig_atlas(tree: xr.DataTree) -> Figure:
    """Draw EM's atlas of optima next to the posterior's share of draws near each optimum."""
    opt = tree["em/optima"].to_dataset()
    x = tree["data"].to_dataset()["x"].values
    n = opt.sizes["optimum"]
    fig, axes = _new(1, 3, size=(15, 4.4), width_ratios=[1.3, 1, 1])
    a, b, c = axes[0]
    a.hist(x, bins=30, density=True, color="0.85", edgecolor="white", label="data")
    grid = np.linspace(x.min() - 2, x.max() + 2, 500)
    for j in range(n):
        w, m, s = (opt[k].values[j] for k in ("weights", "means", "sds"))
        dens = (w / (s * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((grid[:, None] - m) / s) ** 2))
        a.plot(grid, dens.sum(axis=1), color=_OPT[j % len(_OPT)], lw=1.4,
               ls="-" if j == 0 else "--", label=f"optimum {j}")
    a.set(xlabel="velocity (1000 km/s)", ylabel="density", title="Each optimum's density")
    a.legend(frameon=False, fontsize="small")
    ll, share = opt["log_likelihood"].values, opt["basin_share"].values
    y = np.arange(n)
    b.hlines(y, ll.min() - 1, ll, color="0.7", lw=1)
    b.scatter(ll, y, s=90, color=[_OPT[j % len(_OPT)] for j in range(n)], zorder=3)
    for j in range(n):
        deg = ", degenerate" if bool(opt["degenerate"].values[j]) else ""
        b.annotate(f"{ll[j]:.2f}: {share[j]:.0%} of restarts{deg}", (ll[j], j), xytext=(8, 0),
                   textcoords="offset points", va="center", fontsize=8)
    b.set(yticks=y, yticklabels=[f"optimum {j}" for j in range(n)], xlabel="log-likelihood",
          xlim=(ll.min() - 1, ll.max() + 0.6 * (ll.max() - ll.min() + 2)),
          title="EM's atlas of optima")
    b.invert_yaxis()
    if "modes" not in tree["comparison"].children:  # no NUTS (quick mode)
        c.text(0.5, 0.5, "NUTS: run without --quick\n(posterior draws per chain,\n"
               "chains started over the atlas)", ha="center", va="center", fontsize=11,
               transform=c.transAxes)
        c.set(xticks=[], yticks=[], title="Posterior draws per chain (full run only)")
        return fig
    modes = tree["comparison/modes"].to_dataset()
    per = modes["share_per_chain"].transpose("chain", "optimum").values
    bottom = np.zeros(per.shape[0])
    start = np.atleast_1d(tree["init"].attrs.get("optimum", [-1] * per.shape[0]))
    labels = [f"chain {k}" + (f"\nstart: {start[k]}" if start[k] >= 0 else "")
              for k in range(per.shape[0])]
    for j in range(per.shape[1]):
        c.bar(labels, per[:, j], bottom=bottom, color=_OPT[j % len(_OPT)], width=0.7,
              label=f"optimum {j}")
        bottom += per[:, j]
    census = tree["comparison/census"].attrs.get("kind", "")
    c.set(ylim=(0, 1.02), ylabel="share of draws nearest the optimum",
          xlabel="chain (start: the MAP-EM optimum it was started at)",
          title=f"Posterior draws per chain ({census})")
    c.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=min(per.shape[1], 4),
             frameon=False, fontsize="small")
    return fig


def save(fig: Figure, path) -> Path:
    """Write a figure as PNG atomically (at :data:`DPI`) and return its path."""
    return save_figure_atomic(fig, path, dpi=DPI)
