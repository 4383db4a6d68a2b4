"""MAP-EM under the shared conjugate prior (issue: prior specification, MAP-EM)."""

import numpy as np
import pytest
from mixcompare import em
from scipy.optimize import minimize
from scipy.special import softmax


def _data_1d(seed=1, n=300):
    X, _ = em.sample(n, [0.4, 0.6], [0.0, 3.0], [1.0, 0.5], rng=seed)
    return X


def _unpack(t, K, d, structure, fixed):
    """Unconstrained vector -> Params for the free blocks (fixed blocks inserted)."""
    i = 0
    if "weights" in fixed:
        w = np.asarray(fixed["weights"], float)
    else:
        w = softmax(np.r_[t[: K - 1], 0.0])
        i = K - 1
    if "means" in fixed:
        mu = np.asarray(fixed["means"], float).reshape(K, d)
    else:
        mu = t[i : i + K * d].reshape(K, d)
        i += K * d
    if "variances" in fixed:
        v = np.broadcast_to(np.asarray(fixed["variances"], float), (K,)).reshape(K, d)
    elif structure == "equal":
        v = np.full((K, d), np.exp(t[i]))
    elif structure == "spherical":
        v = np.repeat(np.exp(t[i : i + K])[:, None], d, axis=1)
    else:
        v = np.exp(t[i : i + K * d]).reshape(K, d)
    cov = v[:, :, None] * np.eye(d)
    return em.Params(w, mu, cov)


def _pack(res, structure, fixed):
    K = res.n_components
    parts = []
    if "weights" not in fixed:
        parts.append(np.log(res.weights[:-1] / res.weights[-1]))
    if "means" not in fixed:
        parts.append(np.ravel(res.means))
    if "variances" not in fixed:
        v = np.ravel(res.variances)
        if structure == "spherical":
            v = np.asarray(res.variances)[:, 0]
        parts.append(np.log(v[:1] if structure == "equal" else v))
    return np.concatenate(parts) if parts else np.zeros(0), K


def _log_post(X, p, prior, spec):
    X2 = X.reshape(len(X), -1)
    d = X2.shape[1]
    var = np.einsum("kii->ki", p.covariances)
    lp = (np.log(p.weights)[None, :]
          - 0.5 * (d * np.log(2 * np.pi) + np.log(var).sum(1))[None, :]
          - 0.5 * (((X2[:, None, :] - p.means[None]) ** 2) / var[None]).sum(2))
    m = lp.max(1, keepdims=True)
    ll = float((m[:, 0] + np.log(np.exp(lp - m).sum(1))).sum())
    return ll + prior.log_density(p, spec)


