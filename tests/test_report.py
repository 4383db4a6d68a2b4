"""The report and its figures, on small real comparisons (PyMC compiles: ~20 s in all)."""

from __future__ import annotations

import base64
import html
import json
import re

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import ComparisonResult, compare
from mixcompare.comparisons.report import figures
from mixcompare.comparisons.report.comparison import write_report

SECTIONS = ("## Problems", "## Agreement", "## MAP-EM versus find_MAP",
            "## What EM's point estimate hides", "## Label switching", "## Atlas of optima",
            "## Provenance")


@pytest.fixture(scope="module")
def faithful():
    return compare(datasets.load("faithful").X, 2, draws=100, tune=100, chains=2, n_boot=10,
                   rng=0, name="faithful")


@pytest.fixture(scope="module")
def written(faithful, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, write_report(faithful, out, command="mixcompare run faithful", seed=0)


@pytest.fixture(scope="module")
def iris():
    return compare(datasets.load("iris").X, 3, structure="diag", draws=50, tune=50, chains=2,
                   max_treedepth=6,
                   n_boot=5, n_init=5, rng=0, name="iris")


#: the figures of 1-D data: every figure but the multivariate ones
ONE_D = [name for name in figures.FIGURES if name not in figures.MULTIVARIATE]


def _with_attrs(result, **attrs):
    tree = result.tree.copy()
    tree.attrs.update(attrs)
    return ComparisonResult(tree)


def test_write_report_creates_every_file(written):
    out, files = written
    expected = {"report.md", "report.html", "results.nc"}
    expected |= {f"figures/{name}.png" for name in ONE_D}
    assert set(files) == expected  # no multivariate figure for 1-D data
    for rel, path in files.items():
        assert path == out / rel
        assert path.is_file() and path.stat().st_size > 0
    assert not list(out.rglob("*.tmp"))


def test_html_is_self_contained(written):
    out, files = written
    text = (out / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(srcs) == len(ONE_D)
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"https?://|<link|<script|@import|url\(", text)
    assert "<table>" in text and "<style>" in text


def test_html_renders_the_inline_markdown(written):
    out, _ = written
    md = (out / "report.md").read_text(encoding="utf-8")
    text = (out / "report.html").read_text(encoding="utf-8")
    bold = re.findall(r"\*\*(.+?)\*\*", md)
    assert bold  # at least the census' classification, e.g. **one mode**
    assert "<strong>" in text and "**" not in text
    for b in set(bold):
        assert f"<strong>{html.escape(b, quote=False)}</strong>" in text
    assert "<code>mixcompare run faithful</code>" in text


def test_markdown_has_every_section(written):
    out, _ = written
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# mixcompare report: faithful")
    assert "n = 272" in md and "K = 2" in md
    positions = [md.index(s + "\n") for s in SECTIONS]
    assert positions == sorted(positions)
    assert "94% HDI" in md and "89% equal-tailed" in md
    assert "raw R-hat is meaningless under label switching: chains in different labellings " \
           "estimate different quantities" in md
    assert "mixcompare run faithful" in md
    for name in ONE_D:
        assert f"(figures/{name}.png)" in md
        assert figures.CAPTIONS[name] in md
    for name in figures.MULTIVARIATE:
        assert f"(figures/{name}.png)" not in md


def test_provenance_hash_matches_the_data_set(written):
    out, _ = written
    md = (out / "report.md").read_text(encoding="utf-8")
    assert datasets.load("faithful").sha256 in md
    assert "pymc version" in md and "xarray version" in md


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_each_figure_draws(faithful, name):
    fig = figures.FIGURES[name](faithful.tree)
    if name in figures.MULTIVARIATE:
        assert fig is None  # 1-D data: no ellipses
        return
    assert isinstance(fig, Figure)
    assert len(fig.axes) >= 1


def test_results_round_trip(written, faithful):
    out, _ = written
    back = ComparisonResult.from_netcdf(out / "results.nc").tree
    orig = faithful.tree
    assert {n.path for n in back.subtree} == {n.path for n in orig.subtree}
    for node in orig.subtree:
        xr.testing.assert_equal(back[node.path].to_dataset(), node.to_dataset())
    assert json.loads(back.attrs["problems"]) == json.loads(orig.attrs["problems"])


def test_problems_are_shown_at_the_top(faithful, tmp_path):
    res = _with_attrs(faithful, problems=json.dumps(["something went wrong"]),
                      warnings=json.dumps(["ConvergenceWarning: slow"]))
    write_report(res, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert md.index("something went wrong") < md.index("## Agreement")
    assert "Warning: ConvergenceWarning: slow" in md
    assert 'class="problems"' in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_map_table_at_find_maps_higher_mode(faithful, tmp_path):
    """When MAP-EM was rerun at find_MAP's higher mode, the MAP-EM vs find_MAP table reads
    that fit (its column), says so, and never claims the priors differ (they are one prior
    in every structure)."""
    import xarray as xr

    tree = faithful.tree.copy()
    agr = tree["comparison/agreement"].to_dataset()
    marker = 7777.0 + np.arange(agr.sizes["row"])  # values no other column holds
    tree["comparison/agreement"] = xr.DataTree(agr.assign(map_em_at_map=("row", marker)))
    tree["map_em/at_map"] = xr.DataTree(tree["map_em"].to_dataset().assign_attrs(
        log_posterior=-123.456))
    write_report(ComparisonResult(tree), tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    section = md[md.index("## MAP-EM versus find_MAP"):]
    section = section[:section.index("\n## ", 5)]
    assert "started at find_MAP's mode (log posterior -123.46)" in section
    assert "| 7777 |" in section and "| 7778 |" in section
    assert "priors differ" not in md


def test_without_nuts_figures_are_skipped(tmp_path):
    res = compare(datasets.load("faithful").X, 2, methods=("em", "map_em"), n_boot=5,
                  n_init=5, rng=0, name="faithful")
    for name in ("trace_raw", "trace_relabeled", "pair_means", "membership", "modes"):
        assert figures.FIGURES[name](res.tree) is None
    assert isinstance(figures.fig_intervals(res.tree), Figure)  # EM ± Louis SE only
    files = write_report(res, tmp_path / "out")
    assert "figures/em_traces.png" in files and "figures/modes.png" not in files
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "NUTS was not run" in md
    assert all(s in md for s in SECTIONS)


def test_stale_figures_are_removed(tmp_path):
    stale = tmp_path / "figures" / "modes.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    res = compare(np.r_[np.zeros(20), np.ones(20) * 5] + np.linspace(0, 1, 40), 2,
                  methods=("em",), n_boot=0, n_init=3, rng=0)
    write_report(res, tmp_path)
    assert not stale.exists()


def test_multivariate_diag_report(iris, tmp_path):
    for name, func in figures.FIGURES.items():
        fig = func(iris.tree)
        assert isinstance(fig, Figure), name
        assert fig.axes
    files = write_report(iris, tmp_path, data_name="iris (4-D)")
    md = files["report.md"].read_text(encoding="utf-8")
    assert md.startswith("# mixcompare report: iris (4-D)")
    assert "d = 4" in md and "means[2,3]" in md
    html = files["report.html"].read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(figures.FIGURES)


def test_single_column_data(tmp_path):
    x = np.r_[np.zeros(20), np.full(20, 5.0)] + np.linspace(0, 1, 40)
    res = compare(x[:, None], 2, methods=("em",), n_boot=0, n_init=3, rng=0)
    assert "figures/data_density.png" in write_report(res, tmp_path)
