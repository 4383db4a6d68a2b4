"""Verdicts that never mislead: the agreement rule, when a pooled verdict can be given, modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.pipeline import compare, metrics
from mixcompare.comparisons.pipeline.verdict import (
    assessability,
    decompose,
    per_mode_agreement,
)
from mixcompare.comparisons.tables import flatten

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def _census(kind="one mode", unsettled=(False, False), modes=(0, 0), optima=(0,)):
    return xr.Dataset({"unsettled": ("chain", np.asarray(unsettled)),
                       "mode_of_chain": ("chain", np.asarray(modes)),
                       "optimum_of_mode": ("mode", np.asarray(optima))},
                      attrs={"kind": kind})


def _diag(rhat=1.001, ess=900.0):
    return xr.Dataset({"rhat_relabeled": ("row", [1.0, rhat]),
                       "ess_bulk_relabeled": ("row", [2000.0, ess])})


def test_agreement_rule_on_known_inputs():
    K, d = 2, None
    est = {"em": flatten([0.4, 0.6], [0.0, 5.0], [1.0, 1.0]),
           "map_em": flatten([0.4, 0.6], [0.0, 5.0], [1.0, 1.0]),
           "map": flatten([0.4, 0.6], [0.0, 5.0 + 1e-2], [1.0, 1.0])}
    summ = metrics.posterior_summary(xr.Dataset({
        "weights": (("chain", "draw", "component"), np.zeros((1, 3, 2))),
        "means": (("chain", "draw", "component"), np.zeros((1, 3, 2))),
        "sds": (("chain", "draw", "component"), np.ones((1, 3, 2)))}), K, d)
    summ["post_mean"] = ("row", flatten([0.4, 0.6], [0.5, 8.0], [1.0, 1.0]))
    summ["post_sd"] = ("row", np.full(6, 1.0))
    summ["hdi_low"] = ("row", flatten([0.3, 0.5], [-1.0, 7.0], [0.9, 0.9]))
    summ["hdi_high"] = ("row", flatten([0.5, 0.7], [1.0, 9.0], [1.1, 1.1]))
    agr = metrics.agreement(K, d, est, None, summ)
    np.testing.assert_allclose(agr["z"].values, [0, 0, -0.5, -3.0, 0, 0])
    assert agr["agree"].values.tolist() == [True, True, True, False, True, True]
    assert agr["mle_in_hdi"].values.tolist() == [True, True, True, False, True, True]
    # MAP-EM and find_MAP differ by 1e-2 posterior sd on means[1]: above 1e-3, flagged
    assert agr["map_disagree"].values.tolist() == [False, False, False, True, False, False]


def test_pooled_verdict_needs_one_settled_converged_mode():
    ok, why = assessability(_census(), _diag())
    assert ok and "one mode" in why
    ok, why = assessability(_census(kind="several modes", modes=(0, 1), optima=(0, 1)), _diag())
    assert not ok and "2 different modes" in why
    ok, why = assessability(_census(unsettled=(False, True)), _diag())
    assert not ok and "chain 1 had not settled" in why
    ok, why = assessability(_census(), _diag(rhat=1.53))
    assert not ok and "R-hat 1.530 > 1.01" in why
    ok, why = assessability(_census(), _diag(ess=7))
    assert not ok and "bulk ESS 7 < 400" in why
    ok, why = assessability(None, None)
    assert not ok and "NUTS did not run" in why


def test_decomposition_adds_up_and_names_the_largest_part():
    mle = np.array([0.42, 10.0])
    map_em = np.array([0.69, 10.1])
    mode = np.array([0.83, 10.2])
    pooled = np.array([0.84, 14.0])
    parts = decompose(mle, map_em, mode, pooled)
    total = parts["prior"] + parts["asymmetry"] + parts["modes"]
    np.testing.assert_allclose(total, pooled - mle)
    assert parts["dominant"].tolist() == ["prior", "modes"]
    one = decompose(mle, map_em, None, mode)
    np.testing.assert_allclose(one["modes"], 0.0)
    no_map = decompose(mle, None, None, mode)
    assert np.isnan(no_map["prior"]).all() and no_map["dominant"].tolist() == ["asymmetry"] * 2


def _fake_posterior(chain_params, draws=400, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, i in (("weights", 0), ("means", 1), ("variances", 2)):
        a = np.stack([np.asarray(p[i], float) + noise * rng.standard_normal((draws, 2))
                      for p in chain_params])
        out[name] = a
    out["weights"] = np.abs(out["weights"]) / np.abs(out["weights"]).sum(-1, keepdims=True)
    out["sds"] = np.sqrt(out["variances"])
    dims = ("chain", "draw", "component")
    return xr.Dataset({k: (dims, v) for k, v in out.items()})


def test_per_mode_agreement_aligns_each_mode_to_its_optimum():
    a = ([0.3, 0.7], [0.0, 5.0], [1.0, 1.0])
    a_swapped = ([0.7, 0.3], [5.0, 0.0], [1.0, 1.0])
    b = ([0.5, 0.5], [2.0, 2.5], [4.0, 0.5])
    post = _fake_posterior([a, a_swapped, b, b])
    cen = _census(kind="several modes", unsettled=(False,) * 4, modes=(0, 0, 1, 1),
                  optima=(0, 1))
    ref = em.Params(np.array([0.3, 0.7]), np.array([[0.0], [5.0]]),
                    np.array([[[1.0]], [[1.0]]]))
    out = per_mode_agreement(post, cen, [a, b], ref, 1.0, prob=0.94)
    assert out["chain_share"].values.tolist() == [0.5, 0.5]
    # mode 0: the swapped chain is put back in the reference order; the optimum agrees
    np.testing.assert_allclose(out["post_mean"].values[0], flatten(*a[:2], np.sqrt(a[2])),
                               atol=0.02)
    assert out["agree"].values[0].all()
    np.testing.assert_allclose(out["optimum_value"].values[1][[2, 3]], [2.0, 2.5])


@pytest.mark.slow
def test_far_apart_optima_give_per_mode_agreement_and_no_pooled_verdict():
    """Three tight clusters far apart, K = 2: merging the left pair or the right pair are two
    optima separated by a huge likelihood barrier, and both are posterior modes. Chains started
    at each (``init="atlas"``) stay, so the census finds two modes whatever the seed."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 1.0, 100) for c in (-30.0, 0.0, 30.0)])
    res = compare(X, 2, methods=("em", "map_em", "nuts"), init="atlas", draws=200, tune=300,
                  chains=4, n_init=20, n_boot=0, rng=1)
    tree = res.tree
    assert tree["comparison/census"].attrs["kind"] == "several modes"
    agr = tree["comparison/agreement"].to_dataset()
    assert agr.attrs["verdict"] == "not_assessable" and "modes" in agr.attrs["reason"]
    assert "agree" not in agr  # no pooled verdict
    modes = tree["comparison/agreement_modes"].to_dataset()
    assert modes.sizes["mode"] == 2 and np.all(modes["optimum"].values >= 0)
    assert modes["agree"].values.all()  # each mode agrees with its own optimum
    summary = res.summary()
    assert summary["agreement"]["verdict"] == "not_assessable"
    assert all("agree" not in r for r in summary["agreement"]["rows"])
    assert len(summary["agreement"]["modes"]) == 2
    assert any("no pooled verdict" in p for p in summary["problems"])


