"""EM numerics at any offset, scale and separation (issue #20).

* Well-separated clusters, 1e3 to 1e6 apart: the variance floor never binds
  (it is relative to the data's resolution, not their total variance) and the
  fit is scikit-learn's fixed point from the same start.
* Narrow components far from the origin: variances formed from statistics
  centred on each component's mean equal a long-double two-pass reference.
* Collapse onto one observation still stops at the floor and is flagged.
* Standard errors (Louis, Hessian) and MAP-EM on the same centred footing.
"""

from __future__ import annotations

import numpy as np
import pytest
from mixcompare import em
from sklearn.mixture import GaussianMixture

SEPARATIONS = (1e3, 1e4, 1e5, 1e6)


def _two_clusters(sep, n=2000, sds=(1.0, 2.0), seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, sds[0], n), sep + rng.normal(0.0, sds[1], n)])


def _two_pass(x):
    """Mean and variance (ddof 0) in long double, by two passes."""
    xl = np.asarray(x, dtype=np.longdouble)
    m = xl.mean(axis=0)
    dev = xl - m
    if xl.ndim == 1:
        return m, (dev * dev).mean()
    return m, np.einsum("ni,nj->ij", dev, dev) / np.longdouble(len(xl))


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.longdouble), np.asarray(b, dtype=np.longdouble)
    return float(np.max(np.abs(a - b) / np.abs(b)))


