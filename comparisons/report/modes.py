"""The report's optima and modes: the one atlas, the census of modes, agreement per mode.

Every optimum is named by its atlas identifier (``E0, E1, ...`` for EM's optima,
``M0, M1, ...`` for MAP-EM's; :mod:`mixcompare.comparisons.pipeline.atlas`), here and in
the figures (:func:`atlas_id`).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from mixcompare.comparisons.posterior.census import optimum_id

__all__ = ["CAPTION", "atlas_id", "atlas_section", "fig_census", "mass_items", "mass_text",
           "mode_agreement", "mode_optimum", "section"]

CAPTION = ("Per-chain traces of each component mean coloured by the mode the chain settled "
           "in (left), next to the means of every optimum of the (MAP-)EM atlas, labelled by "
           "its atlas identifier and log-likelihood (right): a chain that stays at an "
           "optimum shares its level.")
_MODE = colormaps["Dark2"].colors
_SOURCE = {"em": "EM", "map_em": "MAP-EM"}


def _ll(v) -> str:
    """Format a log density to two decimals: nearby optima must stay distinguishable."""
    return "—" if v is None or not np.isfinite(v) else f"{float(v):.2f}"


def _group(tree: xr.DataTree, path: str) -> xr.Dataset | None:
    try:
        ds = tree[path].to_dataset()
    except KeyError:
        return None
    return ds if ds.data_vars else None


def mass_text(mass, sd, method) -> str:
    """Say an estimated mass with its standard error and method, or why there is none."""
    method = str(method)
    if not np.isfinite(mass):
        return "not estimated" + (f" ({method[6:]})" if method.startswith("none: ") else "")
    if method == "laplace":
        return f"{mass:.3g} (Laplace; error not quantified)"
    return f"{mass:.3g} ± {sd:.2g} ({method})"


def mass_items(tree: xr.DataTree, ll) -> list[str]:
    """Return the report's sentences on the posterior mass near EM's optima (estimated)."""
    modes = _group(tree, "comparison/modes")
    if modes is None:
        return []
    parts, shares = [], []
    for j in range(modes.sizes["optimum"]):
        oid = atlas_id(tree, "em", j)
        desc = f"{oid} (log-likelihood {ll(modes['log_likelihood'].values[j])})"
        if "mass" in modes:
            parts.append(f"{desc}: {mass_text(modes['mass'].values[j], modes['mass_sd'].values[j],
                                              modes['method'].values[j])}")
        shares.append(f"{oid} {float(modes['share'].values[j]):.1%}")
    best = atlas_id(tree, "em", 0)
    minor = int(modes.attrs.get("em_best_is_minor_mode", 0))
    out = []
    if parts:
        out.append("Estimated posterior mass of the region of each EM optimum (bridge sampling "
                   "from the draws in the region, or from chains confined to it where few "
                   "draws fall there, else a Laplace approximation; relative to the regions "
                   "listed): " + "; ".join(parts)
                   + f". EM's best optimum ({best}) "
                   + ("has no estimated mass (see above)" if "mass" in modes
                      and not np.isfinite(modes["mass"].values[0])
                      else f"{'IS' if minor else 'is not'} a minor mode of the posterior by "
                           "these masses") + ".")
    out.append("Share of the draws in the region holding each EM optimum (where the chains "
               "were, which depends on where they started; not a mass): "
               + "; ".join(shares) + ".")
    return out


def atlas_id(tree: xr.DataTree, source: str, j: int) -> str:
    """Return the atlas identifier (``E0``, ``M1``...) of optimum ``j`` of one atlas.

    ``source`` is ``"em"`` or ``"map_em"``; the identifier is read from
    ``comparison/atlas`` when the tree has it; ``"none"`` for ``j < 0``.
    """
    atlas = _group(tree, "comparison/atlas")
    if atlas is not None and j >= 0:
        hit = np.flatnonzero((atlas["source"].values.astype(str) == source)
                             & (atlas["index"].values == j))
        if hit.size:
            return str(atlas["id"].values[hit[0]])
    return optimum_id(source, int(j))


def _counterpart(tree: xr.DataTree, oid: str) -> str:
    atlas = _group(tree, "comparison/atlas")
    if atlas is None:
        return ""
    hit = np.flatnonzero(atlas["id"].values.astype(str) == oid)
    return str(atlas["counterpart"].values[hit[0]]) if hit.size else ""


def _mode_id(tree: xr.DataTree, cen: xr.Dataset, k: int) -> str | None:
    j = int(cen["optimum_of_mode"].values[k])
    if j < 0:
        return None
    if "optimum_id" in cen:
        return str(cen["optimum_id"].values[k])
    return atlas_id(tree, str(cen.attrs.get("atlas", "em")), j)


def mode_optimum(tree: xr.DataTree, cen: xr.Dataset, k: int) -> str:
    """Name the optimum mode ``k`` sits at, with its EM counterpart, or say it has none."""
    oid, j = _mode_id(tree, cen, k), int(cen["optimum_of_mode"].values[k])
    if oid is None:
        return "no EM counterpart"
    src = str(cen.attrs.get("atlas", "em"))
    if j >= int(cen.attrs.get("n_atlas_optima", j + 1)):
        where = str(cen["optimum_source"].values[k]) if "optimum_source" in cen else "a chain"
        return (f"{oid} ({_SOURCE.get(src, src)} polished from the medians of {where}; "
                "the restarts missed it)")
    if src == "em":
        return f"{oid} (EM optimum)"
    other = _counterpart(tree, oid)
    return f"{oid} (MAP-EM optimum; " + (f"its EM counterpart {other})" if other
                                          else "no EM counterpart)")


def fig_census(tree: xr.DataTree) -> Figure | None:
    """Draw per-chain traces coloured by mode beside the atlas of optima (first feature)."""
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
    ids = (cen["optimum_id"].values.astype(str) if "optimum_id" in cen
           else np.full(cen.sizes["mode"], "?"))
    for c in range(C):
        col = _MODE[int(mode[c]) % len(_MODE)]
        for k in range(K):
            ax.plot(np.arange(D), means[c, :, k], color=col, lw=0.6, alpha=0.8,
                    label=f"mode {int(mode[c])} (at {ids[int(mode[c])]})" if k == 0 else None)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize="small", frameon=False)
    ax.set_xlabel("draw")
    ax.set_ylabel("component means (first feature)")
    use_map = cen.attrs.get("atlas") == "map_em" and _group(tree, "map_em/optima") is not None
    source = "map_em" if use_map else "em"
    em_opt = _group(tree, "map_em/optima" if use_map else "em/optima")
    if em_opt is not None:
        om = em_opt["means"].values
        om = om[..., 0] if om.ndim == 3 else om
        for j in range(om.shape[0]):
            side.scatter(np.full(om.shape[1], j), om[j], marker="_", s=300, color="black")
        side.set_xticks(np.arange(om.shape[0]))
        side.set_xticklabels([f"{atlas_id(tree, source, j)} ({ll:.0f})" for j, ll in
                              enumerate(em_opt["log_likelihood"].values)],
                             rotation=90, fontsize="small")
    side.set_xlabel(f"{_SOURCE[source]} optimum\n(log-likelihood)")
    fig.suptitle(f"{cen.attrs.get('kind', '')}: chains by mode, and the optima "
                 f"(census against the {_SOURCE[source]} atlas)", fontsize="medium")
    return fig


def _kept_or_left(tree: xr.DataTree, cen: xr.Dataset) -> str:
    """Say which optima the chains started at are posterior modes, and which are not."""
    src = str(cen.attrs.get("atlas", "em"))
    kept = [atlas_id(tree, src, j) for j in json.loads(cen.attrs["optima_kept"])]
    left = {int(k): v for k, v in json.loads(cen.attrs["optima_left"]).items()}

    def where(js):
        return " or ".join("no optimum of the atlas" if j < 0 else atlas_id(tree, src, j)
                           for j in js)

    parts = []
    if kept:
        parts.append(f"{', '.join(kept)}: some chain started there stayed, so the posterior "
                     "has a mode there too")
    for j, went in left.items():
        parts.append(f"{atlas_id(tree, src, j)}: every chain started there left (for "
                     f"{where(went)}), so it is not a posterior mode")
    return "Where the chains started: " + "; ".join(parts) + "."


def section(tree: xr.DataTree, fmt, table) -> list:
    """Build the report blocks of the mode census (``fmt``/``table`` are the report's helpers)."""
    cen = _group(tree, "comparison/census")
    out = [("h2", "Posterior modes and EM's optima")]
    if cen is None:
        return out + [("p", "NUTS was not run.")]
    src = str(cen.attrs.get("atlas", "em"))
    out.append(("p", f"Classification: **{cen.attrs.get('kind')}** — {cen.attrs.get('reason')}. "
                     "Each chain is summarised by its medians and matched, up to a relabelling, "
                     f"to the {_SOURCE.get(src, src)} atlas of optima (within "
                     f"{fmt(cen.attrs.get('z_max'))} posterior sds; identifiers as in the "
                     "atlas table below); a mode no optimum matches is polished by EM from its "
                     "chain's medians. R-hat and ESS are computed per mode, never pooled "
                     "across modes."))
    rows = []
    C = cen.sizes["chain"]
    for k in range(cen.sizes["mode"]):
        chains = np.flatnonzero(cen["mode_of_chain"].values == k)
        mass = (mass_text(cen["mass"].values[k], cen["mass_sd"].values[k],
                          cen["mass_method"].values[k]) if "mass" in cen else "—")
        rows.append([str(k), ", ".join(map(str, chains)), mode_optimum(tree, cen, k),
                     _ll(cen["optimum_log_likelihood"].values[k]),
                     _ll(cen["log_density_at_median"].values[k]), mass,
                     f"{chains.size} of {C}", fmt(cen["rhat_max"].values[k]),
                     fmt(cen["ess_bulk_min"].values[k])])
    out.append(table(["mode", "chains", "optimum", "its log-likelihood",
                      "log posterior at chain medians", "estimated posterior mass",
                      "chain share (not a mass)", "R-hat max", "bulk ESS min"], rows))
    if "mass" in cen:
        out.append(("p", "A mode's posterior mass is estimated from the density, not from the "
                         "chains: bridge sampling (Meng & Wong 1996) with the draws of the "
                         "mode's region, or with chains confined to the region where few "
                         "draws fall there (else a Laplace approximation at its mode); "
                         "masses are relative to the regions found, compare "
                         "modes up to relabelling, and do not depend on where the chains "
                         "started. The chain share does."
                         + (" Two modes sit in one region and share its mass."
                            if int(cen.attrs.get("mass_shared", 0)) else "")))
    if "optima_left" in cen.attrs:
        out.append(("p", _kept_or_left(tree, cen)))
    if "init" in tree.children:
        attrs = tree["init"].attrs
        policy = attrs.get("policy", tree.attrs.get("init"))
        start = "map_em" if "map_em" in tree.children and policy in ("em", "atlas") else "em"
        out.append(("p", f"Chains started by policy `{policy}`"
                         + (", optimum per chain: " + ", ".join(
                             f"chain {c}: {atlas_id(tree, start, int(j))}"
                             for c, j in enumerate(np.atleast_1d(attrs["optimum"])))
                            if "optimum" in attrs else "") + "."))
    return out


def atlas_section(tree: xr.DataTree, fmt, table) -> list:
    """Build the one atlas table: EM's (E...) and MAP-EM's (M...) optima, one numbering."""
    atlas, opt = _group(tree, "comparison/atlas"), _group(tree, "em/optima")
    out = [("h2", "Atlas of optima")]
    if atlas is None and opt is None:
        return out + [("p", "No atlas recorded.")]
    if atlas is None:  # a tree written before the atlas: EM's optima only
        atlas = opt.assign(source=("optimum", np.full(opt.sizes["optimum"], "em")),
                           index=opt["optimum"]).assign_coords(
            id=("optimum", [optimum_id("em", j) for j in range(opt.sizes["optimum"])]))
    src = atlas["source"].values.astype(str)
    said = []
    for s, what in (("em", "optima of the likelihood"),
                    ("map_em", "optima of the posterior density (the same restarts under "
                               "the shared prior)")):
        ids = atlas["id"].values[src == s].astype(str)
        if ids.size:
            said.append(f"{_SOURCE[s]} reached {ids.size} distinct "
                        f"{what if ids.size > 1 else what.replace('optima', 'optimum')}: "
                        f"{', '.join(ids)}")
    who = "EM and MAP-EM each" if len(said) > 1 else "EM"
    out.append(("p", f"{who} ran {fmt(tree.attrs.get('n_init'))} restarts. " + "; ".join(said)
                     + ". Best first. Every optimum in this report is named by these "
                       "identifiers. Log posterior = log-likelihood + log prior density (no "
                       "Jacobian)." + (" The counterpart is the same solution in the other "
                                       "atlas (each is the other's nearest optimum)."
                                       if len(said) > 1 else "")))

    def col(v, i):
        return atlas[v].values[i].item() if v in atlas else None

    rows = [[str(atlas["id"].values[i]), _SOURCE.get(src[i], src[i]),
             _ll(col("log_likelihood", i)), _ll(col("log_posterior", i)), col("count", i),
             col("basin_share", i), col("converged", i), col("degenerate", i), col("spurious", i),
             str(col("counterpart", i) or "—") if "counterpart" in atlas else None]
            for i in range(atlas.sizes["optimum"])]
    return out + [table(["id", "source", "log-likelihood", "log posterior", "restarts",
                         "basin share", "converged", "degenerate", "spurious", "counterpart"],
                  rows)]


def mode_agreement(tree: xr.DataTree, fmt, table) -> list:
    """Agreement per mode: each mode's posterior against the optimum it sits at."""
    am, cen = _group(tree, "comparison/agreement_modes"), _group(tree, "comparison/census")
    if am is None or cen is None:
        return []
    prob = float(am.attrs.get("hdi_prob", tree.attrs.get("level", 0.94)))
    C = cen.sizes["chain"]
    out = [("h3", "Agreement per mode"),
           ("p", "Each mode's chains, aligned to the reference order, against the optimum the "
                 "mode sits at: z = (optimum value − mode's posterior mean) / mode's posterior "
                 "sd; a row agrees when |z| ≤ 2. A mode's estimated mass is its posterior "
                 "mass, whatever the chains' starts; its chain share is the share of chains "
                 "that settled there, not its posterior mass.")]
    for k in range(am.sizes["mode"]):
        one = am.isel(mode=k)
        chains = np.flatnonzero(cen["mode_of_chain"].values == k)
        value = one["optimum_value"].values
        known = np.isfinite(value)
        oid = _mode_id(tree, cen, k) if known.any() else None
        n_ch = int(one["n_chains"]) if "n_chains" in one else chains.size
        share = float(one["chain_share"]) if "chain_share" in one else n_ch / C
        agree = int(np.sum(one["agree"].values[known]))
        mass = (f"Estimated posterior mass: {mass_text(float(one['mass']), float(one['mass_sd']),
                                                        one['mass_method'].item())}. "
                if "mass" in one else "")
        out.append(("p", f"**Mode {k}** (chains {', '.join(map(str, chains))}) sits at "
                         f"{mode_optimum(tree, cen, k)}. {mass}Chain share: {n_ch} of {C} "
                         f"chains ({share:.0%}). "
                         + (f"Against {oid}, {agree} of {int(known.sum())} rows agree."
                            if oid else "There is no optimum to compare its posterior "
                                        "against.")))
        rows = []
        for i, pname in enumerate(one["name"].values):
            ok = bool(known[i])
            rows.append([str(pname), value[i] if ok else None,
                         f"{fmt(one['post_mean'].values[i])} ± {fmt(one['post_sd'].values[i])}",
                         f"[{fmt(one['hdi_low'].values[i])}, {fmt(one['hdi_high'].values[i])}]",
                         one["z"].values[i] if ok else None,
                         bool(one["optimum_in_hdi"].values[i]) if ok else None,
                         bool(one["agree"].values[i]) if ok else None])
        out.append(table(["parameter", f"value at {oid or 'optimum'}", "posterior mean ± sd",
                          f"{prob:.0%} HDI", "z", "in HDI", "agree"], rows))
    return out
