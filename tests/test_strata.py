"""Confined chains and mass-weighted (stratified) posterior summaries, on exact cases.

(a) A standard bivariate Normal restricted to a half-plane: chains confined to it
stay inside, integrate it to 1/2 by bridge sampling and reproduce the half-Normal's
mean. (b) The law of total variance on regions with known masses and moments.
(c) The visit verdict. The galaxies case against an exact Gibbs sampler is in
test_gibbs_reference.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from mixcompare.comparisons.posterior import strata
from mixcompare.comparisons.posterior.bridge import bridge_log_evidence
from mixcompare.comparisons.posterior.confined import confined_draws
from scipy.stats import multivariate_normal


def _half_plane(x):
    lp = multivariate_normal(np.zeros(2), np.eye(2)).logpdf(np.atleast_2d(x))
    return np.where(np.atleast_2d(x)[:, 0] > 0, lp, -np.inf)


def test_confined_chains_stay_inside_and_integrate_a_half_normal():
    cd = confined_draws(_half_plane, np.array([0.5, 0.0]), np.eye(2), rng=0)
    assert cd.draws.shape == (4 * 3000, 2) and cd.chain.shape == (4 * 3000,)
    assert np.all(cd.draws[:, 0] > 0)
    assert 0.1 < cd.acceptance < 0.5
    # E[x0 | x0 > 0] = sqrt(2 / pi) for a standard Normal; E[x1] = 0
    assert cd.draws[:, 0].mean() == pytest.approx(np.sqrt(2 / np.pi), abs=0.05)
    assert abs(cd.draws[:, 1].mean()) < 0.08
    ev = bridge_log_evidence(_half_plane, cd.draws, 1, chain=cd.chain)
    assert abs(ev.log_z - np.log(0.5)) < max(4 * ev.sd, 0.02)


def test_confined_chains_need_a_start_inside():
    with pytest.raises(ValueError, match="start from a point inside"):
        confined_draws(_half_plane, np.array([-1.0, 0.0]), np.eye(2), rng=0)


def test_confined_chains_are_reproducible():
    a = confined_draws(_half_plane, np.array([0.5, 0.0]), np.eye(2), rng=3, steps=200)
    b = confined_draws(_half_plane, np.array([0.5, 0.0]), np.eye(2), rng=3, steps=200)
    np.testing.assert_array_equal(a.draws, b.draws)


def test_region_moments_of_independent_draws():
    rng = np.random.default_rng(0)
    rows = rng.normal([1.0, -2.0], [0.5, 3.0], size=(8000, 2))
    mo = strata.region_moments(rows, np.repeat(np.arange(4), 2000))
    assert np.all(np.abs(mo["mean"] - [1.0, -2.0]) < 4 * np.array([0.5, 3.0]) / np.sqrt(8000))
    np.testing.assert_allclose(mo["var"], [0.25, 9.0], rtol=0.08)
    # independent draws: MCSE of the mean about sd / sqrt(n), of the variance sd^2 sqrt(2/n)
    np.testing.assert_allclose(mo["mean_mcse"], np.array([0.5, 3.0]) / np.sqrt(8000), rtol=0.3)
    np.testing.assert_allclose(mo["var_mcse"], np.array([0.25, 9.0]) * np.sqrt(2 / 8000),
                               rtol=0.3)


def _masses(log_z, mean, var, *, n_draws=(100, 100), sd=0.0, mcse=0.0):
    R = len(log_z)
    return xr.Dataset({
        "log_evidence": ("region", np.asarray(log_z, float)),
        "log_evidence_sd": ("region", np.full(R, sd)),
        "n_draws": ("region", np.asarray(n_draws)),
        "row_mean": (("region", "row"), np.asarray(mean, float)),
        "row_var": (("region", "row"), np.asarray(var, float)),
        "row_mean_mcse": (("region", "row"), np.full(np.shape(mean), mcse)),
        "row_var_mcse": (("region", "row"), np.full(np.shape(mean), mcse))})


def test_mass_weighted_rows_is_the_law_of_total_variance():
    # masses 0.99 / 0.01; one row at 33 (sd 0.8) and 25 (sd 2), one row equal in both
    log_z = np.log([0.99, 0.01]) + 5.0
    out = strata.mass_weighted_rows(_masses(log_z, [[33.0, 1.0], [25.0, 1.0]],
                                            [[0.64, 0.1], [4.0, 0.1]]), rng=0)
    mean = 0.99 * 33 + 0.01 * 25
    var = 0.99 * (0.64 + (33 - mean) ** 2) + 0.01 * (4.0 + (25 - mean) ** 2)
    np.testing.assert_allclose(out["mean_by_mass"], [mean, 1.0])
    np.testing.assert_allclose(out["sd_by_mass"], [np.sqrt(var), np.sqrt(0.1)])
    np.testing.assert_allclose(out["sd_by_mass_mcse"], 0.0, atol=1e-12)  # no errors given
    np.testing.assert_allclose(out["mean_by_mass_mcse"], 0.0, atol=1e-12)
    # with errors on the log integrals the sd of the first row is uncertain, the second not
    noisy = strata.mass_weighted_rows(_masses(log_z, [[33.0, 1.0], [25.0, 1.0]],
                                              [[0.64, 0.1], [4.0, 0.1]], sd=0.05), rng=0)
    assert noisy["sd_by_mass_mcse"][0] > 1e-3 and noisy["sd_by_mass_mcse"][1] < 1e-12


def test_mass_weighted_rows_refuses_uncovered_draws():
    mean, var = [[33.0], [np.nan]], [[0.64], [np.nan]]
    # a region with no estimate holding 1 draw in 200 is left out ...
    ok = strata.mass_weighted_rows(_masses([0.0, np.nan], mean, var, n_draws=(199, 1)), 0)
    np.testing.assert_allclose(ok["sd_by_mass"], [0.8])
    # ... holding 10 % of them, no stratified summary
    assert strata.mass_weighted_rows(_masses([0.0, np.nan], mean, var, n_draws=(180, 20)),
                                     0) is None
    assert strata.mass_weighted_rows(xr.Dataset(), 0) is None


def test_visits_verdict():
    v = strata.visits([0.9935, 0.0065, 0.5, 0.001, np.nan],
                      [0.999, 0.001, 0.5, 0.0001, 0.2])
    assert v.tolist() == ["as its mass", "under", "as its mass", "not judged", "not judged"]
    assert strata.visits([0.01], [0.05]).tolist() == ["over"]


def test_report_names_an_under_visited_region():
    from mixcompare.comparisons.report.tail import _visits

    regions = [{"region": "M0", "means": [9.7, 21.4, 33.0], "mass": 0.9935, "mass_sd": 2e-4,
                "method": "bridge", "draw_share": 0.999, "visits": "as its mass"},
               {"region": "M1", "means": [9.7, 19.8, 22.8], "mass": 0.0065, "mass_sd": 2e-4,
                "method": "bridge (confined chains)", "draw_share": 0.001, "visits": "under"}]
    text = _visits(json.loads(json.dumps(regions)))
    assert len(text) == 1
    assert "0.10% of their draws in the region of M1" in text[0]
    assert "0.65% ± 0.02%" in text[0] and "**under-visited**" in text[0]


def _galaxies_optima():
    from mixcompare import em
    from mixcompare.comparisons.datasets import load

    X = load("galaxies").X
    prior = em.Prior.default(X)
    atlas = em.fit(X, 3, prior=prior, n_init=40, rng=0)
    good = [o for o in atlas.optima if not (o.degenerate or o.spurious)]
    return X, prior, good


def test_missed_optima_finds_the_tail_optimum_by_restarts_and_from_draws():
    from mixcompare.comparisons.posterior.missed import missed_optima

    X, prior, good = _galaxies_optima()
    main = [o for o in good if o.log_likelihood == pytest.approx(-204.836, abs=1e-2)][0]
    tail = [o for o in good if o.log_likelihood == pytest.approx(-211.448, abs=1e-2)][0]
    scale = float(np.std(X))
    centres = [(main.weights, main.means, main.covariances)]
    # draws: 40 at the main optimum, 2 near the tail optimum (one chain)
    rng = np.random.default_rng(1)
    params = [main] * 40 + [tail] * 2

    def var(name):
        a = np.array([np.ravel(getattr(o, name)) for o in params])
        noisy = a * (1 + 1e-3 * rng.standard_normal(a.shape))
        return ("chain", "draw", "component"), noisy[None]

    post = xr.Dataset({k: var(k) for k in ("weights", "means", "variances")})
    from_draws = missed_optima(post, centres, X, scale, 0, prior=prior, n_restarts=0)
    assert len(from_draws) == 1
    assert np.sort(np.ravel(from_draws[0][1])) == pytest.approx(np.sort(tail.means.ravel()),
                                                                abs=1e-3)
    # no draw there: 40 restarts reach it (2 in 10 restarts did when recorded)
    only_main = post.isel(draw=slice(0, 40))
    assert missed_optima(only_main, centres, X, scale, 0, prior=prior, n_far=0)
    # a known optimum is not found again
    both = centres + [(tail.weights, tail.means, tail.covariances)]
    again = missed_optima(post, both, X, scale, 0, prior=prior, n_restarts=0)
    assert all(np.abs(np.sort(np.ravel(c[1])) - np.sort(tail.means.ravel())).max() > 1e-2
               for c in again)


def test_resample_by_mass_gives_each_region_its_mass():
    log_z = np.log([0.9, 0.1, 1e-7])  # the third: a negligible region with no draws (Laplace)
    ds = _masses(log_z, [[0.0], [10.0], [np.nan]], [[1.0], [1.0], [np.nan]],
                 n_draws=(300, 3, 0))
    rows = [np.zeros((300, 1)), np.full((50, 1), 10.0), None]  # region 1: confined chains
    pooled = strata.resample_by_mass(ds, rows, 1000)
    assert pooled.shape == (1000, 1)
    assert np.sum(pooled[:, 0] == 10.0) == 100  # systematic resampling: exact shares
    np.testing.assert_array_equal(pooled, strata.resample_by_mass(ds, rows, 1000))
    # one region: nothing to stratify
    one = _masses([0.0], [[0.0]], [[1.0]], n_draws=(300,))
    assert strata.resample_by_mass(one, [np.zeros((300, 1))], 1000) is None
    # a region with a real mass but no draws to represent it: no pooled draws
    big = _masses(np.log([0.9, 0.1]), [[0.0], [np.nan]], [[1.0], [np.nan]], n_draws=(300, 0))
    assert strata.resample_by_mass(big, [np.zeros((300, 1)), None], 1000) is None
    assert strata.mass_weighted_rows(big, 0) is None


@pytest.mark.slow
def test_ordered_draws_relabelled_to_the_pivot_still_get_masses():
    """faithful K = 3 ordered: the pivot relabelling permutes some ordered draws (two close
    means). A region with enough draws must get its bridge estimate: the draws are put back
    in the model's order first (before, their unconstrained values were not finite and
    every region's estimate failed)."""
    from mixcompare.comparisons.datasets import load
    from mixcompare.comparisons.pipeline import compare

    X = load("faithful").X
    with _quiet():
        res = compare(X, 3, ordered=True, n_boot=0, draws=300, tune=300, chains=2, rng=0,
                      progressbar=False)
    tree = res.tree
    raw = tree["posterior"].to_dataset()["means"].values
    relabeled = tree["posterior_relabeled"].to_dataset()["means"].values
    assert not np.array_equal(raw, relabeled)  # the case this test is about
    regions = json.loads(tree["comparison/diagnostics"].attrs["regions"])
    n_used = 600  # 2 chains x 300 draws, all used
    many = [g for g in regions if g["draw_share"] * n_used >= 100]
    assert many and all(g["method"] == "bridge" and g["mass"] > 0 for g in many), regions


def _quiet():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def ctx():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield

    return ctx()
