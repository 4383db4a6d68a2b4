"""When EM and the posterior can be said to agree, per mode when not pooled, and why they differ.

The pooled agreement verdict (``|z| <= 2`` per parameter, :mod:`.metrics`)
pools every chain's draws. It means something only when those draws are
from one mode and the sampler has converged, so it is *assessable* only when

- the census finds one mode (label switching alone is undone by relabelling),
- every chain settled (its own split R-hat is small),
- relabelled R-hat <= 1.01 and bulk ESS >= 400 for every parameter,
- the modes the chains sit in hold at least ``MASS_MIN`` (90 %) of the
  estimated posterior mass (:mod:`..posterior.mass`), when it is estimated:
  chains that all sit in a minor mode summarise that mode, not the posterior.

Otherwise the verdict is ``not_assessable`` with the reasons, no pooled
"agree" is given, and agreement is given **per mode**: each mode's posterior
(its chains only, aligned to the reference order) against the EM optimum it
matches, with the mode's estimated posterior mass (:mod:`..posterior.mass`: bridge
sampling or Laplace, independent of where the chains started) and, labelled as
such, its share of chains.

Why they differ
---------------
The distance from EM's MLE to the pooled posterior mean is split into three
parts that add up to it: the **prior** (MLE -> MAP-EM, the same restarts
under the shared prior), the posterior's **asymmetry** (MAP-EM -> the
posterior mean of the mode holding EM's best optimum) and **several modes**
(that mode's mean -> the pooled mean). When no chain sits at the best
optimum, the whole MAP-EM -> posterior-mean distance counts as several modes.
The largest part in absolute value is the one the report names.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior.census import chain_medians
from mixcompare.comparisons.posterior.relabel import permute_components
from mixcompare.comparisons.posterior.units import standardised
from mixcompare.comparisons.tables import flatten, posterior_rows, table

from .metrics import AGREE_Z, ESS_MIN, RHAT_MAX

__all__ = ["MASS_MIN", "PARTS", "apply_verdict", "assessability", "decompose",
           "per_mode_agreement"]

#: the least estimated posterior mass the chains' modes must hold for a pooled verdict
MASS_MIN = 0.9

#: the parts of the MLE-to-posterior-mean distance, in order (see the module docstring)
PARTS = ("prior", "asymmetry", "modes")


def assessability(census: xr.Dataset | None, diagnostics: xr.Dataset | None) -> tuple[bool, str]:
    """Whether a pooled agreement verdict can be given, and the reason either way.

    Parameters
    ----------
    census : xarray.Dataset
        ``comparison/census`` (attributes ``kind``; ``unsettled`` per chain).
    diagnostics : xarray.Dataset
        ``comparison/diagnostics`` (``rhat_relabeled``, ``ess_bulk_relabeled``).

    Returns
    -------
    assessable : bool
    reason : str
    """
    if census is None or diagnostics is None:
        return False, "no posterior draws (NUTS did not run)"
    why = []
    if census.attrs.get("kind") == "several modes":
        why.append(f"the chains settled in {census.sizes['mode']} different modes")
    unsettled = np.flatnonzero(np.asarray(census["unsettled"].values, bool))
    if unsettled.size:
        why.append(f"chain{'s' if unsettled.size > 1 else ''} "
                   f"{', '.join(map(str, unsettled))} had not settled")
    rhat = float(np.nanmax(diagnostics["rhat_relabeled"].values))
    if not rhat <= RHAT_MAX:
        why.append(f"relabelled R-hat {rhat:.3f} > {RHAT_MAX}")
    ess = float(np.nanmin(diagnostics["ess_bulk_relabeled"].values))
    if not ess >= ESS_MIN:
        why.append(f"lowest relabelled bulk ESS {ess:.0f} < {ESS_MIN}")
    if "mass" in census and "mass_region" in census:
        _, first = np.unique(census["mass_region"].values, return_index=True)
        held = float(np.sum(census["mass"].values[first]))  # each region counted once
        if np.isfinite(held) and held < MASS_MIN:
            several = census.sizes["mode"] > 1
            why.append(f"the chains' mode{'s hold' if several else ' holds'} only "
                       f"{held:.2g} of the estimated posterior mass (< {MASS_MIN:g}): the "
                       "draws summarise a minor mode")
    if why:
        return False, "; ".join(why)
    return True, (f"one mode, every chain settled, relabelled R-hat {rhat:.3f} <= {RHAT_MAX}, "
                  f"bulk ESS {ess:.0f} >= {ESS_MIN}")



def per_mode_agreement(post: xr.Dataset, census: xr.Dataset, optima: list, reference: em.Params,
                       scale: float, *, prob: float) -> xr.Dataset:
    """Each mode's posterior (its chains, aligned to the reference order) against its optimum.

    Parameters
    ----------
    post : xarray.Dataset
        The raw posterior over ``(chain, draw, component[, feature])``.
    census : xarray.Dataset
        ``comparison/census``: ``mode_of_chain``, ``optimum_of_mode``.
    optima : list of (weights, means, variances)
        The atlas the census matched against (its indices are ``optimum_of_mode``).
    reference : em.Params
        The reference component order (EM's MLE, sorted).
    scale : float
        The data's scale (parameters are matched on standardised units).
    prob : float
        HDI probability.

    Returns
    -------
    xarray.Dataset
        Over ``(mode, row)``: ``optimum_value`` (NaN without an EM counterpart),
        ``post_mean``, ``post_sd``, ``hdi_low``, ``hdi_high``, ``z``,
        ``optimum_in_hdi``, ``agree``; over ``mode``: ``optimum``,
        ``n_chains``, ``chain_share`` and, when the census has them, the
        estimated ``mass``, ``mass_sd`` and ``mass_method``.
    """
    import arviz_stats as azs

    C, K = post.sizes["chain"], post.sizes["component"]
    d = None if post["means"].ndim == 3 else post.sizes[post["means"].dims[-1]]
    ref = standardised(reference.weights, reference.means, reference.covariances, scale)
    modes = census["mode_of_chain"].values
    tables = []
    for k, j in enumerate(census["optimum_of_mode"].values):
        cs = np.flatnonzero(modes == k)
        value = None
        if 0 <= j < len(optima):  # the optimum to the reference, each chain to the optimum
            opt = standardised(*optima[j], scale)
            to_ref, _ = em.match_components(ref, opt)
            target = em.Params(opt.weights[to_ref], opt.means[to_ref],
                               opt.covariances[to_ref])
            w, m, v = (np.asarray(a, float) for a in optima[j])
            shape = (K,) if d is None else (K, d)
            value = flatten(w[to_ref], np.reshape(m, shape)[to_ref],
                            np.sqrt(np.reshape(v, shape)[to_ref]))
        else:  # no EM counterpart: align the chains to the reference directly
            target = ref
        perms = np.stack([
            em.match_components(target, standardised(*chain_medians(post, c), scale))[0]
            for c in cs])
        sub = post.isel(chain=cs)
        aligned = permute_components(sub, np.broadcast_to(
            perms[:, None, :], (cs.size, sub.sizes["draw"], K)))
        rows = posterior_rows(aligned)
        flat = rows.values.reshape(-1, rows.shape[-1])
        hdi = azs.hdi(rows, prob=prob)
        mean, sd = flat.mean(axis=0), flat.std(axis=0, ddof=1)
        lo, hi = hdi.sel(ci_bound="lower").values, hdi.sel(ci_bound="upper").values
        if value is None:
            value = np.full(mean.shape, np.nan)
        z = (value - mean) / np.where(sd > 0, sd, np.nan)
        tables.append(table(K, d, {
            "optimum_value": value, "post_mean": mean, "post_sd": sd, "hdi_low": lo,
            "hdi_high": hi, "z": z, "optimum_in_hdi": (value >= lo) & (value <= hi),
            "agree": np.abs(z) <= AGREE_Z}))
    out = xr.concat(tables, dim="mode", coords="minimal", compat="override")
    counts = np.array([(modes == k).sum() for k in range(len(tables))])
    out["optimum"] = ("mode", census["optimum_of_mode"].values.astype(int))
    out["n_chains"] = ("mode", counts)
    out["chain_share"] = ("mode", counts / C)
    for name in ("mass", "mass_sd", "mass_method"):
        if name in census:
            out[name] = ("mode", census[name].values)
    out.attrs.update({"hdi_prob": float(prob), "share": "chains, not posterior mass",
                      "atlas": census.attrs.get("atlas", "em")})
    return out.assign_coords(mode=np.arange(len(tables)))


def decompose(mle, map_em, mode_mean, pooled_mean) -> dict:
    """Split ``pooled_mean - mle`` into the prior, asymmetry and several-modes parts.

    Parameters
    ----------
    mle, map_em, mode_mean, pooled_mean : ndarray of shape (n_rows,)
        EM's MLE, MAP-EM, the posterior mean of the mode holding EM's best
        optimum, and the pooled posterior mean (all in reference order).
        ``map_em`` may be None (then the prior part is NaN and the asymmetry
        part starts at the MLE); ``mode_mean`` may be None (one mode: the
        several-modes part is 0).

    Returns
    -------
    dict
        ``prior``, ``asymmetry``, ``modes`` (arrays summing to
        ``pooled_mean - mle`` where defined) and ``dominant`` (the name of the
        largest part per row).
    """
    mle, pooled = np.asarray(mle, float), np.asarray(pooled_mean, float)
    mode = pooled if mode_mean is None else np.asarray(mode_mean, float)
    base = mle if map_em is None else np.asarray(map_em, float)
    parts = {"prior": base - mle if map_em is not None else np.full_like(mle, np.nan),
             "asymmetry": mode - base, "modes": pooled - mode}
    stack = np.abs(np.nan_to_num(np.stack([parts[p] for p in PARTS])))
    parts["dominant"] = np.asarray(PARTS)[np.argmax(stack, axis=0)]
    return parts


def apply_verdict(agreement: xr.Dataset, est: dict, census: xr.Dataset | None,
                  diagnostics: xr.Dataset | None, modes: xr.Dataset | None) -> xr.Dataset:
    """Add the verdict, its reason and the decomposition to the pooled agreement table.

    When the verdict is not assessable the pooled ``agree`` column is removed:
    only per-mode verdicts (``modes``) are then given.
    """
    ok, reason = assessability(census, diagnostics)
    out = agreement.copy()
    out.attrs.update({"verdict": "assessable" if ok else "not_assessable", "reason": reason})
    if "post_mean" not in out:
        return out
    mode_mean = None
    if modes is not None and census is not None:
        best = np.flatnonzero(modes["optimum"].values == 0)
        if best.size and census.attrs.get("kind") == "several modes":
            mode_mean = modes["post_mean"].values[best[0]]
        elif not best.size:  # no chain at the best optimum: the whole gap is "another mode"
            mode_mean = est.get("map_em", est["em"])
            where = ", ".join(str(i) for i in census["optimum_id"].values) \
                if "optimum_id" in census else "another optimum"
            out.attrs["reason"] = (f"{reason}; no chain sits at the best optimum (the chains' "
                                   f"mode: {where}), so the posterior summarises another mode "
                                   "than EM's best")
    parts = decompose(est["em"], est.get("map_em"), mode_mean, out["post_mean"].values)
    for name in PARTS:
        out[f"part_{name}"] = ("row", parts[name])
    out["dominant"] = ("row", parts["dominant"].astype(str))
    if not ok and "agree" in out:
        out = out.drop_vars("agree")
    return out
