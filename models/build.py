"""The PyMC mixture model equivalent to ``em``: same likelihood, parameters and prior.

The component labels are summed out of the likelihood. Parameter names and
the ``component`` dimension are those of ``em``'s results; the prior is the
shared :class:`em.Prior`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from mixcompare import em
from pymc.distributions.transforms import CholeskyCovTransform

from ._densities import (
    _diag_mixture_logp,
    _full_mixture_logp,
    _ig_sum_mode,
    _inv_gammas_logp_fn,
    _inv_wishart_logp_fn,
    _iw_mode,
    _OrderedFirstColumn,
)
from ._random import inv_gammas_random, inv_wishart_random, mixture_random
from .compiled import ModelCache

__all__ = ["CachedModel", "MixtureModel", "build_model", "cached_model", "clear_model_cache"]


@dataclass(frozen=True, eq=False)
class MixtureModel:
    """A PyMC mixture model with the metadata it was built from and its compiled functions.

    Returned by :func:`build_model` and :func:`cached_model`; accepted by
    :func:`models.fit_map`, :func:`models.fit_nuts`, :func:`models.log_density`,
    :func:`models.params_to_values` and :func:`models.to_point`.

    Attributes
    ----------
    model : pymc.Model
        The model; its data container ``x`` holds the data set being analysed.
    spec : em.Spec
        The validated specification (components, features, structure, fixed blocks).
    prior : em.Prior
        The prior the model was built with (fixed at build time: swapping the
        data does not rescale it).
    ordered : bool
        Whether the means carry an ordering transform.
    cache : ModelCache
        Compiled functions, built on first use and kept (:mod:`models.compiled`).
    """

    model: pm.Model
    spec: em.Spec
    prior: em.Prior
    ordered: bool
    cache: ModelCache = field(default_factory=ModelCache, repr=False)

    @property
    def n_components(self) -> int:
        """Number of mixture components."""
        return self.spec.n_components

    @property
    def structure(self) -> str:
        """Covariance structure (the user's name: ``unequal``, ``full``...)."""
        return self.spec.structure

    @property
    def data(self) -> np.ndarray:
        """The data set the model currently holds (a copy)."""
        return np.array(self.model["x"].get_value())

    def set_data(self, X, *args, **kwargs) -> MixtureModel:
        """Swap in another data set of the same shape; return this model.

        ``X`` is validated as by :func:`em.validate_data` (NaN refused). The
        compiled functions are kept: the next fit uses them on ``X``. The
        prior is unchanged.

        Raises
        ------
        ValueError
            When ``X`` is invalid or its shape differs from the model's data.
        TypeError
            When called as ``pymc.Model.set_data`` is (``pm.set_data({"x": X},
            model=mm)`` does so): pass the array, ``mm.set_data(X)``.
        """
        if isinstance(X, str) or args or kwargs:
            raise TypeError(
                "MixtureModel.set_data takes the data array: write mm.set_data(X), not "
                "pm.set_data({'x': X}, model=mm) (or pm.set_data(..., model=mm.model)).")
        X = em.validate_data(X)
        shape = self.model["x"].get_value().shape
        if X.shape != shape:
            raise ValueError(
                f"the model holds data of shape {shape}; got shape {X.shape}. Build another "
                "model for data of another shape (models.cached_model keeps one per shape).")
        pm.set_data({"x": X}, model=self.model)
        return self


def check_prior(prior: em.Prior, spec: em.Spec, *, mode: str) -> None:
    """Refuse a prior the model cannot use, by :meth:`em.Prior.check_for` (the same messages).

    ``mode="map"`` adds MAP estimation's condition (``alpha >= 1`` for free
    weights), as MAP-EM checks it; the checks are MAP-EM's in every structure.
    """
    prior.check_for(spec, mode=mode)


def build_model(X, n_components, *, prior=None, structure=None, fixed=None,
                ordered=False) -> MixtureModel:
    """Build the PyMC model of a Gaussian mixture with the labels summed out.

    Parameters
    ----------
    X : array_like of shape (n_samples,) or (n_samples, n_features)
        Validated by :func:`em.validate_data` (NaN refused, never imputed).
    n_components : int
    prior : em.Prior, optional
        Defaults to ``em.Prior.default(X)`` — the prior MAP-EM uses.
    structure : {"unequal", "equal"} for 1-D data, {"full", "tied", "diag", "spherical"} otherwise
        As in :func:`em.fit`, with MAP-EM's prior in every structure:

        * 1-D and ``diag``: ``sigma2 ~ InvGamma(a, b)`` per component (and
          feature; one shared for ``equal``), ``mu | sigma2 ~ N(m0, sigma2 / kappa)``;
        * ``full``: ``Sigma_k ~ InvWishart(nu, psi)``, ``mu_k | Sigma_k ~
          N(m0, Sigma_k / kappa)``; ``tied``: one ``Sigma ~ InvWishart(nu, psi)``
          shared by the components. The covariance matrices are sampled
          through their Cholesky factors (log-diagonal; PyMC's
          ``CholeskyCovTransform``);
        * ``spherical``: one variance per component carrying the
          Inverse-Gamma density of every feature, ``prod_j IG(sigma2_k | a, b_j)``
          (as :meth:`em.Prior.log_density`), ``mu_kj | sigma2_k ~ N(m0_j, sigma2_k / kappa)``.
    fixed : dict, optional
        Parameters held fixed, as in :func:`em.fit` (recorded as
        deterministics with the same names).
    ordered : bool, default False
        Order the components by their means (1-D) or by the first coordinate
        of their means (d > 1) with a transform, so the labels are
        identified. False leaves the model symmetric under relabelling, so
        that label switching can be shown. Refused (ValueError) with fixed
        means.

    Returns
    -------
    MixtureModel
        Its ``model`` has the variables ``weights``, ``means`` (dims
        ``component[, feature]``), ``variances`` (the per-feature variances,
        deterministic unless they are the free parameters), ``sds``, and for
        ``full``/``tied`` ``covariances`` (dims ``component, feature,
        feature_bis``; one free ``covariance`` broadcast to every component for
        ``tied``); one shared ``variance`` for 1-D ``equal``, one per component
        for ``spherical``; data ``x`` (a ``pm.Data`` of dims ``obs`` or
        ``(obs, feature)``, swappable with ``pm.set_data`` for another data set
        of the same shape, see :meth:`MixtureModel.set_data`); coordinates
        ``component``, ``obs`` (and ``feature``).

    Notes
    -----
    The model's log density without Jacobian terms equals
    ``em``'s log-likelihood plus ``prior.log_density`` (tested to 1e-10).
    """
    X, spec = em.model_spec(X, n_components, structure=structure, fixed=fixed)
    if prior is None:
        prior = em.Prior.default(X)
    if not isinstance(prior, em.Prior):
        raise TypeError(f"prior must be an em.Prior, got {type(prior).__name__}.")
    if ordered and "means" in spec.fixed:
        raise ValueError("ordered=True orders the components by their means, which are fixed "
                         "here: use ordered=False with fixed means.")
    full_cov = spec.kind == "full" or (spec.kind == "tied" and not spec.one_d)
    check_prior(prior, spec, mode="sample")
    K, d = spec.n_components, spec.n_features
    coords = {"component": np.arange(K), "obs": np.arange(X.shape[0])}
    if not spec.one_d:
        coords["feature"] = np.arange(d)
        coords["feature_bis"] = np.arange(d)
    fx = spec.fixed
    vdims = "component" if spec.one_d else ("component", "feature")
    cdims = ("component", "feature", "feature_bis")
    b = np.asarray(prior.b, dtype=float)
    m0 = np.asarray(prior.m0, dtype=float)
    with pm.Model(coords=coords) as model:
        x = pm.Data("x", X, dims="obs" if spec.one_d else ("obs", "feature"))
        alpha = np.broadcast_to(np.asarray(prior.alpha, dtype=float), (K,))
        if "weights" in fx:
            weights = pm.Deterministic("weights", pt.as_tensor(fx["weights"]), dims="component")
        else:
            weights = pm.Dirichlet("weights", a=alpha, dims="component")
        # ------------------------------------------------------------ covariances
        covariances = None
        if "covariances" in fx:
            cov = np.asarray(fx["covariances"], dtype=float)
            diag = np.einsum("kii->ki", cov)
            variances = pm.Deterministic(
                "variances", pt.as_tensor(diag[:, 0] if spec.one_d else diag), dims=vdims)
            if full_cov:
                covariances = pm.Deterministic("covariances", pt.as_tensor(cov), dims=cdims)
        elif full_cov:
            iw = {"logp": _inv_wishart_logp_fn(prior.nu, prior.psi),
                  "transform": CholeskyCovTransform(d),
                  "support_point": _iw_mode(prior.nu, prior.psi),
                  "random": inv_wishart_random(prior.nu, prior.psi),
                  "signature": "(d,d)->(d,d)"}  # psi, a parameter that sets the shape
            if spec.kind == "full":
                covariances = pm.CustomDist("covariances", prior.psi, dims=cdims, **iw)
            else:
                covariance = pm.CustomDist("covariance", prior.psi,
                                           dims=("feature", "feature_bis"), **iw)
                covariances = pm.Deterministic(
                    "covariances", pt.broadcast_to(covariance, (K, d, d)), dims=cdims)
            variances = pm.Deterministic(
                "variances", pt.diagonal(covariances, axis1=-2, axis2=-1), dims=vdims)
        elif spec.one_d and spec.kind == "tied":
            variance = pm.InverseGamma("variance", alpha=prior.a, beta=float(b))
            variances = pm.Deterministic("variances", pt.repeat(variance, K), dims="component")
        elif spec.kind == "spherical":
            variance = pm.CustomDist(
                "variance", prior.a, logp=_inv_gammas_logp_fn(prior.a, np.broadcast_to(b, (d,))),
                transform=pm.distributions.transforms.log,
                support_point=_ig_sum_mode(prior.a, np.broadcast_to(b, (d,))),
                random=inv_gammas_random(prior.a, np.broadcast_to(b, (d,))),
                signature="()->()", dims="component")
            variances = pm.Deterministic("variances", pt.repeat(variance[:, None], d, axis=1),
                                         dims=vdims)
        else:
            variances = pm.InverseGamma(
                "variances", alpha=prior.a,
                beta=b if spec.one_d else np.broadcast_to(b, (K, d)), dims=vdims)
        # ------------------------------------------------------------ means
        if "means" in fx:
            mvals = fx["means"][:, 0] if spec.one_d else fx["means"]
            means = pm.Deterministic("means", pt.as_tensor(mvals), dims=vdims)
        else:
            kw = {}
            if ordered:
                kw["transform"] = (pm.distributions.transforms.ordered if spec.one_d
                                   else _OrderedFirstColumn())
            if covariances is not None:
                chol = pt.linalg.cholesky(covariances) / np.sqrt(prior.kappa)
                means = pm.MvNormal("means", mu=np.broadcast_to(m0, (K, d)), chol=chol,
                                    dims=vdims, **kw)
            else:
                means = pm.Normal("means",
                                  mu=m0 if spec.one_d else np.broadcast_to(m0, (K, d)),
                                  sigma=pt.sqrt(variances / prior.kappa), dims=vdims, **kw)
        pm.Deterministic("sds", pt.sqrt(variances), dims=vdims)
        # ------------------------------------------------------------ likelihood
        if spec.one_d:
            pm.NormalMixture("x_obs", w=weights, mu=means, sigma=pt.sqrt(variances), observed=x,
                             dims="obs")
        elif covariances is not None:
            pm.CustomDist("x_obs", weights, means, covariances, logp=_full_mixture_logp,
                          random=mixture_random, observed=x, signature="(k),(k,d),(k,d,d)->(d)",
                          dims=("obs", "feature"))
        else:
            pm.CustomDist("x_obs", weights, means, variances, logp=_diag_mixture_logp,
                          random=mixture_random, observed=x, signature="(k),(k,d),(k,d)->(d)",
                          dims=("obs", "feature"))
    return MixtureModel(model=model, spec=spec, prior=prior, ordered=bool(ordered))


# ------------------------------------------------------------------ per-process cache
class CachedModel(NamedTuple):
    """What :func:`cached_model` returns."""

    model: MixtureModel
    #: the cache key: (data shape, n_components, structure, fixed, ordered, prior)
    key: tuple
    #: True when the model was built by this call, False when reused (data swapped in)
    built: bool
    #: seconds spent building the model or swapping the data
    seconds: float


_CACHE: dict[tuple, MixtureModel] = {}


def _key(X, n_components, prior, structure, fixed, ordered) -> tuple:
    fixed_repr = json.dumps({k: np.asarray(v, dtype=float).tolist()
                             for k, v in (fixed or {}).items()}, sort_keys=True)
    return (tuple(np.shape(X)), int(n_components), structure, fixed_repr, bool(ordered),
            json.dumps(prior.to_dict(), sort_keys=True))


def cached_model(X, n_components, *, prior, structure=None, fixed=None,
                 ordered=False) -> CachedModel:
    """Return this process's model for data of ``X``'s shape, holding ``X``; build it once.

    One :class:`MixtureModel` is kept per (data shape, ``n_components``,
    ``structure``, ``fixed``, ``ordered``, ``prior``); later calls swap
    ``X`` in (:meth:`MixtureModel.set_data`) and reuse its compiled
    functions, so fitting many data sets of one shape compiles once.

    Parameters
    ----------
    X, n_components, structure, fixed, ordered
        As in :func:`build_model`.
    prior : em.Prior
        Required: the default prior is scaled to the data a model is built
        on, and would stay that of the first data set.

    Returns
    -------
    CachedModel
        ``(model, key, built, seconds)``.
    """
    if not isinstance(prior, em.Prior):
        raise TypeError("cached_model needs an explicit prior=em.Prior(...) (the default prior "
                        "is scaled to the first data set and would stay so).")
    X = em.validate_data(X)
    t0 = time.perf_counter()
    key = _key(X, n_components, prior, structure, fixed, ordered)
    mm = _CACHE.get(key)
    if mm is None:
        mm = build_model(X, n_components, prior=prior, structure=structure, fixed=fixed,
                         ordered=ordered)
        _CACHE[key] = mm
        return CachedModel(mm, key, True, time.perf_counter() - t0)
    mm.set_data(X)
    return CachedModel(mm, key, False, time.perf_counter() - t0)


def clear_model_cache() -> None:
    """Forget the models kept by :func:`cached_model` in this process."""
    _CACHE.clear()
