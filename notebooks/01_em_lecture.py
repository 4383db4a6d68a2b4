# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The EM lecture, step by step
#
# We first write EM ourselves — the E-step and the M-step are a few lines of
# numpy each, next to their formulas — and check them against `mixcompare.em`.
# Then the library reproduces the lecture's pictures: the four-bump surface,
# EM's paths and basins, the two-iteration example, CEM's bias, the posterior,
# the CpG data and the galaxies' local optima. `mixcompare lecture --out DIR`
# writes the same slides to a folder (with an interactive page). Settings here
# are small enough to run in CI. Exercises are at the end; their solutions are
# in collapsed cells (click to expand).

# %%
# %matplotlib inline
import logging

import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure
from mixcompare import em
from mixcompare.comparisons import choose_k, datasets
from mixcompare.comparisons.choosek.report import choices_markdown
from mixcompare.comparisons.lecture import figures as lf
from mixcompare.comparisons.lecture import figures_slides as lfs
from mixcompare.comparisons.lecture import slides as lecture
from mixcompare.comparisons.lecture import surface, theory
from scipy.optimize import minimize

rng = np.random.default_rng(20240917)
logging.getLogger("pymc").setLevel(logging.ERROR)

# %% [markdown]
# ## 0. Slides 28-29: one Gaussian in closed form — or two?
#
# The CpG data here are **simulated**: Saxonov, Berg & Brutlag (2006) report
# that 72 % of human promoters are high-CpG and 28 % low-CpG; the means, sds
# and n below are assumptions of mixcompare, not the paper's.
#
# One Gaussian has a closed-form MLE: $\hat\mu = \bar x$,
# $\hat\sigma^2 = \frac1n\sum_i (x_i - \bar x)^2$.

# %%
cpg = datasets.load("cpg")
print(cpg.description)
xc = np.asarray(cpg.X, float).ravel()
mu_hat = xc.mean()
var_hat = np.mean((xc - mu_hat) ** 2)
print(f"closed form: mean {mu_hat:.4f}, variance {var_hat:.5f}")
k_table, k_fits = theory.k_choice(xc, rng=rng)
display(k_table.round(2))
lfs.fig_k_choice(xc, theory.gaussian_mle(xc), k_fits, k_table)

# %% [markdown]
# "This? Or this?": mclust's BIC ($2\ell - p \log n$, higher is better) prefers
# two components by far more than the three extra parameters cost.
#
# ### The K-choice panel: EM's answers beside the posterior's
#
# `comparisons.choose_k` (the `mixcompare choose-k` command) puts every answer
# side by side on the same data under the same prior: EM's BIC, ICL and AIC
# for equal and unequal variances beside the posterior over K from SMC's
# marginal likelihoods (uniform prior on K), as `mixcompare lecture` draws it.
# `parts=` adds the parametric bootstrap likelihood-ratio test of K against
# K + 1 (`"lrt"`, mclust's `mclustBootstrapLRT`), PSIS-LOO (`"loo"`) and the
# overfitted mixture (`"overfitted"`): a minute or more at n = 1000, so the
# sizes here are CI's.

# %%
panel = choose_k(xc, 2, structures=("equal", "unequal"), parts=("em", "smc"), n_init=10,
                 smc_draws=200, smc_chains=2, rng=rng, name="cpg")
display(panel.tree["em"].to_dataset()[["log_likelihood", "bic_mclust", "icl_mclust"]]
        .to_dataframe().round(2))
display(Markdown(choices_markdown(panel)))
print("P(K | y) by SMC:", panel.tree["smc"]["posterior_k"].values.round(4))

# %% [markdown]
# ## 1. The model, and EM written by hand
#
# $$p(x \mid \theta) = \sum_{k=1}^{2} \tau_k\, \mathcal N(x \mid \mu_k, \sigma^2_k),
# \qquad \ell(\theta) = \sum_{i=1}^n \log \sum_{k=1}^2 \tau_k\,
# \mathcal N(x_i \mid \mu_k, \sigma^2_k).$$
#
# **E-step** (Bayes' rule: the probability that point $i$ came from component $k$):
#
# $$r_{ik} = \frac{\tau_k\, \mathcal N(x_i \mid \mu_k, \sigma^2_k)}
# {\sum_j \tau_j\, \mathcal N(x_i \mid \mu_j, \sigma^2_j)}$$

# %%
def normal_pdf(x, mean, var):
    """N(x | mean, var), broadcast."""
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


def e_step(x, weights, means, variances):
    """Responsibilities r (n, K) by Bayes' rule."""
    joint = weights * normal_pdf(x[:, None], means, variances)  # tau_k N(x_i | mu_k, s2_k)
    return joint / joint.sum(axis=1, keepdims=True)


