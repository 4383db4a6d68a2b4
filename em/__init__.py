"""Expectation-maximisation for Gaussian mixtures, by hand (numpy and scipy only).

Public interface: :func:`fit` returns an :class:`EMResult` holding the best
fit, its per-iteration trace and an atlas of every distinct optimum the
restarts reached; :class:`GaussianMixtureEM` offers scikit-learn's names;
:func:`sample` simulates data; :func:`validate_data` is the one input check
every package of mixcompare uses, and :func:`check_positive_int`,
:func:`check_rng` the shared checks of counts and seeds, :func:`check_spread` the
check that data can be fitted in float64 (used by :func:`model_spec`);
:func:`quantile_classes`, :func:`cut_tree` and :func:`mclust_stop` are mclust's
starting partitions and stopping rule (see ``init="mclust"``).
"""

from ._align import match_components
from ._atlas import Optimum, Restart
from ._driver import fit
from ._init_hc import cut_tree, quantile_classes
from ._jobs import ordered_map
from ._model import Params, Spec, model_spec
from ._stopping import MCLUST_TOL, mclust_stop
from ._validation import MAX_COUNT, check_positive_int, check_rng, check_spread, validate_data
from ._warnings import (
    ConvergenceWarning,
    DegenerateWarning,
    IdentifiabilityWarning,
    MixcompareWarning,
    MonotonicityError,
    SymmetricStartWarning,
)
from .draws import draws_log_density
from .prior import Prior
from .result import EMResult, Trace
from .sample import sample
from .uncertainty import Intervals, StandardErrors, standard_errors

__all__ = [
    "MAX_COUNT",
    "MCLUST_TOL",
    "ConvergenceWarning",
    "DegenerateWarning",
    "EMResult",
    "GaussianMixtureEM",
    "IdentifiabilityWarning",
    "Intervals",
    "MixcompareWarning",
    "MonotonicityError",
    "Optimum",
    "Params",
    "Spec",
    "Prior",
    "Restart",
    "StandardErrors",
    "SymmetricStartWarning",
    "Trace",
    "check_positive_int",
    "check_rng",
    "check_spread",
    "cut_tree",
    "draws_log_density",
    "fit",
    "match_components",
    "mclust_stop",
    "model_spec",
    "ordered_map",
    "quantile_classes",
    "sample",
    "standard_errors",
    "validate_data",
]


def __getattr__(name):
    # the estimator builds on scikit-learn: imported only when asked for, so that
    # ``import mixcompare.em`` stays numpy/scipy only (and fast)
    if name == "GaussianMixtureEM":
        from .estimator import GaussianMixtureEM
        return GaussianMixtureEM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
