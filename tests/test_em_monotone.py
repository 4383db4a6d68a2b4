"""Monotonicity of EM (log-likelihood) and CEM (classification log-likelihood).

Dempster, Laird & Rubin (1977) for EM; Celeux & Govaert (1992) for CEM. The
traces are checked as recorded and, where the trace holds every parameter
(1-D, diag, spherical), recomputed independently with scipy.

Every check is strict: a decrease larger than 1e-10 relative is a bug, with
the default variance floor as with larger ones (a floor of ``1.0``, i.e. the
squared resolution of the data, binds on every component that collapses onto
one value of rounded data, and exercises the projection onto the floor).
Log-densities and statistics are centred on each component's mean, and the
covariances at the floor keep exact factors, so the round-off of the
objective stays near 1e-15 relative however narrow a component becomes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mixcompare import em
from scipy.special import logsumexp
from scipy.stats import norm

RTOL = 1e-10
FLOORS = (1e-6, 1e-2, 1.0)  # 1e-6 is the default
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def assert_non_decreasing(values, rtol=RTOL):
    values = np.asarray(values, dtype=float)
    assert np.all(np.isfinite(values)), values
    steps = np.diff(values)
    allowed = -rtol * np.maximum(1.0, np.abs(values[:-1]))
    bad = np.flatnonzero(steps < allowed)
    assert bad.size == 0, f"decrease at iterations {bad.tolist()}: {steps[bad]}"


@st.composite
def mixture_data(draw, d):
    """Data from a random Gaussian mixture, sometimes rounded (ties) or with outliers."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    K_true = draw(st.integers(1, 4))
    n = draw(st.integers(10, 80))
    spread = draw(st.floats(0.5, 20.0))
    means = rng.normal(scale=spread, size=(K_true, d))
    sds = rng.uniform(0.2, 2.0, size=(K_true, d))
    lab = rng.integers(K_true, size=n)
    X = means[lab] + sds[lab] * rng.normal(size=(n, d))
    if draw(st.booleans()):
        X = np.round(X)  # ties
    if draw(st.booleans()):
        X[0] += 50.0 * spread  # an outlier
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    X = X * scale
    return X[:, 0] if d == 1 else X


def _n_distinct(X):
    return np.unique(X.reshape(len(X), -1), axis=0).shape[0]


def _fit_quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.MixcompareWarning)
        return em.fit(*args, **kwargs)


def _mixture_logpdf_1d(x, w, m, v):
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    return lw[None, :] + norm.logpdf(x[:, None], loc=m[None, :], scale=np.sqrt(v)[None, :])


def _diag_logpdf(X, w, m, v):
    """Per-component weighted log-densities for diagonal covariances (m, v of shape (K, d))."""
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    return lw[None, :] + norm.logpdf(X[:, None, :], loc=m[None], scale=np.sqrt(v)[None]).sum(2)


def _check_traces(res, n_init):
    assert len(res.restarts) == n_init
    for r in res.restarts:
        assert len(r.objective_trace) == r.n_iter + 1
        assert_non_decreasing(r.objective_trace)
    assert_non_decreasing(res.trace.objective)


# ------------------------------------------------------------------ EM
@SETTINGS
@given(X=mixture_data(1), K=st.integers(1, 4),
       structure=st.sampled_from(["unequal", "equal"]),
       init=st.sampled_from(["kmeans++", "random_from_data", "random_resp", "quantile"]),
       seed=st.integers(0, 2**16), var_floor=st.sampled_from(FLOORS))
def test_em_monotone_1d(X, K, structure, init, seed, var_floor):
    assume(_n_distinct(X) >= K)
    res = _fit_quiet(X, K, structure=structure, init=init, n_init=2, max_iter=40, tol=0.0,
                     rng=seed, var_floor=var_floor)
    _check_traces(res, 2)
    np.testing.assert_array_equal(res.trace.objective, res.trace.log_likelihood)
    # independent recomputation from the recorded parameters
    tr = res.trace
    ll = [logsumexp(_mixture_logpdf_1d(X, tr.weights[t], tr.means[t], tr.variances[t]),
                    axis=1).sum() for t in range(len(tr.weights))]
    np.testing.assert_allclose(ll, tr.log_likelihood, rtol=1e-8, atol=1e-8)
    assert_non_decreasing(ll)


