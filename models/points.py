"""Conversions between natural-scale parameter values and PyMC's unconstrained points."""

from __future__ import annotations

import numpy as np
import xarray as xr
from mixcompare import em

from .build import MixtureModel

#: em's public check of counts (draws, chains, n_starts), used by fit_map and fit_nuts
check_positive_int = em.check_positive_int

__all__ = [
    "check_model",
    "check_positive_int",
    "complete_start",
    "log_density",
    "params_to_values",
    "start_from_em",
    "start_near",
    "to_point",
]


def check_model(mm) -> MixtureModel:
    """Return ``mm`` if it is a :class:`MixtureModel`; else raise a TypeError saying why."""
    if isinstance(mm, MixtureModel):
        return mm
    raise TypeError(
        "expected the MixtureModel that models.build_model (or models.cached_model(...).model) "
        f"returns, got {type(mm).__name__}; a bare pymc.Model lacks the specification, prior "
        "and compiled functions.")


def free_names(mm: MixtureModel) -> list[str]:
    """Names of the model's free variables, in the model's order."""
    return [rv.name for rv in mm.model.free_RVs]


def complete_start(mm: MixtureModel, values) -> dict:
    """Natural-scale start of every free variable: ``values``, else PyMC's default start.

    PyMC's default start is computed (and its functions compiled) only when
    ``values`` lacks a free variable.
    """
    names = free_names(mm)
    values = values or {}
    if all(name in values for name in names):
        return {name: np.asarray(values[name], dtype=float) for name in names}
    out = dict(mm.cache.default_start(mm.model))
    for name in out:
        if name in values:
            out[name] = np.asarray(values[name], dtype=float)
    return out


def to_point(mm: MixtureModel, values: dict) -> dict:
    """Natural-scale values of free variables -> PyMC point (value-variable names).

    Parameters
    ----------
    mm : MixtureModel
    values : dict
        By free-variable name (``weights``, ``means``, ``variances``...).
    """
    mm = check_model(mm)
    for name in free_names(mm):
        if name not in values:
            raise KeyError(f"a value for {name!r} is needed")
    return mm.cache.to_unconstrained(mm.model)(values)


def log_density(mm: MixtureModel, values: dict, *, jacobian: bool = False) -> float:
    """Model log density at natural-scale values (default: without Jacobian terms)."""
    mm = check_model(mm)
    point = to_point(mm, values)
    if jacobian:
        return float(mm.cache.logp(mm.model)(point))
    return float(mm.cache.objective(mm.model, point))  # find_MAP's compiled objective


def params_to_values(mm: MixtureModel, weights, means, variances=None, *,
                     covariances=None) -> dict:
    """Values for the model's free variables from mixture parameters (user shapes).

    Parameters
    ----------
    mm : MixtureModel
    weights : array_like of shape (K,)
    means : array_like of shape (K,) or (K, d)
    variances : array_like of shape (K,) or (K, d), optional
        Per-feature variances (the diagonals of the covariances).
    covariances : array_like of shape (K, d, d), optional
        Full covariance matrices; needed for the ``full`` and ``tied``
        structures when their covariances are free (``variances`` alone do
        not say the correlations).
    """
    mm = check_model(mm)
    names = set(free_names(mm))
    out = {}
    if "weights" in names:
        out["weights"] = np.asarray(weights, dtype=float)
    if "means" in names:
        out["means"] = np.asarray(means, dtype=float)
    if covariances is not None:
        cov = np.asarray(covariances, dtype=float)
        v = np.einsum("...ii->...i", cov)
        if mm.spec.one_d and v.ndim == 2:
            v = v[:, 0]
    elif variances is not None:
        v, cov = np.asarray(variances, dtype=float), None
    else:
        raise ValueError("give variances or covariances.")
    if "variances" in names:
        out["variances"] = v
    if "variance" in names:
        out["variance"] = v[0] if mm.spec.one_d or v.ndim == 1 else v[:, 0]
    for name in ("covariances", "covariance"):
        if name not in names:
            continue
        if cov is None:
            raise ValueError(
                f"structure={mm.structure!r} has free covariance matrices: give covariances=, "
                "not only variances.")
        out[name] = cov if name == "covariances" else cov[0]
    return out


def start_from_em(mm: MixtureModel, rng) -> dict:
    """Return a start from EM's k-means++ initialisation (one M-step, not EM's answer).

    Its components are distinct, so it is not the symmetric saddle where all
    components coincide; for ordered models the components are sorted (by
    the first coordinate of the means).
    """
    mm = check_model(mm)
    spec = mm.spec
    X = mm.data
    res = em.fit(X, spec.n_components, structure=spec.structure, fixed=_user_fixed(spec),
                 init="kmeans++", max_iter=0, rng=rng)
    w, m, cov = res.weights, res.means, np.asarray(res.covariances, dtype=float)
    if mm.ordered:
        order = np.argsort(m if m.ndim == 1 else m[:, 0], kind="stable")
        w, m = w[order], m[order]
        cov = cov[order] if cov.ndim == 3 else cov
        key = m if m.ndim == 1 else m[:, 0]
        if np.any(np.diff(key) <= 0):
            step = np.arange(key.size) * 1e-6 * max(1.0, float(np.std(X)))
            m = m + (step if m.ndim == 1 else step[:, None] * np.eye(m.shape[1])[0])
    return params_to_values(mm, w, m, covariances=_full_covariances(cov, spec))


