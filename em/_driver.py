"""The EM driver: one loop for EM, classification EM and MAP-EM.

The iteration is a pure step ``step(data, state) -> (state, info)`` on an
immutable :class:`EMState`; the driver owns initialisation, restarts,
stopping, the choice of the best restart, the atlas and a final E-step.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from ._atlas import Optimum, Restart, group_optima
from ._init import INITIALISERS, symmetric
from ._kernels import apply_floor, e_step, features, log_prob, m_step, natural_params
from ._map import map_m_step
from ._model import Params, Scaling, Spec, model_spec, user_params_to_full
from ._validation import check_positive_int, check_rng
from ._warnings import (
    ConvergenceWarning,
    DegenerateWarning,
    MonotonicityError,
    SymmetricStartWarning,
)
from .result import EMResult, Trace

ALGORITHMS = frozenset({"em", "cem"})
#: relative size of a decrease of the objective still attributed to round-off
MONOTONE_RTOL = 1e-10


class EMState(NamedTuple):
    """State carried between iterations (internal scale)."""

    params: Params
    stats: np.ndarray  # sufficient statistics of the E-step at ``params``
    objective: float  # objective at ``params``
    loglik: float  # observed-data log-likelihood at ``params`` (NaN for CEM)


class StepInfo(NamedTuple):
    """Diagnostics of one iteration."""

    objective: float
    delta: float


class _Data(NamedTuple):
    T: np.ndarray
    T_absmax: np.ndarray  # (p,) largest |feature| per row, for the round-off bound
    spec: Spec
    floor: float
    hard: bool
    prior: object  # internal-scale prior or None


def _evaluate(data: _Data, params: Params, resp_out=None):
    stats, obj = e_step(data.T, natural_params(params), hard=data.hard, resp_out=resp_out)
    loglik = np.nan if data.hard else obj
    if data.prior is not None:
        obj = obj + data.prior.log_density(params, data.spec)
    return stats, obj, loglik


def step(data: _Data, state: EMState, resp_out=None) -> tuple[EMState, StepInfo]:
    """Run one iteration: M-step from the statistics, then E-step (or C-step) at the result."""
    if data.prior is None:
        new = m_step(state.stats, state.params, kind=data.spec.kind, fixed=data.spec.fixed,
                     floor=data.floor)
    else:
        new = map_m_step(state.stats, state.params, kind=data.spec.kind, fixed=data.spec.fixed,
                         floor=data.floor, prior=data.prior)
    stats, obj, loglik = _evaluate(data, new, resp_out)
    return EMState(new, stats, obj, loglik), StepInfo(obj, obj - state.objective)


def _check_options(algorithm, tol, max_iter, n_init, var_floor, atlas_tol):
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}.")
    for name, val in (("tol", tol), ("var_floor", var_floor), ("atlas_tol", atlas_tol)):
        if isinstance(val, bool) or not isinstance(val, (int, float, np.floating, np.integer)):
            raise TypeError(f"{name} must be a number, got {val!r}.")
        if not np.isfinite(val) or val < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {val!r}.")
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    n_init = check_positive_int(n_init, "n_init", minimum=1)
    return max_iter, n_init


def _user_shapes(p: Params, one_d: bool):
    """Convert full internal-shape arrays to the user's shapes: (means, variances)."""
    var = np.einsum("...kii->...ki", p.covariances)
    if one_d:
        return p.means[..., 0], var[..., 0]
    return p.means, var


def _degenerate(p: Params, Nk: np.ndarray, floor: float) -> np.ndarray:
    d = p.means.shape[1]
    mineig = np.linalg.eigvalsh(p.covariances)[:, 0]
    return (mineig <= floor * (1 + 1e-6)) | (Nk < d + 1)


def _final_pass(T: np.ndarray, eta: np.ndarray, chunk: int = 65536):
    """Labels and entropy at the final parameters, chunked so memory stays O(n)."""
    n = T.shape[1]
    labels = np.empty(n, dtype=np.intp)
    entropy = 0.0
    for start in range(0, n, chunk):
        lp = log_prob(T[:, start : start + chunk], eta)
        labels[start : start + chunk] = lp.argmax(axis=1)
        lp -= lp.max(axis=1, keepdims=True)
        r = np.exp(lp)
        r /= r.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy -= float(np.where(r > 0, r * np.log(r), 0.0).sum())
    return labels, entropy


