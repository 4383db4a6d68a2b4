"""NUTS against an exact reference: a Gibbs sampler with data augmentation (tests/_gibbs.py).

The Gibbs sampler is itself checked against grid quadrature of the posterior
written here with scipy.stats densities (K = 1, and the lecture's two means).
NUTS's posterior means and sds must then match the reference within 4 Monte
Carlo standard errors, ``z = (nuts - ref) / sqrt(mcse_nuts^2 + mcse_ref^2)``,
for the lecture's data, faithful K = 2 and galaxies K = 3 (ordered models).
"""

from __future__ import annotations

import warnings

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr
from _gibbs import gibbs
from mixcompare import em, models
from mixcompare.comparisons import datasets
from mixcompare.comparisons.posterior.tail import NORMAL_TAIL_SHARE, tail_diagnostics
from scipy import stats

Z_MAX = 4.0
LECTURE = np.array([-10.2, -10.0, -9.8, -0.2, 0.0, 0.2, 11.8, 12.0, 12.2])


def _mcse(a, method):
    return float(azs.mcse(np.asarray(a), method=method))


def _z_rows(post, ref, K, *, names=("weights", "means", "sds")):
    """z of the means and of the sds, NUTS (dict of (chain, draw, K)) against the Gibbs draws."""
    out = {}
    for name in names:
        for k in range(K):
            a, b = post[name][:, :, k], ref[name][:, :, k]
            for stat, f in (("mean", np.mean), ("sd", np.std)):
                out[f"{stat} {name}[{k}]"] = (f(a) - f(b)) / np.hypot(_mcse(a, stat),
                                                                       _mcse(b, stat))
    return out


def _start(x, K, prior, fixed=None):
    r = em.fit(x, K, prior=prior, fixed=fixed, n_init=20, rng=0)
    start = {"weights": r.weights, "means": r.means.ravel(), "variances": r.variances.ravel()}
    return r, start


