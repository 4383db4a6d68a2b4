"""The public EM entry point: :func:`fit` runs the engine and assembles an :class:`EMResult`.

The iteration, initialisation and choice of the best restart live in
:mod:`em._engine` (below this module and below :mod:`em.result`, so that the
bootstrap can refit through the engine without an import cycle); this module
adds the atlas of optima, the trace, the final E-step and the warnings.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import logsumexp

from ._atlas import Optimum, Restart
from ._auto import AUTO_MAX_INIT, run_until_stable
from ._design import Components
from ._engine import (
    ALGORITHMS,
    EMState,
    Problem,
    StepInfo,
    degenerate,
    prepare,
    run_restarts,
    select,
    spurious,
    step,
)
from ._estep import log_prob
from ._model import Params
from ._monotone import MONOTONE_RTOL
from ._smem import split_and_merge
from ._validation import check_positive_int, check_rng
from ._warnings import ConvergenceWarning, DegenerateWarning
from .result import EMResult, Trace

__all__ = ["ALGORITHMS", "MONOTONE_RTOL", "EMState", "StepInfo", "fit", "step"]


def _user_shapes(p: Params, one_d: bool):
    """Convert full internal-shape arrays to the user's shapes: (means, variances)."""
    var = np.einsum("...kii->...ki", p.covariances)
    if one_d:
        return p.means[..., 0], var[..., 0]
    return p.means, var


def _degenerate_message(problem: Problem, state: EMState, degen: np.ndarray,
                        floor_user: np.ndarray) -> str:
    """Say which components are degenerate, why, and what to change."""
    d = problem.design.d
    few = degen & (state.stats[:, 0] < d + 1)
    floored = degen & ~few
    parts = []
    if floored.any():
        floor = ", ".join(f"{v:.3g}" for v in np.atleast_1d(floor_user))
        parts.append(
            f"{np.flatnonzero(floored).tolist()} are at the variance floor (var_floor="
            f"{problem.var_floor:g} times the data's resolution squared: {floor} in data "
            "units): each has collapsed onto (almost) a single value"
            + (" or a lower-dimensional set (collinear or repeated columns?)" if d > 1 else "")
            + ", or var_floor is set too high for the data")
    if few.any():
        parts.append(f"{np.flatnonzero(few).tolist()} hold fewer than d + 1 = {d + 1} "
                     "effective points")
    return (f"component(s) {np.flatnonzero(degen).tolist()} of the best fit are degenerate: "
            + "; ".join(parts) + "; reduce n_components, use more restarts"
            + (", or lower var_floor." if floored.any() else "."))


