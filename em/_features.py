"""The fast E-step: exponential-family features and one matrix product per chunk.

A Gaussian mixture is a mixture of exponential-family densities: with the
feature map ``T(z) = (1, z, vech(z z^T))`` each weighted component
log-density is linear in ``T``, ``log w_k + log N(z | mu_k, Sigma_k) =
eta_k . T(z)``. One E-step is then a matrix product ``eta^T T``, an ``exp``
and a normalisation, and the statistics are the responsibility-weighted sums
``S = R T^T``. The loop over the data is chunked, so memory stays O(n) and
buffers stay in cache.

The features are uncentred: ``eta_k . T(z)`` adds terms of size
``|mu_k|^2 / sigma_k^2`` that cancel, and so do the moments ``S`` when a
variance is formed from them. :func:`em._estep.e_step` therefore uses this
path only while that ratio is small for every component (the round-off is
then a few hundred ulps at most) and the centred path otherwise.

Every function here is pure: it takes arrays and returns new ones.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._model import Params

#: most points per chunk of the E-step (not a power of two: rows of the chunk
#: buffers a power-of-two apart collide in the cache sets)
CHUNK = 12000
#: doubles in a chunk's buffers, ``(p + K) * chunk``; bounds the chunk for long features
_CHUNK_DOUBLES = 1 << 18
_MIN_CHUNK = 1024
_TINY = 1e-280
_HUGE = 1e280
#: up to this many features a chunk of T is first copied to a contiguous buffer:
#: the products with it are then much faster than on rows n apart
_COPY_MAX_P = 8
#: the log-likelihood takes one log per group of this many point densities (their product)
_PROD_GROUP = 8
#: point densities above this keep a group's product in the normal range (>= 2**-960)
_PROD_LO = 2.0**-120
#: largest bound on log(1 + sum_k exp(L_k - L_b)) for which the pivot component is used
_PIVOT_MAX_LOG = 600.0
_LOG_2PI = float(np.log(2.0 * np.pi))
#: stands in for the log-weight -inf of an empty component (exp of it is 0)
_NO_WEIGHT = 1e300


@functools.lru_cache(maxsize=32)
def quad_index(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of the upper triangle (``i <= j``) used by ``vech``.

    Cached (read-only arrays): the E- and M-steps ask for them every iteration.
    """
    iu, ju = np.triu_indices(d)
    iu.flags.writeable = False
    ju.flags.writeable = False
    return iu, ju


def n_features_T(d: int) -> int:
    """Length of the feature vector ``T(z)`` for dimension ``d``."""
    return 1 + d + d * (d + 1) // 2


def features(Z: np.ndarray) -> np.ndarray:
    """Sufficient-statistic features, feature-major.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)

    Returns
    -------
    T : ndarray of shape (p, n_samples)
        Rows ``1``, ``z_1 .. z_d``, then ``z_i z_j`` for ``i <= j``.
    """
    n, d = Z.shape
    T = np.empty((n_features_T(d), n))
    T[0] = 1.0
    lin = T[1 : 1 + d]
    lin[...] = Z.T
    # rows z_i z_j, j = i..d-1, in the order of quad_index, written in place (no temporaries)
    row = 1 + d
    for i in range(d):
        np.multiply(lin[i], lin[i:], out=T[row : row + d - i])
        row += d - i
    return T


def natural_params(weights: np.ndarray, means: np.ndarray, precisions: np.ndarray,
                   logdet: np.ndarray) -> np.ndarray:
    """Coefficients ``eta`` with ``log w_k N(z | mu_k, Sigma_k) = eta[:, k] . T(z)``.

    Parameters
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, d)
    precisions : ndarray of shape (n_components, d, d)
        ``Sigma_k^{-1}``.
    logdet : ndarray of shape (n_components,)
        ``log det Sigma_k``.

    Returns
    -------
    eta : ndarray of shape (p, n_components)
    """
    K, d = means.shape
    prec = 0.5 * (precisions + np.swapaxes(precisions, 1, 2))
    lin = np.einsum("kij,kj->ki", prec, means)
    with np.errstate(divide="ignore"):
        logw = np.log(weights)
    const = logw - 0.5 * (d * _LOG_2PI + logdet + np.einsum("ki,ki->k", means, lin))
    iu, ju = quad_index(d)
    quad = -prec[:, iu, ju] * np.where(iu == ju, 0.5, 1.0)
    return np.concatenate([const[:, None], lin, quad], axis=1).T.copy()