def _nuts(x, K, prior, em_result, *, fixed=None, draws=1000, tune=1000, rng=0):
    mm = models.build_model(x, K, prior=prior, fixed=fixed, ordered=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        tree = models.fit_nuts(mm, draws=draws, tune=tune, chains=4, init="em",
                               em_result=em_result, rng=rng, progressbar=False)
    post = tree["posterior"].to_dataset()
    return {k: post[k].transpose("chain", "draw", "component").values
            for k in ("weights", "means", "sds")}


def _lecture_grid():
    """Exact ordered posterior of the lecture's two means (sigma^2 = 1, tau = 0.5 fixed)."""
    prior = em.Prior.default(LECTURE)
    g = np.linspace(-20.0, 25.0, 1201)
    m1, m2 = np.meshgrid(g, g, indexing="ij")
    loglik = np.logaddexp(stats.norm.logpdf(LECTURE[:, None, None], m1, 1.0),
                          stats.norm.logpdf(LECTURE[:, None, None], m2, 1.0)).sum(axis=0)
    sd0 = np.sqrt(1.0 / prior.kappa)
    logp = loglik + stats.norm.logpdf(m1, prior.m0, sd0) + stats.norm.logpdf(m2, prior.m0, sd0)
    p = np.where(m1 < m2, np.exp(logp - logp.max()), 0.0)
    p /= p.sum()
    moments = {}
    for k, m in enumerate((m1, m2)):
        mean = float((p * m).sum())
        moments[k] = (mean, float(np.sqrt((p * (m - mean) ** 2).sum())))
    return prior, moments


LECTURE_FIXED = {"variances": 1.0, "weights": [0.5, 0.5]}


def test_gibbs_k1_matches_quadrature():
    """K = 1: Gibbs draws of (mu, sd) against 2-D quadrature of the NIG posterior.

    An informative prior off the data's mean (kappa = 1, m0 = mean + 3) so that every
    term of the conjugate update matters.
    """
    x = datasets.load("galaxies").X.ravel()
    prior = em.Prior(m0=x.mean() + 3.0, kappa=1.0, a=3.0, b=5.0)
    mu = np.linspace(x.mean() - 3, x.mean() + 3, 801)
    s2 = np.linspace(5.0, 60.0, 1101)
    M, S2 = np.meshgrid(mu, s2, indexing="ij")
    n, scatter = x.size, ((x - x.mean()) ** 2).sum()
    loglik = -0.5 * n * np.log(2 * np.pi * S2) - (scatter + n * (x.mean() - M) ** 2) / (2 * S2)
    logp = (loglik + stats.invgamma.logpdf(S2, prior.a, scale=prior.b)
            + stats.norm.logpdf(M, prior.m0, np.sqrt(S2 / prior.kappa)))
    p = np.exp(logp - logp.max())
    p /= p.sum()
    assert p[[0, -1], :].sum() + p[:, [0, -1]].sum() < 1e-8       # the grid holds the mass
    draws = gibbs(x, 1, prior, sweeps=2000, chains=16, rng=11,
                  start={"weights": [1.0], "means": [x.mean()], "variances": [x.var()]})
    for name, grid in (("means", M), ("sds", np.sqrt(S2))):
        exact_mean = float((p * grid).sum())
        exact_sd = float(np.sqrt((p * (grid - exact_mean) ** 2).sum()))
        d = draws[name][:, :, 0]
        assert abs(d.mean() - exact_mean) <= Z_MAX * _mcse(d, "mean"), name
        assert abs(d.std() - exact_sd) <= Z_MAX * _mcse(d, "sd"), name


def test_gibbs_lecture_matches_quadrature():
    """The lecture's ordered two-means posterior: Gibbs with sorting against the exact grid."""
    prior, exact = _lecture_grid()
    draws = gibbs(LECTURE, 2, prior, sweeps=2000, chains=16, rng=12, fixed=LECTURE_FIXED,
                  start={"weights": [0.5, 0.5], "means": [-5.0, 12.0], "variances": [1.0, 1.0]},
                  ordered=True)
    for k in range(2):
        d = draws["means"][:, :, k]
        assert abs(d.mean() - exact[k][0]) <= Z_MAX * _mcse(d, "mean")
        assert abs(d.std() - exact[k][1]) <= Z_MAX * _mcse(d, "sd")


def test_nuts_lecture_matches_quadrature():
    """NUTS (ordered, means only) on the lecture's data against the exact grid moments."""
    prior, exact = _lecture_grid()
    r, _ = _start(LECTURE, 2, prior, fixed=LECTURE_FIXED)
    post = _nuts(LECTURE, 2, prior, r, fixed=LECTURE_FIXED, draws=500, tune=500, rng=3)
    for k in range(2):
        d = post["means"][:, :, k]
        assert abs(d.mean() - exact[k][0]) <= Z_MAX * _mcse(d, "mean")
        assert abs(d.std() - exact[k][1]) <= Z_MAX * _mcse(d, "sd")


def test_nuts_faithful_matches_gibbs():
    """Faithful waiting times, K = 2 ordered: NUTS means and sds within 4 MCSE of Gibbs."""
    x = datasets.load("faithful").X.ravel()
    prior = em.Prior.default(x)
    r, start = _start(x, 2, prior)
    ref = gibbs(x, 2, prior, sweeps=1500, chains=32, rng=4, start=start, ordered=True)
    post = _nuts(x, 2, prior, r, draws=500, tune=500, rng=5)
    z = _z_rows(post, ref, 2)
    assert max(abs(v) for v in z.values()) <= Z_MAX, z


@pytest.mark.slow
def test_nuts_galaxies_matches_gibbs_and_tail_is_flagged():
    """Galaxies K = 3 ordered, 4 x 4000 draws (init at MAP-EM), against Gibbs.

    Finding (issue #21 item 2; 20 seeds at compare's defaults, 4 x 1000, and 6
    at 4 x 4000, replayed through this test's assertions): the deep excursions
    in which the third component leaves its 3-point cluster to split the
    central one (means[2] < 28: 0.64 % of the Gibbs draws, sd of means[2]
    1.028) are entered by NUTS in a few visits per run, some long, some none.
    At 4 x 1000, sd(means[2]) ranged 0.78-1.49 over rng = 0..19 (run-to-run
    sd 0.25, against a reported MCSE of 0.20; pooled 1.11 +- 0.07, not low on
    average), and 7 runs in 20 failed these assertions: |z| > 4 on the sd of
    means[2] at rng = 8, 14, 17, 18 (runs that missed the tail report a small
    MCSE, and their tail share of means[2] stays under 2x Normal's), means[1]
    flagged at rng = 6, 11, 19. At 4 x 4000 (rng = 0..5) every run passed, the
    largest |z| 2.5, run-to-run sd 0.11 against a reported MCSE of 0.11: the
    test runs there, so that it does not pass by the seed's luck.
    target_accept 0.99, tune 3000, a dense mass matrix, 8 x 500 chains and
    PyMC's SMC did not help; a softplus parameterisation of the ordered gaps
    halved the run-to-run sd at 4 x 1000 but still failed 1 seed in 20. The
    sd of the small component's parameters is carried by those few per cent
    of draws: the tail diagnostic must call them tail-sensitive, in the exact
    draws and in NUTS's.
    """
    x = datasets.load("galaxies").X.ravel()
    prior = em.Prior.default(x)
    r, start = _start(x, 3, prior)
    ref = gibbs(x, 3, prior, sweeps=4000, chains=64, rng=1, start=start, ordered=True, burn=200)
    post = _nuts(x, 3, prior, r, draws=4000, rng=0)
    z = _z_rows(post, ref, 3)
    assert max(abs(v) for v in z.values()) <= Z_MAX, z
    for draws in (ref, post):
        ds = xr.Dataset({k: (("chain", "draw", "component"), v) for k, v in draws.items()})
        tail = tail_diagnostics(ds, 3, None).set_index(row="name")
        for row in ("means[2]", "sds[2]"):
            assert bool(tail["tail_sensitive"].sel(row=row)), row
            assert float(tail["tail_share"].sel(row=row)) > 2 * NORMAL_TAIL_SHARE
        assert not bool(tail["tail_sensitive"].sel(row="means[1]"))


def _assert_by_mass_matches(diag, rows):
    """Every row's mass-weighted mean and sd within Z_MAX MCSE of the exact draws' (rows)."""
    for i, name in enumerate(diag["name"].values):
        for stat, f in (("mean", np.mean), ("sd", np.std)):
            exact, exact_mcse = f(rows[:, :, i]), _mcse(rows[:, :, i], stat)
            z = ((float(diag[f"{stat}_by_mass"][i]) - exact)
                 / np.hypot(float(diag[f"{stat}_by_mass_mcse"][i]), exact_mcse))
            assert abs(z) <= Z_MAX, (stat, name, z)


@pytest.mark.slow
def test_mass_weighted_sds_match_gibbs_at_compare_defaults_on_galaxies():
    """Galaxies K = 3 ordered through ``compare`` at its defaults (4 x 1000 draws).

    The draws' sd of means[2] rests on how often the run entered the region of
    MAP-EM's second optimum (the small component leaving its cluster); the
    mass-weighted sd (:mod:`comparisons.posterior.strata`) takes that region's
    mass from the density instead, with chains confined to it. Recorded over
    rng = 0..15: the draws' sd of means[2] ranged 0.83-1.41 (reference 1.028),
    the mass-weighted one 0.989-1.085, largest |z| over all nine rows 3.2
    (rng 7). The region's mass, 0.62-0.68 %, against 0.71 % of the Gibbs draws;
    a Laplace approximation there gives 0.04 %. At rng 10 the MAP-EM atlas
    missed that optimum (2 restarts in 10 reach it) and the chains never went
    there; the 40 extra restarts of :mod:`comparisons.posterior.missed` found it.
    The mass-weighted means, over rng = 0..7: largest |z| 2.6 over the nine rows.
    """
    import json

    from mixcompare.comparisons.pipeline import compare
    from mixcompare.comparisons.posterior.mass import nearest_centre, standardised_centres
    from mixcompare.comparisons.posterior.units import standardised
    from mixcompare.comparisons.tables import flatten

    X = datasets.load("galaxies").X
    x = X.ravel()
    prior = em.Prior.default(x)
    r, start = _start(x, 3, prior)
    ref = gibbs(x, 3, prior, sweeps=4000, chains=64, rng=1, start=start, ordered=True, burn=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare(X, 3, ordered=True, n_boot=0, rng=0, progressbar=False)
    diag = res.tree["comparison/diagnostics"].to_dataset()
    rows = flatten(ref["weights"], ref["means"], ref["sds"])
    _assert_by_mass_matches(diag, rows)
    # the report's summaries pool the draws by region mass: the same sds, up to resampling
    summ = res.tree["comparison/agreement"].to_dataset()
    assert summ.attrs["pooled_by"] == "region masses"
    np.testing.assert_allclose(summ["post_sd"].values, diag["sd_by_mass"].values, rtol=0.05)
    # the tail's region: its mass from confined chains, against the exact draws' share
    regions = json.loads(diag.attrs["regions"])
    conf = [g for g in regions if g["method"] == "bridge (confined chains)"]
    assert len(conf) == 1 and max(conf[0]["means"]) < 28
    opt = res.tree["map_em/optima"].to_dataset()
    centres = standardised_centres(
        [(opt["weights"].values[j], opt["means"].values[j], opt["sds"].values[j] ** 2)
         for j in range(opt.sizes["optimum"])], float(np.std(x)))
    w, m, s = (ref[k].reshape(-1, 3)[::16] for k in ("weights", "means", "sds"))
    region = np.array([nearest_centre(centres, standardised(w[i], m[i], s[i] ** 2,
                                                            float(np.std(x))))[0]
                       for i in range(len(w))])
    j = [g["region"] for g in regions].index(conf[0]["region"])
    share = float(np.mean(region == j))
    assert 0.5 * share < conf[0]["mass"] < 2 * share, (conf[0]["mass"], share)


@pytest.mark.slow
def test_mass_weighted_summaries_match_gibbs_unordered_on_galaxies():
    """The same at ``compare``'s defaults for the unordered model (the CLI's default).

    The exact draws (unordered Gibbs) are relabelled to the comparison's pivot by the
    rule of its relabelled summaries (:func:`pivot_permutations`); the regions' draws
    are relabelled the same way before they are pooled. Recorded over rng = 0..7:
    every row's pooled sd within 2.0 MCSE.
    """
    from mixcompare.comparisons.pipeline import compare
    from mixcompare.comparisons.posterior.relabel import pivot_permutations
    from mixcompare.comparisons.tables import flatten

    X = datasets.load("galaxies").X
    x = X.ravel()
    prior = em.Prior.default(x)
    _, start = _start(x, 3, prior)
    ref = gibbs(x, 3, prior, sweeps=4000, chains=64, rng=1, start=start, burn=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare(X, 3, n_boot=0, rng=0, progressbar=False)
    me = res.tree["map_em"].to_dataset()
    perms = pivot_permutations(ref["weights"], ref["means"], ref["sds"] ** 2,
                               (me["weights"].values, me["means"].values,
                                me["variances"].values))
    rows = flatten(*(np.take_along_axis(ref[k], perms, axis=-1)
                     for k in ("weights", "means", "sds")))
    diag = res.tree["comparison/diagnostics"].to_dataset()
    assert res.tree["comparison/agreement"].attrs["pooled_by"] == "region masses"
    _assert_by_mass_matches(diag, rows)
