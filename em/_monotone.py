"""EM's monotonicity check: a decrease of the objective beyond round-off is a bug."""

from __future__ import annotations

import numpy as np

from ._design import Components
from ._estep import kappa, log_prob, use_fast_path
from ._warnings import MonotonicityError

#: relative size of a decrease of the objective still attributed to round-off
MONOTONE_RTOL = 1e-10
_EPS = float(np.finfo(float).eps)


def roundoff(problem, state) -> float:
    """Bound on the round-off of one objective evaluation (computed only after a decrease).

    Centred, each point's log-density is ``const_k - maha / 2`` formed from
    exact differences, so the error of ``log f(x_i)`` is a few ulps of
    ``|log f(x_i)| + |const| + d`` (the dominant component's terms); the fast
    uncentred path adds about ``2 kappa`` ulps per point.

    Parameters
    ----------
    problem : em._engine.Problem
    state : em._engine.EMState
    """
    p = state.params
    comp = Components(p.weights, state.anchors, p.covariances, state.factors)
    means_int = problem.design.internal_means(state.anchors)
    if use_fast_path(problem.design, comp, means_int, problem.kappa_limit):
        fast = 2.0 * problem.design.n * (float(kappa(problem.design, comp, means_int).max()) + 1)
    else:
        fast = 0.0
    total = 0.0
    for _, _, lp in log_prob(problem.design, comp):
        total += float(np.abs(lp.max(axis=1)).sum())
    d = problem.design.d
    with np.errstate(divide="ignore"):
        const = np.log(p.weights) - 0.5 * state.factors.logdet
    const = np.abs(const[np.isfinite(const)])
    total += problem.design.n * (float(const.max(initial=0.0)) + 2.0 * d + 1.0)
    if problem.prior is not None:
        total += abs(state.objective - state.loglik) if not problem.hard else 0.0
    return 16.0 * _EPS * total + 4.0 * _EPS * fast


def check_step(problem, old, new) -> None:
    """Raise when one EM step made the objective non-finite or lowered it beyond round-off.

    Parameters
    ----------
    problem : em._engine.Problem
    old, new : em._engine.EMState
        The states before and after the step.
    """
    if not np.isfinite(new.objective):
        raise FloatingPointError(
            "the objective became non-finite during EM; increase var_floor or reduce "
            "n_components."
        )
    delta = new.objective - old.objective
    allowed = MONOTONE_RTOL * max(1.0, abs(old.objective))
    # the round-off bound costs a pass over the data: only when the objective fell
    if delta < -allowed and delta < -(allowed + roundoff(problem, old)
                                      + roundoff(problem, new)):
        raise MonotonicityError(
            f"EM decreased its objective from {old.objective!r} to {new.objective!r}; "
            "this is a bug in mixcompare, please report it with the data."
        )
