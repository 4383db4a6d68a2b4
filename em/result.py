"""The result of an EM fit: parameters, criteria, trace and the atlas of optima."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from ._design import Components, Design
from ._estep import centred_log_prob
from ._final import FinalPass, final_pass
from ._model import Params, Scaling, Spec
from ._validation import validate_data
from .uncertainty import standard_errors as _standard_errors


@dataclass(frozen=True)
class Trace:
    """Per-iteration record of the best restart (index 0 is the starting point).

    Attributes
    ----------
    log_likelihood : ndarray of shape (n_iter + 1,)
        Observed-data log-likelihood at each iterate (EM and MAP-EM; NaN for
        CEM, whose objective is the classification log-likelihood).
    objective : ndarray of shape (n_iter + 1,)
        The objective the algorithm increases: log-likelihood (EM),
        log posterior (MAP-EM) or classification log-likelihood (CEM).
    weights : ndarray of shape (n_iter + 1, n_components)
    means : ndarray of shape (n_iter + 1, n_components[, n_features])
    variances : ndarray of shape (n_iter + 1, n_components[, n_features])
    resp : ndarray of shape (n_iter + 1, n_samples, n_components) or None
        Responsibilities at each iterate, with ``keep_resp=True``.
    accelerated : ndarray of bool, shape (n_iter + 1,) or None
        True where the iterate is a SQUAREM extrapolation (see ``em.fit``'s
        Notes) rather than an EM step; the objective still never decreases.
    """

    log_likelihood: np.ndarray
    objective: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    resp: np.ndarray | None = None
    accelerated: np.ndarray | None = None


@dataclass(frozen=True)
class EMResult:
    """Best fit of a Gaussian mixture by EM, with every restart kept.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components,) or (n_components, n_features)
        1-D shapes for 1-D input.
    variances : ndarray of shape (n_components,) or (n_components, n_features)
        Variances (1-D) or the diagonals of the covariances.
    covariances : ndarray of shape (n_components, n_features, n_features)
    log_likelihood : float
        Total observed-data log-likelihood at the returned parameters.
    log_posterior : float or None
        Log posterior density at the mode (MAP-EM), None for the MLE.
    n_iter : int
    converged : bool
    trace : Trace
    optima : tuple of Optimum
        Distinct optima, best first; ``optima[0]`` is the returned fit.
    restarts : tuple of Restart
        Every run: the random restarts, then (``n_init="auto"``) the
        split-and-merge runs, named by ``Restart.origin``.
    labels : ndarray of shape (n_samples,)
        Most probable component of each observation, from a final E-step at
        the returned parameters (computed the first time it is read, as are
        ``entropy`` and ``hard_entropy``; see :mod:`em._final`).
    degenerate : ndarray of bool, shape (n_components,)
    algorithm : {"em", "cem"}
    structure : str
    n_samples, n_features : int
    entropy : float
        Soft entropy of the responsibilities, ``-sum_i sum_k r_ik log r_ik``.
    hard_entropy : float
        ``-sum_i log max_k r_ik``, the entropy term of the hard-classification ICL.
    spurious : ndarray of bool, shape (n_components,)
        Components of the returned fit judged spurious (see :func:`em.fit`;
        all False when the fit is a proper optimum).
    init_cap_reached : bool
        ``n_init="auto"`` stopped at ``max_init`` restarts before the best
        optimum was reached twice.
    var_floor : float
        The fit's relative variance floor (bootstrap refits use it too).
    variance_floor : float or ndarray of shape (n_features,)
        The floor in data units, ``var_floor * delta**2`` with ``delta`` the
        data's resolution per feature (see :func:`em.fit`).
    factors : em._floor.Factors or None
        Exact factors of the covariances (internal scale) from the last
        M-step, used by the predictions: a covariance at the floor in one
        direction and wide in another is too ill-conditioned to be
        re-factorised from ``covariances`` to full precision. None: factorise
        ``covariances``.
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    covariances: np.ndarray
    log_likelihood: float
    log_posterior: float | None
    n_iter: int
    converged: bool
    trace: Trace
    optima: tuple
    restarts: tuple
    degenerate: np.ndarray
    algorithm: str
    structure: str
    n_samples: int
    n_features: int
    prior: object = None
    spurious: np.ndarray | None = None
    init_cap_reached: bool = False
    spec: Spec = field(default=None, repr=False)
    scaling: Scaling = field(default=None, repr=False)
    data: np.ndarray = field(default=None, repr=False)
    var_floor: float = 1e-6
    variance_floor: float | np.ndarray | None = None
    factors: object = field(default=None, repr=False)
    components: Components | None = field(default=None, repr=False)

    # ------------------------------------------------------------ final pass
    def _final(self) -> FinalPass:
        """Run the final pass at the fit's parameters (``components``) once, on first use."""
        done = self.__dict__.get("_final_pass")
        if done is None:
            X2 = np.asarray(self.data).reshape(self.n_samples, -1)
            design = Design(X2, self.scaling.center, self.scaling.scale,
                            diagonal=self.spec.kind in ("diag", "spherical"))
            done = final_pass(design, self.components)
            object.__setattr__(self, "_final_pass", done)  # a cache, not a field
        return done

    @property
    def labels(self) -> np.ndarray:
        """Most probable component of each observation, shape (n_samples,)."""
        return self._final().labels

    @property
    def entropy(self) -> float:
        """Soft entropy of the responsibilities, ``-sum_i sum_k r_ik log r_ik``."""
        return self._final().entropy

    @property
    def hard_entropy(self) -> float:
        """``-sum_i log max_k r_ik``, the entropy term of the hard-classification ICL."""
        return self._final().hard_entropy

    # ------------------------------------------------------------------ shapes
    @property
    def n_restarts(self) -> int:
        """Random restarts made (``restarts`` without the split-and-merge runs)."""
        return sum(r.origin == "restart" for r in self.restarts)

    @property
    def n_components(self) -> int:
        """Number of components."""
        return self.weights.shape[0]

    @property
    def sds(self) -> np.ndarray:
        """Standard deviations, shaped like ``variances``."""
        return np.sqrt(self.variances)

    def params(self) -> Params:
        """Parameters on the user scale as full arrays (means (K, d), covariances (K, d, d))."""
        return Params(self.weights, self.means.reshape(self.n_components, -1), self.covariances)

    # ------------------------------------------------------------- prediction
    def _log_prob(self, X) -> np.ndarray:
        X = validate_data(X, min_samples=1)
        X2 = X.reshape(X.shape[0], -1)
        if X2.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X2.shape[1]} feature(s) but the model was fitted on {self.n_features}."
            )
        s = self.scaling
        p = self.params()
        # differences from the means, formed in data units: exact near each component
        design = Design(X2, s.center, s.scale, diagonal=self.spec.kind in ("diag", "spherical"))
        comp = Components(p.weights, p.means, p.covariances / s.scale**2, self.factors)
        return centred_log_prob(design, comp) - self.n_features * np.log(s.scale)

    def score_samples(self, X) -> np.ndarray:
        """Log density of each observation under the mixture, shape (n_samples,).

        ``-inf`` for a point so far from every component (beyond about 1e154
        of its standard deviations) that its log density is below float64's range.
        """
        lp = self._log_prob(X)
        out = np.full(lp.shape[0], -np.inf)
        ok = np.isfinite(lp.max(axis=1))
        out[ok] = logsumexp(lp[ok], axis=1)
        return out

    def _finite_log_prob(self, X) -> np.ndarray:
        """Log-densities; refuse points whose every component's log density is beyond float64."""
        lp = self._log_prob(X)
        lost = np.flatnonzero(~np.isfinite(lp.max(axis=1)))
        if lost.size:
            shown = ", ".join(map(str, lost[:10])) + (
                f" and {lost.size - 10} more" if lost.size > 10 else "")
            raise ValueError(
                f"X has {lost.size} row(s) (0-based: {shown}) so far from every component "
                "(beyond about 1e154 of its standard deviations) that no log density is "
                "representable in float64: their memberships cannot be computed.")
        return lp

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities ``P(component k | x_i)``, shape (n_samples, n_components)."""
        lp = self._finite_log_prob(X)
        lp -= lp.max(axis=1, keepdims=True)
        np.exp(lp, out=lp)
        lp /= lp.sum(axis=1, keepdims=True)
        return lp

    def predict(self, X) -> np.ndarray:
        """Most probable component of each observation, shape (n_samples,)."""
        return self._finite_log_prob(X).argmax(axis=1)

    # --------------------------------------------------------------- criteria
    def n_parameters(self) -> int:
        """Count the free parameters (fixed blocks are not counted)."""
        return self.spec.n_parameters()

    def bic(self) -> float:
        """Bayesian information criterion ``-2 l + p log n``; lower is better (as scikit-learn)."""
        return -2.0 * self.log_likelihood + self.n_parameters() * np.log(self.n_samples)

    def aic(self) -> float:
        """Akaike information criterion ``-2 l + 2 p``; lower is better."""
        return -2.0 * self.log_likelihood + 2.0 * self.n_parameters()

    def icl(self) -> float:
        """Integrated completed likelihood with the hard classification; lower is better.

        ``ICL = -2 l + p log n - 2 sum_i log max_k r_ik`` (see Notes). This is
        ``-mclust_icl()``: mclust's ICL with scikit-learn's sign.

        Notes
        -----
        Biernacki, Celeux & Govaert (2000) penalise the BIC by the completed
        (classification) log-likelihood of the MAP labels ``c_i = argmax_k
        r_ik``, which to BIC's order is ``sum_i log r_{i c_i}``; mclust's
        ``icl`` is ``bic + 2 * sum(log(z[i, map(z)]))`` on its scale
        (Scrucca, Fop, Murphy & Raftery 2016). The soft-entropy variant is
        :meth:`icl_soft`.

        References
        ----------
        Biernacki, C., Celeux, G. & Govaert, G. (2000). Assessing a mixture
        model for clustering with the integrated completed likelihood.
        IEEE TPAMI 22, 719-725.
        Scrucca, L., Fop, M., Murphy, T. B. & Raftery, A. E. (2016). mclust 5.
        The R Journal 8, 289-317.
        """
        return self.bic() + 2.0 * self.hard_entropy

    def icl_soft(self) -> float:
        """ICL with the soft entropy, ``BIC - 2 sum_i sum_k r_ik log r_ik``; lower is better.

        The entropy-penalised BIC of McLachlan & Peel (2000, chapter 6);
        never below :meth:`icl`: ``-sum_k r_ik log r_ik >= -log max_k r_ik``.
        """
        return self.bic() + 2.0 * self.entropy

    def mclust_bic(self) -> float:
        """BIC on mclust's scale, ``2 l - p log n``: higher is better (opposite sign to ``bic``)."""
        return -self.bic()

    def mclust_icl(self) -> float:
        """ICL on mclust's scale, ``2 l - p log n + 2 sum_i log max_k r_ik``: higher is better."""
        return -self.icl()

    def criteria(self) -> dict:
        """Every criterion, named with its convention.

        Returns
        -------
        dict
            ``bic_sklearn``, ``aic_sklearn``, ``icl_sklearn`` (``-2 l + penalty``,
            lower is better, scikit-learn's convention), ``bic_mclust``,
            ``icl_mclust`` (``2 l - penalty``, higher is better, mclust's) and
            ``icl_soft_sklearn`` (:meth:`icl_soft`).
        """
        return {"bic_sklearn": self.bic(), "aic_sklearn": self.aic(),
                "icl_sklearn": self.icl(), "icl_soft_sklearn": self.icl_soft(),
                "bic_mclust": self.mclust_bic(), "icl_mclust": self.mclust_icl()}

    # --------------------------------------------------------------- exports
    def to_dataset(self):
        """Parameters as an ``xarray.Dataset`` with dimension ``component`` (and ``feature``)."""
        import xarray as xr

        K = self.n_components
        coords = {"component": np.arange(K)}
        if self.spec.one_d:
            data = {
                "weights": ("component", self.weights),
                "means": ("component", self.means),
                "variances": ("component", self.variances),
                "sds": ("component", self.sds),
            }
        else:
            coords["feature"] = np.arange(self.n_features)
            coords["feature_bis"] = np.arange(self.n_features)
            data = {
                "weights": ("component", self.weights),
                "means": (("component", "feature"), self.means),
                "variances": (("component", "feature"), self.variances),
                "sds": (("component", "feature"), self.sds),
                "covariances": (("component", "feature", "feature_bis"), self.covariances),
            }
        attrs = {
            "log_likelihood": self.log_likelihood,
            "n_iter": self.n_iter,
            "converged": int(self.converged),
            "algorithm": self.algorithm,
            "structure": self.structure,
            "n_samples": self.n_samples,
            "n_optima": len(self.optima),
            "bic": self.bic(),
            "aic": self.aic(),
        }
        if self.log_posterior is not None:
            attrs["log_posterior"] = self.log_posterior
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def standard_errors(self, method: str = "louis", **kwargs):
        """Compute standard errors; see :func:`em.uncertainty.standard_errors`."""
        return _standard_errors(self, method=method, **kwargs)
