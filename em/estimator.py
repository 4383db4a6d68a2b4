"""A scikit-learn-compatible estimator over :func:`em.fit` (scikit-learn is not imported)."""

from __future__ import annotations

import numbers

import numpy as np

from ._driver import fit
from ._validation import validate_data
from .sample import sample

_SK_COV = {"full": "full", "diag": "diag", "spherical": "spherical", "tied": "tied"}


class NotFittedError(ValueError, AttributeError):
    """The estimator was used before :meth:`GaussianMixtureEM.fit` (as scikit-learn's)."""


def _as_2d(X, min_samples: int = 2) -> np.ndarray:
    """Validate as :func:`em.fit` does (the same refusals), then shape (n_samples, n_features)."""
    X = validate_data(X, min_samples=min_samples)
    return X.reshape(X.shape[0], -1)


class GaussianMixtureEM:
    """Gaussian mixture fitted by hand-written EM, with scikit-learn's ``GaussianMixture`` names.

    Parameters
    ----------
    n_components : int, default 1
    covariance_type : {"full", "diag", "spherical", "tied"} or {"unequal", "equal"}, default "full"
        For 1-D data (a single column) "full"/"diag"/"spherical" mean
        "unequal" and "tied" means "equal".
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
        Shaped as scikit-learn's for ``covariance_type``.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per sample of the best fit.
    result_ : EMResult
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
        if d == 1:
            return {"full": "unequal", "diag": "unequal", "spherical": "unequal",
                    "tied": "equal"}.get(ct, ct)
        return ct

    def fit(self, X, y=None):
        """Fit the mixture; returns ``self``."""
        X2 = _as_2d(X)
        tol = self.tol
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0 \
                or not np.isfinite(tol):
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}.")
        self.result_ = fit(
            X2[:, 0] if X2.shape[1] == 1 else X2, self.n_components,
            structure=self._structure(X2.shape[1]), tol=self.tol * len(X2),
            max_iter=self.max_iter, n_init=self.n_init, init=self.init_params,
            rng=self.random_state, var_floor=self.var_floor)
        r = self.result_
        self.n_features_in_ = X2.shape[1]
        self.weights_ = r.weights
        self.means_ = r.means.reshape(self.n_components, -1)
        cov = r.covariances
        ct = self.covariance_type
        if ct == "diag":
            cov = np.einsum("kii->ki", cov)
        elif ct == "spherical":
            cov = np.einsum("kii->k", cov) / cov.shape[1]
        elif ct == "tied":
            cov = cov[0]
        self.covariances_ = cov
        self.converged_ = r.converged
        self.n_iter_ = r.n_iter
        self.lower_bound_ = r.log_likelihood / len(X2)
        return self

    def fit_predict(self, X, y=None):
        """Fit, then return the labels from the final E-step."""
        return self.fit(X).result_.labels

    def _fitted(self):
        if not hasattr(self, "result_"):
            raise NotFittedError("this GaussianMixtureEM is not fitted yet; call fit(X) first.")
        return self.result_

    def _X(self, X):
        self._fitted()
        X2 = _as_2d(X, min_samples=1)
        if X2.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X2.shape[1]} feature(s) but the mixture was fitted to "
                f"{self.n_features_in_}; pass data of shape (n_samples, {self.n_features_in_}).")
        return X2[:, 0] if self.result_.spec.one_d else X2

    def predict(self, X):
        """Most probable component for each sample."""
        X = self._X(X)
        return self.result_.predict(X)

    def predict_proba(self, X):
        """Responsibilities, shape (n_samples, n_components)."""
        X = self._X(X)
        return self.result_.predict_proba(X)

    def score_samples(self, X):
        """Log density of each sample."""
        X = self._X(X)
        return self.result_.score_samples(X)

    def score(self, X, y=None):
        """Mean log-likelihood per sample."""
        return float(np.mean(self.score_samples(X)))

    def bic(self, X):
        """BIC on ``X`` (lower is better)."""
        n = len(X)
        return -2 * self.score(X) * n + self.result_.n_parameters() * np.log(n)

    def aic(self, X):
        """AIC on ``X`` (lower is better)."""
        return -2 * self.score(X) * len(X) + 2 * self.result_.n_parameters()

    def sample(self, n_samples=1):
        """Draw samples; returns ``(X, labels)`` with ``X`` of shape (n_samples, n_features)."""
        r = self._fitted()
        if r.spec.one_d:
            X, y = sample(n_samples, r.weights, r.means, r.variances, rng=self.random_state)
            return X[:, None], y
        return sample(n_samples, r.weights, r.means, covariances=r.covariances,
                      rng=self.random_state)
