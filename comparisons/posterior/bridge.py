"""Integrals of an unnormalised density over one region: bridge sampling and Laplace.

A posterior mode's mass is proportional to ``Z_m = ∫_{A_m} p̃(θ) dθ``, the
unnormalised posterior density integrated over the mode's region ``A_m``.
These kernels estimate ``log Z_m`` from a callable ``log_target`` that
returns ``log p̃(θ)`` inside the region and ``-inf`` outside, on the
unconstrained space (Jacobian terms included). They know nothing of
mixtures: :mod:`.mass` applies them to the PyMC model's modes.

References
----------
Meng, X.-L. & Wong, W. H. (1996). Simulating ratios of normalizing constants via a
simple identity. *Statistica Sinica* 6, 831-860.
Frühwirth-Schnatter, S. (2004). Estimating marginal likelihoods for mixture and
Markov switching models using bridge sampling techniques. *Econometrics Journal*
7, 143-167.
Gronau, Q. F. et al. (2017). A tutorial on bridge sampling. *Journal of
Mathematical Psychology* 81, 80-97.
Tierney, L. & Kadane, J. B. (1986). Accurate approximations for posterior moments
and marginal densities. *JASA* 81(393), 82-86.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

__all__ = ["Evidence", "bridge_log_evidence", "fd_hessian", "integrated_time",
           "laplace_log_evidence", "masses_from_log_evidence"]

#: bridge sampling's fixed-point iteration stops when log r moves less than this
_TOL = 1e-10


@dataclass(frozen=True)
class Evidence:
    """A log integral with its estimated standard error and the method that gave it.

    Attributes
    ----------
    log_z : float
        Estimated ``log Z`` (NaN when no estimate could be made).
    sd : float
        Its standard error (bridge sampling: the square root of the relative
        mean-squared error of ``Z``, which is the sd of ``log Z`` to first
        order); NaN when not quantified (Laplace).
    method : str
        ``"bridge"``, ``"laplace"`` or ``"none: <why>"``.
    n_draws : int
        Posterior draws used (0 for Laplace).
    """

    log_z: float
    sd: float
    method: str
    n_draws: int = 0


def gaussian_logpdf(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Log density of ``N(mean, L L^T)`` at the rows of ``x`` of shape (N, p)."""
    from scipy.linalg import solve_triangular

    z = solve_triangular(chol, (x - mean).T, lower=True)
    p = mean.size
    return (-0.5 * np.sum(z * z, axis=0) - np.sum(np.log(np.diag(chol)))
            - 0.5 * p * np.log(2 * np.pi))


def integrated_time(f: np.ndarray, chain: np.ndarray) -> float:
    """Integrated autocorrelation time of ``f`` by batch means within chains (>= 1).

    ``tau = b * Var(batch means) / Var(f)`` with batches of ``b ≈ sqrt(n)``
    consecutive draws of one chain (Flegal & Jones 2010).
    """
    var = np.var(f)
    if not var > 0:
        return 1.0
    means, b = [], max(1, int(np.sqrt(f.size / max(1, np.unique(chain).size))))
    for c in np.unique(chain):
        fc = f[chain == c]
        nb = fc.size // b
        if nb >= 2:
            means.append(fc[: nb * b].reshape(nb, b).mean(axis=1))
    if not means or sum(m.size for m in means) < 2 or b == 1:
        return 1.0
    return max(1.0, b * float(np.var(np.concatenate(means))) / var)


