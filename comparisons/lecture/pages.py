"""The pages of the EM lecture: figures, Markdown/CSV tables, ``index.md`` and ``captions.md``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from mixcompare.comparisons.io import write_text_atomic
from mixcompare.comparisons.lecture.figures import (
    CAPTIONS,
    DEPTH,
    GRID_CAPTION,
    fig_atlas,
    fig_basins,
    fig_cem_bias,
    fig_iterations,
    fig_paths,
    fig_posterior,
    fig_profile,
    save,
)
from mixcompare.comparisons.lecture.figures_slides import fig_k_choice, fig_surface
from mixcompare.comparisons.report.markdown import frame_table

from . import pages_slides

__all__ = ["md_table", "write_lecture"]


# ------------------------------------------------------------------------------ the pages
def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.5g}"
    return str(v)


def md_table(df: pd.DataFrame) -> str:
    """Render a DataFrame as a Markdown table (floats to 5 significant digits), newline-ended."""
    return frame_table(df, _fmt) + "\n"


def _atlas_table(tree: xr.DataTree) -> pd.DataFrame:
    opt = tree["em/optima"].to_dataset()
    return pd.DataFrame({
        "optimum": opt["optimum"].values, "log_likelihood": opt["log_likelihood"].values,
        "restarts": opt["count"].values, "basin_share": opt["basin_share"].values,
        "means": [", ".join(f"{m:.3f}" for m in row) for row in opt["means"].values],
        "weights": [", ".join(f"{w:.3f}" for w in row) for row in opt["weights"].values],
        "degenerate": opt["degenerate"].values.astype(bool)})


def _posterior_adds(summary: dict) -> list[str]:
    """List what the posterior adds to EM's point estimate, from ``summary.json``."""
    h, agr = summary["hidden_spread"], summary["agreement"]
    rows = agr["rows"]
    if agr.get("verdict") == "not_assessable":
        out = [f"no pooled verdict on EM against the posterior: {agr.get('reason')}"]
    else:
        out = [f"{sum(r.get('agree') is True for r in rows)} of {len(rows)} parameters agree "
               f"({agr['rule']})"]
    ratios = [r["sd_over_se_louis"] for r in h["rows"] if r.get("sd_over_se_louis") is not None]
    if ratios:
        out.append(f"posterior sd / EM's Louis standard error: {min(ratios):.2f} to "
                   f"{max(ratios):.2f}")
    if "n_uncertain" in h:
        out.append(f"{h['n_uncertain']} observations have membership uncertainty above 0.2 "
                   f"under the posterior ({h['n_uncertain_em']} by EM's plug-in "
                   f"responsibilities); {h['n_changed_label']} change hard label")
    if h.get("fraction_em_outside_band") is not None:
        out.append("EM's plug-in density is outside the 94 % posterior predictive band on "
                   f"{h['fraction_em_outside_band']:.0%} of the grid")
    if summary.get("nuts"):
        out.append(f"label switching: {summary['nuts']['label_switching']['reason']}; "
                   f"census: {summary['nuts']['census']['kind']}")
    return out + [f"problem: {p}" for p in summary["problems"]]


class _Page:
    """Collects the Markdown of ``index.md``, the captions and the files written."""

    def __init__(self, out: Path, head: str):
        self.out, self.files, self.caps, self.md = out, [], [], [head]

    def text(self, text: str):
        self.md.append(text)

    def figure(self, name, fig, caption):
        self.files.append(save(fig, self.out / f"{name}.png"))
        self.caps.append((f"{name}.png", caption))
        self.md.append(f"![{name}]({name}.png)\n\n*{caption}*\n")

    def table(self, name, df, intro):
        text = md_table(df)
        self.files.extend([
            write_text_atomic(self.out / "tables" / f"{name}.md", text),
            write_text_atomic(self.out / "tables" / f"{name}.csv", df.to_csv(index=False))])
        self.md.append(f"{intro} (`tables/{name}.csv`):\n\n{text}")


