"""The overfitted mixture's answer: the posterior of the number of non-empty components."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr
from mixcompare import em

__all__ = ["overfitted_side"]


def overfitted_side(X, k_max: int, structure: str, prior: em.Prior, *, alpha: float | None = None,
                    draws: int = 500, tune: int = 500, chains: int = 2, rng=None,
                    on_progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Sample the overfitted mixture with NUTS and count the occupied components per draw.

    Parameters
    ----------
    X : ndarray of shape (n,) or (n, d)
    k_max : int
        Components of the overfitted mixture (at least 2).
    structure : str
    prior : em.Prior
        Its ``alpha`` is replaced by the sparse ``alpha``.
    alpha : float, optional
        Defaults to :data:`models.overfitted.SPARSE_ALPHA`.
    draws, tune, chains : int
    rng : int, numpy.random.Generator or None
    on_progress : callable, optional
        ``on_progress(done, total)`` with NUTS's iterations.

    Returns
    -------
    xarray.Dataset
        ``occupied`` (chain, draw); ``p_occupied`` over ``n_occupied`` =
        1..k_max (the posterior of the number of non-empty components); attributes
        ``alpha``, ``k_max``, ``mode`` (the most probable count), ``divergences``.
    """
    from mixcompare import models
    from mixcompare.models.overfitted import SPARSE_ALPHA, occupied_components, overfitted_model

    rng = em.check_rng(rng)
    alpha = SPARSE_ALPHA if alpha is None else alpha
    r_nuts, r_z = rng.spawn(2)
    mm = overfitted_model(X, k_max, prior, alpha=alpha, structure=structure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", models.SamplerWarning)
        tree = models.fit_nuts(mm, draws=draws, tune=tune, chains=chains, rng=r_nuts,
                               progressbar=False, cores=1, on_progress=on_progress)
    occ = occupied_components(X, tree["posterior"].to_dataset(), rng=r_z)
    counts = np.arange(1, k_max + 1)
    p = np.array([(occ == c).mean() for c in counts])
    return xr.Dataset(
        {"occupied": (("chain", "draw"), occ), "p_occupied": ("n_occupied", p)},
        coords={"n_occupied": counts},
        attrs={"alpha": float(alpha), "k_max": int(k_max), "mode": int(counts[np.argmax(p)]),
               "structure": structure, "draws": draws, "tune": tune, "chains": chains,
               "divergences": int(tree["sample_stats"]["diverging"].values.sum())})