def bridge_log_evidence(log_target, draws: np.ndarray, rng, *, chain=None,
                        max_iter: int = 1000) -> Evidence:
    r"""Estimate ``log ∫ p̃`` by bridge sampling with a Gaussian proposal fitted to the draws.

    Parameters
    ----------
    log_target : callable
        ``log_target(x)`` for ``x`` of shape (N, p) returns ``log p̃`` of shape
        (N,), ``-inf`` outside the region integrated over.
    draws : ndarray of shape (S, p)
        Draws from ``p̃`` restricted to the region (MCMC draws, in chain order);
        up to 10 % outside it (ties on its edge) are dropped, more is an error.
    rng : int, numpy.random.Generator or None
        For the proposal's draws.
    chain : ndarray of shape (S,), optional
        The chain of each draw (for the autocorrelation of the error term);
        default one chain.
    max_iter : int, default 1000
        Iterations of the fixed point.

    Returns
    -------
    Evidence
        ``method="bridge"``.

    Notes
    -----
    The draws are split in two interleaved halves: the first fits the
    proposal ``g = N(mean, cov)``, the second (``N1`` draws) enters the
    estimator with ``N2 = N1`` draws from ``g`` (Overstall & Forster's split,
    as Gronau et al. 2017). With ``l(θ) = p̃(θ)/g(θ)``, ``s_i = N_i/(N1+N2)``,
    Meng & Wong's optimal bridge gives the fixed point

    .. math:: r \leftarrow \frac{N_2^{-1} \sum_i l(\tilde θ_i) / (s_1 l(\tilde θ_i) + s_2 r)}
                                 {N_1^{-1} \sum_j 1 / (s_1 l(θ_j) + s_2 r)},

    with ``θ̃_i ~ g`` and ``θ_j`` the posterior draws; ``r → Z``. Its relative
    mean-squared error (Frühwirth-Schnatter 2004, eq. 14) is
    ``Var(f1)/(N2 E[f1]^2) + τ Var(f2)/(N1 E[f2]^2)`` with ``f1 = p/(s1 p + s2 g)``
    at the proposal draws, ``f2 = g/(s1 p + s2 g)`` at the posterior draws,
    ``p = p̃/Z`` and ``τ`` the integrated autocorrelation time of ``f2``.
    """
    rng = np.random.default_rng(rng)
    draws = np.asarray(draws, dtype=float)
    chain = np.zeros(len(draws), int) if chain is None else np.asarray(chain)
    fit, est = draws[0::2], draws[1::2]
    chain_est = chain[1::2]
    p = draws.shape[1]
    mean = fit.mean(axis=0)
    cov = np.atleast_2d(np.cov(fit, rowvar=False)) + 1e-10 * np.eye(p)
    chol = np.linalg.cholesky(cov)
    n1 = n2 = len(est)
    prop = mean + rng.standard_normal((n2, p)) @ chol.T
    l1 = log_target(est) - gaussian_logpdf(est, mean, chol)
    l2 = log_target(prop) - gaussian_logpdf(prop, mean, chol)
    inside = np.isfinite(l1)  # a draw on the region's edge (a tie) may test outside
    if inside.mean() < 0.9:
        raise ValueError(f"{int(np.sum(~inside))} of {inside.size} posterior draws have no "
                         "finite density in the region: give draws from inside the region.")
    l1, chain_est = l1[inside], chain_est[inside]
    n1 = int(inside.sum())
    shift = float(np.median(l1))  # work with l / exp(shift) to keep exp() in range
    l1, l2 = l1 - shift, l2 - shift
    ls1, ls2 = np.log(n1 / (n1 + n2)), np.log(n2 / (n1 + n2))
    log_r = 0.0
    for _ in range(max_iter):
        num = logsumexp(l2 - np.logaddexp(ls1 + l2, ls2 + log_r)) - np.log(n2)
        den = logsumexp(-np.logaddexp(ls1 + l1, ls2 + log_r)) - np.log(n1)
        new = num - den
        done = abs(new - log_r) < _TOL
        log_r = new
        if done:
            break
    # relative mean-squared error (Frühwirth-Schnatter 2004)
    f1 = np.exp(l2 - log_r - np.logaddexp(ls1 + l2 - log_r, ls2))
    f2 = np.exp(-np.logaddexp(ls1 + l1 - log_r, ls2))
    tau = integrated_time(f2, chain_est)
    re2 = (np.var(f1) / (n2 * np.mean(f1) ** 2)
           + tau * np.var(f2) / (n1 * np.mean(f2) ** 2))
    return Evidence(float(log_r + shift), float(np.sqrt(re2)), "bridge", int(len(draws)))


