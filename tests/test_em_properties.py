"""Properties of em.fit: equivariance, closed forms, traces, criteria, reproducibility.

Also the lecture example (nine points, two unit-variance components with
equal weights): its two-mean log-likelihood surface has four bumps, two
optima up to relabelling, which are verified independently with scipy.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mixcompare import em
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

STRUCTURES_ND = ("full", "diag", "spherical", "tied")


def _data_1d(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-2.0, 1.0, 60), rng.normal(3.0, 0.7, 40)])


def _data_2d(seed=1):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(70, 2)) @ [[1.0, 0.4], [0.0, 0.8]],
                      rng.normal(size=(50, 2)) * [0.6, 1.3] + [4.0, 2.0]])


INIT_1D = {"weights": [0.4, 0.6], "means": [-1.0, 2.0], "variances": [1.5, 0.8]}
INIT_2D = {"weights": [0.5, 0.5], "means": [[0.5, 0.0], [3.0, 1.0]],
           "covariances": [[[1.0, 0.2], [0.2, 1.0]], [[2.0, 0.0], [0.0, 1.0]]]}


def _mixture_logpdf(X, w, means, covs):
    """log sum_k w_k N(x | m_k, C_k) with scipy, for 1-D or multivariate data."""
    X2 = np.asarray(X, float).reshape(len(X), -1)
    means = np.asarray(means, float).reshape(len(w), -1)
    covs = np.asarray(covs, float).reshape(len(w), X2.shape[1], X2.shape[1])
    cols = [np.log(w[k]) + np.atleast_1d(multivariate_normal(means[k], covs[k]).logpdf(X2))
            for k in range(len(w))]
    return logsumexp(np.column_stack(cols), axis=1)


# ----------------------------------------------------------- equivariance
@pytest.mark.parametrize("dim", (1, 2))
def test_row_permutation_same_fit(dim):
    X, init = (_data_1d(), INIT_1D) if dim == 1 else (_data_2d(), INIT_2D)
    perm = np.random.default_rng(3).permutation(len(X))
    a = em.fit(X, 2, init=init, tol=1e-10)
    b = em.fit(X[perm], 2, init=init, tol=1e-10)
    np.testing.assert_allclose(b.weights, a.weights, rtol=1e-10)
    np.testing.assert_allclose(b.means, a.means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.covariances, a.covariances, rtol=1e-10)
    assert b.log_likelihood == pytest.approx(a.log_likelihood, rel=1e-12)
    assert b.n_iter == a.n_iter
    np.testing.assert_array_equal(b.labels, a.labels[perm])


@pytest.mark.parametrize("dim", (1, 2))
def test_component_permutation_permutes_result(dim):
    rng = np.random.default_rng(4)
    if dim == 1:
        X = np.concatenate([rng.normal(-4, 1, 50), rng.normal(0, 0.5, 40), rng.normal(5, 1, 30)])
        init = {"weights": [0.3, 0.3, 0.4], "means": [-3.0, 1.0, 4.0], "variances": [1, 2, 1.5]}
        structure = "unequal"
    else:
        X = np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(40, 2)) + [5, 0],
                       rng.normal(size=(30, 2)) + [0, 5]])
        init = {"weights": [0.3, 0.3, 0.4], "means": [[0.5, 0], [4, 1], [1, 4]],
                "covariances": np.stack([np.eye(2), 2 * np.eye(2), [[1, .3], [.3, 1]]])}
        structure = "full"
    perm = np.array([2, 0, 1])
    init_p = {k: np.asarray(v, float)[perm] for k, v in init.items()}
    a = em.fit(X, 3, structure=structure, init=init, tol=1e-10)
    b = em.fit(X, 3, structure=structure, init=init_p, tol=1e-10)
    np.testing.assert_allclose(b.weights, a.weights[perm], rtol=1e-10)
    np.testing.assert_allclose(b.means, a.means[perm], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.covariances, a.covariances[perm], rtol=1e-10)
    assert b.log_likelihood == pytest.approx(a.log_likelihood, rel=1e-12)
    # labels follow the relabelling: component perm[j] of a is component j of b
    inv = np.argsort(perm)
    np.testing.assert_array_equal(b.labels, inv[a.labels])


AFFINE = [(2.5, 4.0), (-1.0, 0.0), (-3.0, 7.5), (1e-8, 2e-8), (-1e-8, 3e-8), (1e6, -2e6)]


@pytest.mark.parametrize(("a", "b"), AFFINE)
@pytest.mark.parametrize("dim", (1, 2))
def test_affine_equivariance(dim, a, b):
    X, init = (_data_1d(), INIT_1D) if dim == 1 else (_data_2d(), INIT_2D)
    n, d = len(X), dim
    Y = a * X + b
    if dim == 1:
        init_y = {"weights": init["weights"], "means": a * np.asarray(init["means"]) + b,
                  "variances": a**2 * np.asarray(init["variances"])}
    else:
        init_y = {"weights": init["weights"], "means": a * np.asarray(init["means"]) + b,
                  "covariances": a**2 * np.asarray(init["covariances"])}
    r = em.fit(X, 2, init=init, tol=0.0, max_iter=200)
    s = em.fit(Y, 2, init=init_y, tol=0.0, max_iter=200)
    np.testing.assert_allclose(s.weights, r.weights, rtol=1e-8)
    np.testing.assert_allclose(s.means, a * r.means + b, rtol=1e-8, atol=1e-8 * abs(a))
    np.testing.assert_allclose(s.variances, a**2 * r.variances, rtol=1e-8)
    np.testing.assert_allclose(s.covariances, a**2 * r.covariances, rtol=1e-7,
                               atol=1e-9 * a**2)
    assert s.log_likelihood == pytest.approx(r.log_likelihood - n * d * np.log(abs(a)),
                                             rel=1e-9, abs=1e-7)
    # the whole trace shifts by the same constant
    np.testing.assert_allclose(s.trace.log_likelihood,
                               r.trace.log_likelihood - n * d * np.log(abs(a)),
                               rtol=1e-9, atol=1e-7)
    np.testing.assert_array_equal(s.labels, r.labels)


@pytest.mark.parametrize("a", (3.0, -2.0, 1e-8))
def test_affine_equivariance_default_init(a):
    """The default k-means++ start uses the standardised data, so it is equivariant too."""
    X = _data_2d()
    r = em.fit(X, 2, rng=11, n_init=3, tol=1e-10)
    s = em.fit(a * X - 1.0 * a, 2, rng=11, n_init=3, tol=1e-10)
    np.testing.assert_allclose(s.means, a * r.means - a, rtol=1e-6, atol=1e-6 * abs(a))
    np.testing.assert_allclose(s.covariances, a**2 * r.covariances, rtol=1e-6,
                               atol=1e-8 * a**2)
    assert s.log_likelihood == pytest.approx(
        r.log_likelihood - X.size * np.log(abs(a)), rel=1e-9, abs=1e-7)


# ------------------------------------------------------------ closed forms
@pytest.mark.parametrize("structure", ("unequal", "equal"))
def test_single_component_is_closed_form_mle_1d(structure):
    x = _data_1d()
    res = em.fit(x, 1, structure=structure)
    mu, var = x.mean(), x.var()  # biased (MLE) variance
    assert res.weights.tolist() == [1.0]
    assert res.means[0] == pytest.approx(mu, rel=1e-12, abs=1e-14)
    assert res.variances[0] == pytest.approx(var, rel=1e-12)
    assert res.log_likelihood == pytest.approx(norm.logpdf(x, mu, np.sqrt(var)).sum(), rel=1e-12)
    assert res.converged


@pytest.mark.parametrize("d", (2, 3))
@pytest.mark.parametrize("structure", STRUCTURES_ND)
def test_single_component_is_closed_form_mle_nd(structure, d):
    rng = np.random.default_rng(d)
    X = rng.normal(size=(80, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    res = em.fit(X, 1, structure=structure)
    mu = X.mean(axis=0)
    C = np.cov(X.T, bias=True)
    expected = {"full": C, "tied": C, "diag": np.diag(np.diag(C)),
                "spherical": np.trace(C) / d * np.eye(d)}[structure]
    np.testing.assert_allclose(res.means[0], mu, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(res.covariances[0], expected, rtol=1e-11, atol=1e-13)
    ll = multivariate_normal(mu, expected).logpdf(X).sum()
    assert res.log_likelihood == pytest.approx(ll, rel=1e-12)


# ------------------------------------------------------ iterations and traces
@pytest.mark.parametrize("max_iter", (0, 1, 7, 25))
def test_tol_zero_runs_exactly_max_iter(max_iter):
    x = _data_1d()
    res = em.fit(x, 2, tol=0, max_iter=max_iter, n_init=3, rng=0)
    assert res.n_iter == max_iter
    assert not res.converged
    assert all(r.n_iter == max_iter for r in res.restarts)
    assert all(len(r.objective_trace) == max_iter + 1 for r in res.restarts)
    assert len(res.trace.log_likelihood) == max_iter + 1


def test_stops_early_when_converged(monkeypatch):
    """Converged at the first step below tol, then polished by SQUAREM cycles until the
    parameters settle: the run ends on a plain EM step that passes Aitken's test at the
    largest ratio of two consecutive plain steps in the polish, and the end is within
    PARAM_TOL of the fixed point that 1000 more plain (unaccelerated) EM iterations reach."""
    from mixcompare.em import _squarem
    from mixcompare.em._stopping import PARAM_TOL, settled

    x = _data_1d()
    res = em.fit(x, 2, init=INIT_1D, tol=1e-3, max_iter=1000)
    assert res.converged and 0 < res.n_iter < 1000
    tr, scale = res.trace, res.scaling.scale
    steps = np.maximum.reduce([
        np.abs(np.diff(tr.weights, axis=0)).max(axis=1),
        np.abs(np.diff(tr.means, axis=0)).max(axis=1) / scale,
        0.5 * np.abs(np.diff(np.log(tr.variances), axis=0)).max(axis=1)])
    below = np.abs(np.diff(tr.objective)) < 1e-3
    first = int(np.argmax(below))
    assert below.any() and first < res.n_iter - 1  # the polish went on after tol was met
    acc = tr.accelerated
    assert acc.shape == (res.n_iter + 1,) and not acc[: first + 2].any()
    plain = ~acc[1:]                                 # step j (state j -> j + 1) is plain EM
    pairs = [steps[j + 1] / steps[j] for j in range(first + 1, res.n_iter - 1)
             if plain[j] and plain[j + 1] and steps[j + 1] < steps[j]]
    assert pairs and not acc[-1]
    assert settled(steps[-1], steps[-1] / max(pairs))
    assert np.all(np.diff(tr.objective) >= -1e-12 * np.abs(tr.objective[1:]))
    monkeypatch.setattr(_squarem, "ACCELERATE", False)
    on = em.fit(x, 2, init={"weights": res.weights, "means": res.means,
                            "variances": res.variances}, tol=0, max_iter=1000)
    assert not on.trace.accelerated.any()
    far = np.max([np.abs(on.weights - res.weights).max(),
                  np.abs(on.means - res.means).max() / scale,
                  0.5 * np.abs(np.log(on.variances / res.variances)).max()])
    assert far < PARAM_TOL


@pytest.mark.parametrize("dim", (1, 2))
def test_trace_lengths_and_contents(dim):
    X = _data_1d() if dim == 1 else _data_2d()
    K = 2
    res = em.fit(X, K, n_init=4, rng=2, tol=1e-8)
    m = res.n_iter + 1
    tr = res.trace
    assert tr.log_likelihood.shape == tr.objective.shape == (m,)
    assert tr.weights.shape == (m, K)
    assert tr.means.shape == ((m, K) if dim == 1 else (m, K, dim))
    assert tr.variances.shape == tr.means.shape
    assert tr.resp is None
    np.testing.assert_array_equal(tr.objective, tr.log_likelihood)
    np.testing.assert_allclose(tr.weights[-1], res.weights)
    np.testing.assert_allclose(tr.means[-1], res.means)
    np.testing.assert_allclose(tr.variances[-1], res.variances)
    assert tr.log_likelihood[-1] == pytest.approx(res.log_likelihood, rel=1e-12)
    # every restart, its trace and its optimum
    assert len(res.restarts) == 4
    for r in res.restarts:
        assert r.objective_trace.shape == (r.n_iter + 1,)
        assert r.objective_trace[-1] == pytest.approx(r.log_likelihood, rel=1e-12)
        assert res.optima[r.optimum].log_likelihood == pytest.approx(r.log_likelihood,
                                                                     rel=1e-6)
    assert sum(o.count for o in res.optima) == 4
    assert sum(o.basin_share for o in res.optima) == pytest.approx(1.0)
    assert sorted(i for o in res.optima for i in o.restarts) == [0, 1, 2, 3]
    lls = [o.log_likelihood for o in res.optima]
    assert lls == sorted(lls, reverse=True)
    assert res.optima[0].log_likelihood == pytest.approx(res.log_likelihood, rel=1e-12)
    assert res.log_likelihood == max(r.log_likelihood for r in res.restarts)


@pytest.mark.parametrize("dim", (1, 2))
def test_keep_resp_trace(dim):
    X, init = (_data_1d(), INIT_1D) if dim == 1 else (_data_2d(), INIT_2D)
    res = em.fit(X, 2, init=init, keep_resp=True, tol=1e-8)
    R = res.trace.resp
    assert R.shape == (res.n_iter + 1, len(X), 2)
    np.testing.assert_allclose(R.sum(axis=2), 1.0, atol=1e-12)
    np.testing.assert_allclose(R[-1], res.predict_proba(X), rtol=1e-9, atol=1e-12)
    # R[0] are the responsibilities at the initial parameters
    w = np.asarray(init["weights"])
    means = np.asarray(init["means"], float)
    covs = np.asarray(init["variances"] if dim == 1 else init["covariances"], float)
    X2 = X.reshape(len(X), -1)
    lp = np.column_stack([
        np.log(w[k]) + multivariate_normal(means.reshape(2, -1)[k],
                                           covs.reshape(2, dim, dim)[k]).logpdf(X2)
        for k in range(2)])
    np.testing.assert_allclose(R[0], np.exp(lp - logsumexp(lp, axis=1, keepdims=True)),
                               rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------- prediction
@pytest.mark.parametrize("dim", (1, 2))
def test_predictions_consistent_with_fit(dim):
    X = _data_1d() if dim == 1 else _data_2d()
    res = em.fit(X, 2, rng=0, tol=1e-8)
    np.testing.assert_array_equal(res.labels, res.predict(X))
    P = res.predict_proba(X)
    assert P.shape == (len(X), 2)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(P.argmax(axis=1), res.labels)
    ss = res.score_samples(X)
    np.testing.assert_allclose(ss, _mixture_logpdf(X, res.weights, res.means, res.covariances),
                               rtol=1e-10)
    assert ss.sum() == pytest.approx(res.log_likelihood, rel=1e-10)
    # new data
    new = X[:5] + 0.1
    np.testing.assert_allclose(res.score_samples(new),
                               _mixture_logpdf(new, res.weights, res.means, res.covariances),
                               rtol=1e-10)
    if dim == 2:
        with pytest.raises(ValueError, match="3 feature"):
            res.predict(np.zeros((4, 3)))


# ----------------------------------------------------------------- criteria
def _n_params(structure, K, d):
    cov = {"unequal": K, "equal": 1, "full": K * d * (d + 1) // 2, "diag": K * d,
           "spherical": K, "tied": d * (d + 1) // 2}[structure]
    return (K - 1) + K * d + cov


@pytest.mark.parametrize("structure", ("unequal", "equal", *STRUCTURES_ND))
def test_information_criteria(structure):
    one_d = structure in ("unequal", "equal")
    X = _data_1d() if one_d else _data_2d()
    n, d, K = len(X), 1 if one_d else 2, 2
    res = em.fit(X, K, structure=structure, rng=0, tol=1e-8)
    p = _n_params(structure, K, d)
    ll = res.log_likelihood
    assert res.n_parameters() == p
    assert res.bic() == pytest.approx(-2 * ll + p * np.log(n), rel=1e-12)
    assert res.aic() == pytest.approx(-2 * ll + 2 * p, rel=1e-12)
    R = res.predict_proba(X)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(R > 0, R * np.log(R), 0.0).sum()
    assert res.icl_soft() == pytest.approx(res.bic() + 2 * ent, rel=1e-10)
    hard = -np.log(R.max(axis=1)).sum()  # Biernacki et al. (2000), as mclust
    assert res.icl() == pytest.approx(res.bic() + 2 * hard, rel=1e-10)
    assert res.icl_soft() >= res.icl() >= res.bic()  # -r log r >= -log max r, summed
    assert res.mclust_bic() == -res.bic()
    assert res.mclust_icl() == -res.icl()


def test_fixed_blocks_not_counted():
    res = em.fit(_data_1d(), 2, fixed={"variances": 1.0})
    assert res.n_parameters() == 3  # one weight, two means
    assert res.bic() == pytest.approx(-2 * res.log_likelihood + 3 * np.log(100), rel=1e-12)


@pytest.mark.parametrize("dim", (1, 2))
def test_to_dataset(dim):
    X = _data_1d() if dim == 1 else _data_2d()
    res = em.fit(X, 2, rng=0)
    ds = res.to_dataset()
    assert "component" in ds.dims and ds.sizes["component"] == 2
    np.testing.assert_array_equal(ds["weights"].values, res.weights)
    np.testing.assert_array_equal(ds["means"].values, res.means)
    np.testing.assert_array_equal(ds["variances"].values, res.variances)
    assert ds["weights"].dims == ("component",)
    if dim == 2:
        assert ds["means"].dims == ("component", "feature")
        np.testing.assert_array_equal(ds["covariances"].values, res.covariances)
    assert ds.attrs["log_likelihood"] == res.log_likelihood
    assert ds.attrs["bic"] == res.bic()


# ----------------------------------------------------------- reproducibility
def test_sample_reproducible():
    args = (500, [0.3, 0.7], [-1.0, 2.0], [0.5, 1.5])
    x1, l1 = em.sample(*args, rng=42)
    x2, l2 = em.sample(*args, rng=42)
    x3, _ = em.sample(*args, rng=43)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(l1, l2)
    assert not np.array_equal(x1, x3)
    x4, _ = em.sample(*args, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(x1, x4)
    assert x1.shape == (500,) and set(np.unique(l1)) <= {0, 1}
    covs = np.array([np.eye(2), [[1.0, 0.5], [0.5, 2.0]]])
    y1, m1 = em.sample(300, [0.5, 0.5], [[0, 0], [3, 3]], covariances=covs, rng=7)
    y2, m2 = em.sample(300, [0.5, 0.5], [[0, 0], [3, 3]], covariances=covs, rng=7)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(m1, m2)
    assert y1.shape == (300, 2)


def test_sample_distribution():
    """Loose moment checks (20k draws): 6-sigma bounds, so a wrong sampler fails."""
    x, lab = em.sample(20_000, [0.3, 0.7], [-1.0, 2.0], [0.5, 1.5], rng=0)
    assert abs(lab.mean() - 0.7) < 6 * np.sqrt(0.21 / 20_000)
    for k, (m, v) in enumerate([(-1.0, 0.5), (2.0, 1.5)]):
        xk = x[lab == k]
        assert abs(xk.mean() - m) < 6 * np.sqrt(v / len(xk))
        assert abs(xk.var() / v - 1) < 6 * np.sqrt(2 / len(xk))


@pytest.mark.parametrize("init", ("kmeans++", "random_from_data", "random_resp"))
def test_same_seed_same_result(init):
    X = _data_2d()
    a = em.fit(X, 3, init=init, n_init=4, rng=5, tol=1e-8)
    b = em.fit(X, 3, init=init, n_init=4, rng=5, tol=1e-8)
    c = em.fit(X, 3, init=init, n_init=4, rng=np.random.default_rng(5), tol=1e-8)
    for other in (b, c):
        np.testing.assert_array_equal(other.weights, a.weights)
        np.testing.assert_array_equal(other.means, a.means)
        np.testing.assert_array_equal(other.covariances, a.covariances)
        assert other.log_likelihood == a.log_likelihood
        for ra, rb in zip(a.restarts, other.restarts, strict=True):
            np.testing.assert_array_equal(ra.objective_trace, rb.objective_trace)
    # restarts do differ among themselves (each has its own child generator)
    starts = {r.objective_trace[0] for r in a.restarts}
    assert len(starts) > 1


# ------------------------------------------------------ the lecture example
LECTURE_X = np.array([-10.2, -10.0, -9.8, -0.2, 0.0, 0.2, 11.8, 12.0, 12.2])
LECTURE_FIXED = {"variances": 1.0, "weights": [0.5, 0.5]}
BUMPS = [(-5.0, 12.0), (-10.0, 6.0), (6.0, -10.0), (12.0, -5.0)]


def _two_mean_loglik(mu):
    x = LECTURE_X[:, None]
    return float(logsumexp(np.log(0.5) + norm.logpdf(x, loc=np.asarray(mu)[None, :]),
                           axis=1).sum())


def _two_mean_grad(mu):
    """Gradient of the two-mean log-likelihood: sum_i r_ik (x_i - mu_k)."""
    x = LECTURE_X[:, None]
    lp = np.log(0.5) + norm.logpdf(x, loc=np.asarray(mu)[None, :])
    r = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    return (r * (x - np.asarray(mu)[None, :])).sum(axis=0)


def _maximise_from(start):
    opt = minimize(lambda m: -_two_mean_loglik(m), np.array(start, float),
                   jac=lambda m: -_two_mean_grad(m), method="BFGS", options={"gtol": 1e-12})
    assert np.abs(_two_mean_grad(opt.x)).max() < 1e-8  # a stationary point
    assert np.all(np.linalg.eigvalsh(_two_mean_hessian(opt.x)) < 0)  # a local maximum
    return opt.x, -opt.fun


def _two_mean_hessian(mu, h=1e-5):
    return np.array([(_two_mean_grad(mu + h * e) - _two_mean_grad(mu - h * e)) / (2 * h)
                     for e in np.eye(2)])


def _independent_optima():
    """Maximise the two-mean log-likelihood with scipy from each bump; merge mirror images."""
    found = []
    for start in BUMPS:
        x, ll = _maximise_from(start)
        mu = np.sort(x)
        if not any(np.allclose(mu, f[0], atol=1e-4) for f in found):
            found.append((mu, ll))
    return sorted(found, key=lambda f: -f[1])


def test_lecture_example_atlas():
    optima = _independent_optima()
    assert len(optima) == 2  # four bumps, two up to relabelling
    res = em.fit(LECTURE_X, 2, fixed=LECTURE_FIXED, init="random_from_data", n_init=200,
                 rng=2024, tol=1e-10)
    assert len(res.optima) == 2
    for opt, (mu, ll) in zip(res.optima, optima, strict=True):
        np.testing.assert_allclose(np.sort(opt.means), mu, atol=1e-5)
        assert opt.log_likelihood == pytest.approx(ll, rel=1e-10)
        np.testing.assert_array_equal(opt.weights, [0.5, 0.5])
        np.testing.assert_array_equal(opt.variances, [1.0, 1.0])
        assert opt.converged and not opt.degenerate
        assert opt.count > 0
    assert sum(o.count for o in res.optima) == 200
    # the best fit is the global optimum, near (-5, 12)
    assert res.log_likelihood == pytest.approx(optima[0][1], rel=1e-10)
    np.testing.assert_allclose(np.sort(res.means), [-5.0, 12.0], atol=1e-3)
    assert res.optima[1].log_likelihood < res.log_likelihood - 30
    assert res.n_parameters() == 2


@pytest.mark.parametrize("bump", BUMPS)
def test_lecture_example_each_bump_is_a_fixed_point(bump):
    """EM started on a bump stays on it (and returns the bump's maximiser)."""
    res = em.fit(LECTURE_X, 2, fixed=LECTURE_FIXED, init={"means": list(bump)}, tol=1e-12)
    x, ll = _maximise_from(bump)
    np.testing.assert_allclose(res.means, x, atol=1e-5)
    np.testing.assert_allclose(res.means, bump, atol=0.5)
    assert res.log_likelihood == pytest.approx(ll, rel=1e-10)


def _classification_loglik(mu):
    lp = np.log(0.5) + norm.logpdf(LECTURE_X[:, None], loc=np.asarray(mu)[None, :])
    return float(lp.max(axis=1).sum())


def test_lecture_example_cem():
    res = em.fit(LECTURE_X, 2, algorithm="cem", fixed=LECTURE_FIXED,
                 init="random_from_data", n_init=200, rng=2024)
    # brute force over all 2^9 partitions: the best classification log-likelihood
    # sum_i log(0.5 phi(x_i - mean of i's group)); empty groups contribute nothing
    best = -np.inf
    for bits in itertools.product((0, 1), repeat=len(LECTURE_X)):
        lab = np.array(bits)
        val = 0.0
        for k in (0, 1):
            xk = LECTURE_X[lab == k]
            if xk.size:
                val += float((np.log(0.5) + norm.logpdf(xk, loc=xk.mean())).sum())
        best = max(best, val)
    assert res.optima[0].objective == pytest.approx(best, rel=1e-12)
    assert res.trace.objective[-1] == pytest.approx(best, rel=1e-12)
    # the best partition is {-10, 0 groups} | {12 group}: means -5 and 12
    np.testing.assert_allclose(np.sort(res.means), [-5.0, 12.0], atol=1e-12)
    # every CEM optimum is a fixed point: each mean is the mean of the points nearest to it
    for opt in res.optima:
        lab = np.abs(LECTURE_X[:, None] - opt.means[None, :]).argmin(axis=1)
        for k in (0, 1):
            if np.any(lab == k):
                assert opt.means[k] == pytest.approx(LECTURE_X[lab == k].mean(), abs=1e-12)
        assert opt.objective == pytest.approx(_classification_loglik(opt.means), rel=1e-12)
        # the reported log-likelihood is the observed-data one at the CEM parameters
        assert opt.log_likelihood == pytest.approx(_two_mean_loglik(opt.means), rel=1e-12)
    assert len({round(o.objective, 6) for o in res.optima}) == len(res.optima)


@pytest.mark.parametrize("dim", (1, 2))
def test_all_fixed_max_iter_zero_evaluates_loglik(dim):
    if dim == 1:
        X = _data_1d()
        fixed = {"weights": [0.25, 0.75], "means": [-1.0, 2.5], "variances": [0.7, 1.9]}
        covs = np.asarray(fixed["variances"])
    else:
        X = _data_2d()
        covs = np.array([[[1.0, 0.3], [0.3, 0.5]], [[2.0, -0.4], [-0.4, 1.0]]])
        fixed = {"weights": [0.6, 0.4], "means": [[0.0, 0.0], [4.0, 2.0]], "covariances": covs}
    expected = _mixture_logpdf(X, np.asarray(fixed["weights"]), fixed["means"], covs).sum()
    res = em.fit(X, 2, fixed=fixed, max_iter=0)
    assert res.n_iter == 0
    assert res.log_likelihood == pytest.approx(expected, rel=1e-12)
    assert res.n_parameters() == 0
    assert res.bic() == pytest.approx(-2 * expected, rel=1e-12)
    # more iterations change nothing
    res5 = em.fit(X, 2, fixed=fixed, max_iter=5, tol=0)
    assert res5.log_likelihood == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(res5.means.reshape(2, -1),
                               np.asarray(fixed["means"], float).reshape(2, -1), rtol=1e-14)


# ------------------------------------------------------------------ layering
def test_em_modules_form_no_import_cycle():
    """No module of em imports (at module level or inside a function) one that imports it
    back, directly or not: the result, the uncertainty methods, the bootstrap and the
    driver are layered."""
    import ast
    from pathlib import Path

    root = Path(em.__file__).parent
    graph = {}
    for path in root.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(alias.name for alias in node.names)
        graph[path.stem] = deps & {p.stem for p in root.glob("*.py")}
    assert "uncertainty" in graph["result"] and "_engine" in graph["_bootstrap"]
    state = {}

    def visit(mod, stack):
        state[mod] = "open"
        for dep in graph[mod]:
            assert state.get(dep) != "open", " -> ".join([*stack, mod, dep])
            if dep not in state:
                visit(dep, [*stack, mod])
        state[mod] = "done"

    for mod in graph:
        if mod not in state:
            visit(mod, [])
