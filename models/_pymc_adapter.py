"""The one place where :mod:`models` relies on PyMC beyond its documented API.

Written for PyMC 6.4 (:data:`WRITTEN_FOR`). Every other module of ``models``
uses PyMC's documented API only: ``pm.Model`` and its methods
(``compile_fn``, ``compile_logp``, ``logp``, ``initial_point``), the
distributions, ``pm.Data``/``pm.set_data``, ``pm.sample``, ``pm.NUTS``,
``pm.distributions.transforms``; nutpie's ``compile_pymc_model``,
``CompiledPyMCModel.with_data`` and ``sample``. ``tests/test_models_adapter.py``
checks each item below and fails with a message naming the PyMC version
this module was written for when one has changed.

What is used here, and why compile-once reuse needs it:

1. ``pymc.backends.ndarray.NDArray`` (constructor keywords ``model``,
   ``vars``, ``fn``, ``var_shapes``, ``var_dtypes``), subclassed as
   :class:`TraceTemplate`. ``pm.sample(trace=...)`` accepts a backend
   instance and copies it once per chain; without it ``pm.sample``
   compiles the function that records the free variables and
   deterministics on every call (about 0.3 s, as long as a short fit). The
   template hands every chain a fresh ``NDArray`` sharing one compiled
   function.
2. ``Model.rvs_to_values``, ``Model.rvs_to_transforms`` and
   ``Model.unobserved_value_vars`` with ``Transform.forward``: the map
   between natural-scale values (``weights``, ``means``...) and the
   unconstrained value variables the optimiser and samplers move, compiled
   once per model (:func:`to_unconstrained_function`,
   :func:`values_function`). ``pm.find_MAP`` and ``model.initial_point``
   rebuild and recompile these maps on every call.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pymc.backends.ndarray import NDArray

__all__ = [
    "WRITTEN_FOR",
    "TraceTemplate",
    "check_internals",
    "to_unconstrained_function",
    "trace_template",
    "value_names",
    "values_function",
]

#: the PyMC minor version these internals were checked against
WRITTEN_FOR = "6.4"


class TraceTemplate(NDArray):
    """Trace handed to ``pm.sample(trace=...)``: each chain's copy is a fresh ``NDArray``.

    All copies share the one compiled recording function; a plain
    ``NDArray`` would share its sample buffers between chains.
    """

    def __copy__(self):
        return NDArray(model=self.model, vars=self.vars, fn=self.fn,
                       var_shapes=self.var_shapes, var_dtypes=self.var_dtypes)


def trace_template(model) -> TraceTemplate:
    """Compile the function recording free variables and deterministics, as ``pm.sample`` does."""
    vars_ = model.unobserved_value_vars
    fn = model.compile_fn(
        outs=[pytensor.Out(v, borrow=True) for v in vars_],
        inputs=[pytensor.In(v, borrow=True) for v in model.value_vars],
        point_fn=False, on_unused_input="ignore", trust_input=True)
    return TraceTemplate(model=model, vars=vars_, fn=fn)


def value_names(model) -> dict[str, str]:
    """Name of the (unconstrained) value variable of each free variable, in the model's order."""
    return {rv.name: model.rvs_to_values[rv].name for rv in model.free_RVs}


def to_unconstrained_function(model):
    """Compile natural-scale values of the free variables -> point of value variables.

    Returns ``f(values: dict) -> dict`` keyed by value-variable names (the
    point ``model.compile_logp`` and the samplers take).
    """
    inputs, outputs, names = [], [], []
    for rv in model.free_RVs:
        x = pt.tensor(name=rv.name, shape=(None,) * rv.ndim, dtype="float64")
        tr = model.rvs_to_transforms.get(rv)
        y = tr.forward(x, *rv.owner.inputs) if tr is not None else x
        inputs.append(x)
        outputs.append(pt.as_tensor(y).astype(model.rvs_to_values[rv].dtype))
        names.append(model.rvs_to_values[rv].name)
    fn = model.compile_fn(outs=outputs, inputs=inputs, point_fn=False, on_unused_input="ignore")
    order = [rv.name for rv in model.free_RVs]

    def to_unconstrained(values) -> dict[str, np.ndarray]:
        out = fn(*[np.asarray(values[n], dtype="float64") for n in order])
        return {n: np.asarray(v) for n, v in zip(names, out, strict=True)}

    return to_unconstrained


def values_function(model):
    """Compile a point of value variables -> natural values of free variables and deterministics.

    Returns ``f(point: dict) -> dict`` keyed by variable name (``weights``,
    ``means``, ``variances``, ``sds``...).
    """
    transformed = {model.rvs_to_values[rv] for rv in model.free_RVs
                   if model.rvs_to_transforms.get(rv) is not None}
    outs = [v for v in model.unobserved_value_vars if v not in transformed]
    fn = model.compile_fn(outs=outs, inputs=model.value_vars, point_fn=False,
                          on_unused_input="ignore")
    in_names = [v.name for v in model.value_vars]
    out_names = [v.name for v in outs]

    def values(point) -> dict[str, np.ndarray]:
        res = fn(*[point[n] for n in in_names])
        return {n: np.array(v) for n, v in zip(out_names, res, strict=True)}

    return values


def check_internals() -> None:
    """Check that the internals above still exist and behave; raise AssertionError if not.

    The message names the PyMC version this module was written for.
    """
    import inspect

    import pymc as pm

    def fail(what: str):
        raise AssertionError(
            f"models/_pymc_adapter.py was written for PyMC {WRITTEN_FOR}; with the installed "
            f"PyMC {pm.__version__} {what}. Update the adapter (and only it).")

    params = set()  # NDArray passes **kwargs on to its base class
    for cls in NDArray.__mro__:
        if "__init__" in vars(cls):
            params |= set(inspect.signature(cls.__init__).parameters)
    for name in ("model", "vars", "fn", "var_shapes", "var_dtypes"):
        if name not in params:
            fail(f"pymc.backends.ndarray.NDArray() no longer takes {name}=")
    if "trace" not in inspect.signature(pm.sample).parameters:
        fail("pm.sample() no longer takes trace=")
    with pm.Model() as model:
        pm.Dirichlet("w", a=np.ones(3))
        pm.HalfNormal("s", sigma=1.0, shape=2)
        pm.Deterministic("s2", model["s"] ** 2)
    for attr in ("rvs_to_values", "rvs_to_transforms", "unobserved_value_vars"):
        if not hasattr(model, attr):
            fail(f"pm.Model has no attribute {attr}")
    names = value_names(model)
    if set(names) != {"w", "s"}:
        fail(f"value_names gives {names}")
    point = to_unconstrained_function(model)({"w": [0.2, 0.3, 0.5], "s": [1.0, 2.0]})
    back = values_function(model)(point)
    if not (np.allclose(back["w"], [0.2, 0.3, 0.5]) and np.allclose(back["s2"], [1.0, 4.0])):
        fail("the natural <-> unconstrained round trip no longer returns the values")
    trace = trace_template(model)
    copy = trace.__copy__()
    if copy.fn is not trace.fn:
        fail("NDArray copies no longer share the compiled recording function")
    copy.setup(draws=1, chain=0)
    copy.record(point, in_warmup=False)
    if not np.allclose(copy.get_values("s2")[0], [1.0, 4.0]):
        fail("NDArray.record no longer records deterministics through fn")
