"""E-step and C-step of EM on the centred footing, and the component log-densities.

The E-step works with the differences ``x - anchor_k`` from each component's
anchor and returns statistics centred on the anchors (see :mod:`em._design`);
the M-step (:mod:`em._mstep`) returns each new mean as an offset from its
anchor, so the next E-step is again centred on the current means.

When every component is well conditioned relative to the data's centre,
``kappa_k = |mu_k|^2 / lambda_min(Sigma_k) <= FAST_KAPPA`` on the internal
scale, the E-step takes the fast path of :mod:`em._features` (one matrix
product per chunk) and its statistics are re-centred on the anchors, which
costs O(K d^2). The uncentred features lose about ``2 kappa`` ulps per point
(log-density and statistics alike), about 2e-13 relative at most. A stopping
tolerance can ask for more: the caller passes ``kappa_limit`` so that the
objective's round-off, ``2 eps n (kappa + 1)``, stays well below ``tol``
(otherwise EM would wander at the round-off level above ``tol`` and never
stop). Otherwise the centred path below is used. Both return the same
centred statistics.

Every function here is pure: it takes arrays and returns new ones.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._design import Components, Design, moments, pack_stats, scatter
from ._features import feature_e_step, natural_params, quad_index
from ._floor import factorise

__all__ = [
    "FAST_KAPPA",
    "centred_e_step",
    "centred_log_prob",
    "e_step",
    "kappa",
    "log_prob",
    "tolerance_kappa",
    "use_fast_path",
]

#: largest ``|mu_k|^2 / lambda_min(Sigma_k)`` (internal scale) for which the uncentred
#: feature E-step is used; its round-off is then below ~1e3 ulps of the result
FAST_KAPPA = 1e3
#: doubles in the centred path's chunk buffers, about (K (d + 2)) * chunk
_CENTRED_DOUBLES = 1 << 17
_CENTRED_MAX_CHUNK = 8192
_MIN_CHUNK = 256
_LOG_2PI = float(np.log(2.0 * np.pi))
_TINY = 1e-280
#: data farther than this from their centre (see Design.span): the centred path divides
#: differences by the scale before squaring them, so nothing overflows
_SAFE_SPAN = 1e150


# ------------------------------------------------------------------ centred path
def _whitening(comp: Components, diagonal: bool):
    """``(W, logdet)``: ``|u @ W_k|^2`` is ``u``'s Mahalanobis form; ``W`` (K, d) if diagonal."""
    f = comp.factors if comp.factors is not None else factorise(comp.covariances, 0.0, diagonal)
    return f.whiten, f.logdet


def _constants(comp: Components, logdet: np.ndarray) -> np.ndarray:
    d = comp.anchors.shape[1]
    with np.errstate(divide="ignore"):
        logw = np.log(comp.weights)
    return logw - 0.5 * (d * _LOG_2PI + logdet)


class _Centred(NamedTuple):
    """Per-component constants of the centred path, for one set of parameters."""

    W: np.ndarray  # whitening, times sqrt(1/2) / scale: |u @ W_k|^2 = maha / 2 for u in data units
    c: np.ndarray  # log w_k - log det / 2 - d log(2 pi) / 2 - top (<= 0)
    top: float  # the largest constant, taken out so that every log-density is <= 0
    internal: bool  # differences are divided by the scale before use (data of huge spread)


def _centred_setup(design: Design, comp: Components) -> _Centred:
    W, logdet = _whitening(comp, design.diagonal)
    const = _constants(comp, logdet)
    finite = const[np.isfinite(const)]
    top = float(finite.max()) if finite.size else 0.0
    internal = design.span > _SAFE_SPAN
    factor = np.sqrt(0.5) * (1.0 if internal else 1.0 / design.scale)
    return _Centred(W * factor, const - top, top, internal)


def _centred_chunk(design: Design, start: int, stop: int, comp: Components, cs: _Centred,
                   U: np.ndarray, L: np.ndarray, offsets=None) -> None:
    """Fill ``U`` (K, m, d) with ``x - anchor_k`` and ``L`` (K, m) with log-densities - top.

    ``U`` is in data units, or internal units when ``cs.internal``; ``offsets``
    (internal units) are subtracted from the differences.
    """
    K, d = comp.anchors.shape
    if d == 1:
        u = U[:, :, 0]
        np.subtract(design.x[start:stop], comp.anchors[:, :1], out=u)
        if cs.internal:
            u *= 1.0 / design.scale
        if offsets is not None:
            u -= offsets[:, :1] * (1.0 if cs.internal else design.scale)
        np.multiply(u, cs.W, out=L)  # W: (K, 1)
        np.square(L, out=L)
    else:
        Xc = design.X[start:stop]
        for k in range(K):
            D = U[k]
            np.subtract(Xc, comp.anchors[k], out=D)
            if cs.internal:
                D *= 1.0 / design.scale
            if offsets is not None:
                D -= offsets[k] * (1.0 if cs.internal else design.scale)
            Y = D * cs.W[k] if design.diagonal else D @ cs.W[k]
            np.einsum("ij,ij->i", Y, Y, out=L[k])
    np.subtract(cs.c[:, None], L, out=L)


