"""Kernels of EM (E-step, C-step, M-step, floor) against scipy/numpy references.

Two E-steps: the uncentred feature path (``em._features``, one matrix
product) and the centred path (``em._estep``, differences from each
component's mean); both are checked against scipy, against each other, and
their statistics are centred on the anchors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from mixcompare import em
from mixcompare.em import _estep
from mixcompare.em._design import Components, Design, moments
from mixcompare.em._estep import centred_e_step, centred_log_prob, e_step, use_fast_path
from mixcompare.em._features import CHUNK, feature_e_step, features
from mixcompare.em._features import feature_log_prob as log_prob
from mixcompare.em._features import natural_params_of as natural_params
from mixcompare.em._floor import (
    apply_floor,
    at_floor,
    column_resolution,
    n_distinct_rows,
    project,
)
from mixcompare.em._mstep import m_step
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

KINDS = ("full", "diag", "spherical", "tied")
DIMS = (1, 2, 3)


def _random_cov(rng, d, kind, K):
    """K covariance matrices of the given structure."""
    if kind == "full":
        out = []
        for _ in range(K):
            A = rng.normal(size=(d, d))
            out.append(A @ A.T + 0.3 * np.eye(d))
        return np.array(out)
    if kind == "diag":
        return np.array([np.diag(rng.uniform(0.2, 3.0, d)) for _ in range(K)])
    if kind == "spherical":
        return np.array([rng.uniform(0.2, 3.0) * np.eye(d) for _ in range(K)])
    A = rng.normal(size=(d, d))
    S = A @ A.T + 0.3 * np.eye(d)
    return np.broadcast_to(S, (K, d, d)).copy()


def _random_params(rng, d, kind, K=3):
    w = rng.dirichlet(np.ones(K) * 2)
    mu = rng.normal(scale=2.0, size=(K, d))
    return em.Params(w, mu, _random_cov(rng, d, kind, K))


def _scipy_log_prob(Z, p):
    """log w_k + log N(z_i | mu_k, Sigma_k) computed by scipy, shape (n, K)."""
    K, d = p.means.shape
    cols = []
    for k in range(K):
        if d == 1:
            lk = norm.logpdf(Z[:, 0], loc=p.means[k, 0], scale=np.sqrt(p.covariances[k, 0, 0]))
        else:
            lk = multivariate_normal(p.means[k], p.covariances[k]).logpdf(Z)
        cols.append(np.log(p.weights[k]) + np.atleast_1d(lk))
    return np.column_stack(cols)


# ---------------------------------------------------------------- features
@pytest.mark.parametrize("d", DIMS)
def test_features_layout(d):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(7, d))
    T = features(Z)
    assert T.shape == (1 + d + d * (d + 1) // 2, 7)
    np.testing.assert_array_equal(T[0], 1.0)
    np.testing.assert_array_equal(T[1 : 1 + d], Z.T)
    iu, ju = np.triu_indices(d)
    np.testing.assert_allclose(T[1 + d :], (Z[:, iu] * Z[:, ju]).T, rtol=1e-15)


# ------------------------------------------------------------- E-step
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_log_prob_matches_scipy(kind, d):
    rng = np.random.default_rng(10 * d + KINDS.index(kind))
    p = _random_params(rng, d, kind)
    Z = rng.normal(scale=3.0, size=(50, d))
    lp = log_prob(features(Z), natural_params(p))
    ref = _scipy_log_prob(Z, p)
    assert lp.shape == (50, 3)
    np.testing.assert_allclose(lp, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_e_step_matches_scipy(kind, d):
    rng = np.random.default_rng(100 + 10 * d + KINDS.index(kind))
    p = _random_params(rng, d, kind)
    Z = rng.normal(scale=3.0, size=(60, d))
    T = features(Z)
    resp = np.full((60, 3), np.nan)
    stats, ll = feature_e_step(T, natural_params(p), resp_out=resp)
    ref = _scipy_log_prob(Z, p)
    norm_ = logsumexp(ref, axis=1)
    np.testing.assert_allclose(ll, norm_.sum(), rtol=1e-12)
    np.testing.assert_allclose(resp, np.exp(ref - norm_[:, None]), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # statistics are S = R^T T
    np.testing.assert_allclose(stats, resp.T @ T.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_resp", (True, False))
@pytest.mark.parametrize("n", (61, 64))
@pytest.mark.parametrize(("d", "K"), ((1, 2), (1, 5), (2, 3), (3, 7)))
def test_e_step_paths_agree(d, K, n, with_resp):
    """Every internal path (n a multiple of 8 or not, with or without resp_out, K < or > p)."""
    rng = np.random.default_rng(1000 + 100 * d + 10 * K + n)
    p = _random_params(rng, d, "full", K)
    Z = rng.normal(scale=3.0, size=(n, d))
    T = features(Z)
    resp = np.empty((n, K)) if with_resp else None
    stats, ll = feature_e_step(T, natural_params(p), resp_out=resp)
    ref = _scipy_log_prob(Z, p)
    lse = logsumexp(ref, axis=1)
    R = np.exp(ref - lse[:, None])
    np.testing.assert_allclose(ll, lse.sum(), rtol=1e-12)
    np.testing.assert_allclose(stats, R.T @ T.T, rtol=1e-10, atol=1e-12)
    if with_resp:
        np.testing.assert_allclose(resp, R, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("n", (8, 16, 13))
def test_e_step_large_densities_products_overflow(n):
    """Densities ~1e150: a product of 8 overflows although each density is finite."""
    rng = np.random.default_rng(21)
    p = em.Params(np.array([0.4, 0.6]), np.zeros((2, 3)),
               np.array([np.eye(3) * 1e-100, np.eye(3) * 2e-100]))
    Z = rng.normal(scale=1e-50, size=(n, 3))
    T = features(Z)
    eta = natural_params(p)
    lp = log_prob(T, eta)
    assert np.all(lp.max(axis=1) > 300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats, ll = feature_e_step(T, eta)
    lse = logsumexp(lp, axis=1)
    np.testing.assert_allclose(ll, lse.sum(), rtol=1e-12)
    R = np.exp(lp - lse[:, None])
    np.testing.assert_allclose(stats[:, 0], R.sum(axis=0), rtol=1e-10)


def test_e_step_chunked_equals_unchunked():
    """n > CHUNK exercises the chunk boundaries: same result as one dense computation."""
    rng = np.random.default_rng(3)
    n = 2 * CHUNK + 17
    p = _random_params(rng, 2, "full")
    Z = rng.normal(scale=2.0, size=(n, 2))
    T = features(Z)
    resp = np.empty((n, 3))
    stats, ll = feature_e_step(T, natural_params(p), resp_out=resp)
    lp = log_prob(T, natural_params(p))
    ref_ll = logsumexp(lp, axis=1)
    ref_r = np.exp(lp - ref_ll[:, None])
    np.testing.assert_allclose(ll, ref_ll.sum(), rtol=1e-12)
    np.testing.assert_allclose(resp, ref_r, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(stats, ref_r.T @ T.T, rtol=1e-10)


@pytest.mark.parametrize("d", (1, 3))
def test_hard_e_step_is_argmax(d):
    rng = np.random.default_rng(4 + d)
    p = _random_params(rng, d, "full")
    Z = rng.normal(scale=3.0, size=(40, d))
    T = features(Z)
    resp = np.empty((40, 3))
    stats, obj = feature_e_step(T, natural_params(p), hard=True, resp_out=resp)
    ref = _scipy_log_prob(Z, p)
    lab = ref.argmax(axis=1)
    expected = np.zeros_like(resp)
    expected[np.arange(40), lab] = 1.0
    np.testing.assert_array_equal(resp, expected)
    np.testing.assert_allclose(obj, ref.max(axis=1).sum(), rtol=1e-12)
    np.testing.assert_allclose(stats, expected.T @ T.T, rtol=1e-12, atol=1e-12)


def test_underflow_far_points_finite():
    """Points 1e4 sd away from every component: every exp underflows to 0."""
    p = em.Params(np.array([0.3, 0.7]), np.array([[0.0], [1.0]]), np.ones((2, 1, 1)))
    Z = np.array([[1e4], [0.5], [-1e4], [2e4]])
    T = features(Z)
    resp = np.empty((4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        stats, ll = feature_e_step(T, natural_params(p), resp_out=resp)
    ref = _scipy_log_prob(Z, p)
    assert np.isfinite(ll)
    np.testing.assert_allclose(ll, logsumexp(ref, axis=1).sum(), rtol=1e-12)
    np.testing.assert_allclose(resp, np.exp(ref - logsumexp(ref, axis=1)[:, None]), atol=1e-12)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    # the far-right point belongs to the right component, the far-left one to the left one
    assert resp[0, 1] == pytest.approx(1.0) and resp[2, 0] == pytest.approx(1.0)
    assert np.all(np.isfinite(stats))


def test_overflow_tiny_variances_finite():
    """Variances of 1e-250 in d=3 make the densities overflow (exp > 1e308)."""
    p = em.Params(np.array([0.5, 0.5]), np.zeros((2, 3)),
               np.array([np.eye(3) * 1e-250, np.eye(3) * 1e-249]))
    Z = np.zeros((5, 3))
    Z[1] = 1e-126
    T = features(Z)
    eta = natural_params(p)
    resp = np.empty((5, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the handled overflow must not leak a RuntimeWarning
        _, ll = feature_e_step(T, eta, resp_out=resp)
    lp = log_prob(T, eta)
    assert np.isfinite(ll) and ll > 700 * 5
    np.testing.assert_allclose(ll, logsumexp(lp, axis=1).sum(), rtol=1e-12)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, atol=1e-12)
    # closed form at z = 0: r_0 = 1 / (1 + 10^{-3/2})
    np.testing.assert_allclose(resp[0, 0], 1.0 / (1.0 + 10 ** -1.5), rtol=1e-12)


def test_mixed_good_and_bad_columns_in_one_chunk():
    """A chunk with both ordinary and underflowing points gives scipy's values for each."""
    rng = np.random.default_rng(5)
    p = _random_params(rng, 2, "diag", K=2)
    Z = np.vstack([rng.normal(size=(20, 2)), [[5e3, -5e3]], rng.normal(size=(5, 2))])
    resp = np.empty((26, 2))
    _, ll = feature_e_step(features(Z), natural_params(p), resp_out=resp)
    ref = _scipy_log_prob(Z, p)
    np.testing.assert_allclose(ll, logsumexp(ref, axis=1).sum(), rtol=1e-12)
    np.testing.assert_allclose(resp, np.exp(ref - logsumexp(ref, axis=1)[:, None]), atol=1e-12)


