"""The PyMC models: same model as em (log density), MAP, NUTS against exact posteriors."""

import numpy as np
import pytest
import xarray as xr
from mixcompare import em, models
from scipy.special import logsumexp
from scipy.stats import norm

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def _sep_1d(seed=1, n=200):
    X, _ = em.sample(n, [0.4, 0.6], [0.0, 4.0], [1.0, 0.5], rng=seed)
    return X


def _sep_diag(seed=3, n=300):
    X, _ = em.sample(n, [0.5, 0.5], [[0, 0], [4, 1]],
                     covariances=[np.diag([1.0, 0.5]), np.diag([0.4, 2.0])], rng=seed)
    return X


def _loglik(X, w, mu, var):
    X2 = X.reshape(len(X), -1)
    mu = np.asarray(mu, float).reshape(len(w), -1)
    var = np.asarray(var, float).reshape(len(w), -1)
    lp = np.log(w)[None] + norm.logpdf(X2[:, None, :], mu[None], np.sqrt(var)[None]).sum(-1)
    return float(logsumexp(lp, axis=1).sum())


@pytest.mark.parametrize(
    ("structure", "fixed", "ordered", "data"),
    [
        ("unequal", None, False, "1d"),
        ("unequal", None, True, "1d"),
        ("equal", None, False, "1d"),
        ("unequal", {"variances": 1.0, "weights": [0.5, 0.5]}, False, "1d"),
        ("unequal", {"means": [0.0, 4.0]}, False, "1d"),
        ("diag", None, False, "diag"),
    ],
)
def test_log_density_is_em_loglik_plus_shared_prior(structure, fixed, ordered, data):
    X = _sep_1d() if data == "1d" else _sep_diag()
    prior = em.Prior.default(X)
    model = models.build_model(X, 2, prior=prior, structure=structure, fixed=fixed,
                               ordered=ordered)
    rng = np.random.default_rng(0)
    d = 1 if X.ndim == 1 else X.shape[1]
    _, spec = em.model_spec(X, 2, structure=structure, fixed=fixed)
    for _ in range(3):
        w = rng.dirichlet([2, 2])
        mu = np.sort(rng.normal(2, 2, size=(2, d)), axis=0)
        var = rng.uniform(0.3, 2.0, size=(2, d))
        if structure == "equal":
            var[1] = var[0]
        if fixed:
            if "weights" in fixed:
                w = np.asarray(fixed["weights"])
            if "variances" in fixed:
                var = np.full((2, d), fixed["variances"])
            if "means" in fixed:
                mu = np.asarray(fixed["means"], float).reshape(2, d)
        shape = (2,) if d == 1 else (2, d)
        values = models.params_to_values(model, w, mu.reshape(shape), var.reshape(shape))
        got = models.log_density(model, values)
        params = em.Params(w, mu, var[:, :, None] * np.eye(d))
        expected = _loglik(X, w, mu, var) + prior.log_density(params, spec)
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-10)
        if ordered or fixed:  # with Jacobian terms (an output of find_MAP's compiled
            # objective) against PyMC's own compile_logp
            point = models.to_point(model, values)
            pymc_jac = float(model.model.compile_logp(jacobian=True)(point))
            assert models.log_density(model, values, jacobian=True) == pytest.approx(
                pymc_jac, rel=1e-10, abs=1e-10)
            if any(v.name.endswith("__") for v in model.model.value_vars):  # transformed
                assert pymc_jac != pytest.approx(got, rel=1e-6)  # the Jacobian terms count


@pytest.mark.parametrize(("structure", "data"), [("unequal", "1d"), ("equal", "1d"),
                                                 ("diag", "diag")])
