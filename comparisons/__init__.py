"""Comparisons of EM and Bayesian fits: data sets, harness, reports and the CLI.

``compare``, ``ComparisonResult`` and ``METHODS`` come from :mod:`.pipeline`,
and ``choose_k``, ``ChooseKResult`` from :mod:`.choosek`,
imported when first asked for (it imports PyMC), so that the command line and
the light modules (data sets, I/O) start quickly.
"""

__all__ = ["METHODS", "ChooseKResult", "ComparisonResult", "choose_k", "compare"]


def __getattr__(name):
    if name in ("choose_k", "ChooseKResult"):
        from mixcompare.comparisons import choosek
        return getattr(choosek, name)
    if name in __all__:
        from mixcompare.comparisons import pipeline
        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
