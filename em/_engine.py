"""The EM engine: one loop for EM, classification EM and MAP-EM (no result objects).

The iteration is a pure step ``step(problem, state) -> (state, info)`` on an
immutable :class:`EMState`; the engine owns validation, initialisation,
restarts, stopping and the choice of the best restart. :func:`em.fit`
(:mod:`em._driver`) turns its runs into an :class:`em.EMResult`; the bootstrap
refits through :func:`fit_estimate`, which makes the same choices, so this
module sits below both and imports neither.

Each state keeps the means twice: on the internal scale (``params.means``,
for priors, the atlas and the floor) and exactly in data units
(``anchors``), the per-component shifts about which the kernels centre every
difference and statistic (see :mod:`em._design`).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from . import _squarem
from ._atlas import group_optima
from ._design import Components, Design
from ._estep import e_step, tolerance_kappa
from ._floor import (
    Factors,
    at_floor,
    factorise,
    internal_floor,
    n_distinct_rows,
    project,
    resolution,
)
from ._init import INITIALISERS, symmetric
from ._map import map_m_step
from ._model import Params, Scaling, Spec, model_spec, user_params_to_full
from ._monotone import check_step
from ._mstep import m_step
from ._refine import refine
from ._spurious import order_groups, spurious_components
from ._squarem import continue_run
from ._stopping import param_step, polish_budget, settled
from ._validation import check_positive_int, check_rng
from ._warnings import SymmetricStartWarning

ALGORITHMS = frozenset({"em", "cem"})


class EMState(NamedTuple):
    """State carried between iterations.

    Attributes
    ----------
    params : Params
        Internal scale; ``params.means`` is ``(anchors - center) / scale``.
    anchors : ndarray of shape (n_components, n_features)
        The means in data units, exact.
    factors : Factors
        Exact factors of ``params.covariances`` (see :class:`em._floor.Factors`).
    stats : ndarray
        Statistics of the E-step at ``params``, centred on ``anchors``.
    objective : float
        Objective at ``params`` (internal scale).
    loglik : float
        Observed-data log-likelihood at ``params`` (NaN for CEM).
    accelerated : bool
        Reached by a SQUAREM extrapolation, not an EM step (:mod:`em._squarem`).
    """

    params: Params
    anchors: np.ndarray
    factors: Factors
    stats: np.ndarray
    objective: float
    loglik: float
    accelerated: bool = False


class StepInfo(NamedTuple):
    """Diagnostics of one iteration."""

    objective: float
    delta: float


class Problem(NamedTuple):
    """Everything fixed during a fit: data, model, floor, prior, algorithm."""

    X: np.ndarray  # validated data, the user's shape
    design: Design
    spec: Spec  # fixed blocks on the internal scale
    spec_user: Spec  # fixed blocks on the user's scale
    scaling: Scaling
    var_floor: float
    delta: np.ndarray  # (d,) resolution of each feature, data units
    floor: np.ndarray  # (d,) variance floor, internal scale
    hard: bool
    prior: object  # em.Prior on the user's scale, or None
    prior_int: object  # the same prior on the internal scale, or None
    fixed_anchors: np.ndarray | None  # fixed means in data units
    kappa_limit: float  # the fast E-step only where its round-off is far below tol

    def user_params(self, params: Params, anchors: np.ndarray) -> Params:
        """Parameters on the user's scale (means exactly the anchors)."""
        return Params(params.weights, anchors, params.covariances * self.scaling.scale**2)

    @property
    def loglik_shift(self) -> float:
        """User-scale log-likelihood minus internal-scale log-likelihood."""
        return -self.design.n * self.design.d * np.log(self.scaling.scale)


class Estimate(NamedTuple):
    """What a refit needs from a fit: the best restart's parameters and flags."""

    params: Params  # user scale
    converged: bool
    degenerate: np.ndarray
    n_iter: int


