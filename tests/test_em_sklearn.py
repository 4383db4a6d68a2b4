"""EM against scikit-learn's GaussianMixture from the same starting point.

Both run the same EM map (Dempster, Laird & Rubin 1977) from identical
parameters, so they must reach the same fixed point. scikit-learn's
``reg_covar`` and our relative ``var_floor`` are set tiny so neither
constraint is active.
"""

from __future__ import annotations

import numpy as np
import pytest

sklearn_mixture = pytest.importorskip("sklearn.mixture")
GaussianMixture = sklearn_mixture.GaussianMixture

from mixcompare import em  # noqa: E402

FIX_TOL = 1e-6


def _data_1d():
    rng = np.random.default_rng(2024)
    return np.concatenate([rng.normal(-3.0, 1.0, 120), rng.normal(1.0, 0.6, 80),
                           rng.normal(4.0, 1.5, 100)])


def _data_nd(d=2):
    rng = np.random.default_rng(7)
    A = rng.normal(size=(d, d)) * 0.4 + np.eye(d)
    parts = [rng.normal(size=(150, d)) @ A + 0.0,
             rng.normal(size=(100, d)) * np.linspace(0.6, 1.4, d) + 5.0,
             rng.normal(size=(120, d)) @ A.T * 0.8 + np.r_[-4.0, 5.0, 1.0][:d]]
    return np.vstack(parts)


