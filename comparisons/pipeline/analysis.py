"""The analysis steps of a comparison, after the fits: labels, posterior summaries, census.

:func:`analyse_posterior` takes the NUTS draws and EM's fits and returns a
:class:`PosteriorAnalysis`: label switching detected and undone, posterior
summaries and diagnostics of the relabelled draws (with the tail-sensitivity
of each sd, :mod:`..posterior.tail`), memberships and the predictive band
against EM's, the census of modes, and the estimated posterior mass of each
mode and near each EM optimum (:mod:`..posterior.mass`). Each is an
``xarray.Dataset`` ready for the tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior import census, strata, switching, tail
from mixcompare.comparisons.posterior.census import chain_medians, optimum_id
from mixcompare.comparisons.posterior.mass import census_masses, mode_masses
from mixcompare.comparisons.posterior.missed import missed_optima

from . import metrics
from .fits import EMFit, MapEMFit, NutsFit, Setup
from .runlog import RunLog
from .verdict import per_mode_agreement

__all__ = ["PosteriorAnalysis", "analyse_posterior", "pivot_of"]


@dataclass(frozen=True)
class PosteriorAnalysis:
    """What the posterior says, relabelled to the reference order.

    Attributes
    ----------
    switching : mixcompare.comparisons.posterior.switching.SwitchingAnalysis
        Permutations, switching measures and the relabelled posterior.
    summary : xarray.Dataset
        Posterior mean, median, sd and interval per parameter row.
    diagnostics : xarray.Dataset
        R-hat and ESS raw and relabelled, divergences.
    membership : xarray.Dataset
        EM's responsibilities against posterior membership probabilities.
    density : xarray.Dataset or None
        Posterior predictive band against EM's plug-in density (1-D only).
    modes : xarray.Dataset
        Estimated posterior mass near each EM optimum, and the share of draws
        nearest it (:func:`.metrics.posterior_mass_near_optima`).
    census : xarray.Dataset
        Where each chain settled, against the (MAP-)EM atlas, with each
        mode's estimated mass and its share of chains.
    modes_agreement : xarray.Dataset
        Each mode's posterior against the optimum it matches (:mod:`.verdict`).
    raw : xarray.Dataset
        The draws analysed: the sampler's, or with randomly permuted labels.
    pooled : xarray.Dataset or None
        The draws pooled by region mass that :attr:`summary` summarises
        (one chain; ``weights``, ``means``, ``variances``, ``sds``), or None
        when the summary is of the relabelled draws.
    """

    switching: switching.SwitchingAnalysis
    summary: xr.Dataset
    diagnostics: xr.Dataset
    membership: xr.Dataset
    density: xr.Dataset | None
    modes: xr.Dataset
    census: xr.Dataset
    modes_agreement: xr.Dataset
    raw: xr.Dataset
    pooled: xr.Dataset | None = None

    @property
    def relabeled(self) -> xr.Dataset:
        """The posterior relabelled to the pivot's labelling."""
        return self.switching.relabeled


def pivot_of(fit: EMFit, map_em: MapEMFit | None) -> tuple:
    """Relabelling pivot ``(weights, means, variances)`` in reference order: MAP-EM, else EM."""
    if map_em is None:
        src, perm = fit.result, fit.order
    else:
        src, perm = map_em.result, map_em.perm
    return src.weights[perm], src.means[perm], src.variances[perm]


def permute_labels(post: xr.Dataset, rng) -> xr.Dataset:
    """Apply an independent uniformly random permutation to each draw's labels.

    The random-permutation sampler of Frühwirth-Schnatter (2001): the draws
    then cover all K! symmetric copies of an unordered posterior, which
    relabelling must bring back to one. Label-invariant quantities are unchanged.

    References
    ----------
    Frühwirth-Schnatter, S. (2001). Markov chain Monte Carlo estimation of classical and
    dynamic switching and mixture models. *JASA* 96(453), 194-209.
    """
    from mixcompare.comparisons.posterior.relabel import permute_components

    C, D, K = post.sizes["chain"], post.sizes["draw"], post.sizes["component"]
    perms = np.argsort(np.random.default_rng(rng).random((C, D, K)), axis=-1)
    out = permute_components(post, perms)
    out.attrs["labels_permuted"] = 1
    return out


