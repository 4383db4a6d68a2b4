"""PyMC models equivalent to ``em``'s mixtures, fitted by MAP and NUTS."""

from .build import CachedModel, MixtureModel, build_model, cached_model, clear_model_cache
from .map import MAPError, fit_map
from .nuts import SAMPLERS, SamplerWarning, SamplingInterrupted, fit_nuts
from .points import log_density, params_to_values, start_near, to_point
from .posterior import membership_probabilities, predictive_density
from .predictive import PREDICTIVE_GROUPS, predictive

__all__ = [
    "PREDICTIVE_GROUPS",
    "predictive",
    "SAMPLERS",
    "CachedModel",
    "MAPError",
    "MixtureModel",
    "SamplerWarning",
    "SamplingInterrupted",
    "build_model",
    "cached_model",
    "clear_model_cache",
    "fit_map",
    "fit_nuts",
    "log_density",
    "membership_probabilities",
    "params_to_values",
    "predictive_density",
    "start_near",
    "to_point",
]
