"""Compiled objects of a model, cached on it so that repeated NUTS fits do not recompile.

Simulation studies fit one model to many data sets of the same shape::

    model = build_model(X0, 3)
    for X in data_sets:
        pm.set_data({"x": X}, model=model)
        tree = fit_nuts(model, ...)

A mutable ``pymc.Model`` recompiles everything on every ``pm.sample`` call
(the log density and its gradient, the initial-point functions, the
deterministics recorded in the trace, the element-wise log-likelihood), and
``pm.sample(nuts_sampler="nutpie")`` recompiles the nutpie model. This module
compiles each of them once per model and keeps them on the model
(:func:`cache_for`); the data enter at run time (PyTensor shared variables for
PyMC's sampler, ``CompiledPyMCModel.with_data`` for nutpie), so a later fit
sees the data set currently in ``model["x"]``. The samplers that run around
these functions are in :mod:`models._samplers`.

Nothing that depends on a run is kept: PyMC's NUTS step and its adaptive
mass matrix and step size are built afresh around the cached compiled
function for every run, nutpie starts a new sampler every run, and the chain
starts are recomputed from cached start functions. The same seed therefore
gives the same draws on a first and on any later call.

Only the data change: the prior is part of the compiled model. The default
prior of :func:`models.build_model` (``em.Prior.default(X)``) is scaled to the
data set the model was BUILT on and stays so after ``pm.set_data``; give an
explicit ``prior=`` to ``build_model`` when the data sets are to be analysed
under one prior.

The cache is dropped when the model is pickled (PyMC's multiprocess sampling
pickles the step method, which refers to the model) and rebuilt if the model
gains or loses variables (:func:`cache_for` compares the named variables).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor
import xarray as xr
from pymc.backends.ndarray import NDArray
from pymc.blocking import DictToArrayBijection
from pymc.initial_point import make_initial_point_fn
from pymc.model.transform.conditioning import remove_value_transforms
from pytensor.compile.sharedvalue import SharedVariable

__all__ = [
    "JITTER_MAX_RETRIES",
    "ModelCache",
    "cache_for",
    "cacheable_starts",
    "clear_cache",
    "default_cores",
    "log_likelihood",
    "precompile",
]

#: attempts at a jittered start with a finite log density (PyMC's default)
JITTER_MAX_RETRIES = 10

_ATTR = "_mixcompare_compiled"


def _signature(model: pm.Model) -> tuple:
    """Identity of the model's graph: its named variables (new ones invalidate the cache)."""
    return tuple((name, id(var)) for name, var in model.named_vars.items())


def _data(model: pm.Model) -> dict[str, np.ndarray]:
    """Return the current values of the model's data containers (``pm.Data``)."""
    return {name: var.get_value(borrow=True) for name, var in model.named_vars.items()
            if isinstance(var, SharedVariable)}


def default_cores(cores: int | None, chains: int) -> int:
    """Parallel chains: ``cores``, by default every CPU this process may use, at most 4.

    ``pm.sample`` defaults to ``min(4, cpu_count // 2)``, halving the count
    for hyperthreads; on a machine with two cores and one thread per core
    that leaves a core idle (sampling n = 10 000 took 1.8x as long). The
    draws do not depend on the number of cores (tested).
    """
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        cores = min(4, cores)
    return max(1, min(int(cores), chains))


class _StartFunction:
    """Seeded start of every free variable on the unconstrained scale, compiled once.

    The natural-scale values that override the default (support point) start
    are shared variables set before each call, so new starting values need no
    recompilation. ``jitter`` adds PyMC's U(-1, 1) jitter on the unconstrained
    scale, from the same seeded random graph as ``pm.sample``/nutpie.
    """

    def __init__(self, model: pm.Model, names: tuple[str, ...], jitter: bool, example: Mapping):
        self.shared = {name: pytensor.shared(np.asarray(example[name], dtype=float),
                                             name=f"{name}__start") for name in names}
        self.fn = make_initial_point_fn(
            model=model, overrides=dict(self.shared),
            jitter_rvs=set(model.free_RVs) if jitter else set(),
            default_strategy="support_point", return_transformed=True)
        self.value_names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
        self.lock = threading.Lock()  # nutpie calls starts from several threads

    def set(self, values: Mapping | None) -> None:
        for name, var in self.shared.items():
            var.set_value(np.asarray(values[name], dtype=float))

    def __call__(self, seed) -> dict[str, np.ndarray]:
        with self.lock:
            point = self.fn(seed)
        return {k: np.array(v, dtype=float) for k, v in point.items()}  # own copies

    def flat(self, seed) -> np.ndarray:
        """Start as one float64 vector, in nutpie's order (the model's free variables)."""
        point = self(seed)
        return np.concatenate([np.ravel(point[n]) for n in self.value_names]).astype(float)


