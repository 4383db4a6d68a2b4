"""The EM lecture reproduced, slide by slide: every number it shows, computed here.

:func:`.command.lecture_command` (``mixcompare lecture --out DIR``) runs each
slide's computation, draws it with :mod:`.figures` and writes the figures, the
tables (Markdown and CSV), ``index.md``/``captions.md`` (what every figure shows
and which lecture claim it supports) and the interactive ``index.html``. The slide
functions (:func:`bumps`, :func:`bumps_posterior`, :func:`iteration_table`,
:func:`cem_bias`, :func:`cpg_comparison`, :func:`galaxies_atlas`) return data
(xarray, pandas or a :class:`~mixcompare.comparisons.pipeline.ComparisonResult`) and are
what the notebooks call.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr
from mixcompare import em
from mixcompare.comparisons import datasets
from mixcompare.comparisons.lecture import paths as em_paths_mod
from mixcompare.comparisons.lecture import surface
from mixcompare.comparisons.pipeline import METHODS, ComparisonResult, compare

__all__ = ["FULL", "LIMITS", "PATH_STARTS", "QUICK", "TWO_ITER_START", "TWO_ITER_X",
           "Bumps", "LectureSettings", "bumps", "bumps_data", "bumps_posterior", "cem_bias",
           "cpg_comparison", "galaxies_atlas", "iteration_table"]


#: axes of the nine-point surface, as on slides 32-34
LIMITS = (-20.0, 20.0)
#: starting means of the drawn EM/CEM paths (each of the four maxima is reached)
PATH_STARTS = ((-14.0, -12.0), (-13.0, 15.0), (0.0, 2.0), (3.0, -1.0), (15.0, 14.0),
               (-3.0, -8.0), (-12.0, 2.0), (2.0, -13.0))
#: the spreadsheet slide: two well-separated clusters near 0 and 4, sigma = 1, tau = 0.5
TWO_ITER_X = np.array([-0.5, 0.0, 0.5, 3.5, 4.0, 4.5])
TWO_ITER_START = (1.0, 2.0)
#: NUTS starts on the nine-point posterior: both labellings of the best bump, then the others
BUMP_CHAIN_STARTS = ((-5.0, 12.0), (12.0, -5.0), (-10.0, 6.0), (6.0, -10.0))
#: start of the MAP-EM path drawn with the posterior
MAP_PATH_START = (-2.0, 3.0)


@dataclass(frozen=True)
class LectureSettings:
    """Sizes of every computation of the lecture (``QUICK`` for CI, ``FULL`` for the slides).

    Attributes
    ----------
    n_grid, n_basin : int
        Points per axis of the surface and of the basin maps.
    path_iter : int
        Iterations drawn per EM/CEM path.
    draws, tune, chains : int
        NUTS settings of the CpG comparison (2 x 1000 draws: the table's
        posterior means, sds and 94 % HDIs, well within their MCSE of what
        more draws give; 1500 per chain cost seconds the page did not show).
    gal_draws : int
        Draws per chain of galaxies (``tune`` warm-up steps, four chains, one
        per start over the atlas).
    bump_draws : int
        Draws and tuning steps per chain of the nine-point posterior (four
        chains, one per bump; two on the ordered model): a picture of where
        the draws sit, not an estimate.
    separations : tuple of float
        Separations (in sds) of the CEM-versus-EM bias curve.
    n_sim, replicates : int
        Observations per simulated data set and data sets per separation.
    posterior_separations : tuple of float
        Separations at which the bias curve also shows the posterior mean (by quadrature
        on a grid; empty: skipped).
    posterior_replicates : int
    n_init, n_boot : int
        EM restarts (the atlas) and bootstrap refits of the comparisons.
    cpg_methods : tuple of str
        Methods of the CpG comparison.
    extras : bool
        The comparisons' prior sensitivity and ArviZ predictive groups (off
        in both settings: no page, table or figure of the lecture shows them;
        ``mixcompare compare cpg`` does).
    nuts : bool
        NUTS where the lecture samples: the nine-point posterior (else it is
        computed exactly on a grid, :mod:`.grid_posterior`) and galaxies'
        posterior (else EM's and MAP-EM's side only); CpG's by ``cpg_methods``.
    k_parts, k_boot, k_draws
        Slides 28-29's K-choice panel (:func:`comparisons.choose_k`, K = 1..2
        on the CpG data): its parts (EM's criteria and SMC's P(K | y); the
        bootstrap LRT, PSIS-LOO and the overfitted mixture are left to
        ``mixcompare choose-k``: at n = 1000 they would add a minute to the
        lecture), bootstrap samples per likelihood-ratio test when ``"lrt"``
        is among the parts (39: the smallest p-value is then 1/40, below 5 %),
        and SMC particles per chain (100: log P(y | K) of K = 2 and K = 1 differ
        by some 80 nats, against a standard error of a few nats at 100
        particles, so P(K = 1 | y) stays below 1e-30; 200 particles took up to twice
        as long for the same answer).
    """

    n_grid: int = 241
    n_basin: int = 121
    path_iter: int = 8
    draws: int = 1000
    tune: int = 500
    chains: int = 2
    gal_draws: int = 500
    bump_draws: int = 400
    separations: tuple = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
    n_sim: int = 200
    replicates: int = 20
    posterior_separations: tuple = (0.5, 1.5, 4.0)
    posterior_replicates: int = 2
    n_init: int = 50
    n_boot: int = 100
    cpg_methods: tuple = METHODS
    extras: bool = False
    nuts: bool = True
    k_parts: tuple = ("em", "smc")
    k_boot: int = 39
    k_draws: int = 100

    def compare_options(self) -> dict:
        """Return the options of ``compare`` that :attr:`extras` switches."""
        return {"prior_sensitivity": "reweight" if self.extras else "off",
                "arviz_groups": self.extras}


FULL = LectureSettings()
QUICK = replace(FULL, n_grid=121, n_basin=61, draws=100, tune=100, chains=2, gal_draws=100,
                bump_draws=100,
                separations=(0.5, 1.5, 2.5, 4.0), n_sim=100, replicates=4,
                posterior_separations=(), posterior_replicates=0, n_init=20, n_boot=0,
                cpg_methods=("em", "map_em"), nuts=False, k_parts=("em",), k_boot=0)


def bumps_data() -> tuple[np.ndarray, dict]:
    """Return the lecture's nine points and their fixed parameters (``lecture-bumps``)."""
    ds = datasets.load("lecture-bumps")
    return np.array(ds.X), dict(ds.fixed)


