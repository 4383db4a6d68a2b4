"""Run independent tasks in order, here or in worker processes, with the same results.

Each task depends only on its own inputs (its own generator), so the results
do not depend on which process computes them. With ``n_jobs="auto"`` the first
``probe`` tasks run here and are timed, and the rest go to one worker per CPU
when they would take longer than ``auto_seconds`` here (a few times what
starting the workers costs). Used by :func:`em.bootstrap`'s refits and by
``choose-k``'s bootstrap likelihood-ratio test.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor

__all__ = ["AUTO_PROBE", "check_jobs", "ordered_map"]

#: tasks run in this process first when ``n_jobs="auto"``, to time them
AUTO_PROBE = 10


def check_jobs(n_jobs):
    """Return ``n_jobs`` (a positive int or ``"auto"``), or raise naming the problem."""
    if n_jobs == "auto":
        return n_jobs
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int or 'auto'; got {n_jobs!r}.")
    return n_jobs


def _run_in(here, worker, items, n_jobs, initializer, initargs, collect) -> None:
    if n_jobs == 1 or len(items) <= 1:
        collect(here(item) for item in items)
        return
    # forkserver: forking a process that runs BLAS or PyMC threads can deadlock
    with ProcessPoolExecutor(max_workers=n_jobs, initializer=initializer, initargs=initargs,
                             mp_context=multiprocessing.get_context("forkserver")) as ex:
        collect(ex.map(worker, items, chunksize=max(1, len(items) // (4 * n_jobs))))


def ordered_map(here: Callable, worker: Callable, items: Sequence, n_jobs, *,
                initializer: Callable, initargs: tuple,
                collect: Callable[[Iterable], None], auto_seconds: float,
                probe: int = AUTO_PROBE) -> None:
    """Compute every item in order, passing the results to ``collect`` as they come back.

    Parameters
    ----------
    here : callable
        ``here(item)``: the task, in this process.
    worker : callable
        A module-level function (picklable by reference) doing the same task in a
        worker process after ``initializer(*initargs)`` ran there.
    items : sequence
    n_jobs : int or "auto"
        Worker processes (1: none); ``"auto"``: see the module's docstring.
    initializer, initargs
        Set up each worker once (send the shared inputs once).
    collect : callable
        Called with iterables of results, in the items' order.
    auto_seconds : float
        With ``n_jobs="auto"``, the projected time here above which workers start.
    probe : int, default AUTO_PROBE
    """
    n_jobs = check_jobs(n_jobs)
    if n_jobs != "auto":
        _run_in(here, worker, items, n_jobs, initializer, initargs, collect)
        return
    first, rest = items[:probe], items[probe:]
    start = time.perf_counter()
    _run_in(here, worker, first, 1, initializer, initargs, collect)
    projected = (time.perf_counter() - start) / max(len(first), 1) * len(rest)
    cpus = os.cpu_count() or 1
    _run_in(here, worker, rest, cpus if projected > auto_seconds else 1, initializer, initargs,
            collect)
