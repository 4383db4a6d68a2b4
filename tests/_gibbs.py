"""Test-only reference: a Gibbs sampler of the 1-D mixture posterior, independent of PyMC.

Data augmentation with the exact conjugate conditionals of ``em.Prior``'s 1-D
``unequal`` prior (weights ``Dirichlet(alpha)``, ``sigma2_k ~ InvGamma(a, b)``,
``mu_k | sigma2_k ~ Normal(m0, sigma2_k / kappa)``). Given the labels ``z`` each
component's ``(mu_k, sigma2_k)`` is Normal-Inverse-Gamma and the weights are
Dirichlet (Gelman et al., *Bayesian Data Analysis*, 3rd ed., sec. 3.6 and 22.2;
Diebolt & Robert 1994)::

    n_k = #{i: z_i = k},  xbar_k = mean of x_i with z_i = k
    kappa_n = kappa + n_k,  m_n = (kappa m0 + n_k xbar_k) / kappa_n
    a_n = a + n_k / 2,  b_n = b + (sum_{z_i=k} x_i^2 + kappa m0^2 - kappa_n m_n^2) / 2
    sigma2_k | z ~ InvGamma(a_n, b_n),  mu_k | sigma2_k, z ~ Normal(m_n, sigma2_k / kappa_n)
    w | z ~ Dirichlet(alpha + n)

With fixed variances only ``mu_k | z ~ Normal(m_n, sigma2_k / kappa_n)`` is
drawn; with fixed weights the Dirichlet step is skipped. Many chains run side by
side, vectorised over the chain axis.

The ordered model (``mu_1 < ... < mu_K``): the prior is exchangeable (one
``alpha``, ``m0``, ``a``, ``b``, ``kappa`` for every component), so the ordered
posterior is the unordered one restricted to the ordered cone times ``K!``; a
draw of the unordered posterior with its components sorted by their means is a
draw of the ordered posterior. ``ordered=True`` sorts each draw.
"""

from __future__ import annotations

import numpy as np


def gibbs(x, K, prior, *, sweeps, chains, rng, start, burn=500, fixed=None, ordered=False):
    """Run ``chains`` independent Gibbs chains from ``start``; return draws (chains, sweeps, K).

    ``start`` holds ``weights``, ``means`` and ``variances`` of shape (K,) (e.g. a
    MAP-EM optimum, so that every chain begins in the main mode). Returns a dict
    with ``weights``, ``means``, ``sds`` (each (chains, sweeps, K)).
    """
    rng = np.random.default_rng(rng)
    x = np.asarray(x, float)
    fixed = fixed or {}
    alpha = np.broadcast_to(np.asarray(prior.alpha, float), (K,))
    m0, kappa, a, b = float(prior.m0), float(prior.kappa), float(prior.a), float(prior.b)
    C = chains
    def tile(name):
        return np.broadcast_to(np.asarray(fixed.get(name, start[name]), float), (C, K)).copy()

    w, s2, mu = tile("weights"), tile("variances"), tile("means")
    out = {k: np.empty((C, sweeps, K)) for k in ("weights", "means", "sds")}
    x2 = x * x
    for t in range(burn + sweeps):
        # labels: z_i | theta ~ Categorical(w_k N(x_i | mu_k, s2_k))
        logp = (np.log(w)[:, None, :] - 0.5 * np.log(s2)[:, None, :]
                - 0.5 * (x[None, :, None] - mu[:, None, :]) ** 2 / s2[:, None, :])
        p = np.exp(logp - logp.max(axis=2, keepdims=True))
        cdf = np.cumsum(p, axis=2)
        u = rng.random((C, x.size, 1)) * cdf[:, :, -1:]
        z = (u > cdf).sum(axis=2)                      # (C, n)
        onehot = (z[:, :, None] == np.arange(K)).astype(float)   # (C, n, K)
        nk = onehot.sum(axis=1)
        sx = x @ onehot
        sx2 = x2 @ onehot
        if "weights" not in fixed:
            g = rng.standard_gamma(alpha + nk)
            w = g / g.sum(axis=1, keepdims=True)
        kn = kappa + nk
        mn = (kappa * m0 + sx) / kn
        if "variances" not in fixed:
            bn = b + 0.5 * (sx2 + kappa * m0 ** 2 - kn * mn ** 2)
            s2 = bn / rng.standard_gamma(a + 0.5 * nk)
        mu = mn + np.sqrt(s2 / kn) * rng.standard_normal((C, K))
        if t >= burn:
            i = t - burn
            order = np.argsort(mu, axis=1) if ordered else np.broadcast_to(np.arange(K), (C, K))
            out["weights"][:, i] = np.take_along_axis(w, order, 1)
            out["means"][:, i] = np.take_along_axis(mu, order, 1)
            out["sds"][:, i] = np.sqrt(np.take_along_axis(s2, order, 1))
    return out
