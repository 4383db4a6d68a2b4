"""Posterior mass of each mode, estimated, whatever the chains' starts.

Where chains settle depends on where they start; a mode's posterior mass
does not. The parameter space is cut into regions, one per *centre* (an
optimum of the atlas the census uses -- MAP-EM's, the posterior's modes, when
it ran -- or the medians of a census mode that sits at none): a point belongs
to the centre nearest it up to a relabelling (:func:`em.match_components`
on standardised units, the rule that matches chains and draws elsewhere).
For an unordered model a region is further cut to one labelling (the
centre's), so that every region holds one of the ``K!`` equal copies of its
mode and masses compare modes up to relabelling. Region ``j``'s mass is
``Z_j / Σ_k Z_k`` with ``Z_j = ∫_{A_j} p̃(θ) dθ`` the unnormalised posterior
density (log density with Jacobian terms, on PyMC's unconstrained space)
integrated over the region, estimated

- by **bridge sampling** (:func:`.bridge.bridge_log_evidence`; Meng & Wong
  1996, Gronau et al. 2017) from the posterior draws that fall in the region,
  aligned to its labelling, when there are at least ``max(100, 10 p)`` of
  them (``p`` unconstrained dimensions): the estimate uses the draws only as
  samples of the density *within* the region, so the share of chains there
  does not enter it;
- else by bridge sampling from **chains confined to the region**
  (:func:`.confined.confined_draws`, a random walk started at the mode of
  ``p̃`` climbed to from the centre), when that mode lies in the region and
  the model has at most :data:`.confined.CONFINED_MAX_DIM` unconstrained
  dimensions, unless no draw fell there and the Laplace approximation is
  below :data:`CONFINED_MIN_MASS` of the largest region with draws (negligible): a
  rarely visited region is measured without waiting for the chains to come
  by;
- else by a **Laplace approximation** at that mode
  (:func:`.bridge.laplace_log_evidence`). It can be far off for a broad,
  non-Gaussian region: on galaxies K = 3 (ordered) it put the second MAP-EM
  optimum's region at 0.04 % of the mass, where confined chains give
  0.64-0.71 % and an exact Gibbs sampler 0.71 %. When the climb leaves the
  region the centre is no posterior mode and its region gets no estimate
  (NaN).

Masses are relative to the regions listed: a mode that neither a chain nor
an optimum of the atlas found is not counted. Their standard errors
propagate bridge sampling's relative MSE (Frühwirth-Schnatter 2004); a
Laplace estimate's error is not quantified (its sd is NaN and enters the
propagation as 0), which the method column says.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior import strata
from mixcompare.comparisons.posterior.bridge import (
    Evidence,
    bridge_log_evidence,
    fd_hessian,
    laplace_log_evidence,
    masses_from_log_evidence,
)
from mixcompare.comparisons.posterior.confined import CONFINED_MAX_DIM, confined_draws
from mixcompare.comparisons.posterior.relabel import draw_arrays, pivot_permutations
from mixcompare.comparisons.posterior.units import standardised
from mixcompare.comparisons.tables import flatten

__all__ = ["CONFINED_MIN_MASS", "MAX_DRAWS", "census_masses", "mode_masses", "nearest_centre",
           "standardised_centres"]

#: posterior draws used at most (thinned evenly within each chain)
MAX_DRAWS = 2000
#: a region without draws whose Laplace mass is below this share of the largest region with
#: draws keeps its Laplace estimate (no confined chains: it is negligible for any summary)
CONFINED_MIN_MASS = 1e-5


def nearest_centre(centres: list, params: em.Params) -> tuple[int, np.ndarray]:
    """Index of the centre nearest ``params`` up to relabelling, and the matching permutation.

    ``centres`` and ``params`` are standardised (:func:`.units.standardised`);
    ``params[perm]`` is aligned with the centre.
    """
    best, best_perm, best_d = -1, None, np.inf
    for j, c in enumerate(centres):
        perm, d = em.match_components(c, params)
        if d < best_d:
            best, best_perm, best_d = j, perm, d
    return best, best_perm


class _Space:
    """The model's unconstrained space as flat vectors: log density and region test."""

    def __init__(self, mm, centres, scale, ordered):
        from mixcompare import models

        self.mm, self.centres, self.scale, self.ordered = mm, centres, scale, ordered
        self.names = [rv.name for rv in mm.model.free_RVs]
        self.to_point = mm.cache.to_unconstrained(mm.model)
        self.values = mm.cache.values(mm.model)
        start = self.to_point(models.points.complete_start(mm, None))
        self.logp = mm.cache.logp(mm.model)
        self.keys = list(start)
        self.shapes = [np.shape(v) for v in start.values()]
        self.splits = np.cumsum([int(np.prod(s)) for s in self.shapes])[:-1]

    def flat(self, values: dict) -> np.ndarray:
        point = self.to_point(values)
        return np.concatenate([np.ravel(point[k]) for k in self.keys])

    def point(self, x: np.ndarray) -> dict:
        return {k: p.reshape(s) for k, p, s in
                zip(self.keys, np.split(x, self.splits), self.shapes, strict=True)}

    def region(self, nat: dict) -> int:
        """Region of natural values (-1 when outside every region's labelling)."""
        p = standardised(nat["weights"], nat["means"], nat["variances"], self.scale)
        j, perm = nearest_centre(self.centres, p)
        if not self.ordered and np.any(perm != np.arange(perm.size)):
            return -1
        return j

    def log_density(self, x: np.ndarray, j: int | None = None) -> np.ndarray:
        """``log p̃`` (Jacobian included) at rows of ``x``; ``-inf`` outside region ``j``."""
        out = np.empty(len(x))
        for i, row in enumerate(x):
            pt = self.point(row)
            lp = float(self.logp(pt))
            if j is not None and np.isfinite(lp) and self.region(self.values(pt)) != j:
                lp = -np.inf
            out[i] = lp if np.isfinite(lp) else -np.inf
        return out