@SETTINGS
@given(X=mixture_data(2), K=st.integers(1, 4),
       structure=st.sampled_from(["full", "diag", "spherical", "tied"]),
       init=st.sampled_from(["kmeans++", "random_from_data", "random_resp"]),
       seed=st.integers(0, 2**16), var_floor=st.sampled_from(FLOORS))
def test_em_monotone_2d(X, K, structure, init, seed, var_floor):
    assume(_n_distinct(X) >= K)
    res = _fit_quiet(X, K, structure=structure, init=init, n_init=2, max_iter=40, tol=0.0,
                     rng=seed, var_floor=var_floor)
    _check_traces(res, 2)
    tr = res.trace
    if structure in ("diag", "spherical"):
        ll = [logsumexp(_diag_logpdf(X, tr.weights[t], tr.means[t], tr.variances[t]),
                        axis=1).sum() for t in range(len(tr.weights))]
        np.testing.assert_allclose(ll, tr.log_likelihood, rtol=1e-8, atol=1e-8)
        assert_non_decreasing(ll)
    # the final log-likelihood equals the mixture density at the returned parameters
    np.testing.assert_allclose(res.score_samples(X).sum(), res.log_likelihood, rtol=1e-9)


# ------------------------------------------------------------------ CEM
@SETTINGS
@given(X=mixture_data(1), K=st.integers(1, 4),
       structure=st.sampled_from(["unequal", "equal"]),
       init=st.sampled_from(["kmeans++", "random_from_data", "quantile"]),
       seed=st.integers(0, 2**16), var_floor=st.sampled_from(FLOORS))
def test_cem_monotone_1d(X, K, structure, init, seed, var_floor):
    assume(_n_distinct(X) >= K)
    res = _fit_quiet(X, K, algorithm="cem", structure=structure, init=init, n_init=2,
                     max_iter=40, tol=0.0, rng=seed, var_floor=var_floor)
    _check_traces(res, 2)
    tr = res.trace
    assert np.all(np.isnan(tr.log_likelihood))
    cl = [_mixture_logpdf_1d(X, tr.weights[t], tr.means[t], tr.variances[t]).max(axis=1).sum()
          for t in range(len(tr.weights))]
    np.testing.assert_allclose(cl, tr.objective, rtol=1e-8, atol=1e-8)
    assert_non_decreasing(cl)


@SETTINGS
@given(X=mixture_data(2), K=st.integers(1, 4),
       structure=st.sampled_from(["full", "diag", "spherical", "tied"]),
       init=st.sampled_from(["kmeans++", "random_from_data"]),
       seed=st.integers(0, 2**16), var_floor=st.sampled_from(FLOORS))
def test_cem_monotone_2d(X, K, structure, init, seed, var_floor):
    assume(_n_distinct(X) >= K)
    res = _fit_quiet(X, K, algorithm="cem", structure=structure, init=init, n_init=2,
                     max_iter=40, tol=0.0, rng=seed, var_floor=var_floor)
    _check_traces(res, 2)
    tr = res.trace
    if structure in ("diag", "spherical"):
        cl = [_diag_logpdf(X, tr.weights[t], tr.means[t], tr.variances[t]).max(axis=1).sum()
              for t in range(len(tr.weights))]
        np.testing.assert_allclose(cl, tr.objective, rtol=1e-8, atol=1e-8)
        assert_non_decreasing(cl)


# ----------------------------------------------------- default variance floor
@SETTINGS
@given(X=mixture_data(2), K=st.integers(2, 4),
       structure=st.sampled_from(["full", "diag", "spherical", "tied"]),
       algorithm=st.sampled_from(["em", "cem"]), seed=st.integers(0, 2**16))
