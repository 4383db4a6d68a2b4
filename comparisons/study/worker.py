"""State a worker process keeps between tasks: which models have fitted, quiet loggers.

The PyMC model of a cell depends on the data only through its data
container, so each worker process builds it once per shape and prior
(:func:`models.cached_model`, the one model cache of mixcompare) and swaps
later data sets in. :data:`FITTED` remembers which (model, method) pairs
have fitted already, so that a record can say whether its fit paid for the
compilation.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager

from mixcompare import em

__all__ = ["FITTED", "capture_warnings", "clear_models", "model_for", "quiet_loggers"]

#: (model key, method) pairs that have already fitted in this process
FITTED: set = set()


def clear_models() -> None:
    """Forget this process's cached PyMC models and which of them have fitted."""
    from mixcompare import models

    models.clear_model_cache()
    FITTED.clear()


def model_for(cell, prior, ordered: bool, X):
    """Return the PyMC model of a cell's shape holding the data ``X``, built at most once.

    Returns
    -------
    model : models.MixtureModel
    key : tuple
        The cache key (shape, K, structure, fixed, ordered, prior).
    built : bool
        True when the model was built now, False when it was reused (data swapped).
    seconds : float
        Time to build it or to swap the data.
    """
    from mixcompare import models

    got = models.cached_model(X, cell.K, prior=prior, structure=cell.structure, ordered=ordered)
    return got.model, got.key, got.built, got.seconds


@contextmanager
def capture_warnings(into: list):
    """Record mixcompare's warnings (category: message) into ``into``; silence the others."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, em.MixcompareWarning):
            msg = f"{w.category.__name__}: {w.message}"
            if msg not in into:
                into.append(msg)


@contextmanager
def quiet_loggers(names=("pymc", "pytensor", "numba")):
    """Raise the level of chatty libraries' loggers while a replicate runs."""
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, lvl in saved.items():
            logging.getLogger(n).setLevel(lvl)