# %% [markdown]
# **M-step**: maximise the expected complete-data log-likelihood
# $Q(\theta) = \sum_i \sum_k r_{ik}[\log\tau_k + \log\mathcal N(x_i\mid\mu_k,\sigma^2_k)]$;
# the answer is a weighted version of the closed form,
#
# $$N_k = \sum_i r_{ik}, \quad \tau_k = N_k / n, \quad \mu_k = \frac{1}{N_k}\sum_i r_{ik} x_i,
# \quad \sigma^2_k = \frac{1}{N_k}\sum_i r_{ik} (x_i - \mu_k)^2.$$

# %%
def m_step(x, r):
    """Return new weights, means and variances from the responsibilities."""
    nk = r.sum(axis=0)
    means = r.T @ x / nk
    variances = (r * (x[:, None] - means) ** 2).sum(axis=0) / nk
    return nk / x.size, means, variances


def log_likelihood(x, weights, means, variances):
    """Return the observed-data log-likelihood, a sum of logs of sums."""
    return np.log((weights * normal_pdf(x[:, None], means, variances)).sum(axis=1)).sum()


# %% [markdown]
# Twenty iterations on the CpG data from a crude start, checked against
# `em.fit` from the same start with the same number of iterations: the same
# numbers, to rounding.

# %%
w, m, v = np.array([0.5, 0.5]), np.array([0.2, 0.8]), np.array([0.05, 0.05])
lls = []
for _ in range(20):
    r = e_step(xc, w, m, v)
    w, m, v = m_step(xc, r)
    lls.append(log_likelihood(xc, w, m, v))
ref = em.fit(xc, 2, init={"weights": [0.5, 0.5], "means": [0.2, 0.8], "variances": [0.05, 0.05]},
             tol=0, max_iter=20)
print("by hand:", np.round(w, 4), np.round(m, 4), np.round(v, 5))
print("em.fit: ", np.round(ref.weights, 4), np.round(ref.means, 4), np.round(ref.variances, 5))
np.testing.assert_allclose(m, ref.means, rtol=1e-8)
np.testing.assert_allclose(w, ref.weights, rtol=1e-8)
np.testing.assert_allclose(v, ref.variances, rtol=1e-8)
np.testing.assert_allclose(lls, ref.trace.log_likelihood[1:], rtol=1e-10)
assert np.all(np.diff(lls) >= -1e-9)  # EM never decreases the likelihood

# %% [markdown]
# ## 2. Nine points, two components, only the means free (slides 32-35)
#
# The data sit in three tight bumps at −10, 0 and 12. With σ₁ = σ₂ = 1 and
# τ₁ = τ₂ = 0.5 held fixed, the log-likelihood is a function of (μ₁, μ₂) alone:
# a landscape we can draw, on the slide's axes −20..20. The 3-D view draws the
# likelihood raised to a power 1/T (same maxima, same basins) so that the worse
# bumps, 33 nats (a factor e⁻³³) below the best, are visible at all.

# %%
x, fixed = lecture.bumps_data()
print(x, fixed)
b = lecture.bumps(lecture.QUICK)
lfs.fig_surface(b.surface)

# %% [markdown]
# Four bumps: (−5, 12) and (12, −5) are the same fit with the labels swapped
# (one component for {−10, 0}, one for {12}); (−10, 6) and (6, −10) are a
# *different*, worse fit (one component for {−10}, one for {0, 12}), 33 nats
# lower. The table also gives the share of a grid of starting points that EM
# and CEM bring to each maximum. An independent check by scipy's optimiser:

# %%
display(b.optima)
for m1, m2 in b.optima[["mu1", "mu2"]].values:
    res = minimize(lambda mu: -surface.mixture_loglik(x, mu[0], mu[1]), [m1 + 0.3, m2 - 0.3],
                   method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12})
    print(f"EM ({m1:.4f}, {m2:.4f})   scipy ({res.x[0]:.4f}, {res.x[1]:.4f})  "
          f"log-lik {-res.fun:.5f}")

# %% [markdown]
# What is held fixed shapes the landscape: with the common variance profiled
# out (maximised at each point) the bumps move.

# %%
lf.fig_profile(b.profile, b.surface)

# %% [markdown]
# EM is a hill climb; the start decides the hill. Our `e_step`/`m_step` with
# the weights and variances held (only the means updated), from eight starts,
# against the library's paths:

# %%
def em_means_by_hand(x, start, n_iter):
    """EM on the means only (weights 0.5, variances 1 fixed): every iterate."""
    mu, path = np.asarray(start, float), [np.asarray(start, float)]
    for _ in range(n_iter):
        r = e_step(x, np.array([0.5, 0.5]), mu, np.array([1.0, 1.0]))
        mu = r.T @ x / r.sum(axis=0)
        path.append(mu)
    return np.array(path)