# ------------------------------------------------------------- M-step
# Statistics about the origin are centred on anchors at 0: the M-step's offsets are the means.
def _resp_stats(rng, n, d, K):
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d) + rng.normal(size=d)
    R = rng.dirichlet(np.ones(K), size=n)
    return X, R, R.T @ features(X).T


def _weighted_cov(X, r):
    return np.atleast_2d(np.cov(X.T, aweights=r, bias=True))


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_m_step_matches_weighted_numpy(kind, d):
    rng = np.random.default_rng(200 + 10 * d + KINDS.index(kind))
    n, K = 80, 3
    X, R, stats = _resp_stats(rng, n, d, K)
    prev = _random_params(rng, d, kind, K)
    new = m_step(stats, prev, kind=kind, fixed={}, floor=0.0)
    Nk = R.sum(axis=0)
    np.testing.assert_allclose(new.weights, Nk / n, rtol=1e-12)
    covs = []
    for k in range(K):
        np.testing.assert_allclose(new.offsets[k], np.average(X, axis=0, weights=R[:, k]),
                                   rtol=1e-10, atol=1e-12)
        covs.append(_weighted_cov(X, R[:, k]))
    covs = np.array(covs)
    if kind == "full":
        expected = covs
    elif kind == "diag":
        expected = np.array([np.diag(np.diag(c)) for c in covs])
    elif kind == "spherical":
        expected = np.array([np.trace(c) / d * np.eye(d) for c in covs])
    else:
        pooled = np.einsum("k,kij->ij", Nk, covs) / n
        expected = np.broadcast_to(pooled, (K, d, d))
    np.testing.assert_allclose(new.covariances, expected, rtol=1e-9, atol=1e-12)


