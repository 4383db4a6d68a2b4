"""State a worker process keeps between tasks: compiled PyMC models, quiet loggers.

The PyMC model of a cell depends on the data only through ``pm.Data("x")``,
so each worker process builds it once per ``(n, K, structure, ordered,
prior)`` and keeps it in the module-level :data:`MODELS`; later data sets of
that shape are swapped in with ``pm.set_data`` and the model's compiled
functions are reused (:func:`models.fit_nuts` caches them on the model).
:data:`FITTED` remembers which (model, method) pairs have fitted already, so
that a record can say whether its fit paid for the compilation.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from contextlib import contextmanager

from mixcompare import em

__all__ = ["FITTED", "MODELS", "capture_warnings", "clear_models", "model_for", "quiet_loggers"]

#: per-process cache of PyMC models: key -> pymc.Model
MODELS: dict = {}
#: (model key, method) pairs that have already fitted in this process
FITTED: set = set()


def clear_models() -> None:
    """Forget the cached PyMC models of this process."""
    MODELS.clear()
    FITTED.clear()


def model_for(cell, prior, ordered: bool, X):
    """Return the PyMC model of a cell's shape holding the data ``X``, built at most once.

    Parameters
    ----------
    cell : Cell
    prior : em.Prior
    ordered : bool
    X : ndarray of shape (cell.n,)

    Returns
    -------
    model : pymc.Model
    key : tuple
        ``(n, K, structure, ordered, prior)``, the cache key.
    built : bool
        True when the model was built now, False when it was reused (data swapped).
    seconds : float
        Time to build it or to swap the data.
    """
    import pymc as pm
    from mixcompare import models

    key = (cell.n, cell.K, cell.structure, bool(ordered),
           json.dumps(prior.to_dict(), sort_keys=True))
    t = time.perf_counter()
    model = MODELS.get(key)
    if model is None:
        model = models.build_model(X, cell.K, prior=prior, structure=cell.structure,
                                   ordered=ordered)
        MODELS[key] = model
        return model, key, True, time.perf_counter() - t
    pm.set_data({"x": X}, model=model)
    return model, key, False, time.perf_counter() - t


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