for s, lib in zip(lecture.PATH_STARTS, b.paths_em["means"].values, strict=True):
    np.testing.assert_allclose(em_means_by_hand(x, s, lib.shape[0] - 1), lib, rtol=1e-6,
                               atol=1e-9)
lf.fig_paths(b.surface, b.paths_em, b.paths_cem)

# %%
lf.fig_basins(b.surface, b.basin_em, b.basin_cem)

# %% [markdown]
# *Optional*: with `ipywidgets` (in the `notebooks` extra) choose the start with
# two sliders and watch where the hand-written EM goes.

# %%
try:
    import ipywidgets as widgets
except ImportError:
    widgets = None
    print("ipywidgets is not installed (pip install -e '.[notebooks]'): no sliders.")


def show_path(mu1=-12.0, mu2=4.0):
    """Draw EM's path on the nine points from (mu1, mu2) over the log-likelihood."""
    p = em_means_by_hand(x, (mu1, mu2), 30)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    g = b.surface["mu1"].values
    ll = b.surface["loglik"].values
    ax.contourf(g, g, np.maximum(ll, ll.max() - 300).T, levels=30, cmap="viridis")
    ax.plot(p[:, 0], p[:, 1], "o-", color="red", ms=3)
    ax.set(xlabel="mu1", ylabel="mu2", aspect="equal",
           title=f"from ({mu1:g}, {mu2:g}) to ({p[-1, 0]:.3f}, {p[-1, 1]:.3f})")
    display(fig)


if widgets is not None:
    widgets.interact(show_path, mu1=(-20.0, 20.0, 0.5), mu2=(-20.0, 20.0, 0.5))
else:
    show_path()

# %% [markdown]
# ## 3. Slide 42: converged after two iterations
#
# **Stand-in data**: six points of ours in two well-separated clusters (near 0
# and 4), σ = 1 and τ = 0.5 fixed, start (1, 2) — the slide's own numbers are
# not reproduced. The first E-step for the point x = 0 by hand:
# $r_1 = 0.5\,\mathcal N(0\mid 1,1) / [0.5\,\mathcal N(0\mid 1,1) + 0.5\,\mathcal N(0\mid 2,1)]$.

