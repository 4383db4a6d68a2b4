"""Plain-Python summaries of EM fits (the ``em`` block of ``summary.json``)."""

from __future__ import annotations

import numpy as np
from mixcompare import em
from mixcompare.comparisons.io import to_jsonable


def em_summary(res: em.EMResult) -> dict:
    """JSON-ready description of an :class:`em.EMResult`.

    Returns
    -------
    dict
        ``log_likelihood``, ``log_posterior``, ``weights``, ``means``, ``sds``
        (1-D) or ``covariances``, ``converged``, ``n_iter``, ``n_restarts``,
        ``init_cap_reached``, the criteria named with their convention
        (``bic_sklearn``, ``aic_sklearn``, ``icl_sklearn``,
        ``icl_soft_sklearn``: ``-2 l + penalty``, lower is better;
        ``bic_mclust``, ``icl_mclust``: ``2 l - penalty``, higher is better;
        see :meth:`em.EMResult.criteria`), ``spurious`` and ``optima`` (a list
        with ``log_likelihood``, ``count``, ``basin_share``, ``degenerate``,
        ``spurious``, ``converged`` and parameters).
    """
    out = {
        "algorithm": res.algorithm,
        "structure": res.structure,
        "log_likelihood": res.log_likelihood,
        "log_posterior": res.log_posterior,
        "weights": res.weights,
        "means": res.means,
        "converged": bool(res.converged),
        "n_iter": int(res.n_iter),
        "n_restarts": res.n_restarts,
        "init_cap_reached": bool(res.init_cap_reached),
        **res.criteria(),
        "degenerate": res.degenerate,
        "spurious": res.spurious,
    }
    if res.spec.one_d:
        out["sds"] = res.sds
    else:
        out["covariances"] = res.covariances
    out["optima"] = [
        {
            "log_likelihood": o.log_likelihood,
            "count": o.count,
            "basin_share": o.basin_share,
            "converged": o.converged,
            "degenerate": o.degenerate,
            "spurious": o.spurious,
            "weights": o.weights,
            "means": o.means,
            "sds": np.sqrt(o.variances),
        }
        for o in res.optima
    ]
    return to_jsonable(out)


def restarts_note(attrs) -> str:
    """How the number of restarts was chosen, for the report's provenance table.

    Parameters
    ----------
    attrs : mapping
        A comparison's attributes (``n_init_rule``, ``max_init``, ``init_cap_reached``).

    Returns
    -------
    str
        ``" (auto, cap 200)"``, ``" (auto, cap 200 reached)"`` or ``""`` for a fixed count.
    """
    if attrs.get("n_init_rule") != "auto":
        return ""
    reached = " reached" if int(attrs.get("init_cap_reached", 0)) else ""
    return f" (auto, cap {attrs.get('max_init')}{reached})"
