"""Posterior masses of modes, estimated from the density, not from where the chains are.

(a) An exact case: a known mixture of two Gaussians in 2-D with masses 0.9 / 0.1,
sampled directly with as many draws in each mode (a 50/50 "chain share"): bridge
sampling recovers 0.9 / 0.1 within its stated uncertainty, and that uncertainty is
the estimator's actual spread. (b) Galaxies, K = 3, unordered (issue #21 item 1):
chains started in the minor mode (means ≈ 19.7 / 19.9 / 23.0, a broad component
under two narrow ones) stay there, yet its estimated mass is tiny, as by Chib's
method in the issue (about 1e-4), and EM's best optimum holds the mass.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from mixcompare.comparisons.posterior.bridge import (
    bridge_log_evidence,
    laplace_log_evidence,
    masses_from_log_evidence,
)
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

# the exact target: 0.9 N(c0, S0) + 0.1 N(c1, S1), times exp(7) (unnormalised)
CENTRES = [np.array([0.0, 0.0]), np.array([8.0, 3.0])]
COVS = [np.array([[1.0, 0.5], [0.5, 2.0]]), np.array([[0.5, -0.2], [-0.2, 0.3]])]
MASSES = np.array([0.9, 0.1])
LOG_C = 7.0


def _log_target(x):
    return LOG_C + logsumexp([np.log(w) + multivariate_normal(c, S).logpdf(x)
                              for w, c, S in zip(MASSES, CENTRES, COVS, strict=True)], axis=0)


def _region(x, k):
    d = np.stack([np.sum((np.atleast_2d(x) - c) ** 2, axis=1) for c in CENTRES])
    return np.argmin(d, axis=0) == k


def _restricted(k):
    return lambda x: np.where(_region(x, k), _log_target(x), -np.inf)


def _estimate(rng, n=1000):
    """Masses from equally many direct draws of each mode (a 50/50 chain share)."""
    ev = []
    for k in range(2):
        draws = rng.multivariate_normal(CENTRES[k], COVS[k], n)
        draws = draws[_region(draws, k)]  # draws of the density restricted to the region
        ev.append(bridge_log_evidence(_restricted(k), draws, rng))
    return ev, masses_from_log_evidence([e.log_z for e in ev], [e.sd for e in ev])


def test_bridge_recovers_unequal_masses_from_equal_draw_counts():
    ev, (mass, sd) = _estimate(np.random.default_rng(20261201))
    assert all(e.method == "bridge" for e in ev)
    # region integrals: the mode's mass times exp(LOG_C), up to the tails beyond the cut
    # (below 1e-9 here), within 4 stated standard errors
    for k in range(2):
        assert abs(ev[k].log_z - (LOG_C + np.log(MASSES[k]))) < 4 * ev[k].sd
    assert np.all(np.abs(mass - MASSES) < 4 * sd)
    assert np.all(sd < 0.01)  # informative: far from the 50/50 the draw counts say
    assert mass.sum() == pytest.approx(1.0)


def test_bridge_stated_error_matches_its_spread():
    """Over 30 repetitions the sd of log Z is the stated error within a factor 2."""
    rng = np.random.default_rng(7)
    reps = [_estimate(rng, n=400)[0] for _ in range(30)]
    for k in range(2):
        est = np.array([r[k].log_z for r in reps])
        stated = np.median([r[k].sd for r in reps])
        assert 0.5 < np.std(est, ddof=1) / stated < 2.0
        # unbiased within the spread of the mean of 30 estimates (4 standard errors)
        assert abs(est.mean() - (LOG_C + np.log(MASSES[k]))) < 4 * stated / np.sqrt(30)


def test_laplace_is_exact_for_a_gaussian():
    S = COVS[0]
    ev, mode = laplace_log_evidence(lambda x: LOG_C + multivariate_normal(CENTRES[0], S)
                                    .logpdf(x), np.array([1.0, -1.0]))
    assert ev.method == "laplace" and np.isnan(ev.sd)
    assert mode == pytest.approx(CENTRES[0], abs=1e-4)
    assert ev.log_z == pytest.approx(LOG_C, abs=1e-4)


def test_masses_delta_method_matches_simulation():
    log_z, sd = np.array([0.0, -1.0, -3.0]), np.array([0.05, 0.1, 0.2])
    mass, mass_sd = masses_from_log_evidence(log_z, sd)
    assert mass == pytest.approx(np.exp(log_z) / np.exp(log_z).sum())
    sims = np.random.default_rng(3).normal(log_z, sd, (20000, 3))
    sims = np.exp(sims - logsumexp(sims, axis=1, keepdims=True))
    assert mass_sd == pytest.approx(sims.std(axis=0), rel=0.1)
    m2, s2 = masses_from_log_evidence([0.0, np.nan], [0.1, np.nan])
    assert m2[0] == 1.0 and np.isnan(m2[1]) and np.isnan(s2[1])


def _minor_mode_start():
    """MAP-EM climbed from the issue's minor mode (means 19.0 / 20.4 / 22.9), as PyMC values."""
    from mixcompare import em
    from mixcompare.comparisons.datasets import load

    X = load("galaxies").X
    res = em.fit(X, 3, prior=em.Prior.default(X),
                 init={"weights": [0.3, 0.3, 0.4], "means": [19.0, 20.4, 22.9],
                       "variances": [1.0, 1.0, 4.0]})
    return X, res


