"""A census of posterior modes: where each chain settled, matched to EM's atlas of optima.

Each chain is summarised by its post-warm-up medians. A chain *sits at* an
EM optimum when, after matching components (Hungarian, never sorting),
every weight, mean and log-sd of the optimum lies within ``z_max`` of the
chain's medians in units of the chain's own posterior sd. Chains that sit
at no optimum are grouped the same way among themselves and form new modes.

Classification of the run
-------------------------
*one mode*: every chain in one mode, in the same labelling.
*label switching only*: one mode, but chains in different labellings (or
switching within a chain): relabel and report.
*several modes*: chains in non-equivalent solutions. Diagnostics are then
given per mode, never pooled across modes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

import em

__all__ = ["Z_MAX", "Census", "census"]

#: a chain sits at an optimum when every matched parameter is within this many posterior sds
Z_MAX = 4.0


@dataclass(frozen=True)
class Census:
    """Result of :func:`census`.

    Attributes
    ----------
    kind : {"one mode", "label switching only", "several modes"}
    reason : str
        One line saying why.
    mode_of_chain : ndarray of shape (chain,)
    optimum_of_mode : list of int
        Index of the matched EM optimum for each mode (-1: no EM counterpart).
    perms : ndarray of shape (chain, K)
        Permutation taking each chain's labelling to its mode's reference
        labelling (``chain_params[perms[c]]`` is aligned).
    dataset : xarray.Dataset
        Chain medians, modes, matches, per-mode R-hat/ESS (see :func:`census`).
    """

    kind: str
    reason: str
    mode_of_chain: np.ndarray
    optimum_of_mode: list
    perms: np.ndarray
    dataset: xr.Dataset


def _arrays(post: xr.Dataset):
    w = post["weights"].transpose("chain", "draw", "component").values
    m = post["means"].transpose("chain", "draw", "component", ...).values
    v = post["variances"].transpose("chain", "draw", "component", ...).values
    C, D, K = w.shape
    m = m.reshape(C, D, K, -1)
    v = v.reshape(C, D, K, -1)
    return w, m, v


def _vec(w, m, v):
    """Parameters as one vector per component: weight, means, log-sds -> (K, 1 + 2d)."""
    return np.concatenate([w[:, None], m, 0.5 * np.log(v)], axis=1)


def _z_distance(a, b, scale):
    """Largest |a - b[perm]| / scale over the best matching permutation of b's components."""
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(a[:, None, :] - b[None, :, :]) / scale[:, None, :]
    worst = cost.max(axis=2)
    rows, cols = linear_sum_assignment(worst)
    perm = np.empty_like(cols)
    perm[rows] = cols
    return float(worst[rows, cols].max()), perm


