"""Agreement, posterior spread and diagnostics tables (numpy kernels, xarray out).

The rule for calling EM and the posterior "in agreement" on a parameter
-----------------------------------------------------------------------
``|z| <= 2`` with ``z = (MLE - posterior mean) / posterior sd``. For a regular
model with a weak prior the two differ by O(1/n) while the posterior sd is
O(1/sqrt(n)), so ``|z|`` is small; ``|z| > 2`` says the prior, skewness or
multimodality of the posterior moves it away from EM's point by more than
the posterior's own uncertainty. The MLE lying inside the 94 % HDI is
reported next to it. MAP-EM and ``find_MAP`` maximise the same density, so
their difference should be round-off: more than 1e-3 posterior sd (or 1e-4
relative without a posterior) is flagged as an inference problem.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior.units import standardised
from mixcompare.comparisons.tables import posterior_rows, table

__all__ = ["AGREE_Z", "HDI_PROB", "agreement", "diagnostics", "em_classification", "hidden",
           "posterior_summary"]

HDI_PROB = 0.94
AGREE_Z = 2.0
MAP_TOL_SD = 1e-3
RHAT_MAX = 1.01
ESS_MIN = 400
UNCERTAIN = 0.2


def mass_resampled(draws: xr.DataArray, chain_weights: np.ndarray) -> xr.DataArray:
    """Resample pooled draws so each chain carries its weight (one chain of the same size).

    Systematic resampling (no randomness): draw ``i`` of the result is the draw
    whose cumulative weight first exceeds ``(i + 1/2) / N``, each draw of chain
    ``c`` weighing ``chain_weights[c] / n_draw``.
    """
    C, D = draws.sizes["chain"], draws.sizes["draw"]
    w = np.repeat(np.asarray(chain_weights, float) / np.sum(chain_weights) / D, D)
    idx = np.searchsorted(np.cumsum(w), (np.arange(C * D) + 0.5) / (C * D))
    flat = draws.transpose("chain", "draw", ...).values.reshape(C * D, -1)
    return xr.DataArray(flat[np.minimum(idx, C * D - 1)][None], dims=("chain", "draw", "row"))


def posterior_summary(post: xr.Dataset, K: int, d, *, prob: float = HDI_PROB,
                      chain_weights: np.ndarray | None = None,
                      pooled_by: str = "chains") -> xr.Dataset:
    """Posterior mean, median, sd and the HDI at ``prob`` (default 94 %) of every row.

    With ``chain_weights`` (one per chain, e.g. each census mode's estimated
    mass shared among its chains) the pooled draws are first resampled to
    carry them (:func:`mass_resampled`); attribute ``pooled_by`` then says
    ``"mass"``, else ``pooled_by`` (``"chains"``: every draw counts once;
    ``"region masses"`` for draws pooled by region,
    :func:`..posterior.strata.resample_by_mass`).
    """
    import arviz_stats as azs

    draws = posterior_rows(post)
    if chain_weights is not None:
        draws = mass_resampled(draws, chain_weights)
        pooled_by = "mass"
    hdi = azs.hdi(draws, prob=prob)
    flat = draws.values.reshape(-1, draws.shape[-1])
    return table(K, d, {
        "post_mean": flat.mean(axis=0),
        "post_median": np.median(flat, axis=0),
        "post_sd": flat.std(axis=0, ddof=1),
        "hdi_low": hdi.sel(ci_bound="lower").values,
        "hdi_high": hdi.sel(ci_bound="upper").values,
    }, {"hdi_prob": float(prob), "pooled_by": pooled_by})


def diagnostics(raw: xr.Dataset, relabeled: xr.Dataset, K: int, d,
                sample_stats: xr.Dataset) -> xr.Dataset:
    """R-hat and ESS before and after relabelling (arviz-stats), divergences.

    Raw R-hat is meaningless under label switching: chains in different
    labellings estimate different quantities. It is shown only to make that visible.
    """
    import arviz_stats as azs

    a, b = posterior_rows(raw), posterior_rows(relabeled)
    out = table(K, d, {
        "rhat_raw": azs.rhat(a).values,
        "rhat_relabeled": azs.rhat(b).values,
        "ess_bulk_raw": azs.ess(a, method="bulk").values,
        "ess_bulk_relabeled": azs.ess(b, method="bulk").values,
        "ess_tail_relabeled": azs.ess(b, method="tail").values,
    })
    div = sample_stats["diverging"].values if "diverging" in sample_stats else np.zeros(1)
    out.attrs.update({"divergences": int(np.sum(div)), "n_draws": int(div.size),
                      "divergences_per_chain": np.sum(div, axis=-1).astype(int)})
    return out


def agreement(K: int, d, est: dict, se: xr.Dataset | None, summ: xr.Dataset | None):
    """Per-parameter agreement table across methods (see the module's rule)."""
    cols = {name: vals for name, vals in est.items()}
    if summ is not None:
        for c in ("post_mean", "post_median", "post_sd", "hdi_low", "hdi_high"):
            cols[c] = summ[c].values
        mle = est["em"]
        sd = summ["post_sd"].values
        z = (mle - cols["post_mean"]) / np.where(sd > 0, sd, np.nan)
        cols["z"] = z
        cols["mle_in_hdi"] = (mle >= cols["hdi_low"]) & (mle <= cols["hdi_high"])
        cols["agree"] = np.abs(z) <= AGREE_Z
    if "map_em" in est and "map" in est:
        # at one mode: MAP-EM from find_MAP's mode when find_MAP found a higher one
        diff = est.get("map_em_at_map", est["map_em"]) - est["map"]
        cols["map_em_minus_map"] = diff
        if summ is not None:
            scale = MAP_TOL_SD * summ["post_sd"].values
        else:
            scale = 1e-4 * np.maximum(np.abs(est["map"]), 1e-12)
        cols["map_disagree"] = np.abs(diff) > scale
    out = table(K, d, cols)
    prob = HDI_PROB if summ is None else float(summ.attrs.get("hdi_prob", HDI_PROB))
    out.attrs.update({"rule": f"|MLE - posterior mean| / posterior sd <= {AGREE_Z:g}",
                      "hdi_prob": prob, "interval": "HDI",
                      "pooled_by": "chains" if summ is None else summ.attrs.get("pooled_by",
                                                                                "chains")})
    return out


def hidden(K: int, d, se: xr.Dataset | None, summ: xr.Dataset | None) -> xr.Dataset:
    """Posterior sd over EM's standard errors (Louis, bootstrap), per row."""
    cols = {}
    if summ is not None and se is not None:
        sd = summ["post_sd"].values
        for name in ("se_louis", "se_boot"):
            if name in se:
                s = se[name].values
                cols[f"sd_over_{name}"] = sd / np.where(s > 0, s, np.nan)
    return table(K, d, cols)


def optima_dataset(res: em.EMResult) -> xr.Dataset:
    """EM's atlas of optima as a Dataset over ``optimum`` (best first)."""
    opt = res.optima
    K = res.n_components
    extra = () if res.spec.one_d else ("feature",)
    return xr.Dataset({
        "log_likelihood": ("optimum", [o.log_likelihood for o in opt]),
        "count": ("optimum", [o.count for o in opt]),
        "basin_share": ("optimum", [o.basin_share for o in opt]),
        "converged": ("optimum", [o.converged for o in opt]),
        "degenerate": ("optimum", [o.degenerate for o in opt]),
        "spurious": ("optimum", [o.spurious for o in opt]),
        "weights": (("optimum", "component"), np.stack([o.weights for o in opt])),
        "means": (("optimum", "component") + extra, np.stack([o.means for o in opt])),
        "sds": (("optimum", "component") + extra, np.stack([np.sqrt(o.variances) for o in opt])),
    }, coords={"optimum": np.arange(len(opt)), "component": np.arange(K)})


def traces_dataset(res: em.EMResult) -> xr.Dataset:
    """Objective trace of every restart (NaN-padded), for the traces figure."""
    tr = [r.objective_trace for r in res.restarts]
    n = max(len(t) for t in tr)
    arr = np.full((len(tr), n), np.nan)
    for i, t in enumerate(tr):
        arr[i, : len(t)] = t
    return xr.Dataset({"objective": (("restart", "iteration"), arr),
                       "optimum": ("restart", [r.optimum for r in res.restarts])})


def em_classification(r: np.ndarray) -> xr.Dataset:
    """EM's responsibilities, hard labels and uncertainty, components in reference order.

    Parameters
    ----------
    r : ndarray of shape (n_samples, n_components)
        EM's responsibilities in reference order (``EMFit.responsibilities``).

    Returns
    -------
    xarray.Dataset
        ``responsibilities`` (obs, component), ``label`` (obs) and
        ``uncertainty`` (obs), ``1 - max responsibility``.
    """
    return xr.Dataset({"responsibilities": (("obs", "component"), r),
                       "label": ("obs", r.argmax(axis=1)),
                       "uncertainty": ("obs", 1.0 - r.max(axis=1))},
                      coords={"component": np.arange(r.shape[1])})


def membership(post: xr.Dataset, X, em_r: np.ndarray, post_m=None) -> xr.Dataset:
    """EM's plug-in responsibilities against posterior-averaged membership probabilities.

    ``em_r`` (n, K): EM's responsibilities in reference order
    (``EMFit.responsibilities``). ``post_m`` (n, K): the averaged probabilities
    when already computed (the label-switching step has them); otherwise
    computed from ``post``.
    """
    from mixcompare import models

    if post_m is None:
        post_m = models.membership_probabilities(post, X).values
    changed = em_r.argmax(axis=1) != post_m.argmax(axis=1)
    unc = 1 - post_m.max(axis=1)
    oc = ("obs", "component")
    ds = xr.Dataset({"em": (oc, em_r), "posterior": (oc, post_m),
                     "changed": ("obs", changed), "uncertainty": ("obs", unc)})
    ds.attrs.update({"n_changed_label": int(changed.sum()),
                     "n_uncertain": int((unc > UNCERTAIN).sum()),
                     "n_uncertain_em": int((1 - em_r.max(axis=1) > UNCERTAIN).sum()),
                     "uncertainty_threshold": UNCERTAIN})
    return ds


def density(post: xr.Dataset, X, mle: em.EMResult, n_grid: int = 400, *,
            prob: float = HDI_PROB) -> xr.Dataset:
    """Posterior predictive density with its band at ``prob`` against EM's plug-in density (1-D)."""
    from mixcompare import models

    lo, hi = float(np.min(X)), float(np.max(X))
    pad = 0.1 * (hi - lo)
    grid = np.linspace(lo - pad, hi + pad, n_grid)
    band = models.predictive_density(post, grid, prob=prob)
    em_d = np.exp(mle.score_samples(grid))
    outside = (em_d < band["lower"].values) | (em_d > band["upper"].values)
    band["em"] = ("x", em_d)
    band.attrs["fraction_em_outside_band"] = float(outside.mean())
    return band


def posterior_mass_near_optima(mle: em.EMResult, masses: xr.Dataset, centres: list,
                               scale: float) -> xr.Dataset:
    """Estimated posterior mass of the mode region holding each EM optimum, and its draw share.

    Parameters
    ----------
    mle : em.EMResult
        EM's fit; its atlas of optima.
    masses : xarray.Dataset
        :func:`mixcompare.comparisons.posterior.mass.mode_masses` over the
        regions of ``centres``.
    centres : list of (weights, means, covariances)
        The regions' centres (the posterior's modes: MAP-EM's optima when it
        ran, and any census mode that sits at none).
    scale : float
        The data's scale.

    Returns
    -------
    xarray.Dataset
        Over ``optimum``: ``region`` (the region holding the optimum),
        ``mass``, ``mass_sd``, ``method``, ``log_evidence`` and
        ``log_evidence_sd`` (estimated: where the posterior mass is),
        ``log_evidence_laplace`` (a Laplace approximation, where one was
        made), ``share`` and, over ``(chain,
        optimum)``, ``share_per_chain`` (the region's share of draws: where
        the chains were, which depends on their starts), ``log_likelihood``.
        Attribute ``em_best_is_minor_mode``: 1 when another region holds more
        estimated mass than the one holding EM's best optimum, or that one
        has no estimate (no posterior mode there).

    Notes
    -----
    An EM optimum lies in the region of the centre nearest it up to a
    relabelling (:func:`mixcompare.comparisons.posterior.mass.nearest_centre`),
    the rule that assigns the draws. The prior moves a posterior mode away from
    its MLE, so EM's optimum is given the mass of the posterior mode whose
    region holds it; two optima in one region show the same mass.
    """
    from mixcompare.comparisons.posterior.mass import nearest_centre, standardised_centres

    std = standardised_centres(centres, scale)
    region = np.array([nearest_centre(std, standardised(o.weights, o.means, o.variances,
                                                        scale))[0] for o in mle.optima])
    mine = masses.isel(region=region)
    mass = mine["mass"].values
    per_chain = mine["draw_share_per_chain"].transpose("chain", "region").values
    ds = xr.Dataset({"region": ("optimum", region),
                     "mass": ("optimum", mass), "mass_sd": ("optimum", mine["mass_sd"].values),
                     "method": ("optimum", mine["method"].values),
                     "log_evidence": ("optimum", mine["log_evidence"].values),
                     "log_evidence_sd": ("optimum", mine["log_evidence_sd"].values),
                     "log_evidence_laplace": ("optimum", mine["log_evidence_laplace"].values),
                     "share": ("optimum", mine["draw_share"].values),
                     "share_per_chain": (("chain", "optimum"), per_chain),
                     "log_likelihood": ("optimum", [o.log_likelihood for o in mle.optima])},
                    coords={"optimum": np.arange(region.size),
                            "chain": np.arange(per_chain.shape[0])})
    every = masses["mass"].values
    top = np.nanmax(every) if np.isfinite(every).any() else np.nan
    ds.attrs["em_best_is_minor_mode"] = int(np.isfinite(top) and every.size > 1
                                            and not mass[0] >= top)
    ds.attrs["share"] = "draws in the optimum's region: where the chains were, not a mass"
    ds.attrs["mass"] = ("estimated posterior mass of the mode region holding each optimum, "
                        "relative to the regions found (bridge sampling from the draws, or "
                        "from chains confined to the region where few draws, else Laplace)")
    return ds


def _which_higher(groups: dict) -> str:
    """Say which of MAP-EM and find_MAP reached the higher log posterior density."""
    me, mp = groups.get("map_em/at_map", groups.get("map_em")), groups.get("map")
    a = None if me is None else me.attrs.get("log_posterior")
    b = None if mp is None else mp.attrs.get("log_density")
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)):
        return ""
    if b > a + 1e-6 * max(1.0, abs(a)):
        return (f"; find_MAP's mode is higher ({b:.4f} against MAP-EM's {a:.4f}): MAP-EM's "
                "restarts missed it (increase n_init)")
    if a > b + 1e-6 * max(1.0, abs(a)):
        return (f"; MAP-EM's mode is higher ({a:.4f} against find_MAP's {b:.4f}): find_MAP "
                "did not reach it from any start")
    return f"; at the same log density ({a:.4f}): the optimisers stopped short of the mode"


