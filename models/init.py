"""Where the NUTS chains start: a deliberate, recorded choice.

Policies
--------
``"prior"``
    PyMC's own jittered default start (a distinct, data-based start for
    ordered models, whose means must be increasing).
``"em"``
    Every chain starts at the best EM (or MAP-EM) optimum, jittered by one
    standard error of that optimum on the unconstrained scale (means,
    log-variances, weight log-ratios).
``"atlas"``
    Chains are spread over the distinct non-degenerate optima of EM's atlas in
    proportion to their basin shares (largest remainder), the first chain at
    the best optimum; each start is jittered as for ``"em"``.
dict or list of dict
    Explicit natural-scale starting values (one for all chains, or one per chain).
"""

from __future__ import annotations

import numpy as np
from mixcompare import em
from scipy.special import softmax

from .points import check_model, params_to_values, start_from_em

__all__ = ["INIT_POLICIES", "allocate_chains", "chain_starts"]

INIT_POLICIES = frozenset({"prior", "em", "atlas"})


def _complete_data_se(weights, sds, n):
    """Return SEs with labels known: sd/sqrt(n w) (means), 1/sqrt(2 n w) (log-sd)."""
    nk = np.maximum(n * np.asarray(weights), 1.0)
    shape = (-1,) + (1,) * (np.ndim(sds) - 1)
    return sds / np.sqrt(nk).reshape(shape), 1.0 / np.sqrt(2 * nk).reshape(shape), 1 / np.sqrt(nk)


def _optimum_se(res: em.EMResult, weights, means, variances, cache: dict | None = None):
    """SEs of (means, log-sd, weight log-ratio) at an optimum.

    Louis' observed information for the best MLE optimum where available,
    otherwise the complete-data values (labels known), which are slightly
    smaller and always defined.
    """
    sds = np.sqrt(variances)
    se_mu, se_logsd, se_eta = _complete_data_se(weights, sds, res.n_samples)
    if res.prior is not None:
        return se_mu, se_logsd, se_eta
    K = len(weights)
    d = res.n_features
    here = em.Params(np.asarray(weights), np.reshape(means, (K, d)),
                     np.reshape(variances, (K, d))[:, :, None] * np.eye(d))
    perm, dist = em.match_components(here, res.params())
    if dist > 1e-8:  # not the fitted optimum (another atlas entry): complete-data SEs
        return se_mu, se_logsd, se_eta
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", em.MixcompareWarning)
            cache = {} if cache is None else cache
            if "louis" not in cache:  # once per fit, not once per chain
                cache["louis"] = res.standard_errors("louis")
            se = cache["louis"]
    except (ValueError, NotImplementedError, np.linalg.LinAlgError):
        return se_mu, se_logsd, se_eta
    louis_mu, louis_sd = se.means[perm], se.sds[perm]
    se_mu = np.where(np.isfinite(louis_mu) & (louis_mu > 0), louis_mu, se_mu)
    rel = louis_sd / sds
    se_logsd = np.where(np.isfinite(rel) & (rel > 0), rel, se_logsd)
    return se_mu, se_logsd, se_eta


def _jittered(res, weights, means, variances, covariances, rng, scale: float,
              cache: dict | None = None):
    """One start around an optimum, jittered on the unconstrained scale.

    Covariance matrices are rescaled with their variances (correlations kept).
    """
    se_mu, se_logsd, se_eta = _optimum_se(res, weights, means, variances, cache)
    fixed = res.spec.fixed
    w, m, v = np.array(weights, float), np.array(means, float), np.array(variances, float)
    cov = np.array(covariances, float)
    if "means" not in fixed:
        m = m + scale * se_mu * rng.standard_normal(m.shape)
    if "covariances" not in fixed:
        if res.structure in ("equal", "tied"):
            factor = np.exp(2 * scale * se_logsd.mean(axis=0) * rng.standard_normal(
                np.shape(se_logsd.mean(axis=0))))
        elif res.structure == "spherical":
            factor = np.exp(2 * scale * se_logsd.mean(axis=1, keepdims=True)
                            * rng.standard_normal((v.shape[0], 1)))
        else:
            factor = np.exp(2 * scale * se_logsd * rng.standard_normal(v.shape))
        v_new = v * factor
        ratio = np.sqrt(v_new / v).reshape(v.shape[0], -1)
        cov = cov * ratio[:, :, None] * ratio[:, None, :]
        v = v_new
    if "weights" not in fixed:
        logw = np.log(w) + scale * se_eta * rng.standard_normal(w.shape)
        w = softmax(logw)
    return w, m, v, cov


