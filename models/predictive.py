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

#: PyTensor's C backend (``FAST_RUN``; compiled code cached on disk): the posterior
#: predictive calls the forward function once per draw, 0.2 ms each, against 1.2 ms in
#: the Python mode (4 000 draws of faithful: 0.8 s against 4.9 s), and it compiles in
#: about a second where the default (numba) backend takes 9-21 s
_COMPILE = {"mode": "FAST_RUN"}

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
    out = {}
    with mm.model:
        if groups & {"prior", "prior_predictive"}:
            free = [v.name for v in mm.model.free_RVs] + [
                v.name for v in mm.model.deterministics]
            names = free + (["x_obs"] if "prior_predictive" in groups else [])
            prior = pm.sample_prior_predictive(draws=prior_draws, var_names=names,
                                                random_seed=seed_prior, compile_kwargs=_COMPILE)
            out |= {g: prior[g].to_dataset() for g in ("prior", "prior_predictive")
                    if g in groups}
        if "posterior_predictive" in groups:
            post = posterior if isinstance(posterior, xr.DataTree) else xr.DataTree.from_dict(
                {"/posterior": posterior})
            ppc = pm.sample_posterior_predictive(post, random_seed=seed_post, progressbar=False,
                                                compile_kwargs=_COMPILE)
            out["posterior_predictive"] = ppc["posterior_predictive"].to_dataset()
    return out
