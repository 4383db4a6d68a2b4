"""Label switching in mixture posteriors: detection, relabelling and diagnostics.

Two layers, as in ArviZ: numpy kernels on arrays whose leading axes are
``(chain, draw)`` (or any sample axes) -- :func:`pivot_permutations`,
:func:`switching_summary`, :func:`membership_per_draw`,
:func:`stephens_kl` -- and thin xarray adapters over the ``posterior`` group
of a DataTree (or a Dataset) -- :func:`relabel_pivot`,
:func:`relabel_stephens`, :func:`permute_components`, :func:`rhat_ess`.

Permutation convention
----------------------
Every permutation array ``perms`` has shape ``(chain, draw, K)`` (or
``(*sample, K)``) and relabels a draw by

``relabeled[c, s, j] = draw[c, s, perms[c, s, j]]``

i.e. ``perms[c, s, j]`` is the component of draw ``(c, s)`` that receives
label ``j``. If a draw came from aligned parameters ``theta`` as
``draw = theta[sigma]``, the permutation that undoes the switch is the
inverse of ``sigma`` (``perms[sigma[j]] = j``). The identity means "already
in the reference labelling". Components are always matched, never sorted.
"""

from __future__ import annotations

from math import prod

import numpy as np
import xarray as xr
from mixcompare.comparisons.posterior.stephens import (
    MAX_ELEMENTS,
    StephensTrace,
    as_draws,
    assign,
    check_perms,
    membership_per_draw,
    permute,
    stephens_kl,
)
from mixcompare.comparisons.posterior.switch_summary import SwitchingSummary, switching_summary

__all__ = [
    "draw_arrays",
    "draw_memberships",
    "StephensTrace",
    "SwitchingSummary",
    "membership_per_draw",
    "permute_components",
    "pivot_permutations",
    "relabel_pivot",
    "relabel_stephens",
    "rhat_ess",
    "stephens_kl",
    "switching_summary",
]

_TINY = np.finfo(float).tiny
_SAMPLE_DIMS = ("chain", "draw")


