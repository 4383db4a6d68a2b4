"""Shared fixtures: one short comparison per (data set, structure), run once per session.

The end-to-end tests and the multivariate figure tests (both in
test_e2e_datasets.py, so one xdist worker runs them) read the same
comparisons, so each of these PyMC models is built, compiled and sampled once.
"""

from __future__ import annotations

import warnings

import pytest
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import compare

#: tiny chains: these runs check that everything is computed and reported, not the numbers
SHORT = {"draws": 40, "tune": 40, "chains": 2, "n_boot": 5, "n_init": 5, "max_treedepth": 6}


@pytest.fixture(scope="session")
def short_comparison():
    """Return ``get(name, structure)``: the short comparison of a bundled data set, cached."""
    cache = {}

    def get(name: str, structure: str):
        if (name, structure) not in cache:
            ds = datasets.load(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", UserWarning)
                cache[name, structure] = compare(
                    ds.X, ds.default_k, structure=structure, fixed=ds.fixed, rng=0,
                    command=f"e2e {name} {structure}", **ds.metadata(), **SHORT)
        return cache[name, structure]

    return get