def _centred_buffers(design: Design, K: int):
    d = design.d
    chunk = _CENTRED_DOUBLES // max(1, K * (d + 2))
    chunk = int(min(_CENTRED_MAX_CHUNK, max(_MIN_CHUNK, chunk), design.n))
    return chunk, np.empty((K, chunk, d)), np.empty((K, chunk))


def _normalise(L: np.ndarray, cs: _Centred, U, design, comp, start, stop) -> tuple:
    """Densities ``exp(L)`` in place, their sums ``s`` (m,) and ``sum log`` of the mixture.

    Every ``L <= 0`` (the largest constant is taken out), so nothing overflows;
    points where every density underflows are redone with their own maximum.
    """
    np.exp(L, out=L)
    s = L.sum(axis=0)
    bad = np.flatnonzero(~(s > _TINY))
    if bad.size:  # recompute the log-densities (U is unchanged) and use each point's maximum
        Lb = np.empty((L.shape[0], stop - start))
        _centred_chunk(design, start, stop, comp, cs, U, Lb)
        Lb = Lb[:, bad]
        mx = Lb.max(axis=0)
        mx = np.where(np.isfinite(mx), mx, 0.0)
        Eb = np.exp(Lb - mx)
        sb = Eb.sum(axis=0)
        L[:, bad] = Eb
        total = float(np.log(np.delete(s, bad)).sum() + (mx + np.log(sb)).sum())
        s[bad] = sb
    else:
        total = float(np.log(s).sum())
    return s, total + cs.top * L.shape[1]


def centred_e_step(design: Design, comp: Components, *, hard: bool = False, resp_out=None):
    """E-step (or C-step) on differences from the anchors; statistics centred on them.

    Parameters
    ----------
    design : Design
    comp : Components
    hard : bool, default False
        True: classification (C-step), ``r_ik = 1`` for the most probable component.
    resp_out : ndarray of shape (n_samples, n_components), optional
        Receives the responsibilities.

    Returns
    -------
    stats : ndarray of shape (n_components, p)
        ``sum_i r_ik (1, u_ik, vech(u_ik u_ik^T))`` with ``u_ik = (x_i - anchor_k) / scale``.
    objective : float
        Internal-scale observed-data log-likelihood (soft) or classification
        log-likelihood (hard).

    Notes
    -----
    Per chunk: ``x - anchor_k`` (exact near the component), the whitened
    square, the log-densities less the largest constant (all ``<= 0``), one
    ``exp``; the statistics are the products of the densities with ``1``,
    ``u`` and ``u u^T`` reduced against ``1 / s_i`` (matrix-vector products),
    so the responsibilities are never formed unless asked for.
    """
    K, d = comp.anchors.shape
    cs = _centred_setup(design, comp)
    to_int = 1.0 if cs.internal else 1.0 / design.scale
    chunk, Ubuf, Lbuf = _centred_buffers(design, K)
    iu, ju = quad_index(d)
    n = design.n
    starts = range(0, n, chunk)
    parts = np.zeros((len(starts), K, 1 + d + iu.size))
    objective = 0.0
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for c, start in enumerate(starts):
            stop = min(start + chunk, n)
            m = stop - start
            U, L = Ubuf[:, :m], Lbuf[:, :m]
            _centred_chunk(design, start, stop, comp, cs, U, L)
            if hard:
                lab = L.argmax(axis=0)
                objective += float(L[lab, np.arange(m)].sum()) + cs.top * m
                L[...] = 0.0
                L[lab, np.arange(m)] = 1.0
                w = np.ones(m)
            else:
                s, total = _normalise(L, cs, U, design, comp, start, stop)
                objective += total
                w = 1.0 / s
                if resp_out is not None:
                    L *= w
                    w = np.ones(m)
            if resp_out is not None:
                resp_out[start:stop] = L.T
            out = parts[c]
            out[:, 0] = L @ w
            if d == 1:
                u = U[:, :, 0]
                np.multiply(L, u, out=L)
                out[:, 1] = (L @ w) * to_int
                np.multiply(L, u, out=L)
                out[:, 2] = (L @ w) * to_int**2
            else:
                for k in range(K):
                    D, r = U[k], L[k] * w
                    out[k, 1 : 1 + d] = (r @ D) * to_int
                    out[k, 1 + d :] = ((D * r[:, None]).T @ D)[iu, ju] * to_int**2
    return parts.sum(axis=0), objective