def census(post: xr.Dataset, mle: em.EMResult | None = None, *, z_max: float = Z_MAX,
           switching_rate=None) -> Census:
    """Classify where the chains of a posterior settled.

    Parameters
    ----------
    post : xarray.Dataset
        Raw (not relabelled) posterior over ``(chain, draw, component[, feature])``.
    mle : em.EMResult, optional
        Its atlas (``optima``) gives EM counterparts to the modes.
    z_max : float, default 4.0
        Matching tolerance in posterior standard deviations.
    switching_rate : array_like of shape (chain,), optional
        Within-chain label-switching rates (from the label-switching analysis);
        a rate above 1 % counts as switching.

    Returns
    -------
    Census
    """
    w, m, v = _arrays(post)
    C, D, K = w.shape
    med = np.stack([_vec(np.median(w[c], axis=0), np.median(m[c], axis=0),
                         np.median(v[c], axis=0)) for c in range(C)])
    sd = np.stack([np.concatenate([w[c].std(axis=0)[:, None], m[c].std(axis=0),
                                   0.5 * np.log(v[c]).std(axis=0)], axis=1) for c in range(C)])
    sd = np.maximum(sd, 1e-12)
    optima = []
    if mle is not None:
        for o in mle.optima:
            optima.append(_vec(o.weights, np.reshape(o.means, (K, -1)),
                               np.reshape(o.variances, (K, -1))))
    # chain -> optimum
    match = np.full(C, -1)
    dist = np.full((C, max(len(optima), 1)), np.inf)
    perms = np.tile(np.arange(K), (C, 1))
    for c in range(C):
        for j, o in enumerate(optima):
            dz, perm = _z_distance(o, med[c], sd[c])
            dist[c, j] = dz
            if dz <= z_max and (match[c] < 0 or dz < dist[c, match[c]]):
                match[c], perms[c] = j, perm
    # modes: one per matched optimum, then unmatched chains grouped among themselves
    mode_of_chain = np.full(C, -1)
    optimum_of_mode: list[int] = []
    for j in sorted(set(match[match >= 0].tolist())):
        mode_of_chain[match == j] = len(optimum_of_mode)
        optimum_of_mode.append(j)
    for c in np.flatnonzero(match < 0):
        if mode_of_chain[c] >= 0:
            continue
        mode_of_chain[c] = len(optimum_of_mode)
        optimum_of_mode.append(-1)
        for c2 in np.flatnonzero((match < 0) & (mode_of_chain < 0)):
            dz, perm = _z_distance(med[c], med[c2], np.maximum(sd[c], sd[c2]))
            if dz <= z_max:
                mode_of_chain[c2] = mode_of_chain[c]
                perms[c2] = perm
    n_modes = len(optimum_of_mode)
    # labellings within each mode, relative to the mode's first chain
    rel = np.empty_like(perms)
    for k in range(n_modes):
        cs = np.flatnonzero(mode_of_chain == k)
        for c in cs:
            rel[c] = np.argsort(perms[cs[0]])[perms[c]]
    rates = np.zeros(C) if switching_rate is None else np.asarray(switching_rate, float)
    switching = rates > 0.01
    distinct_lab = len({tuple(p) for p in rel.tolist()}) > 1
    if n_modes > 1:
        kind = "several modes"
        parts = []
        for k, j in enumerate(optimum_of_mode):
            cs = np.flatnonzero(mode_of_chain == k).tolist()
            where = f"EM optimum {j}" if j >= 0 else "no EM optimum"
            parts.append(f"chain{'s' if len(cs) > 1 else ''} {', '.join(map(str, cs))} at {where}")
        reason = "; ".join(parts)
    elif distinct_lab or switching.any():
        kind = "label switching only"
        reason = ("chains sit in one mode in different labellings" if distinct_lab
                  else f"chain(s) {np.flatnonzero(switching).tolist()} switch labels")
    else:
        kind = "one mode"
        j = optimum_of_mode[0] if optimum_of_mode else -1
        reason = "every chain sits in one mode" + (f" (EM optimum {j})" if j >= 0 else "")
    ds = xr.Dataset({
        "median": (("chain", "component", "param"), med),
        "mode_of_chain": ("chain", mode_of_chain),
        "matched_optimum": ("chain", match),
        "distance": (("chain", "optimum"), dist if optima else np.full((C, 1), np.nan)),
        "labelling": (("chain", "component"), rel),
        "optimum_of_mode": ("mode", np.asarray(optimum_of_mode, dtype=int)),
    }, coords={"chain": np.arange(C), "mode": np.arange(n_modes)})
    ds.attrs.update({"kind": kind, "reason": reason, "z_max": z_max})
    return Census(kind, reason, mode_of_chain, optimum_of_mode, perms, ds)


def per_mode_diagnostics(post: xr.Dataset, cen: Census) -> xr.Dataset:
    """R-hat and bulk ESS of every parameter within each mode (chains relabelled to the mode).

    Returns
    -------
    xarray.Dataset
        ``rhat_max``, ``ess_bulk_min`` and ``n_chains`` over ``mode``.
    """
    import arviz_stats as azs

    from .labels import permute_components
    from .tables import posterior_rows

    C, D = post.sizes["chain"], post.sizes["draw"]
    K = post.sizes["component"]
    perms = np.broadcast_to(cen.perms[:, None, :], (C, D, K))
    aligned = permute_components(post, perms)
    n_modes = len(cen.optimum_of_mode)
    rhat, ess, nch = np.full(n_modes, np.nan), np.full(n_modes, np.nan), np.zeros(n_modes, int)
    for k in range(n_modes):
        cs = np.flatnonzero(cen.mode_of_chain == k)
        rows = posterior_rows(aligned.isel(chain=cs))
        rhat[k] = float(np.nanmax(azs.rhat(rows).values))
        ess[k] = float(np.nanmin(azs.ess(rows, method="bulk").values))
        nch[k] = cs.size
    return xr.Dataset({"rhat_max": ("mode", rhat), "ess_bulk_min": ("mode", ess),
                       "n_chains": ("mode", nch)}, coords={"mode": np.arange(n_modes)})
