"""Prior, prior-predictive and posterior-predictive draws, by PyMC's own functions.

With these groups beside ``posterior``, ``observed_data`` and
``log_likelihood`` (:func:`models.fit_nuts`), a results tree is complete for
ArviZ: ``az.loo``, ``az.plot_ppc_dist``, ``az.plot_loo_pit`` and
prior-predictive plots work on it directly.
"""

from __future__ import annotations

import pymc as pm
import xarray as xr
from mixcompare import em

from .points import check_model

__all__ = ["PREDICTIVE_GROUPS", "predictive"]

#: posterior draws from which the forward functions are compiled by PyTensor's C backend
#: (``FAST_RUN``, code cached on disk) rather than run in its Python mode
#: (``FAST_COMPILE``): the posterior predictive calls them once per draw, and C pays off
#: only over many draws. Measured (warm cache): faithful, 2 000 draws, C 1.6 s against
#: Python 6.3 s; penguins (full covariances), 80 draws, C 4.7 s (compiling) against
#: Python 0.56 s. The default backend (numba) compiles for 9-21 s.
C_BACKEND_MIN_DRAWS = 1000


def _compile_kwargs(n_draws: int) -> dict:
    """Return PyTensor's mode for the forward functions, by the number of posterior draws."""
    return {"mode": "FAST_RUN" if n_draws >= C_BACKEND_MIN_DRAWS else "FAST_COMPILE"}

#: the groups :func:`predictive` returns
PREDICTIVE_GROUPS = ("prior", "prior_predictive", "posterior_predictive")


def predictive(mm, posterior, *, prior_draws: int = 500, groups=PREDICTIVE_GROUPS,
               rng=None) -> dict[str, xr.Dataset]:
    """Draw from the prior, the prior predictive and the posterior predictive.

    Parameters
    ----------
    mm : MixtureModel
        The model, holding the data (``x_obs`` draws have its shape).
    posterior : xarray.Dataset or xarray.DataTree
        Posterior draws over ``(chain, draw)`` with the model's free variables
        (the raw ``posterior`` group of :func:`models.fit_nuts`).
    prior_draws : int, default 500
        Draws from the prior (one chain).
    groups : set of {"prior", "prior_predictive", "posterior_predictive"}
        The groups to draw (all by default); the predictive ones hold one value
        per draw and observation, so large data sets may leave them out.
    rng : int, numpy.random.Generator or None
        The prior and the posterior predictive each get a child stream.

    Returns
    -------
    dict of str to xarray.Dataset
        ``prior`` (every model variable), ``prior_predictive`` and
        ``posterior_predictive`` (``x_obs`` of shape (chain, draw, obs[, feature])),
        from ``pm.sample_prior_predictive`` and ``pm.sample_posterior_predictive``.
    """
    mm = check_model(mm)
    prior_draws = em.check_positive_int(prior_draws, "prior_draws")
    groups = {groups} if isinstance(groups, str) else set(groups)
    if not groups or groups - set(PREDICTIVE_GROUPS):
        raise ValueError(f"groups must be a non-empty subset of {set(PREDICTIVE_GROUPS)}, "
                         f"got {sorted(groups)}.")
    seed_prior, seed_post = (int(g.integers(2**31)) for g in em.check_rng(rng).spawn(2))
    post = posterior if isinstance(posterior, xr.DataTree) else xr.DataTree.from_dict(
        {"/posterior": posterior})
    sizes = (post["posterior"] if "posterior" in post.children else post).sizes
    compile_kwargs = _compile_kwargs(int(sizes.get("chain", 1)) * int(sizes.get("draw", 1)))
    out = {}
    with mm.model:
        if groups & {"prior", "prior_predictive"}:
            free = [v.name for v in mm.model.free_RVs] + [
                v.name for v in mm.model.deterministics]
            names = free + (["x_obs"] if "prior_predictive" in groups else [])
            prior = pm.sample_prior_predictive(draws=prior_draws, var_names=names,
                                                random_seed=seed_prior,
                                                compile_kwargs=compile_kwargs)
            out |= {g: prior[g].to_dataset() for g in ("prior", "prior_predictive")
                    if g in groups}
        if "posterior_predictive" in groups:
            ppc = pm.sample_posterior_predictive(post, random_seed=seed_post, progressbar=False,
                                                compile_kwargs=compile_kwargs)
            out["posterior_predictive"] = ppc["posterior_predictive"].to_dataset()
    return out
