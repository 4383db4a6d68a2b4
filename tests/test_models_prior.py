"""The PyMC models carry MAP-EM's prior in every structure (issue #14).

The model's log density without Jacobian terms is em's log-likelihood plus
``em.Prior.log_density`` (for ``tied``: the Normal-Inverse-Wishart with one
shared covariance), at correlated covariances; fit_map reaches MAP-EM's
optimum; memberships from a posterior concentrated at EM's fit are EM's
responsibilities, correlations included.
"""

import numpy as np
import pytest
from mixcompare import em, models
from scipy.special import logsumexp
from scipy.stats import dirichlet, invgamma, invwishart, multivariate_normal, norm

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

K = 2
CORR = [np.array([[1.0, 0.6], [0.6, 0.8]]), np.array([[0.5, -0.3], [-0.3, 2.0]])]


def _faithful():
    from mixcompare.comparisons.datasets import load  # read-only use of the bundled data

    return np.asarray(load("faithful2d").X, dtype=float)


def _data_2d(seed=3, n=150):
    X, _ = em.sample(n, [0.45, 0.55], [[0.0, 0.0], [3.0, 2.0]], covariances=CORR, rng=seed)
    return X


def _loglik(X, w, mu, cov):
    X2 = X.reshape(len(X), -1)
    lp = np.stack([np.log(w[k]) + multivariate_normal.logpdf(X2, mu[k], cov[k])
                   for k in range(len(w))], axis=1)
    return float(logsumexp(lp, axis=1).sum())


def _tied_prior_density(prior, w, mu, cov):
    """Normal-Inverse-Wishart with one shared covariance, and Dirichlet weights (scipy)."""
    alpha = np.broadcast_to(np.asarray(prior.alpha, float), w.shape)
    m0 = np.broadcast_to(np.asarray(prior.m0, float), mu.shape[1:])
    return (dirichlet.logpdf(w, alpha) + invwishart.logpdf(cov[0], df=prior.nu, scale=prior.psi)
            + sum(multivariate_normal.logpdf(m, m0, cov[0] / prior.kappa) for m in mu))


def _params(structure, rng, d):
    w = rng.dirichlet([3, 3])
    mu = rng.normal(1.0, 1.5, size=(K, d))
    mu = mu[np.argsort(mu[:, 0])]
    if structure in ("full", "tied"):
        cov = np.array(CORR) * rng.uniform(0.7, 1.4)
        if structure == "tied":
            cov = np.broadcast_to(cov[0], (K, d, d)).copy()
    else:
        var = rng.uniform(0.3, 2.0, size=(K, d))
        if structure == "spherical":
            var = np.repeat(var[:, :1], d, axis=1)
        if structure == "equal":
            var[1] = var[0]
        cov = var[:, :, None] * np.eye(d)
    return w, mu, cov


CASES = [
    ("full", None, False),
    ("full", None, True),
    ("full", {"covariances": CORR}, False),
    ("tied", None, False),
    ("tied", None, True),
    ("diag", None, False),
    ("diag", None, True),
    ("spherical", None, False),
    ("unequal", None, False),
    ("equal", None, False),
]


@pytest.mark.parametrize(("structure", "fixed", "ordered"), CASES)
def test_log_density_is_em_loglik_plus_map_em_prior(structure, fixed, ordered):
    one_d = structure in ("unequal", "equal")
    X = _data_2d()[:, 0] if one_d else _data_2d()
    d = 1 if one_d else 2
    prior = em.Prior.default(X)
    mm = models.build_model(X, K, prior=prior, structure=structure, fixed=fixed, ordered=ordered)
    _, spec = em.model_spec(X, K, structure=structure, fixed=fixed)
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(3):
        w, mu, cov = _params(structure, rng, d)
        if fixed:
            cov = np.asarray(fixed["covariances"], float)
        m_user = mu[:, 0] if one_d else mu
        values = models.params_to_values(mm, w, m_user, covariances=cov)
        got = models.log_density(mm, values)
        params = em.Params(w, mu, cov)
        expected = _loglik(X, w, mu, cov) + prior.log_density(params, spec)
        if structure == "tied" and not fixed:  # MAP-EM's prior is scipy's NIW, one Sigma
            assert prior.log_density(params, spec) == pytest.approx(
                _tied_prior_density(prior, w, mu, cov), rel=1e-10, abs=1e-10)
        errors.append(abs(got - expected))
        assert got == pytest.approx(expected, rel=1e-10, abs=1e-10)
    print(f"{structure} fixed={bool(fixed)} ordered={ordered}: max |error| {max(errors):.2e}")


