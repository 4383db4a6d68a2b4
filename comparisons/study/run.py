"""Run a simulation study: every replicate on Dask workers, written as it finishes.

``mixcompare study CONFIG --out DIR [--scheduler ADDRESS]
[--workers N] [--resume] [--quiet]`` is the command line; :func:`run` the API;
:func:`study_command` what the ``mixcompare study`` command calls.

The driver (this process, the Dask client) submits one task per unfinished
replicate, receives results in completion order and writes each record
atomically (:mod:`mixcompare.comparisons.study.store`); then it aggregates every record
on disk (:mod:`mixcompare.comparisons.study.aggregate`) and writes the tables and the
report. A log of the run, with the compiled-model reuse ratio, is appended
to ``DIR/study.log``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import aggregate
from .cluster import Executor
from .config import ConfigError, StudyConfig, load_config
from .replicate import run_replicate
from .results import ProgressInfo, StudyResult, log_reuse, summarise
from .store import RECORD_SCHEMA, Store, StoreError

__all__ = ["ProgressInfo", "StudyResult", "run", "study_command", "summarise"]

_log = logging.getLogger("mixcompare.comparisons.study")


def _key(fp: str):
    def key(task) -> str:
        return f"study-{fp[:8]}-c{task[0]:04d}-r{task[1]:05d}"
    return key


def _error_record(config: StudyConfig, cell: int, rep: int, err: BaseException) -> dict:
    c = config.cells[cell]
    return {"schema": RECORD_SCHEMA, "cell": cell, "replicate": rep,
            "seed": {"entropy": config.seed, "spawn_key": [cell, rep]},
            "factors": c.factors(), "truth": c.truth(), "status": "error",
            "reason": f"{type(err).__name__}: {err}"[:500], "data": None, "methods": {}}


def run(config, out, *, scheduler: str | None = None, workers: int | None = None,
        resume: bool = False, progress: Callable[[ProgressInfo], None] | None = None,
        report: bool = True) -> StudyResult:
    """Run (or resume) a simulation study and aggregate it.

    Parameters
    ----------
    config : str, Path, dict or StudyConfig
        The study (see :func:`mixcompare.comparisons.study.config.load_config`).
    out : str or Path
        Output folder (records, tables, report, ``study.log``).
    scheduler : str, optional
        None: a new local Dask cluster of ``workers`` processes with one
        thread each; an address (``tcp://host:8786``): an existing cluster;
        ``"inline"``: this process, without Dask.
    workers : int, optional
        Worker processes of the local cluster (default: the number of CPUs).
    resume : bool, default False
        Skip replicates already recorded in ``out``. Without it an ``out``
        holding records is refused.
    progress : callable, optional
        Called with a :class:`ProgressInfo` at the start and after each
        finished replicate (the CLI draws a progress bar with it).
    report : bool, default True
        Write the Markdown/HTML report and figures.

    Returns
    -------
    StudyResult

    Raises
    ------
    ConfigError
        An invalid configuration.
    StoreError
        ``out`` holds another study, or records without ``resume``.
    """
    config = load_config(config)
    store = Store(out)
    finished = store.open(config, resume=resume)
    handler = logging.FileHandler(store.root / "study.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    old_level = _log.level
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    try:
        return _run(config, store, finished, scheduler, workers, progress, report)
    finally:
        _log.removeHandler(handler)
        _log.setLevel(old_level)
        handler.close()


def _run(config, store, finished, scheduler, workers, progress, report) -> StudyResult:
    tasks = [(c.index, r) for c in config.cells for r in range(config.replicates)
             if (c.index, r) not in finished]
    total = config.n_replicates_total
    skipped = total - len(tasks)
    failed = errors = 0
    t0 = time.perf_counter()

    def tell(done: int, last=None):
        if progress is None:
            return
        elapsed = time.perf_counter() - t0
        n_now = done - skipped
        eta = elapsed / n_now * (total - done) if n_now else None
        progress(ProgressInfo(total, done, skipped, failed, errors, elapsed, eta, last))

    _log.info("study %r: %d cells x %d replicates = %d; %d already recorded, %d to run; "
              "methods %s; fingerprint %s", config.name, len(config.cells), config.replicates,
              total, skipped, len(tasks), ", ".join(config.fit_methods),
              config.fingerprint()[:12])
    done = skipped
    tell(done)
    if tasks:
        with Executor(scheduler, workers) as ex:
            _log.info("running on %s", ex.describe())
            for (cell, rep), rec, err in ex.run(run_replicate, config, tasks,
                                                key=_key(config.fingerprint())):
                name = f"c{cell:04d}/r{rep:05d}"
                if err is not None:
                    errors += 1
                    rec = _error_record(config, cell, rep, err)
                    _log.warning("%s: error, will run again on --resume: %s", name,
                                 rec["reason"])
                else:
                    bad = {m: e["reason"] for m, e in rec["methods"].items()
                           if e["status"] != "ok"}
                    if rec["status"] != "ok":
                        bad = {m: rec["reason"] for m in config.fit_methods}
                    failed += len(bad)
                    for m, why in bad.items():
                        _log.warning("%s: %s failed: %s", name, m, why)
                    fits = ", ".join(
                        f"{m} {'fresh' if e['info'].get('fresh') else 'reused'} "
                        f"{e['time']:.3g} s" for m, e in rec["methods"].items()
                        if m in aggregate.PYMC_METHODS and e["status"] == "ok")
                    _log.info("%s done in %.3g s on pid %s%s", name, rec["time"],
                              rec["worker"]["pid"], f" ({fits})" if fits else "")
                store.write(rec)
                done += 1
                tell(done, name)
    res = summarise(config, store.root, report=report, n_run=len(tasks), n_skipped=skipped,
                    n_errors=errors)
    log_reuse(res.reuse)
    _log.info("finished: %d replicates on disk (%d run now, %d skipped), %d failed fits, "
              "%d errors, %.1f s", len(res.records), len(tasks), skipped, failed, errors,
              time.perf_counter() - t0)
    return res


# --------------------------------------------------------------------------- command line
def study_command(config: Path, out: Path, scheduler: str | None, workers: int, resume: bool,
                  quiet: bool) -> int:
    """Run a study from the command line with a rich progress bar; return the exit code.

    Parameters
    ----------
    config : Path
        The study's TOML file.
    out : Path
        Output folder.
    scheduler : str or None
        A Dask scheduler address, ``"inline"``, or None for a local cluster.
    workers : int
        Local worker processes (0 or less: the number of CPUs).
    resume : bool
        Skip replicates already recorded in ``out``.
    quiet : bool
        No progress bar or summary (errors are still printed).

    Returns
    -------
    int
        0 on success, 1 when replicates were lost to infrastructure errors
        (run again with ``--resume``), 2 for a bad configuration or folder,
        130 when interrupted.
    """
    from rich.console import Console

    from ..progress import progress_bar

    console = Console(stderr=True, quiet=quiet)
    err_console = Console(stderr=True)
    bar = progress_bar(console, disable=quiet)
    tasks = []  # the bar appears with the first report (not before a refused start)

    def show(p: ProgressInfo) -> None:
        # replicates recorded by an earlier run (--resume) are not counted, so that rich's
        # time remaining is this run's pace
        what = (f"study ({p.skipped} done before, " if p.skipped else "study (") + \
            f"{p.failed_fits} failed fits)"
        if not tasks:
            tasks.append(bar.add_task(what, total=p.total - p.skipped))
        bar.update(tasks[0], description=what, total=p.total - p.skipped,
                   completed=p.done - p.skipped)

    try:
        with bar:
            res = run(config, out, scheduler=scheduler, workers=workers or None, resume=resume,
                      progress=show)
    except (ConfigError, StoreError, ConnectionError) as err:
        err_console.print(f"mixcompare: error: {err}", markup=False, highlight=False,
                          soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("mixcompare: interrupted; finished replicates are saved, continue "
                          "with --resume", markup=False, highlight=False, soft_wrap=True)
        return 130
    b = res.blocks
    if not b.empty and not quiet:
        cov = b[b["block"] == "means"].groupby("method", sort=False)["coverage"].mean()
        line = ", ".join(f"{m} {v:.3f}" for m, v in cov.items() if pd.notna(v))
        if line:
            console.print(f"coverage of the means (mean over cells): {line}")
    for meth, r in res.reuse.items():
        console.print(f"compiled-model reuse, {meth}: later fits take {r['ratio']:.2f} of the "
                      f"first ({r['reused_median']:.2f} s vs {r['fresh_median']:.2f} s)"
                      + (f"; {r['overhead_ratio']:.2f} without the sampling itself"
                         if "overhead_ratio" in r else ""))
    console.print(f"{len(res.records)} replicates in {res.out}/ ({res.n_run} run now, "
                  f"{res.n_skipped} skipped); report: {res.out / 'report.html'}")
    if res.n_errors:
        err_console.print(f"mixcompare: {res.n_errors} replicate(s) lost to worker errors; "
                          "run again with --resume", markup=False, highlight=False, soft_wrap=True)
        return 1
    return 0
