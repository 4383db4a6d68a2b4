"""Prior sensitivity of the hidden spread: the posterior's sds under weaker priors (a step).

The "hidden spread" (posterior sd over EM's standard error, :func:`.metrics.hidden`)
mixes two things: uncertainty that EM's SE misses, and the prior's widening of
the posterior (the default Inverse-Gamma variance prior pulls a small
component's variance up, so its mean's sd grows too). EM's SE does not
depend on the prior, so a change of the ratio under a weaker prior is the
prior's doing. :func:`prior_sensitivity` recomputes the posterior means and
sds under the default prior with the variance scale ``b`` (and ``psi``)
divided by each of :data:`FACTORS`, by PSIS reweighting of the draws
(:mod:`mixcompare.comparisons.posterior.sensitivity`), or, with
``mode="refit"``, by NUTS under the weaker prior where the Pareto-k says the
reweighting is unreliable. :func:`with_ratios` adds the sd/SE ratios and
the agreement rule under each prior.

A parameter's hidden spread is **prior-driven** when, under a weaker prior
whose estimate is reliable, its posterior sd (hence its sd/SE ratio) moves
by more than :data:`CHANGE` (20 %) of its value under the default prior —
about three times the Monte Carlo error of an sd from 100 effective draws
(``1 / sqrt(2 * 100)``), and far beyond it at the usual 4000 draws.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare.comparisons.posterior import sensitivity as ps
from mixcompare.comparisons.tables import posterior_rows, table

from .analysis import PosteriorAnalysis, pivot_of
from .fits import EMFit, MapEMFit, Setup
from .metrics import AGREE_Z
from .runlog import RunLog

__all__ = ["CHANGE", "FACTORS", "MODES", "check_mode", "prior_sensitivity", "with_ratios"]

#: the settings of ``compare(..., prior_sensitivity=...)``
MODES = ("off", "reweight", "refit")
#: the weaker priors: the default's ``b`` (and ``psi``) divided by each
FACTORS = (10.0, 100.0)
#: relative change of the posterior sd above which the hidden spread is prior-driven
CHANGE = 0.2


def check_mode(mode) -> str:
    """Return ``mode`` if it is one of :data:`MODES`, else raise a ValueError naming them."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"prior_sensitivity={mode!r} is not a setting; choose one of "
                         f"{set(MODES)} ('reweight' is cheap, 'refit' runs NUTS again "
                         "under each weaker prior the reweighting cannot reach).")
    return mode


def _refit(s: Setup, fit: EMFit, map_em: MapEMFit | None, weak, nuts_kw: dict, rng) -> tuple:
    """NUTS under the prior ``weak``, relabelled to the pivot: rows (S, R), R-hat max, ESS min."""
    import arviz_stats as azs
    from mixcompare import models
    from mixcompare.comparisons.posterior.relabel import relabel_pivot

    kw = dict(nuts_kw)
    mm = models.cached_model(s.X, s.spec.n_components, prior=weak, structure=s.structure,
                             fixed=s.fixed, ordered=kw.pop("ordered")).model
    init = kw["init"]
    start = map_em.result if (map_em is not None and init in ("em", "atlas")) else fit.result
    tree = models.fit_nuts(mm, rng=rng, em_result=start, reference=fit.reference,
                           progressbar=False, **kw)
    post, _ = relabel_pivot(tree["posterior"].to_dataset(), pivot_of(fit, map_em))
    rows = posterior_rows(post)
    return (rows.values.reshape(-1, rows.shape[-1]), float(np.nanmax(azs.rhat(rows).values)),
            float(np.nanmin(azs.ess(rows, method="bulk").values)))


def _streams(rng, n: int) -> list:
    """``n`` child streams of ``rng`` (a Generator), one per weaker prior, by position."""
    ss = rng.bit_generator.seed_seq
    fresh = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key, pool_size=ss.pool_size)
    return [np.random.default_rng(c) for c in fresh.spawn(n)]


