"""The report's verdicts (issue #13): a pooled verdict only when assessable, agreement per mode,
why EM and the posterior differ, honest label switching, atlas identifiers and one interval
level. Two small real comparisons (PyMC compiles: ~30 s in all)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import ComparisonResult, compare
from mixcompare.comparisons.report import figures
from mixcompare.comparisons.report import modes as report_modes
from mixcompare.comparisons.report.comparison import write_report

PARTS = {"prior": "prior", "asymmetry": "posterior asymmetry", "modes": "several modes"}


@pytest.fixture(scope="module")
def three():
    """Three far-apart clusters fitted with K = 2: chains settle in two modes."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 1.0, 100) for c in (-30.0, 0.0, 30.0)])
    return compare(x, 2, methods=("em", "map_em", "nuts"), init="atlas", draws=200, tune=300,
                   chains=4, n_init=20, n_boot=0, rng=1)


@pytest.fixture(scope="module")
def faithful():
    """One mode, converged: the pooled verdict is assessable.

    1000 draws and 1000 tuning steps per chain (the defaults): with 300 the relabelled
    R-hat of this well-mixed posterior sits near the 1.01 threshold, so whether it
    passed depended on the seed.
    """
    return compare(datasets.load("faithful").X, 2, draws=1000, tune=1000, n_boot=20, rng=0,
                   name="faithful")


