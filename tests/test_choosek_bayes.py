"""choose-k's Bayesian side: the K = 1 marginal likelihood, exact and by SMC; overfitting."""

from __future__ import annotations

import numpy as np
import pytest
from mixcompare import em, models
from mixcompare.comparisons.choosek.overfitted import overfitted_side
from mixcompare.comparisons.choosek.smc import posterior_over_k, smc_log_marginal
from mixcompare.comparisons.datasets import load
from mixcompare.models.marginal import (
    log_marginal_one_gaussian,
    nig_log_marginal,
    niw_log_marginal,
)
from scipy import stats
from scipy.special import logsumexp


def test_nig_marginal_matches_numerical_integration():
    """The closed form against a quadrature of likelihood x prior on a fine (mu, log s2) grid."""
    x = np.array([-0.4, 0.3, 1.1, 0.2, -0.9])
    m0, kappa, a, b = 0.5, 0.3, 2.5, 1.2
    mu = np.linspace(-12.0, 12.0, 1501)[:, None]
    t = np.linspace(-7.0, 6.0, 1501)[None, :]  # t = log s2, Jacobian s2
    s2 = np.exp(t)
    log_f = (stats.norm.logpdf(x[:, None, None], mu, np.sqrt(s2)).sum(axis=0)
             + stats.invgamma.logpdf(s2, a, scale=b) + t
             + stats.norm.logpdf(mu, m0, np.sqrt(s2 / kappa)))
    area = (mu[1, 0] - mu[0, 0]) * (t[0, 1] - t[0, 0])
    assert nig_log_marginal(x, m0, kappa, a, b) == pytest.approx(
        logsumexp(log_f) + np.log(area), abs=1e-4)


def test_niw_in_one_dimension_is_nig():
    """InvWishart(nu, psi) in 1-D is InvGamma(nu / 2, psi / 2)."""
    x = np.array([0.3, -1.2, 2.2, 0.7, 0.1, 1.4])
    got = niw_log_marginal(x[:, None], np.array([0.2]), 0.1, 5.0, np.array([[3.0]]))
    assert got == pytest.approx(nig_log_marginal(x, 0.2, 0.1, 2.5, 1.5), rel=1e-12)


def test_smc_matches_the_closed_form_for_one_component():
    """Issue #16's exactness check: galaxies, K = 1 under the default (comparison's) prior.

    The Monte Carlo error of one SMC run is the spread of independent runs (the chains);
    the chains' mean lies within three of it. (Over seeds 0-7 the mean's error was at most
    2.1 spreads; its spread across seeds is about twice the chains' sd / sqrt(6), so a
    bound in standard errors of the mean would be too tight.)
    """
    X = load("galaxies").X
    prior = em.Prior.default(X)
    exact = log_marginal_one_gaussian(X, prior)
    mm = models.build_model(X, 1, prior=prior)
    est = smc_log_marginal(mm, draws=200, chains=6, rng=0)
    sd = est.std(ddof=1)
    assert 0 < sd < 0.5  # a meaningful Monte Carlo error
    assert abs(est.mean() - exact) < 3 * sd


def test_posterior_over_k_is_bayes_rule():
    post = posterior_over_k(np.array([-10.0, -8.0, -9.0]))
    w = np.exp([-2.0, 0.0, -1.0])
    assert post == pytest.approx(w / w.sum())
    skewed = posterior_over_k(np.array([-10.0, -8.0]), np.log([0.9, 0.1]))
    assert skewed == pytest.approx(np.array([0.9, 0.1 * np.e**2]) / (0.9 + 0.1 * np.e**2))


def test_overfitted_mixture_empties_the_extra_components():
    """Three clusters 10 sds apart built from normal quantiles (no random data): the
    overfitted mixture with 4 components puts most posterior mass on 3 non-empty ones."""
    z = stats.norm.ppf((np.arange(20) + 0.5) / 20)
    X = np.concatenate([c + z for c in (-10.0, 0.0, 10.0)])
    of = overfitted_side(X, 4, "unequal", em.Prior.default(X), draws=100, tune=150,
                         chains=1, rng=4)
    assert of.attrs["mode"] == 3
    assert of.p_occupied.sel(n_occupied=3).item() > 0.8
    assert of.occupied.shape == (1, 100)