# ----------------------------------------------------------- separated clusters
@pytest.mark.parametrize("sep", SEPARATIONS)
def test_separated_clusters_recovered_and_equal_sklearn(sep):
    y = _two_clusters(sep)
    init = {"weights": [0.5, 0.5], "means": [0.5, sep - 0.5], "variances": [1.5, 3.0]}
    res = em.fit(y, 2, init=init, tol=1e-10)  # a DegenerateWarning would fail the test
    assert res.converged and not res.degenerate.any()
    # the floor is far below both clusters: ~1e-6 of the squared smallest gap of the data
    assert res.variance_floor < 1e-12 * res.variances.min()
    # each component is its cluster (0/1 responsibilities): sample sds, to 1e-3 and beyond
    for k, part in enumerate((y[:2000], y[2000:])):
        m, v = _two_pass(part)
        assert _rel(res.sds[k], np.sqrt(v)) < 1e-3
        assert _rel(res.variances[k], v) < 1e-9
        assert abs(res.means[k] - float(m)) <= 1e-9 * np.sqrt(float(v))
    np.testing.assert_allclose(res.sds, [1.0, 2.0], rtol=0.05)  # the sampling design
    # scikit-learn's fixed point from the same start
    gm = GaussianMixture(2, covariance_type="full", weights_init=init["weights"],
                         means_init=np.array(init["means"])[:, None],
                         precisions_init=1.0 / np.array(init["variances"])[:, None, None],
                         tol=1e-14, reg_covar=1e-14, max_iter=1000).fit(y[:, None])
    assert gm.converged_
    np.testing.assert_allclose(res.means, gm.means_[:, 0], rtol=1e-12)
    np.testing.assert_allclose(res.variances, gm.covariances_[:, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(res.weights, gm.weights_, rtol=1e-12)


@pytest.mark.parametrize("sep", SEPARATIONS)
def test_separated_clusters_default_start(sep):
    """The issue's call, ``em.fit(y, 2)``: sds 1 and 2, not the floor's 5 / 50 / 500."""
    y = _two_clusters(sep, seed=1)
    res = em.fit(y, 2, rng=0)
    order = np.argsort(res.means)
    for k, part in zip(order, (y[:2000], y[2000:]), strict=True):
        assert _rel(res.variances[k], _two_pass(part)[1]) < 1e-9
    assert not res.degenerate.any()


@pytest.mark.parametrize("structure", ("full", "diag", "spherical", "tied"))
def test_separated_clusters_multivariate(structure):
    rng = np.random.default_rng(2)
    A = rng.normal(size=(2000, 2)) @ [[1.0, 0.3], [0.0, 0.8]]
    B = rng.normal(size=(2000, 2)) @ [[2.0, 0.0], [0.5, 1.5]] + [1e6, -1e6]
    X = np.vstack([A, B])
    init = {"weights": [0.5, 0.5], "means": [[0.1, 0.1], [1e6 + 0.1, -1e6]],
            "covariances": np.array([np.eye(2), 3 * np.eye(2)])}
    if structure == "tied":
        init["covariances"] = 2 * np.eye(2)
    res = em.fit(X, 2, structure=structure, init=init, tol=1e-10)
    assert not res.degenerate.any()
    ca, cb = _two_pass(A)[1], _two_pass(B)[1]
    expected = {"full": [ca, cb],
                "diag": [np.diag(np.diag(ca)), np.diag(np.diag(cb))],
                "spherical": [np.trace(ca) / 2 * np.eye(2), np.trace(cb) / 2 * np.eye(2)],
                "tied": [(ca + cb) / 2] * 2}[structure]
    for k in range(2):
        diag = np.diag(np.asarray(expected[k], dtype=np.longdouble))
        assert _rel(np.diag(res.covariances[k]), diag) < 1e-9
        off = float(expected[k][0, 1])
        assert abs(res.covariances[k][0, 1] - off) <= 1e-9 * float(diag.max())


# ------------------------------------------------------ narrow, far components
NARROW = [(1e-2, 1e3), (1e-3, 1e6)]


@pytest.mark.parametrize(("sd", "at"), NARROW)
@pytest.mark.parametrize("structure", ("unequal", "equal"))
def test_narrow_far_component_variance_is_exact_1d(sd, at, structure):
    """Started at the truth among 20 000 unit-variance points (the issue's set-up)."""
    rng = np.random.default_rng(3)
    wide = rng.normal(size=20_000)
    narrow = at + sd * rng.normal(size=2_000)
    y = np.concatenate([wide, narrow])
    init = {"weights": [10 / 11, 1 / 11], "means": [0.0, at],
            "variances": [1.0, sd**2] if structure == "unequal" else [0.9, 0.9]}
    res = em.fit(y, 2, structure=structure, init=init, tol=1e-10)
    (_, vw), (mn, vn) = _two_pass(wide), _two_pass(narrow)
    if structure == "unequal":
        assert _rel(res.variances[1], vn) < 1e-9
        assert _rel(res.variances[0], vw) < 1e-9
        assert abs(res.means[1] - float(mn)) <= 1e-9 * sd
    else:  # one shared variance: the pooled within-cluster variance
        pooled = (20_000 * vw + 2_000 * vn) / 22_000
        np.testing.assert_array_equal(res.variances[0], res.variances[1])
        assert _rel(res.variances[0], pooled) < 1e-9
    assert not res.degenerate.any()


@pytest.mark.parametrize(("sd", "at"), NARROW)
@pytest.mark.parametrize("structure", ("full", "diag", "spherical", "tied"))
def test_narrow_far_component_covariance_is_exact_2d(sd, at, structure):
    rng = np.random.default_rng(4)
    wide = rng.normal(size=(20_000, 2))
    narrow = np.array([at, -at]) + sd * rng.normal(size=(2_000, 2)) @ [[1.0, 0.0], [0.6, 0.8]]
    X = np.vstack([wide, narrow])
    cw, cn = _two_pass(wide)[1], _two_pass(narrow)[1]
    start = {"full": [np.eye(2), sd**2 * np.eye(2)], "diag": [np.eye(2), sd**2 * np.eye(2)],
             "spherical": [np.eye(2), sd**2 * np.eye(2)], "tied": [0.9 * np.eye(2)] * 2}
    init = {"weights": [10 / 11, 1 / 11], "means": [[0.0, 0.0], [at, -at]],
            "covariances": np.array(start[structure])}
    res = em.fit(X, 2, structure=structure, init=init, tol=1e-10)
    expected = {"full": [cw, cn], "diag": [np.diag(np.diag(cw)), np.diag(np.diag(cn))],
                "spherical": [np.trace(cw) / 2 * np.eye(2), np.trace(cn) / 2 * np.eye(2)],
                "tied": [(20_000 * cw + 2_000 * cn) / 22_000] * 2}[structure]
    for k in range(2):
        ref = np.asarray(expected[k], dtype=np.longdouble)
        assert _rel(np.diag(res.covariances[k]), np.diag(ref)) < 1e-9
        assert abs(res.covariances[k][0, 1] - float(ref[0, 1])) <= 1e-9 * float(ref.max())
    assert np.max(np.abs(res.means[1] - np.array(_two_pass(narrow)[0], dtype=float))) <= 1e-9 * sd


# -------------------------------------------------------------------- the floor
def test_one_point_outlier_stops_at_the_floor():
    """A component that captures one far observation collapses onto it: at the floor,
    flagged degenerate, the objective still monotone."""
    rng = np.random.default_rng(5)
    y = np.append(rng.normal(size=200), 50.0)
    init = {"weights": [0.99, 0.01], "means": [0.0, 49.0], "variances": [1.0, 4.0]}
    with pytest.warns(em.DegenerateWarning, match=r"component\(s\) \[1\]"):
        res = em.fit(y, 2, init=init, max_iter=2000)
    floor = 1e-6 * np.diff(np.unique(y)).min() ** 2
    assert res.variance_floor == pytest.approx(floor, rel=1e-12)
    assert res.variances[1] == pytest.approx(floor, rel=1e-12)
    assert res.means[1] == 50.0 and res.weights[1] == pytest.approx(1 / 201, rel=1e-12)
    assert res.degenerate.tolist() == [False, True]
    assert res.optima[0].degenerate
    steps = np.diff(res.trace.objective)
    assert np.all(steps >= -1e-10 * np.abs(res.trace.objective[:-1]))


@pytest.mark.parametrize(("a", "b"), [(3.0, 5.0), (-1e-4, 2.0), (1e5, -7.0)])
def test_floor_is_affine_equivariant(a, b):
    rng = np.random.default_rng(6)
    x = np.round(rng.normal(size=300), 3)  # resolution 1e-3
    r = em.fit(x, 2, rng=0)
    s = em.fit(a * x + b, 2, rng=0)
    assert r.variance_floor == pytest.approx(1e-6 * 1e-6, rel=1e-9)
    assert s.variance_floor == pytest.approx(a**2 * r.variance_floor, rel=1e-6)


def test_floor_is_per_feature():
    rng = np.random.default_rng(7)
    X = np.column_stack([np.round(rng.normal(size=400), 1), np.round(100 * rng.normal(size=400))])
    res = em.fit(X, 2, rng=0, var_floor=1e-4)
    np.testing.assert_allclose(res.variance_floor, [1e-4 * 0.1**2, 1e-4 * 1.0], rtol=1e-9)


def test_distinct_rows_counted_without_row_sort():
    """Columns with few values each: the rows are counted exactly (the ghost-component check)."""
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    X = np.tile(corners, (5, 1))
    init = {"weights": np.full(4, 0.25), "means": corners, "covariances": 0.1 * np.eye(2)}
    with pytest.warns(em.DegenerateWarning):  # four components on four points: collapse
        em.fit(X, 4, init=init, max_iter=3)  # 4 distinct rows: allowed
    with pytest.raises(ValueError, match=r"only 4 distinct value\(s\) for n_components=5"):
        em.fit(X, 5)


@pytest.mark.parametrize(("structure", "dim"), [("equal", 1), ("tied", 2), ("diag", 2),
                                                ("spherical", 2)])
def test_start_outside_the_structure_is_put_in_it(structure, dim):
    """Unequal starting variances for a shared structure (or off-diagonal ones for diag):
    the start is put in the model, so EM is monotone from the first step."""
    rng = np.random.default_rng(12)
    if dim == 1:
        X = np.concatenate([rng.normal(0, 1, 300), rng.normal(4, 1.5, 200)])
        init = {"weights": [0.6, 0.4], "means": [0.0, 4.0], "variances": [0.2, 9.0]}
    else:
        X = np.vstack([rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) * 1.5 + [4, 1]])
        init = {"weights": [0.6, 0.4], "means": [[0, 0], [4, 1]],
                "covariances": np.array([[[0.2, 0.1], [0.1, 0.3]], [[9.0, -2.0], [-2.0, 4.0]]])}
    res = em.fit(X, 2, structure=structure, init=init, max_iter=50, tol=0.0)
    steps = np.diff(res.trace.objective)
    assert np.all(steps >= -1e-10 * np.abs(res.trace.objective[:-1]))
    v0 = res.trace.variances[0].reshape(2, -1)
    w = np.array(init["weights"])
    given = np.array(init["variances"] if dim == 1 else [np.diag(c) for c in init["covariances"]],
                     dtype=float).reshape(2, -1)
    if structure in ("equal", "tied"):
        expected = np.broadcast_to(w @ given, given.shape)
    elif structure == "diag":
        expected = given
    else:
        expected = np.broadcast_to(given.mean(axis=1, keepdims=True), given.shape)
    np.testing.assert_allclose(v0, expected, rtol=1e-12)


# ------------------------------------------------------- standard errors, MAP-EM
def _se_fit(X, structure, init, **kw):
    return em.fit(X, 2, structure=structure, init=init, tol=1e-12, **kw)


@pytest.mark.parametrize(("structure", "method"), [("unequal", "louis"), ("unequal", "hessian"),
                                                   ("equal", "louis"), ("diag", "louis"),
                                                   ("diag", "hessian"), ("full", "hessian")])
def test_standard_errors_at_offset(structure, method):
    """SEs of the data shifted by 1e6 equal those of the data (1e-6 relative)."""
    rng = np.random.default_rng(8)
    if structure in ("unequal", "equal"):
        X = np.concatenate([rng.normal(0, 1, 300), rng.normal(4, 1.5, 200)])
        init = {"weights": [0.6, 0.4], "means": [0.0, 4.0],
                "variances": [1.0, 2.0] if structure == "unequal" else [1.5, 1.5]}
        shift = 1e6
        init_s = {**init, "means": [1e6, 1e6 + 4.0]}
    else:
        X = np.vstack([rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) * 1.5 + [4, 1]])
        init = {"weights": [0.6, 0.4], "means": [[0, 0], [4, 1]],
                "covariances": np.array([np.eye(2), 2 * np.eye(2)])}
        shift = np.array([1e6, -1e6])
        init_s = {**init, "means": np.array(init["means"]) + shift}
    r0 = _se_fit(X, structure, init)
    r1 = _se_fit(X + shift, structure, init_s)
    s0, s1 = r0.standard_errors(method), r1.standard_errors(method)
    assert s0.method_used == s1.method_used == method
    for k in ("weights", "means", "sds", "variances"):
        np.testing.assert_allclose(getattr(s1, k), getattr(s0, k), rtol=1e-6)


