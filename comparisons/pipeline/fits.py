"""The fitting steps of a comparison: EM, its standard errors, MAP-EM, ``find_MAP``, NUTS.

Each step is a function of the data, the settings and its own random stream
that returns a small, immutable result; none of them writes to a tree or a
file. :func:`mixcompare.comparisons.pipeline.compare` and a study's replicate
(:mod:`mixcompare.comparisons.study.replicate`) call the same steps.

Components are put in one *reference order*, EM's MLE sorted by its first
mean coordinate; every other method is matched to it with
:func:`em.match_components` (Hungarian assignment, never by sorting).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from mixcompare import em

from .runlog import RunLog

__all__ = ["BOOT_FAILURE_MAX", "EMErrors", "EMFit", "MapEMFit", "MapFit", "NutsFit", "Setup",
           "build_model", "em_standard_errors", "fit_em", "fit_map",
           "fit_map_em", "fit_nuts", "point_of", "setup"]


@dataclass(frozen=True)
class Setup:
    """The validated data and model every step fits.

    Attributes
    ----------
    X : ndarray of shape (n_samples,) or (n_samples, n_features)
    spec : em.Spec
        The validated specification (:func:`em.model_spec`).
    structure, fixed :
        As the user gave them (passed on to :func:`em.fit` and :func:`models.build_model`).
    prior : em.Prior
        Shared by MAP-EM and the PyMC model.
    """

    X: np.ndarray
    spec: em.Spec
    structure: str | None
    fixed: dict | None
    prior: em.Prior

    @cached_property
    def scale(self) -> float:
        """The data's scale, sqrt of the mean per-feature variance (standardised matching)."""
        X2 = self.X.reshape(self.X.shape[0], -1)
        return float(np.sqrt(np.mean(np.var(X2, axis=0))))


def setup(X, n_components: int, *, structure=None, fixed=None, prior=None) -> Setup:
    """Validate the data and the model once (:func:`em.model_spec`); default the prior."""
    X, spec = em.model_spec(X, n_components, structure=structure, fixed=fixed)
    prior = em.Prior.default(X) if prior is None else prior
    return Setup(X, spec, structure, fixed, prior)


def _in_order(result: em.EMResult, perm: np.ndarray) -> dict:
    """Return an EM fit's weights, means and sds with its components in the order ``perm``."""
    return {"weights": result.weights[perm], "means": result.means[perm],
            "sds": result.sds[perm]}


@dataclass(frozen=True)
class EMFit:
    """EM's MLE, and the reference component order every method is aligned to.

    Attributes
    ----------
    result : em.EMResult
        The best restart, with the atlas of optima.
    order : ndarray of shape (n_components,)
        ``result``'s components in reference order (sorted by the first mean coordinate).
    reference : em.Params
        The MLE in reference order.
    """

    result: em.EMResult
    order: np.ndarray
    reference: em.Params

    def estimates(self) -> dict:
        """Weights, means and sds in reference order."""
        return _in_order(self.result, self.order)

    @cached_property
    def responsibilities(self) -> np.ndarray:
        """EM's responsibilities of the fitted data, (n_samples, n_components), reference order.

        Computed once, for EM's classification and the membership comparison.
        """
        return self.result.predict_proba(self.result.data)[:, self.order]


@dataclass(frozen=True)
class EMErrors:
    """EM's standard errors (Louis; bootstrap) and the bootstrap's percentile interval.

    Arrays are in reference order; ``None`` where the method did not run.
    """

    louis: em.StandardErrors | None
    bootstrap: em.StandardErrors | None
    bootstrap_interval: em.Intervals | None
    level: float


@dataclass(frozen=True)
class MapEMFit:
    """MAP-EM under the shared prior, matched to the reference order (``perm``)."""

    result: em.EMResult
    perm: np.ndarray

    def estimates(self) -> dict:
        """Weights, means and sds in reference order."""
        return _in_order(self.result, self.perm)


