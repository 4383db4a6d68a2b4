"""Comparisons of EM and Bayesian fits: data sets, harness, reports and the CLI."""

from mixcompare.comparisons.pipeline import METHODS, ComparisonResult, compare

__all__ = ["METHODS", "ComparisonResult", "compare"]
