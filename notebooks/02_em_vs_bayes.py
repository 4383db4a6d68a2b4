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
