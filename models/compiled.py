"""Compiled objects of a model, kept with it so that repeated fits do not recompile.

Simulation studies fit one model to many data sets of the same shape::

    mm = build_model(X0, 3, prior=prior)
    for X in data_sets:
        tree = fit_nuts(mm.set_data(X), ...)

(or :func:`models.cached_model`, which does this per process). Each of the
following is compiled once per :class:`models.MixtureModel` and kept in its
:class:`ModelCache`: PyMC's NUTS step (one per ``target_accept``), the trace
that records free variables and deterministics, nutpie's compiled model,
``find_MAP``'s objective and gradient (which also checks that jittered
starts are finite), the log density with Jacobian terms (mode masses), and
the maps between natural-scale values and the unconstrained
point. The data enter at run time (``pm.set_data`` for PyMC,
``CompiledPyMCModel.with_data`` for nutpie), so a later fit sees the data
set the model currently holds.

Nothing that depends on a run is kept: ``pm.sample`` resets the NUTS step's
adaptation (mass matrix, step size) and reseeds it for every chain, nutpie
starts a new sampler every run, and the chain starts are recomputed. The
same seed therefore gives the same draws on a first and any later call, and
on a reused model as on a fresh one (tested).

Only the data change: the prior is part of the compiled model (give an
explicit ``prior=`` when data sets are to be analysed under one prior).
The cache is not pickled with the model (PyMC's multiprocess sampling
pickles the step, which refers to the model).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor

from . import _pymc_adapter as adapter

__all__ = [
    "ModelCache",
    "cacheable_starts",
    "default_cores",
    "precompile",
]


def default_cores(cores: int | None, chains: int) -> int:
    """Parallel chains: ``cores``, by default every CPU this process may use, at most 4.

    ``pm.sample`` defaults to ``min(4, cpu_count)``; the CPUs this process
    may use (its affinity) can be fewer. The draws do not depend on the
    number of cores (tested).
    """
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        cores = min(4, cores)
    return max(1, min(int(cores), chains))


class _NutpieModel:
    """nutpie's compiled model with chain starts read from shared variables.

    ``compile_pymc_model(initial_points=...)`` takes the natural-scale start
    of every free variable; they are PyTensor shared variables set before
    each run, so a new start needs no recompilation. nutpie jitters each
    chain's start by U(-1, 1) on the unconstrained scale from its own seed.
    """

    def __init__(self, model: pm.Model, start: Mapping):
        import nutpie

        self.shared = {rv.name: pytensor.shared(np.asarray(start[rv.name], dtype=float),
                                                name=f"{rv.name}__start")
                       for rv in model.free_RVs}
        self.compiled = nutpie.compile_pymc_model(model, backend="numba",
                                                  initial_points=dict(self.shared))
        self.data_names = {var.name for var in self.compiled.shared_var_keys}
        self.lock = threading.Lock()

    def prepared(self, start: Mapping, data: Mapping):
        """Return the compiled model holding ``data``, with the start set to ``start``."""
        for name, var in self.shared.items():
            var.set_value(np.asarray(start[name], dtype=float))
        return self.compiled.with_data(**{k: v for k, v in data.items() if k in self.data_names})


class ModelCache:
    """Compiled functions of one PyMC model (see the module docstring)."""

    def __init__(self):
        self._store: dict = {}
        self.compiles: dict[str, int] = {}  # what was compiled, for tests and benchmarks

    def __reduce__(self):
        return (ModelCache, ())  # compiled functions are not pickled

    def _get(self, key, what: str, make):
        if key not in self._store:
            self._store[key] = make()
            self.compiles[what] = self.compiles.get(what, 0) + 1
        return self._store[key]

    def clear(self) -> None:
        """Drop every compiled function (the next fit compiles again)."""
        self._store.clear()
        self.compiles.clear()

    # ------------------------------------------------------------ maps between scales
    def to_unconstrained(self, model: pm.Model):
        """``f(values) -> point``: natural-scale values -> unconstrained value variables."""
        return self._get("to_unconstrained", "to_unconstrained",
                         lambda: adapter.to_unconstrained_function(model))

    def values(self, model: pm.Model):
        """``f(point) -> values``: unconstrained point -> free variables and deterministics."""
        return self._get("values", "values", lambda: adapter.values_function(model))

    def logp(self, model: pm.Model):
        """Log density with Jacobian terms at a point (mode masses, ``log_density(jacobian=True)``).

        Compiled apart from :meth:`map_loss`: the mode masses call it draw by
        draw, where a gradient computed alongside would cost more than it saves.
        """
        return self._get("logp", "logp", lambda: model.compile_logp(jacobian=True))

    def objective(self, model: pm.Model, point: Mapping) -> float:
        """``model.logp(jacobian=False)`` at an unconstrained ``point``.

        By :meth:`map_loss`'s function when find_MAP has compiled it (a run
        that fits the MAP then compiles nothing more for the check that a
        jittered start has a finite density, or for :func:`models.log_density`);
        else by its own gradient-free function, compiled once (a gradient,
        for full covariances above all, costs far more to compile). With a
        finite unconstrained point the Jacobian terms of the transforms (log,
        simplex, ordered, Cholesky) are finite, so the density is finite with
        them exactly when it is without them.
        """
        if "map_loss" in self._store:
            f, names, _ = self._store["map_loss"]
            return -f(ravel_point(point, names))[0]
        fn = self._get("log_density", "log_density",
                       lambda: model.compile_logp(jacobian=False))
        return float(fn(point))

    def default_start(self, model: pm.Model) -> dict[str, np.ndarray]:
        """Natural-scale values at PyMC's default (support point) start, computed once."""
        def make():
            names = adapter.value_names(model)
            values = self.values(model)(model.initial_point())
            return {rv: values[rv] for rv in names}
        return self._get("default_start", "default_start", make)

    # ------------------------------------------------------------ samplers and optimiser
    def nuts_step(self, model: pm.Model, target_accept: float, initial_point: Mapping,
                  max_treedepth: int = 10):
        """``pm.NUTS`` for this model, ``target_accept`` and ``max_treedepth``, built once.

        ``pm.sample`` resets its adaptation and reseeds it for every chain.
        """
        return self._get(("nuts", float(target_accept), int(max_treedepth)), "nuts_step",
                         lambda: pm.NUTS(model=model, target_accept=float(target_accept),
                                         max_treedepth=int(max_treedepth),
                                         initial_point=dict(initial_point)))

    def trace(self, model: pm.Model):
        """Trace template recording free variables and deterministics (see the adapter)."""
        return self._get("trace", "trace", lambda: adapter.trace_template(model))

    def nutpie(self, model: pm.Model) -> _NutpieModel:
        """Nutpie's compiled model (numba backend)."""
        return self._get("nutpie", "nutpie",
                         lambda: _NutpieModel(model, self.default_start(model)))

    def map_loss(self, model: pm.Model, template: Mapping | None = None):
        """``find_MAP``'s objective ``-model.logp(jacobian=False)`` and its gradient.

        Returns ``(f, names, shapes)``: ``f(x)`` gives ``(loss, grad)`` of one
        float64 vector holding the value variables ``names`` (the model's
        order) of ``shapes``, raveled and concatenated. The shapes are read
        from ``template`` (an unconstrained point of this model) when given,
        else from PyMC's default start (which compiles two more functions).
        """
        def make():
            vars_ = list(model.value_vars)
            loss = -model.logp(jacobian=False)
            grads = pytensor.grad(loss, wrt=vars_)
            fn = model.compile_fn(outs=[loss, *grads], inputs=vars_, point_fn=False,
                                  on_unused_input="ignore")
            point = template if template is not None else (
                self.to_unconstrained(model)(self.default_start(model)))
            shapes = [np.shape(point[v.name]) for v in vars_]
            names = [v.name for v in vars_]
            sizes = [int(np.prod(s)) for s in shapes]
            splits = np.cumsum(sizes)[:-1]
            dtypes = [v.dtype for v in vars_]

            def f(x):
                parts = np.split(np.asarray(x, dtype=float), splits)
                out = fn(*[p.reshape(s).astype(dt) for p, s, dt in
                           zip(parts, shapes, dtypes, strict=True)])
                grad = np.concatenate([np.ravel(g) for g in out[1:]]).astype(float)
                return float(out[0]), grad

            return f, names, shapes
        return self._get("map_loss", "map_loss", make)


