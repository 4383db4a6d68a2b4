"""Summary of label switching seen in a posterior's permutations."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import xarray as xr
from mixcompare.comparisons.posterior.stephens import check_perms

__all__ = ["SwitchingSummary", "switching_summary"]

_SAMPLE_DIMS = ("chain", "draw")


@dataclass(frozen=True)
class SwitchingSummary:
    """Label switching seen in the permutations of a posterior (see :func:`switching_summary`).

    Attributes
    ----------
    switching_rate : ndarray of shape (chain,)
        Fraction of consecutive draw pairs whose permutation differs (switch
        events per step; not the share of draws in another labelling).
    switch_events : ndarray of shape (chain,)
        Number of consecutive draw pairs whose permutation differs.
    labellings_visited : ndarray of shape (chain,)
        Number of distinct labellings (of the K! possible) among the chain's draws.
    outside_main : ndarray of shape (chain,)
        Fraction of the chain's draws outside its dominant (main) labelling.
    n_labellings : int
        K!, the number of possible labellings.
    dominant : tuple of tuple of int
        Each chain's most frequent permutation.
    dominant_share : ndarray of shape (chain,)
        Fraction of the chain's draws in its dominant permutation.
    chains_by_labelling : dict
        Dominant permutation -> tuple of the chains sitting in it.
    matches_reference : bool
        Every draw's permutation is the identity.
    detected : bool
        See :func:`switching_summary` for the rule.
    reason : str
        One line explaining ``detected``.
    max_rate : float
        Threshold on ``switching_rate`` used.
    """

    switching_rate: np.ndarray
    dominant: tuple
    dominant_share: np.ndarray
    chains_by_labelling: dict
    matches_reference: bool
    detected: bool
    reason: str
    max_rate: float
    switch_events: np.ndarray = None
    labellings_visited: np.ndarray = None
    outside_main: np.ndarray = None
    n_labellings: int = 0

    def to_dict(self) -> dict:
        """JSON-ready copy (labellings as lists, keys of ``chains_by_labelling`` as strings)."""
        return {
            "switching_rate": self.switching_rate.tolist(),
            "dominant": [list(p) for p in self.dominant],
            "dominant_share": self.dominant_share.tolist(),
            "chains_by_labelling": {str(k): list(v) for k, v in self.chains_by_labelling.items()},
            "matches_reference": self.matches_reference,
            "detected": self.detected,
            "reason": self.reason,
            "max_rate": self.max_rate,
            "switch_events": np.asarray(self.switch_events).tolist(),
            "labellings_visited": np.asarray(self.labellings_visited).tolist(),
            "outside_main": np.asarray(self.outside_main).tolist(),
            "n_labellings": self.n_labellings,
        }


def _chains(cs) -> str:
    cs = [str(c) for c in cs]
    if len(cs) == 1:
        return f"chain {cs[0]}"
    return "chains " + ", ".join(cs[:-1]) + " and " + cs[-1]


def _pct(r: float) -> str:
    return f"{100 * r:.0f} %" if 100 * r >= 10 else f"{100 * r:.2g} %"


def switching_summary(perms, *, max_rate: float = 0.01) -> SwitchingSummary:
    """Summarise label switching from per-draw permutations.

    Parameters
    ----------
    perms : array_like of int, shape (chain, draw, K)
        From :func:`pivot_permutations` (or :func:`stephens_kl`); a
        DataArray is accepted (dimensions taken in that order); shape
        ``(draw, K)`` is read as one chain.
    max_rate : float, default 0.01
        Largest within-chain switching rate not reported as switching.

    Returns
    -------
    SwitchingSummary

    Notes
    -----
    The switching rate of a chain is the fraction of its ``draw - 1``
    consecutive pairs whose permutations differ; its dominant labelling is
    its most frequent permutation (ties: lexicographically first).
    ``detected`` is True when the chains' dominant labellings are not all
    the same (chains sit in different modes) or a chain's switching rate
    exceeds ``max_rate``. All chains sharing one non-identity labelling is
    *not* switching -- the posterior is consistently labelled, only in
    another order than the reference -- and is reported as a global
    relabelling (``matches_reference`` is then False). "Pivot" in
    ``reason`` means the reference labelling of ``perms`` (the identity).
    The reason names both measures for what they are: the number of switch
    events (and their share of the chain's steps) and the share of its draws
    outside its main labelling, with the labellings visited out of K!.
    """
    if isinstance(perms, xr.DataArray) and set(_SAMPLE_DIMS) <= set(perms.dims):
        perms = perms.transpose(*_SAMPLE_DIMS, ...)
    arr = np.asarray(perms)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"perms must have shape (chain, draw, K), got {arr.shape}.")
    if not 0 <= max_rate < 1:
        raise ValueError(f"max_rate must lie in [0, 1), got {max_rate!r}.")
    C, D, K = arr.shape
    check_perms(arr, (C, D), K)
    moves = np.any(arr[:, 1:] != arr[:, :-1], axis=2)
    rate = moves.mean(axis=1) if D > 1 else np.zeros(C)
    events = moves.sum(axis=1).astype(int)
    visited = np.array([len({tuple(p) for p in arr[c].tolist()}) for c in range(C)])
    dominant, share = [], np.empty(C)
    for c in range(C):
        counts = Counter(map(tuple, arr[c].tolist()))
        top = max(counts.values())
        dominant.append(min(p for p, n in counts.items() if n == top))
        share[c] = top / D
    groups: dict = {}
    for c, p in enumerate(dominant):
        groups.setdefault(p, []).append(c)
    groups = {p: tuple(cs) for p, cs in groups.items()}
    identity = tuple(range(K))
    matches = bool((arr == np.arange(K)).all())
    fast = [c for c in range(C) if rate[c] > max_rate]
    detected = len(groups) > 1 or bool(fast)
    if detected:
        parts = []
        if len(groups) > 1:
            order = sorted(groups, key=lambda p: (p == identity, groups[p][0]))
            said = [f"{_chains(groups[p])} {'sits' if len(groups[p]) == 1 else 'sit'} in "
                    f"labelling {p}" for p in order]
            parts.append(", ".join(said[:-1]) + " while " + said[-1])
        parts += [f"chain {c} changes labelling {events[c]} times in {D} draws ({_pct(rate[c])} "
                  f"of its steps) and spends {_pct(1 - share[c])} of its draws outside its main "
                  f"labelling ({visited[c]} of {math.factorial(K)} labellings visited)"
                  for c in fast]
        reason = "; ".join(parts)
    elif matches:
        reason = "no switching: every draw matches the pivot's labelling"
    else:
        (p,) = groups
        where = ("the pivot's labelling" if p == identity
                 else f"labelling {p}, a global relabelling of the pivot's")
        reason = (f"no switching: every chain sits in {where} (largest switching rate "
                  f"{_pct(rate.max())}, threshold {_pct(max_rate)})")
    return SwitchingSummary(rate, tuple(dominant), share, groups, matches, detected, reason,
                            float(max_rate), events, visited, 1 - share, math.factorial(K))