def test_map_em_equals_find_map_and_model_is_reused(structure, data):
    X = _sep_1d() if data == "1d" else _sep_diag()
    prior = em.Prior.default(X)
    model = models.build_model(X, 2, prior=prior, structure=structure)
    for seed in (0, 1):  # second data set of the same shape through the same model
        if seed:
            X = (_sep_1d(seed=7) if data == "1d" else _sep_diag(seed=7))
            assert model.set_data(X) is model
        ref = em.fit(X, 2, structure=structure, prior=prior, tol=1e-12, n_init=5, rng=0)
        tree = models.fit_map(model, rng=seed, n_starts=2)
        post = tree["posterior"]
        got = em.Params(post["weights"].values[0, 0],
                        post["means"].values[0, 0].reshape(2, -1),
                        post["variances"].values[0, 0].reshape(2, -1)[:, :, None]
                        * np.eye(ref.n_features))
        perm, dist = em.match_components(ref.params(), got)
        np.testing.assert_allclose(got.means[perm], ref.params().means, atol=1e-4)
        np.testing.assert_allclose(got.weights[perm], ref.weights, atol=1e-4)
        np.testing.assert_allclose(np.einsum("kii->ki", got.covariances[perm]),
                                   ref.variances.reshape(2, -1), rtol=1e-4)
        assert tree.attrs["log_density"] == pytest.approx(ref.log_posterior, rel=1e-8)
        starts = tree["map_starts"]
        assert starts["success"].values.any()


def test_bad_input_is_refused_like_em():
    X = _sep_1d()
    bad = X.copy()
    bad[[3, 10]] = np.nan
    with pytest.raises(ValueError, match=r"NaN values in 2 row\(s\) \(0-based: 3, 10\)"):
        models.build_model(bad, 2)
    with pytest.raises(ValueError, match="structure='unequal' is for 1-D data"):
        models.build_model(np.c_[X, X], 2, structure="unequal")
    with pytest.raises(ValueError, match="3 dimensions"):
        models.build_model(X.reshape(-1, 2, 1), 2)
    with pytest.raises(ValueError, match="n_components=5"):
        models.build_model(X[:4], 5)
    with pytest.raises(TypeError, match="em.Prior"):
        models.build_model(X, 2, prior={"alpha": 1})


def _point_posterior(res, draws=3):
    """A fake posterior whose draws all equal EM's estimate."""
    K = res.n_components
    def rep(a, dims):
        a = np.broadcast_to(a, (1, draws) + np.shape(a))
        return (("chain", "draw") + dims, a)
    dims = ("component",) if res.spec.one_d else ("component", "feature")
    ds = xr.Dataset({"weights": rep(res.weights, ("component",)),
                     "means": rep(res.means, dims), "variances": rep(res.variances, dims)},
                    coords={"component": np.arange(K)})
    return xr.DataTree.from_dict({"posterior": ds})


def test_membership_and_predictive_density_reduce_to_em_at_a_point_mass():
    X = _sep_1d()
    res = em.fit(X, 2, rng=0, tol=1e-10)
    tree = _point_posterior(res)
    memb = models.membership_probabilities(tree, X)
    assert memb.dims == ("obs", "component")
    np.testing.assert_allclose(memb.values, res.predict_proba(X), atol=1e-12)
    grid = np.linspace(-3, 7, 50)
    dens = models.predictive_density(tree, grid, prob=0.9)
    np.testing.assert_allclose(dens["mean"].values, np.exp(res.score_samples(grid)), rtol=1e-10)
    np.testing.assert_allclose(dens["lower"].values, dens["upper"].values, rtol=1e-10)
    Xd = _sep_diag()
    rd = em.fit(Xd, 2, structure="diag", rng=0, tol=1e-10)
    md = models.membership_probabilities(_point_posterior(rd), Xd)
    np.testing.assert_allclose(md.values, rd.predict_proba(Xd), atol=1e-12)


# ----------------------------------------------------------------- NUTS (slow)
def _mcse_ok(draws, exact, n_se=4.0):
    from arviz_stats.base import array_stats

    d = np.asarray(draws)
    se = float(array_stats.mcse(d, method="mean", chain_axis=0, draw_axis=1))
    assert abs(d.mean() - exact) <= n_se * se, (d.mean(), exact, se)
    return se