def allocate_chains(shares, chains: int) -> np.ndarray:
    """Optimum index of each chain, by largest remainder of ``shares * chains``.

    At least one chain (the first) goes to optimum 0, the best.
    """
    shares = np.asarray(shares, float)
    shares = shares / shares.sum()
    quota = shares * chains
    counts = np.floor(quota).astype(int)
    order = np.argsort(-(quota - counts), kind="stable")
    counts[order[: chains - counts.sum()]] += 1
    if counts[0] == 0:
        counts[int(np.argmax(counts))] -= 1
        counts[0] = 1
    return np.repeat(np.arange(shares.size), counts)


def chain_starts(mm, policy, chains: int, rng, *, em_result=None,
                 jitter_scale: float = 1.0, reference=None) -> tuple[list | dict | None, dict]:
    """Choose the starting values of every chain under an initialisation policy.

    Parameters
    ----------
    mm : MixtureModel
        From :func:`models.build_model`.
    policy : {"prior", "em", "atlas"} or dict or list of dict
    chains : int
    rng : numpy.random.Generator
    em_result : em.EMResult, optional
        Needed by ``"em"`` and ``"atlas"``: the EM (or MAP-EM) fit whose
        optimum (or atlas) the chains start from.
    jitter_scale : float, default 1.0
        Jitter in units of the optimum's standard errors.
    reference : em.Params, optional
        Label order to start in: each optimum's components are matched to it
        (Hungarian matching, never sorting), so that a chain that stays put
        is already in the reference labelling.

    Returns
    -------
    initvals : list of dict, dict or None
        What to pass to ``pymc.sample`` (None: PyMC's default).
    record : dict
        ``policy``, ``optimum`` (the atlas optimum of each chain, -1 when not
        from EM) and ``jitter`` (whether PyMC should add its own jitter).
    """
    mm = check_model(mm)
    if isinstance(policy, dict):
        return policy, {"policy": "explicit", "optimum": [-1] * chains, "jitter": False}
    if isinstance(policy, (list, tuple)):
        if len(policy) != chains:
            raise ValueError(f"init has {len(policy)} starts for chains={chains}.")
        return list(policy), {"policy": "explicit", "optimum": [-1] * chains, "jitter": False}
    if policy not in INIT_POLICIES:
        raise ValueError(
            f"init must be one of {sorted(INIT_POLICIES)}, a dict or a list of dicts; "
            f"got {policy!r}."
        )
    if policy == "prior":
        start = start_from_em(mm, rng) if mm.ordered else None
        return start, {"policy": "prior", "optimum": [-1] * chains, "jitter": True}
    if em_result is None:
        raise ValueError(f"init={policy!r} needs em_result= (an em.EMResult to start from).")
    usable = [i for i, o in enumerate(em_result.optima) if not o.degenerate]
    usable = usable or list(range(len(em_result.optima)))
    optima = [em_result.optima[i] for i in usable]
    if policy == "em":
        which = np.zeros(chains, dtype=int)
    else:
        which = allocate_chains([o.basin_share for o in optima], chains)
    starts, louis = [], {}  # Louis' SEs of the fit: computed at most once for all chains
    for c in range(chains):
        o = optima[which[c]]
        w, m, v, cov = o.weights, o.means, o.variances, np.asarray(o.covariances, float)
        K = w.shape[0]
        cov = cov.reshape(K, cov.shape[-1], cov.shape[-1]) if cov.ndim != 2 else np.broadcast_to(
            cov, (K,) + cov.shape).copy()
        if reference is not None:
            d = reference.means.shape[1]
            perm, _ = em.match_components(reference, em.Params(w, np.reshape(m, (K, d)), cov))
            w, m, v, cov = w[perm], m[perm], v[perm], cov[perm]
        w, m, v, cov = _jittered(em_result, w, m, v, cov, rng, jitter_scale, louis)
        if mm.ordered:
            key = m if m.ndim == 1 else m[:, 0]
            order = np.argsort(key, kind="stable")
            w, m, v, cov = w[order], m[order], v[order], cov[order]
        starts.append(params_to_values(mm, w, m, v, covariances=cov))
    index = [usable[j] for j in which]
    return starts, {"policy": policy, "optimum": index, "jitter": False}