def test_full_prior_is_scipys_normal_inverse_wishart():
    X = _data_2d()
    prior = em.Prior.default(X)
    _, spec = em.model_spec(X, K, structure="full")
    w, mu, cov = _params("full", np.random.default_rng(1), 2)
    ref = dirichlet.logpdf(w, np.full(K, prior.alpha)) + sum(
        invwishart.logpdf(cov[k], df=prior.nu, scale=prior.psi)
        + multivariate_normal.logpdf(mu[k], prior.m0, cov[k] / prior.kappa) for k in range(K))
    assert prior.log_density(em.Params(w, mu, cov), spec) == pytest.approx(ref, rel=1e-12)


def test_spherical_prior_is_scipys_inverse_gammas_and_normals():
    """One variance per component under prod_j IG(a, b_j); each coordinate N(m0_j, s2 / kappa)."""
    X = _data_2d()
    prior = em.Prior.default(X)
    _, spec = em.model_spec(X, K, structure="spherical")
    w, mu, cov = _params("spherical", np.random.default_rng(4), 2)
    s2 = cov[:, 0, 0]
    ref = dirichlet.logpdf(w, np.full(K, prior.alpha)) + sum(
        invgamma.logpdf(s2[k], prior.a, scale=prior.b[j])
        + norm.logpdf(mu[k, j], prior.m0[j], np.sqrt(s2[k] / prior.kappa))
        for k in range(K) for j in range(2))
    assert prior.log_density(em.Params(w, mu, cov), spec) == pytest.approx(ref, rel=1e-12)


# ------------------------------------------------------------------ MAP-EM = fit_map
MAP_CASES = ["full", "tied", "diag", "spherical", "unequal", "equal"]


@pytest.mark.parametrize("structure", MAP_CASES)
def test_map_em_equals_fit_map(structure):
    X = _faithful()
    if structure in ("unequal", "equal"):
        X = X[:, 0]
    prior = em.Prior.default(X)
    ref = em.fit(X, K, structure=structure, prior=prior, n_init=10, tol=1e-12, rng=0)
    mm = models.build_model(X, K, prior=prior, structure=structure)
    tree = models.fit_map(mm, rng=0, n_starts=4)
    post = tree["posterior"]
    d = ref.n_features
    cov = (post["covariances"].values[0, 0] if "covariances" in post
           else post["variances"].values[0, 0].reshape(K, d)[:, :, None] * np.eye(d))
    got = em.Params(post["weights"].values[0, 0], post["means"].values[0, 0].reshape(K, d), cov)
    perm, _ = em.match_components(ref.params(), got)
    gaps = {"weights": np.abs(got.weights[perm] - ref.weights).max(),
            "means": np.abs(got.means[perm] - ref.params().means).max(),
            "covariances": np.abs(got.covariances[perm] - ref.covariances).max()}
    print(f"{structure}: |fit_map - MAP-EM| " + ", ".join(f"{k} {v:.1e}" for k, v in gaps.items())
          + f"; log density {tree.attrs['log_density']:.10f} vs {ref.log_posterior:.10f}")
    np.testing.assert_allclose(got.weights[perm], ref.weights, atol=1e-4)
    np.testing.assert_allclose(got.means[perm], ref.params().means, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.covariances[perm], ref.covariances, rtol=1e-4, atol=1e-4)
    assert tree.attrs["log_density"] == pytest.approx(ref.log_posterior, rel=1e-8)