@dataclass(frozen=True)
class Bumps:
    """The nine-point example: surfaces, paths, basins and the table of optima.

    Attributes
    ----------
    surface, profile : xarray.Dataset
        :func:`comparisons.surface.loglik_surface` with sigma^2 = 1 fixed and
        with a common sigma^2 profiled out.
    paths_em, paths_cem : xarray.Dataset
        :func:`.paths.em_paths` from :data:`PATH_STARTS`.
    basin_em, basin_cem : xarray.Dataset
        :func:`.paths.basin_map` for EM and CEM.
    optima : pandas.DataFrame
        One row per maximum: means, log-likelihood, gap to the best, share of
        the basin-map starts that EM and CEM bring there.
    """

    surface: xr.Dataset
    profile: xr.Dataset
    paths_em: xr.Dataset
    paths_cem: xr.Dataset
    basin_em: xr.Dataset
    basin_cem: xr.Dataset
    optima: pd.DataFrame


def bumps(settings: LectureSettings = QUICK) -> Bumps:
    """Compute the four-bump surface of the nine-point example and what EM does on it.

    Parameters
    ----------
    settings : LectureSettings, default QUICK

    Returns
    -------
    Bumps
    """
    x, fixed = bumps_data()
    w, v = fixed["weights"], fixed["variances"]
    surf = surface.loglik_surface(x, limits=LIMITS, n_grid=settings.n_grid, weights=w,
                                  variances=v)
    prof = surface.loglik_surface(x, limits=LIMITS, n_grid=settings.n_grid, weights=w,
                                  profile=True)
    maxima = np.column_stack([surf["opt_mu1"].values, surf["opt_mu2"].values])
    paths = {alg: em_paths_mod.em_paths(x, PATH_STARTS, algorithm=alg, fixed=fixed,
                                   max_iter=settings.path_iter) for alg in ("em", "cem")}
    basins = {alg: em_paths_mod.basin_map(x, maxima, limits=LIMITS, n_grid=settings.n_basin,
                                     weights=w, variances=v, algorithm=alg)
              for alg in ("em", "cem")}
    best = float(surf["opt_loglik"].max())
    rows = []
    for j in range(maxima.shape[0]):
        ll = float(surf["opt_loglik"].values[j])
        rows.append({"optimum": j, "mu1": maxima[j, 0], "mu2": maxima[j, 1], "loglik": ll,
                     "gap_to_best": best - ll,
                     "basin_share_em": float((basins["em"]["optimum"] == j).mean()),
                     "basin_share_cem": float((basins["cem"]["optimum"] == j).mean())})
    return Bumps(surf, prof, paths["em"], paths["cem"], basins["em"], basins["cem"],
                 pd.DataFrame(rows))