def analyse_posterior(s: Setup, fit: EMFit, map_em: MapEMFit | None, nuts: NutsFit, model, *,
                      level: float, log: RunLog, ordered: bool = False,
                      permute_rng=None, mass_rng=None) -> PosteriorAnalysis:
    """Relabel the draws, summarise them, take the census of modes and estimate their masses.

    ``mass_rng`` seeds the bridge-sampling proposals of the mode masses. With
    ``permute_rng`` (unordered models), each draw's labels are first
    randomly permuted (:func:`permute_labels`); the census and the per-mode
    agreement then read the relabelled draws.
    """
    K, spec = s.spec.n_components, s.spec
    dd = None if spec.one_d else spec.n_features
    post = raw = nuts.posterior
    if permute_rng is not None:
        post = raw = permute_labels(post, permute_rng)
    with log.step("labels", "label switching and relabelling"):
        ls = switching.analyse(post, pivot_of(fit, map_em), s.X)
        kind = "map_em" if map_em is not None else "em"
        ls.dataset.attrs["starts_note"] = switching.starts_note(
            ls.summary.detected, nuts.started_at, ordered, K,
            name=lambda j: f"{kind.replace('_', '-').upper()} optimum {optimum_id(kind, j)}")
        relabeled = ls.relabeled
        summ = metrics.posterior_summary(relabeled, K, dd, prob=level)
        diag = metrics.diagnostics(post, relabeled, K, dd,
                                   nuts.tree["sample_stats"].to_dataset())
        diag = diag.merge(tail.tail_diagnostics(relabeled, K, dd), compat="no_conflicts",
                          combine_attrs="no_conflicts")
        memb = metrics.membership(relabeled, s.X, fit.responsibilities, ls.membership)
        dens = metrics.density(relabeled, s.X, fit.result, prob=level) if spec.one_d else None
    with log.step("census", "census of posterior modes"):
        atlas = map_em.result if map_em is not None else fit.result
        rates = ls.dataset["switching_rate"].values
        if permute_rng is not None or np.max(rates) > 0.01:
            # chain medians of draws that switch labels within a chain mean nothing: take
            # the census (and the per-mode agreement) on the draws relabelled to the pivot
            post = relabeled
        cen = census.take_census(post, atlas, model, s.X,
                                 switching_rate=rates,
                                 structure=s.structure, fixed=s.fixed,
                                 started_at=nuts.started_at)
        optima = [(o.weights, o.means, o.variances) for o in atlas.optima]
        modes, cen, by_mass, pooled = _masses(s, fit, atlas, post, cen, model,
                                              ordered=ordered, rng=mass_rng, kind=kind,
                                              pivot=pivot_of(fit, map_em))
        diag = _with_by_mass(diag, summ, *by_mass)
        weights = mass_weights(cen)
        if pooled is not None:  # regions of the posterior, each carrying its estimated mass
            pooled = _pooled_dataset(pooled, K)
            summ = metrics.posterior_summary(pooled, K, dd, prob=level, pooled_by="region masses")
        elif weights is not None:  # several modes: pool the draws by mass, not by chains
            summ = metrics.posterior_summary(relabeled, K, dd, prob=level,
                                             chain_weights=weights)
        per_mode = per_mode_agreement(post, cen, optima, fit.reference, s.scale, prob=level)
    return PosteriorAnalysis(ls, summ, diag, memb, dens, modes, cen, per_mode, raw, pooled)


def mass_weights(cen: xr.Dataset) -> np.ndarray | None:
    """Weight of each chain so that each census mode's chains carry its estimated mass.

    None (pool every draw once) with fewer than two modes, or when a mode's
    mass is unknown or shared with another mode; chains in no mode (not
    settled) then weigh nothing.
    """
    mode, mass = cen["mode_of_chain"].values, cen["mass"].values
    seen = np.unique(mode[mode >= 0])
    if seen.size < 2 or not np.all(np.isfinite(mass[seen])) or cen.attrs.get("mass_shared"):
        return None
    w = np.zeros(mode.size)
    for k in seen:
        w[mode == k] = mass[k] / np.sum(mode == k)
    return w / w.sum()


def _diagonal(v, mean_ndim: int):
    """Variances as covariances: (K, d) diagonals -> (K, d, d); 1-D (K,) kept as they are."""
    v = np.asarray(v, float)
    return v[..., None] * np.eye(v.shape[-1]) if mean_ndim == 2 else v