def _full_cov(cov, K: int) -> np.ndarray:
    """Covariances as (K, d, d): a tied (d, d) matrix repeated, a 1-D variance as (1, 1)."""
    cov = np.asarray(cov, float)
    if cov.ndim == 1:
        cov = cov[:, None, None] if cov.size == K else cov.reshape(1, 1, 1)
    if cov.ndim == 2:
        cov = cov[None]
    return np.broadcast_to(cov, (K,) + cov.shape[1:]).copy()


def _model_order(weights, means) -> np.ndarray:
    """Return the order an ordered model lists components in: by mean (first feature)."""
    return np.argsort(np.reshape(means, (len(weights), -1))[:, 0], kind="stable")


def standardised_centres(centres: list, scale: float) -> list:
    """Centres ``(weights, means, covariances)`` on standardised units (for matching)."""
    return [standardised(w, m, _full_cov(c, len(w)), scale) for w, m, c in centres]


def _assign(post: xr.Dataset, space: _Space, max_draws: int):
    """Thinned draws' region, aligned unconstrained vector and chain."""
    w, m, v = draw_arrays(post)
    C, D, K = w.shape
    step = max(1, int(np.ceil(C * D / max_draws)))
    arrays, axes = {}, {}
    for name in space.names:  # numpy arrays once: indexing xarray per draw is slow
        var = post[name].transpose("chain", "draw", ...)
        arrays[name] = np.asarray(var.values, float)
        axes[name] = var.dims.index("component") - 2 if "component" in var.dims else None
    region, flat, chain = [], [], []
    for c in range(C):
        for t in range(0, D, step):
            p = standardised(w[c, t], m[c, t], v[c, t], space.scale)
            j, perm = nearest_centre(space.centres, p)
            if space.ordered:  # the model's order (draws relabelled to a pivot may not be)
                perm = _model_order(w[c, t], m[c, t])
            vals = {}
            for name, arr in arrays.items():
                a = arr[c, t]
                if axes[name] is not None:
                    a = np.take(a, perm, axis=axes[name])
                vals[name] = a
            region.append(j)
            flat.append(space.flat(vals))
            chain.append(c)
    return np.asarray(region), np.asarray(flat), np.asarray(chain)


def _estimate(space: _Space, j: int, x: np.ndarray, ch: np.ndarray, start: dict, rng,
              min_draws: int, floor: float = -np.inf):
    """Region ``j``'s log integral, the draws it used (or None) and its Laplace value (or NaN).

    Bridge sampling from the chains' draws in the region; else from chains
    confined to it, started at its mode, unless Laplace there puts the log
    integral below ``floor`` (a negligible region); else Laplace at that mode.
    """
    if len(x) >= min_draws:
        ev = bridge_log_evidence(lambda y: space.log_density(y, j), x, rng, chain=ch)
        return ev, x, ch, np.nan
    try:
        x0 = space.flat(start)
    except (ValueError, KeyError) as exc:
        return Evidence(np.nan, np.nan, f"none: no start ({exc})"), None, None, np.nan
    ev, mode = laplace_log_evidence(lambda y: space.log_density(y), x0)
    if ev.method != "laplace":
        return ev, None, None, np.nan
    k = space.region(space.values(space.point(mode)))
    if k != j:
        where = "another labelling" if k < 0 else f"region {k}"
        return Evidence(np.nan, np.nan, f"none: the climb from the centre reaches {where} "
                                        "(no posterior mode here)"), None, None, np.nan
    if mode.size > CONFINED_MAX_DIM or ev.log_z < floor:
        return ev, None, None, ev.log_z
    try:
        cov = np.linalg.inv(-fd_hessian(lambda y: float(space.log_density(y[None])[0]), mode))
        cd = confined_draws(lambda y: space.log_density(y, j), mode, cov, rng)
        conf = bridge_log_evidence(lambda y: space.log_density(y, j), cd.draws, rng,
                                   chain=cd.chain)
    except (ValueError, np.linalg.LinAlgError):
        return ev, None, None, ev.log_z
    return (Evidence(conf.log_z, conf.sd, "bridge (confined chains)", conf.n_draws),
            cd.draws, cd.chain, ev.log_z)


