"""``em.GaussianMixtureEM`` is a scikit-learn estimator: check_estimator, clone, Pipeline."""

import numpy as np
import pytest
from mixcompare import em
from sklearn.base import clone
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

# check_estimator's one skip is scikit-learn's own: array-API input is checked only when
# the SCIPY_ARRAY_API environment variable is set (we do not claim array-API support)
SKIPPED_BY_SKLEARN = {"check_array_api_input"}


def _three_clusters(n_per=200, d=2):
    # well separated (10 sds apart), so the answers below hold for any draw
    rng = np.random.default_rng(20261201)
    centres = np.array([[0.0] * d, [10.0] * d, [-10.0] + [10.0] * (d - 1)])
    return np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres])


def test_check_estimator_passes():
    results = check_estimator(em.GaussianMixtureEM(), on_fail=None)
    failed = {r["check_name"]: repr(r["exception"]) for r in results if r["status"] == "failed"}
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert failed == {}
    assert skipped <= SKIPPED_BY_SKLEARN
    assert len(results) >= 40


def test_clone_keeps_parameters_and_drops_the_fit():
    est = em.GaussianMixtureEM(3, covariance_type="diag", n_init=2, random_state=4)
    est.fit(_three_clusters())
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "result_") and hasattr(est, "result_")
    np.testing.assert_array_equal(twin.fit(_three_clusters()).means_, est.means_)


def test_pipeline_and_grid_search_choose_three_components():
    X = _three_clusters()
    order = np.random.default_rng(0).permutation(len(X))  # folds must not hold out a cluster
    X, truth = X[order], np.repeat(np.arange(3), 200)[order]
    pipe = make_pipeline(StandardScaler(), em.GaussianMixtureEM(random_state=0, n_init=3))
    search = GridSearchCV(pipe, {"gaussianmixtureem__n_components": [1, 2, 3]}, cv=3)
    search.fit(X)  # scored by the held-out mean log-likelihood
    assert search.best_params_ == {"gaussianmixtureem__n_components": 3}
    labels = search.best_estimator_.predict(X)
    # each true cluster lands in one component
    assert all(len(np.unique(labels[truth == c])) == 1 for c in range(3))


@pytest.mark.parametrize("covariance_type", ("full", "diag", "spherical", "tied"))
def test_single_row_and_sklearns_numbers(covariance_type):
    X = _three_clusters()
    ours = em.GaussianMixtureEM(3, covariance_type=covariance_type, tol=1e-10, max_iter=500,
                                random_state=0).fit(X)
    sk = GaussianMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=500,
                         random_state=0, reg_covar=1e-12).fit(X)
    row = X[:1]
    assert ours.predict(row).shape == (1,)
    assert ours.predict_proba(row).shape == (1, 3)
    assert ours.score_samples(row) == pytest.approx(sk.score_samples(row), rel=1e-6)
    assert ours.bic(X) == pytest.approx(sk.bic(X), rel=1e-8)
    assert ours.aic(X) == pytest.approx(sk.aic(X), rel=1e-8)


def test_unfitted_and_wrong_options_say_what_to_do():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError, match="not fitted yet"):
        em.GaussianMixtureEM(2).predict_proba([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"covariance_type must be one of .*got 'banana'"):
        em.GaussianMixtureEM(2, covariance_type="banana").fit(_three_clusters())
    with pytest.raises(ValueError, match="is for data with one feature; X has 2"):
        em.GaussianMixtureEM(2, covariance_type="equal").fit(_three_clusters())
    one = em.GaussianMixtureEM(2, covariance_type="equal", random_state=0).fit(
        _three_clusters(d=1)[:, :1])
    assert one.result_.spec.structure == "equal"
