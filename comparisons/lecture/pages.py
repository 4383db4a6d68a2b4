"""The pages of the EM lecture: figures, Markdown/CSV tables, ``index.md`` and ``captions.md``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from mixcompare.comparisons.io import write_text_atomic
from mixcompare.comparisons.lecture.figures import (
    CAPTIONS,
    DEPTH,
    fig_atlas,
    fig_basins,
    fig_cem_bias,
    fig_iterations,
    fig_paths,
    fig_posterior,
    fig_profile,
    fig_surface,
    save,
)
from mixcompare.comparisons.report.markdown import frame_table

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


def write_lecture(out: Path, b, post: dict, table: pd.DataFrame, bias: xr.Dataset, cpg, gal, *,
                  seed: int, quick: bool, n_init: int, cpg_note: str = "") -> list[Path]:
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

    Returns
    -------
    list of Path
        Every file written.
    """
    from mixcompare.comparisons.report import figures

    out.mkdir(parents=True, exist_ok=True)
    files, caps = [], []
    md = [f"# The EM lecture, reproduced\n\n`mixcompare lecture`, seed {seed}"
          f"{', quick settings' if quick else ''}.\n"]

    def figure(name, fig, caption):
        files.append(save(fig, out / f"{name}.png"))
        caps.append((f"{name}.png", caption))
        md.append(f"![{name}]({name}.png)\n\n*{caption}*\n")

    def tab(name, df, intro):
        text = md_table(df)
        files.extend([write_text_atomic(out / "tables" / f"{name}.md", text),
                      write_text_atomic(out / "tables" / f"{name}.csv", df.to_csv(index=False))])
        md.append(f"{intro} (`tables/{name}.csv`):\n\n{text}")

    md.append("## 1. Nine points, four bumps\n\nData -10.2, -10, -9.8, -0.2, 0, 0.2, 11.8, "
              "12, 12.2; sigma1 = sigma2 = 1 and tau1 = tau2 = 0.5 fixed, only the means free.\n")
    figure("bumps_surface", fig_surface(b.surface), CAPTIONS["bumps_surface"].format(
        depth=DEPTH))
    tab("bumps_optima", b.optima, "The local maxima, their log-likelihoods and the share of "
        "the grid's starts that EM and CEM bring to each")
    figure("bumps_profile", fig_profile(b.profile, b.surface), CAPTIONS["bumps_profile"])
    figure("bumps_paths", fig_paths(b.surface, b.paths_em, b.paths_cem), CAPTIONS["bumps_paths"])
    figure("bumps_basins", fig_basins(b.surface, b.basin_em, b.basin_cem),
           CAPTIONS["bumps_basins"])
    figure("bumps_posterior", fig_posterior(b.surface, post), CAPTIONS["bumps_posterior"])
    start = ", ".join(f"{v:g}" for v in table[["mu1", "mu2"]].values[0])
    md.append("## 2. Converged after two iterations\n")
    tab("two_iterations", table, f"EM from means ({start}), sigma = 1 and tau = 0.5 fixed")
    figure("two_iterations", fig_iterations(table), CAPTIONS["two_iterations"].format(
        start=start))
    md.append("## 3. Classification EM against EM\n")
    tab("cem_bias", bias[["bias", "bias_se"]].to_dataframe().reset_index(),
        f"Bias of |mu2 - mu1| ({bias.attrs['model']})")
    figure("cem_bias", fig_cem_bias(bias), CAPTIONS["cem_bias"].format(
        reps=bias.sizes["replicate"], n=bias.attrs["n"], posterior=bias.attrs["posterior"]))
    md.append(f"## 4. CpG o/e ratios: EM, MAP and NUTS\n\n{cpg_note}\n")
    summ = cpg.summary()
    agr = pd.DataFrame(summ["agreement"]["rows"])
    keep = [c for c in ("name", "em", "map_em", "map", "post_mean", "post_sd", "hdi_low",
                        "hdi_high", "z", "agree") if c in agr and agr[c].notna().any()]
    tab("cpg_agreement", agr[keep], "Estimates and agreement")
    md.append("What the posterior adds:\n\n" + "".join(f"- {t}\n" for t in _posterior_adds(summ)))
    for name, path in figures.save_all(cpg.tree, out / "cpg").items():
        files.append(path)
        cap = f"CpG: {figures.CAPTIONS.get(name, name)}"
        caps.append((f"cpg/{name}.png", cap))
        md.append(f"![{name}](cpg/{name}.png)\n\n*{cap}*\n")
    md.append("## 5. EM converges to a local, not global, maximum\n")
    cen = gal.summary()["nuts"]["census"]
    tab("galaxies_atlas", _atlas_table(gal.tree), "Galaxies, K = 3: EM's atlas of optima")
    md.append(f"Posterior census: **{cen['kind']}** ({cen['reason']}).\n")
    figure("galaxies_atlas", fig_atlas(gal.tree), CAPTIONS["galaxies_atlas"].format(
        n_init=n_init, census=f"{cen['kind']} ({cen['reason']})"))
    files.append(write_text_atomic(out / "index.md", "\n".join(md)))
    files.append(write_text_atomic(out / "captions.md", "# Figures and captions\n\n" + "".join(
        f"- `{name}`: {cap}\n" for name, cap in caps)))
    return files