def _conjugate_m_step(X, resp, prior, structure):
    """MAP-EM's M-step under the models' prior for ``tied`` (NIW, one covariance) and
    ``spherical`` (one variance per component under prod_j IG(a, b_j)), written out here."""
    n, d = X.shape
    Nk = resp.sum(axis=0)
    alpha = np.broadcast_to(np.asarray(prior.alpha, float), Nk.shape)
    m0 = np.broadcast_to(np.asarray(prior.m0, float), (d,))
    w = (Nk + alpha - 1) / (n + alpha.sum() - Nk.size)
    mu = (resp.T @ X + prior.kappa * m0) / (Nk + prior.kappa)[:, None]
    diff = X[:, None, :] - mu[None]
    W = np.einsum("nk,nki,nkj->kij", resp, diff, diff)
    dev = mu - m0
    if structure == "tied":
        num = W.sum(axis=0) + prior.psi + prior.kappa * dev.T @ dev
        cov = num / (n + prior.nu + d + 1 + Nk.size)
        return w, mu, np.broadcast_to(cov, (Nk.size, d, d))
    b = np.broadcast_to(np.asarray(prior.b, float), (d,))
    var = (np.einsum("kii->k", W) + 2 * b.sum() + prior.kappa * (dev**2).sum(axis=1)) / (
        d * Nk + 2 * d * (prior.a + 1) + d)
    return w, mu, var[:, None, None] * np.eye(d)


def _fixed_point_gaps(X, prior, structure, w, mu, cov):
    """Largest changes of one written-out M-step from ``(w, mu, cov)``."""
    lp = em.draws_log_density(X, w[None], mu[None], covariances=cov[None])[0]
    resp = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    w2, mu2, cov2 = _conjugate_m_step(X, resp, prior, structure)
    np.testing.assert_allclose(w2, w, atol=1e-6)
    np.testing.assert_allclose(mu2, mu, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cov2, cov, rtol=1e-6, atol=1e-6)
    return [np.abs(w2 - w).max(), np.abs(mu2 - mu).max(), np.abs(cov2 - cov).max()]


@pytest.mark.parametrize("structure", ["tied", "spherical"])
def test_map_em_and_fit_map_are_fixed_points_of_the_written_out_step(structure):
    """em's MAP-EM optimum, and fit_map's answer, are fixed points of the M-step written out
    here independently of em (uncentred, from the responsibilities)."""
    X = _faithful()
    prior = em.Prior.default(X)
    res = em.fit(X, K, structure=structure, prior=prior, n_init=10, tol=1e-12, rng=0)
    gaps = _fixed_point_gaps(X, prior, structure, res.weights, res.params().means,
                             res.covariances)
    print(f"{structure}: |M-step(MAP-EM) - MAP-EM| weights {gaps[0]:.1e}, means {gaps[1]:.1e}, "
          f"covariances {gaps[2]:.1e}")
    mm = models.build_model(X, K, prior=prior, structure=structure)
    post = models.fit_map(mm, rng=0, n_starts=4)["posterior"]
    w = post["weights"].values[0, 0]
    mu = post["means"].values[0, 0]
    cov = (post["covariances"].values[0, 0] if "covariances" in post
           else post["variances"].values[0, 0][:, :, None] * np.eye(2))
    gaps = _fixed_point_gaps(X, prior, structure, w, mu, cov)
    print(f"{structure}: |M-step(fit_map) - fit_map| weights {gaps[0]:.1e}, means {gaps[1]:.1e}, "
          f"covariances {gaps[2]:.1e}")


# ------------------------------------------------------------------ result trees
@pytest.mark.parametrize("structure", ["full", "tied", "diag", "spherical"])
def test_map_tree_names_are_uniform(structure):
    X = _data_2d(n=80)
    mm = models.build_model(X, K, prior=em.Prior.default(X), structure=structure)
    post = models.fit_map(mm, rng=0, n_starts=1)["posterior"]
    assert {"weights", "means", "variances", "sds"} <= set(post.data_vars)
    assert post["means"].dims == ("chain", "draw", "component", "feature")
    assert post["variances"].dims == ("chain", "draw", "component", "feature")
    if structure in ("full", "tied"):
        assert post["covariances"].dims == ("chain", "draw", "component", "feature",
                                            "feature_bis")
        cov = post["covariances"].values[0, 0]
        np.testing.assert_allclose(np.einsum("kii->ki", cov), post["variances"].values[0, 0])
        if structure == "tied":
            np.testing.assert_array_equal(cov[0], cov[1])
    else:
        assert "covariances" not in post


