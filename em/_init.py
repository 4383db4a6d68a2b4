"""Initialisation strategies, on the internal (standardised) scale.

Each strategy is a function ``(Z, T, spec, rng, floor) -> Params``; the
driver calls one per restart with a child generator, then overwrites fixed
blocks with their fixed values.
"""

from __future__ import annotations

import numpy as np

from ._kernels import apply_floor, m_step
from ._model import Params

INIT_METHODS = frozenset({"kmeans++", "random_from_data", "random_resp", "quantile"})


def _from_resp(T, resp: np.ndarray, spec, floor: float, prev: Params) -> Params:
    """M-step from a responsibility matrix (n, K)."""
    stats = resp.T @ T.T
    return m_step(stats, prev, kind=spec.kind, fixed=spec.fixed, floor=floor)


def _placeholder(Z: np.ndarray, K: int) -> Params:
    d = Z.shape[1]
    cov = np.cov(Z, rowvar=False).reshape(d, d) + 1e-12 * np.eye(d)
    return Params(np.full(K, 1.0 / K), np.zeros((K, d)), np.broadcast_to(cov, (K, d, d)).copy())


def _from_labels(T, labels: np.ndarray, K: int, spec, floor: float, prev: Params) -> Params:
    """M-step from hard labels, without an (n, K) matrix: per-component feature sums."""
    stats = np.stack([T[:, labels == k].sum(axis=1) for k in range(K)])
    return m_step(stats, prev, kind=spec.kind, fixed=spec.fixed, floor=floor)


def _nearest(Z: np.ndarray, centers: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest centre of every point, in chunks (memory O(n))."""
    lab = np.empty(Z.shape[0], dtype=np.intp)
    for start in range(0, Z.shape[0], chunk):
        z = Z[start : start + chunk]
        d2 = ((z[:, None, :] - centers[None]) ** 2).sum(axis=2)
        lab[start : start + chunk] = d2.argmin(axis=1)
    return lab


def _kmeanspp_centers(Z: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): D^2 sampling."""
    n = Z.shape[0]
    centers = np.empty((K, Z.shape[1]))
    centers[0] = Z[rng.integers(n)]
    d2 = ((Z - centers[0]) ** 2).sum(axis=1)
    for k in range(1, K):
        total = d2.sum()
        if total <= 0:  # fewer distinct points than components
            idx = rng.integers(n)
        else:
            idx = int(np.searchsorted(np.cumsum(d2), rng.random() * total))
            idx = min(idx, n - 1)
        centers[k] = Z[idx]
        d2 = np.minimum(d2, ((Z - centers[k]) ** 2).sum(axis=1))
    return centers


def init_kmeanspp(Z, T, spec, rng, floor) -> Params:
    """k-means++ centres, each point assigned to its nearest centre, then one M-step."""
    K = spec.n_components
    centers = _kmeanspp_centers(Z, K, rng)
    return _assign_then_m(Z, T, spec, floor, centers)


def _assign_then_m(Z, T, spec, floor, centers) -> Params:
    K = spec.n_components
    labels = _nearest(Z, centers)
    prev = _placeholder(Z, K)
    prev = Params(prev.weights, centers, prev.covariances)
    if np.bincount(labels, minlength=K).min() == 0:  # a centre got no points: keep it as is
        return _finish(prev, floor, spec)
    return _from_labels(T, labels, K, spec, floor, prev)


def _finish(p: Params, floor: float, spec) -> Params:
    return Params(p.weights, p.means, apply_floor(p.covariances, floor, spec.kind))


def init_random_from_data(Z, T, spec, rng, floor) -> Params:
    """Means at K distinct random observations; the data covariance for each; equal weights."""
    K = spec.n_components
    idx = rng.choice(Z.shape[0], size=K, replace=False)
    base = _placeholder(Z, K)
    cov = base.covariances
    if spec.kind == "diag":
        cov = np.einsum("kii->ki", cov)[:, :, None] * np.eye(Z.shape[1])
    elif spec.kind == "spherical":
        cov = (np.einsum("kii->k", cov) / Z.shape[1])[:, None, None] * np.eye(Z.shape[1])
    return _finish(Params(base.weights, Z[idx].copy(), cov), floor, spec)


def init_random_resp(Z, T, spec, rng, floor) -> Params:
    """Uniform random responsibilities, normalised per point, then one M-step."""
    resp = rng.random((Z.shape[0], spec.n_components))
    resp /= resp.sum(axis=1, keepdims=True)
    return _from_resp(T, resp, spec, floor, _placeholder(Z, spec.n_components))


def init_quantile(Z, T, spec, rng, floor) -> Params:
    """1-D only: split the sorted data into K equal-count groups; one M-step on them."""
    if Z.shape[1] != 1:
        raise ValueError("init='quantile' is for 1-D data; use 'kmeans++' for multivariate data.")
    K = spec.n_components
    order = np.argsort(Z[:, 0], kind="stable")
    groups = np.array_split(order, K)
    centers = np.array([[Z[g, 0].mean()] for g in groups])
    labels = np.empty(Z.shape[0], dtype=np.intp)
    for k, g in enumerate(groups):
        labels[g] = k
    prev = _placeholder(Z, K)
    return _from_labels(T, labels, K, spec, floor, Params(prev.weights, centers, prev.covariances))


INITIALISERS = {
    "kmeans++": init_kmeanspp,
    "random_from_data": init_random_from_data,
    "random_resp": init_random_resp,
    "quantile": init_quantile,
}


def symmetric(p: Params, tol: float = 1e-12) -> bool:
    """Return True when two components coincide (a symmetric start is a fixed point of EM)."""
    K = p.means.shape[0]
    for i in range(K):
        for j in range(i + 1, K):
            if (np.allclose(p.means[i], p.means[j], rtol=0, atol=tol)
                    and np.allclose(p.covariances[i], p.covariances[j], rtol=0, atol=tol)):
                return True
    return False