@pytest.mark.parametrize(
    ("structure", "fixed", "d"),
    [
        ("unequal", {}, 1),
        ("equal", {}, 1),
        ("unequal", {"variances": 1.0, "weights": [0.5, 0.5]}, 1),
        ("unequal", {"means": [0.0, 3.0]}, 1),
        ("diag", {}, 2),
        ("spherical", {}, 2),
        ("spherical", {"means": [[0.0, 0.0], [3.0, 1.0]]}, 2),
    ],
)
def test_map_em_equals_direct_maximisation(structure, fixed, d):
    if d == 1:
        X = _data_1d()
    else:
        X, _ = em.sample(400, [0.5, 0.5], [[0, 0], [3, 1]],
                         covariances=[np.diag([1.0, 0.5]), np.diag([0.4, 2.0])], rng=3)
    prior = em.Prior.default(X)
    res = em.fit(X, 2, structure=structure, fixed=fixed or None, prior=prior, tol=1e-12,
                 max_iter=5000, n_init=3, rng=0)
    obj = res.trace.objective
    assert np.all(np.diff(obj) >= -1e-10 * np.abs(obj[:-1])), "log posterior decreased"
    assert res.log_posterior == pytest.approx(obj[-1], rel=1e-12)
    t0, K = _pack(res, structure, fixed)
    f = lambda t: -_log_post(X, _unpack(t, K, d, structure, fixed), prior, res.spec)  # noqa: E731
    assert -f(t0) == pytest.approx(res.log_posterior, rel=1e-10)
    for start in (t0, t0 + 0.05 * np.random.default_rng(0).standard_normal(t0.size)):
        opt = minimize(f, start, method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
        assert -opt.fun <= res.log_posterior + 1e-8  # EM's mode is not beaten
        p = _unpack(opt.x, K, d, structure, fixed)
        np.testing.assert_allclose(p.means.reshape(np.shape(res.means)), res.means, atol=1e-6)
        np.testing.assert_allclose(np.einsum("kii->ki", p.covariances).reshape(
            np.shape(res.variances)), res.variances, rtol=1e-6)
        np.testing.assert_allclose(p.weights, res.weights, atol=1e-6)


def test_log_posterior_and_log_likelihood_reported():
    X = _data_1d()
    prior = em.Prior.default(X)
    res = em.fit(X, 2, prior=prior, tol=1e-10, rng=0)
    mle = em.fit(X, 2, tol=1e-10, rng=0)
    assert res.log_posterior == pytest.approx(
        res.log_likelihood + prior.log_density(res.params(), res.spec), rel=1e-12)
    assert res.log_likelihood <= mle.log_likelihood + 1e-9
    assert mle.log_posterior is None


def test_flat_limit_prior_gives_mle():
    X = _data_1d()
    mle = em.fit(X, 2, tol=1e-12, rng=0, n_init=3)
    flat = em.Prior(alpha=1.0, m0=0.0, kappa=1e-12, a=1e-12, b=1e-12)
    # a -> 0, b -> 0 leaves a -(a+1) log s2 term; the exact flat limit of the
    # variance update is W / (N + 2a + 3) -> W / (N + 3), so compare with the
    # MLE on the weights and means and check the variances move toward it.
    res = em.fit(X, 2, prior=flat, tol=1e-12, rng=0, n_init=3)
    order = np.argsort(res.means)
    o2 = np.argsort(mle.means)
    np.testing.assert_allclose(res.weights[order], mle.weights[o2], atol=2e-2)
    np.testing.assert_allclose(res.means[order], mle.means[o2], atol=2e-2)
    n_k = len(X) * mle.weights[o2]
    np.testing.assert_allclose(res.variances[order], mle.variances[o2] * n_k / (n_k + 3),
                               rtol=2e-2)
    assert not np.allclose(res.variances[order], mle.variances[o2], rtol=1e-3)


def test_flat_limit_with_fixed_variances_is_exact_mle():
    X = _data_1d()
    fixed = {"variances": [1.0, 0.5]}
    mle = em.fit(X, 2, fixed=fixed, tol=1e-13, rng=0, n_init=3)
    flat = em.Prior(alpha=1.0, m0=0.0, kappa=1e-14, a=1.0, b=1.0)
    res = em.fit(X, 2, fixed=fixed, prior=flat, tol=1e-13, rng=0, n_init=3)
    np.testing.assert_allclose(res.means, mle.means, atol=1e-8)
    np.testing.assert_allclose(res.weights, mle.weights, atol=1e-8)


def test_lecture_fixed_parameters_with_prior_on_means():
    x = np.array([-10.2, -10, -9.8, -0.2, 0, 0.2, 11.8, 12, 12.2])
    prior = em.Prior(alpha=1.0, m0=0.0, kappa=0.01, a=2.0, b=1.0)
    res = em.fit(x, 2, fixed={"variances": 1.0, "weights": [0.5, 0.5]}, prior=prior,
                 init="random_from_data", n_init=50, rng=0, tol=1e-12)
    # the prior only shrinks means towards 0 by kappa / (N_k + kappa)
    assert sorted(np.round(res.means, 1)) == [-5.0, 12.0]
    np.testing.assert_allclose(res.variances, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha must be > 0"),
        ({"alpha": -1.0}, "alpha must be > 0"),
        ({"a": 0.0}, "a must be > 0"),
        ({"b": -1.0}, "b must be > 0"),
        ({"kappa": 0.0}, "kappa must be > 0"),
        ({"m0": np.nan}, "m0 must be finite"),
        ({"psi": np.eye(3), "nu": 1.5}, r"nu must be > d - 1 = 2"),
        ({"psi": -np.eye(2)}, "positive definite"),
        ({"nu": 5.0}, "nu is given without psi"),
    ],
)
def test_invalid_priors_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        em.Prior(**kwargs)


