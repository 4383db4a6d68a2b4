"""The report's note on tail-sensitive posterior summaries (:mod:`..posterior.tail`).

Hooked into :func:`.comparison._blocks` after the label-switching section.
"""

from __future__ import annotations

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
    flagged = np.flatnonzero(diag["tail_sensitive"].values)
    if flagged.size == 0:
        return out + [("p", "No parameter is tail-sensitive here.")]
    rows = [[str(diag["name"].values[i]), fmt(diag["tail_share"].values[i]),
             fmt(int(diag["tail_excursions"].values[i])),
             fmt(diag["ess_tail_quantile"].values[i]),
             "**unreliable**" if diag["tail_unreliable"].values[i] else "tail-sensitive"]
            for i in flagged]
    out.append(table(["parameter", "share of sd² in the extreme draws",
                      "separate visits to the tails", "ESS of the extreme quantiles", "verdict"],
                     rows))
    return out