def problems(groups: dict) -> list[str]:
    """Problems worth a reader's attention, each in one sentence."""
    out = []
    diag = groups.get("comparison/diagnostics")
    cen = groups.get("comparison/census")
    several = cen is not None and cen.attrs.get("kind") == "several modes"
    if several:
        out.append(f"the chains settled in {cen.sizes['mode']} different modes "
                   f"({cen.attrs['reason']}); R-hat and ESS are given per mode")
    if diag is not None:
        if diag.attrs.get("divergences", 0):
            out.append(f"{diag.attrs['divergences']} divergent transitions "
                       f"({diag.attrs['divergences'] / diag.attrs['n_draws']:.1%} of draws)")
        r = np.nanmax(diag["rhat_relabeled"].values)
        if r > RHAT_MAX and not several:
            out.append(f"R-hat after relabelling reaches {r:.3f} (> {RHAT_MAX}): the chains "
                       "disagree beyond label switching")
        e = np.nanmin(diag["ess_bulk_relabeled"].values)
        if e < ESS_MIN and not several:
            out.append(f"lowest bulk ESS after relabelling is {e:.0f} (< {ESS_MIN})")
    agr = groups.get("comparison/agreement")
    if agr is not None and "post_mean" in agr and agr.attrs.get("verdict") == "not_assessable":
        out.append(f"no pooled verdict on EM against the posterior ({agr.attrs['reason']}); "
                   "agreement is given per mode")
    if agr is not None and "map_disagree" in agr and bool(agr["map_disagree"].values.any()):
        names = agr["name"].values[agr["map_disagree"].values].tolist()
        out.append("MAP-EM and find_MAP differ (they maximise the same density): "
                   + ", ".join(names) + _which_higher(groups))
    return out