def test_alpha_below_one_refused_in_map_mode():
    X = _data_1d()
    with pytest.raises(ValueError, match="alpha >= 1"):
        em.fit(X, 2, prior=em.Prior(alpha=0.5, b=1.0))


def test_prior_structure_and_shapes_checked():
    X, _ = em.sample(100, [0.5, 0.5], [[0, 0], [3, 3]], covariances=np.eye(2)[None].repeat(2, 0),
                     rng=0)
    with pytest.raises(ValueError, match="structure='tied' needs the prior's psi"):
        em.fit(X, 2, structure="tied", prior=em.Prior(b=1.0))
    with pytest.raises(ValueError, match="m0 must be a scalar or have shape"):
        em.fit(X, 2, structure="diag", prior=em.Prior(m0=[0, 0, 0]))


def test_default_prior_is_scaled_to_the_data():
    X = _data_1d()
    p1 = em.Prior.default(X)
    p2 = em.Prior.default(10 * X + 5)
    assert p2.m0 == pytest.approx(10 * p1.m0 + 5)
    assert p2.b == pytest.approx(100 * p1.b)
    assert (p1.a, p1.kappa, p1.alpha) == (p2.a, p2.kappa, p2.alpha)
    # the MAP is equivariant under the affine map when the prior moves with the data
    r1 = em.fit(X, 2, prior=p1, tol=1e-12, rng=0)
    r2 = em.fit(10 * X + 5, 2, prior=p2, tol=1e-12, rng=0)
    np.testing.assert_allclose(r2.means, 10 * r1.means + 5, rtol=1e-7)
    np.testing.assert_allclose(r2.variances, 100 * r1.variances, rtol=1e-7)


def test_full_niw_map_is_stationary():
    X, _ = em.sample(300, [0.5, 0.5], [[0, 0], [4, 1]],
                     covariances=[[[1, 0.5], [0.5, 1]], [[0.5, -0.2], [-0.2, 0.8]]], rng=2)
    prior = em.Prior.default(X)
    res = em.fit(X, 2, structure="full", prior=prior, tol=1e-12, rng=0, n_init=2)
    obj = res.trace.objective
    assert np.all(np.diff(obj) >= -1e-10 * np.abs(obj[:-1]))
    # perturbing any parameter of the mode lowers the log posterior
    base = res.log_posterior
    p = res.params()

    def lp(pp):
        lpk = []
        for k in range(2):
            diff = X - pp.means[k]
            inv = np.linalg.inv(pp.covariances[k])
            _, ld = np.linalg.slogdet(pp.covariances[k])
            lpk.append(np.log(pp.weights[k]) - 0.5 * (2 * np.log(2 * np.pi) + ld
                                                     + np.einsum("ni,ij,nj->n", diff, inv, diff)))
        lpk = np.array(lpk).T
        m = lpk.max(1, keepdims=True)
        return float((m[:, 0] + np.log(np.exp(lpk - m).sum(1))).sum()) + prior.log_density(
            pp, res.spec)

    assert lp(p) == pytest.approx(base, rel=1e-10)
    for eps in (1e-3, -1e-3):
        m2 = p.means.copy()
        m2[0, 0] += eps
        assert lp(em.Params(p.weights, m2, p.covariances)) < base
        c2 = p.covariances.copy()
        c2[1, 0, 1] += eps
        c2[1, 1, 0] += eps
        assert lp(em.Params(p.weights, p.means, c2)) < base