def _short(X, init):
    from mixcompare.comparisons.pipeline import compare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(X, 3, methods=("em", "map_em", "nuts"), n_boot=0, draws=300, tune=300,
                       chains=2, init=init, rng=0)


@pytest.fixture(scope="module")
def minor_run():
    """Galaxies K = 3 unordered, both chains started at the minor mode."""
    X, minor = _minor_mode_start()
    start = {"weights": minor.weights, "means": minor.means, "variances": minor.variances}
    return X, minor, _short(X, [start, start])


def test_galaxies_minor_mode_has_tiny_mass_although_every_chain_sits_there(minor_run):
    from mixcompare.comparisons.report import comparison as report
    from mixcompare.comparisons.report import modes as report_modes

    X, minor, res = minor_run
    nuts = res.summary()["nuts"]
    # both chains stayed in the minor mode: a chain share of 100 %
    assert len(nuts["modes"]) == 1
    mode = nuts["modes"][0]
    assert mode["chain_share"] == 1.0
    means = np.sort(res.tree["comparison/census"]["median"].values[0, :, 1])
    assert means == pytest.approx(np.sort(minor.means), abs=0.5)
    # ... yet its estimated mass, by bridge sampling from its draws, is tiny
    assert mode["mass_method"] == "bridge"
    assert mode["mass"] < 1e-2
    mass = nuts["mass_near_em_optima"]
    # EM's best optimum (no chain went there) holds the mass, by chains confined to its region
    assert mass["method"][0] == "bridge (confined chains)"
    assert mass["mass"][0] > 0.99
    assert mass["em_best_is_minor_mode"] is False
    # where the draws were: none near EM's best optimum
    assert mass["draw_share"][0] == 0.0
    # no pooled verdict on draws from a minor mode; the report says where the mass is
    agreement = res.summary()["agreement"]
    assert agreement["verdict"] == "not_assessable"
    assert "the draws summarise a minor mode" in agreement["reason"]
    items = report_modes.mass_items(res.tree, report._ll)
    assert "E0 (log-likelihood" in items[0] and "(bridge (confined chains))" in items[0]
    assert "EM's best optimum (E0) is not a minor mode of the posterior" in items[0]
    assert "not a mass" in items[1]


