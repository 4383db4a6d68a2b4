"""numpy kernels of :mod:`.labels`: assignment, memberships, Stephens' algorithm.

Everything here works on plain arrays whose leading axes are sample axes
(``(S,)`` or ``(chain, draw)``); the public functions are re-exported by
:mod:`mixcompare.comparisons.posterior.relabel`, which also holds the xarray adapters.

Permutation convention (shared by every function of both modules): a
permutation ``perm`` of shape ``(..., K)`` relabels a draw by
``relabeled[..., j] = draw[..., perm[j]]`` -- ``perm[j]`` is the component
of the draw that receives label ``j``. If a draw was produced from aligned
parameters ``theta`` as ``draw = theta[sigma]``, the permutation that undoes
it is the inverse of ``sigma``: ``perm[sigma[j]] = j``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from itertools import permutations
from math import prod

import numpy as np
from mixcompare import em
from mixcompare.em import draws_log_density
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp, xlogy

__all__ = ["StephensTrace", "mean_relabeled", "membership_per_draw", "stephens_kl"]

_log = logging.getLogger(__name__)

#: largest K for which all K! permutations are enumerated (6! = 720)
MAX_ENUMERATE_K = 6
#: ``method="enumerate"`` is refused above this K (8! = 40320 permutations)
_ENUMERATE_LIMIT = 8
#: largest number of float64 elements of a per-draw membership array (1.6 GB)
MAX_ELEMENTS = 200_000_000
#: elements of the temporaries built per chunk of draws
_CHUNK_ELEMENTS = 4_000_000
_TINY = np.finfo(float).tiny
_METHODS = ("auto", "enumerate", "hungarian")


# --------------------------------------------------------------------------- permutations
@cache
def all_permutations(K: int) -> np.ndarray:
    """All permutations of ``range(K)`` in lexicographic order (identity first): (K!, K)."""
    return np.array(list(permutations(range(K))), dtype=np.intp).reshape(-1, K)


def check_method(method: str, K: int) -> str:
    """Resolve ``method`` ("auto", "enumerate" or "hungarian") for K components."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    if method == "auto":
        return "enumerate" if K <= MAX_ENUMERATE_K else "hungarian"
    if method == "enumerate" and K > _ENUMERATE_LIMIT:
        raise ValueError(f"method='enumerate' needs K <= {_ENUMERATE_LIMIT} ({K}! permutations "
                         "is too many); use 'hungarian'.")
    return method


def check_perms(perms, sample_shape: tuple, K: int, name: str = "perms") -> np.ndarray:
    """Validate permutations of shape ``sample_shape + (K,)``; return them as (S, K) intp."""
    arr = np.asarray(perms)
    if arr.shape != tuple(sample_shape) + (K,):
        raise ValueError(f"{name} must have shape {tuple(sample_shape) + (K,)}, got {arr.shape}.")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}.")
    flat = arr.reshape(-1, K).astype(np.intp)
    ok = (flat >= 0).all() and (flat < K).all()
    if not ok or not (flat[:, :, None] == np.arange(K)).any(axis=1).all():
        raise ValueError(f"every row of {name} must be a permutation of 0..{K - 1}.")
    return flat