@pytest.mark.slow
def test_permuted_labels_switch_and_relabelling_recovers_one_copy():
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(-4.0, 1.0, 80), rng.normal(4.0, 1.0, 120)])
    kw = dict(methods=("em", "map_em", "nuts"), draws=200, tune=300, chains=2, n_init=5,
              n_boot=0, rng=4)
    plain = compare(X, 2, **kw).tree
    shown = compare(X, 2, permute=True, **kw).tree
    ls = shown["comparison/label_switching"].to_dataset()
    assert ls.attrs["detected"] == 1
    # every draw was permuted at random: about half of each chain's draws sit outside its
    # main labelling, and both of the 2! labellings are visited
    assert np.all(ls["labellings_visited"].values == 2)
    assert np.all(np.abs(ls["outside_main"].values - 0.5) < 0.1)
    assert plain["comparison/label_switching"].attrs["detected"] == 0
    note = plain["comparison/label_switching"].attrs["starts_note"]
    assert "started at MAP-EM optimum M0" in note
    # relabelling recovers the copy the unpermuted chains sampled, draw for draw
    a = plain["posterior_relabeled"]["means"].values
    b = shown["posterior_relabeled"]["means"].values
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="ordered"):
        compare(X, 2, permute=True, ordered=True, methods=("em",), n_boot=0)