@pytest.mark.parametrize("method", ["louis", "hessian"])
@pytest.mark.parametrize("sep", (1e3, 1e6))
def test_standard_errors_of_separated_clusters_are_closed_form(sep, method):
    """0/1 responsibilities: SE(mean_k) = sd_k / sqrt(N_k), SE(sd_k) = sd_k / sqrt(2 N_k),
    SE(w) = sqrt(w (1 - w) / n), at any separation."""
    y = _two_clusters(sep, n=1000, seed=9)
    init = {"weights": [0.5, 0.5], "means": [0.0, sep], "variances": [1.0, 4.0]}
    res = em.fit(y, 2, init=init, tol=1e-12)
    se = res.standard_errors(method)
    nk = 1000.0
    np.testing.assert_allclose(se.means, res.sds / np.sqrt(nk), rtol=1e-6)
    np.testing.assert_allclose(se.sds, res.sds / np.sqrt(2 * nk), rtol=1e-6)
    np.testing.assert_allclose(se.weights, np.sqrt(0.25 / 2000), rtol=1e-6)


@pytest.mark.parametrize("sep", (1e3, 1e6))
def test_map_em_separated_clusters_closed_form(sep):
    """Conjugate MAP with 0/1 responsibilities has a closed form per cluster (long double)."""
    y = _two_clusters(sep, n=1000, seed=10)
    prior = em.Prior(alpha=2.0, m0=sep / 2, kappa=1e-4, a=2.0, b=0.5)
    init = {"weights": [0.5, 0.5], "means": [0.0, sep], "variances": [1.0, 4.0]}
    res = em.fit(y, 2, init=init, prior=prior, tol=1e-12)
    L = np.longdouble
    for k, part in enumerate((y[:1000], y[1000:])):
        x = part.astype(L)
        n_k = L(len(x))
        mu = (x.sum() + L(prior.kappa) * L(prior.m0)) / (n_k + L(prior.kappa))
        W = ((x - mu) ** 2).sum()
        var = (W + L(prior.kappa) * (mu - L(prior.m0)) ** 2 + 2 * L(prior.b)) / (
            n_k + 2 * L(prior.a) + 3)
        assert abs(res.means[k] - float(mu)) <= 1e-9 * float(np.sqrt(var))
        assert _rel(res.variances[k], var) < 1e-9
    np.testing.assert_allclose(res.weights, [0.5, 0.5], rtol=1e-12)  # (N_k + 1) / (n + 2)


