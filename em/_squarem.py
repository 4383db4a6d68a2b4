"""SQUAREM: EM accelerated by squared extrapolation (Varadhan & Roland 2008), monotone.

One cycle from ``theta0`` makes two EM steps, ``theta1 = F(theta0)`` and
``theta2 = F(theta1)``, and extrapolates along ``r = theta1 - theta0``,
``v = theta2 - 2 theta1 + theta0`` with the step length ``S3``::

    alpha = -max(1, min(||r|| / ||v||, alpha_max))
    theta' = theta0 - 2 alpha r + alpha^2 v

(``alpha = -1`` gives ``theta2``). ``theta'`` is evaluated (one E-step) and
kept only when its objective is at least ``theta2``'s; otherwise the cycle
ends at ``theta2``, as plain EM would. Each cycle is therefore at least two
EM steps, and the objective trace stays monotone. ``alpha_max`` starts at 4
and grows by 4 each time the step reaches it (SQUAREM's ``mstep``).

The parameters are extrapolated where the model's constraints are linear or
absent: log-weights (renormalised), means in data sds, log-variances for
diagonal structures and covariance matrices for full/tied ones, projected on
the floor (:func:`em._floor.project`); fixed blocks are kept exactly.
"""

from __future__ import annotations

import numpy as np

from ._floor import project
from ._model import Params
from ._monotone import check_step
from ._stopping import param_step, settled

#: plain EM iterations after which a restart that has not met ``tol`` is accelerated
CRAWL = 100
#: False runs plain EM throughout (the reference the tests compare SQUAREM with)
ACCELERATE = True
#: first cap on ``|alpha|`` and the factor by which it grows when reached
ALPHA_MAX0 = 4.0
ALPHA_GROWTH = 4.0


def _vector(problem, state) -> np.ndarray:
    """Return the extrapolated coordinates of a state (internal scale)."""
    p = state.params
    cov = p.covariances
    cov_part = (np.log(np.einsum("kii->ki", cov)) if problem.design.diagonal else cov)
    return np.concatenate([np.log(p.weights), (state.anchors / problem.scaling.scale).ravel(),
                           cov_part.ravel()])


def _unpack(problem, vec: np.ndarray):
    """Return parameters from coordinates, fixed blocks restored; None when out of the model."""
    spec, design = problem.spec, problem.design
    K, d = spec.n_components, design.d
    logw, rest = vec[:K], vec[K:]
    means, cov_part = rest[:K * d].reshape(K, d), rest[K * d:]
    weights = np.exp(logw - logw.max())
    weights /= weights.sum()
    anchors = means * problem.scaling.scale
    if design.diagonal:
        cov = np.exp(cov_part.reshape(K, d))[:, :, None] * np.eye(d)
    else:
        cov = cov_part.reshape(K, d, d)
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    f = spec.fixed
    weights = f.get("weights", weights)
    if problem.fixed_anchors is not None:
        anchors = problem.fixed_anchors.copy()
    cov = f.get("covariances", cov)
    if not (np.all(np.isfinite(weights)) and np.all(weights > 0) and np.all(np.isfinite(cov))):
        return None
    cov, factors = project(cov, problem.floor, spec.kind, design.diagonal)
    if not np.all(np.isfinite(factors.logdet)):
        return None
    return Params(weights, design.internal_means(anchors), cov), anchors, factors


def extrapolate(problem, s0, s1, s2, alpha_max: float):
    """Return the S3 extrapolation ``(params, anchors, factors, alpha)`` of one cycle, or None.

    None when the step is plain EM's (``alpha = -1``) or leaves the model.
    """
    if min(s.params.weights.min() for s in (s0, s1, s2)) <= 0:
        return None
    x0, x1, x2 = (_vector(problem, s) for s in (s0, s1, s2))
    r = x1 - x0
    v = x2 - 2.0 * x1 + x0
    nr, nv = np.linalg.norm(r), np.linalg.norm(v)
    if not (np.isfinite(nr) and np.isfinite(nv)) or nv == 0 or nr <= nv:
        return None
    alpha = -min(nr / nv, alpha_max)
    out = _unpack(problem, x0 - 2.0 * alpha * r + alpha**2 * v)
    return None if out is None else (*out, alpha)