# ------------------------------------------------------------------ one iteration
def _evaluate(problem: Problem, params: Params, anchors: np.ndarray, factors: Factors,
              resp_out=None):
    comp = Components(params.weights, anchors, params.covariances, factors)
    stats, obj = e_step(problem.design, comp, hard=problem.hard, resp_out=resp_out,
                        kappa_limit=problem.kappa_limit)
    loglik = np.nan if problem.hard else obj
    if problem.prior is not None:
        # on the user's scale: differences from m0 are formed from exact means
        obj = obj + problem.prior.log_density(problem.user_params(params, anchors),
                                              problem.spec_user)
    return stats, obj, loglik


def _m0_offsets(problem: Problem, anchors: np.ndarray) -> np.ndarray:
    d = problem.design.d
    m0 = np.broadcast_to(np.asarray(problem.prior.m0, dtype=float), (d,))
    return (m0 - anchors) / problem.scaling.scale


def step(problem: Problem, state: EMState, resp_out=None) -> tuple[EMState, StepInfo]:
    """Run one iteration: M-step from the statistics, then E-step (or C-step) at the result."""
    spec = problem.spec
    if problem.prior is None:
        upd = m_step(state.stats, state.params, kind=spec.kind, fixed=spec.fixed,
                     floor=problem.floor)
        if upd.unresolved is not None and upd.unresolved.any():
            comp = Components(state.params.weights, state.anchors, state.params.covariances,
                              state.factors)
            upd = refine(problem.design, comp, upd, kind=spec.kind, hard=problem.hard,
                         floor=problem.floor)
    else:
        upd = map_m_step(state.stats, state.params, kind=spec.kind, one_d=spec.one_d,
                         fixed=spec.fixed,
                         floor=problem.floor, prior=problem.prior_int,
                         m0_offsets=_m0_offsets(problem, state.anchors))
    anchors = state.anchors + upd.offsets * problem.scaling.scale
    new = Params(upd.weights, problem.design.internal_means(anchors), upd.covariances)
    stats, obj, loglik = _evaluate(problem, new, anchors, upd.factors, resp_out)
    return (EMState(new, anchors, upd.factors, stats, obj, loglik),
            StepInfo(obj, obj - state.objective))


def _run(problem: Problem, p0: Params, a0: np.ndarray, f0: Factors, max_iter: int,
         tol: float, keep_resp: bool, polish: bool = True):
    """Run one restart: to ``tol`` on the objective, then polished (see :mod:`em._stopping`).

    Plain EM until ``tol`` is met or for ``CRAWL`` iterations; the rest by
    SQUAREM (:mod:`em._squarem`; not for CEM).
    """
    n = problem.design.n
    K = problem.spec.n_components
    resp = [np.empty((n, K))] if keep_resp else None
    stats, obj, loglik = _evaluate(problem, p0, a0, f0, resp[0] if keep_resp else None)
    history = [EMState(p0, a0, f0, stats, obj, loglik)]
    converged, budget, last = False, 0, np.inf
    while len(history) - 1 < max_iter:
        state = history[-1]
        if _squarem.ACCELERATE and not problem.hard and (
                converged or len(history) - 1 >= _squarem.CRAWL):
            converged = continue_run(problem, history, resp, step=step, evaluate=_evaluate,
                                     n=n, keep=keep_resp, converged=converged,
                                     max_iter=max_iter, tol=tol, polish=polish)
            break
        buf = np.empty((n, K)) if keep_resp else None
        new, info = step(problem, state, buf)
        check_step(problem, state, new)
        size = param_step(state.params, new.params)
        history.append(new)
        if keep_resp:
            resp.append(buf)
        if not converged and abs(info.delta) < tol:
            converged, budget = True, len(history) - 1 + polish_budget(len(history) - 1)
        if converged and (not polish or settled(size, last) or len(history) - 1 >= budget):
            break
        last = size
    return history, converged, resp


# ------------------------------------------------------------------ set-up
def _check_options(algorithm, tol, max_iter, n_init, var_floor, atlas_tol):
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}.")
    for name, val in (("tol", tol), ("var_floor", var_floor), ("atlas_tol", atlas_tol)):
        if isinstance(val, bool) or not isinstance(val, (int, float, np.floating, np.integer)):
            raise TypeError(f"{name} must be a number, got {val!r}.")
        if not np.isfinite(val) or val < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {val!r}.")
    max_iter = check_positive_int(max_iter, "max_iter", minimum=0)
    if isinstance(n_init, str) and n_init == "auto":
        return max_iter, n_init
    if isinstance(n_init, str):
        raise ValueError(f'n_init must be a positive integer or "auto", got {n_init!r}.')
    n_init = check_positive_int(n_init, "n_init", minimum=1)
    return max_iter, n_init


