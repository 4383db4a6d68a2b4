"""Comparisons of EM and Bayesian fits: data sets, harness, reports and the CLI."""
