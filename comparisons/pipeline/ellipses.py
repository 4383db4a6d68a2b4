"""Covariance ellipses of the components on pairs of features (numpy kernel, xarray out).

What the multivariate figures of a report draw (:mod:`..report.figures_mv`), computed
once here: for EM's fit and for a thin, evenly spaced sample of the relabelled
posterior draws, each component's probability contours on every ordered pair of the
first few features (the marginal 2 x 2 covariance block of the pair), the
components' centres, and axis limits that hold the data and EM's ellipses.

The contour of probability ``p`` of a bivariate normal ``N(mu, S)`` is the
ellipse ``(x - mu)^T S^{-1} (x - mu) = c`` with ``c = -2 log(1 - p)`` (the
``p`` quantile of chi-square with 2 degrees of freedom): its semi-axes are
``sqrt(c lambda)`` along the eigenvectors of ``S`` (eigenvalues ``lambda``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["MAX_FEATURES", "N_DRAWS", "PROBS", "covariance_blocks", "ellipse_axes",
           "ellipses_dataset", "feature_pairs"]

#: probability contours drawn for each component (mclust's 50 % and 95 %-style ellipses)
PROBS = (0.5, 0.95)
#: features of the pair grid: the first few only
MAX_FEATURES = 4
#: posterior draws whose ellipses are drawn (evenly spaced over all chains)
N_DRAWS = 20
_PAD = 0.05  # share of the range added on each side of the axis limits


def contour_scale(probs) -> np.ndarray:
    """Return ``c = -2 log(1 - p)``, the squared Mahalanobis radius of each contour.

    Parameters
    ----------
    probs : array_like of shape (L,)
        Probabilities in (0, 1).

    Returns
    -------
    ndarray of shape (L,)
    """
    p = np.asarray(probs, float)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError(f"contour probabilities must lie in (0, 1), got {p.tolist()}.")
    return -2.0 * np.log1p(-p)


def ellipse_axes(cov, probs=PROBS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Width, height and angle of the probability contours of 2 x 2 covariances.

    Parameters
    ----------
    cov : array_like of shape (..., 2, 2)
        Symmetric positive semi-definite blocks.
    probs : array_like of shape (L,)

    Returns
    -------
    width, height, angle : ndarray of shape (..., L)
        Full length of the major and minor axes, and the angle of the major
        axis in degrees anticlockwise from the first axis, in [0, 180) (as
        :class:`matplotlib.patches.Ellipse` takes them).
    """
    cov = np.asarray(cov, float)
    lam, vec = np.linalg.eigh(cov)  # ascending eigenvalues
    lam = np.clip(lam, 0.0, None)
    major = vec[..., :, 1]
    angle = np.degrees(np.arctan2(major[..., 1], major[..., 0])) % 180.0
    r = np.sqrt(contour_scale(probs))
    width = 2.0 * np.sqrt(lam[..., 1])[..., None] * r
    height = 2.0 * np.sqrt(lam[..., 0])[..., None] * r
    return width, height, np.broadcast_to(angle[..., None], width.shape).copy()


def feature_pairs(d: int, max_features: int = MAX_FEATURES) -> np.ndarray:
    """Every ordered pair ``(x, y)``, ``x != y``, of the first ``min(d, max_features)`` features.

    Returns
    -------
    ndarray of int, shape (P, 2)
        ``P = m (m - 1)`` with ``m = min(d, max_features)``; ``(0, 1)`` first.
    """
    m = min(int(d), int(max_features))
    if m < 2:
        raise ValueError(f"pairs of features need d >= 2, got d = {d}.")
    return np.array([(a, b) for a in range(m) for b in range(m) if a != b], dtype=int)


def covariance_blocks(cov, pairs) -> np.ndarray:
    """Return the marginal 2 x 2 covariance of every pair: ``cov[..., [x, y], [x, y]]``.

    Parameters
    ----------
    cov : array_like of shape (..., d, d)
    pairs : array_like of int, shape (P, 2)

    Returns
    -------
    ndarray of shape (..., P, 2, 2)
    """
    pairs = np.asarray(pairs, int)
    return np.asarray(cov, float)[..., pairs[:, :, None], pairs[:, None, :]]


def _covariances(ds: xr.Dataset, lead: tuple) -> np.ndarray:
    """Covariances ``(*lead, component, d, d)``: stored ones, else diagonal from ``variances``."""
    if "covariances" in ds:
        return ds["covariances"].transpose(*lead, "component", "feature", "feature_bis").values
    v = ds["variances"].transpose(*lead, "component", "feature").values
    return v[..., :, None] * np.eye(v.shape[-1])


def _geometry(means, cov, pairs, probs) -> dict:
    """Centres ``(P, ..., K, 2)`` and contours ``(P, ..., K, L)`` of ``means (..., K, d)``."""
    c = np.moveaxis(np.asarray(means, float)[..., pairs], -2, 0)  # (P, ..., K, 2)
    w, h, a = ellipse_axes(np.moveaxis(covariance_blocks(cov, pairs), -3, 0), probs)
    return {"center": c, "width": w, "height": h, "angle": a}


