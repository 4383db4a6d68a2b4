"""Spurious optima: components fitted to a few close points, and the choice of the answer.

The likelihood of a heteroscedastic Gaussian mixture is unbounded, and besides
the singular points (a component on one observation, stopped here by the
variance floor) it has *spurious* local maximisers: a component with a tiny
variance fitted to a handful of observations that happen to lie close
together (McLachlan & Peel 2000, section 3.10; Hathaway 1985). Their
likelihood can exceed that of the proper optimum, so "the highest restart"
is not the answer a user wants. :func:`spurious_components` flags them by a
stated rule and :func:`order_groups` puts the best proper optimum first.
"""

from __future__ import annotations

import numpy as np

#: a component is spurious when its generalised sd is below this fraction of the others' median
SPURIOUS_SD_RATIO = 0.05
#: ... and it holds fewer than this many effective points per ``d + 1``
SPURIOUS_POINTS_PER_DIM = 5


def generalised_sds(logdet: np.ndarray, d: int) -> np.ndarray:
    """Generalised standard deviations ``|Sigma_k|^(1 / (2 d))``, shape (K,).

    Parameters
    ----------
    logdet : ndarray of shape (K,)
        ``log det Sigma_k`` (any common scale: only ratios are used).
    d : int
        Number of features.
    """
    return np.exp(np.asarray(logdet, dtype=float) / (2.0 * d))


def spurious_components(logdet: np.ndarray, counts: np.ndarray, d: int) -> np.ndarray:
    """Flag the spurious components of one optimum.

    Parameters
    ----------
    logdet : ndarray of shape (K,)
        ``log det Sigma_k``.
    counts : ndarray of shape (K,)
        Effective sizes ``N_k = sum_i r_ik``.
    d : int
        Number of features.

    Returns
    -------
    ndarray of bool, shape (K,)

    Notes
    -----
    With ``s_k = |Sigma_k|^(1/(2d))`` (the sd in 1-D), component ``k`` is
    spurious when both

    - ``s_k < 0.05 * median_{j != k} s_j`` (``SPURIOUS_SD_RATIO``): a ratio
      constraint on the scales as Hathaway (1985) imposes, here used to flag
      rather than to constrain; and
    - ``N_k < 5 (d + 1)`` (``SPURIOUS_POINTS_PER_DIM``): it is fitted to a
      few points (McLachlan & Peel 2000, section 3.10).

    Both are needed: a well separated tight cluster of many points is a
    proper component however small its sd, and a component of three points
    (galaxies, K = 3) is proper when its sd is comparable to the others'.
    With one component nothing is spurious.

    References
    ----------
    Hathaway, R. J. (1985). A constrained formulation of maximum-likelihood
    estimation for normal mixture distributions. Ann. Statist. 13, 795-800.
    McLachlan, G. J. & Peel, D. (2000). Finite Mixture Models, section 3.10.
    Wiley.
    """
    s = generalised_sds(logdet, d)
    K = s.shape[0]
    out = np.zeros(K, dtype=bool)
    if K < 2:
        return out
    for k in range(K):
        ref = float(np.median(np.delete(s, k)))
        out[k] = s[k] < SPURIOUS_SD_RATIO * ref
    return out & (np.asarray(counts, dtype=float) < SPURIOUS_POINTS_PER_DIM * (d + 1))


def order_groups(groups: list[list[int]], improper: list[bool]) -> list[list[int]]:
    """Put the best proper group first, the others after it in their (objective) order.

    Parameters
    ----------
    groups : list of list of int
        Restarts grouped into optima, best objective first.
    improper : list of bool
        Per group: its optimum is degenerate or spurious.

    Returns
    -------
    list of list of int
        Unchanged when the best group is proper or no group is.
    """
    proper = [j for j, bad in enumerate(improper) if not bad]
    if not proper or proper[0] == 0:
        return groups
    j = proper[0]
    return [groups[j]] + groups[:j] + groups[j + 1:]
