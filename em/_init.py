"""Initialisation strategies.

Each strategy is a function ``(design, spec, rng, floor) -> (Params, anchors,
factors)``: parameters on the internal scale, the means in data units (the
anchors of :mod:`em._design`) and the exact factors of the covariances (see
:class:`em._floor.Factors`); the driver calls one per restart with a child generator,
then overwrites fixed blocks with their fixed values. Starting covariances
come from statistics centred on each group's own mean (two passes), so a
narrow cluster far from the others starts with its true spread.
"""

from __future__ import annotations

import numpy as np

from ._design import Design, label_stats, resp_stats, split_by_label
from ._floor import project
from ._init_hc import quantile_classes
from ._model import Params
from ._mstep import m_step

INIT_METHODS = frozenset({"kmeans++", "random_from_data", "random_resp", "quantile", "mclust"})


def _placeholder(design: Design, K: int) -> Params:
    d = design.d
    cov = np.cov(design.X, rowvar=False).reshape(d, d) / design.scale**2 + 1e-12 * np.eye(d)
    return Params(np.full(K, 1.0 / K), np.zeros((K, d)), np.broadcast_to(cov, (K, d, d)).copy())


def _finish(design: Design, stats, anchors, spec, floor, prev: Params):
    """M-step from centred statistics; returns ``(Params, anchors, factors)``."""
    upd = m_step(stats, prev, kind=spec.kind, fixed=spec.fixed, floor=floor)
    anchors = anchors + upd.offsets * design.scale
    return (Params(upd.weights, design.internal_means(anchors), upd.covariances), anchors,
            upd.factors)


def _floored(design: Design, weights, anchors, cov, spec, floor):
    """Return starting parameters with covariances projected onto the floor, and factors."""
    cov, factors = project(cov, floor, spec.kind, design.diagonal)
    return Params(weights, design.internal_means(anchors), cov), anchors, factors


def _group_means(groups: list[np.ndarray], fallback: np.ndarray) -> np.ndarray:
    """Mean of each label's points in data units (``fallback`` rows for empty labels)."""
    out = fallback.copy()
    for k, pts in enumerate(groups):
        if pts.shape[0]:
            out[k] = pts.mean(axis=0)
    return out


def _from_labels(design: Design, labels, spec, floor, centers_x: np.ndarray):
    """Group means, then statistics centred on them, then one M-step."""
    K = spec.n_components
    groups = split_by_label(design.X, labels, K)
    anchors = _group_means(groups, centers_x)
    prev = _placeholder(design, K)
    prev = Params(prev.weights, design.internal_means(centers_x), prev.covariances)
    return _finish(design, label_stats(design, labels, anchors, groups), anchors, spec, floor,
                   prev)


