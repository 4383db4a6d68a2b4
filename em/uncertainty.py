"""Standard errors and intervals for an EM fit: Louis' method, a numerical Hessian, the bootstrap.

Parameterisation
----------------
Every method works with the vector ``theta`` of free parameters (fixed
blocks are not parameters and get standard error 0):

* weights: the ``K - 1`` log-ratios ``eta_k = log(w_k / w_K)``, ``k < K``
  (the last component is the reference);
* means ``mu_kj``;
* covariances: ``log sd`` per component and dimension (``diag``, 1-D
  ``unequal``), one shared ``log sd`` (1-D ``equal``), one ``log sd`` per
  component (``spherical``), the log-Cholesky factor (diagonal entries as
  logs) per component (``full``) or shared (``tied``).

Standard errors of the natural quantities (weights, means, sds, variances)
follow by the delta method, ``Var(g(theta)) ~ J Cov(theta) J^T``.
``covariance`` is the covariance of ``theta`` on the user's scale (means in
data units). ``condition_number`` is that of the information with every mean
measured in its own component's standard deviation (log-ratios and logs are
unit-free), where a well-posed fit has entries of order ``n`` however far apart
its clusters are; eigenvalues below ``rcond`` times the largest are treated as
zero in these units.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, logit, ndtri

from ._bootstrap import SCHEMES, Replicates, make_context, run_bootstrap
from ._design import Design
from ._hessian import loglik_function, richardson_hessian
from ._identify import LOAD_TOL, NATURAL, diagnose, natural_se, split_information
from ._louis import louis_information, louis_supported
from ._theta import jacobians, layout, pack, step_scales, unit_sizes, user_factors
from ._validation import check_positive_int, check_rng
from ._warnings import ConvergenceWarning, IdentifiabilityWarning

__all__ = ["METHODS", "Intervals", "StandardErrors", "standard_errors"]

METHODS = ("louis", "hessian", "bootstrap")


@dataclass(frozen=True)
class Intervals:
    """Confidence intervals; each attribute has shape ``(2, *estimate.shape)`` (lower, upper).

    ``lower, upper = ci.means`` unpacks the bounds.
    """

    level: float
    kind: str
    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    variances: np.ndarray


@dataclass(frozen=True)
class StandardErrors:
    """Standard errors of an EM fit, shaped like the estimates.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means, sds, variances : ndarray of shape (n_components,) or (n_components, n_features)
        Standard errors on the natural scale (0 for fixed blocks, NaN where
        the information is singular for that quantity).
    method : str
        The requested method.
    method_used : str
        ``"louis"``, ``"hessian"``, ``"nonparametric bootstrap"`` or
        ``"parametric bootstrap"`` (Louis falls back to the Hessian for
        ``full``, ``spherical`` and multivariate ``tied`` covariances).
    covariance : ndarray of shape (n_parameters, n_parameters)
        Covariance of the free-parameter vector (user scale).
    parameter_names : tuple of str
    condition_number : float
        Of the information, means in units of their component's sd (see the
        module docstring); for the bootstrap, of the inverse of the replicate
        covariance (internal scale).
    estimates : dict
        The fitted weights, means, sds and variances.
    parameters : ndarray of shape (n_parameters,)
        The fitted free-parameter vector (user scale).
    information : ndarray or None
        Observed information of ``parameters`` (None for the bootstrap).
    affected : tuple of str
        Quantities (e.g. ``"weights[0]"``) whose standard error is NaN.
    notes : tuple of str
    replicates : Replicates or None
        Aligned bootstrap estimates of the successful refits.
    n_boot : int or None
    n_failed : int
        Failed bootstrap refits (raised, did not converge or degenerate).
    """

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    variances: np.ndarray
    method: str
    method_used: str
    covariance: np.ndarray
    parameter_names: tuple
    condition_number: float
    estimates: dict = field(repr=False)
    parameters: np.ndarray = field(repr=False)
    information: np.ndarray | None = field(default=None, repr=False)
    affected: tuple = ()
    notes: tuple = ()
    replicates: Replicates | None = field(default=None, repr=False)
    n_boot: int | None = None
    n_failed: int = 0

    @property
    def failure_counts(self) -> dict[str, int]:
        """Failed bootstrap refits counted by kind (degenerate, did not converge...)."""
        return {} if self.replicates is None else self.replicates.failure_counts()

    def intervals(self, level: float = 0.95, kind: str | None = None) -> Intervals:
        """Confidence intervals for weights, means, sds and variances.

        Parameters
        ----------
        level : float, default 0.95
            Nominal coverage, in (0, 1).
        kind : {"wald", "percentile"}, optional
            Default ``"percentile"`` for the bootstrap, ``"wald"`` otherwise.

        Returns
        -------
        Intervals

        Notes
        -----
        Wald intervals ``estimate +- z se`` are built on a scale where the
        estimate is unbounded and mapped back: means directly; sds on the
        log scale, ``exp(log sd +- z se / sd)`` (variances are their
        squares), so both stay positive; each weight on the logit scale,
        ``expit(logit w +- z se / (w (1 - w)))``, so it stays in (0, 1).
        Percentile intervals are the ``(1 - level) / 2`` and ``(1 + level) / 2``
        quantiles of the aligned bootstrap replicates.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}.")
        kind = kind or ("percentile" if self.replicates is not None else "wald")
        if kind == "percentile":
            if self.replicates is None:
                raise ValueError("percentile intervals need bootstrap replicates; use kind='wald'.")
            q = [(1 - level) / 2, (1 + level) / 2]
            out = {}
            for k in NATURAL:
                rep = getattr(self.replicates, k)
                out[k] = (np.quantile(rep, q, axis=0) if rep.shape[0] else
                          np.full((2,) + self.estimates[k].shape, np.nan))
            return Intervals(level, kind, **out)
        if kind != "wald":
            raise ValueError(f"kind must be 'wald' or 'percentile', got {kind!r}.")
        z = float(ndtri((1 + level) / 2))
        est = self.estimates
        m, se = est["means"], self.means
        w, sw = est["weights"], self.weights
        with np.errstate(divide="ignore", invalid="ignore"):
            half = z * sw / (w * (1 - w))
            wl = np.where(sw == 0, w, expit(logit(w) - half))
            wu = np.where(sw == 0, w, expit(logit(w) + half))
            sd = est["sds"]
            f = np.exp(z * self.sds / sd)
        sds = np.stack([sd / f, sd * f])
        return Intervals(level, kind, np.stack([wl, wu]), np.stack([m - z * se, m + z * se]),
                         sds, sds**2)


