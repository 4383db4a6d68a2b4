"""The lecture's algebra with numbers: one Gaussian in closed form, K = 1 or 2, one E-step by hand.

Slides 28-29 fit one Gaussian in closed form and ask "this (one Gaussian)
or this (two)?"; :func:`gaussian_mle` and :func:`k_choice` answer with the
closed form and EM's information criteria. Slides 36-42 derive the E-step
(Bayes' rule), the complete-data log-likelihood and the M-step;
:func:`estep_by_hand` works one point's responsibility out number by number
and :func:`responsibility_table` lists every point's responsibility at each
iteration of the two-iteration example. Everything is computed in small
numpy functions written from the formulas (independently of ``em``), and
``em`` is only called where its result is what the slide shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mixcompare import em

__all__ = ["estep_by_hand", "gaussian_mle", "k_choice", "mstep", "normal_pdf",
           "responsibilities", "responsibility_table"]


def normal_pdf(x, mean, var) -> np.ndarray:
    """Gaussian density ``N(x | mean, var)``, broadcast over its arguments."""
    x, mean, var = (np.asarray(a, float) for a in (x, mean, var))
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


def gaussian_mle(x) -> dict:
    """Fit one Gaussian in closed form (slide 28).

    Parameters
    ----------
    x : array_like of shape (n,)

    Returns
    -------
    dict
        ``mean`` (the sample mean), ``variance`` (``sum (x - mean)^2 / n``,
        the MLE), ``loglik`` (``-n/2 (log(2 pi variance) + 1)``) and ``n``.
    """
    x = np.asarray(em.validate_data(x), float).ravel()
    mean = float(x.mean())
    var = float(np.mean((x - mean) ** 2))
    return {"mean": mean, "variance": var, "n": x.size,
            "loglik": float(-0.5 * x.size * (np.log(2 * np.pi * var) + 1.0))}


def k_choice(x, *, n_init: int = 10, rng=None) -> tuple[pd.DataFrame, dict]:
    """Answer "one Gaussian or two?" (slide 29) by EM's information criteria.

    Parameters
    ----------
    x : array_like of shape (n,)
    n_init : int, default 10
        EM restarts for K = 2.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    table : pandas.DataFrame
        One row per K in (1, 2): ``K``, ``loglik``, ``n_params`` and the
        criteria of :meth:`em.EMResult.criteria` in their named conventions
        (``bic_mclust``/``icl_mclust``: higher is better; ``*_sklearn``:
        lower is better).
    fits : dict
        ``{1: EMResult, 2: EMResult}``.
    """
    x = np.asarray(em.validate_data(x), float).ravel()
    children = em.check_rng(rng).spawn(2)
    fits = {1: em.fit(x, 1, rng=children[0]),
            2: em.fit(x, 2, n_init=n_init, rng=children[1])}
    rows = []
    for k, res in fits.items():
        crit = res.criteria()
        rows.append({"K": k, "loglik": res.log_likelihood, "n_params": res.n_parameters(),
                     "bic_mclust": crit["bic_mclust"], "icl_mclust": crit["icl_mclust"],
                     "bic_sklearn": crit["bic_sklearn"], "aic_sklearn": crit["aic_sklearn"]})
    return pd.DataFrame(rows), fits


def responsibilities(x, means, var=1.0, weights=(0.5, 0.5)) -> np.ndarray:
    """E-step by Bayes' rule: ``r_ik = tau_k N(x_i | mu_k, s2) / sum_j tau_j N(x_i | mu_j, s2)``.

    Parameters
    ----------
    x : array_like of shape (n,)
    means : array_like of shape (K,)
    var : float, default 1.0
        Common variance.
    weights : array_like of shape (K,), default (0.5, 0.5)

    Returns
    -------
    ndarray of shape (n, K)
    """
    x = np.asarray(x, float)[:, None]
    joint = np.asarray(weights, float) * normal_pdf(x, np.asarray(means, float)[None, :], var)
    return joint / joint.sum(axis=1, keepdims=True)


def mstep(x, resp) -> np.ndarray:
    """M-step for the means: ``mu_k = sum_i r_ik x_i / sum_i r_ik`` (shape (K,))."""
    resp = np.asarray(resp, float)
    return resp.T @ np.asarray(x, float) / resp.sum(axis=0)


def estep_by_hand(x_i: float, means, var: float = 1.0, weights=(0.5, 0.5)) -> dict:
    """Work out one point's responsibilities, every intermediate number kept.

    Returns
    -------
    dict
        ``x``, ``means``, ``var``, ``weights``, ``density`` (``N(x | mu_k, var)``
        per component), ``joint`` (``tau_k`` times it), ``evidence`` (their sum,
        ``p(x)``) and ``resp`` (``joint / evidence``).
    """
    means, weights = np.asarray(means, float), np.asarray(weights, float)
    dens = normal_pdf(x_i, means, var)
    joint = weights * dens
    return {"x": float(x_i), "means": means, "var": float(var), "weights": weights,
            "density": dens, "joint": joint, "evidence": float(joint.sum()),
            "resp": joint / joint.sum()}


def responsibility_table(x, start, n_iter: int = 2, var: float = 1.0,
                         weights=(0.5, 0.5)) -> pd.DataFrame:
    """Every point's responsibility for component 1 at each of ``n_iter`` EM iterations.

    Iteration ``t`` (1-based) computes responsibilities from the means of
    iteration ``t - 1`` (``start`` for ``t = 1``) and then new means by
    :func:`mstep`.

    Parameters
    ----------
    x : array_like of shape (n,)
    start : pair of float
    n_iter : int, default 2
    var, weights : optional

    Returns
    -------
    pandas.DataFrame
        One row per point: ``x`` and, per iteration ``t``, ``r1_it{t}`` (the
        responsibility of component 1) and ``r2_it{t}``; attribute ``means``:
        the means before and after each iteration, shape (n_iter + 1, 2).
    """
    x = np.asarray(x, float)
    mu = np.asarray(start, float)
    out, path = {"x": x}, [mu]
    for t in range(1, n_iter + 1):
        r = responsibilities(x, mu, var, weights)
        out[f"r1_it{t}"], out[f"r2_it{t}"] = r[:, 0], r[:, 1]
        mu = mstep(x, r)
        path.append(mu)
    df = pd.DataFrame(out)
    df.attrs["means"] = np.array(path)
    return df
