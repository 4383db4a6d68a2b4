"""Where the chains start, and the census of posterior modes (slow: real NUTS runs)."""

import json

import numpy as np
import pytest
import xarray as xr
from mixcompare import em, models
from mixcompare.comparisons.pipeline import compare
from mixcompare.comparisons.posterior import census

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def _fake_posterior(chain_params, draws=200, noise=0.01, seed=0):
    """Chains scattered tightly around given (weights, means, variances)."""
    rng = np.random.default_rng(seed)
    w = np.stack([np.asarray(p[0]) * np.exp(noise * rng.standard_normal((draws, len(p[0]))))
                  for p in chain_params])
    w /= w.sum(axis=-1, keepdims=True)
    m = np.stack([np.asarray(p[1]) + noise * rng.standard_normal((draws, len(p[1])))
                  for p in chain_params])
    v = np.stack([np.asarray(p[2]) * np.exp(noise * rng.standard_normal((draws, len(p[2]))))
                  for p in chain_params])
    dims = ("chain", "draw", "component")
    return xr.Dataset({"weights": (dims, w), "means": (dims, m), "variances": (dims, v),
                       "sds": (dims, np.sqrt(v))})


def test_census_classifies_synthetic_chains():
    a = ([0.3, 0.7], [0.0, 5.0], [1.0, 1.0])
    a_swapped = ([0.7, 0.3], [5.0, 0.0], [1.0, 1.0])
    b = ([0.5, 0.5], [2.0, 2.5], [4.0, 0.5])
    one = census.census(_fake_posterior([a, a, a]), [a, b])
    assert one.kind == "one mode" and one.optimum_of_mode == [0]
    sw = census.census(_fake_posterior([a, a_swapped]), [a, b])
    assert sw.kind == "label switching only"
    assert np.all(sw.mode_of_chain == 0)
    several = census.census(_fake_posterior([a, b, a]), [a, b])
    assert several.kind == "several modes"
    assert list(several.mode_of_chain) == [0, 1, 0]
    assert several.optimum_of_mode == [0, 1]
    new = census.census(_fake_posterior([a, ([0.5, 0.5], [9.0, 12.0], [1.0, 1.0])]), [a])
    assert new.kind == "several modes" and new.optimum_of_mode == [0, -1]
    # per-mode diagnostics never pool chains of different modes
    diag = census.per_mode_diagnostics(_fake_posterior([a, b, a]), several)
    assert list(diag["n_chains"].values) == [2, 1]
    assert np.all(diag["rhat_max"].values < 1.05)


def test_init_policies_record_their_starts():
    X, _ = em.sample(200, [0.3, 0.4, 0.3], [0, 4, 8], [1, 0.5, 1], rng=1)
    fit = em.fit(X, 3, n_init=20, rng=0, init="random_resp")
    model = models.build_model(X, 3)
    from mixcompare.models.init import allocate_chains, chain_starts

    starts, rec = chain_starts(model, "em", 4, np.random.default_rng(0), em_result=fit)
    assert rec["policy"] == "em" and rec["optimum"] == [0, 0, 0, 0]
    means = np.array([s["means"] for s in starts])
    assert np.all(np.std(means, axis=0) > 0)  # jittered
    assert np.allclose(means.mean(axis=0), fit.means, atol=0.5)  # around the optimum
    if len(fit.optima) > 1:
        _, rec = chain_starts(model, "atlas", 6, np.random.default_rng(0), em_result=fit)
        assert rec["optimum"][0] == 0 and len(set(rec["optimum"])) > 1
    assert list(allocate_chains([0.5, 0.3, 0.2], 4)) == [0, 0, 1, 2]
    assert list(allocate_chains([0.05, 0.95], 3)) == [0, 1, 1]  # the best gets a chain
    ordered = models.build_model(X, 3, ordered=True)
    starts, _ = chain_starts(ordered, "em", 3, np.random.default_rng(1), em_result=fit)
    for s in starts:
        assert np.all(np.diff(s["means"]) > 0)
    with pytest.raises(ValueError, match="needs em_result"):
        chain_starts(model, "em", 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="init must be one of"):
        chain_starts(model, "jitter", 2, np.random.default_rng(0))


def _sim10k():
    X, _ = em.sample(10_000, [0.3, 0.4, 0.3], [0, 4, 8], [1, 0.5, 1], rng=0)
    prior = em.Prior.default(X)
    return X, em.fit(X, 3, n_init=20, rng=0, prior=prior), models.build_model(X, 3, prior=prior)


