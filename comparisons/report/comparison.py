"""The comparison report: Markdown and self-contained HTML rendered from one tree.

:func:`write_report` reads every number from the ``DataTree`` of a
:class:`~mixcompare.comparisons.pipeline.ComparisonResult` (nothing is recomputed), lays
the sections out once as a list of blocks (:mod:`.markdown`), writes them as
Markdown once (``report.md``, figures linked as PNG files) and renders that
Markdown to ``report.html`` (figures embedded as base64, inline CSS, no external
resource). Every file is written atomically (:mod:`mixcompare.comparisons.io`),
so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import metadata
from itertools import takewhile
from pathlib import Path

import numpy as np
import xarray as xr
from mixcompare.comparisons.io import read_attr
from mixcompare.comparisons.pipeline import metrics
from mixcompare.comparisons.report import (
    about,
    em_json,
    figures,
    markdown,
    placement,
    sensitivity,
    tail,
)
from mixcompare.comparisons.report import modes as report_modes
from mixcompare.comparisons.report.figures import group_or_none as _g
from scipy.stats import norm

__all__ = ["PACKAGES", "write_report"]

PACKAGES = ("mixcompare", "numpy", "scipy", "pymc", "arviz", "xarray")
_RHAT_NOTE = ("Note: raw R-hat is meaningless under label switching: chains in different "
              "labellings estimate different quantities.")
_PARTS = {"prior": "prior", "asymmetry": "posterior asymmetry", "modes": "several modes"}


def _fmt(v) -> str:
    """Format one cell: 4 significant digits, yes/no for booleans, a dash when missing."""
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{f:.4g}" if np.isfinite(f) else "—"


def _ll(v) -> str:
    """Format a log density to two decimals: nearby optima must stay distinguishable."""
    return "—" if v is None else f"{float(v):.2f}"


def _cell(ds: xr.Dataset | None, var: str, i: int):
    return ds[var].values[i].item() if ds is not None and var in ds else None


def _table(header: list[str], rows: list[list]) -> tuple:
    """Build a table block, dropping columns that are missing in every row."""
    cells = [[_fmt(v) if not isinstance(v, str) else v for v in r] for r in rows]
    keep = [j for j in range(len(header))
            if j == 0 or any(r[j] != "—" for r in cells)]
    return ("table", [header[j] for j in keep], [[r[j] for j in keep] for r in cells])


def _rule_text() -> str:
    """Return the agreement rule as written in the docstring of :mod:`..pipeline.metrics`."""
    lines = (metrics.__doc__ or "").splitlines()
    for i in range(1, len(lines)):
        if lines[i].startswith("---") and lines[i - 1].lower().startswith("the rule"):
            body = takewhile(str.strip, lines[i + 1:])  # up to the first blank line
            return " ".join(line.strip() for line in body).replace("``", "`")
    return f"`|z| <= {metrics.AGREE_Z:g}` with `z = (MLE - posterior mean) / posterior sd`."


def _head(tree, data_name) -> list:
    x = tree["data"]["x"].values
    d = 1 if x.ndim == 1 else x.shape[1]
    name = data_name or tree.attrs.get("name", "data")
    methods = ", ".join(np.atleast_1d(tree.attrs.get("methods", [])).astype(str))
    order = "ordered means" if int(tree.attrs.get("ordered", 0)) else "unordered labels"
    out = [("h1", f"mixcompare report: {name}"),
           ("p", f"n = {x.shape[0]} observations, d = {d}, "
                 f"K = {int(tree.attrs['n_components'])} components, structure "
                 f"`{tree.attrs.get('structure', '?')}`, {order}; methods: {methods}.")]
    out += about.section(tree, _table)
    problems = read_attr(tree, "problems", [])
    warns = read_attr(tree, "warnings", [])
    out.append(("h2", "Problems"))
    if problems or warns:
        out.append(("warn", list(problems) + [f"Warning: {w}" for w in warns]))
    else:
        out.append(("p", "No problems or warnings were recorded."))
    return out


def _level(tree) -> float:
    """Return the one interval level of the report (the tree's ``level``, 0.94 by default)."""
    return float(tree.attrs.get("level", metrics.HDI_PROB))


def _agreement(tree) -> list:
    agr = _g(tree, "comparison/agreement")
    out = [("h2", "Agreement")]
    if agr is None:
        return out + [("p", "No agreement table was computed.")]
    prob, level = float(agr.attrs.get("hdi_prob", metrics.HDI_PROB)), _level(tree)
    verdict, reason = agr.attrs.get("verdict"), agr.attrs.get("reason", "")
    has_post = "post_mean" in agr
    pooled = "agree" in agr and verdict != "not_assessable"
    if has_post and verdict == "assessable":
        out.append(("p", f"**Verdict: assessable** — {reason}. A pooled verdict per parameter "
                         "is given below."))
    elif has_post and verdict == "not_assessable":
        out.append(("warn", [f"**Verdict: not assessable** — {reason}. No pooled verdict is "
                             "given: agreement is given per mode below."]))
    out += [("p", "Rule: " + _rule_text()),
            ("p", f"Every interval in this report is at one level, {level:.0%}: the posterior "
                  f"{prob:.0%} HDI (highest-density interval), the posterior predictive band, "
                  f"EM's Wald interval (MLE ± {norm.ppf(0.5 + level / 2):.2f} SE) and the "
                  "bootstrap percentile interval. ArviZ 1.x defaults to an 89% equal-tailed "
                  f"interval (ETI); this report uses the {prob:.0%} HDI throughout.")]
    if has_post and agr.attrs.get("pooled_by") == "region masses":
        out.append(("p", "The posterior summaries pool the draws by region: each region of "
                         "the posterior (around MAP-EM's optima) carries its estimated mass, "
                         "with draws from chains confined to a region the chains rarely "
                         "entered, not the share of draws the chains spent there (see "
                         "*Tail-sensitive summaries*)."))
    if has_post and pooled and agr.attrs.get("pooled_by") == "mass":
        out.append(("p", "The chains sit in several modes: the pooled draws are weighted by "
                         "each mode's estimated mass, not by its share of chains."))
    if has_post and not pooled:
        by = ("by their estimated mass" if agr.attrs.get("pooled_by") == "mass" else
              "by their share of chains, not by their estimated mass")
        out.append(("p", f"Pooled over every chain (the draws may mix modes, weighted {by}, "
                         "or chains that have not converged): shown for reference, without a "
                         "pooled z or verdict."))
    cols = ("z", "mle_in_hdi", "agree") if pooled or not has_post else ()
    rows = []
    for i, name in enumerate(agr["name"].values):
        lo, hi = _cell(agr, "hdi_low", i), _cell(agr, "hdi_high", i)
        rows.append([str(name)] + [_cell(agr, v, i) for v in
                                   ("em", "map_em", "map", "post_mean", "post_sd")]
                    + [f"[{_fmt(lo)}, {_fmt(hi)}]" if lo is not None else "—"]
                    + [_cell(agr, v, i) if v in cols else None
                       for v in ("z", "mle_in_hdi", "agree")])
    out.append(_table(["parameter", "EM MLE", "MAP-EM", "find_MAP", "posterior mean", "sd",
                       f"{prob:.0%} HDI", "z", "MLE in HDI", "agree"], rows))
    if pooled:
        n, a, h = agr.sizes["row"], int(agr["agree"].sum()), int(agr["mle_in_hdi"].sum())
        out.append(("p", f"{a} of {n} parameters agree; the MLE lies inside the HDI "
                         f"for {h} of {n}."))
    elif not has_post:
        out.append(("p", "NUTS was not run: there is no posterior to compare EM against."))
    else:
        out += report_modes.mode_agreement(tree, _fmt, _table)
    return out + _why(tree, agr, pooled)


def _why(tree, agr, pooled: bool) -> list:
    """Why EM and the posterior differ: the distance split into its three parts."""
    if "part_prior" not in agr or "post_mean" not in agr:
        return []
    z = agr["z"].values
    idx = np.flatnonzero(np.abs(z) > metrics.AGREE_Z) if pooled else np.arange(z.size)
    out = [("h3", "Why they differ")]
    if not idx.size:
        return out + [("p", f"No parameter has |z| > {metrics.AGREE_Z:g}: no difference to "
                            "explain.")]
    cen = _g(tree, "comparison/census")
    best = report_modes.atlas_id(tree, "em" if cen is None else cen.attrs.get("atlas", "em"), 0)
    no_map = bool(np.all(np.isnan(agr["part_prior"].values)))
    out.append(("p", f"For {'each disagreeing parameter' if pooled else 'every parameter'}, "
                     "the distance from EM's MLE to the pooled posterior mean, split into three "
                     "parts that add up to it: the **prior** (MAP-EM − MLE: the same restarts "
                     "under the shared prior), the posterior's **asymmetry** (posterior mean of "
                     f"the mode at {best} − MAP-EM) and **several modes** (pooled posterior mean "
                     "− that mode's mean; 0 with one mode). The largest part in absolute value "
                     "is named."
                     + (" MAP-EM was not run: there is no prior part and the asymmetry part "
                        "starts at the MLE." if no_map else "")))
    rows = [[str(agr["name"].values[i]), _cell(agr, "z", i) if pooled else None,
             _cell(agr, "post_mean", i) - _cell(agr, "em", i)]
            + [_cell(agr, f"part_{p}", i) for p in ("prior", "asymmetry", "modes")]
            + [_PARTS.get(str(_cell(agr, "dominant", i)), str(_cell(agr, "dominant", i)))]
            for i in idx]
    return out + [_table(["parameter", "z", "posterior mean − MLE", "prior",
                          "posterior asymmetry", "several modes", "largest part"], rows)]


def _map_starts(mp) -> str:
    n, given = int(mp.attrs.get("n_starts", 0)), int(mp.attrs.get("n_given", 0))
    if not given:
        return f"{n} starts from EM's k-means++ initialisation"
    return (f"{n - given} starts from EM's k-means++ initialisation and {given} next to "
            "MAP-EM's optimum")


def _map_vs_map(tree) -> list:
    agr = _g(tree, "comparison/agreement")
    out = [("h2", "MAP-EM versus find_MAP")]
    if agr is None or "map_em_minus_map" not in agr:
        return out + [("p", "MAP-EM or find_MAP was not run.")]
    me, mp, at = _g(tree, "map_em"), _g(tree, "map"), _g(tree, "map_em/at_map")
    out.append(("p", f"Both maximise the same posterior density, so their difference should "
                     f"be round-off; more than {metrics.MAP_TOL_SD:g} posterior sd is flagged. "
                     f"MAP-EM log posterior {_ll(me.attrs.get('log_posterior'))}; find_MAP "
                     f"log density {_ll(mp.attrs.get('log_density'))} (best of "
                     f"{_map_starts(mp)})."))
    col = "map_em"
    if at is not None and "map_em_at_map" in agr:
        col = "map_em_at_map"
        out.append(("p", "find_MAP's independent starts found a higher mode than MAP-EM's "
                         "restarts did. The table compares the two at that one mode: the "
                         "MAP-EM column is MAP-EM started at find_MAP's mode (log posterior "
                         f"{_ll(at.attrs.get('log_posterior'))}); the other tables show "
                         "MAP-EM's own best optimum."))
    rows = []
    for i, name in enumerate(agr["name"].values):
        diff, sd = _cell(agr, "map_em_minus_map", i), _cell(agr, "post_sd", i)
        rows.append([str(name), _cell(agr, col, i), _cell(agr, "map", i), diff,
                     abs(diff) / sd if sd else None, _cell(agr, "map_disagree", i)])
    return out + [_table(["parameter", "MAP-EM", "find_MAP", "MAP-EM − find_MAP",
                          "|difference| / posterior sd", "flagged"], rows)]


def _hidden(tree) -> list:
    agr, se, hid = (_g(tree, p) for p in ("comparison/agreement", "em/se", "comparison/hidden"))
    out = [("h2", "What EM's point estimate hides"),
           ("p", "Posterior sd over EM's standard errors: a ratio well above 1 means EM's SE "
                 "understates the posterior's uncertainty, or the prior widens it (see below).")]
    if agr is not None:
        rows = [[str(n), _cell(agr, "em", i), _cell(se, "se_louis", i), _cell(se, "se_boot", i),
                 _cell(agr, "post_sd", i), _cell(hid, "sd_over_se_louis", i),
                 _cell(hid, "sd_over_se_boot", i)] for i, n in enumerate(agr["name"].values)]
        boot_head = "bootstrap SE"
        if se is not None and se.attrs.get("n_boot"):
            share = int(se.attrs.get("n_failed", 0)) / int(se.attrs["n_boot"])
            boot_head += f" ({share:.0%} refits failed" + (
                ", UNRELIABLE)" if not int(se.attrs.get("boot_reliable", 1)) else ")")
        out.append(_table(["parameter", "EM MLE", "Louis SE", boot_head, "posterior sd",
                           "sd / Louis SE", "sd / bootstrap SE"], rows))
    if se is not None and "se_boot" in se:
        failed, n_boot = se.attrs.get("n_failed"), se.attrs.get("n_boot")
        if failed is not None and n_boot:
            reasons = json.loads(se.attrs.get("failure_reasons", "{}") or "{}")
            why = ", ".join(f"{k}: {v}" for k, v in reasons.items())
            text = (f"Bootstrap: {int(failed)} of {int(n_boot)} refits failed "
                    f"({int(failed) / int(n_boot):.1%}{'; ' + why if why else ''}).")
            if not int(se.attrs.get("boot_reliable", 1)):
                out.append(("warn", [text + " Above "
                            f"{float(se.attrs.get('boot_failure_max', 0.1)):.0%} failed, the "
                            "bootstrap SEs and intervals are **unreliable**: the surviving refits "
                            "are not a sample of the estimator's distribution."]))
            else:
                out.append(("p", text + " The bootstrap SE and interval use the others."))
    items = []
    memb = _g(tree, "comparison/membership")
    if memb is not None:
        a = memb.attrs
        thr = _fmt(a.get("uncertainty_threshold", metrics.UNCERTAIN))
        items.append(f"{a['n_changed_label']} of {memb.sizes['obs']} observations change hard "
                     f"label between EM and the posterior; {a['n_uncertain']} have a posterior "
                     f"membership uncertainty above {thr}, against {a['n_uncertain_em']} by "
                     "EM's plug-in responsibilities.")
    dens = _g(tree, "comparison/density")
    if dens is not None:
        items.append(f"EM's plug-in density lies outside the posterior predictive "
                     f"{float(dens.attrs.get('prob', 0.94)):.0%} band on "
                     f"{float(dens.attrs['fraction_em_outside_band']):.1%} of the grid.")
    items += report_modes.mass_items(tree, _ll)
    return out + ([("ul", items)] if items else [])


def _starts_note(tree, note: str) -> str:
    """Return the pipeline's note on the starts, naming optima by their atlas identifiers."""
    cen = _g(tree, "comparison/census")
    src = "em" if cen is None else str(cen.attrs.get("atlas", "em"))
    return re.sub(r"\bEM optimum (\d+)", lambda m: ("MAP-EM" if src == "map_em" else "EM")
                  + " optimum " + report_modes.atlas_id(tree, src, int(m.group(1))), note)


def _switching(tree) -> list:
    ls, diag = _g(tree, "comparison/label_switching"), _g(tree, "comparison/diagnostics")
    out = [("h2", "Label switching")]
    if ls is None:
        return out + [("p", "NUTS was not run.")]
    a = ls.attrs
    labs = np.atleast_1d(a.get("chain_labelings", []))
    out.append(("ul", [
        f"Detected: {_fmt(bool(a.get('detected', 0)))} — {a.get('reason', '')}",
        f"Share of draws where Stephens' relabelling agrees with the pivot's: "
        f"{_fmt(a.get('stephens_agrees'))}"]))
    K, n_lab = int(tree.attrs["n_components"]), a.get("n_labellings")

    def pct(v):
        return None if v is None else f"{float(v):.1%}"

    rows = [[str(c), str(labs[c]) if c < labs.size else None, _cell(ls, "switch_events", c),
             pct(_cell(ls, "switching_rate", c)), pct(_cell(ls, "outside_main", c)),
             _cell(ls, "labellings_visited", c)] for c in range(ls.sizes["chain"])]
    out.append(_table(["chain", "main labelling", "switch events",
                       "share of consecutive draw pairs that switch",
                       "share of draws outside its main labelling",
                       f"labellings visited (of {K}! = {_fmt(n_lab)})" if n_lab
                       else "labellings visited"], rows))
    if a.get("starts_note"):
        out.append(("p", f"Starts and labels: {_starts_note(tree, str(a['starts_note']))}."))
    out.append(_table(["labelling", "share of draws"],
                      [[str(k), v] for k, v in zip(ls["labelling"].values,
                                                   ls["labelling_mass"].values, strict=True)]))
    out.append(("p", _RHAT_NOTE))
    if diag is not None:
        rows = [[str(n)] + [_cell(diag, v, i) for v in (
            "rhat_raw", "rhat_relabeled", "ess_bulk_raw", "ess_bulk_relabeled",
            "ess_tail_relabeled")] for i, n in enumerate(diag["name"].values)]
        out.append(_table(["parameter", "R-hat raw", "R-hat relabelled", "bulk ESS raw",
                           "bulk ESS relabelled", "tail ESS relabelled"], rows))
        per = ", ".join(str(int(v)) for v in np.atleast_1d(
            diag.attrs.get("divergences_per_chain", [])))
        out.append(("p", f"{_fmt(diag.attrs.get('divergences'))} divergent transitions in "
                         f"{_fmt(diag.attrs.get('n_draws'))} draws (per chain: {per})."))
    return out


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def _provenance(tree, command, seed) -> list:
    x = np.ascontiguousarray(tree["data"]["x"].values, dtype=np.float64)
    post = _g(tree, "posterior")
    a = tree.attrs
    sampler = str(a.get("sampler", "—"))
    if post is not None and "inference_library" in post.attrs:
        sampler += (f" (posterior recorded by {post.attrs['inference_library']} "
                    f"{post.attrs.get('inference_library_version', '')})").replace(" )", ")")
    rows = [[f"{p} version", _version(p)] for p in PACKAGES]
    rows += [["seed", "not recorded" if seed is None else str(seed)],
             ["command", "not recorded" if command is None else f"`{command}`"],
             ["sampler", sampler],
             ["NUTS settings", f"draws {_fmt(a.get('draws'))}, tune {_fmt(a.get('tune'))}, "
                               f"chains {_fmt(a.get('chains'))}, init {a.get('init', '—')}"],
             ["EM settings", f"n_init {_fmt(a.get('n_init'))}{em_json.restarts_note(a)}, "
                             f"n_boot {_fmt(a.get('n_boot'))}"],
             ["data sha256", f"`{hashlib.sha256(x.tobytes()).hexdigest()}`"]]
    timings = read_attr(tree, "timings", {})
    return [("h2", "Provenance"), _table(["item", "value"], rows),
            ("h3", "Timings (seconds)"),
            _table(["step", "seconds"], [[k, float(v)] for k, v in timings.items()]),
            ("h3", "Prior (shared by MAP-EM and the PyMC model)"),
            _table(["hyperparameter", "value"],
                   [[k, _fmt(v)] for k, v in read_attr(tree, "prior", {}).items()])]


def _blocks(tree, figs, *, command, seed, data_name) -> list:
    head = _head(tree, data_name)
    cut = next(i for i, b in enumerate(head) if b == ("h2", "Problems"))
    return (head[:cut] + placement.blocks(figs, "head") + head[cut:]
            + _agreement(tree) + placement.blocks(figs, "agreement") + _map_vs_map(tree)
            + _hidden(tree) + placement.blocks(figs, "hidden")
            + sensitivity.section(tree, _fmt, _table) + _switching(tree)
            + placement.blocks(figs, "switching") + tail.section(tree, _fmt, _table)
            + report_modes.section(tree, _fmt, _table) + placement.blocks(figs, "modes")
            + report_modes.atlas_section(tree, _fmt, _table) + placement.blocks(figs, "atlas")
            + _provenance(tree, command, seed))


def write_report(result, outdir, *, command=None, seed=None,
                 data_name=None) -> dict[str, Path]:
    """Write the comparison report, its figures and the full results to a folder.

    Parameters
    ----------
    result : mixcompare.comparisons.pipeline.ComparisonResult
        The comparison to report; only its ``tree`` is read.
    outdir : str or Path
        Output folder, created if needed.
    command : str, optional
        The command line that produced the result (for provenance).
    seed : int, optional
        The seed given to :func:`mixcompare.comparisons.pipeline.compare` (for provenance).
    data_name : str, optional
        Data set name for the title; the tree's ``name`` attribute by default.

    Returns
    -------
    dict of str to Path
        Every written file keyed by its path relative to ``outdir``:
        ``report.md``, ``report.html``, ``results.nc`` and ``figures/<name>.png``.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    tree = result.tree
    figdir = outdir / "figures"
    figs = figures.save_all(tree, figdir)
    for name in set(figures.FIGURES) - set(figs):  # no stale figure from an earlier run
        (figdir / f"{name}.png").unlink(missing_ok=True)
    blocks = _blocks(tree, figs, command=command, seed=seed, data_name=data_name)
    out = markdown.write_pages(blocks, outdir)
    result.to_netcdf(out.setdefault("results.nc", outdir / "results.nc"))
    out.update({f"figures/{name}.png": path for name, path in figs.items()})
    return out
