"""The PyMC mixture model equivalent to ``em``: same likelihood, parameters and prior.

The component labels are summed out of the likelihood. Parameter names and
the ``component`` dimension are those of ``em``'s results; the prior is the
shared :class:`em.Prior`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from mixcompare import em

from .compiled import ModelCache

__all__ = ["LKJ_ETA", "CachedModel", "MixtureModel", "build_model", "cached_model",
           "clear_model_cache"]

#: LKJ shape of the correlation prior for ``full`` covariances (mildly favours weak correlation)
LKJ_ETA = 2.0


def _diag_mixture_logp(value, weights, means, variances):
    """Log density of observations under a mixture with diagonal covariances.

    value (..., d); weights (K,); means, variances (K, d). Labels summed out.
    """
    diff = value[..., None, :] - means
    comp = -0.5 * pt.sum(np.log(2 * np.pi) + pt.log(variances) + diff**2 / variances, axis=-1)
    return pm.math.logsumexp(pt.log(weights) + comp, axis=-1, keepdims=False)


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

    def set_data(self, X) -> MixtureModel:
        """Swap in another data set of the same shape; return this model.

        ``X`` is validated as by :func:`em.validate_data` (NaN refused). The
        compiled functions are kept: the next fit uses them on ``X``. The
        prior is unchanged.

        Raises
        ------
        ValueError
            When ``X`` is invalid or its shape differs from the model's data.
        """
        X = em.validate_data(X)
        shape = self.model["x"].get_value().shape
        if X.shape != shape:
            raise ValueError(
                f"the model holds data of shape {shape}; got shape {X.shape}. Build another "
                "model for data of another shape (models.cached_model keeps one per shape).")
        pm.set_data({"x": X}, model=self.model)
        return self


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
    structure : {"unequal", "equal"} for 1-D data, {"diag", "spherical", "full"} otherwise
        As in :func:`em.fit`. ``full`` keeps the Inverse-Gamma prior on each
        variance and puts an LKJ(2) prior on each correlation matrix, instead of
        MAP-EM's Normal-Inverse-Wishart: MAP-EM and ``find_MAP`` are then not
        expected to agree (only the likelihood is shared). ``spherical`` uses
        one Inverse-Gamma(a, mean b) variance per component.
    fixed : dict, optional
        Parameters held fixed, as in :func:`em.fit` (recorded as
        deterministics with the same names).
    ordered : bool, default False
        Put an ordering transform on the means (1-D; the first coordinate for
        d > 1) so the labels are identified. False leaves the model symmetric
        under relabelling, so that label switching can be shown.

    Returns
    -------
    MixtureModel
        Its ``model`` has free variables ``weights``, ``means``, ``variances`` (or
        ``variance`` for 1-D ``equal``, with a deterministic ``variances``),
        deterministic ``sds``; data ``x`` (a ``pm.Data`` of dims ``obs`` or
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
    if spec.kind == "tied" and not spec.one_d:
        raise ValueError(
            "structure='tied' is not available in the PyMC models; use 'diag', 'spherical' or "
            "'full'."
        )
    if spec.kind == "full" and "covariances" in spec.fixed:
        raise ValueError("fixed covariances with structure='full': use structure='diag' if they "
                         "are diagonal.")
    if spec.kind != "spherical":
        prior.check_for(replace(spec, kind="diag") if spec.kind == "full" else spec,
                        mode="sample")
    K, d = spec.n_components, spec.n_features
    coords = {"component": np.arange(K), "obs": np.arange(X.shape[0])}
    if not spec.one_d:
        coords["feature"] = np.arange(d)
        coords["feature_bis"] = np.arange(d)
    fx = spec.fixed
    vdims = "component" if spec.one_d else ("component", "feature")
    with pm.Model(coords=coords) as model:
        x = pm.Data("x", X, dims="obs" if spec.one_d else ("obs", "feature"))
        alpha = np.broadcast_to(np.asarray(prior.alpha, dtype=float), (K,))
        if "weights" in fx:
            weights = pm.Deterministic("weights", pt.as_tensor(fx["weights"]), dims="component")
        else:
            weights = pm.Dirichlet("weights", a=alpha, dims="component")
        b = np.asarray(prior.b, dtype=float)
        m0 = np.asarray(prior.m0, dtype=float)
        var_fixed = "covariances" in fx
        if var_fixed:
            diag = np.einsum("kii->ki", fx["covariances"])
            variances = pm.Deterministic(
                "variances", pt.as_tensor(diag[:, 0] if spec.one_d else diag), dims=vdims)
        elif spec.one_d and spec.kind == "tied":
            variance = pm.InverseGamma("variance", alpha=prior.a, beta=float(b))
            variances = pm.Deterministic("variances", pt.repeat(variance, K), dims="component")
        elif spec.kind == "spherical":
            variance = pm.InverseGamma("variance", alpha=prior.a, beta=float(np.mean(b)),
                                       dims="component")
            variances = pm.Deterministic("variances", pt.repeat(variance[:, None], d, axis=1),
                                         dims=vdims)
        else:
            variances = pm.InverseGamma(
                "variances", alpha=prior.a,
                beta=b if spec.one_d else np.broadcast_to(b, (K, d)), dims=vdims)
        if "means" in fx:
            mvals = fx["means"][:, 0] if spec.one_d else fx["means"]
            means = pm.Deterministic("means", pt.as_tensor(mvals), dims=vdims)
        else:
            kw = {}
            if ordered:
                # distinct initial values are supplied at fit time (models.points.default_start):
                # PyMC cannot derive log-likelihoods of models carrying an ``initval``
                if spec.one_d:
                    kw = {"transform": pm.distributions.transforms.ordered}
                else:
                    raise NotImplementedError(
                        "ordered=True for d > 1 is not available yet; use ordered=False."
                    )
            means = pm.Normal("means", mu=m0 if spec.one_d else np.broadcast_to(m0, (K, d)),
                              sigma=pt.sqrt(variances / prior.kappa), dims=vdims, **kw)
        pm.Deterministic("sds", pt.sqrt(variances), dims=vdims)
        if spec.one_d:
            pm.NormalMixture("x_obs", w=weights, mu=means, sigma=pt.sqrt(variances), observed=x,
                             dims="obs")
        elif spec.kind == "full":
            corr = pm.LKJCorr("corr_chol", n=d, eta=LKJ_ETA, shape=(K, d, d))
            chols = pt.sqrt(variances)[:, :, None] * corr
            pm.Deterministic("covariances", chols @ pt.swapaxes(chols, 1, 2),
                             dims=("component", "feature", "feature_bis"))
            comps = [pm.MvNormal.dist(mu=means[k], chol=chols[k]) for k in range(K)]
            pm.Mixture("x_obs", w=weights, comp_dists=comps, observed=x, dims=("obs", "feature"))
        else:
            pm.CustomDist("x_obs", weights, means, variances, logp=_diag_mixture_logp,
                          observed=x, signature="(k),(k,d),(k,d)->(d)", dims=("obs", "feature"))
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