def _check(result, method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}.")
    if getattr(result, "prior", None) is not None:
        raise NotImplementedError(
            "standard errors of a MAP-EM fit (prior=...) are not implemented yet: the "
            "curvature would be that of the log posterior, not of the log-likelihood. Refit "
            "without a prior, or use a posterior sample (PyMC) for uncertainty.")
    if result.data is None or result.spec is None or result.scaling is None:
        raise ValueError("this EMResult does not carry its data/spec/scaling; refit with em.fit.")
    if result.algorithm != "em" and method != "bootstrap":
        raise ValueError(
            f"the fit used algorithm={result.algorithm!r}, whose estimates do not maximise the "
            "observed-data likelihood; use method='bootstrap' or refit with algorithm='em'.")


def _analytic(result, method, lay, rcond, step):
    spec, s = result.spec, result.scaling
    X2 = result.data.reshape(result.data.shape[0], -1)
    design = Design(X2, s.center, s.scale, diagonal=spec.kind in ("diag", "spherical"))
    anchors = result.params().means  # exact, data units: every difference is centred on them
    p_int = s.to_internal(result.params())
    theta = pack(p_int, lay)
    notes = []
    if method == "louis" and louis_supported(lay):
        info, used = louis_information(design, anchors, p_int, lay), "louis"
    else:
        if method == "louis":
            notes.append(f"Louis' method is implemented for 1-D and 'diag' structures; "
                         f"structure={spec.structure!r} used the numerical Hessian instead.")
        info = -richardson_hessian(loglik_function(design, anchors, theta, lay), theta, step,
                                   step_scales(theta, lay))
        used = "hessian"
    # analyse the information with each mean in units of its own component's sd: a
    # well-posed fit then has no small eigenvalue however far apart the clusters are
    G = unit_sizes(theta, lay)
    cov_unit, null_dirs, cond, indefinite = split_information(info * np.outer(G, G), rcond)
    cov_int = cov_unit * np.outer(G, G)
    D = user_factors(lay, s.scale)
    shapes = {k: np.shape(getattr(result, k)) for k in NATURAL}
    J = {k: v * G for k, v in jacobians(theta, lay).items()}
    ses, affected = natural_se(cov_unit, J, null_dirs, shapes, s.scale)
    bad_theta = np.linalg.norm(null_dirs, axis=1) > LOAD_TOL
    cov = cov_int * np.outer(D, D)
    cov[bad_theta, :] = np.nan
    cov[:, bad_theta] = np.nan
    if null_dirs.shape[1]:
        what = ("not positive definite (the fit is not a local maximum)" if indefinite
                else "singular or ill-conditioned")
        msg = (f"the observed information is {what} (condition number {cond:.3g}, "
               f"{null_dirs.shape[1]} near-null direction(s)); standard errors are NaN for "
               f"{', '.join(affected) or 'no natural quantity'}; likely cause: "
               f"{diagnose(p_int, result.n_samples)}.")
        notes.append(msg)
        warnings.warn(msg, IdentifiabilityWarning, stacklevel=4)
    return StandardErrors(
        **ses, method=method, method_used=used, covariance=cov, parameter_names=lay.names,
        condition_number=cond, estimates=_estimates(result),
        parameters=pack(result.params(), lay), information=info / np.outer(D, D),
        affected=tuple(affected), notes=tuple(notes))