@dataclass(frozen=True)
class MapFit:
    """``find_MAP`` of the PyMC model (best of several starts), matched to the reference."""

    tree: object  # xarray.DataTree from models.fit_map
    point: em.Params
    perm: np.ndarray
    #: MAP-EM run from this mode when it is higher than MAP-EM's own (:func:`map_em_at`)
    map_em_at: MapEMFit | None = None

    def estimates(self, one_d: bool) -> dict:
        """Weights, means and sds in reference order."""
        p, k = self.point, self.perm
        sds = np.sqrt(np.einsum("kii->ki", p.covariances))
        means = p.means[:, 0] if one_d else p.means
        sds = sds[:, 0] if one_d else sds
        return {"weights": p.weights[k], "means": means[k], "sds": sds[k]}


@dataclass(frozen=True)
class NutsFit:
    """NUTS draws of the PyMC model: the tree of :func:`models.fit_nuts` and where chains began.

    Attributes
    ----------
    tree : xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``init`` (and more, as the sampler gives).
    start_fit : em.EMResult
        The (MAP-)EM fit the chains started from (``init="em"``/``"atlas"``) or EM's.
    started_at : ndarray of shape (chain,) or None
        The atlas optimum each chain started at, when that atlas is the census's.
    """

    tree: object
    start_fit: em.EMResult
    started_at: np.ndarray | None

    @property
    def posterior(self):
        """The raw posterior as an ``xarray.Dataset``."""
        return self.tree["posterior"].to_dataset()


# --------------------------------------------------------------------------- EM
def fit_em(s: Setup, *, n_init, rng, log: RunLog, max_init: int = 200) -> EMFit:
    """Fit the MLE by EM with ``n_init`` restarts (or ``"auto"``, at most ``max_init``).

    Records as problems a degenerate or unconverged best, and ``"auto"``
    stopping at its cap before the best optimum was reached twice.
    """
    spec = s.spec
    said = "restarts until stable" if n_init == "auto" else f"{n_init} restarts"
    with log.step("em", f"EM: {said}"):
        mle = em.fit(s.X, spec.n_components, structure=s.structure, fixed=s.fixed,
                     n_init=n_init, max_init=max_init, rng=rng)
    if mle.init_cap_reached:
        log.problem(f"EM's best optimum was reached by one restart only in {max_init} "
                    "restarts (the cap of n_init='auto'): other optima may be missed; "
                    "raise max_init")
    key = mle.means if spec.one_d else mle.means[:, 0]
    order = np.argsort(key, kind="stable")
    ref = em.Params(mle.weights[order], mle.params().means[order], mle.covariances[order])
    if mle.degenerate.any():
        log.problem("EM's best optimum is degenerate (a component at the variance floor)")
    if not mle.converged:
        log.problem("EM did not converge (max_iter reached)")
    return EMFit(mle, order, ref)


def em_standard_errors(fit: EMFit, *, n_boot: int, level: float, rng,
                       log: RunLog) -> EMErrors:
    """Louis standard errors and, with ``n_boot > 0``, the nonparametric bootstrap's."""
    louis = boot = ci = None
    with log.step("louis"):
        try:
            louis = fit.result.standard_errors("louis")
        except (ValueError, NotImplementedError, np.linalg.LinAlgError) as err:
            log.problem(f"EM standard errors (Louis) unavailable: {err}")
    if n_boot:
        # every core when the refits are long enough to repay starting worker processes
        # (the replicates do not depend on the number of workers)
        with log.step("bootstrap", f"EM: bootstrap, {n_boot} refits"):
            boot = fit.result.standard_errors("bootstrap", n_boot=n_boot, rng=rng, n_jobs="auto",
                                              on_progress=log.counter("bootstrap refits"))
            ci = boot.intervals(level)
        if boot.n_failed:
            reasons = boot.failure_counts
            said = ", ".join(f"{k} {v}" for k, v in reasons.items())
            share = boot.n_failed / n_boot
            log.problem(f"{boot.n_failed} of {n_boot} bootstrap refits failed ({said})"
                        + (f"; above {BOOT_FAILURE_MAX:.0%} the bootstrap SEs are marked "
                           "unreliable" if share > BOOT_FAILURE_MAX else ""))
    return EMErrors(louis, boot, ci, level)