# ------------------------------------------------------------------ tied and spherical (#14)
def _shared_data(seed=2, n=250):
    X, _ = em.sample(n, [0.4, 0.6], [[0.0, 0.0], [3.0, 1.5]],
                     covariances=[[[1.0, 0.5], [0.5, 0.9]], [[1.0, 0.5], [0.5, 0.9]]], rng=seed)
    return X


def _loglik_full(X, p):
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    lp = np.stack([np.log(p.weights[k]) + multivariate_normal.logpdf(X, p.means[k],
                                                                     p.covariances[k])
                   for k in range(len(p.weights))], axis=1)
    return float(logsumexp(lp, axis=1).sum())


@pytest.mark.parametrize("structure", ["tied", "spherical"])
def test_shared_structures_monotone_objective_includes_the_prior(structure):
    """The objective MAP-EM increases is the log posterior: log-likelihood + log prior."""
    X = _shared_data()
    prior = em.Prior.default(X)
    res = em.fit(X, 2, structure=structure, prior=prior, tol=1e-12, max_iter=5000, rng=0)
    obj, ll = res.trace.objective, res.trace.log_likelihood
    assert res.n_iter >= 5
    assert np.all(np.diff(obj) >= -1e-10 * np.abs(obj[:-1])), "log posterior decreased"
    assert res.log_posterior == pytest.approx(obj[-1], rel=1e-12)
    assert res.log_posterior == pytest.approx(
        _loglik_full(X, res.params()) + prior.log_density(res.params(), res.spec), rel=1e-10)
    # at every iterate the objective is the log-likelihood plus the prior's log density
    # (tied: the iterate's covariances from a refit stopped there; the trace keeps variances)
    parts = []
    for j in range(min(res.n_iter, 6) + 1):
        if structure == "tied":
            stop = em.fit(X, 2, structure=structure, prior=prior, tol=0, max_iter=j, rng=0)
            assert stop.log_posterior == pytest.approx(obj[j], rel=1e-12)
            p = stop.params()
        else:
            var = res.trace.variances[j]
            p = em.Params(res.trace.weights[j], res.trace.means[j], var[:, :, None] * np.eye(2))
        parts.append(prior.log_density(p, res.spec))
        assert obj[j] - ll[j] == pytest.approx(parts[-1], rel=1e-9, abs=1e-9)
    assert np.ptp(parts) > 1e-6  # the prior's term moves: leaving it out would show


def _tied_unpack(t, d=2, K=2, means=None):
    w = softmax(np.r_[t[: K - 1], 0.0])
    i = K - 1
    if means is None:
        mu, i = t[i : i + K * d].reshape(K, d), i + K * d
    else:
        mu = np.asarray(means, float)
    L = np.zeros((d, d))
    L[np.tril_indices(d)] = t[i:]
    L[np.diag_indices(d)] = np.exp(np.diag(L))
    return em.Params(w, mu, np.broadcast_to(L @ L.T, (K, d, d)).copy())