def bumps_posterior(*, draws: int = 200, tune: int = 200, rng=None, cores=None) -> dict:
    """Sample the nine-point posterior (unordered and ordered) and climb it by MAP-EM and MAP.

    Parameters
    ----------
    draws, tune : int
        Per chain; four chains on the unordered model (started at
        :data:`BUMP_CHAIN_STARTS`), two on the ordered one (at the two bumps
        with ``mu1 < mu2``).
    rng : int, numpy.random.Generator or None
    cores : int, optional
        Processes for the chains (:func:`models.fit_nuts`); 1 for short runs,
        where starting processes costs more than it saves.

    Returns
    -------
    dict
        ``unordered``, ``ordered``: Datasets of ``means`` over ``(chain, draw,
        component)`` with attribute ``starts``; ``map_path``: the MAP-EM path
        (:func:`.paths.em_paths` with the shared prior) from
        :data:`MAP_PATH_START`; ``find_map``: ``find_MAP``'s means (2,);
        ``find_map_log_density``: its log density. ``find_MAP``'s own iterates
        are not exposed by PyMC, hence the MAP-EM path.
    """
    from mixcompare import models

    x, fixed = bumps_data()
    rng = em.check_rng(rng)
    seeds = rng.spawn(3)
    prior = em.Prior.default(x)
    out = {}
    for key, ordered, starts in (("unordered", False, BUMP_CHAIN_STARTS),
                                 ("ordered", True, tuple(s for s in BUMP_CHAIN_STARTS
                                                         if s[0] < s[1]))):
        model = models.build_model(x, 2, prior=prior, fixed=fixed, ordered=ordered)
        tree = models.fit_nuts(model, draws=draws, tune=tune, chains=len(starts),
                               init=[{"means": np.array(s)} for s in starts],
                               rng=seeds[0 if ordered else 1], progressbar=False,
                               cores=cores)
        means = tree["posterior"]["means"].to_dataset()[["means"]]
        means.attrs["starts"] = np.array(starts).ravel().tolist()
        means.attrs["divergences"] = int(tree["sample_stats"]["diverging"].sum())
        out[key] = means
        if not ordered:
            mtree = models.fit_map(model, rng=seeds[2], n_starts=2)
            out["find_map"] = np.asarray(mtree["posterior"]["means"].values[0, 0], float)
            out["find_map_log_density"] = float(mtree.attrs["log_density"])
    out["map_path"] = map_em_path()
    return out


