"""``mixcompare choose-k`` end to end (one small run), its bad inputs, and the netCDF round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mixcompare.comparisons import cli
from typer.testing import CliRunner

TINY = ["--k-max", "2", "--n-boot", "4", "--draws", "60", "--tune", "60", "--chains", "1",
        "--smc-draws", "100", "--smc-chains", "2", "--n-init", "5", "--quiet",
        "--parts", "em,lrt,loo,smc"]  # the overfitted mixture: tests/test_choosek_bayes.py


def _invoke(*args):
    return CliRunner().invoke(cli.app, list(args))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("choosek") / "rep"
    res = _invoke("choose-k", "galaxies", *TINY, "--seed", "5", "--out", str(out))
    return res, out


def test_choose_k_writes_every_file_and_summary_keys(run):
    res, out = run
    assert res.exit_code == 0, res.output
    assert {"report.md", "report.html", "summary.json", "results.nc"} <= {
        p.name for p in out.iterdir()}
    assert {p.name for p in (out / "figures").iterdir()} == {
        "bic.png", "elpd_loo.png", "posterior_k.png"}
    s = json.loads((out / "summary.json").read_text())
    assert {"data", "k_max", "structures", "bayes_structure", "criteria_conventions", "em",
            "lrt", "loo", "smc", "choices", "mclust", "warnings", "timings"} <= set(s)
    assert "overfitted" not in s
    assert s["structures"] == ["equal", "unequal"] and s["bayes_structure"] == "unequal"
    assert set(s["timings"]) == {"em", "lrt", "loo", "smc"}
    assert [row["k"] for row in s["em"]["unequal"]] == [1, 2]
    # the LRT for every structure: 4 bootstrap data sets keep this run short
    assert s["lrt"]["n_boot"] == 4 and set(s["lrt"]["tests"]) == {"equal", "unequal"}
    assert all(0 < s["lrt"]["tests"][st][0]["p_value"] <= 1 for st in ("equal", "unequal"))
    assert s["lrt"]["choice"] == {"equal": None, "unequal": None}  # B < 19: no choice at 5%
    assert all(np.isfinite(r["elpd_loo"]) and r["se"] > 0 for r in s["loo"])
    assert sum(r["posterior_k"] for r in s["smc"]["per_k"]) == pytest.approx(1.0)
    # BIC's choice is the structure and K of the largest mclust-convention BIC
    best = max(((st, r["k"], r["bic_mclust"]) for st, rows in s["em"].items() for r in rows),
               key=lambda t: t[2])
    assert s["choices"]["bic_mclust"] == {"structure": best[0], "k": best[1]}
    text = (out / "report.md").read_text()
    assert "## The K each criterion chooses" in text and "figures/bic.png" in text


def test_summary_is_derivable_from_results_nc(run):
    from mixcompare.comparisons import ChooseKResult

    _, out = run
    back = ChooseKResult.from_netcdf(out / "results.nc")
    assert back.summary() == json.loads((out / "summary.json").read_text())
    ll = back.tree["log_likelihood"].to_dataset()
    assert ll.sizes["k"] == 2 and ll.sizes["obs"] == 82  # pointwise, for az.loo


@pytest.mark.parametrize(("args", "words"), [
    (["galaxies", "--k-max", "0"], "--k-max must be at least 1"),
    (["galaxies", "--structures", "full"], "multivariate"),
    (["galaxies", "--parts", "loo"], "--parts must name em"),
    (["galaxies", "--k-max", "1"], "--k-max 1 leaves nothing to test"),
])
def test_bad_inputs_give_one_line(args, words, tmp_path):
    res = _invoke("choose-k", *args, "--out", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert words in res.output


def test_loo_choice_is_the_one_standard_error_rule():
    import xarray as xr
    from mixcompare.comparisons.choosek.result import loo_choice

    table = xr.Dataset({"elpd_diff": ("model", [0.0, -0.1, -1.3, -16.9]),
                        "dse": ("model", [0.0, 1.3, 2.6, 8.8])},
                       coords={"model": ["K=5", "K=4", "K=3", "K=2"]})
    assert loo_choice(table) == 3  # K = 2 is 16.9 below the best, more than its 8.8
    assert loo_choice(table.assign(dse=("model", [0.0, 1.3, 0.5, 8.8]))) == 4