def fit(X, n_components, *, algorithm="em", structure=None, fixed=None, init="kmeans++",
        n_init=1, max_iter=1000, tol=1e-6, var_floor=1e-6, atlas_tol=1e-3, rng=None,
        keep_resp=False, prior=None, max_init=AUTO_MAX_INIT, polish=True) -> EMResult:
    """Fit a Gaussian mixture by EM (or classification EM), keeping every restart.

    Parameters
    ----------
    X : array_like of shape (n_samples,) or (n_samples, n_features)
    n_components : int
    algorithm : {"em", "cem"}, default "em"
        ``"em"``: soft EM. ``"cem"``: classification EM, whose C-step replaces
        responsibilities by hard 0/1 assignments before the M-step.
    structure : {"unequal", "equal"} for 1-D data, {"full", "diag", "spherical", "tied"} otherwise
        Defaults to ``"unequal"`` (1-D) or ``"full"``.
    fixed : dict, optional
        Parameters held at given values: keys among ``"weights"`` (K,),
        ``"means"`` (K,) or (K, d), ``"variances"`` (a scalar means every
        component; 1-D) and ``"covariances"`` ((d, d) or (K, d, d)).
    init : {"kmeans++", "random_from_data", "random_resp", "quantile", "mclust"} or dict
        Initialisation per restart, or starting parameters. ``"mclust"``
        (1-D): mclust's default start, its quantile classes (deterministic). Starting
        covariances are put in the model first, as every M-step does: pooled
        (weighted by the starting weights) for ``equal``/``tied``, their
        diagonal for ``diag``, the mean variance for ``spherical``, and raised
        to the floor.
    n_init : int or "auto", default 1
        Number of restarts, each with its own child generator of ``rng``.
        ``"auto"``: restart in batches of 10 until the returned optimum has
        been reached by two restarts, at most ``max_init``
        (``EMResult.init_cap_reached`` says whether the cap stopped it; the
        restarts made are ``EMResult.restarts``), then search around the
        best proper optimum by split-and-merge (Notes; K >= 3, soft EM, no
        fixed block). The same seed gives the same restarts, whatever the
        batches.
    max_iter : int, default 1000
        Maximum number of iterations (M-steps) per restart; 0 evaluates the start.
    tol : float, default 1e-6
        A restart has converged when the objective (total log-likelihood,
        summed over the data) changes by less than ``tol`` between
        iterations. It is then polished by SQUAREM cycles (Notes) until the
        parameters have settled, i.e. Aitken's estimate of their distance
        to the fixed point (weights, means in data sds, log-sds) from a
        cycle's two EM steps, at the largest rate seen in the cycles, is
        below 1e-6 (see :func:`em._stopping.settled`), within ``max_iter``
        iterations in all. A restart that has not met ``tol``
        after 100 plain iterations is accelerated too. Along flat
        directions the objective stops moving long before the parameters do;
        without the polish, restarts stop at different points of the same
        optimum. ``tol=0`` runs exactly ``max_iter`` iterations.
    var_floor : float, default 1e-6
        The variance floor, relative to the data's resolution: the variance of
        feature ``j`` in every component is kept at or above ``var_floor *
        delta_j**2``, where ``delta_j`` is the smallest non-zero gap between
        two distinct values of feature ``j`` (for full and tied covariances:
        every eigenvalue after dividing each feature by its
        ``sqrt(var_floor) * delta_j``). The floor only stops a component
        collapsing onto a point (it is then flagged degenerate): a component
        spread over two or more distinct values reaches it only if one value
        holds all but a fraction ``var_floor`` of its weight, however far apart
        the clusters are. Equivariant under ``x -> a x + b``; ``0`` disables
        it. The floor in data units is ``EMResult.variance_floor``; see
        :mod:`em._floor`.
    atlas_tol : float, default 1e-3
        Two restarts are the same optimum when, after matching components,
        weights, means (in data standard deviations) and log-sds differ by
        less than this.
    rng : int, numpy.random.Generator or None
    keep_resp : bool, default False
        Store the responsibilities of every iteration in the trace.
    prior : em.Prior, optional
        Maximise the log posterior (MAP-EM) instead of the log-likelihood.
    max_init : int, default 200
        Cap on the restarts of ``n_init="auto"``.
    polish : bool, default True
        Polish each converged restart (see ``tol``). False: stop as soon as
        the objective changes by less than ``tol`` (scikit-learn's rule),
        which saves the polish's iterations when a loose ``tol`` is enough;
        restarts may then stop at different points of one flat optimum and
        be listed apart in ``optima``.

    Returns
    -------
    EMResult
        The fit is the optimum of highest objective among the *proper*
        ones, those with no degenerate and no spurious component (see
        Notes); the others stay in ``optima``, flagged. Only when every
        optimum is improper is the highest one returned (with a warning).

    Notes
    -----
    E-step: ``r_ik = w_k N(x_i | mu_k, Sigma_k) / sum_j w_j N(x_i | mu_j, Sigma_j)``.
    M-step: ``w_k = N_k / n``, ``mu_k = sum_i r_ik x_i / N_k``,
    ``Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k`` with
    ``N_k = sum_i r_ik``, then constrained by the structure and the floor.
    Each iteration cannot decrease the log-likelihood (Dempster, Laird &
    Rubin 1977); a decrease beyond round-off raises ``MonotonicityError``.

    Numerics: each component's mean is kept exactly in data units and every
    difference ``x - mu_k`` and statistic is formed about it (centred, see
    :mod:`em._design`), so variances are right to round-off at any offset,
    scale and separation of the clusters.
    CEM (Celeux & Govaert 1992) increases the classification likelihood.

    SQUAREM (Varadhan & Roland 2008, scheme S3, with a monotone safeguard;
    :mod:`em._squarem`): with ``F`` one EM iteration and ``theta`` the
    parameters as log-weights, means in data sds and log-variances (diagonal
    structures) or covariance matrices (full, tied), a cycle from ``theta_0``
    computes ``theta_1 = F(theta_0)``, ``theta_2 = F(theta_1)``,
    ``r = theta_1 - theta_0``, ``v = theta_2 - 2 theta_1 + theta_0``,
    ``alpha = -max(1, min(|r| / |v|, alpha_max))`` and
    ``theta' = theta_0 - 2 alpha r + alpha^2 v`` (weights renormalised,
    covariances projected on the floor, fixed blocks kept). ``theta'`` is
    kept only when its objective is at least ``theta_2``'s, so the objective
    trace stays monotone; ``alpha_max`` starts at 4, grows 4-fold when
    reached and shrinks 4-fold after a rejection. Extrapolated iterates
    are marked in ``Trace.accelerated``; MAP-EM is accelerated on its log
    posterior; CEM is not accelerated.

    Split-and-merge (Ueda, Nakano, Ghahramani & Hinton 2000;
    :mod:`em._smem`), after the restarts of ``n_init="auto"``: from the best
    proper optimum, a candidate merges components ``i, j`` (matching their
    first two moments) and splits ``k`` in two along its principal axis
    (keeping its moments); pairs are ranked by ``J_merge = P_i . P_j`` (the
    responsibility vectors), splits by the local Kullback-Leibler divergence
    ``J_split(k) = sum_n f_nk log(f_nk / q_nk)`` with ``f_nk = r_nk / N_k``
    and ``q_nk`` component ``k``'s density at the data renormalised over
    them. EM runs from the 5 best-ranked candidates in turn; the first to
    reach a proper optimum of higher objective becomes the best and the
    ranking restarts from it (at most 10 rounds). Every candidate's run is
    in the atlas, ``Restart.origin`` naming it; ``Optimum.count`` and
    ``basin_share`` count random restarts only.

    Spurious optima (McLachlan & Peel 2000, section 3.10; Hathaway 1985): a
    component is spurious when its generalised sd ``|Sigma_k|^(1/(2d))`` is
    below 0.05 times the median of the other components' and it holds fewer
    than ``5 (d + 1)`` effective points (:mod:`em._spurious`).

    References
    ----------
    Dempster, Laird & Rubin (1977), JRSS B 39, 1-38.
    Celeux & Govaert (1992), Comput. Stat. Data Anal. 14, 315-332.
    McLachlan & Peel (2000), Finite Mixture Models, Wiley.
    Hathaway (1985), Ann. Statist. 13, 795-800.
    Varadhan & Roland (2008), Scand. J. Statist. 35, 335-353.
    Ueda, Nakano, Ghahramani & Hinton (2000), Neural Comput. 12, 2109-2128.
    """
    problem, max_iter, n_init = prepare(
        X, n_components, algorithm=algorithm, structure=structure, fixed=fixed,
        var_floor=var_floor, prior=prior, tol=tol, max_iter=max_iter, n_init=n_init,
        atlas_tol=atlas_tol)
    rng = check_rng(rng)
    if not isinstance(polish, (bool, np.bool_)):
        raise TypeError(f"polish must be True or False, got {polish!r}.")
    capped = False
    if n_init == "auto":
        max_init = check_positive_int(max_init, "max_init", minimum=1)
        runs, capped = run_until_stable(problem, init=init, max_init=max_init,
                                        max_iter=max_iter, tol=tol, atlas_tol=atlas_tol,
                                        rng=rng, keep_resp=keep_resp, polish=bool(polish))
        origins = ["restart"] * len(runs)
        origins += split_and_merge(problem, runs, max_iter=max_iter, tol=tol,
                                   atlas_tol=atlas_tol, keep_resp=keep_resp,
                                   polish=bool(polish))
    else:
        runs = run_restarts(problem, init=init, n_init=n_init, max_iter=max_iter, tol=tol,
                            rng=rng, keep_resp=keep_resp, polish=bool(polish))
        origins = ["restart"] * len(runs)
    return _assemble(problem, runs, origins, algorithm, atlas_tol, keep_resp, tol, capped)