def _k_panel(p: _Page, panel) -> None:
    """Slide 29 answered by EM's criteria and the posterior's side by side (``choose-k``)."""
    from mixcompare.comparisons.choosek import figures as kfigures
    from mixcompare.comparisons.choosek.report import choices_markdown

    t = panel.tree.attrs
    parts = ", ".join(json.loads(t["parts"]))
    p.text("### The K-choice panel: EM's answers beside the posterior's\n\n"
           f"`mixcompare choose-k` on the same data, K = 1..{t['k_max']}, EM with equal and "
           f"unequal variances, the Bayesian side ({t['bayes_structure']} variances) under the "
           f"comparison's prior; parts run here: {parts}"
           + ("" if "smc" in parts else " (the full settings add SMC's P(K | y))")
           + "; `mixcompare choose-k cpg --k-max 3` adds the bootstrap LRT, PSIS-LOO and the "
           "overfitted mixture. "
           "Notebook 01 §0 runs the same panel with CI's sizes.\n\n"
           + choices_markdown(panel))
    for name, (path, cap) in kfigures.save_all(panel.tree, p.out / "kchoice").items():
        p.files.append(path)
        p.caps.append((f"kchoice/{name}.png", f"Slide 29, K-choice panel: {cap}"))
        p.text(f"![{name}](kchoice/{name}.png)\n\n*Slide 29, K-choice panel: {cap}*\n")


def _theory_sections(p: _Page, th: dict, b, post, table):
    """Sections 0-4: slides 28-29, 31, 32-35, 36-41 and 42."""
    p.text("## 0. Slides 28-29: one Gaussian or two?\n")
    mle = th["mle"]
    p.text(f"Slide 28 fits one Gaussian in closed form: $\\hat\\mu = \\bar x = "
           f"{mle['mean']:.4f}$, $\\hat\\sigma^2 = \\frac1n \\sum_i (x_i - \\bar x)^2 = "
           f"{mle['variance']:.5f}$, $\\ell = -\\frac n2 (\\log 2\\pi\\hat\\sigma^2 + 1) = "
           f"{mle['loglik']:.3f}$ (the simulated CpG data of §6, n = {mle['n']}). Slide 29 asks "
           "whether one Gaussian or two describe the data; EM's criteria answer (mclust's "
           "convention: higher is better; scikit-learn's: lower is better).\n")
    p.table("k_choice", th["k_table"], "One Gaussian (K = 1) against two (K = 2)")
    p.figure("one_or_two", fig_k_choice(th["x"], mle, th["k_fits"], th["k_table"]),
             CAPTIONS["one_or_two"])
    _k_panel(p, th["k_panel"])
    p.text(pages_slides.model_section(b.surface.attrs["n_obs"], b.surface.attrs["variances"][0],
                                      b.surface.attrs["weights"]))
    x9 = ", ".join(f"{v:g}" for v in th["x9"])
    p.text(f"## 2. Slides 32-35: nine points, four bumps\n\nData {x9}; sigma1 = sigma2 = 1 "
           "and tau1 = tau2 = 0.5 fixed, only the means free; axes -20..20 as on the slide.\n")
    p.figure("bumps_surface", fig_surface(b.surface), CAPTIONS["bumps_surface"].format(
        depth=DEPTH))
    p.table("bumps_optima", b.optima, "The local maxima, their log-likelihoods and the share "
            "of the grid's starts that EM and CEM bring to each")
    p.figure("bumps_profile", fig_profile(b.profile, b.surface), CAPTIONS["bumps_profile"])
    p.figure("bumps_paths", fig_paths(b.surface, b.paths_em, b.paths_cem),
             CAPTIONS["bumps_paths"])
    p.figure("bumps_basins", fig_basins(b.surface, b.basin_em, b.basin_cem),
             CAPTIONS["bumps_basins"])
    grid = "mode" in post  # quick mode: the exact posterior on a grid instead of NUTS
    p.figure("bumps_posterior", fig_posterior(b.surface, post),
             GRID_CAPTION if grid else CAPTIONS["bumps_posterior"])
    if grid:
        p.text(pages_slides.grid_posterior_note(post["unordered"].attrs))
    p.text(pages_slides.estep_section(th["worked"]))
    p.text(pages_slides.mstep_section(th["resp"]))
    start = ", ".join(f"{v:g}" for v in table[["mu1", "mu2"]].values[0])
    p.text("## 4. Slide 42: converged after two iterations\n\n"
           + pages_slides.stand_in_note(th["resp"]["x"].values, table[["mu1", "mu2"]].values[0]))
    p.table("two_iterations", table, f"EM from means ({start}), sigma = 1 and tau = 0.5 fixed")
    p.table("responsibilities", th["resp"].round(6), "Every point's responsibilities "
            "(r1: component 1, r2: component 2) in the E-step of iterations 1 and 2")
    p.figure("two_iterations", fig_iterations(table), CAPTIONS["two_iterations"].format(
        start=start))