def map_em_path(max_iter: int = 12) -> xr.Dataset:
    """Return MAP-EM's path on the nine-point posterior from :data:`MAP_PATH_START`.

    :func:`.paths.em_paths` with the default prior (:meth:`em.Prior.default`
    of the nine points) and the lecture's fixed weights and variances.
    """
    x, fixed = bumps_data()
    return em_paths_mod.em_paths(x, [MAP_PATH_START], fixed=fixed, prior=em.Prior.default(x),
                                 max_iter=max_iter)


def iteration_table(x=TWO_ITER_X, start=TWO_ITER_START, n_iter: int = 6) -> pd.DataFrame:
    """Tabulate EM iteration by iteration, as the lecture's spreadsheet (sigma = 1, tau = 0.5).

    Parameters
    ----------
    x : array_like of shape (n,), default :data:`TWO_ITER_X`
    start : pair of float, default :data:`TWO_ITER_START`
    n_iter : int, default 6

    Returns
    -------
    pandas.DataFrame
        Columns ``iteration``, ``mu1``, ``mu2``, ``loglik``, ``delta`` (change
        of the log-likelihood from the previous iteration) and
        ``gap_to_final`` (distance below the last iterate's log-likelihood).
    """
    res = em.fit(np.asarray(x, float), 2, fixed={"weights": [0.5, 0.5], "variances": 1.0},
                 init={"means": list(start)}, tol=0, max_iter=n_iter)
    ll = res.trace.log_likelihood
    return pd.DataFrame({"iteration": np.arange(ll.size), "mu1": res.trace.means[:, 0],
                         "mu2": res.trace.means[:, 1], "loglik": ll,
                         "delta": np.r_[np.nan, np.diff(ll)], "gap_to_final": ll[-1] - ll})


def _fit_quiet(X, algorithm, start, fixed):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", em.MixcompareWarning)
        res = em.fit(X, 2, algorithm=algorithm, fixed=fixed, init={"means": list(start)},
                     tol=1e-8, max_iter=5000)
    return res, any(issubclass(w.category, em.ConvergenceWarning) for w in caught)