def continue_run(problem, history: list, resp, *, step, evaluate, n: int, keep: bool,
                 converged: bool, max_iter: int, tol: float, polish: bool):
    """Continue a restart by SQUAREM cycles until it is polished (or ``max_iter``).

    Parameters
    ----------
    problem : em._engine.Problem
    history : list of EMState
        The run so far (appended to in place); ``resp`` likewise when ``keep``.
    step, evaluate : callable
        :func:`em._engine.step` and :func:`em._engine._evaluate`.
    n : int
        Number of observations (for the responsibility buffers).
    converged : bool
        Whether ``tol`` has been met.
    max_iter, tol, polish
        As :func:`em._engine._run`.

    Returns
    -------
    converged : bool

    Notes
    -----
    Every evaluated state that is kept enters ``history`` (an iteration is
    one pass over the data); a rejected extrapolation costs a pass that the
    trace does not show. ``tol`` is tested on the plain EM steps only. The
    polish has no budget but ``max_iter`` (a SQUAREM cycle costs three passes
    where plain EM's polish needed tens to thousands on flat optima). The
    polish ends when a plain step passes Aitken's test
    (:func:`em._stopping.settled`) with the rate taken as the largest ratio
    of two plain steps seen in the cycles so far (and the current cycle's):
    right after an extrapolation the fast directions can dominate the two
    steps, and their ratio alone would underestimate the slow rate and stop
    early. Once a rate is known, a cycle's first plain step is tested on its
    own: for a contraction of rate at most ``r`` the distance left after any
    step of size ``s`` is at most ``s r / (1 - r)``, whichever state the step
    started from, so the second step (three passes with the extrapolation)
    is spent only when the first does not settle.
    """
    K = problem.spec.n_components
    alpha_max, rho_max = ALPHA_MAX0, 0.0

    def plain(state):
        buf = np.empty((n, K)) if keep else None
        new, info = step(problem, state, buf)
        check_step(problem, state, new)
        history.append(new)
        if keep:
            resp.append(buf)
        return new, info

    def settles(size, rate):  # Aitken's test of a plain step at a known rate
        return settled(size, size / rate if rate > 0 else np.inf)

    while len(history) - 1 < max_iter:
        s0 = history[-1]
        sizes = []
        for s in (0, 1):
            if len(history) - 1 >= max_iter:
                return converged
            new, info = plain(history[-1])
            sizes.append(param_step((s0 if s == 0 else history[-2]).params, new.params))
            converged = converged or abs(info.delta) < tol
            if converged and not polish:
                return converged
            if s == 0 and converged and rho_max > 0 and settles(sizes[0], rho_max):
                return converged
        ratio = sizes[1] / sizes[0] if sizes[0] > 0 else 0.0
        rate = max(ratio, rho_max)
        if converged and settles(sizes[1], rate):
            return converged
        if ratio < 1.0:
            rho_max = max(rho_max, ratio)
        s1, s2 = history[-2], history[-1]
        ext = extrapolate(problem, s0, s1, s2, alpha_max)
        if ext is None or len(history) - 1 >= max_iter:
            continue
        params, anchors, factors, alpha = ext
        buf = np.empty((n, K)) if keep else None
        stats, obj, loglik = evaluate(problem, params, anchors, factors, buf)
        if np.isfinite(obj) and obj >= s2.objective:
            history.append(type(s2)(params, anchors, factors, stats, obj, loglik, True))
            if keep:
                resp.append(buf)
            if -alpha >= alpha_max:
                alpha_max *= ALPHA_GROWTH
        else:
            alpha_max = max(ALPHA_MAX0, alpha_max / ALPHA_GROWTH)
    return converged
