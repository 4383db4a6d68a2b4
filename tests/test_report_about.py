"""The report says what the data are (description, source, variables with units) and labels axes."""

from __future__ import annotations

import matplotlib
import pytest
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import compare
from mixcompare.comparisons.report import about, figures, figures_mv
from mixcompare.comparisons.report.comparison import write_report

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def faithful2d():
    ds = datasets.load("faithful2d")
    return ds, compare(ds.X, 2, methods=("em",), n_boot=0, n_init=3, rng=0, **ds.metadata())


def test_the_report_opens_with_the_data_their_source_and_units(faithful2d, tmp_path):
    ds, res = faithful2d
    md = write_report(res, tmp_path, command="t", seed=0)["report.md"].read_text("utf-8")
    head = md[: md.index("## Problems")]
    assert ds.description in head
    assert "Source: " + ds.source in head
    assert "| eruptions | min |" in head and "| waiting | min |" in head
    back = type(res).from_netcdf(tmp_path / "results.nc")  # kept in the file
    assert about.axis_labels(back.tree) == ["eruptions (min)", "waiting (min)"]


def test_axes_carry_names_and_units(faithful2d):
    _, res = faithful2d
    fig = figures.fig_data_density(res.tree)
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == (
        "eruptions (min)", "waiting (min)")
    fig = figures_mv.FIGURES["mv_ellipses"](res.tree)
    assert fig.axes[0].get_xlabel() == "eruptions (min)"


def test_user_data_have_their_column_names_and_no_invented_unit(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("height,weight\n" + "\n".join(f"{i % 7},{(i * 3) % 11}" for i in range(40)))
    ds = datasets.load_csv(path)
    res = compare(ds.X, 2, methods=("em",), n_boot=0, n_init=2, rng=0, **ds.metadata())
    assert about.axis_labels(res.tree) == ["height", "weight"]
    with pytest.raises(ValueError, match=r"units has 1 entries for 2 column\(s\)"):
        compare(ds.X, 2, methods=("em",), n_boot=0, columns=ds.columns, units=["cm"])


def test_each_figure_stands_in_its_section(faithful2d, tmp_path):
    from mixcompare.comparisons.report import placement

    _, res = faithful2d
    files = write_report(res, tmp_path, command="t", seed=0)
    md = files["report.md"].read_text("utf-8")
    # (its own section's heading, the next section's heading)
    heads = {"head": ("# mixcompare report", "## Problems"),
             "agreement": ("## Agreement", "## MAP-EM versus find_MAP"),
             "hidden": ("## What EM's point estimate hides", "## Label switching"),
             "atlas": ("## Atlas of optima", "## Provenance")}
    drawn = [n for n in placement.SECTION_OF if f"figures/{n}.png" in files]
    assert {"data_density", "mv_ellipses", "intervals", "em_traces"} <= set(drawn)
    for name in drawn:
        section = placement.SECTION_OF[name]
        if section in heads:  # between its section's heading and the next one's
            start, stop = (md.index(h) for h in heads[section])
            assert start < md.index(f"figures/{name}.png") < stop, name
    assert "## Figures" not in md