def fd_hessian(f, x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Hessian of a scalar function by central second differences."""
    p = x.size
    H = np.empty((p, p))
    f0 = f(x)
    e = np.eye(p) * h
    for i in range(p):
        H[i, i] = (f(x + e[i]) - 2 * f0 + f(x - e[i])) / h**2
        for j in range(i):
            H[i, j] = H[j, i] = (f(x + e[i] + e[j]) - f(x + e[i] - e[j])
                                 - f(x - e[i] + e[j]) + f(x - e[i] - e[j])) / (4 * h**2)
    return H


def laplace_log_evidence(log_target, start: np.ndarray) -> tuple[Evidence, np.ndarray]:
    """Laplace approximation of ``log ∫ p̃`` at the mode of ``p̃`` climbed to from ``start``.

    Parameters
    ----------
    log_target : callable
        As in :func:`bridge_log_evidence` (rows of shape (N, p)).
    start : ndarray of shape (p,)

    Returns
    -------
    evidence : Evidence
        ``method="laplace"``, ``sd`` NaN (the approximation's error is not
        quantified); ``method="none: ..."`` when the climb fails or the
        Hessian is not negative definite.
    mode : ndarray of shape (p,)
        The point reached.

    Notes
    -----
    ``log Z ≈ log p̃(θ*) + (p/2) log 2π − ½ log det H`` with ``θ*`` the mode
    (L-BFGS-B on finite-difference gradients) and ``H = −∇² log p̃(θ*)`` by
    central differences (Tierney & Kadane 1986). Exact for a Gaussian ``p̃``.
    """
    from scipy.optimize import minimize

    def neg(x):
        v = float(np.atleast_1d(log_target(np.asarray(x, float)[None, :]))[0])
        return -v if np.isfinite(v) else 1e300

    x0 = np.asarray(start, dtype=float)
    if neg(x0) >= 1e300:
        return Evidence(np.nan, np.nan, "none: no finite density at the start"), x0
    res = minimize(neg, x0, method="L-BFGS-B", options={"maxiter": 2000})
    x = res.x
    H = fd_hessian(lambda y: -neg(y), x)
    sign, logdet = np.linalg.slogdet(-H)
    if sign <= 0 or not np.isfinite(logdet):
        return Evidence(np.nan, np.nan, "none: the Hessian at the mode is not definite"), x
    log_z = -neg(x) + 0.5 * x.size * np.log(2 * np.pi) - 0.5 * logdet
    return Evidence(float(log_z), np.nan, "laplace", 0), x


def masses_from_log_evidence(log_z, sd) -> tuple[np.ndarray, np.ndarray]:
    """Masses ``softmax(log Z)`` over the finite entries, with delta-method sds.

    Parameters
    ----------
    log_z, sd : array_like of shape (M,)
        Log integrals and their standard errors (NaN sd: counted as 0 in the
        propagation, i.e. the Monte Carlo part only).

    Returns
    -------
    mass, mass_sd : ndarray of shape (M,)
        NaN where ``log_z`` is NaN.

    Notes
    -----
    ``m_k = exp(ℓ_k) / Σ_j exp(ℓ_j)``; with independent errors ``σ_j`` on
    ``ℓ_j``, ``∂m_k/∂ℓ_j = m_k (δ_kj − m_j)`` gives
    ``Var m_k ≈ m_k² ((1 − m_k)² σ_k² + Σ_{j≠k} m_j² σ_j²)``.
    """
    log_z, sd = np.asarray(log_z, float), np.nan_to_num(np.asarray(sd, float))
    ok = np.isfinite(log_z)
    mass = np.full(log_z.shape, np.nan)
    mass_sd = np.full(log_z.shape, np.nan)
    if not ok.any():
        return mass, mass_sd
    m = np.exp(log_z[ok] - logsumexp(log_z[ok]))
    s = sd[ok]
    J = m[:, None] * (np.eye(m.size) - m[None, :])
    mass[ok] = m
    mass_sd[ok] = np.sqrt((J**2) @ (s**2))
    return mass, mass_sd
