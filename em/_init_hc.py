"""mclust's starting partitions: its quantile classes for 1-D data, and cutting a merge tree.

mclust (Scrucca, Fop, Murphy & Raftery 2016) starts EM from a hard partition:
it runs one M-step on the partition's 0/1 responsibilities, then iterates.
Which partition depends on the data's dimension (read from mclust's R source,
``mclustBIC`` in R/mclust.R, versions 4.0 to 6.1):

* 1-D data: by default *no* hierarchical clustering; the partition is
  :func:`quantile_classes` (mclust's ``qclass``), classes between sample
  quantiles of R's default type (numpy's ``"linear"`` method).
* a merge tree given by the user (``initialization = list(hcPairs = ...)``,
  e.g. mclust's random agglomerations ``hcRandomPairs``): the tree is cut at
  G groups, :func:`cut_tree` (mclust's ``hclass``).
* d > 1: model-based agglomerative clustering (model ``VVV`` on SVD-scaled
  data); not implemented here.

Both functions are deterministic: they draw nothing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cut_tree", "quantile_classes"]


def _breaks(x: np.ndarray, k: int) -> np.ndarray:
    """Return the ``k + 1`` distinct sample quantiles that bound mclust's quantile classes.

    Quantiles at ``m`` equally spaced probabilities from 0 to 1, ``m = k + 1,
    k + 2, ...`` until ``k + 1`` distinct values appear (ties in the data can
    merge quantiles); when more than ``k + 1`` appear, those that close the
    narrowest gaps are dropped until ``k + 1`` remain.
    """
    m, q = k, np.empty(0)
    while q.size < k + 1:
        m += 1
        q = np.unique(np.quantile(x, np.linspace(0.0, 1.0, m)))
    extra = q.size - (k + 1)
    if extra > 0:
        # the upper end of each of the ``extra`` narrowest gaps goes (stable on ties)
        narrow = np.argsort(np.diff(q), kind="stable")[:extra]
        q = np.delete(q, narrow)
    return q


def quantile_classes(x, k: int) -> np.ndarray:
    """Partition 1-D data into ``k`` classes as mclust's default start (its ``qclass``).

    Parameters
    ----------
    x : array_like of shape (n,)
    k : int
        Number of classes, at most the number of distinct values of ``x``.

    Returns
    -------
    ndarray of int, shape (n,)
        Class ``0..k-1`` of every value: class ``i`` holds the values in
        ``[q_i, q_{i+1})`` for breaks ``q`` from :func:`_breaks`, the outer
        breaks moved out by ``sd(x) * sqrt(machine eps)`` so that the extremes
        belong to the end classes. Equal values share a class.
    """
    x = np.asarray(x, dtype=float).ravel()
    n_distinct = np.unique(x).size
    if not 1 <= k <= n_distinct:
        raise ValueError(f"quantile classes need 1 <= k <= {n_distinct} (the number of "
                         f"distinct values); got k = {k}.")
    q = _breaks(x, k)
    pad = np.std(x, ddof=1) * np.sqrt(np.finfo(float).eps) if x.size > 1 else 0.0
    q[0], q[-1] = x.min() - pad, x.max() + pad
    # class i: q[i] <= x < q[i + 1]
    return np.searchsorted(q, x, side="right") - 1


def cut_tree(pairs, n: int, k: int) -> np.ndarray:
    """Cut an agglomerative merge tree at ``k`` groups (mclust's ``hclass``).

    Parameters
    ----------
    pairs : array_like of int, shape (2, n - 1) or (2, m)
        Merge ``l`` joins the groups labelled ``pairs[0, l]`` and ``pairs[1, l]``
        (1-based, mclust's ``hcPairs``; a group is labelled by its lowest member,
        which survives the merge), starting from ``n`` singletons.
    n : int
        Number of observations.
    k : int
        Number of groups wanted, ``n - m <= k <= n``.

    Returns
    -------
    ndarray of int, shape (n,)
        Group ``0..k-1`` of every observation, numbered in order of first
        appearance.
    """
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[0] != 2:
        raise ValueError(f"pairs must have shape (2, merges); got {pairs.shape}.")
    merges = n - k
    if not 0 <= merges <= pairs.shape[1]:
        raise ValueError(f"a tree of {pairs.shape[1]} merges of {n} observations cannot be "
                         f"cut at k = {k} groups; k must be in [{n - pairs.shape[1]}, {n}].")
    if pairs.size and (pairs.min() < 1 or pairs.max() > n):
        raise ValueError(f"pairs must hold 1-based observation labels in [1, {n}].")
    label = np.arange(1, n + 1)
    for a, b in pairs[:, :merges].T:
        label[label == max(a, b)] = min(a, b)
    _, first, inverse = np.unique(label, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.intp)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse]