@pytest.mark.parametrize("fixed", [None, {"means": [[0.0, 0.0], [3.0, 1.5]]}])
def test_tied_map_em_equals_direct_maximisation(fixed):
    X = _shared_data()
    prior = em.Prior.default(X)
    res = em.fit(X, 2, structure="tied", fixed=fixed, prior=prior, tol=1e-12, max_iter=5000,
                 n_init=3, rng=0)
    means = None if fixed is None else fixed["means"]
    L = np.linalg.cholesky(res.covariances[0])
    t0 = np.r_[np.log(res.weights[0] / res.weights[1]),
               res.means.ravel() if fixed is None else [], np.log(L[0, 0]),
               L[1, 0], np.log(L[1, 1])]

    def f(t):
        p = _tied_unpack(t, means=means)
        return -(_loglik_full(X, p) + prior.log_density(p, res.spec))

    assert -f(t0) == pytest.approx(res.log_posterior, rel=1e-10)
    for start in (t0, t0 + 0.05 * np.random.default_rng(0).standard_normal(t0.size)):
        opt = minimize(f, start, method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
        assert -opt.fun <= res.log_posterior + 1e-8  # EM's mode is not beaten
        p = _tied_unpack(opt.x, means=means)
        np.testing.assert_allclose(p.weights, res.weights, atol=1e-6)
        np.testing.assert_allclose(p.means, res.means, atol=1e-6)
        np.testing.assert_allclose(p.covariances, res.covariances, rtol=1e-6, atol=1e-8)


def test_single_column_tied_is_the_inverse_wishart_of_dimension_one():
    """(n, 1) data keep the Inverse-Wishart for 'tied' (as 'full'); with d = 1 it is
    IG(nu / 2, psi / 2), so the fit equals 1-D 'equal' under that Inverse-Gamma."""
    x = _data_1d()
    prior = em.Prior.default(x[:, None])
    col = em.fit(x[:, None], 2, structure="tied", prior=prior, tol=1e-12, rng=0)
    ig = em.Prior(alpha=prior.alpha, m0=float(prior.m0[0]), kappa=prior.kappa,
                  a=prior.nu / 2, b=float(prior.psi[0, 0]) / 2)
    assert ig.a != prior.a  # a different prior from the default 1-D one
    one = em.fit(x, 2, structure="equal", prior=ig, tol=1e-12, rng=0)
    np.testing.assert_allclose(col.means[:, 0], one.means, rtol=1e-8)
    np.testing.assert_allclose(col.variances[:, 0], one.variances, rtol=1e-8)
    np.testing.assert_allclose(col.weights, one.weights, rtol=1e-8)
    assert col.log_posterior == pytest.approx(one.log_posterior, rel=1e-10)


@pytest.mark.parametrize(("structure", "d", "fixed"), [
    ("unequal", 1, None), ("equal", 1, None), ("unequal", 1, {"weights": [0.3, 0.7]}),
    ("diag", 2, None), ("spherical", 2, None), ("tied", 2, None), ("full", 2, None),
    ("full", 2, {"means": [[0.0, 0.0], [3.0, 1.5]]})])
def test_prior_density_of_many_draws_is_the_density_of_each(structure, d, fixed):
    # log_density_draws (posterior draws at once) against log_density draw by draw, on
    # draws that differ in every block, so a mixed-up axis would show
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, d)) * [1.0, 2.0][:d] + [0.0, 5.0][:d]
    X = X[:, 0] if d == 1 else X
    prior = em.Prior.default(X)
    _, spec = em.model_spec(X, 2, structure=structure, fixed=fixed)
    S = 6
    w = rng.dirichlet([2.0, 3.0], size=S)
    mu = rng.normal(size=(S, 2, d))
    A = rng.normal(size=(S, 2, d, d))
    cov = A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(d)
    if structure in ("diag", "unequal"):
        cov = cov * np.eye(d)
    if structure in ("spherical",):
        cov = rng.uniform(0.5, 2.0, size=(S, 2, 1, 1)) * np.eye(d)
    if structure in ("tied", "equal"):
        cov = np.repeat(cov[:, :1], 2, axis=1) * (np.eye(d) if structure == "equal" else 1)
    got = prior.log_density_draws(w, mu, cov, spec)
    each = [prior.log_density(em.Params(w[s], mu[s], cov[s]), spec) for s in range(S)]
    assert got.shape == (S,) and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, each, rtol=1e-12)
    assert np.ptp(got) > 1e-3  # the draws' densities differ