#: share of failed bootstrap refits above which the bootstrap SEs are marked unreliable
BOOT_FAILURE_MAX = 0.10



#: iterations allowed to MAP-EM at its tight tolerance
MAP_EM_MAX_ITER = 20_000


def map_em_tol(n: int) -> float:
    """MAP-EM's stopping tolerance on the objective: ``max(1e-10, 1e-12 n)``.

    A thousand times the objective's round-off (about ``1e-15 n``), so EM
    stops at the mode to ~1e-6 relative instead of wandering at round-off.
    """
    return max(1e-10, 1e-12 * n)


def fit_map_em(s: Setup, fit: EMFit, *, n_init, rng, log: RunLog) -> MapEMFit | None:
    """MAP-EM under the shared prior; None (and a problem) if the prior is refused.

    Give it the same stream as :func:`fit_em` to start from the same restarts;
    ``n_init="auto"`` runs as many restarts as EM ran.
    MAP-EM runs to a tight tolerance (:func:`map_em_tol`): it is compared with
    ``find_MAP`` to 1e-4, and along a flat ridge of the posterior EM's steps
    shrink slowly, so em's default (1e-6 on the objective) can stop 1e-4 away
    from the mode (seen: faithful2d, K=3, full).
    """
    with log.step("map_em", "MAP-EM"):
        try:
            res = em.fit(s.X, s.spec.n_components, structure=s.structure, fixed=s.fixed,
                         n_init=fit.result.n_restarts if n_init == "auto" else n_init,
                         rng=rng, prior=s.prior, tol=map_em_tol(s.X.shape[0]),
                         max_iter=MAP_EM_MAX_ITER)
        except ValueError as err:
            log.problem(f"MAP-EM skipped: {err}")
            return None
    perm, _ = em.match_components(fit.reference, res.params())
    return MapEMFit(res, perm)


def map_em_at(s: Setup, fit: EMFit, map_em: MapEMFit | None, map_fit: MapFit | None, *,
              log: RunLog) -> MapEMFit | None:
    """MAP-EM started at find_MAP's mode, when find_MAP reached a higher density than MAP-EM.

    MAP-EM and find_MAP maximise the same density, so their comparison must be
    made at one mode. ``find_MAP`` also starts next to MAP-EM's optimum
    (:func:`fit_map`), so it is never lower than MAP-EM's mode; when it is
    higher, its independent starts found a mode MAP-EM's restarts missed
    (a problem is logged). MAP-EM is then run from that point: if it stays,
    the two agree there (the comparison's table reads this fit); if it
    leaves, the disagreement is real and shown as such.

    Returns None when there is nothing to compare or the modes are the same.
    """
    if map_em is None or map_fit is None:
        return None
    lp, found = map_em.result.log_posterior, float(map_fit.tree.attrs["log_density"])
    if not found > lp + 1e-6 * max(1.0, abs(lp)):
        return None
    log.problem(f"MAP-EM's restarts missed a higher posterior mode that find_MAP found "
                f"(log density {found:.4f} against {lp:.4f}); increase n_init; MAP-EM "
                "started at find_MAP's mode is compared with it")
    p = map_fit.point
    init = {"weights": p.weights, "means": p.means[:, 0] if s.spec.one_d else p.means}
    if s.spec.one_d:
        init["variances"] = p.covariances[:, 0, 0]
    else:
        init["covariances"] = p.covariances
    with log.step("map_em_at_map", "MAP-EM from find_MAP's mode"):
        res = em.fit(s.X, s.spec.n_components, structure=s.structure, fixed=s.fixed,
                     init=init, prior=s.prior, tol=map_em_tol(s.X.shape[0]),
                     max_iter=MAP_EM_MAX_ITER)
    perm, _ = em.match_components(fit.reference, res.params())
    return MapEMFit(res, perm)


