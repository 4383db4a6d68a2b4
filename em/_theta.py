"""The free-parameter vector ``theta`` used by the uncertainty methods.

Layout, in this order (fixed blocks are left out entirely):

* weights: the ``K - 1`` log-ratios ``eta_k = log(w_k / w_K)``, ``k < K``
  (``w = softmax(eta, 0)``; the last component is the reference);
* means: ``mu_kj``, component-major (``K * d`` numbers);
* covariances, by structure:

  - ``diag`` (1-D ``unequal``): ``log sd_kj`` per component and dimension;
  - ``spherical``: one ``log sd_k`` per component;
  - ``tied`` (1-D ``equal``): the log-Cholesky factor of the shared matrix,
    which for ``d = 1`` is the shared ``log sd``;
  - ``full``: the log-Cholesky factor of each component's matrix
    (lower triangle row by row; diagonal entries as logs).

``pack`` and ``unpack`` are scale-agnostic: applied to user-scale parameters
they give the user-scale vector, to internal (standardised) parameters the
internal one. The two are related by :func:`user_factors`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import softmax

from ._model import Params, Spec


class Layout(NamedTuple):
    """Where each block of ``theta`` lives and how to read it."""

    spec: Spec
    names: tuple
    weights: slice | None
    means: slice | None
    cov: slice | None
    cov_mode: str | None  # "diag", "spherical", "chol", "chol_tied" or None (fixed)

    @property
    def size(self) -> int:
        """Number of free parameters."""
        return len(self.names)


def _idx(k, j, one_d):
    return f"[{k}]" if one_d else f"[{k},{j}]"


def layout(spec: Spec) -> Layout:
    """Build the layout of the free-parameter vector for a model specification."""
    K, d, one_d = spec.n_components, spec.n_features, spec.one_d
    names: list[str] = []
    sl = {"weights": None, "means": None, "cov": None}
    if "weights" not in spec.fixed and K > 1:
        names += [f"log(w[{k}]/w[{K - 1}])" for k in range(K - 1)]
        sl["weights"] = slice(0, len(names))
    if "means" not in spec.fixed:
        start = len(names)
        names += [f"mean{_idx(k, j, one_d)}" for k in range(K) for j in range(d)]
        sl["means"] = slice(start, len(names))
    mode = None
    if "covariances" not in spec.fixed:
        start = len(names)
        if spec.kind == "diag":
            mode = "diag"
            names += [f"log_sd{_idx(k, j, one_d)}" for k in range(K) for j in range(d)]
        elif spec.kind == "spherical":
            mode = "spherical"
            names += [f"log_sd[{k}]" for k in range(K)]
        elif spec.kind == "tied":
            mode = "chol_tied"
            if d == 1:
                names.append("log_sd")
            else:
                names += [(f"log_chol[{a},{b}]" if a == b else f"chol[{a},{b}]")
                          for a, b in zip(*np.tril_indices(d), strict=True)]
        else:
            mode = "chol"
            names += [(f"log_chol[{k}][{a},{b}]" if a == b else f"chol[{k}][{a},{b}]")
                      for k in range(K) for a, b in zip(*np.tril_indices(d), strict=True)]
        sl["cov"] = slice(start, len(names))
    return Layout(spec, tuple(names), sl["weights"], sl["means"], sl["cov"], mode)


def _log_chol(c: np.ndarray) -> np.ndarray:
    d = c.shape[-1]
    L = np.linalg.cholesky(c)
    ia, ib = np.tril_indices(d)
    v = L[..., ia, ib].copy()
    diag = ia == ib
    v[..., diag] = np.log(v[..., diag])
    return v


def _from_log_chol(v: np.ndarray, d: int) -> np.ndarray:
    ia, ib = np.tril_indices(d)
    L = np.zeros(v.shape[:-1] + (d, d))
    vals = np.where(ia == ib, np.exp(v), v)
    L[..., ia, ib] = vals
    return L @ np.swapaxes(L, -1, -2)


def pack(p: Params, lay: Layout) -> np.ndarray:
    """Free-parameter vector of ``p`` (means (K, d), covariances (K, d, d))."""
    K, d = p.means.shape
    parts = []
    if lay.weights is not None:
        parts.append(np.log(p.weights[:-1]) - np.log(p.weights[-1]))
    if lay.means is not None:
        parts.append(np.asarray(p.means, dtype=float).ravel())
    if lay.cov_mode == "diag":
        parts.append(0.5 * np.log(np.einsum("kii->ki", p.covariances)).ravel())
    elif lay.cov_mode == "spherical":
        parts.append(0.5 * np.log(p.covariances[:, 0, 0]))
    elif lay.cov_mode == "chol_tied":
        parts.append(_log_chol(p.covariances[0]))
    elif lay.cov_mode == "chol":
        parts.append(_log_chol(p.covariances).ravel())
    return np.concatenate(parts) if parts else np.zeros(0)


def unpack(theta: np.ndarray, lay: Layout) -> Params:
    """Parameters from a free-parameter vector; fixed blocks come from ``lay.spec.fixed``."""
    spec = lay.spec
    K, d = spec.n_components, spec.n_features
    f = spec.fixed
    if lay.weights is not None:
        weights = softmax(np.append(theta[lay.weights], 0.0))
    else:
        weights = f["weights"] if "weights" in f else np.ones(1)
    means = theta[lay.means].reshape(K, d) if lay.means is not None else f["means"]
    c = theta[lay.cov] if lay.cov is not None else None
    if lay.cov_mode == "diag":
        cov = np.exp(2.0 * c.reshape(K, d))[:, :, None] * np.eye(d)
    elif lay.cov_mode == "spherical":
        cov = np.exp(2.0 * c)[:, None, None] * np.eye(d)
    elif lay.cov_mode == "chol_tied":
        cov = np.broadcast_to(_from_log_chol(c, d), (K, d, d)).copy()
    elif lay.cov_mode == "chol":
        cov = _from_log_chol(c.reshape(K, -1), d)
    else:
        cov = f["covariances"]
    return Params(weights, means, cov)


def user_factors(lay: Layout, scale: float) -> np.ndarray:
    """Diagonal of ``d theta_user / d theta_internal``.

    It is ``scale`` for means and Cholesky off-diagonals, 1 elsewhere.
    """
    D = np.ones(lay.size)
    if lay.means is not None:
        D[lay.means] = scale
    if lay.cov_mode in ("chol", "chol_tied"):
        ia, ib = np.tril_indices(lay.spec.n_features)
        off = np.where(ia == ib, 1.0, scale)
        D[lay.cov] = np.tile(off, lay.spec.n_components if lay.cov_mode == "chol" else 1)
    return D


def natural(p: Params) -> dict:
    """Natural-scale quantities: weights (K,), means, sds and variances (K, d)."""
    var = np.einsum("kii->ki", p.covariances)
    return {"weights": np.asarray(p.weights, dtype=float), "means": np.asarray(p.means, float),
            "sds": np.sqrt(var), "variances": var}


def jacobians(theta: np.ndarray, lay: Layout) -> dict:
    """Jacobians of the natural quantities with respect to ``theta``.

    Returns
    -------
    dict
        ``"weights"``: (K, p); ``"means"``, ``"sds"``, ``"variances"``:
        (K * d, p), rows in component-major order.
    """
    spec = lay.spec
    K, d = spec.n_components, spec.n_features
    P = lay.size
    p = unpack(theta, lay)
    nat = natural(p)
    J = {"weights": np.zeros((K, P)), "means": np.zeros((K * d, P)),
         "sds": np.zeros((K * d, P)), "variances": np.zeros((K * d, P))}
    if lay.weights is not None:
        w = p.weights
        J["weights"][:, lay.weights] = (np.diag(w) - np.outer(w, w))[:, : K - 1]
    if lay.means is not None:
        J["means"][:, lay.means] = np.eye(K * d)
    sd = nat["sds"].ravel()
    dvar = np.zeros((K * d, P))  # d variance_kj / d theta
    if lay.cov_mode == "diag":
        dvar[:, lay.cov] = np.diag(2.0 * sd**2)
    elif lay.cov_mode == "spherical":
        cols = np.arange(lay.cov.start, lay.cov.stop)
        for k in range(K):
            dvar[k * d : (k + 1) * d, cols[k]] = 2.0 * sd[k * d : (k + 1) * d] ** 2
    elif lay.cov_mode in ("chol", "chol_tied"):
        ia, ib = np.tril_indices(d)
        m = ia.size
        c = theta[lay.cov].reshape(-1, m)
        for k in range(K):
            blk = 0 if lay.cov_mode == "chol_tied" else k
            vals = np.where(ia == ib, np.exp(c[blk]), c[blk])
            # Sigma_aa = sum_b L_ab^2: d/dL_ab = 2 L_ab, d/dlog L_aa = 2 L_aa^2
            deriv = np.where(ia == ib, 2.0 * vals**2, 2.0 * vals)
            for q in range(m):
                dvar[k * d + ia[q], lay.cov.start + blk * m + q] = deriv[q]
    J["variances"] = dvar
    J["sds"] = dvar / (2.0 * sd)[:, None]
    return J


def unit_sizes(theta: np.ndarray, lay: Layout) -> np.ndarray:
    """Natural unit of each coordinate of ``theta``: its component's sd for a mean, 1 otherwise.

    Means are measured in their own component's standard deviation (per
    feature) and Cholesky off-diagonals in that of their row; log-ratios and
    logs are already unit-free. In these units the information of a
    well-posed fit has entries of order ``n`` whatever the spread of the
    components relative to each other, so its condition number measures
    identifiability rather than the separation of the clusters.
    """
    spec = lay.spec
    K, d = spec.n_components, spec.n_features
    out = np.ones(lay.size)
    sd = np.sqrt(np.einsum("kii->ki", unpack(theta, lay).covariances))  # (K, d)
    if lay.means is not None:
        out[lay.means] = sd.ravel()
    if lay.cov_mode in ("chol", "chol_tied"):
        ia, ib = np.tril_indices(d)
        blocks = 1 if lay.cov_mode == "chol_tied" else K
        sc = out[lay.cov].reshape(blocks, ia.size)
        off = ia != ib
        for k in range(blocks):
            sc[k, off] = sd[k, ia[off]]
        out[lay.cov] = sc.ravel()
    return out


def step_scales(theta: np.ndarray, lay: Layout) -> np.ndarray:
    """Typical size of each coordinate of ``theta``, for finite-difference steps.

    :func:`unit_sizes` for means and Cholesky off-diagonals (a narrow
    component needs steps as narrow as itself), ``max(1, |theta_i|)`` for
    log-ratios and logs.
    """
    out = np.maximum(1.0, np.abs(theta))
    units = unit_sizes(theta, lay)
    scaled = units != 1.0
    out[scaled] = units[scaled]
    return out