def _assemble(problem: Problem, runs, origins, algorithm, atlas_tol, keep_resp, tol,
              capped=False) -> EMResult:
    spec = problem.spec
    shift = problem.loglik_shift  # user-scale objective minus internal-scale objective
    finals = [h[-1] for h, _, _ in runs]
    # observed log-likelihood at every restart's end (CEM tracks another objective)
    logliks = []
    for s in finals:
        if problem.hard:
            comp = Components(s.params.weights, s.anchors, s.params.covariances, s.factors)
            ll = 0.0
            for _, _, lp in log_prob(problem.design, comp):
                ll += float(logsumexp(lp, axis=1).sum())
        else:
            ll = s.loglik
        logliks.append(ll + shift)
    groups = select(problem, runs, atlas_tol)
    random = np.array([o == "restart" for o in origins])
    restart_opt = np.empty(len(runs), dtype=int)
    optima = []
    for j, g in enumerate(groups):
        restart_opt[g] = j
        rep = finals[g[0]]
        user = problem.user_params(rep.params, rep.anchors)
        means, var = _user_shapes(user, spec.one_d)
        optima.append(Optimum(
            weights=user.weights, means=means, variances=var, covariances=user.covariances,
            log_likelihood=float(logliks[g[0]]),
            objective=float(rep.objective + shift),
            count=int(random[g].sum()), basin_share=float(random[g].sum() / random.sum()),
            n_iter=tuple(len(runs[i][0]) - 1 for i in g),
            converged=all(runs[i][1] for i in g),
            degenerate=bool(degenerate(problem, rep).any()), restarts=tuple(g),
            spurious=bool(spurious(problem, rep).any())))
    restarts = tuple(
        Restart(log_likelihood=float(logliks[i]),
                objective_trace=np.array([s.objective for s in h]) + shift,
                n_iter=len(h) - 1, converged=conv, optimum=int(restart_opt[i]),
                origin=origins[i])
        for i, (h, conv, _) in enumerate(runs))

    best = groups[0][0]
    history, converged, resp = runs[best]
    final = history[-1]
    user = problem.user_params(final.params, final.anchors)
    means, var = _user_shapes(user, spec.one_d)
    degen = degenerate(problem, final)

    hist_user = [problem.user_params(s.params, s.anchors) for s in history]
    tr_means, tr_var = _user_shapes(Params(
        np.stack([p.weights for p in hist_user]), np.stack([p.means for p in hist_user]),
        np.stack([p.covariances for p in hist_user])), spec.one_d)
    trace = Trace(
        log_likelihood=np.array([s.loglik for s in history]) + shift,
        objective=np.array([s.objective for s in history]) + shift,
        weights=np.stack([p.weights for p in hist_user]),
        means=tr_means, variances=tr_var,
        resp=np.stack(resp) if keep_resp else None,
        accelerated=np.array([s.accelerated for s in history]),
    )
    log_posterior = None
    if problem.prior is not None:
        log_posterior = float(final.objective + shift)
    if not converged and tol > 0 and len(history) > 1:
        warnings.warn(
            f"EM did not converge in {len(history) - 1} iterations (best of {len(runs)} "
            "restarts); increase max_iter or tol.", ConvergenceWarning, stacklevel=3)
    floor_user = problem.var_floor * problem.delta**2
    if degen.any():
        warnings.warn(_degenerate_message(problem, final, degen, floor_user),
                      DegenerateWarning, stacklevel=3)
    spur = spurious(problem, final)
    if spur.any() and not degen.any():
        warnings.warn(
            f"component(s) {np.flatnonzero(spur).tolist()} of the best fit are spurious (an sd "
            "below 5 % of the other components' median, fitted to a few points) and no "
            "restart found a proper optimum; use more restarts or reduce n_components.",
            DegenerateWarning, stacklevel=3)
    return EMResult(
        weights=user.weights, means=means, variances=var, covariances=user.covariances,
        log_likelihood=float(logliks[best]), log_posterior=log_posterior,
        n_iter=len(history) - 1, converged=converged, trace=trace, optima=tuple(optima),
        restarts=restarts, degenerate=degen, algorithm=algorithm,
        structure=spec.structure, n_samples=problem.design.n, n_features=spec.n_features,
        spurious=spur,
        init_cap_reached=capped, prior=problem.prior, spec=spec, scaling=problem.scaling,
        data=problem.X, var_floor=problem.var_floor,
        variance_floor=floor_user[0] if spec.one_d else floor_user, factors=final.factors,
        components=Components(final.params.weights, final.anchors, final.params.covariances,
                              final.factors))