def ravel_point(point: Mapping, names) -> np.ndarray:
    """Return the values of ``names`` in ``point``, raveled and concatenated (float64)."""
    return np.concatenate([np.ravel(point[n]) for n in names]).astype(float)


def precompile(mm, sampler: str = "pymc", target_accept: float = 0.9) -> dict[str, float]:
    """Compile now what ``fit_nuts(mm, sampler=sampler)`` needs, and call it once.

    Returns
    -------
    dict
        Seconds spent per compiled object.
    """
    if sampler not in ("pymc", "nutpie"):
        raise ValueError(f"sampler must be 'pymc' or 'nutpie', got {sampler!r}.")
    model, cache = mm.model, mm.cache
    times = {}
    t0 = time.perf_counter()
    start = cache.default_start(model)
    point = cache.to_unconstrained(model)(start)
    cache.objective(model, point)
    times["starts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if sampler == "pymc":
        cache.nuts_step(model, target_accept, point)
        times["nuts_step"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cache.trace(model).fn(**point)
        times["trace"] = time.perf_counter() - t0
    else:
        cache.nutpie(model)
        times["nutpie"] = time.perf_counter() - t0
    return times


def cacheable_starts(initvals) -> bool:
    """Whether every start value is numeric (strategy strings and None need ``pm.sample``)."""
    per = initvals if isinstance(initvals, (list, tuple)) else [initvals]
    for values in per:
        if values is None:
            continue
        if not isinstance(values, Mapping):
            return False
        for v in values.values():
            if v is None or isinstance(v, str):
                return False
    return True
