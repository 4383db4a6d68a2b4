"""The report's "Posterior modes and EM's optima" section and its figure."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure

__all__ = ["CAPTION", "fig_census", "section"]

CAPTION = ("Per-chain traces of each component mean coloured by the mode the chain settled "
           "in (left), next to the means of every optimum of the (MAP-)EM atlas with its "
           "log-likelihood (right): a chain that stays at an EM optimum shares its level.")
_MODE = colormaps["Dark2"].colors


def _group(tree: xr.DataTree, path: str) -> xr.Dataset | None:
    try:
        ds = tree[path].to_dataset()
    except KeyError:
        return None
    return ds if ds.data_vars else None


def fig_census(tree: xr.DataTree) -> Figure | None:
    """Draw per-chain traces coloured by mode beside EM's atlas of optima (first feature)."""
    cen, post = _group(tree, "comparison/census"), _group(tree, "posterior")
    if cen is None or post is None:
        return None
    means = post["means"].transpose("chain", "draw", "component", ...).values
    if means.ndim == 4:
        means = means[..., 0]
    C, D, K = means.shape
    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    ax, side = fig.subplots(1, 2, width_ratios=[4, 1], sharey=True)
    mode = cen["mode_of_chain"].values
    for c in range(C):
        col = _MODE[int(mode[c]) % len(_MODE)]
        for k in range(K):
            ax.plot(np.arange(D), means[c, :, k], color=col, lw=0.6, alpha=0.8,
                    label=f"mode {int(mode[c])}" if k == 0 else None)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize="small", frameon=False)
    ax.set_xlabel("draw")
    ax.set_ylabel("component means (first feature)")
    use_map = cen.attrs.get("atlas") == "map_em" and _group(tree, "map_em/optima") is not None
    atlas_name = "MAP-EM" if use_map else "EM"
    em_opt = _group(tree, "map_em/optima" if use_map else "em/optima")
    if em_opt is not None:
        om = em_opt["means"].values
        om = om[..., 0] if om.ndim == 3 else om
        for j in range(om.shape[0]):
            side.scatter(np.full(om.shape[1], j), om[j], marker="_", s=300, color="black")
        side.set_xticks(np.arange(om.shape[0]))
        side.set_xticklabels([f"{ll:.0f}" for ll in em_opt["log_likelihood"].values],
                             rotation=90, fontsize="small")
    side.set_xlabel(f"{atlas_name} optimum\n(log-likelihood)")
    fig.suptitle(f"{cen.attrs.get('kind', '')}: chains by mode, and EM's optima "
                 f"(census against the {atlas_name} atlas)", fontsize="medium")
    return fig


def _kept_or_left(cen: xr.Dataset) -> str:
    """Say which EM optima the chains started at are posterior modes, and which are not."""
    kept = json.loads(cen.attrs["optima_kept"])
    left = {int(k): v for k, v in json.loads(cen.attrs["optima_left"]).items()}

    def where(js):
        return " or ".join("no EM optimum" if j < 0 else f"optimum {j}" for j in js)

    parts = []
    if kept:
        parts.append(f"EM optim{'a' if len(kept) > 1 else 'um'} "
                     f"{', '.join(map(str, kept))}: some chain started there stayed, so the "
                     "posterior has a mode there too")
    for j, went in left.items():
        parts.append(f"EM optimum {j}: every chain started there left (for {where(went)}), "
                     "so it is not a posterior mode")
    return "Where the chains started: " + "; ".join(parts) + "."


def section(tree: xr.DataTree, fmt, table) -> list:
    """Build the report blocks of the mode census (``fmt``/``table`` are the report's helpers)."""
    cen = _group(tree, "comparison/census")
    out = [("h2", "Posterior modes and EM's optima")]
    if cen is None:
        return out + [("p", "NUTS was not run.")]
    out.append(("p", f"Classification: **{cen.attrs.get('kind')}** — {cen.attrs.get('reason')}. "
                     "Each chain is summarised by its medians and matched, up to a relabelling, "
                     f"to the {cen.attrs.get('atlas', 'em').replace('_', '-').upper()} atlas of "
                     f"optima (within {fmt(cen.attrs.get('z_max'))} posterior sds); a mode no "
                     "optimum matches is polished by EM from its chain's medians. R-hat and ESS "
                     "are computed per mode, never pooled across modes."))
    rows = []
    for k in range(cen.sizes["mode"]):
        chains = np.flatnonzero(cen["mode_of_chain"].values == k)
        j = int(cen["optimum_of_mode"].values[k])
        src = str(cen["optimum_source"].values[k]) if "optimum_source" in cen else ""
        rows.append([str(k), ", ".join(map(str, chains)),
                     "none" if j < 0 else f"{j} ({src})" if src else str(j),
                     fmt(cen["optimum_log_likelihood"].values[k]),
                     fmt(cen["log_density_at_median"].values[k]),
                     fmt(cen["rhat_max"].values[k]), fmt(cen["ess_bulk_min"].values[k])])
    out.append(table(["mode", "chains", "EM optimum", "its log-likelihood",
                      "log posterior at chain medians", "R-hat max", "bulk ESS min"], rows))
    if "optima_left" in cen.attrs:
        out.append(("p", _kept_or_left(cen)))
    init = _group(tree, "init")
    if init is not None or "init" in tree.children:
        attrs = tree["init"].attrs
        out.append(("p", f"Chains started by policy `{attrs.get('policy', tree.attrs.get('init'))}`"
                         + (", optimum per chain: "
                            f"{[int(i) for i in np.atleast_1d(attrs['optimum'])]}"
                            if "optimum" in attrs else "") + "."))
    return out
