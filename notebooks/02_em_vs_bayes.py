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
# # EM against the posterior: one full comparison
#
# Old Faithful waiting times, K = 2: EM (with Louis and bootstrap standard
# errors and the atlas of optima), MAP-EM, `find_MAP` and NUTS with the same
# prior, through `comparisons.compare`. The tables below are the report's
# (`summary.json`), the figures the report's (`mixcompare.comparisons.report.figures`). NUTS runs
# are kept short for CI (2 chains × (200 tune + 200 draws)); use the defaults
# of `mixcompare run` for real work.

# %%
# %matplotlib inline
import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import compare
from mixcompare.comparisons.report import figures
from mixcompare.comparisons.report.comparison import write_report

rng = np.random.default_rng(19900412)
logging.getLogger("pymc").setLevel(logging.ERROR)

# %%
ds = datasets.load("faithful")
print(ds.description)
result = compare(ds.X, 2, draws=200, tune=200, chains=2, n_boot=50, n_init=10, rng=rng,
                 name=ds.name)
summary = result.summary()

# %% [markdown]
# ## Agreement
#
# Per parameter: EM's MLE, MAP-EM, `find_MAP`, the posterior mean, sd and 94 %
# HDI, and `z = (MLE − posterior mean) / posterior sd`. The rule: EM and the
# posterior agree on a parameter when |z| ≤ 2. A pooled verdict is given only
# when the diagnostics allow one (one mode, every chain settled, relabelled
# R-hat ≤ 1.01, bulk ESS ≥ 400): with this notebook's short chains the bulk ESS
# can fall short, and then there is no `agree` column and the verdict says why.
# `dominant` names the largest part of the distance from the MLE to the
# posterior mean: the prior, the posterior's asymmetry, or several modes.

# %%
agr = summary["agreement"]
print("verdict:", agr["verdict"], "--", agr["reason"])
agreement = pd.DataFrame(agr["rows"]).set_index("name")
cols = [c for c in ("em", "map_em", "map", "post_mean", "post_sd", "hdi_low", "hdi_high", "z",
                    "agree", "dominant") if c in agreement]
display(agreement[cols].round(4))
print(agr["rule"])

# %%
figures.fig_intervals(result.tree)

# %% [markdown]
# ## What EM's point estimate hides
#
# The posterior sd against EM's standard errors (Louis and bootstrap), and the
# observations whose membership is uncertain.

# %%
hidden = summary["hidden_spread"]
display(pd.DataFrame(hidden["rows"]).set_index("name").round(3))
print({k: v for k, v in hidden.items() if k != "rows"})

# %%
figures.fig_data_density(result.tree)

# %%
figures.fig_membership(result.tree)

# %% [markdown]
# ## Local optima and the posterior's modes
#
# EM's restarts and the optima they reached, and where the NUTS chains settled.

# %%
display(pd.DataFrame(summary["em"]["optima"]))
nuts = summary["nuts"]
print(f"census: {nuts['census']['kind']} ({nuts['census']['reason']})")
print(f"label switching: {nuts['label_switching']['reason']}")
print(f"R-hat max {nuts['rhat_max']:.3f} raw, {nuts['rhat_max_relabeled']:.3f} relabelled; "
      f"divergences {nuts['divergences']}")

# %%
figures.fig_em_traces(result.tree)

# %%
figures.fig_pair_means(result.tree)

# %% [markdown]
# ## The whole report
#
# `write_report` renders the same tree as Markdown and HTML with every figure.

# %%
with tempfile.TemporaryDirectory() as tmp:
    files = write_report(result, tmp, seed=19900412, data_name=ds.name)
    report = (Path(tmp) / "report.md").read_text()
print(sorted(files))
display(Markdown(report.split("\n## ")[0]))
assert summary["problems"] == [] or all(isinstance(p, str) for p in summary["problems"])

# %% [markdown]
# ## Exercises
#
# 1. Which parameter's posterior sd is furthest from EM's Louis standard
#    error (ratio `sd_over_se_louis` in the hidden-spread table), and why might
#    the two disagree for that parameter?
# 2. The prior: refit EM as MAP-EM with `em.Prior.default(ds.X)` and compare
#    the estimates with the MLE. Which parameter moves most, and is the shift
#    small against the posterior sd?
# 3. How many observations change their hard label between EM's plug-in
#    responsibilities and the posterior's membership probabilities?

# %% jupyter={"source_hidden": true}
# Solution 1: the ratio closest to 0 or furthest above 1. Louis' standard error is a
# local (curvature) approximation at the MLE; the posterior sd also sees skewness (sds
# are bounded below by 0) and the prior.
rows = pd.DataFrame(hidden["rows"]).set_index("name")
ratio = rows["sd_over_se_louis"].dropna()
worst = (np.log(ratio)).abs().idxmax()
print(f"furthest from 1: {worst}, posterior sd / Louis se = {ratio[worst]:.3f}")
assert ratio.between(0.2, 5).all()

# %% jupyter={"source_hidden": true}
# Solution 2: MAP-EM maximises the log posterior; with a weak default prior the shift is a
# small fraction of the posterior sd.
from mixcompare import em  # noqa: E402

mle_fit = em.fit(ds.X, 2, n_init=10, rng=rng)
map_fit = em.fit(ds.X, 2, n_init=10, prior=em.Prior.default(ds.X), rng=rng)
# labels are arbitrary: compare components in increasing order of their means, everywhere
a, b = np.argsort(mle_fit.means.ravel()), np.argsort(map_fit.means.ravel())
shift = np.r_[map_fit.means.ravel()[b] - mle_fit.means.ravel()[a],
              map_fit.sds.ravel()[b] - mle_fit.sds.ravel()[a]]
print("MAP-EM minus EM (means, sds):", np.round(shift, 4))
o = np.argsort(agreement.loc[["means[0]", "means[1]"], "post_mean"].values)
post_sd = np.r_[agreement.loc[["means[0]", "means[1]"], "post_sd"].values[o],
                agreement.loc[["sds[0]", "sds[1]"], "post_sd"].values[o]]
print("shift / posterior sd:", np.round(shift / post_sd, 3))
assert np.all(np.abs(shift / post_sd) < 1)

# %% jupyter={"source_hidden": true}
# Solution 3: from the hidden-spread summary.
print(f"{hidden['n_changed_label']} observations change hard label; "
      f"{hidden['n_uncertain']} have membership uncertainty above 0.2")
assert hidden["n_changed_label"] >= 0
