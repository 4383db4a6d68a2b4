"""EM's stopping rule: the objective has stopped moving, then the parameters have settled.

A restart has *converged* when the objective changes by less than ``tol``;
it is then *polished*: it iterates on until :func:`settled` (Aitken's
estimate of the distance to the fixed point below ``PARAM_TOL``), within
``max_iter`` in all. The polish is accelerated by SQUAREM (see
:mod:`em._squarem` for how the test is applied to its cycles); plain EM's
polish (CEM, or with acceleration switched off) also stops after
:func:`polish_budget` more iterations. The bootstrap's refits are not
polished (their spread is what counts).
"""

from __future__ import annotations

import numpy as np

from ._model import Params

#: a run has converged when its parameters are estimated to lie within this of the fixed point
#: (internal scale: weights, means in data standard deviations, log-sds)
PARAM_TOL = 1e-6
#: the polish runs at least this many iterations when the parameters have not settled
POLISH_MIN = 200


def param_step(a: Params, b: Params) -> float:
    """Size of one step on the internal scale.

    The largest change of a weight, a mean coordinate (in data sds) or a
    log-sd, as :func:`em._align.component_distance` measures components.
    """
    dw = np.abs(a.weights - b.weights).max()
    dm = np.abs(a.means - b.means).max()
    ds = 0.5 * np.abs(np.log(np.einsum("kii->ki", a.covariances))
                      - np.log(np.einsum("kii->ki", b.covariances))).max()
    return float(max(dw, dm, ds))


def settled(size: float, last: float) -> bool:
    """Whether the parameters are within ``PARAM_TOL`` of the fixed point EM converges to.

    EM converges linearly: near the fixed point the steps shrink by a rate
    ``r`` (the largest eigenvalue of the rate matrix, Dempster, Laird & Rubin
    1977, section 3), so the distance left after a step of size ``s`` is
    about ``s r / (1 - r)`` (Aitken's estimate; McLachlan & Krishnan 2008,
    section 4.9), with ``r`` estimated by the ratio of the last two steps.
    A criterion on the objective alone stops early along flat directions
    (``r`` near 1), where the objective hardly moves while the parameters
    still do. Steps below 1e-13 are round-off and count as settled.
    """
    if size < 1e-13:
        return True
    if not np.isfinite(last) or size >= last:
        return False
    r = size / last
    return size * r / (1.0 - r) < PARAM_TOL


def polish_budget(n_iter: int) -> int:
    """Return how many iterations the polish may add after ``n_iter`` met ``tol``.

    As many again, at least ``POLISH_MIN``: where EM's rate is so close to 1
    that this does not settle the parameters, the optimum is flat and its
    parameters are poorly determined; more iterations buy little there and
    cost every restart.
    """
    return max(POLISH_MIN, n_iter)


#: mclust's default tolerance on the relative change of the log-likelihood (``emControl()$tol[1]``)
MCLUST_TOL = 1e-5


def mclust_stop(loglik, tol: float = MCLUST_TOL) -> int | None:
    """Return where mclust's EM stops on a log-likelihood trace.

    The first ``t >= 1`` with ``|l_t - l_{t-1}| / (1 + |l_t|) <= tol``.

    mclust (its Fortran ``me*`` routines) evaluates the log-likelihood after
    each M-step and stops as soon as this relative change is at most ``tol``
    (default 1e-5), reporting that iterate: on a flat optimum, before the
    optimum. ``loglik[0]`` is the log-likelihood of the starting parameters
    (mclust's first M-step), so ``t`` counts mclust's iterations minus one.

    Parameters
    ----------
    loglik : array_like of shape (T + 1,)
    tol : float

    Returns
    -------
    int or None
        The index of the iterate mclust reports; None when the rule is not met
        within the trace.
    """
    ll = np.asarray(loglik, dtype=float)
    rel = np.abs(np.diff(ll)) / (1.0 + np.abs(ll[1:]))
    hit = np.flatnonzero(rel <= tol)
    return int(hit[0]) + 1 if hit.size else None