# --------------------------------------------------------------------------- pivot
def _pivot_arrays(pivot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(weights (K,), means (K, d), variances (K, d))`` from a tuple or an object/Dataset."""
    if all(hasattr(pivot, a) for a in ("weights", "means", "variances")):
        parts = (pivot.weights, pivot.means, pivot.variances)
    elif isinstance(pivot, tuple | list) and len(pivot) == 3:
        parts = pivot
    else:
        raise TypeError("pivot must be a tuple (weights, means, variances) or have attributes "
                        f"weights, means and variances; got {type(pivot).__name__}.")
    w, mu, var = (np.asarray(a, dtype=float) for a in parts)
    K = w.shape[0]
    if w.ndim != 1 or mu.shape[0] != K or var.shape != mu.shape or mu.ndim > 2:
        raise ValueError("pivot must hold weights (K,), means (K,) or (K, d) and variances of the "
                         f"means' shape; got {w.shape}, {mu.shape}, {var.shape}.")
    if not (var > 0).all():
        raise ValueError("pivot variances must be positive.")
    return w, mu.reshape(K, -1), var.reshape(K, -1)


def _pivot_cost(w, mu, var, pw, pmu, pvar) -> np.ndarray:
    """``cost[s, j, k]`` of giving component k of draw s the pivot's label j: (S, K, K)."""
    dm = ((mu[:, None, :, :] - pmu[None, :, None, :]) ** 2 / pvar[None, :, None, :]).sum(-1)
    dv = ((np.log(np.maximum(var, _TINY))[:, None, :, :] - np.log(pvar)[None, :, None, :]) ** 2
          ).sum(-1)
    lw = np.log(np.maximum(w, _TINY))
    dw = (lw[:, None, :] - np.log(np.maximum(pw, _TINY))[None, :, None]) ** 2
    return dm + dv + dw


def pivot_permutations(weights, means, variances, pivot, *, method: str = "auto") -> np.ndarray:
    r"""Permutation of each draw's components that best matches a pivot parameter set.

    Parameters
    ----------
    weights : array_like of shape (chain, draw, K)
        Any leading sample axes are accepted, e.g. ``(S, K)``.
    means : array_like of shape (chain, draw, K) or (chain, draw, K, d)
    variances : array_like, same shape as ``means``
        Variances (1-D) or the diagonals of the covariances.
    pivot : tuple or object
        ``(weights (K,), means (K,) or (K, d), variances like means)``, e.g.
        the MAP or EM solution; an :class:`em.EMResult` or its
        ``to_dataset()`` is accepted too.
    method : {"auto", "enumerate", "hungarian"}, default "auto"
        "enumerate" scores all ``K!`` permutations vectorised over draws
        (the default for ``K <= 6``); "hungarian" solves the assignment
        problem per draw with :func:`scipy.optimize.linear_sum_assignment`.

    Returns
    -------
    ndarray of int, shape (chain, draw, K)
        ``relabeled[..., j] = draw[..., perms[..., j]]`` matches pivot
        component ``j``.

    Notes
    -----
    Each draw ``s`` takes the permutation ``nu`` minimising
    ``sum_j C[s, j, nu(j)]``, with the standardised (dimensionless) distance
    between draw component ``k`` and pivot component ``j``

    .. math:: C_{jk} = \sum_f \frac{(\mu_{kf} - \hat\mu_{jf})^2}{\hat\sigma^2_{jf}}
              + \sum_f (\log \sigma^2_{kf} - \log \hat\sigma^2_{jf})^2
              + (\log w_k - \log \hat w_j)^2

    (hatted quantities are the pivot's; logs are floored at the smallest
    positive double). This is the pivotal relabelling of Marin, Mengersen
    and Robert [1]_ with a parameter-space distance; ties go to the first
    permutation in lexicographic order (identity first).

    References
    ----------
    .. [1] Marin, J.-M., Mengersen, K. and Robert, C. P. (2005). Bayesian
       modelling and inference on mixtures of distributions. *Handbook of
       Statistics* 25, 459-507. https://doi.org/10.1016/S0169-7161(05)25016-2
    .. [2] Jasra, A., Holmes, C. C. and Stephens, D. A. (2005). Markov chain
       Monte Carlo methods and the label switching problem in Bayesian
       mixture modeling. *Statistical Science* 20(1), 50-67.
    """
    w, mu, var, shape = as_draws(weights, means, variances)
    pw, pmu, pvar = _pivot_arrays(pivot)
    S, K, d = mu.shape
    if pmu.shape != (K, d):
        raise ValueError(f"the pivot has means of shape {pmu.shape}; the draws have {(K, d)}.")
    perms = np.empty((S, K), dtype=np.intp)
    step = max(1, 4_000_000 // (K * K * d))
    for a in range(0, S, step):
        cost = _pivot_cost(w[a:a + step], mu[a:a + step], var[a:a + step], pw, pmu, pvar)
        perms[a:a + step] = assign(cost, method=method)
    return perms.reshape(shape + (K,))


# --------------------------------------------------------------------------- xarray adapters
def _posterior(data) -> xr.Dataset:
    """Return the ``posterior`` group of a DataTree (or the node itself), or a Dataset."""
    if isinstance(data, xr.DataTree):
        node = data["posterior"] if "posterior" in data.children else data
        return node.to_dataset()
    if isinstance(data, xr.Dataset):
        return data
    raise TypeError(f"expected an xarray DataTree or Dataset, got {type(data).__name__}.")


def draw_arrays(post: xr.Dataset):
    """Return weights (chain, draw, K), means and variances (chain, draw, K[, d])."""
    missing = [v for v in ("weights", "means", "variances") if v not in post]
    if missing:
        raise KeyError(f"the posterior lacks {missing}; it needs weights, means and variances "
                       "with dimensions chain, draw and component.")
    return tuple(post[v].transpose(*_SAMPLE_DIMS, "component", ...).values
                 for v in ("weights", "means", "variances"))


def _perms_array(post: xr.Dataset, perms: np.ndarray, method: str) -> xr.DataArray:
    return xr.DataArray(
        perms, dims=(*_SAMPLE_DIMS, "component"),
        coords={d: post[d] for d in (*_SAMPLE_DIMS, "component") if d in post.coords},
        name="permutation",
        attrs={"method": method,
               "convention": "relabeled[chain, draw, j] = draw[chain, draw, perm[j]]"})


def permute_components(posterior, perms) -> xr.Dataset:
    """Apply per-draw permutations to every variable with a ``component`` dimension.

    Parameters
    ----------
    posterior : xarray.DataTree or xarray.Dataset
        The ``posterior`` group is used if present.
    perms : array_like of int, shape (chain, draw, K)
        ``relabeled[..., j] = draw[..., perms[..., j]]``.

    Returns
    -------
    xarray.Dataset
        Same variables, dimensions (in the same order), coordinates and
        attributes; variables without a ``component`` dimension (or without
        ``chain``/``draw``) are left untouched. Coordinates along
        ``component`` stay with the positions (they name labels, not
        original components).
    """
    post = _posterior(posterior)
    if isinstance(perms, xr.DataArray):
        perms = perms.transpose(*_SAMPLE_DIMS, "component").values
    shape = (post.sizes["chain"], post.sizes["draw"])
    K = post.sizes["component"]
    flat = check_perms(perms, shape, K)
    out = {}
    for name, var in post.data_vars.items():
        if "component" not in var.dims or not set(_SAMPLE_DIMS) <= set(var.dims):
            continue
        t = var.transpose(*_SAMPLE_DIMS, "component", ...)
        vals = permute(t.values.reshape((prod(shape), K) + t.shape[3:]), flat)
        out[name] = t.copy(data=vals.reshape(t.shape)).transpose(*var.dims)
    return post.assign(out)


def relabel_pivot(posterior, pivot, *, method: str = "auto") -> tuple[xr.Dataset, xr.DataArray]:
    """Relabel posterior draws to match a pivot (MAP or EM solution).

    Parameters
    ----------
    posterior : xarray.DataTree or xarray.Dataset
        ``weights``, ``means`` and ``variances`` over ``(chain, draw,
        component[, feature])``, as in :func:`models.build_model`.
    pivot : tuple or object
        See :func:`pivot_permutations`.
    method : {"auto", "enumerate", "hungarian"}, default "auto"

    Returns
    -------
    relabeled : xarray.Dataset
        Every variable with a ``component`` dimension permuted (weights,
        means, variances, sds, covariances, ...); attribute
        ``relabelled = "pivot"``.
    perms : xarray.DataArray of int, dims (chain, draw, component)
        ``relabeled[..., j] = draw[..., perms[..., j]]``.
    """
    post = _posterior(posterior)
    perms = pivot_permutations(*draw_arrays(post), pivot, method=method)
    out = permute_components(post, perms)
    out.attrs = {**post.attrs, "relabelled": "pivot"}
    return out, _perms_array(post, perms, "pivot")


def draw_memberships(posterior, X, *, max_elements: int = MAX_ELEMENTS) -> np.ndarray:
    """Membership probabilities under every draw, shape (chain, draw, n, K).

    Gaussian densities from ``covariances`` when the posterior has them
    (``full``, ``tied``: correlations included), else from the diagonal
    ``variances``; see :func:`membership_per_draw` (which raises ValueError
    beyond ``max_elements``).
    """
    post = _posterior(posterior)
    w, mu, var = draw_arrays(post)
    if "covariances" in post:
        var = post["covariances"].transpose(*_SAMPLE_DIMS, "component", ...).values
    return membership_per_draw(w, mu, var, X, max_elements=max_elements)


def relabel_stephens(posterior, X, *, init="identity", method: str = "auto",
                     max_iter: int = 100, max_elements: int = MAX_ELEMENTS,
                     memberships: np.ndarray | None = None
                     ) -> tuple[xr.Dataset, xr.DataArray]:
    """Relabel posterior draws by Stephens' (2000) Kullback-Leibler algorithm.

    Parameters
    ----------
    posterior : xarray.DataTree or xarray.Dataset
        As in :func:`relabel_pivot`.
    X : array_like of shape (n,) or (n, d)
        The data the posterior was fitted to.
    init : "identity" or array_like of int, shape (chain, draw, K)
        Starting permutations, e.g. the ``perms`` of :func:`relabel_pivot`
        (then the result is expressed in the pivot's labelling).
    method : {"auto", "enumerate", "hungarian"}, default "auto"
    max_iter : int, default 100
    max_elements : int, default 2e8
        Largest ``chain * draw * n * K`` accepted (see
        :func:`membership_per_draw`); thin the draws beyond it.
    memberships : ndarray of shape (chain, draw, n, K), optional
        Per-draw membership probabilities already computed
        (:func:`draw_memberships`), so that they are not computed twice.

    Returns
    -------
    relabeled : xarray.Dataset
        As in :func:`relabel_pivot`, attribute ``relabelled = "stephens"``.
    perms : xarray.DataArray of int, dims (chain, draw, component)
        Attributes ``n_iter``, ``converged`` (0/1) and ``objective`` (the
        :class:`StephensTrace`).

    Notes
    -----
    Memberships come from :func:`membership_per_draw`: Gaussian densities
    from ``covariances`` when the posterior has them (``full``, ``tied``),
    else from the diagonal ``variances``. Without a pivot the labelling is
    defined up to one permutation common to all draws.
    """
    post = _posterior(posterior)
    p = draw_memberships(post, X, max_elements=max_elements) if memberships is None \
        else memberships
    if isinstance(init, str):
        if init != "identity":
            raise ValueError(f"init must be 'identity' or permutations, got {init!r}.")
        init = None
    elif isinstance(init, xr.DataArray):
        init = init.transpose(*_SAMPLE_DIMS, "component").values
    perms, trace = stephens_kl(p, init=init, method=method, max_iter=max_iter,
                               return_trace=True)
    out = permute_components(post, perms)
    out.attrs = {**post.attrs, "relabelled": "stephens"}
    da = _perms_array(post, perms, "stephens")
    da.attrs.update(n_iter=trace.n_iter, converged=int(trace.converged),
                    objective=trace.objective)
    return out, da


def rhat_ess(posterior, *, var_names=None) -> xr.Dataset:
    """Rank-normalised R-hat and bulk/tail ESS per variable and component (arviz_stats).

    Parameters
    ----------
    posterior : xarray.DataTree or xarray.Dataset
    var_names : list of str, optional
        Defaults to every variable with ``chain``, ``draw`` and
        ``component`` dimensions.

    Returns
    -------
    xarray.Dataset
        The chosen variables without their ``chain``/``draw`` dimensions
        and with a new leading dimension ``diagnostic`` =
        ``["r_hat", "ess_bulk", "ess_tail"]``.

    Notes
    -----
    Computed by :func:`arviz_stats.rhat` (``method="rank"``: the maximum of
    the rank-normalised split R-hat of the values and of their folded
    values) and :func:`arviz_stats.ess` (``method="bulk"`` and ``"tail"``),
    reducing ``chain`` and ``draw``. Under label switching, R-hat of the
    component parameters is far above 1; after relabelling it should be
    close to 1.

    References
    ----------
    .. [1] Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner,
       P.-C. (2021). Rank-normalization, folding, and localization: an
       improved R-hat for assessing convergence of MCMC. *Bayesian
       Analysis* 16(2), 667-718. https://doi.org/10.1214/20-BA1221
    """
    import arviz_stats as azs

    post = _posterior(posterior)
    if var_names is None:
        var_names = [n for n, v in post.data_vars.items()
                     if {"component", *_SAMPLE_DIMS} <= set(v.dims)]
    ds = post[list(var_names)]
    dims = list(_SAMPLE_DIMS)
    parts = [azs.rhat(ds, sample_dims=dims, method="rank"),
             azs.ess(ds, sample_dims=dims, method="bulk"),
             azs.ess(ds, sample_dims=dims, method="tail")]
    out = xr.concat(parts, dim="diagnostic", coords="minimal", compat="override")
    return out.assign_coords(diagnostic=["r_hat", "ess_bulk", "ess_tail"])
