"""The centred footing of EM's kernels: the data, the parameters and the statistics.

Every component carries an *anchor*: its mean in the data's own units, held
exactly as a float64. The E-step (:mod:`em._estep`) works with the differences
``x - anchor_k``, which are exact for the points near the component (where its
density matters), so neither the log-densities nor the statistics cancel,
however far the component sits from the others or from the origin, and however
narrow it is. The sufficient statistics are centred about the anchors (in
internal units, ``u = (x - anchor_k) / scale``)::

    stats[k] = sum_i r_ik (1, u_ik, vech(u_ik u_ik^T))

Here: :class:`Design` (the data of one fit), :class:`Components` (the
parameters as the kernels read them) and the statistics' layout
(:func:`moments`, :func:`pack_stats`, :func:`scatter`), with the statistics of
given responsibilities or hard labels (:func:`resp_stats`, :func:`label_stats`).
The M-step is in :mod:`em._mstep`.

Every function here is pure: it takes arrays and returns new ones.
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import numpy as np

from ._features import features, quad_index
from ._floor import Factors

__all__ = [
    "Components",
    "Design",
    "label_stats",
    "moments",
    "pack_stats",
    "resp_stats",
    "scatter",
    "split_by_label",
]


class Components(NamedTuple):
    """Mixture parameters as the kernels read them.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    anchors : ndarray of shape (n_components, n_features)
        The means in the data's units (exact).
    covariances : ndarray of shape (n_components, n_features, n_features)
        On the internal scale (data units divided by ``scale``).
    factors : Factors, optional
        Exact factors of ``covariances`` (from the M-step's projection);
        computed from the dense matrices when not given.
    """

    weights: np.ndarray
    anchors: np.ndarray
    covariances: np.ndarray
    factors: Factors | None = None


class Design:
    """The data of one fit, in the forms the kernels need (computed once, on demand).

    Parameters
    ----------
    X2 : ndarray of shape (n_samples, n_features)
        The data in their own units.
    center : ndarray of shape (n_features,)
    scale : float
        Internal units are ``(x - center) / scale`` for points and ``x / scale``
        for differences.
    diagonal : bool
        Every covariance is diagonal (``diag``, ``spherical``, 1-D), so the
        centred path whitens by elementwise products instead of matrix products.
    """

    def __init__(self, X2: np.ndarray, center: np.ndarray, scale: float, diagonal: bool):
        self.X = np.ascontiguousarray(X2, dtype=np.float64)
        self.n, self.d = self.X.shape
        self.center = np.asarray(center, dtype=np.float64)
        self.scale = float(scale)
        self.diagonal = bool(diagonal or self.d == 1)

    @cached_property
    def span(self) -> float:
        """Largest ``|x - center|`` (data units)."""
        return float(np.abs(self.X - self.center).max())

    @cached_property
    def x(self) -> np.ndarray:
        """1-D data as a contiguous vector."""
        return np.ascontiguousarray(self.X[:, 0])

    @cached_property
    def Z(self) -> np.ndarray:
        """Data on the internal scale, ``(X - center) / scale``."""
        return (self.X - self.center) / self.scale

    @cached_property
    def T(self) -> np.ndarray:
        """Uncentred features of ``Z`` for the fast path (computed the first time it is used)."""
        return features(self.Z)

    def internal_means(self, anchors: np.ndarray) -> np.ndarray:
        """Means on the internal scale, ``(anchors - center) / scale``."""
        return (anchors - self.center) / self.scale


# --------------------------------------------------------------------- statistics
def moments(stats: np.ndarray, d: int):
    """Split statistics into counts (K,), first (K, d) and second (K, d, d) moment sums."""
    K = stats.shape[0]
    Nk = stats[:, 0]
    Sx = stats[:, 1 : 1 + d]
    iu, ju = quad_index(d)
    Sxx = np.empty((K, d, d))
    Sxx[:, iu, ju] = stats[:, 1 + d :]
    Sxx[:, ju, iu] = stats[:, 1 + d :]
    return Nk, Sx, Sxx


def pack_stats(Nk: np.ndarray, Sx: np.ndarray, Sxx: np.ndarray) -> np.ndarray:
    """Inverse of :func:`moments`: rows ``(N_k, S_k, vech(SS_k))``."""
    d = Sx.shape[1]
    iu, ju = quad_index(d)
    return np.concatenate([Nk[:, None], Sx, Sxx[:, iu, ju]], axis=1)


def scatter(Nk, Sx, Sxx, means):
    """Weighted scatter about given points: ``sum_i r_ik (u_i - m_k)(u_i - m_k)^T``.

    ``Sx`` and ``Sxx`` are the first and second moment sums of ``u`` (about
    the anchors); ``means`` are offsets from the same anchors. When the
    offsets are small (the anchors are the previous means) nothing cancels.
    """
    outer = np.einsum("ki,kj->kij", Sx, means)
    return Sxx - outer - np.swapaxes(outer, 1, 2) + Nk[:, None, None] * np.einsum(
        "ki,kj->kij", means, means)


def resp_stats(design: Design, R: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Centred statistics of given responsibilities (n, K) about ``anchors`` (two-pass exact)."""
    K = R.shape[1]
    d = design.d
    Nk = R.sum(axis=0)
    Sx = np.empty((K, d))
    Sxx = np.empty((K, d, d))
    for k in range(K):
        D = (design.X - anchors[k]) * (1.0 / design.scale)
        r = R[:, k]
        Sx[k] = r @ D
        Sxx[k] = (D * r[:, None]).T @ D
    return pack_stats(Nk, Sx, Sxx)


def split_by_label(X: np.ndarray, labels: np.ndarray, K: int) -> list[np.ndarray]:
    """Rows of ``X`` with each label ``0..K-1``, in their original order (``X[labels == k]``).

    Split once, so that the group means and the statistics share the gathered rows.
    """
    return [X[np.flatnonzero(labels == k)] for k in range(K)]


def label_stats(design: Design, labels: np.ndarray, anchors: np.ndarray,
                groups: list[np.ndarray] | None = None) -> np.ndarray:
    """Centred statistics of hard labels about ``anchors``, without an (n, K) matrix.

    ``groups``: the rows of each label (:func:`split_by_label`), when already split.
    """
    K, d = anchors.shape
    if groups is None:
        groups = split_by_label(design.X, labels, K)
    Nk = np.zeros(K)
    Sx = np.zeros((K, d))
    Sxx = np.zeros((K, d, d))
    for k in range(K):
        D = (groups[k] - anchors[k]) * (1.0 / design.scale)
        Nk[k] = D.shape[0]
        Sx[k] = D.sum(axis=0)
        Sxx[k] = D.T @ D
    return pack_stats(Nk, Sx, Sxx)
