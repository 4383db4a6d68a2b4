"""Model specification: covariance structures, fixed parameters, scaling.

Internally every fit works on standardised data ``Z = (X - center) / scale``
with a scalar ``scale``; parameters are converted back at the end. A scalar
scale keeps the fit exactly equivariant under ``X -> a X + b`` and lets the
variance floor be relative to the data's spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

STRUCTURES_1D = frozenset({"unequal", "equal"})
STRUCTURES_ND = frozenset({"full", "diag", "spherical", "tied"})
#: internal structure used for each 1-D name
_ONE_D_AS = {"unequal": "diag", "equal": "tied"}
FIXABLE = frozenset({"weights", "means", "variances", "covariances"})


class Params(NamedTuple):
    """Mixture parameters on the internal (standardised) scale.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
        Always full matrices; structures constrain their values, not their shape.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


@dataclass(frozen=True)
class Scaling:
    """Affine map between user data and the internal scale: ``Z = (X - center) / scale``."""

    center: np.ndarray  # (d,)
    scale: float

    @classmethod
    def from_data(cls, X2: np.ndarray) -> Scaling:
        center = X2.mean(axis=0)
        scale = float(np.sqrt(np.mean(X2.var(axis=0))))
        return cls(center=center, scale=scale)

    def to_internal(self, p: Params) -> Params:
        s = self.scale
        return Params(p.weights, (p.means - self.center) / s, p.covariances / s**2)

    def to_user(self, p: Params) -> Params:
        s = self.scale
        return Params(p.weights, p.means * s + self.center, p.covariances * s**2)


@dataclass(frozen=True)
class Spec:
    """Everything that defines the model being fitted (not the algorithm).

    Attributes
    ----------
    n_components : int
    n_features : int
    one_d : bool
        True when the user passed 1-D data; results then use 1-D shapes.
    structure : str
        The user's structure name.
    kind : {"full", "diag", "spherical", "tied"}
        The internal structure (1-D "unequal" is "diag", "equal" is "tied").
    fixed : dict
        Fixed parameters on the internal scale, as full arrays
        (weights (K,), means (K, d), covariances (K, d, d)).
    """

    n_components: int
    n_features: int
    one_d: bool
    structure: str
    kind: str
    fixed: dict

    @property
    def free(self) -> frozenset:
        """Names of the parameter blocks that are estimated."""
        return frozenset({"weights", "means", "covariances"}) - set(self.fixed)

    def n_parameters(self) -> int:
        """Count the free parameters (for BIC/AIC)."""
        K, d = self.n_components, self.n_features
        p = 0
        if "weights" not in self.fixed:
            p += K - 1
        if "means" not in self.fixed:
            p += K * d
        if "covariances" not in self.fixed:
            p += {
                "full": K * d * (d + 1) // 2,
                "diag": K * d,
                "spherical": K,
                "tied": d * (d + 1) // 2,
            }[self.kind]
        return p


def resolve_structure(structure: str | None, one_d: bool) -> tuple[str, str]:
    """Return ``(user_name, internal_kind)`` after checking the name."""
    if one_d:
        structure = "unequal" if structure is None else structure
        if structure in STRUCTURES_1D:
            return structure, _ONE_D_AS[structure]
        if structure in STRUCTURES_ND:
            raise ValueError(
                f"structure={structure!r} is for multivariate data; for 1-D data use one of "
                f"{sorted(STRUCTURES_1D)} ('unequal': each component its own variance, "
                "'equal': one shared variance)."
            )
    else:
        structure = "full" if structure is None else structure
        if structure in STRUCTURES_ND:
            return structure, structure
        if structure in STRUCTURES_1D:
            raise ValueError(
                f"structure={structure!r} is for 1-D data; for {'multivariate'} data use one of "
                f"{sorted(STRUCTURES_ND)}."
            )
    raise ValueError(
        f"unknown structure {structure!r}; choose from {sorted(STRUCTURES_1D)} for 1-D data or "
        f"{sorted(STRUCTURES_ND)} for multivariate data."
    )


def _as_float_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numeric, got {value!r}.") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values: {arr}.")
    return arr


def check_weights(w, K: int, name: str = "weights") -> np.ndarray:
    """Validate a weight vector: K non-negative numbers summing to one."""
    w = _as_float_array(w, name)
    if w.shape != (K,):
        raise ValueError(f"{name} must have shape ({K},), got {w.shape}.")
    if np.any(w < 0):
        raise ValueError(f"{name} must be non-negative, got {w}.")
    with np.errstate(over="ignore"):  # huge weights: their sum is inf, said as such
        total = w.sum()
    if not np.isclose(total, 1.0, rtol=0, atol=1e-8):
        raise ValueError(
            f"{name} must sum to 1, they sum to {total:.10g}; divide them by their sum."
        )
    return w / w.sum()


def check_means(m, K: int, d: int, one_d: bool, name: str = "means") -> np.ndarray:
    """Validate means; return shape (K, d)."""
    m = _as_float_array(m, name)
    if one_d and m.shape == (K,):
        return m.reshape(K, 1)
    if m.shape != (K, d):
        want = f"({K},)" if one_d else f"({K}, {d})"
        raise ValueError(f"{name} must have shape {want}, got {m.shape}.")
    return m