def _estimates(result) -> dict:
    return {"weights": result.weights.copy(), "means": result.means.copy(),
            "sds": result.sds.copy(), "variances": result.variances.copy()}


def _bootstrap(result, lay, n_boot, scheme, n_jobs, rng, tol, max_iter, on_progress):
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {scheme!r}.")
    n_boot = check_positive_int(n_boot, "n_boot", minimum=2)
    if not (isinstance(n_jobs, str) and n_jobs == "auto"):
        if isinstance(n_jobs, str):
            raise ValueError(f'n_jobs must be a number of processes, -1 or "auto", got '
                             f"{n_jobs!r}.")
        n_jobs = check_positive_int(n_jobs, "n_jobs", minimum=-1)
        if n_jobs == 0:
            raise ValueError('n_jobs must be a positive number of processes, -1 (every CPU) '
                             'or "auto".')
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
    children = check_rng(rng).spawn(n_boot)
    ctx = make_context(result, lay, scheme, tol, max_iter)
    reps = run_bootstrap(ctx, children, n_jobs, on_progress)
    n_ok, n_failed = reps.weights.shape[0], len(reps.failures)
    notes = []
    if n_failed:
        kinds = ", ".join(f"{k} {n}" for k, n in reps.failure_counts().items())
        msg = f"{n_failed} of {n_boot} bootstrap refits failed ({kinds}); excluded."
        notes.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)
    ddof = 1 if n_ok > 1 else 0
    ses = {k: (np.std(getattr(reps, k), axis=0, ddof=ddof) if n_ok > 1 else
               np.full(np.shape(getattr(result, k)), np.nan)) for k in NATURAL}
    fixed = result.spec.fixed  # fixed blocks: exactly 0, not the refits' rescaling round-off
    for block, keys in (("weights", ("weights",)), ("means", ("means",)),
                        ("covariances", ("sds", "variances"))):
        if block in fixed:
            for k in keys:
                ses[k] = np.zeros_like(ses[k])
    P = lay.size
    if n_ok > 1 and P:
        cov = np.atleast_2d(np.cov(reps.parameters, rowvar=False))
        D = user_factors(lay, result.scaling.scale)
        ev = np.linalg.eigvalsh(cov / np.outer(D, D))
        cond = float(ev.max() / ev.min()) if ev.min() > 0 else np.inf
    else:
        cov, cond = np.full((P, P), np.nan), np.nan
    return StandardErrors(
        **ses, method="bootstrap", method_used=f"{scheme} bootstrap", covariance=cov,
        parameter_names=lay.names, condition_number=cond, estimates=_estimates(result),
        parameters=pack(result.params(), lay), notes=tuple(notes), replicates=reps,
        n_boot=n_boot, n_failed=n_failed)