def natural_params_of(p: Params) -> np.ndarray:
    """:func:`natural_params` of dense parameters (factorised by Cholesky)."""
    chol = np.linalg.cholesky(p.covariances)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return natural_params(p.weights, p.means, np.linalg.inv(p.covariances), logdet)


def _stable_block(T_bad: np.ndarray, eta: np.ndarray):
    """Log-sum-exp for the columns whose plain ``exp`` under- or overflowed."""
    L = eta.T @ T_bad
    m = L.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    E = np.exp(L - m)
    s = E.sum(axis=0)
    return E / s, m + np.log(s)


def _chunk_stats(L: np.ndarray, X: np.ndarray, out: np.ndarray, by_gemm: bool) -> None:
    """``out = L @ X.T`` (K, p): one gemm, or min(K, p) matrix-vector products."""
    if by_gemm:
        np.matmul(L, X.T, out=out)
    elif L.shape[0] <= X.shape[0]:
        for k in range(L.shape[0]):
            np.matmul(X, L[k], out=out[k])
    else:
        for j in range(X.shape[0]):
            np.matmul(L, X[j], out=out[:, j])


def _pivot(eta: np.ndarray):
    """1-D: a component ``b`` whose log-ratios ``D_k(z) = L_k(z) - L_b(z)`` are bounded above.

    ``D_k(z) = dc + dl z + da z^2`` is bounded iff ``da < 0`` for every ``k != b``: ``b``
    is the strictly widest component. Returns ``(b, bound)`` with
    ``log(1 + sum_k exp D_k(z)) <= bound`` for every ``z``, or None when there is no such
    component or the bound is too large.
    """
    c, lin, a = eta.tolist()
    K = len(c)
    b = max(range(K), key=a.__getitem__)
    if K < 2 or not (math.isfinite(c[b]) and math.isfinite(lin[b]) and math.isfinite(a[b])):
        return None
    terms = [0.0]
    for k in range(K):
        if k != b:
            da = a[k] - a[b]
            if not (da < 0 and math.isfinite(lin[k])):
                return None
            terms.append(c[k] - c[b] - 0.25 * (lin[k] - lin[b]) ** 2 / da)  # max of D_k
    top = max(terms)
    if not top < _PIVOT_MAX_LOG:
        return None
    bound = top + math.log(sum(math.exp(t - top) for t in terms))
    return (b, bound) if bound < _PIVOT_MAX_LOG else None


