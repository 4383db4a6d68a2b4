"""The study report: tables and coverage plots, as Markdown and self-contained HTML.

Everything is read from a :class:`~mixcompare.comparisons.study.run.StudyResult`; the
sections are laid out once as blocks and rendered twice (``report.md`` with
linked PNG figures, ``report.html`` with the figures embedded). Figures are
plain matplotlib ``Figure`` objects on an Agg canvas (no pyplot state).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from .aggregate import BLOCKS, has_intervals
from .store import write_text_atomic

__all__ = ["coverage_figure", "write_report"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:68rem;margin:2rem auto;padding:0 1rem;
line-height:1.45;color:#222}h2{border-bottom:1px solid #ccc;margin-top:2rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.88rem}th,td{border:1px solid #ddd;
padding:.2rem .5rem}th{background:#f3f3f3}td{text-align:right}td:first-child{text-align:left}
img{max-width:100%}figcaption{font-style:italic;color:#444}"""


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


def _save(fig: Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return write_text_atomic(path, buf.getvalue())


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


def _markdown(blocks: list, outdir: Path) -> str:
    parts = []
    for b in blocks:
        if b[0] in ("h1", "h2"):
            parts.append("#" * int(b[0][1]) + " " + b[1])
        elif b[0] == "p":
            parts.append(b[1])
        elif b[0] == "ul":
            parts.append("\n".join(f"- {s}" for s in b[1]))
        elif b[0] == "table":
            lines = ["| " + " | ".join(b[1]) + " |", "|" + "---|" * len(b[1])]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |"
                      for r in b[2]]
            parts.append("\n".join(lines))
        elif b[0] == "figure":
            parts.append(f"![{b[1]}]({b[3].relative_to(outdir).as_posix()})\n\n*{b[2]}*")
    return "\n\n".join(parts) + "\n"


def _html(blocks: list) -> str:
    def esc(s):
        return html.escape(str(s), quote=False)

    body = []
    for b in blocks:
        if b[0] in ("h1", "h2"):
            body.append(f"<{b[0]}>{esc(b[1])}</{b[0]}>")
        elif b[0] == "p":
            body.append(f"<p>{esc(b[1])}</p>")
        elif b[0] == "ul":
            body.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in b[1]) + "</ul>")
        elif b[0] == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in b[1])
            rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>"
                           for r in b[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b[0] == "figure":
            data = base64.b64encode(b[3].read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(b[1])}" '
                        f'src="data:image/png;base64,{data}"><figcaption>{esc(b[2])}'
                        "</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(blocks[0][1])}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


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
                    figs[f"{col}_{block}"] = _save(fig, figdir / f"{col}_{block}.png")
    blocks = _blocks(res, figs)
    files = {"report.md": write_text_atomic(outdir / "report.md", _markdown(blocks, outdir)),
             "report.html": write_text_atomic(outdir / "report.html", _html(blocks))}
    files.update({f"figures/{k}.png": p for k, p in figs.items()})
    return files
