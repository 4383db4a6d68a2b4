"""Run the bootstrap LRT's statistics here or in worker processes, with the same results.

Each bootstrap data set depends only on its own generator, so the statistics
are the same whichever process computes them; :func:`em.ordered_map` (shared
with :func:`em.bootstrap`) runs them here or in one worker per CPU.
"""

from __future__ import annotations

from collections.abc import Callable

from mixcompare import em

__all__ = ["AUTO_PARALLEL_SECONDS", "run_stats"]

#: ``n_jobs="auto"`` starts workers when the rest would take longer than this here
AUTO_PARALLEL_SECONDS = 20.0

_WORKER: tuple | None = None


def _init_worker(stat, nulls, n, n_init) -> None:
    global _WORKER
    _WORKER = (stat, nulls, n, n_init)


def _in_worker(item) -> float:
    stat, nulls, n, n_init = _WORKER
    return stat(nulls[item[0]], n, n_init, item[1])


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
        Worker processes (1: none); ``"auto"``: workers when the statistics
        after the first few would take more than ``AUTO_PARALLEL_SECONDS`` here.
    on_progress : callable, optional
        ``on_progress(done, total)`` as statistics come back.
    """
    out: list[float] = []

    def collect(values):
        for v in values:
            out.append(float(v))
            if on_progress is not None:
                on_progress(len(out), len(items))

    em.ordered_map(lambda item: stat(nulls[item[0]], n, n_init, item[1]), _in_worker, items,
                   n_jobs, initializer=_init_worker, initargs=(stat, nulls, n, n_init),
                   collect=collect, auto_seconds=AUTO_PARALLEL_SECONDS)
    return out