class _ReusableNDArray(NDArray):
    """Template trace: every chain gets a fresh ``NDArray`` sharing one compiled function.

    ``pm.sample(trace=...)`` copies the trace it is given once per chain; a
    plain ``NDArray`` would share its sample buffers between the copies.
    """

    def __copy__(self):
        return NDArray(model=self.model, vars=self.vars, fn=self.fn,
                       var_shapes=self.var_shapes, var_dtypes=self.var_dtypes)


class ModelCache:
    """Compiled functions of one model (see the module docstring)."""

    def __init__(self, signature: tuple = ()):
        self.signature = signature
        self._logp_dlogp = None
        self._trace = None
        self._loglik = None
        self._nutpie = None
        self._map_loss = None
        self._starts: dict[tuple, _StartFunction] = {}
        self.compiles: dict[str, int] = {}  # what was compiled, for tests and benchmarks

    def __reduce__(self):
        return (ModelCache, ())  # compiled functions are not pickled with the model

    def _count(self, what: str) -> None:
        self.compiles[what] = self.compiles.get(what, 0) + 1

    def logp_dlogp(self, model: pm.Model):
        """``model.logp_dlogp_function`` on the raveled unconstrained vector (PyMC's NUTS)."""
        if self._logp_dlogp is None:
            fn = model.logp_dlogp_function(ravel_inputs=True)
            fn.trust_input = True
            self._logp_dlogp = fn
            self._count("logp_dlogp")
        return self._logp_dlogp

    def trace(self, model: pm.Model) -> NDArray:
        """Trace template recording the free variables and deterministics (as ``pm.sample``)."""
        if self._trace is None:
            vars_ = model.unobserved_value_vars
            fn = model.compile_fn(
                outs=[pytensor.Out(v, borrow=True) for v in vars_],
                inputs=[pytensor.In(v, borrow=True) for v in model.value_vars],
                point_fn=False, on_unused_input="ignore", trust_input=True)
            self._trace = _ReusableNDArray(model=model, vars=vars_, fn=fn)
            self._count("trace")
        return self._trace

    def start(self, model: pm.Model, values: Mapping | None, jitter: bool) -> _StartFunction:
        """Start function for overrides with the names of ``values`` (None: default start)."""
        names = tuple(sorted(values)) if values else ()
        key = (names, bool(jitter))
        if key not in self._starts:
            self._starts[key] = _StartFunction(model, names, jitter, values or {})
            self._count("start")
        fn = self._starts[key]
        fn.set(values)
        return fn

    def loglik(self, model: pm.Model):
        """Element-wise log-likelihood of the observed variables at natural-scale values.

        Compiled once on the transform-free copy of the model that
        ``pm.compute_log_likelihood`` builds (and recompiles) on every call.
        """
        if self._loglik is None:
            umodel = remove_value_transforms(model)
            names = tuple(rv.name for rv in umodel.observed_RVs)
            fn = umodel.compile_fn(inputs=umodel.value_vars,
                                   outs=umodel.logp(vars=list(umodel.observed_RVs), sum=False),
                                   on_unused_input="ignore")
            self._loglik = (umodel, names, fn)
            self._count("loglik")
        return self._loglik

    def map_loss(self, model: pm.Model):
        """``find_MAP``'s objective: ``-model.logp(jacobian=False)`` and its gradient.

        Compiled once as ``pm.find_MAP`` compiles it on every call
        (``scipy_optimize_funcs_from_loss`` on the raveled continuous value
        variables, in the model's order). Returns ``(f, names)``: ``f(x)``
        gives ``(loss, grad)`` of one float64 vector, ``names`` the value
        variables in the vector's order.
        """
        if self._map_loss is None:
            from pymc.tuning.scipy_interface import scipy_optimize_funcs_from_loss

            vars_ = list(model.continuous_value_vars)
            f, _ = scipy_optimize_funcs_from_loss(
                loss=-model.logp(jacobian=False), inputs=vars_,
                initial_point_dict=model.initial_point(), use_grad=True, use_hess=False,
                use_hessp=False)
            self._map_loss = (f, [v.name for v in vars_])
            self._count("map_loss")
        return self._map_loss

    def nutpie(self, model: pm.Model):
        """``nutpie.compile_pymc_model(model)`` (numba backend), compiled once."""
        if self._nutpie is None:
            import nutpie

            self._nutpie = nutpie.compile_pymc_model(model, backend="numba")
            self._count("nutpie")
        return self._nutpie