def _pooled_dataset(rows: np.ndarray, K: int) -> xr.Dataset:
    """1-D pooled rows (weights, means, sds per draw) as a one-chain posterior dataset."""
    dims = ("chain", "draw", "component")
    w, m, sd = (rows[None, :, i * K:(i + 1) * K] for i in range(3))
    return xr.Dataset({"weights": (dims, w), "means": (dims, m), "sds": (dims, sd),
                       "variances": (dims, sd**2)})


def _with_by_mass(diag: xr.Dataset, summ: xr.Dataset, rows: dict | None,
                  regions: list) -> xr.Dataset:
    """Diagnostics plus the draws' sd, the mass-weighted mean and sd, the regions' visits."""
    out = diag.copy()
    out["sd_draws"] = ("row", summ["post_sd"].values)
    n = out.sizes["row"]
    for key in ("mean_by_mass", "mean_by_mass_mcse", "sd_by_mass", "sd_by_mass_mcse"):
        out[key] = ("row", np.full(n, np.nan) if rows is None else rows[key])
    out.attrs["regions"] = json.dumps(regions)
    return out


def _region_list(masses: xr.Dataset, centres: list, names: list) -> list:
    """One record per region: its centre, estimated mass, draw share and visit verdict."""
    verdict = strata.visits(masses["mass"].values, masses["draw_share"].values)
    laplace = masses["method"].values == "laplace"  # an approximation, no error: not judged
    verdict = np.where(laplace, "not judged", verdict)

    def means(m):  # 1-D: in increasing order, as an ordered model lists them
        m = np.asarray(m, float)
        return np.sort(m.ravel()) if m.ndim == 1 or m.shape[-1] == 1 else m.ravel()

    def num(x):  # JSON has no NaN: no estimate is null
        return float(x) if np.isfinite(x) else None

    return [{"region": names[j], "means": means(centres[j][1]).round(4).tolist(),
             "mass": num(masses["mass"].values[j]),
             "mass_sd": num(masses["mass_sd"].values[j]),
             "method": str(masses["method"].values[j]),
             "draw_share": num(masses["draw_share"].values[j]), "visits": str(verdict[j])}
            for j in range(len(centres))]


def _masses(s: Setup, fit: EMFit, atlas, post, cen, model, *, ordered: bool, rng, kind: str,
            pivot):
    """Estimated masses of the posterior's modes: the regions of the census's atlas and modes.

    The regions are centred on the optima of the atlas the census matched
    against (MAP-EM's when it ran: the posterior's modes, not the likelihood's),
    on the chain medians of each census mode that sits at none of them, and on
    the optima the atlas missed that more restarts or climbs from the draws
    farthest from all of those reach (:mod:`..posterior.missed`; X0, X1...).
    Returns the ``comparison/modes`` dataset (the mass of the region holding
    each EM optimum), the census with each mode's mass
    (:func:`..posterior.mass.census_masses`), and the mass-weighted rows
    (:func:`..posterior.strata.mass_weighted_rows`, None when not computed)
    with the list of regions (:func:`_region_list`), and the draws pooled by
    region masses (:func:`..posterior.strata.resample_by_mass`) or None.
    """
    rng = em.check_rng(rng)
    n_atlas = len(atlas.optima)
    centres = [(o.weights, o.means, o.covariances) for o in atlas.optima]
    names = [optimum_id(kind, j) for j in range(n_atlas)]
    regions = []
    for k, j in enumerate(cen["optimum_of_mode"].values):
        if not 0 <= j < n_atlas:  # a region of its own, centred on its chain medians
            c = int(np.flatnonzero(cen["mode_of_chain"].values == k)[0])
            w, m, v = chain_medians(post, c)
            cov = (post["covariances"].isel(chain=c).median("draw").values
                   if "covariances" in post else _diagonal(v, np.ndim(m)))
            centres.append((w, m, cov))
            names.append(f"census mode {k}")
            j = len(centres) - 1
        regions.append(int(j))
    for i, c in enumerate(missed_optima(post, centres, s.X, s.scale, rng, prior=atlas.prior,
                                        structure=s.structure, fixed=s.fixed)):
        centres.append(c)  # optima the atlas missed
        names.append(f"X{i}")
    masses = mode_masses(model, post, centres, s.scale, rng, ordered=ordered, pivot=pivot)
    modes = metrics.posterior_mass_near_optima(fit.result, masses, centres, s.scale)
    by_mass = (strata.mass_weighted_rows(masses, rng), _region_list(masses, centres, names))
    pooled = masses["pooled_rows"].values if "pooled_rows" in masses else None
    return modes, census_masses(cen, masses, regions), by_mass, pooled