def feature_e_step(T: np.ndarray, eta: np.ndarray, *, hard: bool = False, resp_out=None):
    """One pass over the data: assignment step plus the statistics for the M-step.

    Parameters
    ----------
    T : ndarray of shape (p, n_samples)
        Features from :func:`features`.
    eta : ndarray of shape (p, n_components)
        Natural parameters from :func:`natural_params`.
    hard : bool, default False
        False: the E-step (responsibilities ``r_ik = w_k f_k(x_i) / f(x_i)``).
        True: the C-step of classification EM (``r_ik = 1`` for the most
        probable component, 0 otherwise).
    resp_out : ndarray of shape (n_samples, n_components), optional
        When given, the responsibilities are written into it.

    Returns
    -------
    stats : ndarray of shape (n_components, p)
        ``S = R^T T``: counts, first and second moments per component.
    objective : float
        Soft: the observed-data log-likelihood ``sum_i log sum_k w_k f_k(x_i)``.
        Hard: the classification log-likelihood ``sum_i max_k log w_k f_k(x_i)``.
    """
    p, n = T.shape
    K = eta.shape[1]
    # a component of weight 0 has constant -inf; BLAS kernels multiply it by the zero padding
    # of their packed panels (0 * inf: a spurious "invalid" flag), so use a huge finite value
    eta = eta.copy()
    eta[0] = np.maximum(eta[0], -_NO_WEIGHT)
    etaT = np.ascontiguousarray(eta.T)
    G = _PROD_GROUP
    chunk = min(CHUNK, max(_MIN_CHUNK, _CHUNK_DOUBLES // (p + K) // G * G))
    width = min(chunk, n)
    # Soft E-step without resp_out: instead of dividing the K densities of a point by
    # their sum s, divide its p features (S = L (T/s)^T): p - 1 products, as T[0] = 1.
    scale_T = not hard and resp_out is None and p - 1 < K
    copy = scale_T or p <= _COPY_MAX_P
    # one gemm for the statistics: a fixed choice, never a timed one, so the same data give
    # bit-identical results in every process (a timing could differ between workers)
    by_gemm = True
    # 1-D pivot (see _pivot): with L_b as reference, s = e^{L_b} q, q = 1 + sum_{k != b} e^{D_k}
    # in [1, e^bound]: K - 1 exps per point, no underflow, and
    # sum_i log s_i = eta_b . sum_i T_i + sum_i log q_i, where sum_i T_i = sum_k S_k.
    pivot = _pivot(eta) if scale_T and p == 3 else None
    if pivot is not None:
        b, bound = pivot
        order = [b] + [k for k in range(K) if k != b]
        etaT = np.ascontiguousarray((eta[:, order[1:]] - eta[:, [b]]).T)
    # products of G sums s can overflow unless the pivot bounds s
    check_products = pivot is None or G * bound > 700.0
    Lbuf = np.empty((K, width))
    if pivot is not None:
        Lbuf[0] = 1.0  # e^{D_b} = 1; the rows below are written by every chunk
    Cbuf = np.empty((p, width)) if copy else None
    sbuf = None if scale_T else np.empty(width)
    starts = range(0, n, chunk)
    parts = np.empty((len(starts), K, p))  # per-chunk statistics, summed at the end
    prods = np.ones((len(starts), width // G))  # products of G point densities (1: unused)
    views = {}  # per chunk length: views of the buffers (made once, not per chunk)
    objective = 0.0
    with np.errstate(over="ignore"):  # overflow is detected and handled below
        for i, start in enumerate(starts):
            stop = min(start + chunk, n)
            m = stop - start
            if m not in views:
                L = Lbuf[:, :m]
                C = Cbuf[:, :m] if copy else None
                s = C[0] if scale_T else sbuf[:m]  # C[0] (ones) is free once L is computed
                grouped = s.reshape(G, m // G) if m % G == 0 and start % G == 0 else None
                views[m] = (L, L[1:] if pivot is not None else L, tuple(L), C,
                            C[1:] if copy else None, s, grouped)
            L, Lout, Lrows, C, C1, s, grouped = views[m]
            if copy:
                C[0].fill(1.0)  # T[0] = 1: not read from memory
                np.copyto(C1, T[1:, start:stop])
            else:
                C = T[:, start:stop]
            np.matmul(etaT, C, out=Lout)
            if hard:
                lab = L.argmax(axis=0)
                objective += float(np.take_along_axis(L, lab[None], axis=0).sum())
                L[...] = 0.0
                L[lab, np.arange(m)] = 1.0
                _chunk_stats(L, C, parts[i], by_gemm)
                if resp_out is not None:
                    resp_out[start:stop] = L.T
                continue
            np.exp(Lout, out=Lout)
            if K == 1:
                np.copyto(s, L[0])
            else:
                np.add(Lrows[0], Lrows[1], out=s)
                for k in range(2, K):
                    np.add(s, Lrows[k], out=s)
            lo = 1.0 if pivot is not None else np.minimum.reduce(s)
            # log-likelihood: sum log s = sum over groups of log(product of G densities),
            # exact to rounding while every product stays in the normal range
            fast = grouped is not None and lo > _PROD_LO
            if fast:
                pc = prods[i, : m // G]
                np.multiply.reduce(grouped, axis=0, out=pc)
                if check_products and not np.maximum.reduce(pc) < np.inf:  # overflow
                    pc.fill(1.0)
                    fast = False
            if not fast:
                Tc = T[:, start:stop]
                if lo > _TINY and np.maximum.reduce(s) < _HUGE:
                    objective += float(np.log(s).sum())
                else:
                    ok = (s > _TINY) & (s < _HUGE)
                    bad = np.flatnonzero(~ok)
                    good = np.flatnonzero(ok)
                    objective += float(np.log(s[good]).sum())
                    L[:, good] *= 1.0 / s[good]
                    Rb, lb = _stable_block(Tc[:, bad], eta)
                    L[:, bad] = Rb
                    objective += float(lb.sum())
                    _chunk_stats(L, Tc, parts[i], by_gemm)
                    if resp_out is not None:
                        resp_out[start:stop] = L.T
                    continue
            np.divide(1.0, s, out=s)
            if scale_T:
                np.multiply(C1, s, out=C1)  # C = T_chunk / s
            else:
                np.multiply(L, s, out=L)
                if resp_out is not None:
                    resp_out[start:stop] = L.T
            _chunk_stats(L, C, parts[i], by_gemm)
    objective += float(np.log(prods).sum())
    stats = parts.sum(axis=0)
    if pivot is not None:
        stats[order] = stats.copy()
        objective += float(eta[:, b] @ stats.sum(axis=0))
    return stats, objective


def feature_log_prob(T: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Weighted component log-densities ``log w_k f_k(x_i)``, shape (n_samples, n_components)."""
    return (eta.T @ T).T
