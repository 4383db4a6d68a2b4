"""Comparisons of EM and Bayesian fits: data sets, harness, reports and the CLI.

``compare``, ``ComparisonResult`` and ``METHODS`` come from :mod:`.pipeline`,
imported when first asked for (it imports PyMC), so that the command line and
the light modules (data sets, I/O) start quickly.
"""

__all__ = ["METHODS", "ComparisonResult", "compare"]


def __getattr__(name):
    if name in __all__:
        from mixcompare.comparisons import pipeline
        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