def centred_log_prob(design: Design, comp: Components, offsets=None, start: int = 0,
                     stop: int | None = None) -> np.ndarray:
    """Weighted component log-densities (internal scale), shape (m, n_components).

    Parameters
    ----------
    design, comp : Design, Components
    offsets : ndarray of shape (n_components, n_features), optional
        Evaluate at means ``anchor_k + offset_k * scale`` without forming them:
        ``u = (x - anchor_k) - offset_k * scale`` (used by the numerical Hessian).
    start, stop : int
        Rows of the data.
    """
    stop = design.n if stop is None else stop
    K, d = comp.anchors.shape
    cs = _centred_setup(design, comp)
    m = stop - start
    U, L = np.empty((K, m, d)), np.empty((K, m))
    with np.errstate(over="ignore", invalid="ignore"):
        _centred_chunk(design, start, stop, comp, cs, U, L, offsets)
    L += cs.top
    return L.T


def log_prob(design: Design, comp: Components, chunk: int = 65536):
    """Yield ``(start, stop, log-densities (m, K))`` over the data, centred, chunk by chunk."""
    for start in range(0, design.n, chunk):
        stop = min(start + chunk, design.n)
        yield start, stop, centred_log_prob(design, comp, start=start, stop=stop)


# ------------------------------------------------------------------ dispatch
def tolerance_kappa(n: int, tol: float) -> float:
    """Largest kappa whose fast-path round-off (``2 eps n (kappa + 1)``) is below ``tol / 10``."""
    if not tol > 0:
        return np.inf
    return tol / (20.0 * float(np.finfo(float).eps) * n) - 1.0


def kappa(design: Design, comp: Components, means_int: np.ndarray) -> np.ndarray:
    """``|mu_k|^2 / lambda_min(Sigma_k)`` on the internal scale: the uncentred path's amplifier.

    ``lambda_min`` is read from the exact factors (``1 / |W_k|_2^2``), not from
    the dense matrix: a covariance at the floor in one direction and wide in
    another is too ill-conditioned for ``eigvalsh`` of the dense matrix,
    which can return a tiny or negative ``lambda_min`` (and so a kappa that
    wrongly allows the fast path). A non-positive ``lambda_min`` gives ``inf``.
    """
    W, _ = _whitening(comp, design.diagonal)
    if design.diagonal:
        inv_lam = (W * W).max(axis=1)
    else:
        inv_lam = np.linalg.norm(W, ord=2, axis=(1, 2)) ** 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        kap = np.einsum("ki,ki->k", means_int, means_int) * inv_lam
    return np.where(np.isfinite(kap) & (inv_lam > 0), kap, np.inf)


def use_fast_path(design: Design, comp: Components, means_int: np.ndarray,
                  kappa_limit: float = np.inf) -> bool:
    """Whether the uncentred feature E-step is accurate here.

    True when every ``kappa_k <= min(FAST_KAPPA, kappa_limit)``.
    """
    limit = min(FAST_KAPPA, kappa_limit)
    if not limit > 0:
        return False
    return bool(np.all(kappa(design, comp, means_int) <= limit))


def e_step(design: Design, comp: Components, *, hard: bool = False, resp_out=None,
           kappa_limit: float = np.inf):
    """E-step (or C-step): statistics centred on the anchors and the objective.

    The fast feature path is taken when :func:`use_fast_path` allows it
    (``kappa_limit`` from :func:`tolerance_kappa`), the centred path otherwise;
    see the module docstring. Same returns as :func:`centred_e_step`.
    """
    means_int = design.internal_means(comp.anchors)
    if not use_fast_path(design, comp, means_int, kappa_limit):
        return centred_e_step(design, comp, hard=hard, resp_out=resp_out)
    W, logdet = _whitening(comp, design.diagonal)
    prec = (W[:, :, None] * np.eye(design.d) * W[:, None, :] if design.diagonal
            else W @ np.swapaxes(W, 1, 2))
    eta = natural_params(comp.weights, means_int, prec, logdet)
    stats, objective = feature_e_step(design.T, eta, hard=hard, resp_out=resp_out)
    Nk, Sx, Sxx = moments(stats, design.d)
    # re-centre on the anchors: exact to ~kappa ulps, kappa <= FAST_KAPPA
    centred = scatter(Nk, Sx, Sxx, means_int)
    return pack_stats(Nk, Sx - Nk[:, None] * means_int, centred), objective
