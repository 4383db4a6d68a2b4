"""Singular or ill-conditioned information: pseudo-inverse, affected quantities, likely cause."""

from __future__ import annotations

import numpy as np

#: relative loading on a near-null direction above which a quantity's SE is NaN
LOAD_TOL = 1e-6
NATURAL = ("weights", "means", "sds", "variances")
#: power of the data scale in each natural quantity (user = scale**power * internal)
_POWER = {"weights": 0, "means": 1, "sds": 1, "variances": 2}


def split_information(info: np.ndarray, rcond: float):
    """Eigen-decompose an information matrix and invert it on its well-determined part.

    Returns
    -------
    cov : ndarray of shape (p, p)
        ``sum_{lambda_i > rcond lambda_max} v_i v_i^T / lambda_i``.
    null_dirs : ndarray of shape (p, m)
        The ``m`` eigenvectors with ``lambda_i <= rcond lambda_max`` (near-null
        or negative curvature).
    cond : float
        ``lambda_max / lambda_min`` (inf when ``lambda_min <= 0``).
    indefinite : bool
        Some eigenvalue is below ``-rcond lambda_max``: not a local maximum.
    """
    P = info.shape[0]
    if P == 0:
        return np.zeros((0, 0)), np.zeros((0, 0)), 1.0, False
    lam, V = np.linalg.eigh(0.5 * (info + info.T))
    lmax = float(np.abs(lam).max())
    null = lam <= rcond * lmax
    cond = lmax / lam.min() if lam.min() > 0 else np.inf
    keep = ~null
    cov = (V[:, keep] / lam[keep]) @ V[:, keep].T
    return cov, V[:, null], float(cond), bool(lam.min() < -rcond * lmax)


def natural_se(cov_int, J: dict, null_dirs, shapes: dict, scale: float):
    """Delta-method standard errors on the user scale, NaN where a null direction loads.

    A quantity ``g`` is affected when ``|grad g . V_null| > LOAD_TOL |grad g|``.

    Returns
    -------
    ses : dict
        Standard errors shaped as ``shapes``.
    affected : list of str
        Names such as ``"weights[0]"`` (flat index) of the NaN entries.
    """
    ses, affected = {}, []
    for key in NATURAL:
        Jk = J[key]
        se = np.sqrt(np.maximum(np.einsum("ip,pq,iq->i", Jk, cov_int, Jk), 0.0))
        if null_dirs.shape[1]:
            load = np.linalg.norm(Jk @ null_dirs, axis=1)
            hit = load > LOAD_TOL * np.maximum(np.linalg.norm(Jk, axis=1), 1e-300)
            se[hit] = np.nan
            affected += [f"{key}[{i}]" for i in np.flatnonzero(hit)]
        ses[key] = (se * scale ** _POWER[key]).reshape(shapes[key])
    return ses, affected


def diagnose(p, n: int) -> str:
    """Likely cause of a singular information: coinciding components or weights near 0."""
    K = p.means.shape[0]
    logsd = 0.5 * np.log(np.einsum("kii->ki", p.covariances))
    causes = []
    for i in range(K):
        for j in range(i + 1, K):
            gap = max(np.abs(p.means[i] - p.means[j]).max(), np.abs(logsd[i] - logsd[j]).max())
            if gap < 1e-3:
                causes.append(f"components {i} and {j} coincide (same means and variances)")
    small = np.flatnonzero((p.weights * n < 5) | (p.weights < 1e-6))
    causes += [f"the weight of component {k} is near 0 (w = {p.weights[k]:.3g})" for k in small]
    return "; ".join(causes) or (
        "no coinciding components or empty weights found: the likelihood is flat in some "
        "direction (too few points for the parameters, or EM stopped away from a maximum)")
