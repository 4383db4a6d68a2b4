"""results.nc is complete for ArviZ: loo, posterior- and prior-predictive plots work on the file."""

from __future__ import annotations

import arviz as az
import matplotlib
import numpy as np
import pytest
from mixcompare import em, models
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import arviz_groups, compare
from scipy import integrate, stats

matplotlib.use("Agg")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
RUN = {"draws": 300, "tune": 300, "chains": 2, "n_boot": 0, "n_init": 5, "rng": 3}
GROUPS = ("observed_data", "log_likelihood", "prior", "prior_predictive",
          "posterior_predictive")


@pytest.fixture(scope="module")
def faithful_file(tmp_path_factory):
    ds = datasets.load("faithful")
    res = compare(ds.X, 2, methods=("em", "nuts"), **RUN)
    path = tmp_path_factory.mktemp("az") / "results.nc"
    res.to_netcdf(path)
    return ds.X, path


def test_loo_and_predictive_plots_work_on_the_file(faithful_file):
    X, path = faithful_file
    dt = az.from_netcdf(path)
    assert set(GROUPS) <= set(dt.children)
    np.testing.assert_array_equal(dt["observed_data"]["x_obs"].values, X)
    loo = az.loo(dt)
    ll = dt["log_likelihood"]["x_obs"].values.reshape(-1, len(X))
    lppd = float(np.sum(np.log(np.mean(np.exp(ll), axis=0))))
    # PSIS-LOO is below the in-sample lppd by about the number of free parameters (5)
    assert loo.elpd < lppd
    assert 3 < loo.p < 8
    assert loo.n_data_points == len(X)
    for plot in (az.plot_ppc_dist, az.plot_loo_pit):
        plot(dt)
    az.plot_ppc_dist(dt, group="prior_predictive")


def test_posterior_predictive_matches_the_data(faithful_file):
    X, path = faithful_file
    ppc = az.from_netcdf(path)["posterior_predictive"]["x_obs"].values
    assert ppc.shape == (RUN["chains"], RUN["draws"], len(X))
    # replicated data sets have the data's mean and sd, to a few of their own spreads
    means, sds = ppc.mean(axis=2).ravel(), ppc.std(axis=2).ravel()
    assert abs(X.mean() - means.mean()) < 3 * means.std()
    assert abs(X.std() - sds.mean()) < 3 * sds.std()


def test_the_groups_are_left_out_when_too_large(monkeypatch):
    monkeypatch.setattr(arviz_groups, "MAX_POINTWISE_VALUES", 1000)
    X = datasets.load("faithful").X
    res = compare(X, 2, methods=("em", "nuts"), **{**RUN, "draws": 20, "tune": 20})
    kids = set(res.tree.children)
    assert {"observed_data", "prior"} <= kids
    assert not kids & {"log_likelihood", "prior_predictive", "posterior_predictive"}
    assert any("not kept in the tree" in p for p in res.summary()["problems"])
    off = compare(X, 2, methods=("em", "nuts"), arviz_groups=False,
                  **{**RUN, "draws": 20, "tune": 20})
    assert not set(off.tree.children) & set(GROUPS)


# --------------------------------------------- the samplers PyMC's predictive draws use
def _two_d(seed=0):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 5]


@pytest.mark.parametrize("structure", ("full", "tied", "diag", "spherical"))
def test_prior_draws_have_the_priors_moments(structure):
    X = _two_d()
    prior = em.Prior.default(X)
    mm = models.build_model(X, 2, structure=structure)
    draws = models.predictive(mm, None, prior_draws=4000, groups={"prior"}, rng=1)["prior"]
    assert draws.sizes["draw"] == 4000
    w = draws["weights"].values.reshape(-1, 2)
    np.testing.assert_allclose(w.mean(axis=0), 0.5, atol=4 * 0.5 / np.sqrt(4000))
    if structure in ("full", "tied"):
        name = "covariances" if structure == "full" else "covariance"
        cov = draws[name].values.reshape(-1, 2, 2)
        d = 2
        # Inverse-Wishart mean psi / (nu - d - 1); the off-diagonal is 0 in expectation
        expect = np.asarray(prior.psi) / (prior.nu - d - 1)
        se = cov.std(axis=0) / np.sqrt(len(cov))
        assert np.all(np.abs(cov.mean(axis=0) - expect) < 5 * se)
    elif structure == "spherical":
        # against the model's own (unnormalised) log density, integrated numerically
        b = np.broadcast_to(np.asarray(prior.b, float), (2,))

        def dens(s):
            return np.exp(np.sum(stats.invgamma.logpdf(s, prior.a, scale=b)))
        top = integrate.quad(lambda s: s * dens(s), 0, np.inf)[0]
        expect = top / integrate.quad(dens, 0, np.inf)[0]
        v = draws["variance"].values.ravel()
        assert abs(v.mean() - expect) < 5 * v.std() / np.sqrt(len(v))
    else:
        v = draws["variances"].values.reshape(-1, 2)
        b = np.broadcast_to(np.asarray(prior.b, float), (2,))
        ks = [stats.kstest(v[:, j], stats.invgamma(prior.a, scale=b[j]).cdf).pvalue
              for j in range(2)]
        assert min(ks) > 1e-4


@pytest.mark.parametrize("cov", ("full", "diag"))
def test_mixture_sampler_has_the_mixtures_moments(cov):
    w, mu = np.array([0.3, 0.7]), np.array([[0.0, 1.0], [4.0, -2.0]])
    covs = np.array([[[1.0, 0.5], [0.5, 2.0]], [[0.5, -0.2], [-0.2, 1.0]]])
    param = covs if cov == "full" else np.einsum("kii->ki", covs)
    full = covs if cov == "full" else np.stack([np.diag(np.diag(c)) for c in covs])
    from mixcompare.models._random import mixture_random
    x = mixture_random(w, mu, param, rng=np.random.default_rng(5), size=(200_000,))
    mean = w @ mu
    second = sum(w[k] * (full[k] + np.outer(mu[k], mu[k])) for k in range(2))
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(x.T), second - np.outer(mean, mean), atol=0.05)
    # batch parameters broadcast against size, as PyMC passes them per observation
    xb = mixture_random(np.broadcast_to(w, (3, 2)), mu, param, rng=0, size=(3,))
    assert xb.shape == (3, 2)


def test_forward_functions_are_compiled_to_c_only_for_many_draws():
    """C (FAST_RUN) pays for its compilation only over many posterior draws."""
    import importlib

    pred = importlib.import_module("mixcompare.models.predictive")
    few, many = pred.C_BACKEND_MIN_DRAWS - 1, pred.C_BACKEND_MIN_DRAWS
    assert pred._compile_kwargs(few) == {"mode": "FAST_COMPILE"}
    assert pred._compile_kwargs(many) == {"mode": "FAST_RUN"}