def standard_errors(result, method: str = "louis", *, rcond: float = 1e-8, step: float = 5e-3,
                    n_boot: int = 200, scheme: str = "nonparametric", n_jobs: int = 1, rng=None,
                    tol: float = 1e-6, max_iter: int = 1000,
                    on_progress=None) -> StandardErrors:
    """Compute standard errors of the estimates of an EM fit.

    Parameters
    ----------
    result : EMResult
        A maximum-likelihood fit (``algorithm="em"``, no prior; the
        bootstrap also accepts ``"cem"`` and refits with it).
    method : {"louis", "hessian", "bootstrap"}, default "louis"
        ``"louis"``: analytic observed information (Louis 1982) for 1-D
        structures and ``diag``, otherwise the numerical Hessian (see
        ``method_used``). ``"hessian"``: numerical Hessian of the observed-data
        log-likelihood. ``"bootstrap"``: refits of resampled or simulated data.
    rcond : float, default 1e-8
        Eigenvalues of the information below ``rcond`` times the largest
        are treated as zero (Louis, Hessian).
    step : float, default 5e-3
        Base finite-difference step (Hessian), relative to each coordinate's
        typical size: a mean moves by ``step`` times its component's standard
        deviation, a log-sd or log-ratio by ``step * max(1, |value|)``.
    n_boot : int, default 200
        Number of bootstrap replicates.
    scheme : {"nonparametric", "parametric"}, default "nonparametric"
        Resample rows, or simulate from the fit with :func:`em.sample`.
    n_jobs : int or "auto", default 1
        Worker processes for the bootstrap (-1: every CPU; ``"auto"``: the
        first refits run here, timed, and the rest on every CPU when they
        would take more than a few seconds here). The replicates do not
        depend on it.
    rng : int, numpy.random.Generator or None
        Seeds of the bootstrap; replicate ``b`` uses ``rng.spawn(n_boot)[b]``.
    tol, max_iter : float, int
        Passed to :func:`em.fit` for each bootstrap refit (1e-6 on the total
        log-likelihood, as :func:`em.fit`). A refit stopped when its
        log-likelihood changes by less than ``tol`` is within about
        ``sqrt(tol) r / (1 - r)`` standard errors of its optimum, whatever
        ``n`` (``r``: EM's rate; a step ``s`` changes the total log-likelihood
        by about ``n s^2 / sigma^2`` while a standard error is ``sigma /
        sqrt(n)``): 0.1 % of a standard error at ``r = 0.5``, 1 % at ``r =
        0.9``. A tighter ``tol`` also forces the slower centred E-step on
        large data sets (:func:`em._estep.tolerance_kappa`): at n = 10^6, K = 3,
        200 refits on two cores took 34.3 s with 1e-8 and 21.5 s with 1e-6,
        and the standard errors of the means moved by 2e-5 (relative).
    on_progress : callable, optional
        Called as ``on_progress(done, n_boot)`` as bootstrap refits finish
        (for a progress display).

    Returns
    -------
    StandardErrors

    Warns
    -----
    IdentifiabilityWarning
        The information is singular or ill-conditioned (coinciding
        components, a weight near 0): the standard errors of the quantities
        that load on its near-null eigenvectors are NaN, the others are kept.
    ConvergenceWarning
        Some bootstrap refits failed; they are counted in ``n_failed`` and excluded.

    Raises
    ------
    NotImplementedError
        For a MAP-EM fit (``result.prior`` set).

    Notes
    -----
    Louis (1982): the observed information equals the expected complete-data
    information minus the missing information. With ``a_ik = log w_k + log
    N(x_i | mu_k, Sigma_k)``, responsibilities ``r_ik`` and complete-data
    scores ``s_ik = grad a_ik``::

        I(theta) = sum_i sum_k r_ik (-hess a_ik) - sum_i (E[s_i s_i^T] - E[s_i] E[s_i]^T)

    where ``E[s_i] = sum_k r_ik s_ik`` (summing to zero at the MLE). For a
    normal mixture the scores are ``r_ik (x_i - mu_k) / sigma_k^2`` (mean),
    ``r_ik ((x_i - mu_k)^2 / sigma_k^2 - 1)`` (``log sigma_k``) and
    ``r_ik - w_k`` (log-ratio ``eta_k``). ``Cov(theta) = I^{-1}``; for a
    singular ``I`` its eigen-decomposition ``V diag(lambda) V^T`` is
    inverted on the directions with ``lambda > rcond lambda_max`` and a
    quantity ``g`` with ``|grad g . v| > 1e-6 |grad g|`` for a near-null
    eigenvector ``v`` gets NaN. The numerical Hessian uses central
    differences at steps ``h`` and ``h / 2`` combined by Richardson
    extrapolation, ``(4 H(h / 2) - H(h)) / 3``. Louis' information and the
    Hessian form every difference ``x_i - mu_k`` from the exact fitted means
    (data units), so they hold at any offset and separation of the clusters.
    Each bootstrap refit starts
    from the MLE (same structure and fixed blocks) and is aligned to it by
    :func:`em.match_components` (Hungarian matching, never by sorting);
    standard errors are the replicates' standard deviations.

    References
    ----------
    Louis, T. A. (1982). Finding the observed information matrix when using
    the EM algorithm. JRSS B 44, 226-233.
    McLachlan, G. J. & Peel, D. (2000). Finite Mixture Models. Wiley.
    Efron, B. & Tibshirani, R. J. (1993). An Introduction to the Bootstrap.
    Chapman & Hall.
    Pinheiro, J. C. & Bates, D. M. (1996). Unconstrained parametrizations for
    variance-covariance matrices. Statistics and Computing 6, 289-296.
    """
    _check(result, method)
    lay = layout(result.spec)
    if method == "bootstrap":
        return _bootstrap(result, lay, n_boot, scheme, n_jobs, rng, tol, max_iter, on_progress)
    return _analytic(result, method, lay, float(rcond), float(step))