def _write(result, path):
    files = write_report(result, path)
    return (files["report.md"].read_text(encoding="utf-8"),
            files["report.html"].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def three_report(three, tmp_path_factory):
    return _write(three, tmp_path_factory.mktemp("three"))


@pytest.fixture(scope="module")
def faithful_report(faithful, tmp_path_factory):
    return _write(faithful, tmp_path_factory.mktemp("faithful"))


def _section(md: str, title: str) -> str:
    start = md.index(f"## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start:] if end < 0 else md[start:end]


def _tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of ``text`` as rows of cells (header first, rule dropped)."""
    out, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                cur.append([c.strip() for c in line.strip("|").split(" | ")])
        elif cur:
            out.append(cur)
            cur = []
    return out


def _legend(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends + [a.get_legend() for a in fig.axes]
            if leg is not None for t in leg.get_texts()]


# ----------------------------------------------------------------- several modes
def test_tree_is_not_assessable(three):
    agr = three.tree["comparison/agreement"]
    assert agr.attrs["verdict"] == "not_assessable"
    assert "agree" not in agr.to_dataset()
    assert three.tree["comparison/census"].attrs["kind"] == "several modes"


def test_not_assessable_shows_no_pooled_verdict(three, three_report):
    md, _ = three_report
    agr = _section(md, "Agreement")
    reason = three.tree["comparison/agreement"].attrs["reason"]
    assert f"**Verdict: not assessable** — {reason}" in agr
    assert agr.index("not assessable") < agr.index("| parameter")  # before any table
    assert "parameters agree" not in md
    pooled = _tables(agr)[0]
    assert pooled[0][0] == "parameter" and "posterior mean" in pooled[0]
    assert not {"agree", "z", "MLE in HDI"} & set(pooled[0])


def test_not_assessable_shows_the_per_mode_tables(three, three_report):
    md, _ = three_report
    agr = _section(md, "Agreement")
    am = three.tree["comparison/agreement_modes"].to_dataset()
    ids = three.tree["comparison/census"]["optimum_id"].values.astype(str)
    assert "### Agreement per mode" in agr
    per_mode = [t for t in _tables(agr) if t[0][1].startswith("value at ")]
    assert len(per_mode) == am.sizes["mode"] == 2
    for k, (tab, oid) in enumerate(zip(per_mode, ids, strict=True)):
        assert tab[0] == ["parameter", f"value at {oid}", "posterior mean ± sd", "94% HDI", "z",
                          "in HDI", "agree"]
        assert len(tab) == 1 + am.sizes["row"]
        assert [r[6] for r in tab[1:]] == ["yes" if a else "no"
                                           for a in am["agree"].values[k]]
        share = float(am["chain_share"].values[k])
        assert (f"**Mode {k}** (chains " in agr and f"Chain share: "
                f"{int(am['n_chains'].values[k])} of 4 chains ({share:.0%})" in agr)
    assert "M0 (MAP-EM optimum; its EM counterpart E0)" in agr
    assert "share of chains that settled there, not its posterior mass" in agr


def test_why_they_differ_names_the_dominant_part(three, three_report):
    md, _ = three_report
    agr = three.tree["comparison/agreement"].to_dataset()
    why = _section(md, "Agreement").split("### Why they differ", 1)[1]
    tab = _tables(why)[0]
    assert tab[0] == ["parameter", "posterior mean − MLE", "prior", "posterior asymmetry",
                      "several modes", "largest part"]
    assert [r[0] for r in tab[1:]] == list(agr["name"].values)  # every row: not assessable
    for row, dom, d in zip(tab[1:], agr["dominant"].values, agr["post_mean"] - agr["em"],
                           strict=True):
        assert row[-1] == PARTS[str(dom)]
        parts = [float(v) for v in row[2:5]]
        assert sum(parts) == pytest.approx(float(d), rel=1e-2, abs=1e-3)
    assert "several modes" in {r[-1] for r in tab[1:]}


def test_optima_are_named_by_atlas_ids(three, three_report):
    md, _ = three_report
    assert not re.search(r"optimum \d", md)  # never "optimum 0": always E0, M0...
    atlas = _section(md, "Atlas of optima")
    tab = _tables(atlas)[0]
    assert tab[0] == ["id", "source", "log-likelihood", "log posterior", "restarts",
                      "basin share", "converged", "degenerate", "spurious", "counterpart"]
    ids = list(three.tree["comparison/atlas"]["id"].values.astype(str))
    assert [r[0] for r in tab[1:]] == ids and "M0" in ids and "E0" in ids
    assert {r[0]: r[-1] for r in tab[1:]}["M0"] == "E0"
    census = _section(md, "Posterior modes and EM's optima")
    assert "M1 (MAP-EM optimum; its EM counterpart E1)" in census
    assert "chain 0: M0" in census and "chain 3: M1" in census
    assert "E0 (log-likelihood" in _section(md, "What EM's point estimate hides")
    assert md.count("## Atlas of optima") == 1


def test_figures_name_optima_by_atlas_ids(three):
    tree = three.tree
    assert any(t.startswith("E0 (EM, log-lik") for t in _legend(figures.fig_pair_means(tree)))
    assert "MAP-EM (M0)" in _legend(figures.fig_pair_means(tree))
    assert any(t.startswith("E1 (") and "restarts" in t
               for t in _legend(figures.fig_em_traces(tree)))
    assert any(t.startswith("E0 (log-lik") for t in _legend(figures.fig_modes(tree)))
    fig = figures.FIGURES["census"](tree)
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert ticks[0].startswith("M0 (") and ticks[1].startswith("M1 (")
    assert "mode 1 (at M1)" in _legend(fig)


def test_html_says_not_assessable(three_report):
    _, html = three_report
    assert "<strong>Verdict: not assessable</strong>" in html
    assert "parameters agree" not in html
    assert "<th>value at M0</th>" in html and "<td>M0</td>" in html


# --------------------------------------------------------------------- one mode
def test_assessable_gives_the_pooled_verdict(faithful, faithful_report):
    md, html = faithful_report
    agr = faithful.tree["comparison/agreement"]
    assert agr.attrs["verdict"] == "assessable"
    sec = _section(md, "Agreement")
    assert f"**Verdict: assessable** — {agr.attrs['reason']}" in sec
    n, a = agr.sizes["row"], int(agr["agree"].sum())
    assert f"{a} of {n} parameters agree" in sec
    assert "agree" in _tables(sec)[0][0] and "z" in _tables(sec)[0][0]
    assert "not assessable" not in md and "Agreement per mode" not in md
    assert "<strong>Verdict: assessable</strong>" in html
    assert "Why they differ" in sec and "no difference to explain" in sec


def test_assessable_explains_only_disagreeing_parameters(faithful, tmp_path):
    tree = faithful.tree.copy(deep=True)
    ds = tree["comparison/agreement"].to_dataset()
    ds["z"][2], ds["agree"][2] = 3.5, False
    tree["comparison/agreement"].dataset = ds
    md, _ = _write(ComparisonResult(tree), tmp_path)
    sec = _section(md, "Agreement")
    assert f"{int(ds['agree'].sum())} of {ds.sizes['row']} parameters agree" in sec
    tab = _tables(sec.split("### Why they differ", 1)[1])[0]
    assert [r[0] for r in tab[1:]] == [str(ds["name"].values[2])]
    assert tab[0][:2] == ["parameter", "z"] and tab[1][1] == "3.5"
    assert tab[1][-1] == PARTS[str(ds["dominant"].values[2])]


def test_switching_section_is_named_honestly(faithful, faithful_report):
    md, _ = faithful_report
    sec = _section(md, "Label switching")
    ls = faithful.tree["comparison/label_switching"]
    tab = next(t for t in _tables(sec) if t[0][0] == "chain")
    assert tab[0] == ["chain", "main labelling", "switch events",
                      "share of consecutive draw pairs that switch",
                      "share of draws outside its main labelling",
                      "labellings visited (of 2! = 2)"]
    assert len(tab) == 1 + ls.sizes["chain"]
    assert [int(r[2]) for r in tab[1:]] == list(ls["switch_events"].values)
    assert "of its draws" not in md and "Share of draws that switch" not in md
    note = str(ls.attrs["starts_note"])
    assert "MAP-EM optimum M0" in note  # named by its atlas identifier
    assert note in sec
    assert "EM optimum 0" not in md


def test_intervals_are_at_the_one_level(faithful, faithful_report):
    md, _ = faithful_report
    assert faithful.tree.attrs["level"] == pytest.approx(0.94)
    labels = _legend(figures.fig_intervals(faithful.tree))
    assert "posterior 94% HDI" in labels
    assert "EM 94% Wald: ± 1.88 Louis SE" in labels
    # the bootstrap interval's label also carries its share of failed refits (0 here)
    assert "EM bootstrap 94% percentile (0 of 20 refits failed)" in labels
    assert not any("95%" in t or "1.96" in t for t in labels)
    assert "Every interval in this report is at one level, 94%" in md
    assert "MLE ± 1.88 SE" in md


def test_failed_bootstrap_refits_are_shown(faithful, tmp_path):
    tree = faithful.tree.copy(deep=True)
    tree["em/se"].attrs.update(n_failed=2, n_boot=20)
    md, _ = _write(ComparisonResult(tree), tmp_path)
    assert "Bootstrap: 2 of 20 refits failed (10.0%)" in _section(
        md, "What EM's point estimate hides")
    labels = _legend(figures.fig_intervals(tree))
    assert "EM bootstrap 94% percentile (2 of 20 refits failed)" in labels


# ------------------------------------------------------------------ small parts
def test_mode_optimum_names_every_case(three):
    cen = xr.Dataset({"optimum_of_mode": ("mode", [-1, 0, 2]),
                      "optimum_id": ("mode", ["none", "M0", "P2"]),
                      "optimum_source": ("mode", ["", "atlas", "chain 3"])},
                     attrs={"atlas": "map_em", "n_atlas_optima": 2})
    names = [report_modes.mode_optimum(three.tree, cen, k) for k in range(3)]
    assert names[0] == "no EM counterpart"
    assert names[1] == "M0 (MAP-EM optimum; its EM counterpart E0)"
    assert names[2].startswith("P2 (MAP-EM polished from the medians of chain 3")
    assert report_modes.atlas_id(three.tree, "em", 1) == "E1"
    assert report_modes.atlas_id(three.tree, "map_em", -1) == "none"
