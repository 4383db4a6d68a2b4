"""Label-switching analysis of one posterior: detect, relabel two ways, summarise."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr
from mixcompare.comparisons.posterior import relabel as labels
from mixcompare.comparisons.posterior.stephens import mean_relabeled

__all__ = ["SwitchingAnalysis", "analyse", "starts_note"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwitchingAnalysis:
    """Result of :func:`analyse`.

    Attributes
    ----------
    relabeled : xarray.Dataset
        The posterior relabelled to the pivot's labelling (pivot method).
    dataset : xarray.Dataset
        ``perms_pivot`` and ``perms_stephens`` (chain, draw, component),
        ``switching_rate`` (chain), ``labelling_mass`` (labelling: share of
        draws in each permutation), attributes ``detected``, ``reason``,
        ``stephens_agrees`` (share of draws where both methods agree) and
        ``chain_labelings``.
    summary : labels.SwitchingSummary
    membership : ndarray of shape (n_samples, n_components) or None
        Membership probabilities averaged over the pivot-relabelled draws
        (what ``models.membership_probabilities(relabeled, X)`` gives), from
        the per-draw probabilities Stephens' algorithm needs anyway; None
        when there were too many draws for them.
    """

    relabeled: xr.Dataset
    dataset: xr.Dataset
    summary: labels.SwitchingSummary
    membership: np.ndarray | None = None


def starts_note(detected: bool, started_at, ordered: bool, K: int, name=None) -> str:
    """Say why no switching was seen when that reflects the starts or the ordering, not the data.

    Parameters
    ----------
    detected : bool
        Whether switching was detected.
    started_at : array_like of shape (chain,) or None
        The EM optimum each chain started at (None: PyMC's default starts).
    ordered : bool
        Whether the model orders the means (labels identified).
    K : int
    name : callable, optional
        ``name(j)`` names optimum ``j`` (default ``"EM optimum j"``).
    """
    if detected:
        return ("the chains visit several labellings; relabelling puts every draw in the "
                "pivot's, and label-invariant quantities (the density, relabelled "
                "memberships) are unaffected")
    if ordered:
        return "ordered means identify the labels, so no switching is possible"
    started = None if started_at is None else np.unique(np.asarray(started_at))
    if started is not None and started.size == 1 and started[0] >= 0:
        where = name(int(started[0])) if name else f"EM optimum {int(started[0])}"
        return (f"no switching seen, but every chain started at {where}: "
                "this reflects where the chains started, not the posterior, whose unordered "
                f"labels have {math.factorial(K)} symmetric copies of every mode; "
                "label-invariant quantities are unaffected (use --permute-labels to show the "
                "symmetric posterior)")
    return ("no switching seen from these starts; the unordered posterior still has "
            f"{math.factorial(K)} symmetric copies of every mode")


def analyse(post: xr.Dataset, pivot, X) -> SwitchingAnalysis:
    """Detect label switching against a pivot and relabel (pivot, and Stephens 2000).

    Parameters
    ----------
    post : xarray.Dataset
        Posterior over ``(chain, draw, component[, feature])``.
    pivot : em.Params
        The MAP-EM (or EM) solution in the reference component order.
    X : ndarray
        The data (for Stephens' membership probabilities).
    """
    relabeled, perms = labels.relabel_pivot(post, pivot)
    summ = labels.switching_summary(perms.values)
    data = {"perms_pivot": perms}
    stephens_share = np.nan
    membership = None
    try:
        p = labels.draw_memberships(post, X)
    except ValueError as err:  # too many draws x observations for the KL algorithm
        _log.info("Stephens relabelling skipped: %s", err)
    else:
        _, perms_s = labels.relabel_stephens(post, X, init=perms, memberships=p)
        data["perms_stephens"] = perms_s
        stephens_share = float(np.all(perms_s.values == perms.values, axis=-1).mean())
        K = p.shape[-1]
        membership = mean_relabeled(p.reshape((-1,) + p.shape[2:]),
                                    perms.transpose("chain", "draw", "component").values
                                    .reshape(-1, K))
    flat = perms.values.reshape(-1, perms.shape[-1])
    uniq, counts = np.unique(flat, axis=0, return_counts=True)
    order = np.argsort(-counts)
    names = ["(" + ", ".join(map(str, u)) + ")" for u in uniq[order]]
    ds = xr.Dataset(data)
    ds["switching_rate"] = ("chain", np.asarray(summ.switching_rate))
    ds["switch_events"] = ("chain", np.asarray(summ.switch_events))
    ds["outside_main"] = ("chain", np.asarray(summ.outside_main))
    ds["labellings_visited"] = ("chain", np.asarray(summ.labellings_visited))
    ds["labelling_mass"] = ("labelling", counts[order] / counts.sum())
    ds = ds.assign_coords(labelling=names)
    ds.attrs.update({
        "detected": int(summ.detected),
        "reason": summ.reason,
        "stephens_agrees": stephens_share,
        "chain_labelings": [str(tuple(int(i) for i in p)) for p in summ.dominant],
        "n_labellings": int(summ.n_labellings),
    })
    return SwitchingAnalysis(relabeled, ds, summ, membership)