def test_m_step_fixed_blocks_unchanged():
    rng = np.random.default_rng(7)
    X, R, stats = _resp_stats(rng, 50, 2, 2)
    prev = _random_params(rng, 2, "full", 2)
    fixed = {"weights": np.array([0.25, 0.75]), "covariances": prev.covariances.copy()}
    new = m_step(stats, prev, kind="full", fixed=fixed, floor=0.0)
    np.testing.assert_array_equal(new.weights, fixed["weights"])
    np.testing.assert_array_equal(new.covariances, fixed["covariances"])
    np.testing.assert_allclose(new.offsets[1], np.average(X, axis=0, weights=R[:, 1]),
                               rtol=1e-10)
    # a fixed mean is its anchor: offset exactly 0
    same = m_step(stats, prev, kind="full", fixed={"means": prev.means}, floor=0.0)
    np.testing.assert_array_equal(same.offsets, 0.0)


def test_m_step_empty_component_keeps_previous():
    """A component with no responsibility keeps its parameters (weight 0), no 0/0."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(30, 2))
    R = np.zeros((30, 3))
    R[:15, 0] = 1.0
    R[15:, 1] = 1.0
    prev = _random_params(rng, 2, "full", 3)
    with np.errstate(all="raise"):
        new = m_step(R.T @ features(X).T, prev, kind="full", fixed={}, floor=0.0)
    np.testing.assert_array_equal(new.weights, [0.5, 0.5, 0.0])
    np.testing.assert_array_equal(new.offsets[2], 0.0)  # its mean (the anchor) stays
    np.testing.assert_array_equal(new.covariances[2], prev.covariances[2])
    np.testing.assert_allclose(new.offsets[0], X[:15].mean(axis=0), rtol=1e-12)


def test_moments_roundtrip():
    rng = np.random.default_rng(9)
    X, R, stats = _resp_stats(rng, 40, 3, 2)
    Nk, Sx, Sxx = moments(stats, 3)
    np.testing.assert_allclose(Nk, R.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(Sx, R.T @ X, rtol=1e-12)
    np.testing.assert_allclose(Sxx, np.einsum("ik,ia,ib->kab", R, X, X), rtol=1e-12)


# -------------------------------------------------------- variance floor
def test_floor_clips_eigenvalues_full():
    rng = np.random.default_rng(11)
    # one nearly flat cluster: smallest eigenvalue ~1e-4
    X = rng.normal(size=(200, 2)) @ np.array([[1.0, 0.0], [0.0, 0.01]]) @ np.array(
        [[np.cos(0.5), np.sin(0.5)], [-np.sin(0.5), np.cos(0.5)]])
    R = np.ones((200, 1))
    stats = R.T @ features(X).T
    prev = em.Params(np.ones(1), np.zeros((1, 2)), np.eye(2)[None])
    C = _weighted_cov(X, R[:, 0])
    vals, vecs = np.linalg.eigh(C)
    floor = 0.01
    assert vals[0] < floor < vals[1]
    new = m_step(stats, prev, kind="full", fixed={}, floor=floor)
    expected = vecs @ np.diag(np.maximum(vals, floor)) @ vecs.T
    np.testing.assert_allclose(new.covariances[0], expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(new.covariances[0]), [floor, vals[1]],
                               rtol=1e-10)
    # a floor below every eigenvalue changes nothing
    same = m_step(stats, prev, kind="full", fixed={}, floor=vals[0] / 2)
    np.testing.assert_allclose(same.covariances[0], C, rtol=1e-10)


@pytest.mark.parametrize("kind", ("diag", "spherical", "tied"))
def test_floor_other_structures(kind):
    rng = np.random.default_rng(12)
    X = rng.normal(size=(100, 2)) * np.array([1.0, 0.05])
    R = rng.dirichlet(np.ones(2), size=100)
    stats = R.T @ features(X).T
    prev = _random_params(rng, 2, kind, 2)
    raw = m_step(stats, prev, kind=kind, fixed={}, floor=0.0).covariances
    floor = 0.05 if kind != "spherical" else 0.9
    new = m_step(stats, prev, kind=kind, fixed={}, floor=floor).covariances
    if kind in ("diag", "spherical"):
        diag = np.einsum("kii->ki", raw)
        np.testing.assert_allclose(np.einsum("kii->ki", new), np.maximum(diag, floor))
        off = new - np.einsum("kii->ki", new)[:, :, None] * np.eye(2)
        np.testing.assert_array_equal(off, 0.0)
        assert np.any(diag < floor)  # the floor was active
    else:
        vals, vecs = np.linalg.eigh(raw[0])
        assert vals[0] < floor
        expected = vecs @ np.diag(np.maximum(vals, floor)) @ vecs.T
        np.testing.assert_allclose(new, np.broadcast_to(expected, new.shape), rtol=1e-10)
    assert np.all(np.linalg.eigvalsh(new) >= floor * (1 - 1e-12))


def test_floor_is_constrained_maximiser():
    """Clipping eigenvalues maximises -log det S - tr(S^-1 C) over {S : eig(S) >= floor}."""
    rng = np.random.default_rng(13)
    A = rng.normal(size=(3, 3))
    C = A @ np.diag([2.0, 0.5, 1e-3]) @ A.T
    C = 0.5 * (C + C.T)
    floor = 0.05

    def f(S):
        return -np.linalg.slogdet(S)[1] - np.trace(np.linalg.solve(S, C))

    best = apply_floor(C[None], floor, "full")[0]
    fbest = f(best)
    for _ in range(300):
        B = rng.normal(size=(3, 3))
        cand = best + 10.0 ** rng.uniform(-4, 0) * (B + B.T)  # any symmetric direction
        vals, vecs = np.linalg.eigh(cand)
        cand = vecs @ np.diag(np.maximum(vals, floor)) @ vecs.T  # back into the feasible set
        assert f(cand) <= fbest + 1e-12


def test_floor_per_feature_is_constrained_maximiser():
    """With F = diag(f) (features at different resolutions) the projection maximises
    -log det S - tr(S^-1 C) over {S : S - F positive semi-definite}."""
    rng = np.random.default_rng(14)
    A = rng.normal(size=(3, 3))
    C = A @ np.diag([2.0, 0.5, 1e-4]) @ A.T
    C = 0.5 * (C + C.T)
    f = np.array([0.04, 0.002, 0.3])

    def f_obj(S):
        return -np.linalg.slogdet(S)[1] - np.trace(np.linalg.solve(S, C))

    best = apply_floor(C[None], f, "full")[0]
    s = 1 / np.sqrt(f)
    white = np.linalg.eigvalsh(best * s[:, None] * s[None, :])
    assert white.min() == pytest.approx(1.0, rel=1e-12)  # the constraint is active
    assert white.min() >= 1.0 - 1e-12
    fbest = f_obj(best)
    for _ in range(300):
        B = rng.normal(size=(3, 3))
        cand = best + 10.0 ** rng.uniform(-4, 0) * (B + B.T)
        vals, vecs = np.linalg.eigh(cand * s[:, None] * s[None, :])
        cand = (vecs @ np.diag(np.maximum(vals, 1.0)) @ vecs.T) / (s[:, None] * s[None, :])
        assert f_obj(cand) <= fbest + 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_projection_factors_are_exact(kind):
    """The factors returned with the projection describe the projected matrices."""
    rng = np.random.default_rng(15)
    d, K = 3, 2
    cov = _random_cov(rng, d, kind, K)
    cov[0] *= 1e-8  # the floor binds on component 0
    f = np.array([2e-6, 5e-7, 1e-6]) if kind != "spherical" else np.full(3, 1e-6)
    diagonal = kind in ("diag", "spherical")
    out, fac = project(cov, f, kind, diagonal)
    u = rng.normal(size=(5, d))
    for k in range(K):
        maha = np.einsum("ij,jk,ik->i", u, np.linalg.inv(out[k]), u)
        Y = u * fac.whiten[k] if diagonal else u @ fac.whiten[k]
        np.testing.assert_allclose((Y**2).sum(axis=1), maha, rtol=1e-9)
        assert fac.logdet[k] == pytest.approx(np.linalg.slogdet(out[k])[1], rel=1e-12)
    np.testing.assert_array_equal(at_floor(fac), [True, False])
    assert fac.floor_ratio[0] == pytest.approx(1.0, rel=1e-12)
    # no floor: nothing clipped, every ratio infinite
    same, fac0 = project(cov, 0.0, kind, diagonal)
    assert same is cov and np.all(np.isinf(fac0.floor_ratio))


# ----------------------------------------------------- resolution, distinct rows
def test_column_resolution_and_distinct_rows():
    rng = np.random.default_rng(16)
    X = np.column_stack([np.round(rng.normal(size=500), 2), rng.integers(0, 4, 500) * 0.5,
                         np.full(500, 3.0)])
    delta, distinct = column_resolution(X)
    for j in range(3):
        u = np.unique(X[:, j])
        assert distinct[j] == u.size
        assert delta[j] == (np.diff(u).min() if u.size > 1 else 0.0)
    assert delta[1] == 0.5 and delta[2] == 0.0
    assert n_distinct_rows(X) == np.unique(X, axis=0).shape[0]
    assert n_distinct_rows(X[:, 1:]) == np.unique(X[:, 1:], axis=0).shape[0] == 4


# ------------------------------------------------------------- centred path
def _design(X, center=None, scale=1.0, kind="full"):
    X2 = X.reshape(len(X), -1)
    center = np.zeros(X2.shape[1]) if center is None else center
    return Design(X2, center, scale, diagonal=kind in ("diag", "spherical"))


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_centred_log_prob_matches_scipy(kind, d):
    rng = np.random.default_rng(300 + 10 * d + KINDS.index(kind))
    p = _random_params(rng, d, kind)
    X = rng.normal(scale=3.0, size=(50, d)) + 7.0
    means = p.means + 7.0
    scale, center = 2.5, np.full(d, 6.0)
    design = _design(X, center, scale, kind)
    comp = Components(p.weights, means, p.covariances / scale**2)
    lp = centred_log_prob(design, comp) - d * np.log(scale)  # internal -> data units
    np.testing.assert_allclose(lp, _scipy_log_prob(X, em.Params(p.weights, means, p.covariances)),
                               rtol=1e-12, atol=1e-12)


def _centred_reference(X, R, anchors, scale):
    K, d = anchors.shape
    out = []
    for k in range(K):
        U = (X - anchors[k]) / scale
        r = R[:, k]
        out.append(np.concatenate([[r.sum()], r @ U, ((U * r[:, None]).T @ U)[np.triu_indices(d)]]))
    return np.array(out)


@pytest.mark.parametrize("hard", (False, True))
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_centred_e_step_matches_scipy(kind, d, hard):
    rng = np.random.default_rng(400 + 10 * d + KINDS.index(kind) + hard)
    p = _random_params(rng, d, kind)
    n = 2 * CHUNK + 7 if d == 1 else 70  # d = 1: several chunks
    X = rng.normal(scale=3.0, size=(n, d)) - 40.0
    means = p.means - 40.0
    scale = 3.0
    design = _design(X, np.full(d, -40.0), scale, kind)
    comp = Components(p.weights, means, p.covariances / scale**2)
    resp = np.full((n, 3), np.nan)
    stats, obj = centred_e_step(design, comp, hard=hard, resp_out=resp)
    ref = _scipy_log_prob(X, em.Params(p.weights, means, p.covariances)) + d * np.log(scale)
    if hard:
        R = np.zeros_like(ref)
        R[np.arange(n), ref.argmax(axis=1)] = 1.0
        np.testing.assert_array_equal(resp, R)
        assert obj == pytest.approx(ref.max(axis=1).sum(), rel=1e-12)
    else:
        lse = logsumexp(ref, axis=1)
        R = np.exp(ref - lse[:, None])
        np.testing.assert_allclose(resp, R, rtol=1e-10, atol=1e-14)
        assert obj == pytest.approx(lse.sum(), rel=1e-12)
    np.testing.assert_allclose(stats, _centred_reference(X, R, means, scale), rtol=1e-9,
                               atol=1e-9)


@pytest.mark.parametrize("hard", (False, True))
@pytest.mark.parametrize(("d", "kind"), ((1, "diag"), (1, "tied"), (2, "full"), (3, "diag"),
                                         (3, "spherical"), (2, "tied")))
def test_fast_and_centred_paths_agree(d, kind, hard, monkeypatch):
    """The dispatcher's two paths return the same centred statistics and objective."""
    rng = np.random.default_rng(500 + 10 * d + KINDS.index(kind))
    p = _random_params(rng, d, kind)
    X = rng.normal(scale=2.0, size=(3000, d)) + 100.0
    center, scale = X.mean(axis=0), float(np.sqrt(X.var(axis=0).mean()))
    design = _design(X, center, scale, kind)
    comp = Components(p.weights, p.means * scale * 0.5 + center, p.covariances)
    assert use_fast_path(design, comp, design.internal_means(comp.anchors))
    out = {}
    for name, kappa in (("fast", np.inf), ("centred", 0.0)):
        monkeypatch.setattr(_estep, "FAST_KAPPA", kappa)
        resp = np.empty((3000, 3))
        out[name] = (*e_step(design, comp, hard=hard, resp_out=resp), resp)
    (s1, o1, r1), (s2, o2, r2) = out["fast"], out["centred"]
    assert o1 == pytest.approx(o2, rel=1e-13)
    np.testing.assert_allclose(r1, r2, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(s1, s2, rtol=1e-10, atol=1e-10 * np.abs(s2).max())


def test_centred_path_far_narrow_component_is_exact():
    """A component of sd 1e-3 at 1e6 beside unit-variance data: the centred statistics
    equal a long-double two-pass computation; the uncentred features lose everything."""
    rng = np.random.default_rng(17)
    X = np.concatenate([rng.normal(size=5000), 1e6 + 1e-3 * rng.normal(size=500)])[:, None]
    center, scale = X.mean(axis=0), float(X.std())
    design = _design(X, center, scale)
    anchors = np.array([[0.0], [1e6]])
    comp = Components(np.array([10 / 11, 1 / 11]), anchors,
                      np.array([[[1.0]], [[1e-6]]]) / scale**2)
    assert not use_fast_path(design, comp, design.internal_means(anchors))
    stats, _ = e_step(design, comp)
    xl = X[5000:, 0].astype(np.longdouble)
    ul = (xl - np.longdouble(1e6)) / np.longdouble(scale)
    assert stats[1, 0] == pytest.approx(500, rel=1e-15)
    assert stats[1, 1] == pytest.approx(float(ul.sum()), rel=1e-12)
    assert stats[1, 2] == pytest.approx(float((ul * ul).sum()), rel=1e-12)


def test_centred_underflow_and_overflow_are_finite():
    """Points 1e4 sd from every component, and variances of 1e-250: finite, scipy's values."""
    p = em.Params(np.array([0.3, 0.7]), np.array([[0.0], [1.0]]), np.ones((2, 1, 1)))
    X = np.array([[1e4], [0.5], [-1e4], [2e4]])
    resp = np.empty((4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats, ll = centred_e_step(_design(X), Components(*p), resp_out=resp)
    ref = _scipy_log_prob(X, p)
    np.testing.assert_allclose(ll, logsumexp(ref, axis=1).sum(), rtol=1e-12)
    np.testing.assert_allclose(resp, np.exp(ref - logsumexp(ref, axis=1)[:, None]), atol=1e-12)
    assert resp[0, 1] == pytest.approx(1.0) and resp[2, 0] == pytest.approx(1.0)
    tiny = em.Params(np.array([0.5, 0.5]), np.zeros((2, 3)),
                     np.array([np.eye(3) * 1e-250, np.eye(3) * 1e-249]))
    Z = np.zeros((5, 3))
    Z[1] = 1e-126
    resp = np.empty((5, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, ll = centred_e_step(_design(Z, kind="diag"), Components(*tiny), resp_out=resp)
    assert np.isfinite(ll) and ll > 700 * 5
    np.testing.assert_allclose(resp[0, 0], 1.0 / (1.0 + 10 ** -1.5), rtol=1e-12)