def test_monotone_default_floor(X, K, structure, algorithm, seed):
    """Default floor, collapsing components included: strictly monotone (1e-10 relative)."""
    assume(_n_distinct(X) >= K)
    res = _fit_quiet(X, K, algorithm=algorithm, structure=structure, init="random_resp"
                     if algorithm == "em" else "kmeans++", n_init=2, max_iter=40, tol=0.0,
                     rng=seed)
    _check_traces(res, 2)


# ------------------------------------------------------- CEM empty clusters
def test_cem_empty_cluster_is_reported_1d():
    """A component far from every point gets no data in the first C-step.

    It must keep finite parameters with weight 0 and be reported as degenerate,
    without a 0/0 anywhere (RuntimeWarnings are errors here).
    """
    x = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 1.0, 1.2, 1.5])
    init = {"weights": [0.4, 0.4, 0.2], "means": [0.0, 1.0, 100.0], "variances": [1.0, 1.0, 1.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(em.DegenerateWarning, match=r"component\(s\) \[2\]"):
            res = em.fit(x, 3, algorithm="cem", init=init, max_iter=50)
    assert res.weights[2] == 0.0
    assert res.weights[:2].sum() == pytest.approx(1.0)
    assert res.degenerate.tolist() == [False, False, True]
    assert res.optima[0].degenerate
    assert np.all(np.isfinite(res.means)) and np.all(np.isfinite(res.variances))
    assert np.all(res.variances > 0)
    # the empty component keeps its last parameters
    assert res.means[2] == pytest.approx(100.0) and res.variances[2] == pytest.approx(1.0)
    assert np.all(res.trace.weights[1:, 2] == 0.0)
    assert 2 not in set(res.labels.tolist())
    assert np.isfinite(res.log_likelihood)
    np.testing.assert_allclose(res.predict_proba(x)[:, 2], 0.0, atol=0)
    assert_non_decreasing(res.trace.objective)
    # the non-empty clusters are the CEM partition {x < 0.6}, {x > 0.6}: cluster means
    lab = res.labels
    for k in (0, 1):
        assert res.means[k] == pytest.approx(x[lab == k].mean(), rel=1e-10)
        assert res.variances[k] == pytest.approx(x[lab == k].var(), rel=1e-10)


def test_cem_empty_cluster_is_reported_2d():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + [6.0, 0.0]])
    init = {"weights": [0.45, 0.45, 0.1], "means": [[0.0, 0.0], [6.0, 0.0], [-50.0, 50.0]],
            "covariances": np.eye(2)}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(em.DegenerateWarning):
            res = em.fit(X, 3, algorithm="cem", structure="full", init=init, max_iter=50)
    assert res.weights[2] == 0.0 and res.degenerate[2]
    assert np.all(np.isfinite(res.covariances))
    np.testing.assert_array_equal(res.means[2], [-50.0, 50.0])
    assert_non_decreasing(res.trace.objective)


def test_explicit_start_below_the_floor_is_raised_to_it():
    """A start whose variance is below the floor is projected onto it, and EM stays monotone.

    A start at the floor is a spike (sd a thousandth of the smallest gap in
    the data) that no observation reaches: component 0 empties (weight 0),
    keeps its parameters and is flagged degenerate.
    """
    X, _ = em.sample(400, [0.5, 0.5], [0.0, 1000.0], [1e-8, 1.0], rng=4)
    floor = 1e-6 * np.diff(np.unique(X)).min() ** 2  # var_floor times the squared resolution
    init = {"weights": [0.5, 0.5], "means": [0.0, 1000.0], "variances": [floor / 100, 1.0]}
    with pytest.warns(em.DegenerateWarning, match=r"component\(s\) \[0\]"):
        res = em.fit(X, 2, init=init, var_floor=1e-6, tol=1e-10)
    assert res.variance_floor == pytest.approx(floor, rel=1e-12)
    assert res.trace.variances[0, 0] == pytest.approx(floor, rel=1e-12)  # the projected start
    assert res.variances[0] == pytest.approx(floor, rel=1e-12)
    assert res.means[0] == 0.0 and res.weights[0] == 0.0
    assert res.degenerate.tolist() == [True, False]
    assert_non_decreasing(res.trace.objective)
