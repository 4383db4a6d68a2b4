"""The atlas of optima: every restart kept, equal solutions merged up to relabelling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._align import match_components


@dataclass(frozen=True)
class Restart:
    """One run of EM from one starting point.

    Attributes
    ----------
    log_likelihood : float
        Final observed-data log-likelihood (user scale).
    objective_trace : ndarray of shape (n_iter + 1,)
        The monotone objective at each iteration (log-likelihood for EM and
        MAP-EM's log posterior; classification log-likelihood for CEM).
    n_iter : int
    converged : bool
    optimum : int
        Index of the optimum in ``EMResult.optima`` this restart reached.
    origin : str
        ``"restart"`` for a random start; for a run of the split-and-merge
        stage of ``n_init="auto"``, which components of the best optimum it
        merged and split (e.g. ``"split-and-merge: merge 0+2, split 1"``).
    """

    log_likelihood: float
    objective_trace: np.ndarray
    n_iter: int
    converged: bool
    optimum: int
    origin: str = "restart"


@dataclass(frozen=True)
class Optimum:
    """A distinct fixed point reached by one or more restarts.

    Attributes
    ----------
    weights, means, variances, covariances : ndarray
        Parameters (user scale), shaped as in ``EMResult``.
    log_likelihood : float
    objective : float
        The maximised objective (equals ``log_likelihood`` for MLE EM).
    count : int
        Number of random restarts that reached it (split-and-merge runs,
        which start from another optimum, are not counted).
    basin_share : float
        ``count`` over the number of random restarts.
    n_iter : tuple of int
        Iterations of each restart that reached it.
    converged : bool
        True when every such restart met ``tol``.
    degenerate : bool
        A component at the variance floor or with effective size below d + 1.
    restarts : tuple of int
        Indices of the restarts (random and split-and-merge) that reached it.
    spurious : bool
        A component fitted to a few close points with a tiny variance (see
        :func:`em._spurious.spurious_components`); such an optimum is kept
        in the atlas but not returned as the fit while a proper one exists.
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    covariances: np.ndarray
    log_likelihood: float
    objective: float
    count: int
    basin_share: float
    n_iter: tuple
    converged: bool
    degenerate: bool
    restarts: tuple
    spurious: bool = False


def group_optima(params_int: list, objectives: list, tol: float) -> list[list[int]]:
    """Group restarts whose internal-scale parameters agree up to a permutation.

    Two restarts join the same group when, after Hungarian matching, every
    matched component differs by less than ``tol`` (standardised units; see
    ``component_distance``). Groups are ordered by decreasing objective; a
    restart joins the first group whose representative it matches.
    """
    order = np.argsort(-np.asarray(objectives), kind="stable")
    groups: list[list[int]] = []
    reps: list = []
    for i in order:
        for g, rep in zip(groups, reps, strict=True):
            _, dist = match_components(rep, params_int[i])
            if dist < tol:
                g.append(int(i))
                break
        else:
            groups.append([int(i)])
            reps.append(params_int[i])
    return groups
