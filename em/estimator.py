"""A scikit-learn estimator over :func:`em.fit`.

This is the one module of ``em`` that builds on scikit-learn (its base classes
and input validation), so that :class:`GaussianMixtureEM` works in ``clone``,
``Pipeline`` and ``GridSearchCV`` and passes
:func:`sklearn.utils.estimator_checks.check_estimator`. The EM itself is
:func:`em.fit`; ``mixcompare.em`` imports this module only when the estimator
is first asked for.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted, validate_data

from ._driver import fit
from ._validation import validate_data as check_data
from .sample import sample

__all__ = ["GaussianMixtureEM", "NotFittedError"]

_COVARIANCE_TYPES = ("full", "diag", "spherical", "tied", "unequal", "equal")
_ONE_D = {"full": "unequal", "diag": "unequal", "spherical": "unequal", "tied": "equal"}


def _refuse_masked(X) -> None:
    """Refuse masked values as :func:`em.fit` does (scikit-learn's validation drops masks)."""
    if np.ma.isMaskedArray(X):
        check_data(X, min_samples=1)


class GaussianMixtureEM(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by hand-written EM, with scikit-learn's ``GaussianMixture`` names.

    Parameters
    ----------
    n_components : int, default 1
    covariance_type : {"full", "diag", "spherical", "tied", "unequal", "equal"}, default "full"
        For data with one feature "full"/"diag"/"spherical" mean "unequal"
        and "tied" means "equal"; "unequal"/"equal" are for one feature only.
    tol : float, default 1e-3
        As in scikit-learn: on the change of the *mean* log-likelihood per
        sample (converted to :func:`em.fit`'s total-log-likelihood ``tol``).
    max_iter : int, default 100
    n_init : int, default 1
    init_params : {"kmeans++", "random_from_data", "random_resp"}, default "kmeans++"
    random_state : int, numpy.random.Generator or None
    var_floor : float, default 1e-6
        Relative variance floor (see :func:`em.fit`).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shaped as scikit-learn's for ``covariance_type``: (n_components,
        n_features, n_features) for "full", (n_components, n_features) for
        "diag", (n_components,) for "spherical", (n_features, n_features)
        for "tied".
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per sample of the best fit.
    n_features_in_ : int
    result_ : EMResult
        Everything :func:`em.fit` returns (trace, atlas of optima, ...).

    Notes
    -----
    Like scikit-learn's estimators, ``fit`` wants a 2-D ``X`` of shape
    (n_samples, n_features): one feature is ``x.reshape(-1, 1)``. ``predict``,
    ``predict_proba`` and ``score_samples`` accept a single row. Every check of
    ``check_estimator`` passes (scikit-learn >= 1.6; tested) but one that
    scikit-learn itself skips: ``check_array_api_input`` runs only when the
    ``SCIPY_ARRAY_API`` environment variable is set, and array-API input is
    not supported (arrays are converted to numpy float64).
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, max_iter=100,
                 n_init=1, init_params="kmeans++", random_state=None, var_floor=1e-6):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.var_floor = var_floor

    def _structure(self, d: int) -> str:
        ct = self.covariance_type
        if ct not in _COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {set(_COVARIANCE_TYPES)}, "
                             f"got {ct!r}.")
        if d == 1:
            return _ONE_D.get(ct, ct)
        if ct in ("unequal", "equal"):
            raise ValueError(f"covariance_type={ct!r} is for data with one feature; X has "
                             f"{d}: use 'full', 'diag', 'spherical' or 'tied'.")
        return ct

    def _check_tol(self) -> None:
        tol = self.tol
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0 \
                or not np.isfinite(tol):
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")

    def fit(self, X, y=None):
        """Fit the mixture to ``X`` of shape (n_samples, n_features); returns ``self``."""
        _refuse_masked(X)
        X2 = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self._check_tol()
        structure = self._structure(X2.shape[1])
        r = fit(X2[:, 0] if X2.shape[1] == 1 else X2, self.n_components,
                structure=structure, tol=self.tol * len(X2), max_iter=self.max_iter,
                n_init=self.n_init, init=self.init_params, rng=self.random_state,
                var_floor=self.var_floor)
        cov = r.covariances
        if self.covariance_type == "diag":
            cov = np.einsum("kii->ki", cov)
        elif self.covariance_type == "spherical":
            cov = np.einsum("kii->k", cov) / cov.shape[1]
        elif self.covariance_type == "tied":
            cov = cov[0]
        self.result_ = r
        self.weights_ = r.weights
        self.means_ = r.means.reshape(self.n_components, -1)
        self.covariances_ = cov
        self.converged_ = bool(r.converged)
        self.n_iter_ = int(r.n_iter)
        self.lower_bound_ = r.log_likelihood / len(X2)
        return self

    def fit_predict(self, X, y=None):
        """Fit, then return the labels of ``X`` from the final E-step."""
        return self.fit(X).result_.labels

    def _X(self, X) -> np.ndarray:
        check_is_fitted(self)
        _refuse_masked(X)
        X2 = validate_data(self, X, dtype=np.float64, reset=False)
        return X2[:, 0] if self.result_.spec.one_d else X2

    def predict(self, X):
        """Most probable component of each row, shape (n_samples,)."""
        X = self._X(X)
        return self.result_.predict(X)

    def predict_proba(self, X):
        """Responsibilities, shape (n_samples, n_components)."""
        X = self._X(X)
        return self.result_.predict_proba(X)

    def score_samples(self, X):
        """Log density of each row, shape (n_samples,)."""
        X = self._X(X)
        return self.result_.score_samples(X)

    def score(self, X, y=None):
        """Mean log-likelihood per sample."""
        return float(np.mean(self.score_samples(X)))

    def bic(self, X):
        """BIC on ``X`` in scikit-learn's convention, -2 log L + p log n (lower is better)."""
        ll = self.score_samples(X)
        return -2 * ll.sum() + self.result_.n_parameters() * np.log(len(ll))

    def aic(self, X):
        """AIC on ``X`` in scikit-learn's convention, -2 log L + 2 p (lower is better)."""
        return -2 * self.score_samples(X).sum() + 2 * self.result_.n_parameters()

    def sample(self, n_samples=1):
        """Draw samples; returns ``(X, labels)`` with ``X`` of shape (n_samples, n_features)."""
        check_is_fitted(self)
        r = self.result_
        if r.spec.one_d:
            X, y = sample(n_samples, r.weights, r.means, r.variances, rng=self.random_state)
            return X[:, None], y
        return sample(n_samples, r.weights, r.means, covariances=r.covariances,
                      rng=self.random_state)