def _limits(X, means, cov, m: int, prob: float) -> np.ndarray:
    """Per feature ``(m, 2)``: the range of the data and of EM's widest contour, padded."""
    r = np.sqrt(contour_scale([prob]))[0]
    half = r * np.sqrt(np.einsum("kii->ki", cov)[:, :m])
    lo = np.minimum(X[:, :m].min(axis=0), (means[:, :m] - half).min(axis=0))
    hi = np.maximum(X[:, :m].max(axis=0), (means[:, :m] + half).max(axis=0))
    pad = _PAD * np.where(hi > lo, hi - lo, 1.0)
    return np.stack([lo - pad, hi + pad], axis=1)


def thin_draws(n_chains: int, n_draws: int, n: int = N_DRAWS) -> tuple[np.ndarray, np.ndarray]:
    """Chain and draw indices of ``min(n, n_chains * n_draws)`` draws evenly spaced over all.

    Returns
    -------
    chain, draw : ndarray of int, shape (S,)
    """
    total = n_chains * n_draws
    flat = np.unique(np.linspace(0, total - 1, min(int(n), total)).round().astype(int))
    return flat // n_draws, flat % n_draws


def ellipses_dataset(X, em_ds: xr.Dataset, post: xr.Dataset | None = None, *,
                     probs=PROBS, max_features: int = MAX_FEATURES,
                     n_draws: int = N_DRAWS) -> xr.Dataset:
    """EM's and a thin sample of posterior draws' ellipses on every pair of features.

    Parameters
    ----------
    X : ndarray of shape (n, d), d >= 2
        The data (for the axis limits).
    em_ds : xarray.Dataset
        EM's fit in reference order: ``means`` (component, feature) and
        ``covariances`` (component, feature, feature_bis).
    post : xarray.Dataset, optional
        Relabelled posterior draws: ``means`` (chain, draw, component,
        feature) and ``covariances`` (..., feature, feature_bis) or, for
        diagonal structures, ``variances`` (chain, draw, component, feature).
    probs : sequence of float, default :data:`PROBS`
    max_features : int, default :data:`MAX_FEATURES`
    n_draws : int, default :data:`N_DRAWS`

    Returns
    -------
    xarray.Dataset
        Dimensions ``pair`` (coordinates ``x_feature``, ``y_feature``),
        ``component``, ``prob``, ``axis`` (``x``, ``y``) and, with ``post``,
        ``sample`` (coordinates ``sample_chain``, ``sample_draw``).
        ``em_center`` (pair, component, axis); ``em_width``, ``em_height``,
        ``em_angle`` (pair, component, prob); ``limits`` (feature, bound)
        over the first ``m`` features; with ``post``: ``post_center``
        (pair, sample, component, axis), ``post_width``, ``post_height``,
        ``post_angle`` (pair, sample, component, prob) and
        ``post_mean_center`` (pair, component, axis), the posterior mean of
        the means.
    """
    X = np.asarray(X, float)
    d = X.shape[1]
    pairs = feature_pairs(d, max_features)
    m = min(d, int(max_features))
    mu = em_ds["means"].transpose("component", "feature").values
    cov = _covariances(em_ds, ())
    g = _geometry(mu, cov, pairs, probs)
    K = mu.shape[0]
    data = {"em_center": (("pair", "component", "axis"), g["center"])}
    data.update({f"em_{k}": (("pair", "component", "prob"), g[k])
                 for k in ("width", "height", "angle")})
    data["limits"] = (("feature", "bound"), _limits(X, mu, cov, m, max(probs)))
    coords = {"pair": np.arange(len(pairs)), "x_feature": ("pair", pairs[:, 0]),
              "y_feature": ("pair", pairs[:, 1]), "component": np.arange(K),
              "prob": np.asarray(probs, float), "axis": ["x", "y"],
              "feature": np.arange(m), "bound": ["low", "high"]}
    attrs = {"n_features_shown": m}
    if post is not None:
        ch, dr = thin_draws(post.sizes["chain"], post.sizes["draw"], n_draws)
        pts = post.isel(chain=xr.DataArray(ch, dims="sample"),
                        draw=xr.DataArray(dr, dims="sample"))
        pm = pts["means"].transpose("sample", "component", "feature").values
        gp = _geometry(pm, _covariances(pts, ("sample",)), pairs, probs)
        data["post_center"] = (("pair", "sample", "component", "axis"), gp["center"])
        data.update({f"post_{k}": (("pair", "sample", "component", "prob"), gp[k])
                     for k in ("width", "height", "angle")})
        mean = post["means"].mean(("chain", "draw")).transpose("component", "feature").values
        data["post_mean_center"] = (("pair", "component", "axis"),
                                    np.moveaxis(mean[:, pairs], 1, 0))
        coords.update({"sample": np.arange(ch.size), "sample_chain": ("sample", ch),
                       "sample_draw": ("sample", dr)})
        attrs["n_draws_total"] = int(post.sizes["chain"] * post.sizes["draw"])
    return xr.Dataset(data, coords=coords, attrs=attrs)