def cache_for(model: pm.Model) -> ModelCache:
    """Return the model's cache of compiled functions (new if absent or the model changed)."""
    sig = _signature(model)
    cache = getattr(model, _ATTR, None)
    if not isinstance(cache, ModelCache) or cache.signature != sig:
        cache = ModelCache(sig)
        setattr(model, _ATTR, cache)
    return cache


def clear_cache(model: pm.Model) -> None:
    """Drop the model's compiled functions (the next fit compiles again)."""
    if hasattr(model, _ATTR):
        delattr(model, _ATTR)


def precompile(model: pm.Model, sampler: str = "pymc") -> dict[str, float]:
    """Compile now what ``fit_nuts(model, sampler=sampler)`` needs, and call it once.

    The first call of a compiled function still JIT-compiles part of it, so
    each function is evaluated once at the model's initial point. The chain
    start functions (small, one per kind of start) are compiled by the first
    fit.

    Returns
    -------
    dict
        Seconds spent per compiled object (``logp_dlogp``, ``trace``,
        ``loglik`` for PyMC's sampler; ``nutpie``, ``loglik`` for nutpie).
    """
    if sampler not in ("pymc", "nutpie"):
        raise ValueError(f"sampler must be 'pymc' or 'nutpie', got {sampler!r}.")
    cache = cache_for(model)
    point = model.initial_point()
    times = {}
    t0 = time.perf_counter()
    if sampler == "pymc":
        q, _ = DictToArrayBijection.map({k: point[k] for k in
                                         (v.name for v in model.value_vars)})
        cache.logp_dlogp(model)([q], extra_vars={})
        times["logp_dlogp"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cache.trace(model).fn(**{v.name: point[v.name] for v in model.value_vars})
        times["trace"] = time.perf_counter() - t0
    else:
        cache.nutpie(model)
        times["nutpie"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    umodel, _, fn = cache.loglik(model)
    fn(umodel.initial_point())
    times["loglik"] = time.perf_counter() - t0
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



# ------------------------------------------------------------------------ log-likelihood
def log_likelihood(model: pm.Model, tree) -> xr.Dataset:
    """Element-wise log-likelihood of every posterior draw: ``pm.compute_log_likelihood``.

    Same values, dimensions and coordinates, from a function compiled once
    per model (``pm.compute_log_likelihood`` compiles one on every call).
    """
    from pymc.backends.arviz import apply_function_over_dataset, coords_and_dims_for_inferencedata

    umodel, names, fn = cache_for(model).loglik(model)
    for name, value in _data(model).items():
        if name in umodel.named_vars:
            umodel[name].set_value(value)
    post = tree["posterior"]
    post = post.to_dataset() if hasattr(post, "to_dataset") else post
    post = post[[rv.name for rv in model.free_RVs]]
    post = post.astype({umodel.rvs_to_values[rv].name: umodel.rvs_to_values[rv].type.dtype
                        for rv in umodel.free_RVs}, copy=False)
    coords, dims = coords_and_dims_for_inferencedata(model)
    return apply_function_over_dataset(fn, post, output_var_names=names,
                                       sample_dims=("chain", "draw"), dims=dims, coords=coords,
                                       progressbar=False)
