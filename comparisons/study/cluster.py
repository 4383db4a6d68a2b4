"""Where a study's tasks run: a local Dask cluster, an existing one, or this process.

:class:`Executor` hides the choice. ``scheduler=None`` starts a
``distributed.LocalCluster`` of ``workers`` processes with one thread each
(so NumPy, PyTensor and PyMC never compete for a core) and without Dask's
statistical profiler (which slows pure-Python loops); an address such as
``tcp://10.0.0.5:8786`` connects a ``distributed.Client`` to a running
scheduler, with no other change; ``"inline"`` runs every task in the calling
process, one after the other (no Dask: for debugging and small runs).
Results come back in completion order (``distributed.as_completed``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence

__all__ = ["INLINE", "Executor"]

INLINE = "inline"
_log = logging.getLogger(__name__)


#: seconds to wait for an existing scheduler before giving up
CONNECT_TIMEOUT = 10


def check_scheduler(address: str | None) -> None:
    """Refuse a ``--scheduler`` that is not an address, before any work.

    Raises
    ------
    ValueError
        Naming the setting and the expected form (``tcp://HOST:PORT`` or ``inline``).
    """
    if address is None or address == INLINE:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or " " in address:
        raise ValueError(f"--scheduler {address!r} is not a Dask scheduler address; give "
                         "tcp://HOST:PORT, 'inline', or omit it for a local cluster.")


def _connect(client_cls, address: str):
    check_scheduler(address)
    try:
        return client_cls(address, timeout=CONNECT_TIMEOUT)
    except OSError as err:
        raise ConnectionError(f"--scheduler {address}: no Dask scheduler answered within "
                              f"{CONNECT_TIMEOUT} s ({err}); check the address, or omit "
                              "--scheduler for a local cluster.") from None


class Executor:
    """Run tasks on Dask workers (or inline) and yield their results as they finish.

    Parameters
    ----------
    scheduler : str or None
        None: a new ``LocalCluster``; ``"inline"``: this process; otherwise
        the address of an existing Dask scheduler.
    workers : int or None
        Worker processes of the local cluster (default: the number of CPUs).
        Ignored for an existing scheduler and inline.

    Notes
    -----
    Use as a context manager: the client, and the cluster if this object
    started it, are closed on exit.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        self.scheduler = scheduler
        self.workers = workers if workers and workers > 0 else (os.cpu_count() or 1)
        self.client = None
        self.cluster = None

    def __enter__(self) -> Executor:
        if self.scheduler == INLINE:
            return self
        from distributed import Client, LocalCluster

        if self.scheduler:
            self.client = _connect(Client, self.scheduler)
        else:
            import dask

            # the statistical profiler samples every thread's stack every 10 ms: a quarter of
            # the time of EM's pure-Python loops; the workers copy this config when they start
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                            processes=True, dashboard_address=None,
                                            silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def describe(self) -> str:
        """One line naming where the tasks run."""
        if self.client is None:
            return "inline (this process, no Dask)"
        n = len(self.client.nthreads())
        if self.cluster is not None:
            return f"Dask local cluster, {n} worker process(es), 1 thread each"
        return f"Dask scheduler {self.scheduler}, {n} worker(s)"

    def run(self, func: Callable, shared, tasks: Sequence[tuple], *,
            key: Callable[[tuple], str] | None = None) -> Iterator[tuple]:
        """Call ``func(shared, *task)`` for every task; yield ``(task, result, error)``.

        Parameters
        ----------
        func : callable
            Importable (module-level) function, run on a worker.
        shared : object
            First argument of every call, sent to the workers once.
        tasks : sequence of tuple
            The remaining arguments of each call.
        key : callable, optional
            Dask key of a task (readable names on the dashboard).

        Yields
        ------
        task : tuple
        result : object or None
        error : BaseException or None
            Set when the call raised or its worker died (``KilledWorker``).
        """
        if self.client is None:
            for task in tasks:
                try:
                    yield task, func(shared, *task), None
                except Exception as err:  # noqa: BLE001 - reported to the caller
                    yield task, None, err
            return
        from distributed import as_completed

        [shared_f] = self.client.scatter([shared], broadcast=True, hash=False)
        futures = {}
        for task in tasks:
            kw = {"key": key(task)} if key is not None else {"pure": False}
            futures[self.client.submit(func, shared_f, *task, **kw)] = task
        try:
            for fut in as_completed(futures):
                task = futures.pop(fut)
                if fut.status == "finished":
                    yield task, fut.result(), None
                elif fut.status == "error":
                    yield task, None, fut.exception()
                else:
                    yield task, None, RuntimeError(f"the task was {fut.status}")
                fut.release()
        finally:
            if futures:  # interrupted: do not leave work queued on a shared cluster
                self.client.cancel(list(futures))
