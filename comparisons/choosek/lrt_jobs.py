"""Run the bootstrap LRT's statistics here or in worker processes, with the same results.

Each bootstrap data set depends only on its own generator, so the statistics
are the same whichever process computes them; with ``n_jobs="auto"`` the
first few run here and are timed, and the rest go to one worker per CPU when
they would take long enough to repay starting the workers (as
:func:`em.fit`'s bootstrap does).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

__all__ = ["AUTO_PARALLEL_SECONDS", "AUTO_PROBE", "run_stats"]

#: statistics computed here first with ``n_jobs="auto"``, to time them
AUTO_PROBE = 10
#: ``n_jobs="auto"`` starts workers when the rest would take longer than this here
AUTO_PARALLEL_SECONDS = 20.0

_WORKER: tuple | None = None


def _init_worker(stat, nulls, n, n_init) -> None:
    global _WORKER
    _WORKER = (stat, nulls, n, n_init)


def _in_worker(item) -> float:
    stat, nulls, n, n_init = _WORKER
    return stat(nulls[item[0]], n, n_init, item[1])


def _check_jobs(n_jobs):
    if n_jobs == "auto":
        return n_jobs
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int or 'auto'; got {n_jobs!r}.")
    return n_jobs


def run_stats(stat: Callable, nulls: list, items: list, n: int, n_init: int, n_jobs=1,
              on_progress: Callable[[int, int], None] | None = None) -> list[float]:
    """Return ``stat(nulls[j], n, n_init, rng)`` for every ``(j, rng)`` of ``items``, in order.

    Parameters
    ----------
    stat : callable
        A module-level function (picklable by reference).
    nulls : list
        What each test needs (sent once to each worker).
    items : list of (int, numpy.random.Generator)
    n, n_init : int
    n_jobs : int or "auto", default 1
        Worker processes (1: none). ``"auto"``: see the module's docstring.
    on_progress : callable, optional
        ``on_progress(done, total)`` as statistics come back.
    """
    n_jobs = _check_jobs(n_jobs)
    out: list[float] = []

    def collect(values):
        for v in values:
            out.append(float(v))
            if on_progress is not None:
                on_progress(len(out), len(items))

    def here(part):
        collect(stat(nulls[j], n, n_init, r) for j, r in part)

    if n_jobs == "auto":
        start = time.perf_counter()
        here(items[:AUTO_PROBE])
        rest = items[AUTO_PROBE:]
        per = (time.perf_counter() - start) / max(1, min(AUTO_PROBE, len(items)))
        cpus = os.cpu_count() or 1
        n_jobs, items_left = (cpus if per * len(rest) > AUTO_PARALLEL_SECONDS else 1), rest
    else:
        items_left = items
    if n_jobs == 1 or len(items_left) <= 1:
        here(items_left)
        return out
    # forkserver: forking a process that runs BLAS or PyMC threads can deadlock
    with ProcessPoolExecutor(max_workers=n_jobs, initializer=_init_worker,
                             initargs=(stat, nulls, n, n_init),
                             mp_context=multiprocessing.get_context("forkserver")) as ex:
        collect(ex.map(_in_worker, items_left, chunksize=max(1, len(items_left) // (8 * n_jobs))))
    return out
