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
        (1-D) or ``covariances``, ``converged``, ``n_iter``, ``bic``, ``aic``,
        ``icl`` and ``optima`` (a list with ``log_likelihood``, ``count``,
        ``basin_share``, ``degenerate``, ``converged`` and parameters).
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
        "bic": res.bic(),
        "aic": res.aic(),
        "icl": res.icl(),
        "degenerate": res.degenerate,
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
            "weights": o.weights,
            "means": o.means,
            "sds": np.sqrt(o.variances),
        }
        for o in res.optima
    ]
    return to_jsonable(out)
