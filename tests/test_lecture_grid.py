"""The quick lecture's exact grid posterior of the nine-point example, against scipy quadrature."""

import numpy as np
import pytest
from mixcompare import em
from mixcompare.comparisons.lecture import grid_posterior as gp
from mixcompare.comparisons.lecture import slides
from scipy.special import logsumexp, roots_legendre
from scipy.stats import norm

X, FIXED = slides.bumps_data()
PRIOR = em.Prior.default(X)
MAXIMA = np.array([[-5.0, 12.0], [12.0, -5.0], [-10.0, 6.0], [6.0, -10.0]])
DRAWS = 4000


def _log_post(mu1, mu2, x=X, prior=PRIOR):
    """Unnormalised log posterior written with scipy.stats: 0.5 N(1) + 0.5 N(1), N(m0, 1/kappa).

    ``mu1`` and ``mu2`` broadcast together (the data run along a new last axis).
    """
    m1, m2 = np.asarray(mu1, float)[..., None], np.asarray(mu2, float)[..., None]
    lik = np.log(0.5 * norm.pdf(x, m1, 1.0) + 0.5 * norm.pdf(x, m2, 1.0)).sum(-1)
    sd0 = np.sqrt(1.0 / prior.kappa)
    return lik + norm.logpdf(mu1, prior.m0, sd0) + norm.logpdf(mu2, prior.m0, sd0)


@pytest.fixture(scope="module")
def post():
    return gp.grid_posterior(X, FIXED, PRIOR, maxima=MAXIMA, draws=DRAWS, rng=11)


@pytest.fixture(scope="module")
def best_bump():
    """Mean and sd of (mu1, mu2) near the best bump with mu1 < mu2, by Gauss-Legendre quadrature.

    A 200 x 200 product rule (scipy's nodes) over a box reaching more than 7 posterior sds
    from (-5, 12) in each direction; the rest of the ordered posterior (the region of the
    minor bump) holds about e^-32 of the mass.
    """
    t, w = roots_legendre(200)
    (a1, b1), (a2, b2) = (-8.0, -2.0), (8.0, 16.0)
    m1, m2 = (a1 + b1) / 2 + (b1 - a1) / 2 * t, (a2 + b2) / 2 + (b2 - a2) / 2 * t
    lp = _log_post(m1[:, None], m2[None, :])
    p = np.exp(lp - lp.max()) * np.outer(w, w)
    p /= p.sum()
    mean = np.array([p.sum(1) @ m1, p.sum(0) @ m2])
    sq = np.array([p.sum(1) @ m1**2, p.sum(0) @ m2**2])
    return mean, np.sqrt(sq - mean**2)


def test_grid_log_density_matches_scipy():
    g = np.arange(-24.0, 24.01, 3.0)
    got = gp._log_density(X, FIXED, PRIOR, g)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, g.size, size=(15, 2)):
        assert got[i, j] == pytest.approx(_log_post(g[i], g[j]), rel=1e-12, abs=1e-9)


def test_ordered_draws_match_quadrature_within_mcse(post, best_bump):
    mean, sd = best_bump
    m = post["ordered"]["means"].values[0]
    assert m.shape == (DRAWS, 2) and np.all(m[:, 0] < m[:, 1])
    mcse = sd / np.sqrt(DRAWS)  # independent draws: the MCSE of a mean is sd / sqrt(n)
    np.testing.assert_array_less(np.abs(m.mean(axis=0) - mean), 4 * mcse)
    # the sd of n independent normal-ish draws has relative standard error ~ 1 / sqrt(2n)
    np.testing.assert_array_less(np.abs(m.std(axis=0, ddof=1) / sd - 1), 4 / np.sqrt(2 * DRAWS))
    # the grid's own quadrature of the unordered posterior: half the mass on each labelling
    np.testing.assert_allclose(post["mean"], [mean.sum() / 2] * 2, atol=1e-3)


def test_unordered_draws_split_between_the_labellings_and_the_minor_bumps_are_empty(post):
    m = post["unordered"]["means"].values[0]
    first = m[:, 0] < m[:, 1]
    # half of the draws in each labelling: a binomial count, within 4 sds
    assert abs(first.mean() - 0.5) < 4 * np.sqrt(0.25 / DRAWS)
    near = np.argmin(((m[:, None, :] - MAXIMA[None]) ** 2).sum(-1), axis=1)
    assert set(near.tolist()) <= {0, 1}
    lm = np.array(post["unordered"].attrs["bump_log_mass"])
    assert logsumexp(lm) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(lm[:2], np.log(0.5), atol=1e-9)
    # the worse pair is 33 nats lower in likelihood; its regions hold about e^-32 of the mass
    assert -36 < lm[2] < -28 and lm[2] == pytest.approx(lm[3], abs=1e-9)
    assert post["unordered"].attrs["method"] == gp.METHOD
    np.testing.assert_allclose(np.sort(post["mode"]), [-5.0, 12.0], atol=0.1)  # either labelling


def test_grid_posterior_refuses_a_bad_grid():
    with pytest.raises(ValueError, match="grid limits"):
        gp.grid_posterior(X, FIXED, PRIOR, maxima=MAXIMA, limits=(5.0, -5.0))


@pytest.mark.parametrize("sep", [0.5, 3.0])
def test_posterior_mean_separation_matches_quadrature(sep):
    """The bias curve's exact posterior mean of |mu2 - mu1| against Gauss-Legendre by scipy.

    Quadrature over the ordered half (mu1 < mu2) in (mu1, d = mu2 - mu1), where the
    integrand is smooth; |mu2 - mu1| is label-free, so both halves give the same mean.
    """
    x = np.asarray(em.sample(80, [0.5, 0.5], [0.0, sep], 1.0, rng=7)[0], float).ravel()
    prior = em.Prior.default(x)
    got = gp.posterior_mean_separation(x, {"weights": [0.5, 0.5], "variances": 1.0}, prior)
    t, w = roots_legendre(300)
    (a1, b1), (a2, b2) = (x.min() - 2, x.max() + 2), (0.0, x.max() - x.min() + 4)
    m1, d = (a1 + b1) / 2 + (b1 - a1) / 2 * t, (a2 + b2) / 2 + (b2 - a2) / 2 * t
    lp = _log_post(m1[:, None], m1[:, None] + d[None, :], x=x, prior=prior)
    p = np.exp(lp - lp.max()) * np.outer(w, w)
    want = float((p * d[None, :]).sum() / p.sum())
    # the grid's midpoint rule meets the kink of |mu2 - mu1| on the diagonal: error of order
    # step^2 (measured 1.1e-3 relative at sep 0.5, falling 4-fold per halving of the step)
    assert got == pytest.approx(want, rel=2e-3)
    assert abs(want - sep) < 1.5  # a sanity check that the data are the intended ones


def test_cem_bias_with_the_exact_posterior_mean():
    bias = slides.cem_bias((0.5, 3.0), n=60, replicates=2, posterior_separations=(0.5,),
                           posterior_replicates=1, rng=3)
    assert bias["post_estimate"].shape == (1, 1) and "quadrature" in bias.attrs["posterior"]
    x, _ = em.sample(60, [0.5, 0.5], [0.0, 0.5], 1.0, rng=np.random.default_rng(3).spawn(2)[0]
                     .spawn(2)[0])
    prior = em.Prior.default(np.asarray(x, float))  # one pooled data set: its own prior
    want = gp.posterior_mean_separation(x, {"weights": [0.5, 0.5], "variances": 1.0}, prior)
    assert float(bias["post_estimate"][0, 0]) == pytest.approx(want, rel=1e-12)
