"""Tail-sensitive summaries (comparisons/posterior/tail.py) and their report section."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from mixcompare.comparisons.posterior import tail
from mixcompare.comparisons.report import markdown
from mixcompare.comparisons.report.comparison import _fmt, _table
from mixcompare.comparisons.report.tail import section
from scipy import stats


def _post(means2, chains=4):
    """A 1-D K=2 posterior whose means[1] draws are ``means2`` (chain, draw); the rest Normal."""
    rng = np.random.default_rng(0)
    C, D = means2.shape
    w = rng.uniform(0.3, 0.7, (C, D))
    return xr.Dataset({
        "weights": (("chain", "draw", "component"), np.stack([w, 1 - w], -1)),
        "means": (("chain", "draw", "component"),
                  np.stack([rng.normal(size=(C, D)), means2], -1)),
        "sds": (("chain", "draw", "component"), np.exp(0.1 * rng.normal(size=(C, D, 2)))),
    })


def test_tail_share_of_normal_quantiles_is_the_closed_form():
    # evenly spaced Normal quantiles: the share tends to 2 (q phi(q) + Phi(-q)) as n grows
    z = stats.norm.ppf((np.arange(200_000) + 0.5) / 200_000)[:, None]
    assert abs(tail.tail_share(z)[0] - tail.NORMAL_TAIL_SHARE) < 1e-3
    assert 0.10 < tail.NORMAL_TAIL_SHARE < 0.2


def test_iid_draws_are_not_flagged_and_visit_the_tails_often():
    rng = np.random.default_rng(1)
    t = tail.tail_diagnostics(_post(rng.normal(size=(4, 1000))), 2, None).set_index(row="name")
    assert not t["tail_sensitive"].any()
    # independent draws: about frac * 4000 = 80 separate visits
    assert 60 <= int(t["tail_excursions"].sel(row="means[1]")) <= 80
    assert float(t["ess_tail_quantile"].sel(row="means[1]")) > 1000


def test_one_long_excursion_is_tail_sensitive_and_unreliable():
    rng = np.random.default_rng(2)
    m = rng.normal(size=(4, 1000))
    m[2, 500:560] = 8.0 + 0.1 * rng.normal(size=60)   # 1.5 % of the draws, one visit far out
    t = tail.tail_diagnostics(_post(m), 2, None).set_index(row="name")
    row = t.sel(row="means[1]")
    assert float(row["tail_share"]) > 0.5
    assert int(row["tail_excursions"]) < 45        # the upper tail is one visit
    assert bool(row["tail_sensitive"]) and bool(row["tail_unreliable"])
    assert float(row["ess_tail_quantile"]) < tail.TAIL_ESS_MIN
    assert not bool(t["tail_sensitive"].sel(row="means[0]"))


def test_report_section_names_the_flagged_rows():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(4, 1000))
    m[1, 100:160] = 8.0 + 0.1 * rng.normal(size=60)
    diag = tail.tail_diagnostics(_post(m), 2, None)
    tree = xr.DataTree.from_dict({"comparison/diagnostics": diag})
    text = markdown.from_blocks(section(tree, _fmt, _table), Path("."))
    assert "Tail-sensitive summaries" in text and "means[1]" in text
    assert "**unreliable**" in text and "means[0]" not in text
    calm = tail.tail_diagnostics(_post(rng.normal(size=(4, 1000))), 2, None)
    text = markdown.from_blocks(
        section(xr.DataTree.from_dict({"comparison/diagnostics": calm}), _fmt, _table), Path("."))
    assert "No parameter is tail-sensitive" in text
    assert section(xr.DataTree(), _fmt, _table) == []