def _sq_dist(Z: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distance of every row of ``Z`` (n, d) to the point ``c`` (d,), shape (n,)."""
    if Z.shape[1] == 1:
        return (Z[:, 0] - c[0]) ** 2
    return ((Z - c) ** 2).sum(axis=1)


def _nearest(Z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of every point (the first on ties), memory O(n).

    One pass per centre over contiguous vectors, not an (n, K) distance matrix.
    """
    best = _sq_dist(Z, centers[0])
    lab = np.zeros(Z.shape[0], dtype=np.intp)
    for k in range(1, centers.shape[0]):
        d2 = _sq_dist(Z, centers[k])
        closer = d2 < best
        lab[closer] = k
        np.minimum(best, d2, out=best)
    return lab


def _kmeanspp_indices(Z: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): D^2 sampling; returns row indices."""
    n = Z.shape[0]
    idx = np.empty(K, dtype=np.intp)
    idx[0] = rng.integers(n)
    d2 = _sq_dist(Z, Z[idx[0]])
    for k in range(1, K):
        total = d2.sum()
        if total <= 0:  # fewer distinct points than components
            i = rng.integers(n)
        else:
            i = int(np.searchsorted(np.cumsum(d2), rng.random() * total))
            i = min(i, n - 1)
        idx[k] = i
        d2 = np.minimum(d2, _sq_dist(Z, Z[i]))
    return idx


def init_kmeanspp(design: Design, spec, rng, floor):
    """k-means++ centres, each point assigned to its nearest centre, then one M-step."""
    K = spec.n_components
    Z = design.Z
    idx = _kmeanspp_indices(Z, K, rng)
    labels = _nearest(Z, Z[idx])
    centers_x = design.X[idx].copy()
    if np.bincount(labels, minlength=K).min() == 0:  # a centre got no points: keep it as is
        prev = _placeholder(design, K)
        return _floored(design, prev.weights, centers_x, prev.covariances, spec, floor)
    return _from_labels(design, labels, spec, floor, centers_x)


def init_random_from_data(design: Design, spec, rng, floor):
    """Means at K distinct random observations; the data covariance for each; equal weights."""
    K, d = spec.n_components, design.d
    idx = rng.choice(design.n, size=K, replace=False)
    base = _placeholder(design, K)
    cov = base.covariances
    if spec.kind == "diag":
        cov = np.einsum("kii->ki", cov)[:, :, None] * np.eye(d)
    elif spec.kind == "spherical":
        cov = (np.einsum("kii->k", cov) / d)[:, None, None] * np.eye(d)
    return _floored(design, base.weights, design.X[idx].copy(), cov, spec, floor)


def init_random_resp(design: Design, spec, rng, floor):
    """Uniform random responsibilities, normalised per point, then one M-step."""
    K = spec.n_components
    resp = rng.random((design.n, K))
    resp /= resp.sum(axis=1, keepdims=True)
    anchors = (resp.T @ design.X) / resp.sum(axis=0)[:, None]
    prev = _placeholder(design, K)
    prev = Params(prev.weights, design.internal_means(anchors), prev.covariances)
    return _finish(design, resp_stats(design, resp, anchors), anchors, spec, floor, prev)


def init_quantile(design: Design, spec, rng, floor):
    """1-D only: split the sorted data into K equal-count groups; one M-step on them."""
    if design.d != 1:
        raise ValueError("init='quantile' is for 1-D data; use 'kmeans++' for multivariate data.")
    K = spec.n_components
    x = design.X[:, 0]
    order = np.argsort(x, kind="stable")
    labels = np.empty(design.n, dtype=np.intp)
    centers = np.empty((K, 1))
    for k, g in enumerate(np.array_split(order, K)):
        labels[g] = k
        centers[k, 0] = x[g].mean()
    return _from_labels(design, labels, spec, floor, centers)


def init_mclust(design: Design, spec, rng, floor):
    """1-D only: mclust's default start, its quantile classes (:mod:`em._init_hc`).

    Deterministic: every restart is the same. One M-step on the classes, as mclust.
    """
    if design.d != 1:
        raise ValueError("init='mclust' reproduces mclust's start of 1-D data (quantile classes); "
                         "mclust starts multivariate data from model-based hierarchical "
                         "clustering, not reproduced here: use 'kmeans++'.")
    K = spec.n_components
    x = design.X[:, 0]
    if np.unique(x).size < K:
        raise ValueError(f"init='mclust' needs at least n_components = {K} distinct values; "
                         "reduce n_components.")
    labels = quantile_classes(x, K)
    if np.bincount(labels, minlength=K).min() == 0:
        raise ValueError(f"init='mclust': a quantile class of K = {K} is empty (two quantiles "
                         "fall between the same two values); use 'quantile' or 'kmeans++'.")
    centers = np.array([[x[labels == k].mean()] for k in range(K)])
    return _from_labels(design, labels, spec, floor, centers)


INITIALISERS = {
    "kmeans++": init_kmeanspp,
    "random_from_data": init_random_from_data,
    "random_resp": init_random_resp,
    "quantile": init_quantile,
    "mclust": init_mclust,
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