@pytest.mark.slow
def test_nuts_matches_conjugate_posterior_k1():
    x = np.random.default_rng(5).normal(3.0, 2.0, size=60)
    prior = em.Prior(alpha=1.0, m0=0.0, kappa=0.5, a=3.0, b=4.0)
    model = models.build_model(x, 1, prior=prior, fixed={"weights": [1.0]})
    tree = models.fit_nuts(model, draws=1500, tune=700, chains=2, sampler="pymc", rng=1,
                           progressbar=False)
    n, xbar = x.size, x.mean()
    mu_n = (prior.kappa * prior.m0 + n * xbar) / (prior.kappa + n)
    a_n = prior.a + n / 2
    b_n = prior.b + 0.5 * ((x - xbar) ** 2).sum() + prior.kappa * n * (xbar - prior.m0) ** 2 / (
        2 * (prior.kappa + n))
    post = tree["posterior"]
    _mcse_ok(post["means"].values[:, :, 0], mu_n)
    _mcse_ok(post["variances"].values[:, :, 0], b_n / (a_n - 1))
    assert tree.attrs["sampler"] == "pymc" and tree.attrs["sampler_version"]
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(tree.children)


@pytest.mark.slow
def test_nuts_matches_grid_quadrature_k2_known_weights_variances():
    rng = np.random.default_rng(11)
    x = np.r_[rng.normal(-1.0, 1.0, 30), rng.normal(1.5, 0.7, 20)]
    w, var = np.array([0.6, 0.4]), np.array([1.0, 0.49])
    prior = em.Prior(alpha=1.0, m0=0.0, kappa=0.1, a=2.0, b=1.0)
    model = models.build_model(x, 2, prior=prior, ordered=True,
                               fixed={"weights": w, "variances": var})
    tree = models.fit_nuts(model, draws=1500, tune=700, chains=2, sampler="pymc", rng=2,
                           progressbar=False)
    g = np.linspace(-4, 4, 401)
    m1, m2 = np.meshgrid(g, g, indexing="ij")
    lp = np.zeros_like(m1)
    for xi in x:
        lp += np.logaddexp(np.log(w[0]) + norm.logpdf(xi, m1, 1.0),
                           np.log(w[1]) + norm.logpdf(xi, m2, 0.7))
    lp += norm.logpdf(m1, 0, np.sqrt(var[0] / 0.1)) + norm.logpdf(m2, 0, np.sqrt(var[1] / 0.1))
    lp = np.where(m1 < m2, lp, -np.inf)  # the ordered model's support
    p = np.exp(lp - lp.max())
    p /= p.sum()
    post = tree["posterior"]["means"].values
    _mcse_ok(post[:, :, 0], float((p * m1).sum()))
    _mcse_ok(post[:, :, 1], float((p * m2).sum()))


@pytest.mark.slow
def test_unordered_chains_sit_in_the_labelling_they_start_in_and_ordered_do_not():
    rng = np.random.default_rng(3)
    x = np.r_[rng.normal(-5, 1, 100), rng.normal(5, 1, 100)]
    unordered = models.build_model(x, 2)
    starts = [{"weights": [0.5, 0.5], "means": [-5.0, 5.0], "variances": [1.0, 1.0]},
              {"weights": [0.5, 0.5], "means": [5.0, -5.0], "variances": [1.0, 1.0]}]
    tree = models.fit_nuts(unordered, draws=300, tune=300, chains=2, sampler="pymc", rng=4,
                           init=starts, progressbar=False)
    m0 = tree["posterior"]["means"].values[:, :, 0]
    assert np.all(m0[0] < 0) and np.all(m0[1] > 0)  # two label modes
    ordered = models.build_model(x, 2, ordered=True)
    tree = models.fit_nuts(ordered, draws=300, tune=300, chains=2, sampler="pymc", rng=4,
                           progressbar=False)
    mo = tree["posterior"]["means"].values
    assert np.all(mo[:, :, 0] < mo[:, :, 1])
    assert np.all(np.abs(mo[:, :, 0].mean(axis=1) + 5) < 0.5)