def permute(values: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Relabel ``values`` (S, K, ...) by ``perms`` (S, K): ``out[s, j] = values[s, perms[s, j]]``.

    Returns an array shaped like ``values``.
    """
    idx = perms.reshape(perms.shape + (1,) * (values.ndim - perms.ndim))
    return np.take_along_axis(values, idx, axis=perms.ndim - 1)


def assign(cost: np.ndarray, *, method: str = "auto", current: np.ndarray | None = None,
           rtol: float = 1e-12) -> np.ndarray:
    """Cheapest labelling of each draw for a per-draw assignment cost.

    Parameters
    ----------
    cost : ndarray of shape (S, K, K)
        ``cost[s, j, k]`` is the cost of giving component ``k`` of draw ``s``
        the label ``j``.
    method : {"auto", "enumerate", "hungarian"}, default "auto"
        "enumerate" scores all ``K!`` permutations at once (vectorised over
        draws, in chunks); "hungarian" calls
        :func:`scipy.optimize.linear_sum_assignment` draw by draw; "auto"
        enumerates for ``K <= 6``.
    current : ndarray of shape (S, K), optional
        Permutations kept unless another one is cheaper by more than ``rtol``
        (relative): ties and rounding never move a draw.
    rtol : float, default 1e-12

    Returns
    -------
    ndarray of shape (S, K)
        ``perms[s]`` minimises ``sum_j cost[s, j, perms[s, j]]``; ties go to
        the first permutation in lexicographic order (identity first).
    """
    S, K, _ = cost.shape
    method = check_method(method, K)
    best = np.empty(S)
    if method == "enumerate":
        P = all_permutations(K)
        rows = np.arange(K)
        idx = np.empty(S, dtype=np.intp)
        step = max(1, _CHUNK_ELEMENTS // P.size)
        for a in range(0, S, step):
            tot = cost[a:a + step][:, rows, P].sum(axis=-1)  # (chunk, K!)
            idx[a:a + step] = tot.argmin(axis=1)
            best[a:a + step] = tot[np.arange(tot.shape[0]), idx[a:a + step]]
        perms = P[idx]
    else:
        perms = np.empty((S, K), dtype=np.intp)
        for s in range(S):
            rows, cols = linear_sum_assignment(cost[s])
            perms[s, rows] = cols
            best[s] = cost[s, rows, cols].sum()
    if current is not None:
        cur = np.take_along_axis(cost, current[:, :, None], axis=2)[..., 0].sum(axis=1)
        keep = best >= cur - rtol * np.maximum(1.0, np.abs(cur))
        perms[keep] = current[keep]
    return perms


# --------------------------------------------------------------------------- memberships
def as_draws(weights, means, variances) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Stack draws: weights (S, K), means and variances (S, K, d), and the sample shape."""
    w = np.asarray(weights, dtype=float)
    mu = np.asarray(means, dtype=float)
    var = np.asarray(variances, dtype=float)
    if w.ndim < 2:
        raise ValueError(f"weights must have shape (..., K) with sample axes first, got {w.shape}.")
    shape, K = w.shape[:-1], w.shape[-1]
    if mu.shape == w.shape:  # 1-D mixture: (..., K)
        mu = mu[..., None]
    if var.shape == w.shape:
        var = var[..., None]
    full = var.ndim == mu.ndim + 1 and var.shape[:-1] == mu.shape
    if mu.ndim != w.ndim + 1 or mu.shape[:-1] != w.shape or not (var.shape == mu.shape or full):
        raise ValueError("means and variances must have shape (..., K) or (..., K, d) matching "
                         f"weights {w.shape} (or covariances (..., K, d, d)); got "
                         f"{np.shape(means)} and {np.shape(variances)}.")
    S = prod(shape)
    d = mu.shape[-1]
    var = var.reshape(S, K, d, d) if full else var.reshape(S, K, -1)
    return w.reshape(S, K), mu.reshape(S, K, -1), var, shape


def membership_per_draw(weights, means, variances, X, *, chunk: int | None = None,
                        max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    r"""Classification probabilities of every observation under every draw.

    Parameters
    ----------
    weights : array_like of shape (\*sample, K)
        Sample axes first, e.g. ``(S,)`` or ``(chain, draw)``.
    means : array_like of shape (\*sample, K) or (\*sample, K, d)
    variances : array_like, same shape as ``means``
        Variances (1-D) or the diagonals of the covariances: the densities
        are those of diagonal-covariance Gaussians.
    X : array_like of shape (n,) or (n, d)
        Checked by :func:`em.validate_data`.
    chunk : int, optional
        Draws evaluated at once; by default chosen so that the temporaries
        hold about 4e6 doubles.
    max_elements : int, default 2e8
        Largest ``S * n * K`` accepted (the output is that many doubles).

    Returns
    -------
    ndarray of shape (\*sample, n, K)
        ``p[..., i, k] = w_k f_k(x_i) / sum_j w_j f_j(x_i)``; rows sum to one.

    Raises
    ------
    ValueError
        Shapes that disagree, or ``S * n * K > max_elements`` (thin the
        draws, e.g. ``posterior.isel(draw=slice(None, None, 4))``).

    Notes
    -----
    Computed in log space, ``p = exp(l - logsumexp_k l)`` with
    ``l_ik = log w_k + log f_k(x_i)``, so that far-away observations do not
    underflow to 0/0; draws are streamed in chunks. A zero weight gives
    ``p = 0`` exactly.
    """
    w, mu, var, shape = as_draws(weights, means, variances)
    X = em.validate_data(X)
    X2 = X.reshape(X.shape[0], -1)
    S, K, d = mu.shape
    n = X2.shape[0]
    if X2.shape[1] != d:
        raise ValueError(f"X has {X2.shape[1]} feature(s) but the draws have {d}.")
    if S * n * K > max_elements:
        raise ValueError(
            f"membership probabilities would need {S} draws x {n} observations x {K} components "
            f"= {S * n * K:.3g} doubles (> max_elements = {max_elements:.3g}); thin the draws "
            "(e.g. posterior.isel(draw=slice(None, None, 4))) or subsample the observations."
        )
    if chunk is None:
        chunk = max(1, _CHUNK_ELEMENTS // (n * K * d))
    out = np.empty((S, n, K))
    for a in range(0, S, chunk):
        if var.ndim == 4:  # full covariances: Cholesky-based, correlations included
            lp = draws_log_density(X2, w[a:a + chunk], mu[a:a + chunk],
                                   covariances=var[a:a + chunk])
        else:
            lp = draws_log_density(X2, w[a:a + chunk], mu[a:a + chunk], var[a:a + chunk])
        out[a:a + chunk] = np.exp(lp - logsumexp(lp, axis=2, keepdims=True))
    return out.reshape(shape + (n, K))


# --------------------------------------------------------------------------- Stephens
@dataclass(frozen=True)
class StephensTrace:
    """Record of a run of :func:`stephens_kl`.

    Attributes
    ----------
    objective : ndarray of shape (n_iter,), or (n_iter + 1,) if not converged
        Mean over draws of ``sum_i KL(p_i^(s) relabelled || q_i)`` after
        each update of ``Q`` (the last entry is at the returned labelling);
        non-increasing.
    n_changed : ndarray of shape (n_iter,)
        Draws whose permutation changed at each iteration (0 last when
        converged).
    converged : bool
        True when an iteration changed no permutation.
    n_iter : int
    """

    objective: np.ndarray
    n_changed: np.ndarray
    converged: bool
    n_iter: int


def mean_relabeled(P: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Membership probabilities of relabelled draws, averaged: ``mean_s P[s, i, perms[s, j]]``.

    Parameters
    ----------
    P : ndarray of shape (S, n, K)
        Per-draw membership probabilities (:func:`membership_per_draw`).
    perms : ndarray of int, shape (S, K)

    Returns
    -------
    ndarray of shape (n, K)
        What :func:`models.membership_probabilities` gives for the relabelled
        draws, without evaluating a density again.
    """
    S, n, K = P.shape
    step = max(1, _CHUNK_ELEMENTS // max(1, n * K * K))
    return _sum_relabeled(P, perms, step) / S


def _sum_relabeled(P: np.ndarray, perms: np.ndarray, step: int, idx=None) -> np.ndarray:
    """Sum ``P[s, i, perms[s, j]]`` over the draws ``idx`` (all by default): (n, K).

    Each draw is multiplied by its permutation matrix ``E[k, j] = [perms[j] == k]``
    (a batched BLAS product, much faster than fancy indexing), chunk by chunk.
    """
    K = P.shape[2]
    everything = idx is None
    idx = np.arange(P.shape[0]) if everything else idx
    out = np.zeros(P.shape[1:])
    for a in range(0, idx.size, step):
        sel = idx[a:a + step]
        E = (perms[sel, None, :] == np.arange(K)[None, :, None]).astype(float)
        out += np.matmul(P[a:a + step] if everything else P[sel], E).sum(axis=0)
    return out


def _kl_cost(P: np.ndarray, logQ: np.ndarray, step: int) -> np.ndarray:
    """``cost[s, j, k] = -sum_i P[s, i, k] log Q[i, j]``: (S, K, K)."""
    cost = np.empty((P.shape[0], P.shape[2], P.shape[2]))
    for a in range(0, P.shape[0], step):
        cost[a:a + step] = -np.matmul(logQ.T, P[a:a + step])  # batched (K, n) @ (n, K)
    return cost


def stephens_kl(p, *, init=None, method: str = "auto", max_iter: int = 100,
                return_trace: bool = False):
    r"""Stephens' (2000) Kullback-Leibler relabelling of per-draw membership probabilities.

    Parameters
    ----------
    p : array_like of shape (\*sample, n, K)
        Classification probabilities of each draw, e.g. from
        :func:`membership_per_draw`; ``sample`` is ``(S,)`` or ``(chain, draw)``.
    init : array_like of shape (\*sample, K), optional
        Starting permutations (e.g. from :func:`pivot_permutations`); the
        identity by default.
    method : {"auto", "enumerate", "hungarian"}, default "auto"
        How each draw's permutation is chosen (see Notes).
    max_iter : int, default 100
        Cap on the iterations; a warning is logged if it is reached.
    return_trace : bool, default False
        Also return a :class:`StephensTrace`.

    Returns
    -------
    perms : ndarray of shape (\*sample, K)
        ``relabeled[..., j] = draw[..., perms[..., j]]``.
    trace : StephensTrace
        Only with ``return_trace=True``.

    Notes
    -----
    Minimises over the permutations ``nu_s`` and a matrix ``Q`` (n, K) of
    probabilities the total divergence

    .. math:: D = \sum_s \sum_i \sum_j p^{(s)}_{i \nu_s(j)}
              \log \frac{p^{(s)}_{i \nu_s(j)}}{q_{ij}}

    by coordinate descent, from the initial labelling:

    1. ``Q`` = mean over draws of the relabelled ``p`` (the minimiser of
       ``D`` for fixed permutations);
    2. each draw takes the permutation minimising its term of ``D`` given
       ``Q``. With ``cost[s, j, k] = -sum_i p_ik log q_ij`` (the
       ``sum p log p`` part does not depend on the labelling) the term is
       ``sum_j cost[s, j, nu(j)]``: all ``K!`` permutations are scored at
       once for ``K <= 6``, otherwise the Hungarian algorithm solves the
       assignment problem for each draw.

    Steps 1-2 repeat until no permutation changes (a draw keeps its
    permutation unless another is strictly better, so ties cannot cycle);
    ``D`` never increases. ``0 log 0 = 0``, and ``log q`` is floored at the
    smallest positive double. Memory: ``p`` itself (``S n K`` doubles) plus
    chunked temporaries of about 4e6 doubles; no relabelled copy of ``p``
    is made, and ``Q`` is updated only for the draws whose permutation
    changed (recomputed in full when more than a quarter changed). There is
    no reference labelling: the result is defined up to one permutation
    common to all draws, fixed by ``init``.

    References
    ----------
    .. [1] Stephens, M. (2000). Dealing with label switching in mixture
       models. *Journal of the Royal Statistical Society B* 62(4), 795-809.
       https://doi.org/10.1111/1467-9868.00265
    .. [2] Papastamoulis, P. (2016). label.switching: An R package for
       dealing with the label switching problem in MCMC outputs. *Journal of
       Statistical Software* 69(1). https://doi.org/10.18637/jss.v069.c01
    """
    p = np.asarray(p, dtype=float)
    if p.ndim < 3:
        raise ValueError(f"p must have shape (*sample, n, K), got {p.shape}.")
    shape, (n, K) = p.shape[:-2], p.shape[-2:]
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1 + 1e-12:
        raise ValueError("p must hold probabilities in [0, 1].")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}.")
    S = prod(shape)
    P = p.reshape(S, n, K)
    if init is None:
        perms = np.tile(np.arange(K, dtype=np.intp), (S, 1))
    else:
        perms = check_perms(init, shape, K, "init").copy()
    step = max(1, _CHUNK_ELEMENTS // (n * K))
    negent = np.concatenate([xlogy(P[a:a + step], P[a:a + step]).sum(axis=(1, 2))
                             for a in range(0, S, step)])

    def objective(cost, perms):
        return float(np.mean(negent + np.take_along_axis(
            cost, perms[:, :, None], axis=2)[..., 0].sum(axis=1)))

    history, changed, converged = [], [], False
    total = _sum_relabeled(P, perms, step)  # S * Q, updated draw by draw below
    for it in range(max_iter):
        logQ = np.log(np.maximum(total / S, _TINY))
        cost = _kl_cost(P, logQ, step)
        history.append(objective(cost, perms))
        new = assign(cost, method=method, current=perms)
        moved = np.flatnonzero(np.any(new != perms, axis=1))
        changed.append(int(moved.size))
        if moved.size > S // 4:
            total = _sum_relabeled(P, new, step)
        elif moved.size:
            total += (_sum_relabeled(P, new, step, moved)
                      - _sum_relabeled(P, perms, step, moved))
        perms = new
        _log.debug("Stephens iteration %d: objective %.6g, %d draws relabelled",
                   it + 1, history[-1], changed[-1])
        if changed[-1] == 0:
            converged = True
            break
    if not converged:
        logQ = np.log(np.maximum(total / S, _TINY))
        history.append(objective(_kl_cost(P, logQ, step), perms))
        _log.warning("Stephens relabelling stopped after max_iter=%d iterations with %d draws "
                     "still changing labels.", max_iter, changed[-1])
    perms = perms.reshape(shape + (K,))
    if return_trace:
        return perms, StephensTrace(np.array(history), np.array(changed), converged,
                                    len(changed))
    return perms
