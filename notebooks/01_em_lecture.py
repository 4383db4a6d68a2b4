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
# Every number of the lecture is computed by `mixcompare.comparisons.lecture` and
# `comparisons.surface`; the figures come from `comparisons.lecture_figures`,
# which only draws. `mixcompare lecture --out DIR` writes the same slides to a
# folder. Settings here are small enough to run in CI.

# %%
# %matplotlib inline
import logging

import numpy as np
from IPython.display import display
from mixcompare.comparisons.lecture import figures as lf
from mixcompare.comparisons.lecture import slides as lecture
from mixcompare.comparisons.lecture import surface
from scipy.optimize import minimize

rng = np.random.default_rng(20240917)
logging.getLogger("pymc").setLevel(logging.ERROR)

# %% [markdown]
# ## 1. Nine points, two components, only the means free
#
# The data sit in three tight bumps at −10, 0 and 12. With σ₁ = σ₂ = 1 and
# τ₁ = τ₂ = 0.5 held fixed, the log-likelihood is a function of (μ₁, μ₂) alone:
# a landscape we can draw.

# %%
x, fixed = lecture.bumps_data()
print(x, fixed)
b = lecture.bumps(lecture.QUICK)
lf.fig_surface(b.surface)

# %% [markdown]
# Four bumps: (−5, 12) and (12, −5) are the same fit with the labels swapped
# (one component for {−10, 0}, one for {12}); (−10, 6) and (6, −10) are a
# *different*, worse fit (one component for {−10}, one for {0, 12}), 33 nats
# lower. The grid maxima were refined by EM; the table also gives the share of
# a grid of starting points that EM and CEM bring to each maximum.

# %%
display(b.optima)

# %% [markdown]
# An independent check: scipy's optimiser from each bump lands on the same
# points with the same log-likelihood.

# %%
for m1, m2 in b.optima[["mu1", "mu2"]].values:
    res = minimize(lambda mu: -surface.mixture_loglik(x, mu[0], mu[1]), [m1 + 0.3, m2 - 0.3],
                   method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12})
    print(f"EM ({m1:.4f}, {m2:.4f})   scipy ({res.x[0]:.4f}, {res.x[1]:.4f})  "
          f"log-lik {-res.fun:.5f}")

# %% [markdown]
# What is held fixed shapes the landscape: with the common variance profiled
# out (maximised at each point) the worse bumps disappear.

# %%
lf.fig_profile(b.profile, b.surface)

# %% [markdown]
# ## 2. EM is a hill climb; the start decides the hill
#
# `em.fit(x, 2, fixed=..., init={"means": start}, tol=0, max_iter=k)` keeps
# every iterate in `trace`; here from eight starts, for EM and for
# classification EM (hard assignments).

# %%
lf.fig_paths(b.surface, b.paths_em, b.paths_cem)

# %%
lf.fig_basins(b.surface, b.basin_em, b.basin_cem)

# %% [markdown]
# ## 3. Converged after two iterations
#
# Six points in two well-separated clusters (near 0 and 4), σ = 1 and τ = 0.5:
# the lecture's spreadsheet.

# %%
table = lecture.iteration_table()
display(table)

# %%
lf.fig_iterations(table)

# %% [markdown]
# ## 4. Classification EM is biased when the components overlap
#
# Simulated data `0.5 N(0, 1) + 0.5 N(sep, 1)`, both algorithms started at the
# truth; a few replicates only (the full run in `mixcompare lecture` has more,
# and the posterior mean alongside).

# %%
bias = lecture.cem_bias((0.5, 1.5, 3.0), n=150, replicates=4, rng=rng)
lf.fig_cem_bias(bias)

# %% [markdown]
# ## 5. The posterior has the same bumps
#
# The PyMC model with the same fixed σ and τ and the default prior: chains
# started at each bump stay there (the valleys are hundreds of nats deep),
# and the ordered model keeps one labelling only.

# %%
post = lecture.bumps_posterior(draws=200, tune=200, rng=rng)
lf.fig_posterior(b.surface, post)

# %%
ll = surface.mixture_loglik(x, *post["find_map"])
print(f"find_MAP at {np.round(post['find_map'], 3)}, log-likelihood {ll:.3f}; "
      f"MAP-EM path ends at {np.round(post['map_path']['means'].values[0, -1], 3)}")
assert np.all(np.isfinite(post["unordered"]["means"].values))