def _initial_params(init, Z, T, spec, rng, floor, scaling) -> Params:
    if isinstance(init, dict):
        given = user_params_to_full(init, spec.n_components, spec.n_features, spec.one_d, "init")
        missing = {"weights", "means", "covariances"} - set(given) - set(spec.fixed)
        if missing:
            raise ValueError(
                f"init is missing {sorted(missing)}; give every parameter that is not fixed "
                "(weights, means, variances/covariances)."
            )
        full = {**{k: None for k in ("weights", "means", "covariances")}, **given}
        user = Params(full["weights"], full["means"], full["covariances"])
        K, d = spec.n_components, spec.n_features
        user = Params(
            user.weights if user.weights is not None else np.full(K, 1.0 / K),
            user.means if user.means is not None else np.zeros((K, d)),
            user.covariances if user.covariances is not None else np.broadcast_to(
                np.eye(d), (K, d, d)).copy(),
        )
        p = scaling.to_internal(user)
        # start on the feasible set: EM's first M-step would clip to the floor anyway, and
        # from below the floor that clip lowers the objective (not a monotonicity failure)
        p = Params(p.weights, p.means, apply_floor(p.covariances, floor, spec.kind))
    elif isinstance(init, str) and init in INITIALISERS:
        p = INITIALISERS[init](Z, T, spec, rng, floor)
    else:
        raise ValueError(
            f"init must be one of {sorted(INITIALISERS)} or a dict of parameters, got {init!r}."
        )
    f = spec.fixed
    return Params(f.get("weights", p.weights), f.get("means", p.means),
                  f.get("covariances", p.covariances))


def _run(data: _Data, p0: Params, max_iter: int, tol: float, keep_resp: bool):
    n = data.T.shape[1]
    K = data.spec.n_components
    resp = [np.empty((n, K))] if keep_resp else None
    stats, obj, loglik = _evaluate(data, p0, resp[0] if keep_resp else None)
    state = EMState(p0, stats, obj, loglik)
    history = [state]
    converged = False
    for _ in range(max_iter):
        buf = np.empty((n, K)) if keep_resp else None
        new, info = step(data, state, buf)
        if not np.isfinite(info.objective):
            raise FloatingPointError(
                "the objective became non-finite during EM; increase var_floor or reduce "
                "n_components."
            )
        # the round-off bound costs two parameter conversions: only when the objective fell
        if info.delta < 0 and info.delta < -(MONOTONE_RTOL * max(1.0, abs(state.objective))
                                             + _roundoff(data, state.params)
                                             + _roundoff(data, new.params)):
            raise MonotonicityError(
                f"EM decreased its objective from {state.objective!r} to {info.objective!r}; "
                "this is a bug in mixcompare, please report it with the data."
            )
        state = new
        history.append(state)
        if keep_resp:
            resp.append(buf)
        if abs(info.delta) < tol:
            converged = True
            break
    return history, converged, resp


def _roundoff(data: _Data, params: Params) -> float:
    """Bound on the round-off of one objective evaluation.

    Each log-density is a sum ``eta . T(z)`` whose terms may cancel (narrow
    components far from the centre); its error is at most a few ulps of
    ``sum_j |eta_j| max_i |T_ji|`` per point.
    """
    eta = natural_params(params)
    eta = np.where(np.isfinite(eta), eta, 0.0)  # empty components contribute nothing
    worst = float(np.max(np.abs(eta).T @ data.T_absmax))
    return 8.0 * np.finfo(float).eps * data.T.shape[1] * worst