def cem_bias(separations=QUICK.separations, *, n: int = 100, replicates: int = 4,
             posterior_separations=(), posterior_replicates: int = 0,
             rng=None) -> xr.Dataset:
    """Measure the bias of CEM and EM (and the posterior mean) as two components overlap.

    Data: ``n`` points from ``0.5 N(0, 1) + 0.5 N(sep, 1)``; model: the
    lecture's (weights 0.5 and variances 1 fixed, both means free), fitted by
    EM and CEM from the true means, so the difference is the algorithm's, not
    the start's. The estimate is the separation ``|mu2 - mu1|``.

    Parameters
    ----------
    separations : sequence of float
        Distances between the true means, in sds.
    n, replicates : int
    posterior_separations : sequence of float
        Where the posterior mean of the separation is also given (two free
        means: by quadrature on a grid,
        :func:`.grid_posterior.posterior_mean_separation`); empty to skip.
    posterior_replicates : int
        Data sets per posterior separation (the first replicates).
    rng : int, numpy.random.Generator or None

    Returns
    -------
    xarray.Dataset
        ``estimate`` over ``(algorithm, separation, replicate)`` with
        ``em``/``cem``; ``bias`` and ``bias_se`` over ``(algorithm, separation)``;
        with a posterior, ``post_estimate`` over ``(post_separation,
        replicate)``, ``post_bias`` and ``post_em_bias`` (EM's bias on the
        same data sets, to compare like with like). Attributes ``n``, ``model``,
        ``n_not_converged``, ``posterior`` (what was run or why not).
    """
    rng = em.check_rng(rng)
    fixed = {"weights": [0.5, 0.5], "variances": 1.0}
    seps = np.asarray(separations, float)
    est = np.full((2, seps.size, replicates), np.nan)
    data, not_conv = {}, 0
    for i, (sep, child) in enumerate(zip(seps, rng.spawn(seps.size), strict=True)):
        for r, c in enumerate(child.spawn(replicates)):
            X, _ = em.sample(n, [0.5, 0.5], [0.0, sep], 1.0, rng=c)
            data[(float(sep), r)] = X
            for a, alg in enumerate(("em", "cem")):
                res, nc = _fit_quiet(X, alg, (0.0, sep), fixed)
                not_conv += nc
                est[a, i, r] = abs(res.means[1] - res.means[0])
    ds = xr.Dataset({"estimate": (("algorithm", "separation", "replicate"), est)},
                    coords={"algorithm": ["em", "cem"], "separation": seps,
                            "replicate": np.arange(replicates)})
    ds["bias"] = ds["estimate"].mean("replicate") - ds["separation"]
    ds["bias_se"] = ds["estimate"].std("replicate", ddof=1) / np.sqrt(replicates)
    ds.attrs.update({"n": n, "model": "weights 0.5 and variances 1 fixed, means free; EM and "
                     "CEM started at the true means", "n_not_converged": int(not_conv)})
    pseps = [float(s) for s in posterior_separations if (float(s), 0) in data]
    if not pseps or posterior_replicates < 1:
        ds.attrs["posterior"] = "skipped (quick settings)"
        return ds
    from .grid_posterior import posterior_mean_separation

    reps = min(posterior_replicates, replicates)
    # one prior for every data set (the default prior of their pooled values)
    prior = em.Prior.default(np.concatenate([data[(s, r)] for s in pseps for r in range(reps)]))
    post = np.array([[posterior_mean_separation(data[(sep, r)], fixed, prior)
                      for r in range(reps)] for sep in pseps])
    ds["post_estimate"] = (("post_separation", "post_replicate"), post)
    ds = ds.assign_coords(post_separation=pseps, post_replicate=np.arange(reps))
    ds["post_bias"] = ds["post_estimate"].mean("post_replicate") - ds["post_separation"]
    same = ds["estimate"].sel(algorithm="em", separation=pseps).isel(replicate=slice(0, reps))
    ds["post_em_bias"] = ("post_separation", (same.mean("replicate") - same["separation"]).values)
    ds.attrs["posterior"] = (
        "posterior mean of |mu2 - mu1| (one default prior from the pooled data sets; two "
        "free means, so computed by quadrature on a grid: no Monte Carlo error) on "
        f"the first {reps} data set(s), drawn with EM's bias on the same data sets for a "
        "like-for-like comparison")
    return ds


def cpg_comparison(settings: LectureSettings = QUICK, rng=None,
                   progress=None) -> ComparisonResult:
    """Compare EM, MAP and NUTS on the simulated CpG o/e ratios (``load("cpg")``, K = 2)."""
    ds = datasets.load("cpg")
    return compare(ds.X, 2, methods=settings.cpg_methods, draws=settings.draws,
                   tune=settings.tune, chains=settings.chains, n_init=settings.n_init,
                   n_boot=settings.n_boot, rng=rng, progress=progress,
                   **settings.compare_options(), **ds.metadata())


def galaxies_atlas(settings: LectureSettings = QUICK, rng=None,
                   progress=None) -> ComparisonResult:
    """Fit galaxies with K = 3: EM's atlas of optima and an unordered posterior started on it.

    Chains start over the atlas (``init="atlas"``, four chains), so the
    posterior's census can show several modes where EM found several optima;
    without ``settings.nuts``, EM's and MAP-EM's side only.
    """
    ds = datasets.load("galaxies")
    methods = ("em", "map_em", "nuts") if settings.nuts else ("em", "map_em")
    return compare(ds.X, 3, methods=methods, draws=settings.gal_draws,
                   tune=settings.tune, chains=4, init="atlas", n_init=settings.n_init,
                   n_boot=0, rng=rng, progress=progress, **settings.compare_options(),
                   **ds.metadata())
