"""Split-and-merge EM (SMEM; Ueda, Nakano, Ghahramani & Hinton 2000) after the restarts.

From the best proper optimum, a candidate merges two components ``i, j`` and
splits a third ``k`` (so ``K`` is unchanged), and EM runs from there. The
candidates are ranked as in Ueda et al.: merge pairs by ``J_merge(i, j) =
P_i . P_j`` (``P_i`` the responsibilities of component ``i`` over the data:
components explaining the same points), split candidates by the local
Kullback-Leibler divergence ``J_split(k)`` between the data as component
``k`` sees them and its Gaussian (:func:`split_scores`), and triples in order
of their merge pair, then of their split candidate. The first
``SMEM_CANDIDATES`` are tried; the first that reaches a proper optimum (no
degenerate or spurious component) of higher objective becomes the new best
and the ranking is redone from it, at most ``SMEM_ROUNDS`` times.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._design import Components
from ._engine import Problem, _run, degenerate, select, spurious
from ._estep import log_prob
from ._floor import project
from ._model import Params

#: candidates (merge pair, split component) tried per round (Ueda et al.'s C_max)
SMEM_CANDIDATES = 5
#: rounds of split-and-merge at most (each round starts from a new best optimum)
SMEM_ROUNDS = 10
#: an improvement must exceed this much of the objective (round-off of a polished optimum)
IMPROVE_ATOL = 1e-8


def _log_densities(problem: Problem, state) -> np.ndarray:
    """Return ``log(w_k N(x_i | mu_k, Sigma_k))`` of shape (n, K)."""
    p = state.params
    comp = Components(p.weights, state.anchors, p.covariances, state.factors)
    return np.concatenate([lp for _, _, lp in log_prob(problem.design, comp)])


def merge_scores(resp: np.ndarray) -> np.ndarray:
    """Return ``J_merge`` of shape (K, K): ``P_i . P_j`` (responsibilities (n, K))."""
    return resp.T @ resp


def split_scores(log_dens: np.ndarray, log_w: np.ndarray, resp: np.ndarray) -> np.ndarray:
    """Return ``J_split`` of shape (K,): each component's local Kullback-Leibler divergence.

    Ueda et al.'s ``J_split(k) = int f_k log(f_k / p_k)`` with ``f_k`` the data
    weighted by the responsibilities, ``f_k(x_i) = r_ik / N_k``, taken here
    on the sample: ``p_k`` is the component's density at the data points
    renormalised over them, ``q_ik = N(x_i | k) / sum_j N(x_j | k)``, and
    ``J_split(k) = sum_i f_ik log(f_ik / q_ik)``. Large when the component's
    points are not spread as its Gaussian says (e.g. two clusters under one).

    Parameters
    ----------
    log_dens : ndarray of shape (n, K)
        ``log(w_k N(x_i | k))``.
    log_w : ndarray of shape (K,)
    resp : ndarray of shape (n, K)
    """
    log_q = log_dens - log_w - logsumexp(log_dens - log_w, axis=0)
    f = resp / resp.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(f > 0, f * (np.log(f) - log_q), 0.0)
    return terms.sum(axis=0)


def candidates(problem: Problem, state) -> list[tuple[int, int, int]]:
    """Return the triples ``(i, j, k)`` (merge ``i, j``, split ``k``) in Ueda et al.'s order."""
    K = problem.spec.n_components
    log_dens = _log_densities(problem, state)
    resp = np.exp(log_dens - logsumexp(log_dens, axis=1, keepdims=True))
    jm = merge_scores(resp)
    js = split_scores(log_dens, np.log(state.params.weights), resp)
    pairs = sorted(((i, j) for i in range(K) for j in range(i + 1, K)), key=lambda p: -jm[p])
    splits = list(np.argsort(-js, kind="stable"))
    return [(i, j, int(k)) for i, j in pairs for k in splits if k not in (i, j)]


def candidate_start(problem: Problem, state, i: int, j: int, k: int):
    """Return the start ``(params, anchors, factors)`` that merges ``i, j`` and splits ``k``.

    The merged component matches the pair's first two moments; ``k`` is
    split along its principal axis ``u`` (variance ``lam``) into two halves
    at ``mu_k +- sqrt(lam) u / 2`` with covariance ``Sigma_k - lam u u^T / 4``
    (the pair's moments are ``k``'s). Tied and spherical covariances are
    kept as they are (their structure ties them); the merged one is put on
    the structure (diagonal for ``diag``). The merged component takes slot
    ``i``, the halves slots ``j`` and ``k``.
    """
    p, scale, kind = state.params, problem.scaling.scale, problem.spec.kind
    w, a, cov = p.weights.copy(), state.anchors.copy(), p.covariances.copy()
    wm = w[i] + w[j]
    am = (w[i] * a[i] + w[j] * a[j]) / wm
    if kind not in ("tied", "spherical"):
        di, dj = (a[i] - am) / scale, (a[j] - am) / scale
        cm = (w[i] * (cov[i] + np.outer(di, di)) + w[j] * (cov[j] + np.outer(dj, dj))) / wm
        cov[i] = np.diag(np.diag(cm)) if kind == "diag" else cm
    vals, vecs = np.linalg.eigh(cov[k])
    lam, u = vals[-1], vecs[:, -1]
    shift = 0.5 * np.sqrt(lam) * u * scale
    ck = cov[k] if kind in ("tied", "spherical") else cov[k] - 0.25 * lam * np.outer(u, u)
    w[i], a[i] = wm, am
    w[j] = w[k] = 0.5 * w[k]
    a[j], a[k] = a[k] - shift, a[k] + shift
    cov[j] = cov[k] = ck
    cov, factors = project(cov, problem.floor, kind, problem.design.diagonal)
    return Params(w, problem.design.internal_means(a), cov), a, factors


def _proper(problem: Problem, state) -> bool:
    return not (degenerate(problem, state).any() or spurious(problem, state).any())


def applies(problem: Problem) -> bool:
    """Split-and-merge needs three components, soft EM and no fixed block."""
    return (problem.spec.n_components >= 3 and not problem.hard and not problem.spec.fixed
            and problem.fixed_anchors is None)


def split_and_merge(problem: Problem, runs: list, *, max_iter: int, tol: float,
                    atlas_tol: float, keep_resp: bool, polish: bool) -> list[str]:
    """Run the split-and-merge stage, appending its runs to ``runs``; return their origins.

    Parameters
    ----------
    problem : Problem
    runs : list
        The restarts, as :func:`em._engine.run_restarts` (appended to in place).
    max_iter, tol, atlas_tol, keep_resp, polish
        As :func:`em.fit`.

    Returns
    -------
    list of str
        One origin per appended run, e.g. ``"split-and-merge: merge 0+2, split 1"``
        (component indices of the optimum it started from).
    """
    origins: list[str] = []
    if not applies(problem):
        return origins
    for _ in range(SMEM_ROUNDS):
        best = runs[select(problem, runs, atlas_tol)[0][0]][0][-1]
        if not _proper(problem, best):
            break
        for i, j, k in candidates(problem, best)[:SMEM_CANDIDATES]:
            p0, a0, f0 = candidate_start(problem, best, i, j, k)
            run = _run(problem, p0, a0, f0, max_iter, float(tol), keep_resp, polish)
            runs.append(run)
            origins.append(f"split-and-merge: merge {i}+{j}, split {k}")
            end = run[0][-1]
            if _proper(problem, end) and end.objective > best.objective + IMPROVE_ATOL:
                break
        else:
            break
    return origins