def start_near(mm: MixtureModel, result, rel: float = 1e-2) -> dict:
    """Return a start slightly off an EM or MAP-EM optimum, for ``find_MAP`` to climb back to.

    Parameters
    ----------
    mm : MixtureModel
    result : em.EMResult
        The fit whose optimum to start near (same number of components and
        features as the model).
    rel : float, default 0.01
        Each mean is moved by ``rel`` of its component's sd along every
        feature and each covariance is scaled by ``1 + rel``, so that the
        optimiser starts off the optimum (a start that does not move is
        never accepted as a MAP) but inside its basin.

    Returns
    -------
    dict
        Natural-scale values by variable name; components sorted by the first
        coordinate of the means for ordered models.
    """
    mm = check_model(mm)
    w = np.asarray(result.weights, dtype=float)
    m = np.asarray(result.means, dtype=float)
    cov = _full_covariances(np.asarray(result.covariances, dtype=float), mm.spec)
    sd = np.sqrt(np.einsum("kii->ki", cov))
    m = m + rel * (sd[:, 0] if m.ndim == 1 else sd)
    cov = cov * (1.0 + rel)
    if mm.ordered:
        order = np.argsort(m if m.ndim == 1 else m[:, 0], kind="stable")
        w, m, cov = w[order], m[order], cov[order]
    return params_to_values(mm, w, m, covariances=cov)


def _full_covariances(cov: np.ndarray, spec) -> np.ndarray:
    """EM's covariances as (K, d, d) matrices (1-D results give (K,))."""
    K, d = spec.n_components, spec.n_features
    if cov.ndim == 1:  # 1-D: one variance per component
        return cov.reshape(K, 1, 1)
    if cov.ndim == 2 and cov.shape == (d, d):  # tied
        return np.broadcast_to(cov, (K, d, d)).copy()
    if cov.ndim == 2:  # diag / spherical given as variances
        return cov[:, :, None] * np.eye(d)
    return cov


def _user_fixed(spec) -> dict | None:
    if not spec.fixed:
        return None
    out = {}
    for key, val in spec.fixed.items():
        if key == "means" and spec.one_d:
            out["means"] = val[:, 0]
        elif key == "covariances" and spec.one_d:
            out["variances"] = val[:, 0, 0]
        else:
            out[key] = val
    return out


# ------------------------------------------------------------------ result trees
def posterior_dataset(mm: MixtureModel, values: list[list[dict]]) -> xr.Dataset:
    """``posterior`` group from natural values (free variables, deterministics) per chain, draw."""
    model = mm.model
    first = values[0][0]
    dims = model.named_vars_to_dims
    data = {}
    for name in first:
        arr = np.array([[np.asarray(d[name]) for d in chain] for chain in values])
        vd = tuple(dims.get(name, ())) or tuple(f"{name}_dim_{i}" for i in range(arr.ndim - 2))
        data[name] = (("chain", "draw") + vd, arr)
    coords = {k: np.asarray(v) for k, v in model.coords.items() if k != "obs"}
    coords.update(chain=np.arange(len(values)), draw=np.arange(len(values[0])))
    ds = xr.Dataset(data, coords=coords)
    return ds.drop_vars([c for c in ds.coords if c not in ds.dims])


def observed_dataset(mm: MixtureModel) -> xr.Dataset:
    """``observed_data`` group: the data the model holds, as ``x_obs``."""
    X = mm.data
    dims = ("obs",) if X.ndim == 1 else ("obs", "feature")
    coords = {"obs": np.arange(X.shape[0])}
    if X.ndim == 2:
        coords["feature"] = np.arange(X.shape[1])
    return xr.Dataset({"x_obs": (dims, X)}, coords=coords)


def log_likelihood_dataset(mm: MixtureModel, posterior) -> xr.Dataset:
    """Element-wise log-likelihood ``log p(x_i | draw)`` of every posterior draw.

    Computed from the draws' ``weights``, ``means`` and ``variances`` (or
    ``covariances``) by :func:`em.draws_log_density`: the value
    ``pm.compute_log_likelihood`` gives, without compiling anything.
    """
    from scipy.special import logsumexp

    post = posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior
    X = mm.data
    X2 = X.reshape(X.shape[0], -1)
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    K, d = mm.spec.n_components, X2.shape[1]

    def flat(name, shape):
        return post[name].transpose("chain", "draw", ...).values.reshape((-1,) + shape)

    w = flat("weights", (K,))
    mu = flat("means", (K, d))
    if "covariances" in post:
        lp = em.draws_log_density(X2, w, mu, covariances=flat("covariances", (K, d, d)))
    else:
        lp = em.draws_log_density(X2, w, mu, flat("variances", (K, d)))
    ll = logsumexp(lp, axis=2).reshape(n_chain, n_draw, X2.shape[0])
    return xr.Dataset({"x_obs": (("chain", "draw", "obs"), ll)},
                      coords={"chain": post["chain"].values, "draw": post["draw"].values,
                              "obs": np.arange(X2.shape[0])})