def prepare(X, n_components, *, algorithm="em", structure=None, fixed=None, var_floor=1e-6,
            prior=None, tol=1e-6, max_iter=1000, n_init=1, atlas_tol=1e-3):
    """Validate the data, the model and the options once; compute the scaling and floor.

    Returns
    -------
    problem : Problem
    max_iter : int
    n_init : int or "auto"
        The validated counts.
    """
    X, spec_user = model_spec(X, n_components, structure=structure, fixed=fixed)
    max_iter, n_init = _check_options(algorithm, tol, max_iter, n_init, var_floor, atlas_tol)
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
    delta, distinct_per_column = resolution(X2, scaling.scale)
    # rows are at least as varied as their most varied column: count rows only when needed
    if K > int(distinct_per_column.max()):
        n_distinct = n_distinct_rows(X2)
        if K > n_distinct:
            raise ValueError(
                f"the data have only {n_distinct} distinct value(s) for n_components={K}: "
                f"extra components would sit on no data ('ghost' components); use at most "
                f"{n_distinct}."
            )
    fixed_int = {}
    if fixed_user:
        tmp = scaling.to_internal(Params(
            fixed_user.get("weights", np.ones(K) / K),
            fixed_user.get("means", np.zeros((K, d))),
            fixed_user.get("covariances", np.broadcast_to(np.eye(d), (K, d, d)))))
        fixed_int = {k: getattr(tmp, k) for k in fixed_user}
    spec = replace(spec_user, fixed=fixed_int)
    design = Design(X2, scaling.center, scaling.scale,
                    diagonal=spec.kind in ("diag", "spherical"))
    prior_int = None
    if prior is not None:
        if not hasattr(prior, "rescaled"):
            raise TypeError(f"prior must be an em.Prior, got {type(prior).__name__}.")
        prior.check_for(spec, mode="map")
        prior_int = prior.rescaled(scaling.center, scaling.scale)
    fixed_anchors = (np.asarray(fixed_user["means"], dtype=float).copy()
                     if "means" in fixed_user else None)
    problem = Problem(X, design, spec, spec_user, scaling, float(var_floor), delta,
                      internal_floor(var_floor, delta, scaling.scale), algorithm == "cem",
                      prior, prior_int, fixed_anchors, tolerance_kappa(n, tol))
    return problem, max_iter, n_init


def _on_structure(cov: np.ndarray, kind: str, weights: np.ndarray) -> np.ndarray:
    """Restrict starting covariances to the structure (shared, diagonal or spherical)."""
    d = cov.shape[1]
    if kind == "tied":
        return np.broadcast_to(np.einsum("k,kij->ij", weights, cov), cov.shape).copy()
    if kind in ("diag", "spherical"):
        diag = np.einsum("kii->ki", cov)
        if kind == "spherical":
            diag = np.broadcast_to(diag.mean(axis=1, keepdims=True), diag.shape)
        return diag[:, :, None] * np.eye(d)
    return cov


