"""The groups that make a comparison's tree complete for ArviZ.

``observed_data`` and ``log_likelihood`` (pointwise, labels summed out) come
with the NUTS draws (:func:`models.fit_nuts`); ``prior``,
``prior_predictive`` and ``posterior_predictive`` are drawn here by PyMC's
own functions (:func:`models.predictive`). With them ``az.loo``,
``az.plot_ppc_dist``, ``az.plot_loo_pit`` and prior-predictive plots work on
``results.nc`` directly. Our own groups (``data``, ``posterior_relabeled``,
``comparison/...``) keep their names alongside.
"""

from __future__ import annotations

import xarray as xr

from .runlog import RunLog

__all__ = ["MAX_POINTWISE_VALUES", "arviz_groups"]

#: largest pointwise group kept (draws x observations x features; 8 bytes each, so
#: 160 MB): above it ``log_likelihood`` and the predictive groups are left out of the
#: tree, with a note saying so and how to thin
MAX_POINTWISE_VALUES = 20_000_000


def arviz_groups(model, nuts, *, rng, log: RunLog, prior_draws: int = 500
                 ) -> dict[str, xr.Dataset]:
    """Return the groups ArviZ expects beside ``posterior`` and ``sample_stats``.

    ``observed_data``, ``log_likelihood``, ``prior``, ``prior_predictive`` and
    ``posterior_predictive``.

    Parameters
    ----------
    model : models.MixtureModel
        The model the draws came from (it holds the data).
    nuts : NutsFit
        The NUTS draws, with the ``observed_data`` and ``log_likelihood``
        groups :func:`models.fit_nuts` returns.
    rng : numpy.random.Generator
        The run's ``predictive`` stream.
    log : RunLog
        Times the step (``predictive``) and records a note when the pointwise
        groups are too large to keep.
    prior_draws : int, default 500

    Returns
    -------
    dict of str to xarray.Dataset
        The groups by name; the pointwise ones (``log_likelihood``,
        ``prior_predictive``, ``posterior_predictive``) only when their size is
        at most :data:`MAX_POINTWISE_VALUES`.
    """
    from mixcompare import models

    groups = {"observed_data": nuts.tree["observed_data"].to_dataset()}
    post = nuts.tree["posterior"]
    n_values = groups["observed_data"]["x_obs"].size
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    pointwise = max(n_draws, prior_draws) * n_values <= MAX_POINTWISE_VALUES
    if not pointwise:
        log.problem(
            f"log_likelihood and the predictive groups are not kept in the tree: "
            f"{max(n_draws, prior_draws)} draws x {n_values} values > "
            f"{MAX_POINTWISE_VALUES:.3g}; run fewer draws (or subsample the data) for "
            "az.loo and posterior-predictive plots.")
    with log.step("predictive", "prior and posterior predictive draws (PyMC)"):
        groups |= models.predictive(
            model, post, prior_draws=prior_draws, rng=rng,
            groups=models.PREDICTIVE_GROUPS if pointwise else ("prior",))
    if pointwise:
        groups["log_likelihood"] = nuts.tree["log_likelihood"].to_dataset()
    return groups