# %%
r0 = e_step(np.array([0.0]), np.array([0.5, 0.5]), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
print(f"0.5 N(0|1,1) = {0.5 * normal_pdf(0, 1, 1):.5f}, 0.5 N(0|2,1) = "
      f"{0.5 * normal_pdf(0, 2, 1):.5f}, r_1 = {r0[0, 0]:.4f}")
resp = theory.responsibility_table(lecture.TWO_ITER_X, lecture.TWO_ITER_START, n_iter=2)
display(resp.round(4))
table = lecture.iteration_table()
display(table)
lf.fig_iterations(table)

# %% [markdown]
# ## 4. Classification EM is biased when the components overlap
#
# Simulated data `0.5 N(0, 1) + 0.5 N(sep, 1)`, both algorithms started at the
# truth; a few replicates only.

# %%
bias = lecture.cem_bias((0.5, 1.5, 3.0), n=150, replicates=4, rng=rng)
lf.fig_cem_bias(bias)

# %% [markdown]
# ## 5. The posterior has the same bumps
#
# The PyMC model with the same fixed σ and τ and the default prior: chains
# started at each bump stay there (the valleys are hundreds of nats deep), and
# the ordered model keeps one labelling only.

# %%
post = lecture.bumps_posterior(draws=200, tune=200, rng=rng)
lf.fig_posterior(b.surface, post)

# %% [markdown]
# **Why find_MAP and MAP-EM can land on different points.** With equal fixed
# weights and variances and a prior that treats the components alike, the
# posterior is unchanged when the labels swap: $p(\mu_1, \mu_2 \mid x) =
# p(\mu_2, \mu_1 \mid x)$. So (−5, 12) and (12, −5) have *exactly* the same
# density; which copy an optimiser reaches depends only on its start. They are
# one answer, not a disagreement — compare them up to relabelling (here:
# sorted), and check that the two log-likelihoods are equal (the prior treats
# the two components alike, so the log posteriors are equal too).

# %%
fm = post["find_map"]
me = post["map_path"]["means"].values[0, -1]
print(f"find_MAP at {np.round(fm, 3)}, MAP-EM path ends at {np.round(me, 3)}")
np.testing.assert_allclose(np.sort(fm), np.sort(me), atol=0.05)
print(f"log-likelihood at (a, b) and (b, a): {surface.mixture_loglik(x, fm[0], fm[1]):.6f}, "
      f"{surface.mixture_loglik(x, fm[1], fm[0]):.6f}")
assert np.all(np.isfinite(post["unordered"]["means"].values))

# %% [markdown]
# ## 6. Slide 30: the CpG data (simulated) by EM and MAP-EM
#
# EM (maximum likelihood) and MAP-EM (the same algorithm on the log posterior,
# default prior) on the simulated CpG ratios; the true proportions are 0.72 /
# 0.28. `mixcompare run --data cpg` adds NUTS and the full comparison.

# %%
prior = em.Prior.default(xc)
mle = em.fit(xc, 2, n_init=10, rng=rng)
mapem = em.fit(xc, 2, n_init=10, prior=prior, rng=rng)
display(pd.DataFrame({"EM": np.r_[mle.weights, mle.means, mle.sds],
                      "MAP-EM": np.r_[mapem.weights, mapem.means, mapem.sds]},
                     index=["w1", "w2", "mu1", "mu2", "sd1", "sd2"]).round(4))

# %% [markdown]
# ## 7. Galaxies: EM converges to a local, not global, maximum
#
# Roeder's 82 galaxy velocities with K = 3: fifty restarts of EM reach several
# different optima. `EMResult.optima` is the atlas: each distinct optimum, its
# log-likelihood and how many restarts reached it.

# %%
gal = datasets.load("galaxies")
atlas = em.fit(gal.X, 3, n_init=50, rng=rng)
display(pd.DataFrame([{"log_likelihood": o.log_likelihood, "restarts": o.count,
                       "means": np.round(o.means, 2)} for o in atlas.optima]))
fig = Figure(figsize=(7, 3.5), layout="constrained")
ax = fig.subplots()
ax.bar(range(len(atlas.optima)), [o.log_likelihood for o in atlas.optima], color="0.6")
ax.set(xlabel="optimum", ylabel="log-likelihood", title="galaxies, K = 3: EM's local optima",
       ylim=(min(o.log_likelihood for o in atlas.optima) - 5,
             max(o.log_likelihood for o in atlas.optima) + 2))
display(fig)

# %% [markdown]
# ## Exercises
#
# 1. Find a starting point (μ₁, μ₂) from which EM on the nine points converges
#    to (−10, 6). Use `em_means_by_hand` or `em.fit(x, 2, fixed=fixed,
#    init={"means": [a, b]})`.
# 2. Make CEM's bias vanish: at which separation of the two true means is CEM's
#    bias below 0.1? Why does it shrink?
# 3. Run your `e_step`/`m_step` on the nine points from (0, 1) with the
#    variances free too. What happens to a component's variance, and why is
#    the likelihood unbounded?
# 4. Using `theory.k_choice`, does BIC prefer one or two components for the
#    nine points? And for 200 draws of a single N(0, 1)?

# %% jupyter={"source_hidden": true}
# Solution 1: the basin of (-10, 6) is the region where mu1 is near -10 and mu2 is above
# the middle cluster's share; e.g. start (-12, 4).
end = em_means_by_hand(x, (-12.0, 4.0), 50)[-1]
print("from (-12, 4):", np.round(end, 4))
assert np.allclose(end, (-10, 6), atol=1e-3)

# %% jupyter={"source_hidden": true}
# Solution 2: CEM assigns each point wholly to the nearer mean, which cuts the tails of
# each component off and pushes the means apart; once the components barely overlap
# there are almost no points to misassign.
far = lecture.cem_bias((1.0, 5.0), n=200, replicates=4, rng=rng)
print(far["bias"].sel(algorithm="cem").to_series().round(3))
assert abs(float(far["bias"].sel(algorithm="cem", separation=5.0))) < 0.1

# %% jupyter={"source_hidden": true}
# Solution 3: a component collapses onto one tight cluster, its variance shrinks towards
# the cluster's tiny spread; in the limit of a component on a single point the density
# N(x_i | x_i, s2) = 1 / sqrt(2 pi s2) grows without bound as s2 -> 0.
w3, m3, v3 = np.array([0.5, 0.5]), np.array([0.0, 1.0]), np.array([1.0, 1.0])
for _ in range(200):
    w3, m3, v3 = m_step(x, e_step(x, w3, m3, v3))
print("weights", np.round(w3, 3), "means", np.round(m3, 3), "variances", np.round(v3, 4))
assert v3.min() < 0.1

# %% jupyter={"source_hidden": true}
# Solution 4: three tight clusters make K = 2 far better than K = 1; for one Gaussian's
# draws the two-component fit gains little likelihood and BIC (mclust) prefers K = 1.
t9, _ = theory.k_choice(x, rng=rng)
t1, _ = theory.k_choice(rng.standard_normal(200), rng=rng)
print(t9[["K", "loglik", "bic_mclust"]], t1[["K", "loglik", "bic_mclust"]], sep="\n")
assert t9["bic_mclust"].idxmax() == 1 and t1["bic_mclust"].idxmax() == 0