def _rows(space: _Space, x: np.ndarray, pivot=None) -> np.ndarray:
    """Natural parameters in row order (weights, means, sds) of unconstrained draws (1-D).

    With ``pivot``, each draw's components are first permuted to match it
    (:func:`.relabel.pivot_permutations`, the rule of the relabelled summaries).
    """
    nat = [space.values(space.point(v)) for v in x]
    w, m, v = (np.array([np.ravel(n[k]) for n in nat]) for k in ("weights", "means", "variances"))
    if pivot is not None:
        perms = pivot_permutations(w, m, v, pivot)
        w, m, v = (np.take_along_axis(a, perms, axis=-1) for a in (w, m, v))
    return flatten(w, m, np.sqrt(v))


def mode_masses(mm, post: xr.Dataset, centres: list, scale: float, rng, *,
                ordered: bool = False, max_draws: int = MAX_DRAWS,
                pivot=None) -> xr.Dataset:
    """Estimate the posterior mass of the region of each centre (see the module docstring).

    Parameters
    ----------
    mm : models.MixtureModel
        The model the draws are from.
    post : xarray.Dataset
        Posterior draws over ``(chain, draw, component[, feature])`` with the
        model's free variables, ``weights``, ``means`` and ``variances``.
    centres : list of (weights, means, covariances)
        Natural-scale centres: ``weights`` (K,), ``means`` (K[, d]),
        ``covariances`` (K, d, d) (1-D: (K, 1, 1)).
    scale : float
        The data's scale (standardised units for matching).
    rng : int, numpy.random.Generator or None
        For the bridge proposals; region ``j`` uses its own child stream.
    ordered : bool, default False
        Whether the model orders its components (no relabelling then).
    max_draws : int, default 2000
        Posterior draws used at most.
    pivot : tuple, optional
        ``(weights, means, variances)`` the summaries' draws are relabelled to
        (1-D models): the regions' row moments are taken in its labelling.

    Returns
    -------
    xarray.Dataset
        Over ``region``: ``log_evidence``, ``log_evidence_sd``, ``mass``,
        ``mass_sd``, ``method`` (``bridge``, ``bridge (confined chains)``,
        ``laplace`` or ``none: why``), ``log_evidence_laplace`` (the Laplace
        value where the climb was made: regions without enough draws),
        ``n_draws`` (draws in the region) and ``draw_share`` (their share of
        the draws used: where the chains were, not a mass); over ``(chain,
        region)``, ``draw_share_per_chain``.
        For a 1-D model with ``pivot`` (or ordered), also ``row_mean``, ``row_var``,
        ``row_mean_mcse`` and ``row_var_mcse`` over ``(region, row)``: the
        moments of each parameter row in the draws each region's estimate
        used (:func:`.strata.region_moments`; NaN for a Laplace estimate),
        for :func:`.strata.mass_weighted_rows`, and, when two regions or more
        are covered, ``pooled_rows`` over ``(pooled_draw, row)``:
        :data:`.strata.POOLED_DRAWS` draws, each region carrying its estimated
        mass (:func:`.strata.resample_by_mass`).
    """
    from mixcompare import models

    seeds = np.random.SeedSequence(em.check_rng(rng).integers(2**63)).spawn(len(centres))
    centres = [(np.asarray(w, float), np.asarray(m, float), _full_cov(cov, len(w)))
               for w, m, cov in centres]
    if ordered:  # the model's order (means, or their first feature) for the starts
        centres = [(w[o], m[o], cov[o]) for w, m, cov in centres
                   for o in [_model_order(w, m)]]
    std = standardised_centres(centres, scale)
    space = _Space(mm, std, scale, ordered)
    region, flat, chain = _assign(post, space, max_draws)
    p = flat.shape[1]
    min_draws = max(100, 10 * p)
    stratify = mm.spec.one_d and (ordered or pivot is not None)  # rows in the pivot labelling
    n = np.array([int(np.sum(region == j)) for j in range(len(centres))])
    # regions with draws first: their integrals set the floor under which a region is negligible
    out, laplace, used = [None] * len(centres), [np.nan] * len(centres), [None] * len(centres)
    floor = -np.inf
    for j in sorted(range(len(centres)), key=lambda k: n[k] < min_draws):
        sel = region == j
        w, m, cov = centres[j]
        start = models.params_to_values(mm, w, m, covariances=cov)
        try:
            # a region some chain entered is not negligible, whatever Laplace says
            out[j], x, c, laplace[j] = _estimate(space, j, flat[sel], chain[sel], start,
                                                 np.random.default_rng(seeds[j]), min_draws,
                                                 floor if n[j] == 0 else -np.inf)
            used[j] = None if x is None or not np.isfinite(out[j].log_z) else (x, c)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
            out[j] = Evidence(np.nan, np.nan, f"none: the estimate failed ({exc})")
        if n[j] >= min_draws and np.isfinite(out[j].log_z):
            floor = max(floor, out[j].log_z + np.log(CONFINED_MIN_MASS))
    rows = [None if u is None else _rows(space, u[0], pivot) for u in used] if stratify else []
    moments = [None if u is None else strata.region_moments(r, u[1])
               for u, r in zip(used, rows, strict=False)]
    log_z = np.array([e.log_z for e in out])
    sd = np.array([e.sd for e in out])
    mass, mass_sd = masses_from_log_evidence(log_z, sd)
    C = post.sizes["chain"]
    per_chain = np.array([[np.mean(region[chain == c] == j) for j in range(len(centres))]
                          for c in range(C)])
    ds = xr.Dataset({"log_evidence": ("region", log_z), "log_evidence_sd": ("region", sd),
                     "log_evidence_laplace": ("region", np.asarray(laplace, float)),
                     "mass": ("region", mass), "mass_sd": ("region", mass_sd),
                     "method": ("region", np.array([e.method for e in out], dtype=str)),
                     "n_draws": ("region", n), "draw_share": ("region", n / len(region)),
                     "draw_share_per_chain": (("chain", "region"), per_chain)},
                    coords={"region": np.arange(len(centres)), "chain": np.arange(C)})
    if stratify and any(mo is not None for mo in moments):
        n_rows = next(mo for mo in moments if mo is not None)["mean"].size
        for key in ("mean", "var", "mean_mcse", "var_mcse"):
            ds[f"row_{key}"] = (("region", "row"), np.array(
                [mo[key] if mo is not None else np.full(n_rows, np.nan) for mo in moments]))
        pooled = strata.resample_by_mass(ds, rows, strata.POOLED_DRAWS)
        if pooled is not None:
            ds["pooled_rows"] = (("pooled_draw", "row"), pooled)
    ds.attrs.update({"min_draws_bridge": min_draws, "n_unconstrained": p,
                     "draws_used": len(region)})
    return ds