# ------------------------------------------------------------------ ordering
def test_ordered_2d_orders_by_the_first_coordinate():
    X = _faithful()
    mm = models.build_model(X, K, prior=em.Prior.default(X), structure="full", ordered=True)
    m = models.fit_map(mm, rng=0, n_starts=2)["posterior"]["means"].values[0, 0]
    assert m[0, 0] < m[1, 0]
    with pytest.raises(ValueError, match="ordered=True orders the components by their means"):
        models.build_model(X, K, structure="full", ordered=True,
                           fixed={"means": [[2.0, 55.0], [4.3, 80.0]]})


# ------------------------------------------------------------------ memberships
def _point_posterior(res, draws=3):
    """A posterior whose draws all equal EM's estimate (covariances for full and tied)."""
    import xarray as xr

    def rep(a, dims):
        a = np.broadcast_to(a, (1, draws) + np.shape(a))
        return (("chain", "draw") + dims, a)

    dims = ("component",) if res.spec.one_d else ("component", "feature")
    ds = {"weights": rep(res.weights, ("component",)), "means": rep(res.means, dims),
          "variances": rep(res.variances, dims)}
    if res.structure in ("full", "tied"):
        ds["covariances"] = rep(res.covariances, ("component", "feature", "feature_bis"))
    return xr.DataTree.from_dict({"posterior": xr.Dataset(ds)})


@pytest.mark.parametrize("structure", ["full", "tied", "diag", "spherical", "unequal", "equal"])
def test_memberships_at_a_point_mass_are_em_responsibilities(structure):
    X = _data_2d(n=200)
    if structure in ("unequal", "equal"):
        X = X[:, 0]
    res = em.fit(X, K, structure=structure, rng=0, tol=1e-10)
    memb = models.membership_probabilities(_point_posterior(res), X)
    err = np.abs(memb.values - res.predict_proba(X)).max()
    print(f"{structure}: max |membership - responsibility| {err:.1e}")
    assert err <= 1e-10


def test_draws_log_density_full_is_the_multivariate_normal():
    X = _data_2d(n=30)
    rng = np.random.default_rng(2)
    w = rng.dirichlet([2, 2], size=4)
    mu = rng.normal(size=(4, K, 2))
    cov = np.broadcast_to(np.array(CORR), (4, K, 2, 2)) * rng.uniform(0.5, 2, (4, 1, 1, 1))
    got = em.draws_log_density(X, w, mu, covariances=cov)
    ref = np.array([[np.log(w[s, k]) + multivariate_normal.logpdf(X, mu[s, k], cov[s, k])
                     for k in range(K)] for s in range(4)]).transpose(0, 2, 1)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(em.draws_log_density(X, w, mu, cov), got)  # 4-D accepted
    var = rng.uniform(0.5, 2, size=(4, K, 2))
    np.testing.assert_allclose(em.draws_log_density(X, w, mu, var),
                               em.draws_log_density(X, w, mu,
                                                    covariances=var[..., None] * np.eye(2)),
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="not both"):
        em.draws_log_density(X, w, mu, cov, covariances=cov)


# ------------------------------------------------------------------ NUTS on full (slow)
@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_nuts_on_the_full_model_returns_uniform_trees(sampler):
    X = _faithful()
    prior = em.Prior.default(X)
    mm = models.build_model(X, K, prior=prior, structure="full")
    res = em.fit(X, K, structure="full", prior=prior, n_init=5, rng=0)
    tree = models.fit_nuts(mm, draws=100, tune=200, chains=2, sampler=sampler, rng=1,
                           init="em", em_result=res, progressbar=False)
    post = tree["posterior"]
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    assert {"weights", "means", "variances", "sds"} <= set(post.data_vars)
    # the element-wise log-likelihood uses the correlations
    import pymc as pm

    ref = pm.compute_log_likelihood(tree.copy(), model=mm.model, progressbar=False,
                                    extend_inferencedata=False)
    np.testing.assert_allclose(tree["log_likelihood"]["x_obs"].values, ref["x_obs"].values,
                               rtol=1e-9, atol=1e-9)
