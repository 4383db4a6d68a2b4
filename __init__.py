"""mixcompare: the same Gaussian mixture fitted by hand-written EM and by PyMC, compared.

The repository's three top-level folders are this package's sub-packages:
``mixcompare.em`` (EM by hand, numpy and scipy only), ``mixcompare.models``
(the equivalent PyMC models) and ``mixcompare.comparisons`` (data sets, the
comparison pipeline, reports, the ``mixcompare`` command). They are imported
on demand, so ``import mixcompare`` is cheap and gives the version::

    from mixcompare import em, models, comparisons
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mixcompare")
except PackageNotFoundError:  # pragma: no cover - running from a copy that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