def fit(X, n_components, *, algorithm="em", structure=None, fixed=None, init="kmeans++",
        n_init=1, max_iter=1000, tol=1e-6, var_floor=1e-6, atlas_tol=1e-3, rng=None,
        keep_resp=False, prior=None) -> EMResult:
    """Fit a Gaussian mixture by EM (or classification EM), keeping every restart.

    Parameters
    ----------
    X : array_like of shape (n_samples,) or (n_samples, n_features)
    n_components : int
    algorithm : {"em", "cem"}, default "em"
        ``"em"``: soft EM. ``"cem"``: classification EM, whose C-step replaces
        responsibilities by hard 0/1 assignments before the M-step.
    structure : {"unequal", "equal"} for 1-D data, {"full", "diag", "spherical", "tied"} otherwise
        Defaults to ``"unequal"`` (1-D) or ``"full"``.
    fixed : dict, optional
        Parameters held at given values: keys among ``"weights"`` (K,),
        ``"means"`` (K,) or (K, d), ``"variances"`` (a scalar means every
        component; 1-D) and ``"covariances"`` ((d, d) or (K, d, d)).
    init : {"kmeans++", "random_from_data", "random_resp", "quantile"} or dict
        Initialisation per restart, or starting parameters (variances below
        the floor are raised to it, as every M-step does).
    n_init : int, default 1
        Number of restarts, each with its own child generator of ``rng``.
    max_iter : int, default 1000
        Maximum number of iterations (M-steps) per restart; 0 evaluates the start.
    tol : float, default 1e-6
        Stop when the objective (total log-likelihood, summed over the data)
        changes by less than ``tol`` between iterations. ``tol=0`` runs
        exactly ``max_iter`` iterations.
    var_floor : float, default 1e-6
        Lower bound on variances (eigenvalues), relative to the data's
        variance (mean over features), so fits are equivariant under rescaling.
    atlas_tol : float, default 1e-3
        Two restarts are the same optimum when, after matching components,
        weights, means (in data standard deviations) and log-sds differ by
        less than this.
    rng : int, numpy.random.Generator or None
    keep_resp : bool, default False
        Store the responsibilities of every iteration in the trace.
    prior : em.Prior, optional
        Maximise the log posterior (MAP-EM) instead of the log-likelihood.

    Returns
    -------
    EMResult

    Notes
    -----
    E-step: ``r_ik = w_k N(x_i | mu_k, Sigma_k) / sum_j w_j N(x_i | mu_j, Sigma_j)``.
    M-step: ``w_k = N_k / n``, ``mu_k = sum_i r_ik x_i / N_k``,
    ``Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k`` with
    ``N_k = sum_i r_ik``, then constrained by the structure and the floor.
    Each iteration cannot decrease the log-likelihood (Dempster, Laird &
    Rubin 1977); a decrease beyond round-off raises ``MonotonicityError``.
    CEM (Celeux & Govaert 1992) increases the classification likelihood.

    References
    ----------
    Dempster, Laird & Rubin (1977), JRSS B 39, 1-38.
    Celeux & Govaert (1992), Comput. Stat. Data Anal. 14, 315-332.
    McLachlan & Peel (2000), Finite Mixture Models, Wiley.
    """
    X, spec_user = model_spec(X, n_components, structure=structure, fixed=fixed)
    max_iter, n_init = _check_options(algorithm, tol, max_iter, n_init, var_floor, atlas_tol)
    rng = check_rng(rng)
    K, fixed_user = spec_user.n_components, spec_user.fixed
    X2 = X.reshape(X.shape[0], -1)
    n, d = X2.shape

    scaling = Scaling.from_data(X2)
    if scaling.scale == 0:
        if "covariances" not in fixed_user:
            raise ValueError(
                f"all {n} observations are identical: the variance MLE is 0 and a mixture "
                "is not identifiable; check the data, or fix the variances with fixed=."
            )
        scaling = Scaling(center=scaling.center, scale=1.0)
    n_distinct = np.unique(X2, axis=0).shape[0]
    if K > n_distinct:
        raise ValueError(
            f"the data have only {n_distinct} distinct value(s) for n_components={K}: extra "
            f"components would sit on no data ('ghost' components); use at most {n_distinct}."
        )
    fixed_int = {}
    if fixed_user:
        tmp = scaling.to_internal(Params(
            fixed_user.get("weights", np.ones(K) / K),
            fixed_user.get("means", np.zeros((K, d))),
            fixed_user.get("covariances", np.broadcast_to(np.eye(d), (K, d, d)))))
        fixed_int = {k: getattr(tmp, k) for k in fixed_user}
    spec = replace(spec_user, fixed=fixed_int)
    Z = (X2 - scaling.center) / scaling.scale
    T = features(Z)
    hard = algorithm == "cem"
    prior_int = None
    if prior is not None:
        if not hasattr(prior, "rescaled"):
            raise TypeError(f"prior must be an em.Prior, got {type(prior).__name__}.")
        prior.check_for(spec, mode="map")
        prior_int = prior.rescaled(scaling.center, scaling.scale)
    data = _Data(T, np.abs(T).max(axis=1), spec, float(var_floor), hard, prior_int)

    runs = []
    warned_symmetric = False
    for child in rng.spawn(n_init):
        p0 = _initial_params(init, Z, T, spec, child, float(var_floor), scaling)
        if symmetric(p0) and not warned_symmetric:
            warnings.warn(
                "initial components coincide (identical means and covariances): a symmetric "
                "start is a fixed point of EM and it will not separate them; use another init.",
                SymmetricStartWarning, stacklevel=2)
            warned_symmetric = True
        runs.append(_run(data, p0, max_iter, tol, keep_resp))

    return _assemble(runs, data, scaling, X, algorithm, atlas_tol, prior, keep_resp, tol)