def test_one_atlas_with_stable_identifiers():
    from mixcompare.comparisons.datasets import load

    X = load("galaxies").X
    res = compare(X, 3, methods=("em", "map_em"), n_init=20, n_boot=0, rng=0)
    atlas = res.tree["comparison/atlas"].to_dataset()
    ids = atlas["id"].values.tolist()
    n_em = int((atlas["source"].values == "em").sum())
    assert ids[:n_em] == [f"E{j}" for j in range(n_em)] and ids[n_em] == "M0"
    mapem_lp = res.tree["map_em"].attrs["log_posterior"]
    # M0's log posterior is MAP-EM's own objective; E0's is its log-likelihood plus the prior
    assert atlas["log_posterior"].values[n_em] == pytest.approx(mapem_lp, rel=1e-10)
    assert atlas["log_likelihood"].values[0] == pytest.approx(
        res.tree["em"].attrs["log_likelihood"], rel=1e-12)
    assert np.all(np.diff(atlas["log_likelihood"].values[:n_em]) <= 0)  # best first
    # EM's best optimum and MAP-EM's best are the same solution moved by the prior
    assert atlas["counterpart"].values[0] == "M0"
    summary = res.summary()
    assert [a["id"] for a in summary["atlas"]] == ids


def test_bootstrap_failures_are_counted_by_reason_and_mark_the_ses_unreliable(tmp_path):
    """galaxies K = 3: resamples of the 3-point cluster collapse a component (degenerate)."""
    from mixcompare.comparisons.datasets import load
    from mixcompare.comparisons.report import write_report

    res = compare(load("galaxies").X, 3, methods=("em",), n_init=10, n_boot=40, rng=0)
    se = res.tree["em/se"].attrs
    reasons = json.loads(se["failure_reasons"])
    assert se["n_failed"] == sum(reasons.values()) > 0 and se["n_boot"] == 40
    share = se["n_failed"] / se["n_boot"]
    assert se["boot_reliable"] == int(share <= 0.10)
    failures = res.summary()["em"]["se"]["bootstrap_failures"]
    assert failures["reasons"] == reasons and failures["reliable"] == (share <= 0.10)
    write_report(res, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert f"{se['n_failed']} of 40 bootstrap refits failed" in md
    if share > 0.10:
        assert "UNRELIABLE" in md and "**unreliable**" in md


def test_chains_away_from_the_best_optimum_count_as_another_mode():
    from mixcompare.comparisons.pipeline.verdict import apply_verdict
    est = {"em": np.array([1.0, 2.0]), "map_em": np.array([1.1, 2.0])}
    agr = xr.Dataset({"post_mean": ("row", [3.0, 2.0])})
    cen = _census(kind="label switching only", modes=(0, 0), optima=(3,))
    cen["optimum_id"] = ("mode", np.array(["M3"]))
    modes = xr.Dataset({"optimum": ("mode", [3]), "post_mean": (("mode", "row"), [[3.0, 2.0]])})
    out = apply_verdict(agr, est, cen, _diag(), modes)
    assert out.attrs["verdict"] == "assessable" and "no chain sits at the best optimum" in \
        out.attrs["reason"] and "M3" in out.attrs["reason"]
    np.testing.assert_allclose(out["part_prior"].values, [0.1, 0.0])
    np.testing.assert_allclose(out["part_asymmetry"].values, [0.0, 0.0])
    np.testing.assert_allclose(out["part_modes"].values, [1.9, 0.0])
    assert out["dominant"].values[0] == "modes"
