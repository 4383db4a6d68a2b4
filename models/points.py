"""Conversions between natural-scale parameter values and PyMC's unconstrained points."""

from __future__ import annotations

import numpy as np
import pymc as pm
from mixcompare import em

__all__ = ["log_density", "start_from_em", "to_point"]


def to_point(model: pm.Model, values: dict) -> dict:
    """Natural-scale values of free variables -> PyMC point (value-variable names).

    Parameters
    ----------
    model : pymc.Model
    values : dict
        By free-variable name (``weights``, ``means``, ``variances``...).
    """
    point = {}
    for rv in model.free_RVs:
        if rv.name not in values:
            raise KeyError(f"a value for {rv.name!r} is needed")
        val = np.asarray(values[rv.name], dtype=float)
        tr = model.rvs_to_transforms.get(rv)
        vv = model.rvs_to_values[rv]
        point[vv.name] = (np.asarray(tr.forward(val, *rv.owner.inputs).eval())
                          if tr is not None else val)
    return point


def log_density(model: pm.Model, values: dict, *, jacobian: bool = False) -> float:
    """Model log density at natural-scale values (default: without Jacobian terms)."""
    fn = model.compile_logp(jacobian=jacobian)
    return float(fn(to_point(model, values)))


def params_to_values(model: pm.Model, weights, means, variances) -> dict:
    """Values for the model's free variables from mixture parameters (user shapes)."""
    names = {rv.name for rv in model.free_RVs}
    out = {}
    if "weights" in names:
        out["weights"] = np.asarray(weights, dtype=float)
    if "means" in names:
        out["means"] = np.asarray(means, dtype=float)
    v = np.asarray(variances, dtype=float)
    if "variances" in names:
        out["variances"] = v
    if "variance" in names:
        out["variance"] = v[0] if model.mixcompare_spec.one_d or v.ndim == 1 else v[:, 0]
    return out


def start_from_em(model: pm.Model, rng) -> dict:
    """Return a start from EM's k-means++ initialisation (one M-step, not EM's answer).

    Its components are distinct, so it is not the symmetric saddle where all
    components coincide; for ordered models the components are sorted.
    """
    spec = model.mixcompare_spec
    X = np.asarray(model["x"].get_value())
    fixed = {}
    for key in spec.fixed:
        fixed[key if key != "covariances" else "covariances"] = spec.fixed[key]
    res = em.fit(X, spec.n_components, structure=spec.structure, fixed=_user_fixed(spec),
                 init="kmeans++", max_iter=0, rng=rng)
    w, m, v = res.weights, res.means, res.variances
    if model.mixcompare_ordered:
        order = np.argsort(m if m.ndim == 1 else m[:, 0])
        w, m, v = w[order], m[order], v[order]
        if m.ndim == 1 and np.any(np.diff(m) <= 0):
            m = m + np.arange(m.size) * 1e-6 * max(1.0, float(np.std(X)))
    return params_to_values(model, w, m, v)


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
