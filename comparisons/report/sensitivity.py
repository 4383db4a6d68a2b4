"""The report's prior-sensitivity block: the hidden spread under weaker priors.

Reads ``comparison/prior_sensitivity`` (:mod:`mixcompare.comparisons.pipeline.sensitivity`)
and says, per parameter, whether the prior rather than the data drives the
posterior sd that the hidden-spread ratio sets against EM's standard error.
"""

from __future__ import annotations

import numpy as np
from mixcompare.comparisons.report.figures import group_or_none as _g

__all__ = ["section"]


def _how(ps, j: int) -> str:
    """Say how the posterior under prior ``j`` was obtained (the table's column header)."""
    k, thr = float(ps["pareto_k"].values[j]), float(ps.attrs["k_threshold"])
    method = str(ps["method"].values[j])
    if method == "refit":
        return f"refit by NUTS, Pareto-k {k:.2f} > {thr:.2f}"
    if k == -np.inf:
        return "reweighted, weights all equal"
    if not np.isfinite(k):
        return "Pareto-k not estimable (too few draws or no tail fit): UNRELIABLE"
    return f"Pareto-k {k:.2f}" + ("" if k <= thr else f" > {thr:.2f}: UNRELIABLE")


def _column(ps):
    """Return the ratio column shown and its name: sd / Louis SE, else / bootstrap SE, else sd."""
    for var, name in (("sd_over_se_louis", "sd / Louis SE"),
                      ("sd_over_se_boot", "sd / bootstrap SE")):
        if var in ps:
            return var, name
    return "post_sd", "posterior sd"


def _findings(ps, var: str, name: str, fmt) -> list[str]:
    """One sentence per prior-driven parameter, and per change of the agreement verdict."""
    priors = [str(p) for p in ps["prior"].values]
    ok = ps["reliable"].values
    change = ps["sd_change"].values
    out = []
    thr = float(ps.attrs["change_threshold"])
    for i, row in enumerate(ps["name"].values):
        if bool(ps["prior_driven"].values[i]):
            j = max((j for j in range(1, len(priors)) if ok[j]), key=lambda j: abs(change[i, j]))
            out.append(f"The prior, not the data, drives the hidden spread of {row}: its "
                       f"posterior sd changes by {change[i, j]:+.0%} under {priors[j]} "
                       f"({name} {fmt(ps[var].values[i, 0])} → {fmt(ps[var].values[i, j])}), "
                       f"more than the {thr:.0%} threshold.")
        agree = ps["agree"].values[i]
        moved = [j for j in range(1, len(priors)) if ok[j] and agree[j] != agree[0]]
        if moved:
            out.append(f"The agreement verdict on {row} (|z| ≤ {fmt(ps.attrs['agree_z'])}) "
                       f"is {'yes' if agree[0] else 'no'} under the default prior and "
                       + ", ".join(f"{'yes' if agree[j] else 'no'} under {priors[j]}"
                                   for j in moved) + ".")
    return out


def section(tree, fmt, table) -> list:
    """Blocks of the prior-sensitivity sub-section (empty when it was not computed).

    ``fmt`` and ``table`` are the report's cell formatter and table builder.
    """
    ps = _g(tree, "comparison/prior_sensitivity")
    if ps is None:
        return []
    out = [("h3", "Prior sensitivity of the hidden spread")]
    if "post_sd" not in ps:
        return out + [("p", f"Not computed: {ps.attrs.get('skipped', '')}.")]
    b = ", ".join(fmt(v) for v in np.atleast_1d(ps.attrs["b_default"]))
    thr = float(ps.attrs["change_threshold"])
    out.append(("p", "EM's standard errors do not depend on the prior, so when the posterior "
                     "sd moves under a weaker prior, the change of the ratio is the prior's "
                     "doing, not the data's. Weaker priors: the Inverse-Gamma (Inverse-Wishart) "
                     f"variance scale b = {b} divided by 10 and by 100, its shape "
                     f"a = {fmt(ps.attrs['a'])} kept. Each is estimated by Pareto-smoothed "
                     "importance sampling of the draws (reliable when the Pareto-k is at most "
                     f"{float(ps.attrs['k_threshold']):.2f}) or, where marked, by NUTS under "
                     f"that prior. A parameter is prior-driven when its posterior sd moves by "
                     f"more than {thr:.0%} under a reliably estimated weaker prior."))
    var, name = _column(ps)
    priors = [str(p) for p in ps["prior"].values]
    head = ["parameter"] + [f"{name}, {p}" + ("" if j == 0 else f" ({_how(ps, j)})")
                            for j, p in enumerate(priors)] + ["agree: " + " / ".join(priors)]
    rows = [[str(n)] + [float(v) for v in ps[var].values[i]]
            + [" / ".join("yes" if a else "no" for a in ps["agree"].values[i])]
            for i, n in enumerate(ps["name"].values)]
    out.append(table(head, rows))
    bad = [p for j, p in enumerate(priors) if not ps["reliable"].values[j]]
    if bad:
        out.append(("warn", [f"The reweighting to {' and '.join(bad)} is unreliable (Pareto-k "
                             "too large): no conclusion is drawn from it. "
                             "`compare(..., prior_sensitivity=\"refit\")` samples under that "
                             "prior with NUTS instead."]))
    items = _findings(ps, var, name, fmt)
    if not items and len(bad) < len(priors) - 1:
        items = [f"No parameter's posterior sd moves by more than {thr:.0%} under a reliably "
                 "estimated weaker prior: the hidden spread is the data's, not the prior's."]
    return out + ([("ul", items)] if items else [])
