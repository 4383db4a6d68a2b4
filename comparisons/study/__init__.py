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

from .config import Cell, ConfigError, StudyConfig, load_config
from .results import ProgressInfo, StudyResult, summarise
from .run import run, study_command
from .sbc import SBCConfig, SBCResult, run_sbc, sbc_command
from .store import StoreError

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