def _precisions(cov, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(cov)
    return 1.0 / cov  # diag (K, d) or spherical (K,)


def _sk_fit(X2, covariance_type, w0, m0, c0):
    gm = GaussianMixture(
        n_components=len(w0), covariance_type=covariance_type, weights_init=w0,
        means_init=m0, precisions_init=_precisions(c0, covariance_type), tol=1e-14,
        reg_covar=1e-14, max_iter=100_000)
    return gm.fit(X2)


def _sk_full_covariances(gm, d):
    ct, c, K = gm.covariance_type, gm.covariances_, gm.n_components
    if ct == "full":
        return c
    if ct == "diag":
        return np.stack([np.diag(row) for row in c])
    if ct == "spherical":
        return c[:, None, None] * np.eye(d)
    return np.broadcast_to(c, (K, d, d))


def _compare(res, gm, X2):
    n, d = X2.shape
    assert gm.converged_
    assert res.converged
    np.testing.assert_allclose(res.weights, gm.weights_, rtol=FIX_TOL, atol=FIX_TOL)
    np.testing.assert_allclose(res.means.reshape(-1, d), gm.means_, rtol=FIX_TOL, atol=FIX_TOL)
    np.testing.assert_allclose(res.covariances, _sk_full_covariances(gm, d), rtol=FIX_TOL,
                               atol=FIX_TOL)
    sk_ll = gm.score(X2) * n
    assert res.log_likelihood >= sk_ll - 1e-9 * abs(sk_ll)
    # and the two log-likelihoods are the same number (same fixed point)
    assert res.log_likelihood == pytest.approx(sk_ll, rel=1e-9)
    # same posterior classification
    np.testing.assert_array_equal(res.labels, gm.predict(X2))
    X_in = X2[:, 0] if res.spec.one_d else X2
    np.testing.assert_allclose(res.predict_proba(X_in), gm.predict_proba(X2), atol=1e-6)
    np.testing.assert_allclose(res.score_samples(X_in), gm.score_samples(X2), rtol=FIX_TOL,
                               atol=FIX_TOL)


W0 = np.array([0.3, 0.3, 0.4])


@pytest.mark.parametrize(("structure", "covariance_type"), [("unequal", "diag"),
                                                             ("equal", "tied")])
def test_same_fixed_point_1d(structure, covariance_type):
    x = _data_1d()
    m0 = np.array([-2.0, 0.5, 3.0])
    if structure == "unequal":
        v0 = np.array([0.8, 1.5, 2.0])
        c0 = v0[:, None]  # sklearn diag: (K, d)
    else:
        v0 = np.full(3, 1.7)
        c0 = np.array([[1.7]])  # sklearn tied: (d, d)
    res = em.fit(x, 3, structure=structure,
                 init={"weights": W0, "means": m0, "variances": v0},
                 tol=1e-12, var_floor=1e-14, max_iter=100_000)
    gm = _sk_fit(x[:, None], covariance_type, W0, m0[:, None], c0)
    _compare(res, gm, x[:, None])
    # 1-D shapes are kept
    assert res.means.shape == (3,) and res.variances.shape == (3,)


def _nd_init(structure, d):
    m0 = np.array([[0.5] * d, [4.0] * d, ([-3.0, 4.0, 0.0] * d)[:d]])
    if structure == "full":
        c0 = np.stack([np.eye(d) * 1.5, np.eye(d) + 0.3 * (1 - np.eye(d)), np.eye(d) * 2.0])
        return m0, {"covariances": c0}, c0
    if structure == "diag":
        c0 = np.array([np.linspace(1.0, 2.0, d), np.linspace(1.5, 1.0, d), np.full(d, 2.0)])
        return m0, {"variances": c0}, c0
    if structure == "spherical":
        c0 = np.array([1.0, 2.0, 3.0])
        return m0, {"covariances": c0[:, None, None] * np.eye(d)}, c0
    c0 = 1.5 * np.eye(d) + 0.2 * (1 - np.eye(d))
    return m0, {"covariances": c0}, c0


@pytest.mark.parametrize("d", (2, 3))
@pytest.mark.parametrize("structure", ("full", "diag", "spherical", "tied"))
def test_same_fixed_point_nd(structure, d):
    X = _data_nd(d)
    m0, init, c0 = _nd_init(structure, d)
    res = em.fit(X, 3, structure=structure, init={"weights": W0, "means": m0, **init},
                 tol=1e-12, var_floor=1e-14, max_iter=100_000)
    gm = _sk_fit(X, structure, W0, m0, c0)
    _compare(res, gm, X)


def test_same_path_first_iterations():
    """Not only the fixed point: the iterates agree (max_iter=3, tol=0)."""
    X = _data_nd(2)
    m0, init, c0 = _nd_init("full", 2)
    res = em.fit(X, 3, init={"weights": W0, "means": m0, **init}, tol=0.0, var_floor=1e-14,
                 max_iter=3)
    gm = GaussianMixture(3, weights_init=W0, means_init=m0, precisions_init=np.linalg.inv(c0),
                         tol=0.0, reg_covar=1e-14, max_iter=3)
    with pytest.warns(Warning):  # scikit-learn's own ConvergenceWarning
        gm.fit(X)
    # scikit-learn ends each fit with an E-step at the final parameters, as we do
    np.testing.assert_allclose(res.means, gm.means_, rtol=1e-10)
    np.testing.assert_allclose(res.covariances, gm.covariances_, rtol=1e-9)
    np.testing.assert_allclose(res.weights, gm.weights_, rtol=1e-10)
    assert res.n_iter == gm.n_iter_ == 3


# --------------------------------------------------- GaussianMixtureEM wrapper
_SK_SHAPES = {
    "full": lambda K, d: (K, d, d),
    "diag": lambda K, d: (K, d),
    "spherical": lambda K, d: (K,),
    "tied": lambda K, d: (d, d),
}


def _order(means):
    return np.lexsort(means.T[::-1])


@pytest.mark.parametrize("covariance_type", ("full", "diag", "spherical", "tied"))
def test_estimator_matches_sklearn(covariance_type):
    X = _data_nd(2)
    K, d = 3, 2
    ours = em.GaussianMixtureEM(K, covariance_type=covariance_type, tol=1e-10, max_iter=2000,
                                n_init=3, random_state=0).fit(X)
    sk = GaussianMixture(K, covariance_type=covariance_type, tol=1e-10, max_iter=2000,
                         n_init=3, random_state=0, reg_covar=1e-12).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        assert getattr(ours, name).shape == getattr(sk, name).shape, name
    assert ours.covariances_.shape == _SK_SHAPES[covariance_type](K, d)
    assert ours.n_features_in_ == sk.n_features_in_ == d
    assert isinstance(ours.converged_, bool) and ours.converged_
    assert isinstance(ours.n_iter_, int)
    # same optimum, up to the order of the components
    o, s = _order(ours.means_), _order(sk.means_)
    np.testing.assert_allclose(ours.means_[o], sk.means_[s], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.weights_[o], sk.weights_[s], rtol=1e-4, atol=1e-5)
    cov_o = ours.covariances_ if covariance_type == "tied" else ours.covariances_[o]
    cov_s = sk.covariances_ if covariance_type == "tied" else sk.covariances_[s]
    np.testing.assert_allclose(cov_o, cov_s, rtol=1e-4, atol=1e-5)
    assert ours.score(X) == pytest.approx(sk.score(X), rel=1e-8)
    assert ours.lower_bound_ == pytest.approx(sk.score(X), rel=1e-8)
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-6, atol=1e-6)
    assert ours.bic(X) == pytest.approx(sk.bic(X), rel=1e-8)
    assert ours.aic(X) == pytest.approx(sk.aic(X), rel=1e-8)
    assert ours.result_.n_parameters() == sk._n_parameters()
    P = ours.predict_proba(X)
    assert P.shape == (len(X), K)
    np.testing.assert_allclose(P[:, o], sk.predict_proba(X)[:, s], atol=1e-5)
    # labels agree up to the relabelling o -> s
    relabel = np.empty(K, dtype=int)
    relabel[o] = s
    np.testing.assert_array_equal(relabel[ours.predict(X)], sk.predict(X))
    np.testing.assert_array_equal(ours.fit_predict(X), ours.predict(X))
    Xs, ys = ours.sample(50)
    assert Xs.shape == (50, d) and ys.shape == (50,)


def test_estimator_one_column():
    x = _data_1d()[:, None]
    ours = em.GaussianMixtureEM(3, tol=1e-10, max_iter=2000, n_init=3, random_state=1).fit(x)
    sk = GaussianMixture(3, tol=1e-10, max_iter=2000, n_init=3, random_state=1,
                         reg_covar=1e-12).fit(x)
    assert ours.means_.shape == sk.means_.shape == (3, 1)
    assert ours.covariances_.shape == sk.covariances_.shape == (3, 1, 1)
    o, s = _order(ours.means_), _order(sk.means_)
    np.testing.assert_allclose(ours.means_[o], sk.means_[s], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.covariances_[o], sk.covariances_[s], rtol=1e-4, atol=1e-5)
    assert ours.score(x) == pytest.approx(sk.score(x), rel=1e-8)
    Xs, _ = ours.sample(10)
    assert Xs.shape == (10, 1)