def _initial(problem: Problem, init, rng) -> tuple[Params, np.ndarray, Factors]:
    spec, design, floor = problem.spec, problem.design, problem.floor
    if isinstance(init, dict):
        given = user_params_to_full(init, spec.n_components, spec.n_features, spec.one_d, "init")
        missing = {"weights", "means", "covariances"} - set(given) - set(spec.fixed)
        if missing:
            raise ValueError(
                f"init is missing {sorted(missing)}; give every parameter that is not fixed "
                "(weights, means, variances/covariances)."
            )
        K, d = spec.n_components, spec.n_features
        weights = given.get("weights", np.full(K, 1.0 / K))
        anchors = np.array(given["means"], dtype=float) if "means" in given else np.zeros((K, d))
        cov = (given["covariances"] / problem.scaling.scale**2 if "covariances" in given
               else np.broadcast_to(np.eye(d), (K, d, d)).copy())
        # start in the model: EM's first M-step puts the covariances on the structure and
        # the floor anyway, and from outside the model that step may lower the objective
        # (not a monotonicity failure)
        cov = _on_structure(cov, spec.kind, weights)
        cov, factors = project(cov, floor, spec.kind, design.diagonal)
        p = Params(weights, design.internal_means(anchors), cov)
    elif isinstance(init, str) and init in INITIALISERS:
        p, anchors, factors = INITIALISERS[init](design, spec, rng, floor)
    else:
        raise ValueError(
            f"init must be one of {sorted(INITIALISERS)} or a dict of parameters, got {init!r}."
        )
    f = spec.fixed
    if problem.fixed_anchors is not None:
        anchors = problem.fixed_anchors.copy()
    if "covariances" in f:
        factors = factorise(f["covariances"], floor, design.diagonal)
    return Params(f.get("weights", p.weights), design.internal_means(anchors),
                  f.get("covariances", p.covariances)), anchors, factors


def run_restarts(problem: Problem, *, init="kmeans++", n_init=1, max_iter=1000, tol=1e-6,
                 rng=None, keep_resp=False, polish=True) -> list:
    """Run EM from ``n_init`` starts; each run is ``(history, converged, resp)``."""
    runs = []
    warned_symmetric = False
    for child in rng.spawn(n_init):
        p0, a0, f0 = _initial(problem, init, child)
        if symmetric(p0) and not warned_symmetric:
            warnings.warn(
                "initial components coincide (identical means and covariances): a symmetric "
                "start is a fixed point of EM and it will not separate them; use another init.",
                SymmetricStartWarning, stacklevel=3)
            warned_symmetric = True
        runs.append(_run(problem, p0, a0, f0, max_iter, float(tol), keep_resp, polish))
    return runs


def degenerate(problem: Problem, state: EMState) -> np.ndarray:
    """Components at the variance floor or with fewer than d + 1 effective points."""
    d = problem.design.d
    return at_floor(state.factors) | (state.stats[:, 0] < d + 1)


def spurious(problem: Problem, state: EMState) -> np.ndarray:
    """Components fitted to a few close points (see :func:`em._spurious.spurious_components`)."""
    return spurious_components(state.factors.logdet, state.stats[:, 0], problem.design.d)


def select(problem: Problem, runs: list, atlas_tol: float) -> list[list[int]]:
    """Group the restarts into distinct optima; ``groups[0][0]`` is the fit.

    Groups are in decreasing objective, except that the best optimum with no
    degenerate or spurious component comes first when there is one.
    """
    finals = [h[-1] for h, _, _ in runs]
    groups = group_optima([s.params for s in finals], [s.objective for s in finals], atlas_tol)
    improper = [bool(degenerate(problem, finals[g[0]]).any()
                     or spurious(problem, finals[g[0]]).any()) for g in groups]
    return order_groups(groups, improper)


def fit_estimate(X, n_components, *, algorithm="em", structure=None, fixed=None,
                 init="kmeans++", n_init=1, max_iter=1000, tol=1e-6, var_floor=1e-6,
                 atlas_tol=1e-3, rng=None, prior=None) -> Estimate:
    """Return the estimate :func:`em.fit` would, without building an ``EMResult`` or warning."""
    problem, max_iter, n_init = prepare(
        X, n_components, algorithm=algorithm, structure=structure, fixed=fixed,
        var_floor=var_floor, prior=prior, tol=tol, max_iter=max_iter, n_init=n_init,
        atlas_tol=atlas_tol)
    if n_init == "auto":
        raise ValueError('fit_estimate takes a number of restarts, not n_init="auto".')
    # a refit's estimate to the objective's tolerance: the polish matters for the atlas
    runs = run_restarts(problem, init=init, n_init=n_init, max_iter=max_iter, tol=tol,
                        rng=check_rng(rng), polish=False)
    history, converged, _ = runs[select(problem, runs, atlas_tol)[0][0]]
    final = history[-1]
    return Estimate(problem.user_params(final.params, final.anchors), converged,
                    degenerate(problem, final), len(history) - 1)
