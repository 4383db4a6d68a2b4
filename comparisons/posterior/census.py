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

How many chains sit in a mode depends on where they started, not on the
mode's posterior mass: :mod:`.mass` estimates the masses from the density
(the pipeline adds them to the census as ``mass``, ``mass_sd``,
``mass_method``, next to ``chain_share``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior.relabel import draw_arrays
from mixcompare.comparisons.posterior.units import standardised

__all__ = ["optimum_id", "Z_MAX", "Census", "census", "per_mode_diagnostics", "take_census"]

#: a chain sits at an optimum when every matched parameter is within this many posterior sds
Z_MAX = 4.0
#: split R-hat of a single chain above which it has not settled in a mode
UNSETTLED_RHAT = 1.1


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


def optimum_id(source: str, index: int) -> str:
    """Return the identifier of optimum ``index`` of the ``"em"`` or ``"map_em"`` atlas.

    ``E0, E1, ...`` name EM's optima and ``M0, M1, ...`` MAP-EM's, best first
    (:mod:`mixcompare.comparisons.pipeline.atlas` lists both in one table);
    ``"none"`` stands for no optimum.
    """
    if index < 0:
        return "none"
    return ("E" if source == "em" else "M") + str(int(index))


def census(post: xr.Dataset, optima=None, *, z_max: float = Z_MAX,
           switching_rate=None, name=None) -> Census:
    """Classify where the chains of a posterior settled.

    Parameters
    ----------
    post : xarray.Dataset
        Raw (not relabelled) posterior over ``(chain, draw, component[, feature])``.
    optima : em.EMResult or sequence of (weights, means, variances), optional
        EM's atlas (an ``EMResult``'s ``optima``, or parameter triples), the
        candidate EM counterparts of the modes.
    z_max : float, default 4.0
        Matching tolerance in posterior standard deviations.
    switching_rate : array_like of shape (chain,), optional
        Within-chain label-switching rates (from the label-switching analysis);
        a rate above 1 % counts as switching.
    name : callable, optional
        ``name(j)`` names optimum ``j`` in the reason (default ``"EM optimum j"``).

    Returns
    -------
    Census
    """
    if name is None:
        def name(j):
            return f"EM optimum {j}"
    w, m, v = draw_arrays(post)
    C, D, K = w.shape
    m = m.reshape(C, D, K, -1)
    v = v.reshape(C, D, K, -1)
    med = np.stack([_vec(np.median(w[c], axis=0), np.median(m[c], axis=0),
                         np.median(v[c], axis=0)) for c in range(C)])
    sd = np.stack([np.concatenate([w[c].std(axis=0)[:, None], m[c].std(axis=0),
                                   0.5 * np.log(v[c]).std(axis=0)], axis=1) for c in range(C)])
    sd = np.maximum(sd, 1e-12)
    if isinstance(optima, em.EMResult):
        optima = [(o.weights, o.means, o.variances) for o in optima.optima]
    optima = [_vec(np.asarray(w), np.reshape(m, (K, -1)), np.reshape(v, (K, -1)))
              for w, m, v in (optima or [])]
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
            where = name(j) if j >= 0 else "no EM optimum"
            parts.append(f"chain{'s' if len(cs) > 1 else ''} {', '.join(map(str, cs))} at {where}")
        reason = "; ".join(parts)
    elif distinct_lab or switching.any():
        kind = "label switching only"
        reason = ("chains sit in one mode in different labellings" if distinct_lab
                  else f"chain(s) {np.flatnonzero(switching).tolist()} switch labels")
    else:
        kind = "one mode"
        j = optimum_of_mode[0] if optimum_of_mode else -1
        reason = "every chain sits in one mode" + (f" ({name(j)})" if j >= 0 else "")
    unsettled = _unsettled(post)
    if unsettled.any():
        reason += (f"; chain{'s' if unsettled.sum() > 1 else ''} "
                   f"{', '.join(map(str, np.flatnonzero(unsettled)))} had not settled "
                   f"(split R-hat within the chain above {UNSETTLED_RHAT})")
    ds = xr.Dataset({
        "unsettled": ("chain", unsettled),
        "median": (("chain", "component", "param"), med),
        "mode_of_chain": ("chain", mode_of_chain),
        "matched_optimum": ("chain", match),
        "distance": (("chain", "optimum"), dist if optima else np.full((C, 1), np.nan)),
        "labelling": (("chain", "component"), rel),
        "optimum_of_mode": ("mode", np.asarray(optimum_of_mode, dtype=int)),
    }, coords={"chain": np.arange(C), "mode": np.arange(n_modes)})
    ds.attrs.update({"kind": kind, "reason": reason, "z_max": z_max})
    return Census(kind, reason, mode_of_chain, optimum_of_mode, perms, ds)


def _unsettled(post: xr.Dataset) -> np.ndarray:
    """Chains whose own split R-hat (first vs second half) exceeds ``UNSETTLED_RHAT``."""
    import arviz_stats as azs
    from mixcompare.comparisons.tables import posterior_rows

    rows = posterior_rows(post).values
    C, D, R = rows.shape
    half = D // 2
    out = np.zeros(C, dtype=bool)
    for c in range(C):
        split = xr.DataArray(rows[c, : 2 * half].reshape(2, half, R),
                             dims=("chain", "draw", "row"))
        out[c] = float(np.nanmax(azs.rhat(split).values)) > UNSETTLED_RHAT
    return out


def chain_medians(post: xr.Dataset, chain: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Post-warm-up medians (weights renormalised, means, variances) of one chain."""
    c = post.isel(chain=chain)
    w = c["weights"].median("draw").values
    m = c["means"].median("draw").values
    v = c["variances"].median("draw").values
    return w / w.sum(), m, v


def per_mode_diagnostics(post: xr.Dataset, cen: Census) -> xr.Dataset:
    """R-hat and bulk ESS of every parameter within each mode (chains relabelled to the mode).

    Returns
    -------
    xarray.Dataset
        ``rhat_max``, ``ess_bulk_min`` and ``n_chains`` over ``mode``.
    """
    import arviz_stats as azs
    from mixcompare.comparisons.posterior.relabel import permute_components
    from mixcompare.comparisons.tables import posterior_rows

    C, D = post.sizes["chain"], post.sizes["draw"]
    K = post.sizes["component"]
    perms = np.broadcast_to(cen.perms[:, None, :], (C, D, K))
    aligned = permute_components(post, perms)
    n_modes = len(cen.optimum_of_mode)
    rhat, ess, nch = np.full(n_modes, np.nan), np.full(n_modes, np.nan), np.zeros(n_modes, int)
    for k in range(n_modes):
        cs = np.flatnonzero(cen.mode_of_chain == k)
        rows = posterior_rows(aligned.isel(chain=cs))
        if cs.size == 1:  # one chain: split it in halves (split R-hat)
            half = rows.sizes["draw"] // 2
            rows = xr.DataArray(rows.values[0, : 2 * half].reshape(2, half, -1),
                                dims=("chain", "draw", "row"))
        rhat[k] = float(np.nanmax(azs.rhat(rows).values))
        ess[k] = float(np.nanmin(azs.ess(rows, method="bulk").values))
        nch[k] = cs.size
    return xr.Dataset({"rhat_max": ("mode", rhat), "ess_bulk_min": ("mode", ess),
                       "n_chains": ("mode", nch)}, coords={"mode": np.arange(n_modes)})


def _same_as_any(res: em.EMResult, optima, tol: float = 1e-3) -> bool:
    """Whether an EM fit equals one of ``optima`` up to relabelling (em's atlas tolerance)."""
    scale = res.scaling.scale
    mine = standardised(res.weights, res.means, res.variances, scale)
    return any(em.match_components(standardised(*o, scale), mine)[1] < tol for o in optima)


def starts_kept_or_left(matched: np.ndarray, started_at) -> tuple[np.ndarray, dict]:
    """Which EM optima the chains started at are posterior modes (a chain stayed) or not.

    Parameters
    ----------
    matched : ndarray of shape (chain,)
        The optimum each chain settled at (-1: none).
    started_at : array_like of shape (chain,)
        The optimum each chain started at (-1: not started at an optimum).

    Returns
    -------
    stayed : ndarray of bool, shape (chain,)
    verdict : dict
        ``kept``: started-at optima where some chain stayed (they are posterior
        modes too); ``left``: ``{optimum: [where its chains went, ...]}`` for
        started-at optima every chain left (not posterior modes: NUTS moves
        away from them), -1 meaning no EM optimum.
    """
    started = np.asarray(started_at, dtype=int)
    matched = np.asarray(matched, dtype=int)
    stayed = (started >= 0) & (matched == started)
    kept = sorted({int(j) for j in started[stayed]})
    left = {int(j): sorted({int(m) for m in matched[started == j]})
            for j in sorted(set(started[started >= 0].tolist())) if j not in kept}
    return stayed, {"kept": kept, "left": left}


def take_census(post: xr.Dataset, atlas: em.EMResult, model, X, *, switching_rate=None,
                structure=None, fixed=None, started_at=None) -> xr.Dataset:
    """Take the census of a posterior against (MAP-)EM's atlas, polishing unmatched modes.

    Parameters
    ----------
    post : xarray.Dataset
        Raw posterior.
    atlas : em.EMResult
        The (MAP-)EM fit whose optima are the candidate counterparts.
    model : pymc.Model
        For the log posterior density at each mode's chain medians.
    X : ndarray
        The data (to polish modes with EM).
    switching_rate : array_like of shape (chain,), optional
    structure, fixed : optional
        As the fit's.
    started_at : array_like of shape (chain,), optional
        The atlas optimum each chain started at (``init="em"`` or ``"atlas"``;
        -1 for none), to tell the optima the posterior keeps as modes from
        those it leaves (:func:`starts_kept_or_left`).

    Returns
    -------
    xarray.Dataset
        :func:`census`'s dataset merged with :func:`per_mode_diagnostics`, plus
        ``log_density_at_median``, ``optimum_log_likelihood`` and
        ``optimum_source`` (``"atlas"`` or ``"chain c"``) over ``mode``; with
        ``started_at``, ``started_at`` and ``stayed`` over ``chain`` and the
        attributes ``optima_kept`` and ``optima_left`` (JSON).

    Notes
    -----
    A mode that matches no optimum of the atlas is *polished*: (MAP-)EM is run
    from its chain's medians. When EM stays there, the mode is an optimum the
    atlas's restarts missed and joins the atlas (source ``"chain"``); when EM
    climbs away, the mode has no EM counterpart.
    """
    from mixcompare import models

    rates = switching_rate
    source_kind = "map_em" if atlas.prior is not None else "em"
    n_atlas = len(atlas.optima)

    def name(j):
        if j < n_atlas:
            return f"{'MAP-EM' if source_kind == 'map_em' else 'EM'} optimum " \
                   f"{optimum_id(source_kind, j)}"
        return f"an optimum the atlas missed (polished from a chain, #{j})"

    optima = [(o.weights, o.means, o.variances) for o in atlas.optima]
    lls = [o.log_likelihood for o in atlas.optima]
    source = ["atlas"] * len(optima)
    cen = census(post, optima, switching_rate=rates, name=name)
    for k, j in enumerate(cen.optimum_of_mode):
        if j >= 0:
            continue
        c = int(np.flatnonzero(cen.mode_of_chain == k)[0])
        w, m, v = chain_medians(post, c)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", em.MixcompareWarning)
                res = em.fit(X, len(w), structure=structure, fixed=fixed,
                             prior=atlas.prior, init={"weights": w, "means": m, "variances": v})
        except (ValueError, FloatingPointError):
            continue
        if _same_as_any(res, optima):  # EM climbed to a known optimum: no new counterpart
            continue
        optima.append((res.weights, res.means, res.variances))
        lls.append(res.log_likelihood)
        source.append(f"chain {c}")
    if len(optima) > len(atlas.optima):
        cen = census(post, optima, switching_rate=rates, name=name)
    ds = xr.merge([cen.dataset, per_mode_diagnostics(post, cen)],
                  combine_attrs="override")
    logd = []
    for k in range(len(cen.optimum_of_mode)):
        c = int(np.flatnonzero(cen.mode_of_chain == k)[0])
        w, m, v = chain_medians(post, c)
        cov = (post["covariances"].isel(chain=c).median("draw").values
               if "covariances" in post else None)
        try:
            values = (models.params_to_values(model, w, m, v) if cov is None else
                      models.params_to_values(model, w, m, covariances=cov))
            logd.append(models.log_density(model, values))
        except (ValueError, KeyError):
            logd.append(np.nan)
    ll = [lls[j] if j >= 0 else np.nan for j in cen.optimum_of_mode]
    src = [source[j] if j >= 0 else "" for j in cen.optimum_of_mode]
    ds["log_density_at_median"] = ("mode", np.asarray(logd, float))
    ds["optimum_log_likelihood"] = ("mode", np.asarray(ll, float))
    ds["optimum_source"] = ("mode", np.asarray(src, dtype=str))
    if started_at is not None:
        stayed, verdict = starts_kept_or_left(ds["matched_optimum"].values, started_at)
        ds["started_at"] = ("chain", np.asarray(started_at, dtype=int))
        ds["stayed"] = ("chain", stayed)
        ds.attrs["optima_kept"] = json.dumps(verdict["kept"])
        ds.attrs["optima_left"] = json.dumps({str(k): v for k, v in verdict["left"].items()})
    ds.attrs["atlas"] = source_kind
    ds["optimum_id"] = ("mode", np.array([optimum_id(source_kind, j) if 0 <= j < n_atlas
                                          else ("none" if j < 0 else f"P{j}")
                                          for j in cen.optimum_of_mode], dtype=str))
    ds.attrs["n_atlas_optima"] = len(atlas.optima)
    return ds