def write_lecture(out: Path, b, post: dict, table: pd.DataFrame, bias: xr.Dataset, cpg, gal, *,
                  seed: int, quick: bool, n_init: int, theory: dict,
                  cpg_note: str = "") -> list[Path]:
    """Write every figure and table of the lecture with ``index.md`` and ``captions.md``.

    Parameters
    ----------
    out : Path
        Output folder (created).
    b, post, table, bias, cpg, gal
        What :mod:`mixcompare.comparisons.lecture`'s ``bumps``, ``bumps_posterior``,
        ``iteration_table``, ``cem_bias``, ``cpg_comparison`` and
        ``galaxies_atlas`` returned.
    seed, quick, n_init, cpg_note
        The seed, the settings, the galaxies restarts and the CpG settings
        (one line), for the text.
    theory : dict
        Slides 28-29 and 36-42 (:mod:`.command`): ``x`` (the CpG data),
        ``mle``, ``k_table``, ``k_fits``, ``x9`` (the nine points), ``worked``,
        ``resp`` and ``cpg`` (the data set).

    Returns
    -------
    list of Path
        Every file written.
    """
    from mixcompare.comparisons.report import figures

    out.mkdir(parents=True, exist_ok=True)
    p = _Page(out, f"# The EM lecture, reproduced\n\n`mixcompare lecture`, seed {seed}"
                   f"{', quick settings' if quick else ''}.\n\n" + pages_slides.slide_index())
    _theory_sections(p, theory, b, post, table)
    p.text("## 5. Classification EM against EM\n")
    p.table("cem_bias", bias[["bias", "bias_se"]].to_dataframe().reset_index(),
            f"Bias of |mu2 - mu1| ({bias.attrs['model']})")
    p.figure("cem_bias", fig_cem_bias(bias), CAPTIONS["cem_bias"].format(
        reps=bias.sizes["replicate"], n=bias.attrs["n"], posterior=bias.attrs["posterior"]))
    ds = theory["cpg"]
    p.text("## 6. Slide 30: CpG o/e ratios (simulated): EM, MAP and NUTS\n\n"
           + pages_slides.cpg_intro(ds.description, ds.source) + f"\n{cpg_note}\n")
    summ = cpg.summary()
    agr = pd.DataFrame(summ["agreement"]["rows"])
    keep = [c for c in ("name", "em", "map_em", "map", "post_mean", "post_sd", "hdi_low",
                        "hdi_high", "z", "agree") if c in agr and agr[c].notna().any()]
    p.table("cpg_agreement", agr[keep], "Estimates and agreement")
    if "map_em_minus_map" in agr and agr["map_em_minus_map"].notna().any():
        gap = float(np.nanmax(np.abs(agr["map_em_minus_map"].astype(float))))
        p.text(f"MAP-EM and `find_MAP` maximise the same posterior density; their largest "
               f"difference here is {gap:.1e} (parameter units).\n")
    p.text("What the posterior adds:\n\n" + "".join(f"- {t}\n" for t in _posterior_adds(summ)))
    for name, path in figures.save_all(cpg.tree, out / "cpg").items():
        p.files.append(path)
        cap = f"CpG (simulated): {figures.CAPTIONS.get(name, name)}"
        p.caps.append((f"cpg/{name}.png", cap))
        p.text(f"![{name}](cpg/{name}.png)\n\n*{cap}*\n")
    p.text("## 7. EM converges to a local, not global, maximum\n")
    nuts = gal.summary().get("nuts")
    p.table("galaxies_atlas", _atlas_table(gal.tree), "Galaxies, K = 3: EM's atlas of optima")
    if nuts:
        cen = nuts["census"]
        census = f"{cen['kind']} ({cen['reason']})"
        p.text(f"Posterior census: **{cen['kind']}** ({cen['reason']}).\n")
    else:
        census = "not run (--quick)"
        p.text("Posterior census: NUTS: run without --quick (the chains started over the "
               "atlas and the right panel's shares of draws are left to the full run).\n")
    p.figure("galaxies_atlas", fig_atlas(gal.tree), CAPTIONS["galaxies_atlas"].format(
        n_init=n_init, census=census))
    p.files.append(write_text_atomic(out / "index.md", "\n".join(p.md)))
    p.files.append(write_text_atomic(out / "captions.md", "# Figures and captions\n\n" + "".join(
        f"- `{name}`: {cap}\n" for name, cap in p.caps)))
    return p.files