def test_map_em_equals_at_offset():
    """MAP-EM with the prior moved with the data: the same mode, 1e6 away."""
    rng = np.random.default_rng(11)
    y = np.concatenate([rng.normal(0, 1, 300), rng.normal(6, 0.7, 200)])
    prior = em.Prior.default(y)
    init = {"weights": [0.6, 0.4], "means": [0.0, 6.0], "variances": [1.0, 0.5]}
    r0 = em.fit(y, 2, prior=prior, init=init, tol=1e-12)
    p1 = em.Prior(alpha=prior.alpha, m0=prior.m0 + 1e6, kappa=prior.kappa, a=prior.a, b=prior.b)
    r1 = em.fit(y + 1e6, 2, prior=p1, init={**init, "means": [1e6, 1e6 + 6.0]}, tol=1e-12)
    np.testing.assert_allclose(r1.means - 1e6, r0.means, atol=1e-8)
    np.testing.assert_allclose(r1.variances, r0.variances, rtol=1e-7)
    np.testing.assert_allclose(r1.weights, r0.weights, rtol=1e-8)


def test_a_genuine_decrease_raises(monkeypatch):
    """The monotonicity guard is live: an M-step that moves away from the maximiser
    (here: weights swapped on the third iteration) is reported as a bug."""
    from mixcompare.em import _engine

    real = _engine.m_step
    calls = {"n": 0}

    def spoiled(stats, prev, **kw):
        upd = real(stats, prev, **kw)
        calls["n"] += 1
        return upd._replace(weights=upd.weights[::-1]) if calls["n"] == 3 else upd

    monkeypatch.setattr(_engine, "m_step", spoiled)
    rng = np.random.default_rng(13)
    y = np.concatenate([rng.normal(0, 1, 100), rng.normal(10, 2, 500)])
    init = {"weights": [0.3, 0.7], "means": [1.0, 9.0], "variances": [2.0, 3.0]}
    with pytest.raises(em.MonotonicityError, match="decreased its objective"):
        em.fit(y, 2, init=init, tol=0.0, max_iter=10)