def check_variances(v, K: int, name: str = "variances") -> np.ndarray:
    """Validate 1-D variances (a scalar means every component); return shape (K, 1, 1)."""
    v = _as_float_array(v, name)
    if v.ndim == 0:
        v = np.full(K, float(v))
    if v.shape != (K,):
        raise ValueError(f"{name} must be a scalar or have shape ({K},), got {v.shape}.")
    if np.any(v <= 0):
        raise ValueError(f"{name} must be strictly positive, got {v}.")
    return v.reshape(K, 1, 1)


def check_covariances(c, K: int, d: int, name: str = "covariances") -> np.ndarray:
    """Validate covariance matrices ((d, d) shared or (K, d, d)); return shape (K, d, d)."""
    c = _as_float_array(c, name)
    if c.shape == (d, d):
        c = np.broadcast_to(c, (K, d, d)).copy()
    if c.shape != (K, d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) or ({K}, {d}, {d}), got {c.shape}.")
    if not np.allclose(c, np.swapaxes(c, 1, 2), rtol=1e-10, atol=0):
        raise ValueError(f"{name} must be symmetric.")
    for k in range(K):
        try:
            np.linalg.cholesky(c[k])
        except np.linalg.LinAlgError:
            raise ValueError(
                f"{name}[{k}] is not positive definite (eigenvalues "
                f"{np.linalg.eigvalsh(c[k])}); pass positive-definite matrices."
            ) from None
    return c


def user_params_to_full(params: dict, K: int, d: int, one_d: bool, what: str) -> dict:
    """Convert a user dict of (some) parameters to full internal-shape arrays (user scale)."""
    if not isinstance(params, dict):
        raise TypeError(f"{what} must be a dict with keys among {sorted(FIXABLE)}.")
    unknown = set(params) - FIXABLE
    if unknown:
        raise ValueError(f"{what} has unknown keys {sorted(unknown)}; allowed: {sorted(FIXABLE)}.")
    if "variances" in params and "covariances" in params:
        raise ValueError(f"{what}: give 'variances' or 'covariances', not both.")
    out = {}
    if "weights" in params:
        out["weights"] = check_weights(params["weights"], K, f"{what}['weights']")
    if "means" in params:
        out["means"] = check_means(params["means"], K, d, one_d, f"{what}['means']")
    if "variances" in params:
        if one_d:
            out["covariances"] = check_variances(params["variances"], K, f"{what}['variances']")
        else:
            v = _as_float_array(params["variances"], f"{what}['variances']")
            v = np.broadcast_to(v, (K, d)) if v.ndim <= 1 else v
            if v.shape != (K, d) or np.any(v <= 0):
                raise ValueError(
                    f"{what}['variances'] for {d}-D data must be positive with shape ({K}, {d}) "
                    "(diagonals) or use 'covariances'."
                )
            out["covariances"] = np.stack([np.diag(row) for row in v])
    if "covariances" in params:
        out["covariances"] = check_covariances(params["covariances"], K, d,
                                               f"{what}['covariances']")
    return out


def check_fixed_structure(fixed: dict, kind: str, what: str = "fixed") -> None:
    """Check fixed covariances respect the structure (e.g. 'equal' needs equal variances)."""
    if "covariances" not in fixed:
        return
    c = fixed["covariances"]
    if kind in ("tied",) and not np.allclose(c, c[0]):
        raise ValueError(
            f"{what} variances differ between components but the structure shares one "
            "variance ('equal'/'tied'); use structure='unequal' (1-D) or 'full', or give one value."
        )
    if kind in ("diag", "spherical"):
        off = c - np.einsum("kii->ki", c)[:, :, None] * np.eye(c.shape[1])
        if np.any(off != 0):
            raise ValueError(f"{what} covariances must be diagonal for structure={kind!r}.")
    if kind == "spherical":
        diag = np.einsum("kii->ki", c)
        if not np.allclose(diag, diag[:, :1]):
            raise ValueError(
                f"{what} covariances must be multiples of the identity for 'spherical'.")


def model_spec(X, n_components, *, structure=None, fixed=None) -> tuple[np.ndarray, Spec]:
    """Validate data, structure and fixed parameters once for every package.

    Parameters
    ----------
    X : array_like of shape (n_samples,) or (n_samples, n_features)
    n_components : int
    structure : str, optional
        See :func:`em.fit`.
    fixed : dict, optional
        See :func:`em.fit`.

    Returns
    -------
    X : ndarray
        Validated float64 data (1-D stays 1-D).
    spec : Spec
        With ``fixed`` as full arrays on the user's scale.
    """
    from ._validation import check_n_components, check_spread, validate_data

    K = check_n_components(n_components)
    X = validate_data(X, n_components=K)
    check_spread(X)
    one_d = X.ndim == 1
    d = 1 if one_d else X.shape[1]
    user_structure, kind = resolve_structure(structure, one_d)
    fixed_user = user_params_to_full(fixed or {}, K, d, one_d, "fixed")
    check_fixed_structure(fixed_user, kind)
    return X, Spec(K, d, one_d, user_structure, kind, fixed_user)
