"""The study report: tables and coverage plots, as Markdown and self-contained HTML.

Everything is read from a :class:`~mixcompare.comparisons.study.run.StudyResult`; the
sections are laid out once as blocks (:mod:`mixcompare.comparisons.report.markdown`),
written as Markdown once (``report.md``, linked PNG figures) and that Markdown is
rendered to ``report.html`` (figures embedded). Figures are plain matplotlib
``Figure`` objects on an Agg canvas (no pyplot state).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from mixcompare.comparisons.io import save_figure_atomic, write_text_atomic
from mixcompare.comparisons.report import markdown

from .aggregate import BLOCKS, has_intervals

__all__ = ["coverage_figure", "write_report"]


def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}g}"
    return str(v)


def _pm(v, se) -> str:
    return "—" if not np.isfinite(v) else (f"{v:.3f} ± {se:.3f}" if np.isfinite(se)
                                            else f"{v:.3f}")


def _panels(blocks: pd.DataFrame) -> list:
    keys = ["separation", "weights", "K", "structure"]
    return list(blocks[keys].drop_duplicates().itertuples(index=False, name=None))


def coverage_figure(blocks: pd.DataFrame, block: str, level: float, *,
                    column: str = "coverage") -> Figure | None:
    """Coverage (or another column) of a parameter block against n, one line per method.

    Parameters
    ----------
    blocks : pandas.DataFrame
        :func:`mixcompare.comparisons.study.aggregate.block_summary`.
    block : {"weights", "means", "sds"}
    level : float
        Nominal level, drawn as a horizontal line (coverage only).
    column : str, default "coverage"
        ``"coverage"`` (error bars: 2 Monte Carlo standard errors) or
        ``"rmse"`` (error bars: 2 MCSE).

    Returns
    -------
    matplotlib.figure.Figure or None
        One panel per combination of separation, weights, K and structure;
        None when no method has values.
    """
    df = blocks[blocks["block"] == block]
    if column == "coverage":
        df = df[df["method"].map(has_intervals)]
    df = df[np.isfinite(df[column])]
    if df.empty:
        return None
    panels = _panels(df)
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig = Figure(figsize=(4.2 * ncol, 3.3 * nrow), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False).ravel())
    methods = list(dict.fromkeys(df["method"]))
    colors = {m: f"C{i}" for i, m in enumerate(methods)}
    for ax, (sep, w, K, st) in zip(axes, panels, strict=False):
        sub = df[(df["separation"] == sep) & (df["weights"] == w) & (df["K"] == K)
                 & (df["structure"] == st)]
        for i, m in enumerate(methods):
            g = sub[sub["method"] == m].sort_values("n")
            if g.empty:
                continue
            x = g["n"].to_numpy(float) * (1 + 0.02 * (i - (len(methods) - 1) / 2))
            y = g[column].to_numpy(float)
            err = 2 * g[f"{column}_mcse"].fillna(0).to_numpy()
            if column == "coverage":  # a proportion: bars clipped to [0, 1]
                err = np.stack([np.minimum(err, y), np.minimum(err, 1 - y)])
            ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=m,
                        color=colors[m])
        if column == "coverage":
            ax.axhline(level, color="0.3", lw=1, ls="--")
        ax.set_xscale("log")
        ns = sorted(sub["n"].unique())
        ax.set_xticks(ns, [str(v) for v in ns])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("n")
        ax.set_ylabel(f"{column} of {block}")
        ax.set_title(f"sep {sep:g}, w {w}, K {K}, {st}", fontsize=9)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    return fig


def _table(df: pd.DataFrame, value, cols: list[str] | None = None) -> tuple:
    """Cells as rows, methods as columns, ``value(row)`` in each cell."""
    methods = cols or list(dict.fromkeys(df["method"]))
    rows = []
    for _, g in df.groupby("cell", sort=True):
        r = g.iloc[0]
        label = f"n={r['n']} sep={r['separation']:g} w={r['weights']} K={r['K']} {r['structure']}"
        by = {row["method"]: row for _, row in g.iterrows()}
        rows.append([label] + [value(by[m]) if m in by else "—" for m in methods])
    return ("table", ["cell"] + methods, rows)


def _blocks(res, figs: dict) -> list:
    cfg = res.config
    out = [("h1", f"Simulation study: {cfg.name}"),
           ("p", f"{len(cfg.cells)} cells × {cfg.replicates} replicates, seed {cfg.seed}, "
                 f"nominal level {cfg.level:g}; methods: {', '.join(cfg.fit_methods)}. "
                 f"{len(res.records)} replicate records on disk."),
           ("p", "Intervals: `em_louis` Wald intervals from Louis' observed information "
                 "(log scale for sds, logit for weights); `em_bootstrap` percentile intervals "
                 f"of {cfg.em.n_boot} nonparametric bootstrap refits; `nuts_*` central "
                 "credible intervals (equal-tailed). Every fit is aligned to the truth by "
                 "optimal assignment (`em.match_components`), never by sorting; the unordered "
                 "posterior is first relabelled to the MAP-EM (or EM) pivot. Coverage is "
                 "computed over the fits that succeeded; ± is one Monte Carlo standard error.")]
    b = res.blocks
    if b.empty:
        return out + [("p", "No replicate has finished yet.")]
    for block in BLOCKS:
        sub = b[(b["block"] == block) & b["method"].map(has_intervals)]
        if not sub.empty:
            out.append(("h2", f"Coverage of the {block}"))
            out.append(_table(sub, lambda r: _pm(r["coverage"], r["coverage_mcse"])))
            if f"coverage_{block}" in figs:
                out.append(("figure", f"coverage of the {block}",
                            f"Coverage of the {block} (mean over components) against n, with "
                            "± 2 Monte Carlo standard errors; dashed: nominal level.",
                            figs[f"coverage_{block}"]))
    for block in BLOCKS:
        sub = b[b["block"] == block]
        out.append(("h2", f"Bias and RMSE of the {block}"))
        out.append(("p", "Mean over components of |bias|, then RMSE (per-parameter values "
                         "with Monte Carlo standard errors: `parameters.csv`)."))
        out.append(_table(sub, lambda r: f"{_f(r['abs_bias'])} / {_f(r['rmse'])}"))
        if f"rmse_{block}" in figs:
            out.append(("figure", f"RMSE of the {block}",
                        f"RMSE of the {block} (over replicates and components) against n, with "
                        "± 2 Monte Carlo standard errors.", figs[f"rmse_{block}"]))
    out.append(("h2", "Interval width of the means"))
    sub = b[(b["block"] == "means") & b["method"].map(has_intervals)]
    if not sub.empty:
        out.append(_table(sub, lambda r: _f(r["width"])))
    m = res.methods
    out.append(("h2", "Failures and sampler diagnostics"))
    out.append(_table(m, lambda r: f"{_f(r['failure_rate'])}"))
    nuts = m[m["method"].str.startswith("nuts")]
    if not nuts.empty:
        out.append(("p", "NUTS per cell: share of fits with divergences / with R-hat > 1.01 / "
                         "with label switching detected."))
        out.append(_table(nuts, lambda r: f"{_f(r['divergent_share'])} / "
                                          f"{_f(r['rhat_gt_1_01'])} / "
                                          f"{_f(r['switching_share'])}"))
    reasons = m[m["top_reason"] != ""]
    if not reasons.empty:
        out.append(("ul", [f"cell {r['cell']}, {r['method']}: {r['n_failed']} failed, e.g. "
                           f"{r['top_reason']}" for _, r in reasons.iterrows()]))
    out.append(("h2", "Time and compiled-model reuse"))
    out.append(_table(res.timings, lambda r: _f(r["median_seconds"])))
    items = [f"{meth}: first fit of a model {_f(r['fresh_median'])} s (median of "
             f"{r['n_fresh']}), later fits {_f(r['reused_median'])} s (median of "
             f"{r['n_reused']}): ratio {_f(r['ratio'])}"
             + (f", {_f(r['overhead_ratio'])} without the sampling itself (what reuse can "
                "remove)" if "overhead_ratio" in r else "")
             for meth, r in res.reuse.items()]
    out.append(("ul", items or ["no PyMC fit in this study"]))
    return out


def write_report(res, outdir) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` for a study.

    Parameters
    ----------
    res : StudyResult
    outdir : str or Path

    Returns
    -------
    dict of str to Path
        Every written file keyed by its path relative to ``outdir``.
    """
    outdir = Path(outdir)
    figdir = outdir / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    figs = {}
    if not res.blocks.empty:
        for block in BLOCKS:
            for col in ("coverage", "rmse"):
                fig = coverage_figure(res.blocks, block, res.config.level, column=col)
                if fig is not None:
                    figs[f"{col}_{block}"] = save_figure_atomic(
                        fig, figdir / f"{col}_{block}.png", dpi=100)
    blocks = _blocks(res, figs)
    text = markdown.from_blocks(blocks, outdir)
    files = {"report.md": write_text_atomic(outdir / "report.md", text),
             "report.html": write_text_atomic(outdir / "report.html", markdown.html_page(
                 text, title=blocks[0][1], base=outdir))}
    files.update({f"figures/{k}.png": p for k, p in figs.items()})
    return files
