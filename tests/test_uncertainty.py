"""Standard errors of EM fits: Louis' method, numerical Hessian, bootstrap."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from mixcompare import em
from mixcompare.em.uncertainty import StandardErrors, standard_errors

NATURAL = ("weights", "means", "sds", "variances")


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.fixture(scope="module")
def two_comp():
    X, _ = em.sample(2000, [0.3, 0.7], [0.0, 6.0], [1.0, 2.5], rng=2)
    # start with the components in the "wrong" order so the fit is not sorted by mean
    init = {"weights": [0.7, 0.3], "means": [6.0, 0.0], "variances": [2.5, 1.0]}
    return em.fit(X, 2, init=init, tol=1e-12)


# ------------------------------------------------------------------ K = 1
@pytest.mark.parametrize("method", ["louis", "hessian"])
def test_k1_textbook_1d(method):
    X = np.random.default_rng(0).normal(3.0, 2.0, size=500)
    r = em.fit(X, 1, tol=1e-12)
    n, sd = X.size, X.std()  # the MLE (ddof=0)
    se = r.standard_errors(method)
    assert se.method_used == method
    assert rel(se.means, [sd / np.sqrt(n)]) < 1e-8
    assert rel(se.sds, [sd / np.sqrt(2 * n)]) < 1e-8
    assert rel(se.variances, [sd**2 * np.sqrt(2.0 / n)]) < 1e-8
    assert np.array_equal(se.weights, [0.0])
    assert se.parameter_names == ("mean[0]", "log_sd[0]")
    assert rel(np.diag(se.covariance), [sd**2 / n, 1 / (2 * n)]) < 1e-8


@pytest.mark.parametrize("structure", ["full", "diag", "tied", "spherical"])
def test_k1_textbook_multivariate(structure):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 2)) * [1.0, 3.0] + [0.5, -2.0]
    X[:, 1] += 0.8 * X[:, 0]
    r = em.fit(X, 1, structure=structure, tol=1e-12)
    n = X.shape[0]
    se = r.standard_errors("louis")
    if structure == "diag":
        assert se.method_used == "louis"
        assert not se.notes
    else:
        assert se.method_used == "hessian"
        assert "numerical Hessian" in se.notes[0]
    assert se.means.shape == se.sds.shape == se.variances.shape == (1, 2)
    # the MLE of the mean is the sample mean whatever the covariance structure
    assert rel(se.means, np.sqrt(r.variances / n)) < 1e-6
    if structure == "spherical":  # sigma^2 = mean of the d variances: n d observations
        assert rel(se.sds, r.sds / np.sqrt(2 * n * 2)) < 1e-6
    else:
        assert rel(se.sds, r.sds / np.sqrt(2 * n)) < 1e-6
    assert rel(se.variances, 2 * se.sds * r.sds) < 1e-12


# ------------------------------------------------------- Louis vs Hessian
def _data_1d():
    return em.sample(800, [0.3, 0.45, 0.25], [0.0, 4.0, 9.0], [1.0, 2.0, 0.7], rng=11)[0]


def _data_2d():
    cov = np.array([np.diag([1.0, 2.0]), np.diag([1.5, 0.5]), np.eye(2)])
    return em.sample(900, [0.3, 0.3, 0.4], [[0, 0], [5, 0], [0, 5]], covariances=cov, rng=3)[0]


CASES = {
    "unequal": (_data_1d, {}),
    "equal": (_data_1d, {"structure": "equal"}),
    "fixed_weights": (_data_1d, {"fixed": {"weights": [0.3, 0.45, 0.25]}}),
    "fixed_variances": (_data_1d, {"fixed": {"variances": [1.0, 2.0, 0.7]}}),
    "fixed_means": (_data_1d, {"fixed": {"means": [0.0, 4.0, 9.0]}}),
    "equal_fixed_means": (_data_1d, {"structure": "equal", "fixed": {"means": [0.0, 4.0, 9.0]}}),
    "diag_2d": (_data_2d, {"structure": "diag"}),
    "diag_2d_fixed_means": (_data_2d, {"structure": "diag",
                                       "fixed": {"means": [[0, 0], [5, 0], [0, 5]]}}),
    "full_2d_fixed_cov": (_data_2d, {"structure": "full", "fixed": {
        "covariances": [np.diag([1.0, 2.0]), np.diag([1.5, 0.5]), np.eye(2)]}}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_louis_equals_numerical_hessian(case):
    data, kw = CASES[case]
    r = em.fit(data(), 3, tol=1e-12, n_init=3, rng=0, **kw)
    lo, he = r.standard_errors("louis"), r.standard_errors("hessian")
    assert lo.method_used == "louis" and he.method_used == "hessian"
    assert lo.parameter_names == he.parameter_names
    assert lo.covariance.shape == (len(lo.parameter_names),) * 2
    scale = np.abs(lo.information).max()
    assert np.abs(lo.information - he.information).max() < 1e-5 * scale
    cscale = np.sqrt(np.outer(np.diag(he.covariance), np.diag(he.covariance)))
    assert np.max(np.abs(lo.covariance - he.covariance) / cscale) < 1e-5
    for k in NATURAL:
        a, b = getattr(lo, k), getattr(he, k)
        assert a.shape == b.shape == np.shape(getattr(r, k))
        free = b > 0
        assert rel(a[free], b[free]) < 1e-5
        assert np.array_equal(a[~free], b[~free])  # fixed blocks: 0 for both
    fixed = kw.get("fixed", {})
    if "weights" in fixed:
        assert np.array_equal(lo.weights, np.zeros(3))
    if "means" in fixed:
        assert np.array_equal(lo.means, np.zeros_like(lo.means))
    if "variances" in fixed or "covariances" in fixed:
        assert np.array_equal(lo.sds, np.zeros_like(lo.sds))
    if kw.get("structure") == "equal" and "variances" not in fixed:
        assert np.allclose(lo.sds, lo.sds[0], rtol=1e-12)
        assert "log_sd" in lo.parameter_names


def test_delta_method_and_scale_equivariance(two_comp):
    r = two_comp
    se = r.standard_errors()
    names = se.parameter_names
    cov = se.covariance
    i_m = [names.index(f"mean[{k}]") for k in range(2)]
    i_s = [names.index(f"log_sd[{k}]") for k in range(2)]
    assert rel(se.means, np.sqrt(cov[i_m, i_m])) < 1e-12
    assert rel(se.sds, r.sds * np.sqrt(cov[i_s, i_s])) < 1e-12
    w = r.weights
    assert rel(se.weights, np.sqrt(cov[0, 0]) * w[0] * w[1] * np.ones(2)) < 1e-12
    # X -> a X + b: means and sds SE scale by a, weights unchanged
    a, b = 7.5, -40.0
    init = {"weights": r.weights, "means": a * r.means + b, "variances": a**2 * r.variances}
    r2 = em.fit(a * r.data + b, 2, init=init, tol=1e-12)
    se2 = r2.standard_errors()
    assert rel(se2.means, a * se.means) < 1e-6
    assert rel(se2.sds, a * se.sds) < 1e-6
    assert rel(se2.weights, se.weights) < 1e-6


# ------------------------------------------------------------- intervals
@pytest.mark.parametrize("method", ["louis", "hessian"])
def test_wald_intervals(two_comp, method):
    r = two_comp
    se = r.standard_errors(method)
    ci = se.intervals(0.95)
    assert ci.kind == "wald" and ci.level == 0.95
    for k in NATURAL:
        lo, hi = getattr(ci, k)
        est = getattr(r, k)
        assert np.all(lo < est) and np.all(est < hi), k
    assert np.all(ci.sds[0] > 0) and np.all(ci.variances[0] > 0)
    assert np.all((ci.weights > 0) & (ci.weights < 1))
    assert np.allclose(ci.variances, ci.sds**2)
    # log-scale interval for the sd, exactly
    z = 1.959963984540054
    assert np.allclose(ci.sds[1], r.sds * np.exp(z * se.sds / r.sds), rtol=1e-12)
    assert np.allclose(ci.means[1] - ci.means[0], 2 * z * se.means, rtol=1e-12)
    wide = se.intervals(0.99)
    assert np.all(wide.means[0] < ci.means[0]) and np.all(wide.means[1] > ci.means[1])
    with pytest.raises(ValueError, match="percentile"):
        se.intervals(kind="percentile")
    with pytest.raises(ValueError, match="level"):
        se.intervals(1.5)


def test_wald_intervals_fixed_and_k1():
    X = np.random.default_rng(4).normal(size=300)
    ci = em.fit(X, 1, tol=1e-12).standard_errors().intervals()
    assert np.array_equal(ci.weights, [[1.0], [1.0]])
    r = em.fit(_data_1d(), 3, fixed={"variances": [1.0, 2.0, 0.7]}, tol=1e-12, n_init=3, rng=0)
    ci = r.standard_errors().intervals()
    assert np.allclose(ci.variances, [r.variances, r.variances], rtol=1e-12)


# ------------------------------------------------------------- bootstrap
def test_bootstrap_agrees_with_louis(two_comp):
    r = two_comp
    louis = r.standard_errors("louis")
    boot = r.standard_errors("bootstrap", n_boot=200, n_jobs=2, rng=20240601)
    assert boot.method_used == "nonparametric bootstrap"
    assert boot.n_failed == 0 and boot.replicates.weights.shape == (200, 2)
    for k in NATURAL:
        assert rel(getattr(boot, k), getattr(louis, k)) < 0.15, k
    # aligned to the fit's (unsorted) component order by matching, not by sorting
    assert r.means[0] > r.means[1]
    assert np.allclose(boot.replicates.means.mean(axis=0), r.means, atol=0.02)
    assert boot.covariance.shape == louis.covariance.shape
    ci = boot.intervals()
    assert ci.kind == "percentile"
    for k in NATURAL:
        lo, hi = getattr(ci, k)
        assert np.all(lo < getattr(r, k)) and np.all(getattr(r, k) < hi)


def test_bootstrap_reproducible_and_independent_of_n_jobs(two_comp):
    r = two_comp
    one = r.standard_errors("bootstrap", n_boot=12, n_jobs=1, rng=7)
    two = r.standard_errors("bootstrap", n_boot=12, n_jobs=2, rng=7)
    again = standard_errors(r, "bootstrap", n_boot=12, rng=7)
    other = r.standard_errors("bootstrap", n_boot=12, rng=8)
    for k in (*NATURAL, "parameters"):
        assert np.array_equal(getattr(one.replicates, k), getattr(two.replicates, k))
        assert np.array_equal(getattr(one.replicates, k), getattr(again.replicates, k))
        assert not np.array_equal(getattr(one.replicates, k), getattr(other.replicates, k))
    assert np.array_equal(one.means, two.means)
    assert np.array_equal(one.covariance, two.covariance)


def test_parametric_bootstrap_diag():
    r = em.fit(_data_2d(), 3, structure="diag", tol=1e-10, n_init=3, rng=0)
    boot = r.standard_errors("bootstrap", scheme="parametric", n_boot=40, rng=1)
    louis = r.standard_errors()
    assert boot.method_used == "parametric bootstrap"
    assert boot.means.shape == (3, 2) and boot.replicates.means.shape == (40, 3, 2)
    assert boot.n_failed == 0
    for k in NATURAL:  # B = 40: a loose check of the order of magnitude
        ratio = getattr(boot, k) / getattr(louis, k)
        assert np.all((ratio > 0.6) & (ratio < 1.6)), k


def test_bootstrap_keeps_fixed_blocks():
    r = em.fit(_data_1d(), 3, fixed={"means": [0.0, 4.0, 9.0]}, tol=1e-10, n_init=2, rng=0)
    boot = r.standard_errors("bootstrap", n_boot=10, rng=3)
    assert np.array_equal(boot.means, np.zeros(3))
    assert np.allclose(boot.replicates.means, r.means, rtol=1e-13, atol=1e-13)
    assert "mean[0]" not in boot.parameter_names


def test_bootstrap_refits_use_the_fits_variance_floor():
    # component 0 (variance 1e-8) is well spread over its ~200 points: the default floor,
    # a millionth of the squared resolution, never binds; a user floor of 1e-6 does
    X, _ = em.sample(400, [0.5, 0.5], [0.0, 1000.0], [1e-8, 1.0], rng=4)
    r = em.fit(X, 2, n_init=3, rng=0)
    assert not r.degenerate.any()
    boot = r.standard_errors("bootstrap", n_boot=10, rng=1)
    assert boot.n_failed == 0
    assert np.all(boot.replicates.variances[:, np.argmin(r.means)] < 2e-8)
    var_floor = 1e-6 / np.diff(np.unique(X)).min() ** 2  # a floor of 1e-6 in data units
    with pytest.warns(em.DegenerateWarning):
        high = em.fit(X, 2, var_floor=var_floor, n_init=3, rng=0)
    assert high.var_floor == var_floor and high.degenerate.sum() == 1
    assert high.variances.min() == pytest.approx(1e-6, rel=1e-9)
    with pytest.warns(em.ConvergenceWarning, match="20 of 20 bootstrap refits failed"):
        boot = high.standard_errors("bootstrap", n_boot=20, rng=1)
    # every refit (whose resample is no finer than the data) pins component 0 there too
    reasons = [why for _, why in boot.replicates.failures]
    assert len(reasons) == 20 and all(why.startswith("degenerate") for why in reasons)


def test_failed_refits_are_counted():
    # two points at 20: a resample without them has 2 distinct values for K = 3 (ValueError),
    # one with a single copy leaves component 2 with < 2 points (degenerate)
    X = np.r_[np.zeros(6), np.full(6, 10.0), 20.0, 20.0]
    init = {"weights": [3 / 7, 3 / 7, 1 / 7], "means": [0.0, 10.0, 20.0]}
    r = em.fit(X, 3, fixed={"variances": 1.0}, init=init, tol=1e-10)
    with pytest.warns(em.ConvergenceWarning, match="bootstrap refits failed"):
        boot = r.standard_errors("bootstrap", n_boot=40, rng=0)
    assert 0 < boot.n_failed < 40
    assert boot.n_failed + boot.replicates.weights.shape[0] == 40
    reasons = [why for _, why in boot.replicates.failures]
    assert any(why.startswith("ValueError") for why in reasons)
    assert all(why.startswith(("ValueError", "degenerate")) for why in reasons)
    assert np.all(np.isfinite(boot.weights)) and np.all(boot.replicates.weights[:, 2] > 0.1)


# ------------------------------------------------------- identifiability
def _twin_fit():
    # components 0 and 1 share mean and variance: only w0 + w1 is identified
    X, _ = em.sample(1000, [0.5, 0.5], [0.0, 6.0], [1.0, 1.0], rng=2)
    init = {"weights": [0.2, 0.3, 0.5], "means": [0.0, 0.0, 6.0], "variances": [1.0, 1.0, 1.0]}
    with pytest.warns(em.SymmetricStartWarning):
        return em.fit(X, 3, structure="equal", fixed={"means": [0.0, 0.0, 6.0]}, init=init,
                      tol=1e-12)


@pytest.mark.parametrize("method", ["louis", "hessian"])
def test_singular_information_nan_only_where_affected(method):
    r = _twin_fit()
    with pytest.warns(em.IdentifiabilityWarning, match="components 0 and 1 coincide"):
        se = r.standard_errors(method)
    assert np.all(np.isnan(se.weights[:2]))
    assert np.isfinite(se.weights[2]) and se.weights[2] > 0
    assert np.all(np.isfinite(se.sds)) and np.all(se.sds > 0)
    assert np.array_equal(se.means, np.zeros(3))
    assert se.affected == ("weights[0]", "weights[1]")
    assert se.condition_number > 1e8
    # w2 = 1 - (w0 + w1) is identified: its SE is that of a binomial proportion
    w2 = r.weights[2]
    assert abs(se.weights[2] / np.sqrt(w2 * (1 - w2) / r.n_samples) - 1) < 0.05
    ci = se.intervals()
    assert np.all(np.isnan(ci.weights[:, :2])) and np.all(np.isfinite(ci.weights[:, 2]))
    assert np.isnan(se.covariance[0, 0]) and np.isfinite(se.covariance[-1, -1])


def test_coinciding_free_components_warn():
    X = np.random.default_rng(3).normal(size=1000)
    init = {"weights": [0.5, 0.5], "means": [X.mean()] * 2, "variances": [X.var()] * 2}
    with pytest.warns(em.SymmetricStartWarning):
        r = em.fit(X, 2, init=init, tol=1e-12)
    with pytest.warns(em.IdentifiabilityWarning, match="coincide"):
        se = r.standard_errors("louis")
    assert np.all(np.isnan(se.means)) and np.all(np.isnan(se.weights))


def test_well_posed_fit_does_not_warn(two_comp):
    se = two_comp.standard_errors()  # an IdentifiabilityWarning would be an error here
    assert se.affected == () and np.isfinite(se.condition_number)
    assert se.condition_number < 1e4


# ------------------------------------------------------------ interface
def test_result_is_frozen_and_methods_checked(two_comp):
    se = two_comp.standard_errors()
    assert isinstance(se, StandardErrors) and se.method == "louis"
    with pytest.raises(dataclasses.FrozenInstanceError):
        se.means = None
    with pytest.raises(ValueError, match="method"):
        two_comp.standard_errors("jackknife")
    with pytest.raises(ValueError, match="scheme"):
        two_comp.standard_errors("bootstrap", scheme="wild", n_boot=2)
    with pytest.raises(ValueError, match="n_jobs"):
        two_comp.standard_errors("bootstrap", n_jobs=0, n_boot=2)


def test_prior_not_implemented(two_comp):
    fake = dataclasses.replace(two_comp, prior=object())
    for method in ("louis", "hessian", "bootstrap"):
        with pytest.raises(NotImplementedError, match="MAP-EM"):
            fake.standard_errors(method)


def test_cem_needs_bootstrap():
    r = em.fit(_data_1d(), 3, algorithm="cem", rng=0, n_init=2)
    with pytest.raises(ValueError, match="bootstrap"):
        r.standard_errors("louis")