def test_no_pooled_verdict_when_the_chains_sit_in_a_minor_mode():
    """One settled, converged mode is not enough when it holds little estimated mass."""
    import xarray as xr
    from mixcompare.comparisons.pipeline.verdict import MASS_MIN, assessability

    def census(mass, region):
        n = len(mass)
        return xr.Dataset({"unsettled": ("chain", np.zeros(2, bool)),
                           "mode_of_chain": ("chain", np.zeros(2, int)),
                           "optimum_of_mode": ("mode", np.arange(n)),
                           "mass": ("mode", np.asarray(mass, float)),
                           "mass_region": ("mode", np.asarray(region))},
                          attrs={"kind": "one mode"})

    diag = xr.Dataset({"rhat_relabeled": ("row", [1.001]),
                       "ess_bulk_relabeled": ("row", [2000.0])})
    ok, why = assessability(census([1e-4], [3]), diag)
    assert not ok and "the chains' mode holds only 0.0001 of the estimated posterior mass" in why
    ok, _ = assessability(census([MASS_MIN + 0.01], [0]), diag)
    assert ok
    ok, _ = assessability(census([np.nan], [0]), diag)  # no estimate: no claim either way
    assert ok
    # two modes in one region count its mass once
    ok, why = assessability(census([0.6, 0.6], [1, 1]), diag)
    assert not ok and "the chains' modes hold only 0.6" in why


def test_confined_chains_and_laplace_agree_with_bridge_at_galaxies_best_mode(minor_run):
    """The region of EM's best optimum, no chain there, against bridge from chains there.

    With no chain in the region, its integral comes from chains confined to it
    (bridge sampling) and a Laplace approximation is recorded beside it; a run
    whose chains sit there gives bridge sampling from its own draws. All three
    estimate the same integral of the same density: the confined chains' agrees
    with the chains' within 4 combined standard errors, Laplace (off by O(1/n)
    relative terms) within 0.5 nats (0.17 when recorded).
    """
    X, _, res = minor_run
    confined = res.tree["comparison/modes"].to_dataset().isel(optimum=0)
    assert str(confined["method"].values) == "bridge (confined chains)"
    bridge = _short(X, "em").tree["comparison/modes"].to_dataset().isel(optimum=0)
    assert str(bridge["method"].values) == "bridge"
    assert float(bridge["log_evidence_sd"]) < 0.05
    assert float(confined["log_evidence_sd"]) < 0.05
    gap = abs(float(confined["log_evidence"]) - float(bridge["log_evidence"]))
    assert gap < 4 * np.hypot(float(confined["log_evidence_sd"]), float(bridge["log_evidence_sd"]))
    assert abs(float(confined["log_evidence_laplace"]) - float(bridge["log_evidence"])) < 0.5


def test_pooled_summaries_weight_modes_by_mass_not_by_chains():
    import xarray as xr
    from mixcompare.comparisons.pipeline import metrics
    from mixcompare.comparisons.pipeline.analysis import mass_weights

    # three chains: two in a minor mode (mass 0.1), one in the major mode (mass 0.9)
    cen = xr.Dataset({"mode_of_chain": ("chain", [0, 0, 1]), "mass": ("mode", [0.1, 0.9])})
    w = mass_weights(cen)
    np.testing.assert_allclose(w, [0.05, 0.05, 0.9])
    rng = np.random.default_rng(0)
    D = 2000
    centre = np.array([10.0, 10.0, 0.0])[:, None]  # means[0] per chain
    post = xr.Dataset({
        "weights": (("chain", "draw", "component"), np.full((3, D, 1), 1.0)),
        "means": (("chain", "draw", "component"), centre[:, :, None] + rng.normal(size=(3, D, 1))),
        "sds": (("chain", "draw", "component"), np.ones((3, D, 1)))})
    by_mass = metrics.posterior_summary(post, 1, None, chain_weights=w)
    by_chain = metrics.posterior_summary(post, 1, None)
    mean = by_mass["post_mean"].values[1]  # row 1: means[0]
    assert abs(mean - 1.0) < 0.1  # 0.1 x 10 + 0.9 x 0, against 6.67 by chain counts
    assert abs(by_chain["post_mean"].values[1] - 20 / 3) < 0.1
    assert by_mass.attrs["pooled_by"] == "mass" and by_chain.attrs["pooled_by"] == "chains"
    # one mode, an unknown mass or a shared region: pool by chains
    assert mass_weights(cen.assign(mode_of_chain=("chain", [1, 1, 1]))) is None
    assert mass_weights(cen.assign(mass=("mode", [np.nan, 0.9]))) is None
