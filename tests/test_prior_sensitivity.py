"""Prior sensitivity of the hidden spread (issue #21, item 3).

The reweighting is checked against the closed-form posterior of one Normal
component under the conjugate Normal-Inverse-Gamma prior (exact draws with
numpy, no NUTS); the pipeline on galaxies K=3, where the issue found that the
default Inverse-Gamma variance prior, not the data, makes most of the posterior
sd of the small component's mean.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
from mixcompare import em
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import compare, sensitivity
from mixcompare.comparisons.posterior import sensitivity as ps
from mixcompare.comparisons.report import write_report
from mixcompare.comparisons.tables import posterior_rows
from scipy.special import gammaln


# ----------------------------------------------------------------- the exact case
def _nig_posterior(x: np.ndarray, prior: em.Prior) -> tuple[float, float, float, float]:
    """Return ``(kappa_n, m_n, a_n, b_n)`` of the Normal-Inverse-Gamma posterior of one component.

    ``sigma2 ~ IG(a, b)``, ``mu | sigma2 ~ N(m0, sigma2 / kappa)`` (em.Prior's);
    Gelman et al., *Bayesian Data Analysis* (3rd ed.), section 3.3.
    """
    n, xbar = x.size, x.mean()
    kn = prior.kappa + n
    mn = (prior.kappa * prior.m0 + n * xbar) / kn
    an = prior.a + n / 2
    bn = (prior.b + 0.5 * np.sum((x - xbar) ** 2)
          + prior.kappa * n * (xbar - prior.m0) ** 2 / (2 * kn))
    return kn, mn, an, bn


def _exact_sds(x, prior) -> np.ndarray:
    """Posterior sd of ``mu`` (Student t) and of ``sigma`` (square root of an Inverse-Gamma)."""
    kn, _, an, bn = _nig_posterior(x, prior)
    sd_mu = np.sqrt(bn / (kn * (an - 1)))
    e_sigma = np.exp(0.5 * np.log(bn) + gammaln(an - 0.5) - gammaln(an))
    return np.array([sd_mu, np.sqrt(bn / (an - 1) - e_sigma**2)])


def _exact_draws(x, prior, rng, chains=4, draws=1000) -> xr.Dataset:
    kn, mn, an, bn = _nig_posterior(x, prior)
    s2 = bn / rng.gamma(an, size=(chains, draws))
    mu = rng.normal(mn, np.sqrt(s2 / kn))
    dims = ("chain", "draw", "component")
    return xr.Dataset({"weights": (dims, np.ones((chains, draws, 1))),
                       "means": (dims, mu[..., None]), "variances": (dims, s2[..., None]),
                       "sds": (dims, np.sqrt(s2)[..., None])})


@pytest.mark.parametrize("factor", [10.0, 100.0])
def test_reweighted_sds_match_the_exact_posterior_under_the_weaker_prior(factor):
    rng = np.random.default_rng(1)
    x, spec = em.model_spec(rng.normal(3.0, 1.0, size=20), 1)
    prior = em.Prior(m0=0.0, kappa=0.1, a=2.0, b=2.0)
    weak = ps.weaker_prior(prior, factor)
    post = _exact_draws(x, prior, rng)
    w, k = ps.psis_weights(ps.log_prior_draws(post, weak, spec)
                           - ps.log_prior_draws(post, prior, spec))
    assert k <= ps.k_threshold(4000)
    got = ps.weighted_summary(posterior_rows(post).values.reshape(-1, 3), w)
    sd, mcse = got["sd"][1:], got["sd_mcse"][1:]  # means[0], sds[0]
    exact, before = _exact_sds(x, weak), _exact_sds(x, prior)
    # the weaker prior moves the sds well beyond the Monte Carlo error ...
    assert np.all(np.abs(before - exact) > 5 * mcse)
    # ... and the reweighted draws find them within it
    assert np.all(np.abs(sd - exact) <= 4 * mcse), (sd, exact, mcse)


def test_uniform_weights_give_the_sample_sd_and_a_far_prior_a_large_k():
    rng = np.random.default_rng(2)
    x, spec = em.model_spec(rng.normal(0.0, 1.0, size=10), 1)
    prior = em.Prior(m0=0.0, kappa=0.1, a=2.0, b=50.0)  # strong: its posterior is far from b/1e4's
    post = _exact_draws(x, prior, rng)
    rows = posterior_rows(post).values.reshape(-1, 3)[:, 1:]  # means[0], sds[0]
    np.testing.assert_allclose(ps.weighted_summary(rows)["sd"], rows.std(axis=0, ddof=1),
                               rtol=1e-12)
    _, k = ps.psis_weights(ps.log_prior_draws(post, ps.weaker_prior(prior, 1e4), spec)
                           - ps.log_prior_draws(post, prior, spec))
    assert k > ps.k_threshold(4000)
    # too few draws for a Pareto tail: never reliable
    _, k = ps.psis_weights(np.arange(10.0).reshape(1, 10))
    assert k > ps.k_threshold(10)


@pytest.mark.parametrize("structure, d", [("unequal", None), ("diag", 2), ("spherical", 2)])
def test_log_prior_ratio_of_a_smaller_scale_is_the_inverse_gamma_ratio(structure, d):
    # log IG(s2 | a, b/c) - log IG(s2 | a, b) = -a log c + b (1 - 1/c) / s2, per variance
    rng = np.random.default_rng(3)
    K, C, D = 3, 2, 5
    X = rng.normal(size=(50,) if d is None else (50, d))
    X, spec = em.model_spec(X, K, structure=structure)
    prior = em.Prior.default(X)
    shape = (C, D, K) if d is None or structure == "spherical" else (C, D, K, d)
    var = rng.uniform(0.2, 2.0, size=shape)
    feat = () if d is None else ("feature",)
    post = xr.Dataset({
        "weights": (("chain", "draw", "component"), rng.dirichlet(np.ones(K), size=(C, D))),
        "means": (("chain", "draw", "component") + feat,
                  rng.normal(size=(C, D, K) + (() if d is None else (d,)))),
        "variances": (("chain", "draw", "component") + feat[: len(shape) - 3], var)})
    c = 10.0
    got = (ps.log_prior_draws(post, ps.weaker_prior(prior, c), spec)
           - ps.log_prior_draws(post, prior, spec))
    b = np.atleast_1d(prior.b)
    per_var = var[..., None] if var.ndim == 3 else var  # (C, D, K, 1 or d) against b (1 or d,)
    terms = -prior.a * np.log(c) + b * (1 - 1 / c) / per_var  # every (variance, b_j) pair
    want = terms.reshape(C, D, -1).sum(axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("structure", ["full", "tied"])
def test_log_prior_ratio_of_a_smaller_psi_is_the_inverse_wishart_ratio(structure):
    # log IW(S | nu, psi/c) - log IW(S | nu, psi) = -(nu d / 2) log c + (1 - 1/c) tr(psi S^-1) / 2
    rng = np.random.default_rng(4)
    K, C, D, d = 2, 2, 4, 3
    X, spec = em.model_spec(rng.normal(size=(60, d)), K, structure=structure)
    prior = em.Prior.default(X)
    A = rng.normal(size=(C, D, 1 if structure == "tied" else K, d, d))
    cov = np.broadcast_to(A @ np.swapaxes(A, -1, -2) + np.eye(d), (C, D, K, d, d))
    dims = ("chain", "draw", "component")
    post = xr.Dataset({
        "weights": (dims, rng.dirichlet(np.ones(K), size=(C, D))),
        "means": (dims + ("feature",), rng.normal(size=(C, D, K, d))),
        "variances": (dims + ("feature",), np.diagonal(cov, axis1=-2, axis2=-1)),
        "covariances": (dims + ("feature", "feature_bis"), cov)})
    c = 100.0
    got = (ps.log_prior_draws(post, ps.weaker_prior(prior, c), spec)
           - ps.log_prior_draws(post, prior, spec))
    own = cov[:, :, :1] if structure == "tied" else cov  # one Inverse-Wishart term when tied
    tr = np.einsum("ij,cdkji->cdk", prior.psi, np.linalg.inv(own))
    want = np.sum(-prior.nu * d / 2 * np.log(c) + (1 - 1 / c) * tr / 2, axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_weaker_prior_scales_b_and_psi_only():
    X = datasets.load("faithful2d").X
    prior = em.Prior.default(X)
    weak = ps.weaker_prior(prior, 100)
    np.testing.assert_allclose(weak.b, prior.b / 100)
    np.testing.assert_allclose(weak.psi, prior.psi / 100)
    assert (weak.a, weak.kappa, weak.nu) == (prior.a, prior.kappa, prior.nu)
    np.testing.assert_array_equal(weak.m0, prior.m0)
    with pytest.raises(ValueError, match="positive number"):
        ps.weaker_prior(prior, 0)


def test_unknown_setting_is_refused_before_any_work():
    with pytest.raises(ValueError, match="prior_sensitivity='bogus'.*'refit'"):
        compare(np.arange(20.0), 2, prior_sensitivity="bogus")
    assert sensitivity.check_mode("off") == "off"


# ----------------------------------------------------------------- galaxies, K = 3
@pytest.fixture(scope="module")
def galaxies():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(datasets.load("galaxies").X, 3, methods=("em", "map_em", "nuts"),
                       n_boot=0, draws=500, tune=500, chains=4, rng=0,
                       prior_sensitivity="refit")


def test_galaxies_hidden_spread_of_the_small_component_is_the_priors(galaxies):
    tree = galaxies.tree
    sens = tree["comparison/prior_sensitivity"].to_dataset()
    hid = tree["comparison/hidden"].to_dataset()
    ratio = sens["sd_over_se_louis"]
    # the default column is the hidden-spread table's ratio
    np.testing.assert_allclose(ratio.sel(prior="default").values,
                               hid["sd_over_se_louis"].values, rtol=1e-12)
    # EM's SE does not depend on the prior: sd / SE moves exactly as the sd does
    np.testing.assert_allclose((ratio / sens["post_sd"]).values,
                               np.repeat((ratio / sens["post_sd"]).values[:, :1], 3, axis=1),
                               rtol=1e-12)
    i = list(sens["name"].values).index("means[0]")
    # the issue: 2.02 under the default prior, 1.25 with b = Var/1000 (our b/100)
    assert ratio.values[i, 2] < 0.8 * ratio.values[i, 0]
    assert bool(sens["reliable"].sel(prior="b/100"))
    assert bool(sens["prior_driven"].values[i])
    # the large component's mean is the data's: its sd barely moves
    j = list(sens["name"].values).index("means[1]")
    assert not bool(sens["prior_driven"].values[j])


def test_galaxies_prior_sensitivity_is_reported(galaxies, tmp_path):
    out = write_report(galaxies, tmp_path)
    text = out["report.md"].read_text()
    assert "### Prior sensitivity of the hidden spread" in text
    assert "The prior, not the data, drives the hidden spread of means[0]" in text
    assert "The prior, not the data, drives the hidden spread of means[1]" not in text
    summ = galaxies.summary()["prior_sensitivity"]
    assert summ["mode"] == "refit" and summ["change_threshold"] == sensitivity.CHANGE
    assert [p["name"] for p in summ["priors"]] == ["default", "b/10", "b/100"]
    row = next(r for r in summ["rows"] if r["name"] == "means[0]")
    assert row["prior_driven"] is True
    assert row["sd_over_se_louis"]["b/100"] < row["sd_over_se_louis"]["default"]
    json.dumps(summ)  # plain JSON
