"""Every bundled data set end to end through ``compare``, with the structures that apply.

Short chains (conftest.SHORT): these runs check that each method ran, that
the reported tables hold numbers, that a verdict (or the reason there is none)
is given and that the report renders, not the values. By default (and in CI)
every data set runs at its default structure and every structure runs on one
1-D and one multivariate data set, so every data set and every structure runs
end to end; ``MIXCOMPARE_E2E=all`` runs the whole grid (every data set x every
structure that applies to it), about 10 more cells, which CI's 20 minutes on two
cores no longer hold. MAP-EM is
asserted wherever ``em`` accepts the prior for the structure
(``em.Prior.check_for``), which is now every structure.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import xarray as xr
from mixcompare import em
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import ComparisonResult
from mixcompare.comparisons.report import figures
from mixcompare.comparisons.report.comparison import write_report

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

STRUCTURES_1D = ("unequal", "equal")
STRUCTURES_MV = ("full", "tied", "diag", "spherical")
EVERY_STRUCTURE_ON = ("galaxies", "faithful2d")  # one 1-D, one multivariate data set


def _spec(name: str, structure=None):
    ds = datasets.load(name)
    return em.model_spec(ds.X, ds.default_k, structure=structure, fixed=ds.fixed)


def _cells() -> list[tuple[str, str]]:
    grid = os.environ.get("MIXCOMPARE_E2E", "quick") == "all"
    cells = []
    for name in datasets.DATASETS:
        default = _spec(name)[1].structure
        every = STRUCTURES_1D if datasets.load(name).X.ndim == 1 else STRUCTURES_MV
        cells += [(name, s) for s in every
                  if s == default or grid or name in EVERY_STRUCTURE_ON]
    return cells


CELLS = _cells()
SECTIONS = ("## Problems", "## Agreement", "## MAP-EM versus find_MAP",
            "## What EM's point estimate hides", "## Label switching", "## Atlas of optima",
            "## Provenance")
VALUE_COLUMNS = ("em", "map", "post_mean", "post_median", "post_sd", "hdi_low", "hdi_high")
STEPS = ("em", "louis", "bootstrap", "build", "map", "nuts", "labels", "census")


def _map_em_applies(name: str, structure: str) -> bool:
    """Whether ``em`` accepts the default prior for this model (then MAP-EM must run)."""
    X, spec = _spec(name, structure)
    try:
        em.Prior.default(X).check_for(spec)
    except ValueError:
        return False
    return True


def test_the_grid_covers_every_data_set_and_structure():
    assert {n for n, _ in CELLS} == set(datasets.DATASETS)
    quick = os.environ.get("MIXCOMPARE_E2E", "quick") != "all"
    for name in (EVERY_STRUCTURE_ON if quick else datasets.DATASETS):
        every = STRUCTURES_1D if datasets.load(name).X.ndim == 1 else STRUCTURES_MV
        assert {s for n, s in CELLS if n == name} == set(every)


@pytest.mark.parametrize(("name", "structure"), CELLS, ids=[f"{n}-{s}" for n, s in CELLS])
def test_dataset_end_to_end(short_comparison, name, structure, tmp_path):
    res = short_comparison(name, structure)
    tree = res.tree
    K, d = tree.attrs["n_components"], _spec(name)[1].n_features
    assert tree.attrs["structure"] == structure
    problems = json.loads(tree.attrs["problems"])

    # every method ran; MAP-EM wherever em accepts the prior, else it says why not
    for group in ("em", "em/se", "map", "posterior", "posterior_relabeled",
                  "comparison/membership", "comparison/census"):
        assert tree[group].to_dataset().data_vars, group
    agr = tree["comparison/agreement"].to_dataset()
    if _map_em_applies(name, structure):
        assert "map_em" in tree.children and "map_em" in agr
    else:
        assert any(p.startswith("MAP-EM skipped") for p in problems)

    # the reported tables hold numbers
    assert agr.sizes["row"] == K + 2 * K * (d if d > 1 else 1)
    for col in VALUE_COLUMNS + (("map_em",) if "map_em" in agr else ()):
        assert np.all(np.isfinite(agr[col].values)), col
    se = tree["em/se"].to_dataset()
    for col in ("se_boot", "boot_low", "boot_high"):
        assert np.all(np.isfinite(se[col].values)), col
    diag = tree["comparison/diagnostics"].to_dataset()
    assert np.all(np.isfinite(diag["ess_bulk_relabeled"].values))
    memb = tree["comparison/membership"].to_dataset()
    assert np.all(np.isfinite(memb["posterior"].values))
    np.testing.assert_allclose(memb["posterior"].values.sum(axis=1), 1.0, atol=1e-9)

    # a verdict, or the reason there is none
    assert agr.attrs["verdict"] in ("assessable", "not_assessable")
    assert agr.attrs["reason"].strip()

    # every step timed, in the tree and in summary.json
    timings = json.loads(tree.attrs["timings"])
    steps = STEPS + (("map_em",) if "map_em" in agr else ())
    assert set(steps) <= set(timings)
    assert all(math.isfinite(t) and t >= 0 for t in timings.values())
    summary = res.summary()
    assert summary["timings"] == pytest.approx(timings)
    json.dumps(summary, allow_nan=False)
    for row in summary["agreement"]["rows"]:
        assert all(row[k] is not None for k in ("em", "map", "post_mean", "post_sd")), row

    # the report renders, with every section, the verdict and each step's time
    files = write_report(res, tmp_path, command=f"e2e {name} {structure}", seed=0)
    md = files["report.md"].read_text(encoding="utf-8")
    positions = [md.index(s + "\n") for s in SECTIONS]
    assert positions == sorted(positions)
    assert ("**Verdict: assessable**" in md) != ("**Verdict: not assessable**" in md)
    for step in timings:
        assert f"| {step} |" in md
    drawn = {n for n in figures.FIGURES if f"figures/{n}.png" in files}
    assert drawn >= {"data_density", "trace_raw", "intervals", "membership", "census"}
    assert (drawn >= {"mv_ellipses", "mv_uncertainty"}) == (d > 1)
    assert ("mv_pairs" in drawn) == (d > 2)
    assert files["report.html"].stat().st_size > 0
    back = ComparisonResult.from_netcdf(files["results.nc"])  # the tree round-trips
    assert back.summary() == summary
    assert {"observed_data", "log_likelihood", "prior", "prior_predictive",
            "posterior_predictive"} <= set(back.tree.children)  # complete for ArviZ
    if d > 1:
        assert list(back.tree["data"]["column"].values) == list(datasets.load(name).columns)
        xr.testing.assert_equal(back.tree["comparison/ellipses"].to_dataset(),
                                tree["comparison/ellipses"].to_dataset())
