"""Simulation studies: coverage of EM's and the posterior's intervals over a grid of truths.

A study (a TOML file, :func:`load_config`) crosses sample sizes,
separations, weights, numbers of components and structures; each cell is
simulated many times from a known truth, every method is fitted and aligned
to the truth, and bias, RMSE, coverage and interval width are aggregated
with Monte Carlo standard errors. :func:`run` executes it on a local or
remote Dask cluster (or in this process), writing one record per replicate
atomically so that a killed study can be resumed; :func:`run_sbc` checks the
PyMC model by simulation-based calibration.

Modules: :mod:`.config` (the TOML file and its grid) and :mod:`.validate`
(its checks); :mod:`.replicate` (one replicate, on a worker) and
:mod:`.worker` (a worker's compiled-model cache); :mod:`.cluster` (where
tasks run); :mod:`.store` (durable records); :mod:`.run` (the driver and its
command line); :mod:`.results` (what a study produced); :mod:`.aggregate`
(statistics); :mod:`.report` (Markdown/HTML); :mod:`.sbc` and :mod:`.ranks`
(simulation-based calibration).
"""

import warnings as _warnings

# ``python -m mixcompare.comparisons.study.run`` imports this package, which imports ``.run`` (the
# function ``run`` is part of the API) before runpy executes the module as __main__: runpy's
# warning about it is harmless here (__main__ only calls ``main``), so it is not shown.
_warnings.filterwarnings(
    "ignore", message=r"'mixcompare\.comparisons\.study\.run' found in sys\.modules",
    category=RuntimeWarning)

from .config import Cell, ConfigError, StudyConfig, load_config  # noqa: E402
from .results import ProgressInfo, StudyResult, summarise  # noqa: E402
from .run import run, study_command  # noqa: E402
from .sbc import SBCConfig, SBCResult, run_sbc, sbc_command  # noqa: E402
from .store import StoreError  # noqa: E402

__all__ = [
    "Cell",
    "ConfigError",
    "ProgressInfo",
    "SBCConfig",
    "SBCResult",
    "StoreError",
    "StudyConfig",
    "StudyResult",
    "load_config",
    "run",
    "run_sbc",
    "sbc_command",
    "study_command",
    "summarise",
]