def _assemble(runs, data, scaling, X, algorithm, atlas_tol, prior, keep_resp, tol) -> EMResult:
    spec, T, floor = data.spec, data.T, data.floor
    n = T.shape[1]
    logn_shift = -n * spec.n_features * np.log(scaling.scale)
    finals = [h[-1] for h, _, _ in runs]
    final_params = [s.params for s in finals]
    # observed log-likelihood at every restart's end (CEM tracks another objective)
    logliks = []
    for s in finals:
        ll = s.loglik if not data.hard else e_step(T, natural_params(s.params))[1]
        logliks.append(ll + logn_shift)
    objectives = [s.objective for s in finals]
    # the objective on the user's scale differs from the internal one by a constant
    shift = logn_shift
    if prior is not None:
        p = finals[0].params
        shift += prior.log_density(scaling.to_user(p), spec) - data.prior.log_density(p, spec)
    groups = group_optima(final_params, objectives, atlas_tol)
    restart_opt = np.empty(len(runs), dtype=int)
    optima = []
    for j, g in enumerate(groups):
        restart_opt[g] = j
        rep = finals[g[0]]
        user = scaling.to_user(rep.params)
        means, var = _user_shapes(user, spec.one_d)
        Nk = rep.stats[:, 0]
        optima.append(Optimum(
            weights=user.weights, means=means, variances=var, covariances=user.covariances,
            log_likelihood=float(logliks[g[0]]),
            objective=float(rep.objective + shift),
            count=len(g), basin_share=len(g) / len(runs),
            n_iter=tuple(len(runs[i][0]) - 1 for i in g),
            converged=all(runs[i][1] for i in g),
            degenerate=bool(_degenerate(rep.params, Nk, floor).any()), restarts=tuple(g)))
    restarts = tuple(
        Restart(log_likelihood=float(logliks[i]),
                objective_trace=np.array([s.objective for s in h]) + shift,
                n_iter=len(h) - 1, converged=conv, optimum=int(restart_opt[i]))
        for i, (h, conv, _) in enumerate(runs))

    best = groups[0][0]
    history, converged, resp = runs[best]
    final = history[-1]
    user = scaling.to_user(final.params)
    means, var = _user_shapes(user, spec.one_d)
    degenerate = _degenerate(final.params, final.stats[:, 0], floor)
    eta = natural_params(final.params)
    labels, entropy = _final_pass(T, eta)

    hist_user = [scaling.to_user(s.params) for s in history]
    tr_means, tr_var = _user_shapes(Params(
        np.stack([p.weights for p in hist_user]), np.stack([p.means for p in hist_user]),
        np.stack([p.covariances for p in hist_user])), spec.one_d)
    trace = Trace(
        log_likelihood=np.array([s.loglik for s in history]) + logn_shift,
        objective=np.array([s.objective for s in history]) + shift,
        weights=np.stack([p.weights for p in hist_user]),
        means=tr_means, variances=tr_var,
        resp=np.stack(resp) if keep_resp else None,
    )
    log_posterior = None
    if prior is not None:
        log_posterior = float(final.objective + shift)
    if not converged and tol > 0 and len(history) > 1:
        warnings.warn(
            f"EM did not converge in {len(history) - 1} iterations (best of {len(runs)} "
            "restarts); increase max_iter or tol.", ConvergenceWarning, stacklevel=3)
    if degenerate.any():
        warnings.warn(
            f"component(s) {np.flatnonzero(degenerate).tolist()} of the best fit are degenerate "
            "(variance at the floor or fewer than d + 1 effective points); reduce n_components "
            "or use more restarts.", DegenerateWarning, stacklevel=3)
    return EMResult(
        weights=user.weights, means=means, variances=var, covariances=user.covariances,
        log_likelihood=float(logliks[best]), log_posterior=log_posterior,
        n_iter=len(history) - 1, converged=converged, trace=trace, optima=tuple(optima),
        restarts=restarts, labels=labels, degenerate=degenerate, algorithm=algorithm,
        structure=spec.structure, n_samples=n, n_features=spec.n_features, entropy=entropy,
        prior=prior, spec=spec, scaling=scaling, data=X, var_floor=data.floor)