def prior_sensitivity(s: Setup, fit: EMFit, map_em: MapEMFit | None, post: PosteriorAnalysis,
                      *, mode: str, nuts_kw: dict, rng, log: RunLog) -> xr.Dataset | None:
    """Posterior means and sds under the default prior and the weaker ones of :data:`FACTORS`.

    Parameters
    ----------
    s, fit, map_em, post
        The comparison's setup, EM and MAP-EM fits and posterior analysis.
    mode : {"off", "reweight", "refit"}
        ``"off"``: nothing (None). ``"reweight"``: PSIS reweighting of the
        relabelled draws only. ``"refit"``: as ``"reweight"``, and NUTS under
        each weaker prior whose Pareto-k exceeds :func:`..posterior.sensitivity.k_threshold`.
    nuts_kw : dict
        ``draws, tune, chains, sampler, init, target_accept, ordered`` of the refits.
    rng : numpy.random.Generator
        The ``sensitivity`` stream; refit ``i`` uses its child ``i``.
    log : RunLog

    Returns
    -------
    xarray.Dataset or None
        Over ``row`` and ``prior`` (``default``, ``b/10``, ``b/100``):
        ``post_mean``, ``post_sd``, ``sd_mcse``, ``sd_change`` (relative to the
        default); per prior ``factor``, ``method`` (``sampled``, ``reweighted``,
        ``refit``), ``reliable``, ``pareto_k``, ``is_ess``, ``rhat_max``,
        ``ess_bulk_min``; per row ``prior_driven``.
    """
    if check_mode(mode) == "off":
        return None
    K, spec = s.spec.n_components, s.spec
    if "covariances" in spec.fixed:
        return xr.Dataset(attrs={"mode": mode, "skipped": "the variances are fixed, so the "
                                 "variance prior's scale does not enter the posterior"})
    with log.step("sensitivity", f"prior sensitivity ({mode})"):
        # the draws the report's summary is of: pooled by region mass, or the relabelled ones
        relabeled = post.pooled if post.pooled is not None else post.relabeled
        rows = posterior_rows(relabeled)
        flat = rows.values.reshape(-1, rows.shape[-1])
        lp0 = ps.log_prior_draws(relabeled, s.prior, spec)
        diag = post.diagnostics
        n_drawn = post.relabeled.sizes["chain"] * post.relabeled.sizes["draw"]
        cols = [{**ps.weighted_summary(flat), "method": "sampled", "k": np.nan,
                 "ess": float(n_drawn), "reliable": True,
                 "rhat": float(np.nanmax(diag["rhat_relabeled"].values)),
                 "ess_bulk": float(np.nanmin(diag["ess_bulk_relabeled"].values))}]
        thr = ps.k_threshold(n_drawn)
        for factor, child in zip(FACTORS, _streams(rng, len(FACTORS)), strict=True):
            weak = ps.weaker_prior(s.prior, factor)
            w, k = ps.psis_weights(ps.log_prior_draws(relabeled, weak, spec) - lp0)
            col = {**ps.weighted_summary(flat, w), "method": "reweighted", "k": k,
                   "ess": ps.is_ess(w), "reliable": bool(k <= thr), "rhat": np.nan,
                   "ess_bulk": np.nan}
            if mode == "refit" and not col["reliable"]:
                log.say(f"prior sensitivity: NUTS under b/{factor:g} (Pareto-k {k:.2f})")
                draws, rhat, ess = _refit(s, fit, map_em, weak, nuts_kw, child)
                col = {**ps.weighted_summary(draws), "method": "refit", "k": k,
                       "ess": float(draws.shape[0]), "reliable": True, "rhat": rhat,
                       "ess_bulk": ess}
            cols.append(col)
    return _dataset(K, None if spec.one_d else spec.n_features, cols, mode, thr,
                    s.prior)


def _dataset(K: int, dd, cols: list, mode: str, thr: float, prior) -> xr.Dataset:
    """Assemble the per-prior columns into the tree's ``comparison/prior_sensitivity``."""
    names = ["default"] + [f"b/{f:g}" for f in FACTORS]
    ds = table(K, dd, {}).assign_coords(prior=names)
    rp = ("row", "prior")
    for key, var in (("mean", "post_mean"), ("sd", "post_sd"), ("sd_mcse", "sd_mcse")):
        ds[var] = (rp, np.stack([c[key] for c in cols], axis=-1))
    change = ds["post_sd"] / ds["post_sd"].sel(prior="default") - 1
    ds["sd_change"] = change
    for key, var in (("method", "method"), ("k", "pareto_k"), ("ess", "is_ess"),
                     ("reliable", "reliable"), ("rhat", "rhat_max"),
                     ("ess_bulk", "ess_bulk_min")):
        ds[var] = ("prior", np.array([c[key] for c in cols]))
    ds["factor"] = ("prior", np.array([1.0, *FACTORS]))
    moved = (np.abs(change) > CHANGE) & ds["reliable"]
    ds["prior_driven"] = moved.isel(prior=slice(1, None)).any("prior")
    ds.attrs.update({"mode": mode, "change_threshold": CHANGE, "k_threshold": thr,
                     "agree_z": AGREE_Z, "b_default": np.atleast_1d(prior.b).tolist(),
                     "a": float(prior.a)})
    return ds


def with_ratios(ds: xr.Dataset | None, se: xr.Dataset | None, mle: np.ndarray):
    """Add ``sd_over_se_louis``/``_boot`` and the agreement rule (``z``, ``agree``) per prior.

    ``mle`` (R,): EM's MLE per row; ``se``: the ``em/se`` table (None without SEs).
    """
    if ds is None or "post_sd" not in ds:
        return ds
    ds = ds.copy()
    for name in ("se_louis", "se_boot"):
        if se is not None and name in se:
            s = xr.DataArray(np.where(se[name].values > 0, se[name].values, np.nan), dims="row")
            ds[f"sd_over_{name}"] = ds["post_sd"] / s
    sd = ds["post_sd"].where(ds["post_sd"] > 0)
    ds["z"] = (xr.DataArray(mle, dims="row") - ds["post_mean"]) / sd
    ds["agree"] = np.abs(ds["z"]) <= AGREE_Z
    return ds
