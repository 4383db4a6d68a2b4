"""The choose-k report: report.md, report.html, figures, and results.nc."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import xarray as xr
from mixcompare.comparisons.report import markdown
from mixcompare.comparisons.report._figbase import group_or_none

from . import figures
from .lrt import lrt_choice
from .result import LABELS

__all__ = ["choices_markdown", "write_report"]

#: why a criterion's answer can differ from the others' (used when it does)
WHY = {
    "bic_mclust": "BIC approximates the log marginal likelihood with a penalty of p log n, "
                  "whatever the prior",
    "icl_mclust": "ICL adds the entropy of the classification to BIC, so it prefers K's whose "
                  "clusters are well separated and merges overlapping components",
    "aic_sklearn": "AIC's penalty, 2p, is smaller than BIC's once n > 7: it tends to more "
                   "components",
    "lrt": "the bootstrap LRT answers a test, K against K + 1 at 5%, stopping at the first "
           "K not rejected; with few bootstrap samples it cannot reject at all",
    "loo": "PSIS-LOO measures the predictive density of a left-out point: once the density is "
           "fitted, extra components cost little, so it is flat in K and its differences "
           "carry standard errors",
    "smc": "the marginal likelihood integrates the likelihood over the prior: a vague prior "
           "on the means penalises each extra component (Lindley's paradox), so the answer "
           "depends on the prior's width",
    "overfitted": "the overfitted mixture counts the components that hold data under a "
                  "sparse Dirichlet; it counts clusters, and depends on the Dirichlet's alpha",
}


def _f(v, nd=2) -> str:
    return "—" if v is None or v != v else f"{v:.{nd}f}"


def _choices(result) -> list:
    ch = result.choices()
    rows = [[LABELS[c], v["structure"], str(v["k"])] for c, v in ch.items()]
    blocks = [("h2", "The K each criterion chooses"),
              ("table", ["criterion", "structure", "K"], rows)]
    ks = Counter(v["k"] for v in ch.values())
    if len(ks) <= 1:
        return blocks + [("p", f"Every criterion chooses K = {next(iter(ks), '—')}.")]
    common = ks.most_common(1)[0][0]
    odd = [c for c, v in ch.items() if v["k"] != common]
    text = (f"The criteria differ: most choose K = {common}; "
            + "; ".join(f"{LABELS[c]} chooses K = {ch[c]['k']} because {WHY[c]}"
                        + (_smc_noise(result.tree) if c == "smc" else "") for c in odd)
            + ".")
    return blocks + [("p", text)]


def choices_markdown(result) -> str:
    """Return the table of the K each criterion chooses, and why they differ (Markdown).

    Used by the report and by the lecture's slides 28-29.
    """
    return markdown.from_blocks(_choices(result)[1:], base=".")


def _smc_noise(tree) -> str:
    """Say whether SMC's two best K's differ by more than their Monte Carlo error."""
    smc = group_or_none(tree, "smc")
    order = smc.log_ml.values.argsort()[::-1][:2]
    gap = float(smc.log_ml.values[order[0]] - smc.log_ml.values[order[1]])
    err = float((smc.log_ml_se.values[order] ** 2).sum() ** 0.5)
    ka, kb = (int(smc.k.values[i]) for i in order)
    verdict = "within" if gap <= 2 * err else "beyond"
    return (f" (here log p(y | K) for K = {ka} and K = {kb} differ by {gap:.2f}, {verdict} "
            f"twice their Monte Carlo error {err:.2f}: more SMC particles or chains would "
            "sharpen it)" if verdict == "within" else
            f" (K = {ka} beats K = {kb} by {gap:.2f}, beyond twice the Monte Carlo error "
            f"{err:.2f})")


def _em(tree) -> list:
    em_t = group_or_none(tree, "em")
    rows = [[str(s), str(int(k)), _f(em_t.log_likelihood.sel(structure=s, k=k).item(), 4),
             str(int(em_t.n_parameters.sel(structure=s, k=k))),
             *(_f(em_t[c].sel(structure=s, k=k).item(), 4)
               for c in ("bic_mclust", "bic_sklearn", "icl_mclust", "aic_sklearn")),
             str(int(em_t.n_optima.sel(structure=s, k=k))),
             "yes" if em_t.proper.sel(structure=s, k=k) else "no (spurious or degenerate)"]
            for s in em_t.structure.values for k in em_t.k.values]
    head = ["structure", "K", "log-lik", "p", "BIC (mclust, higher better)",
            "BIC (sklearn, lower better)", "ICL (mclust)", "AIC (sklearn)", "optima", "proper"]
    out = [("h2", "EM: best optimum per K and structure"), ("table", head, rows)]
    mc = json.loads(tree.attrs.get("mclust", "[]"))
    if mc:
        out += [("h3", "mclust's published values (mclust 6 vignette)"),
                ("table", ["structure", "K", "mclust BIC", "our BIC", "in our atlas",
                           "ours from mclust's start and rule", "status"],
                 [[r["structure"], str(r["k"]), _f(r["mclust_bic"], 4), _f(r["our_bic"], 4),
                   "yes" if r["in_atlas"] else "no",
                   "not run" if r.get("mclust_start_bic") is None
                   else _f(r["mclust_start_bic"], 4), r["status"]] for r in mc])]
    return out


def _lrt(tree) -> list:
    lrt = group_or_none(tree, "lrt")
    if lrt is None:
        return []
    rows = [[str(s), f"{int(k)} vs {int(k) + 1}", _f(lrt.lrts.sel(structure=s, k=k).item()),
             _f(lrt.p_value.sel(structure=s, k=k).item(), 3)]
            for s in lrt.structure.values for k in lrt.k.values]
    return [("h2", "Parametric bootstrap likelihood-ratio test (McLachlan 1987)"),
            ("p", f"{lrt.attrs['n_boot']} bootstrap data sets per test, simulated from the "
                  "K-component fit and refitted with K and K + 1 components "
                  f"({lrt.attrs['n_init']} EM restarts each); p = (1 + #{{LRTS_b >= LRTS}}) / "
                  "(B + 1), as mclust's mclustBootstrapLRT."),
            ("table", ["structure", "test", "LRTS", "p-value"], rows),
            ("p", _lrt_stops(lrt))]


def _lrt_stops(lrt) -> str:
    """Where sequential testing at 5 % stops, per structure."""
    stops = {str(s): lrt_choice(lrt, str(s)) for s in lrt.structure.values}
    text = "Sequential testing at 5 % stops at " + ", ".join(
        f"K = {'—' if k is None else k} ({s})" for s, k in stops.items())
    if None in stops.values():
        text += " (—: too few bootstrap data sets to reject at 5 %)"
    return text + "."


def _loo(tree) -> list:
    loo = group_or_none(tree, "loo")
    if loo is None:
        return []
    rows = [[str(int(k)), _f(loo.elpd_loo.sel(k=k).item()), _f(loo.se.sel(k=k).item()),
             _f(loo.p_loo.sel(k=k).item()), _f(loo.max_pareto_k.sel(k=k).item()),
             str(int(loo.n_bad_k.sel(k=k))), str(int(loo.divergences.sel(k=k)))]
            for k in loo.k.values]
    out = [("h2", f"PSIS-LOO per K (NUTS, structure {loo.attrs['structure']})"),
           ("p", f"{loo.attrs['chains']} chains of {loo.attrs['draws']} draws "
                 f"({loo.attrs['tune']} warm-up) per K; the pointwise log-likelihood has the "
                 "labels summed out."),
           ("table", ["K", "elpd_loo", "se", "p_loo", "max Pareto k",
                      f"k > {loo.attrs['pareto_k_bad']}", "divergences"], rows)]
    bad = [str(int(k)) for k in loo.k.values if loo.n_bad_k.sel(k=k) > 0]
    if bad:
        out.append(("warn", [f"PSIS-LOO is unreliable for K = {', '.join(bad)}: some Pareto k "
                             f"exceed {loo.attrs['pareto_k_bad']} (use K-fold CV or moment "
                             "matching for those K)."]))
    cmp_t = group_or_none(tree, "loo_compare")
    if cmp_t is not None:
        cols = [c for c in ("rank", "elpd", "elpd_diff", "dse", "p", "weight") if c in cmp_t]
        out += [("h3", "ArviZ's comparison (az.compare, stacking weights)"),
                ("table", ["model", *cols],
                 [[str(m), *(_f(float(cmp_t[c].sel(model=m))) for c in cols)]
                  for m in cmp_t.model.values])]
    return out


def _smc(tree) -> list:
    smc = group_or_none(tree, "smc")
    if smc is None:
        return []
    rows = [[str(int(k)), _f(smc.log_ml.sel(k=k).item()), _f(smc.log_ml_sd.sel(k=k).item()),
             _f(smc.posterior_k.sel(k=k).item(), 3)] for k in smc.k.values]
    return [("h2", f"Marginal likelihood per K (SMC, structure {smc.attrs['structure']})"),
            ("p", f"pm.sample_smc, {smc.attrs['chains']} chains of {smc.attrs['draws']} "
                  "particles per K; the estimate is the chains' mean, the spread their sd; "
                  f"{smc.attrs['prior_on_k']} prior on K."),
            ("table", ["K", "log p(y | K)", "sd across chains", "P(K | y)"], rows)]


def _overfitted(tree) -> list:
    of = group_or_none(tree, "overfitted")
    if of is None:
        return []
    rows = [[str(int(c)), _f(float(p), 3)] for c, p in zip(of.n_occupied.values,
                                                           of.p_occupied.values, strict=True)]
    return [("h2", "Overfitted mixture (sparse Dirichlet)"),
            ("p", f"{of.attrs['k_max']} components, weights ~ Dirichlet({of.attrs['alpha']}, "
                  "...); allocations drawn from their full conditional per draw "
                  f"({of.attrs['divergences']} divergences)."),
            ("table", ["non-empty components", "posterior probability"], rows)]


def write_report(result, outdir, *, command: str | None = None) -> dict[str, Path]:
    """Write report.md, report.html, figures/*.png and results.nc to ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tree: xr.DataTree = result.tree
    figs = figures.save_all(tree, outdir / "figures")

    def fig(name):
        return ([("figure", name, figs[name][1], figs[name][0])] if name in figs else [])

    t = tree.attrs
    blocks = [("h1", f"How many components? {t['name']}"),
              ("p", f"{t['n_samples']} observations, {t['n_features']} feature(s); K = 1..."
                    f"{t['k_max']}; EM structures {', '.join(json.loads(t['structures']))}; "
                    f"Bayesian side with structure {t['bayes_structure']} and the comparison's "
                    f"prior `{t['prior']}`.")]
    said = json.loads(t.get("warnings", "[]"))
    blocks += [("warn", said)] if said else []
    blocks += (_choices(result) + _em(tree) + fig("bic") + _lrt(tree) + _loo(tree)
               + fig("elpd_loo") + _smc(tree) + fig("posterior_k") + _overfitted(tree)
               + fig("occupied"))
    secs = result.timings
    blocks += [("h2", "Provenance"),
               ("ul", [f"command: `{command}`" if command else "command: Python API",
                       "seconds per part: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items())])]
    out = markdown.write_pages(blocks, outdir)
    result.to_netcdf(out.setdefault("results.nc", outdir / "results.nc"))
    return out
