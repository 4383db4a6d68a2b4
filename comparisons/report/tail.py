"""The report's note on tail-sensitive posterior summaries (:mod:`..posterior.tail`).

Hooked into :func:`.comparison._blocks` after the label-switching section.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ._figbase import group_or_none

__all__ = ["section"]

_WHY = ("A posterior sd (and HDI) is **tail-sensitive** when its most extreme {frac:.0%} of "
        "draws carry more than {share:.0%} of its square (Normal draws: {normal:.0%}): it then "
        "rests on rare excursions — a small component leaving its cluster — and on how often "
        "the sampler made them. NUTS's MCSE does not cover that: on galaxies K = 3 (ordered), "
        "4 chains of 1000 draws, the sd of the small component's mean ranged from 24 % below "
        "to 45 % above an exact Gibbs sampler's over 20 seeds, at R-hat 1.00 and bulk ESS > "
        "2000; runs that missed the excursions reported a small MCSE (issue #21). With 4000 "
        "draws per chain it was within 16 % in 6 runs of 6. "
        "It is **unreliable** when, in addition, the ESS of its {lo:.0%}/{hi:.0%} quantiles is "
        "below {ess:.0f}. Check such rows with more or longer chains or another sampler.")

_BY_MASS = ("The column *sd weighted by region masses* does not depend on how often the chains "
            "made those excursions: the posterior is cut into the regions of MAP-EM's optima, "
            "each region's mass is estimated from the density (bridge sampling, with chains "
            "confined to a region the chains rarely entered), and each region's draws are "
            "weighted by its mass (the law of total variance); its MCSE includes the masses' "
            "errors. On galaxies K = 3 (ordered), 4 chains of 1000 draws, 16 seeds, the "
            "small component's mean had a mass-weighted sd of 0.99-1.09 against an exact Gibbs "
            "sampler's 1.03 (every row within 3.2 MCSE), where the draws' sd ranged 0.83-1.41 "
            "(issue #21). Where it is computed from two regions or more, the report's "
            "posterior summaries (mean, sd, HDI) pool the draws the same way.")


def _visits(regions: list) -> list:
    """Sentences on regions the chains visited far more or less often than their mass says."""
    out = []
    for g in regions:
        if g["visits"] not in ("under", "over"):
            continue
        means = " / ".join(f"{m:.4g}" for m in g["means"])
        out.append(f"The chains spent {g['draw_share']:.2%} of their draws in the region of "
                   f"{g['region']} (means {means}), whose estimated posterior mass is "
                   f"{g['mass']:.2%} ± {g['mass_sd']:.2%} ({g['method']}): they "
                   f"**{g['visits']}-visited** it. Summaries that region moves (the rows "
                   "below) are off by chance in this run, whatever R-hat and the bulk ESS say.")
    return out


def section(tree: xr.DataTree, fmt, table) -> list:
    """Build the report blocks on tail-sensitive rows (``fmt``/``table`` are the report's)."""
    diag = group_or_none(tree, "comparison/diagnostics")
    if diag is None or "tail_share" not in diag:
        return []
    a = diag.attrs
    frac = float(a["tail_frac"])
    out = [("h2", "Tail-sensitive summaries"),
           ("p", _WHY.format(frac=frac, share=float(a["tail_share_max"]),
                             normal=float(a["normal_tail_share"]), lo=frac / 2, hi=1 - frac / 2,
                             ess=float(a["tail_ess_min"])))]
    visits = _visits(json.loads(a.get("regions", "[]")))
    by_mass = "sd_by_mass" in diag and np.any(np.isfinite(diag["sd_by_mass"].values))
    if visits and not by_mass:
        visits.append("A sd weighted by the regions' estimated masses, which does not depend "
                      "on the visits, is computed for 1-D data when the regions with an "
                      "estimate cover the posterior; here it is not: check with longer chains.")
    out += [("p", t) for t in visits]
    flagged = np.flatnonzero(diag["tail_sensitive"].values)
    if flagged.size == 0:
        return out + [("p", "No parameter is tail-sensitive here.")]
    rows = []
    for i in flagged:
        row = [str(diag["name"].values[i]), fmt(diag["tail_share"].values[i]),
               fmt(int(diag["tail_excursions"].values[i])),
               fmt(diag["ess_tail_quantile"].values[i]),
               "**unreliable**" if diag["tail_unreliable"].values[i] else "tail-sensitive"]
        if by_mass:
            row += [fmt(diag["sd_draws"].values[i]) if "sd_draws" in diag else "—",
                    f"{fmt(diag['sd_by_mass'].values[i])} ± "
                    f"{fmt(diag['sd_by_mass_mcse'].values[i])}"]
        rows.append(row)
    head = ["parameter", "share of sd² in the extreme draws", "separate visits to the tails",
            "ESS of the extreme quantiles", "verdict"]
    if by_mass:
        head += ["sd of the draws", "sd weighted by region masses ± MCSE"]
        out.append(("p", _BY_MASS))
    out.append(table(head, rows))
    return out
