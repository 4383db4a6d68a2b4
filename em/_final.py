"""The final pass of a fit: labels and entropies at the returned parameters.

A pass over the data costs about as much as an EM iteration; :class:`em.EMResult`
runs it the first time ``labels``, ``entropy`` or ``hard_entropy`` is read, not
inside :func:`em.fit`, so a fit whose caller needs only the parameters pays nothing
for it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._design import Components, Design
from ._estep import log_prob


class FinalPass(NamedTuple):
    """Labels and entropies of the responsibilities at a fit's parameters.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,)
        Most probable component of each observation.
    entropy : float
        Soft entropy ``-sum_i sum_k r_ik log r_ik``.
    hard_entropy : float
        ``-sum_i log max_k r_ik``.
    """

    labels: np.ndarray
    entropy: float
    hard_entropy: float


def _argmax_rows(lp: np.ndarray) -> np.ndarray:
    """Row-wise argmax of an (m, K) array, first maximum on ties (as ``argmax(axis=1)``).

    A loop over the K columns: for small K, K comparisons of contiguous columns are
    several times faster than numpy's row-wise argmax over short rows.
    """
    cols = np.ascontiguousarray(lp.T)
    best = cols[0].copy()
    labels = np.zeros(lp.shape[0], dtype=np.intp)
    for k in range(1, cols.shape[0]):
        better = cols[k] > best
        labels[better] = k
        np.maximum(best, cols[k], out=best)
    return labels


def final_pass(design: Design, comp: Components) -> FinalPass:
    """Labels, soft entropy and hard entropy at ``comp``, chunk by chunk (memory O(n)).

    Parameters
    ----------
    design : Design
        The fit's data.
    comp : Components
        The fit's parameters on the internal scale (anchors in data units).
    """
    labels = np.empty(design.n, dtype=np.intp)
    entropy = hard = 0.0
    for start, stop, lp in log_prob(design, comp):
        labels[start:stop] = _argmax_rows(lp)
        lp -= lp.max(axis=1, keepdims=True)
        r = np.exp(lp)
        total = r.sum(axis=1, keepdims=True)
        hard += float(np.log(total).sum())  # log max_k r_ik = -log sum_k exp(lp_ik - max)
        r /= total
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy -= float(np.where(r > 0, r * np.log(r), 0.0).sum())
    return FinalPass(labels, entropy, hard)