def census_masses(census: xr.Dataset, masses: xr.Dataset, regions) -> xr.Dataset:
    """Add each mode's estimated mass to the census: the mass of the region its chains sit in.

    Parameters
    ----------
    census : xarray.Dataset
        ``comparison/census`` (over ``mode``).
    masses : xarray.Dataset
        :func:`mode_masses` (over ``region``).
    regions : array_like of int, shape (mode,)
        The region of each mode.

    Returns
    -------
    xarray.Dataset
        ``census`` plus ``mass``, ``mass_sd``, ``mass_method`` and
        ``mass_region`` over ``mode``, and ``chain_share`` (the share of
        chains in the mode: where the chains were, not a mass). Two modes in
        one region share its mass (attribute ``mass_shared``).
    """
    reg = np.asarray(regions, dtype=int)
    out = census.copy()
    out["mass_region"] = ("mode", reg)
    out["mass"] = ("mode", masses["mass"].values[reg])
    out["mass_sd"] = ("mode", masses["mass_sd"].values[reg])
    out["mass_method"] = ("mode", masses["method"].values[reg])
    C = census.sizes["chain"]
    out["chain_share"] = ("mode", np.array([np.sum(census["mode_of_chain"].values == k) / C
                                            for k in range(census.sizes["mode"])]))
    out.attrs["mass_shared"] = int(np.unique(reg).size < reg.size)
    return out