# --------------------------------------------------------------------------- PyMC
def build_model(s: Setup, *, ordered: bool):
    """Build the PyMC model of the comparison (:func:`models.build_model`)."""
    from mixcompare import models

    return models.build_model(s.X, s.spec.n_components, prior=s.prior, structure=s.structure,
                              fixed=s.fixed, ordered=ordered)


def point_of(tree) -> em.Params:
    """Return the single draw of a ``find_MAP`` tree as :class:`em.Params` (any structure)."""
    p = tree["posterior"]
    w = p["weights"].values[0, 0]
    m = p["means"].values[0, 0]
    v = p["variances"].values[0, 0]
    K = w.shape[0]
    m2 = m.reshape(K, -1)
    cov = (p["covariances"].values[0, 0] if "covariances" in p
           else v.reshape(K, -1)[:, :, None] * np.eye(m2.shape[1]))
    return em.Params(w, m2, cov)


def fit_map(model, fit: EMFit, *, rng, log: RunLog, n_starts: int | None = None,
            map_em: MapEMFit | None = None) -> MapFit | None:
    """``find_MAP`` from several starts; None (a problem) when no start gave a MAP.

    The starts are EM's k-means++ initialisations (independent of EM's
    answer), plus, when MAP-EM ran, one start next to MAP-EM's optimum: the
    comparison of the two then tests that they maximise the same density
    (they agree when MAP-EM's optimum is the highest mode found), while the
    independent starts can still find a higher mode MAP-EM missed.
    """
    from mixcompare import models

    kw = {} if n_starts is None else {"n_starts": n_starts}
    if map_em is not None:
        kw["extra_starts"] = [models.start_near(model, map_em.result)]
    with log.step("map", "find_MAP"):
        try:
            tree = models.fit_map(model, rng=rng, on_progress=log.counter("find_MAP starts"),
                                  **kw)
        except models.MAPError as err:
            log.problem(str(err))
            return None
        except ValueError as err:  # a prior without an interior mode, as MAP-EM refuses it
            log.problem(f"find_MAP skipped: {err}")
            return None
    point = point_of(tree)
    perm, _ = em.match_components(fit.reference, point)
    return MapFit(tree, point, perm)


def fit_nuts(model, fit: EMFit, map_em: MapEMFit | None, *, draws: int, tune: int,
             chains: int, sampler: str, init, target_accept: float, rng, log: RunLog,
             max_treedepth: int = 10,
             progressbar: bool = False, cores: int | None = None) -> NutsFit:
    """NUTS, started as ``init`` says (from MAP-EM's optimum when it ran, else EM's)."""
    from mixcompare import models

    start_fit = map_em.result if (map_em is not None and init in ("em", "atlas")) else fit.result
    with log.step("nuts", f"NUTS: {chains} chains x ({tune} tune + {draws} draws), {sampler}"):
        tree = models.fit_nuts(model, draws=draws, tune=tune, chains=chains, sampler=sampler,
                               target_accept=target_accept, max_treedepth=max_treedepth,
                               rng=rng, init=init,
                               em_result=start_fit, reference=fit.reference,
                               progressbar=progressbar, cores=cores,
                               on_progress=log.counter("NUTS iterations (all chains)"))
    atlas = map_em.result if map_em is not None else fit.result
    started = (tree["init"].attrs.get("optimum") if init in ("em", "atlas")
               and start_fit is atlas else None)
    return NutsFit(tree, start_fit, None if started is None else np.atleast_1d(started))

