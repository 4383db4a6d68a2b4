"""What a study produced: progress reports, the aggregated result, the tables on disk."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mixcompare.comparisons.io import write_json_atomic, write_text_atomic

from . import aggregate
from .config import StudyConfig, load_config
from .store import Store

__all__ = ["ProgressInfo", "StudyResult", "log_reuse", "summarise"]

_log = logging.getLogger("mixcompare.comparisons.study")


@dataclass(frozen=True)
class ProgressInfo:
    """What the progress callback receives after each finished replicate.

    Attributes
    ----------
    total : int
        Replicates in the study (cells times replicates).
    done : int
        Finished replicates, including those found on disk at the start.
    skipped : int
        Replicates found finished on disk (``resume``).
    failed_fits : int
        Method fits that failed so far in this run (each recorded with its reason).
    errors : int
        Replicates lost to an infrastructure error in this run (run again on resume).
    elapsed : float
        Seconds since the first task was submitted.
    eta : float or None
        Estimated seconds left (None before the first result).
    last : str or None
        The replicate that just finished, e.g. ``"c0002/r00017"``.
    """

    total: int
    done: int
    skipped: int
    failed_fits: int
    errors: int
    elapsed: float
    eta: float | None
    last: str | None = None


@dataclass(frozen=True)
class StudyResult:
    """The aggregated results of a study and where they were written.

    Attributes
    ----------
    config : StudyConfig
    out : Path
    records : list of dict
        Every replicate record on disk, sorted by cell and replicate.
    parameters, blocks, methods, timings : pandas.DataFrame
        :func:`aggregate.parameter_summary`, :func:`aggregate.block_summary`,
        :func:`aggregate.method_summary`, :func:`aggregate.timings`.
    reuse : dict
        :func:`aggregate.reuse`.
    files : dict of str to Path
    n_run, n_skipped, n_errors : int
        Replicates run now, found on disk, lost to infrastructure errors.
    """

    config: StudyConfig
    out: Path
    records: list
    parameters: pd.DataFrame
    blocks: pd.DataFrame
    methods: pd.DataFrame
    timings: pd.DataFrame
    reuse: dict
    files: dict = field(default_factory=dict)
    n_run: int = 0
    n_skipped: int = 0
    n_errors: int = 0


def log_reuse(reuse: dict) -> None:
    """Log the compiled-model reuse ratio of each PyMC method (see :func:`aggregate.reuse`)."""
    if not reuse:
        _log.info("compiled-model reuse: no PyMC fit in this study")
    for meth, r in reuse.items():
        _log.info(
            "compiled-model reuse, %s: first fit of a model %.3g s (median of %d), later fits "
            "on the reused model %.3g s (median of %d): ratio %.3g%s", meth, r["fresh_median"],
            r["n_fresh"], r["reused_median"], r["n_reused"], r["ratio"],
            f"; without the sampling itself {r['overhead_ratio']:.3g}"
            if "overhead_ratio" in r else "")


def summarise(config, out, *, report: bool = True, **counts) -> StudyResult:
    """Aggregate every record in ``out`` and write the tables (and the report).

    Parameters
    ----------
    config : StudyConfig, path or dict
    out : str or Path
        The study's folder.
    report : bool, default True
        Also write ``report.md``, ``report.html`` and the figures.
    **counts
        ``n_run``, ``n_skipped``, ``n_errors`` to store in the result.

    Returns
    -------
    StudyResult
    """
    config = load_config(config)
    out = Path(out)
    records = Store(out).load(config)
    long = aggregate.long_table(records, config.fit_methods)
    res = StudyResult(
        config=config, out=out, records=records,
        parameters=aggregate.parameter_summary(long, config),
        blocks=aggregate.block_summary(long, config),
        methods=aggregate.method_summary(records, config),
        timings=aggregate.timings(records, config), reuse=aggregate.reuse(records), **counts)
    files = {}
    for name in ("parameters", "blocks", "methods", "timings"):
        files[f"{name}.csv"] = write_text_atomic(out / f"{name}.csv",
                                                 getattr(res, name).to_csv(index=False))
    files["reuse.json"] = write_json_atomic(out / "reuse.json", res.reuse)
    if report:
        from .report import write_report

        files.update(write_report(res, out))
    res.files.update(files)
    return res