@pytest.mark.slow
def test_chains_at_every_em_optimum_are_modes_and_em_init_is_one():
    """n = 10 000, three components, chains started at each of MAP-EM's optima.

    A construction that does not depend on chaos (where PyMC's default start
    lands is chaotic): at n = 10 000 every optimum is a posterior mode, so
    the chains stay where they started. The census must see several modes,
    place every chain, give per-mode diagnostics that do not pool modes, and
    say which optima were kept; from EM's best optimum the chains stay in one.
    """
    import arviz_stats as azs
    from mixcompare.comparisons.tables import posterior_rows

    X, mapem, model = _sim10k()
    assert len(mapem.optima) >= 3
    started = np.array([0, 1, 2, 0])
    starts = [{"weights": mapem.optima[j].weights, "means": mapem.optima[j].means,
               "variances": mapem.optima[j].variances} for j in started]
    tree = models.fit_nuts(model, draws=300, tune=500, chains=4, rng=0, init=starts,
                           progressbar=False)
    post = tree["posterior"].to_dataset()
    ds = census.take_census(post, mapem, model, X, started_at=started)
    assert ds.attrs["kind"] == "several modes", ds.attrs["reason"]
    assert list(ds["optimum_of_mode"].values) == [0, 1, 2]
    assert np.all(ds["matched_optimum"].values >= 0), ds.attrs["reason"]
    assert np.all(ds["stayed"].values), ds.attrs["reason"]
    assert json.loads(ds.attrs["optima_kept"]) == [0, 1, 2]
    assert json.loads(ds.attrs["optima_left"]) == {}
    assert ds["n_chains"].values.sum() == 4
    lls = ds["optimum_log_likelihood"].values
    assert np.all(lls[1:] < lls[0])
    assert np.all(np.isfinite(ds["log_density_at_median"].values))
    # per-mode diagnostics never pool chains of different modes: the two chains of mode 0
    # mix, while R-hat pooled over all chains is useless
    k0 = ds["mode_of_chain"].values == 0
    assert k0.sum() == 2 and ds["rhat_max"].values[0] <= 1.05, ds["rhat_max"].values
    assert float(np.nanmax(azs.rhat(posterior_rows(post)).values)) > 1.5
    # from EM's optimum, jittered by its standard errors, the chains stay in one mode and
    # mix: R-hat <= 1.01 needs enough draws to be a property of the chains, not of the seed
    # (measured: 4 x 300 draws gave 1.017, 1.012, 1.007 at rng 0, 1, 2; 4 x 1000 gave
    # 1.0009, 1.0022, 1.0024)
    tree = models.fit_nuts(model, draws=1000, tune=300, chains=4, rng=0, init="em",
                           em_result=mapem, progressbar=False)
    assert tree["init"].attrs["policy"] == "em"
    ds = census.take_census(tree["posterior"].to_dataset(), mapem, model, X)
    assert ds.attrs["kind"] == "one mode", ds.attrs["reason"]
    assert float(ds["rhat_max"].values[0]) <= 1.01


@pytest.mark.slow
def test_galaxies_em_init_keeps_divergences_low(capsys):
    from mixcompare.comparisons.datasets import load

    X = load("galaxies").X
    res = compare(X, 3, methods=("em", "map_em", "nuts"), n_boot=0, draws=500, tune=500,
                  chains=4, init="em", rng=0)
    diag = res.tree["comparison/diagnostics"]
    rate = diag.attrs["divergences"] / diag.attrs["n_draws"]
    with capsys.disabled():
        print(f"\ngalaxies K=3, init='em', target_accept=0.9: {diag.attrs['divergences']} "
              f"divergences in {diag.attrs['n_draws']} draws ({rate:.2%})")
    assert rate <= 0.01
    assert res.summary()["nuts"]["census"]["kind"] in ("one mode", "label switching only")


def test_starts_kept_or_left():
    stayed, verdict = census.starts_kept_or_left([0, 0, 0, 2, -1], [0, 1, 1, 2, 3])
    assert list(stayed) == [True, False, False, True, False]
    assert verdict == {"kept": [0, 2], "left": {1: [0], 3: [-1]}}
    stayed, verdict = census.starts_kept_or_left([0, 1], [-1, -1])  # prior starts: no verdict
    assert not stayed.any() and verdict == {"kept": [], "left": {}}


@pytest.mark.slow
def test_atlas_starts_show_which_em_optima_are_posterior_modes():
    """Galaxies, K = 3: a chain started at MAP-EM's second optimum leaves it for the best."""
    from mixcompare.comparisons.datasets import load
    from mixcompare.comparisons.report import comparison as report
    from mixcompare.comparisons.report import modes as report_modes

    res = compare(load("galaxies").X, 3, methods=("em", "map_em", "nuts"), n_boot=0,
                  draws=300, tune=500, chains=4, init="atlas", rng=0)
    cen = res.summary()["nuts"]["census"]
    assert cen["started_at"][0] == 0 and 1 in cen["started_at"]
    assert cen["optima_kept"] == [0]
    assert cen["optima_left"] == {"1": [0]}
    lls = res.tree["map_em/optima"]["log_likelihood"].values
    assert lls[1] < lls[0]
    text = " ".join(str(b[1]) for b in report_modes.section(res.tree, report._fmt, report._table)
                    if b[0] == "p")
    assert "M1: every chain started there left (for M0)" in text
