"""Run PyMC's NUTS and nutpie around a model's cached compiled objects (:mod:`.compiled`).

PyMC: ``pm.sample`` with the model's cached ``pm.NUTS`` step (``pm.sample``
resets its adaptation and reseeds it for every chain) and trace template.
nutpie: ``nutpie.sample`` on the cached compiled model, with the current
data (``with_data``) and start. The element-wise log-likelihood is computed
from the draws (:func:`models.points.log_likelihood_dataset`), so nothing
is compiled after the first fit of a model.

Faults. Both samplers catch ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM where
the caller turns it into one) and return the draws made so far; PyMC raises
"Not enough samples to build a trace" when that happens during tuning.
Every sampler call here runs inside :func:`sampling`, which turns both into
:class:`SamplingInterrupted`, so a cut-short run is never returned as a
result. PyMC's chain processes are forked (Linux's default start method up
to Python 3.13); a forked child holds the parent's end of its own pipe, so
after a SIGKILL of the parent it would wait for a message forever. On Linux,
:func:`sampling` asks the kernel to send every child forked inside it SIGTERM
when its parent dies (``prctl(PR_SET_PDEATHSIG)``, set in the child by an
``os.register_at_fork`` hook, which also leaves Ctrl-C to the parent and
gives SIGTERM its default action in the child). The kernel ties that signal
to the thread that forked, the one running the sampler, which waits for its
chains before it returns. Children started by
``spawn`` or ``forkserver`` hold no copy of the parent's end and exit on
their own when it dies; on other systems than Linux, forked children of a
killed parent are left to the user.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading

import numpy as np
import pymc as pm
import xarray as xr

from .map import jittered_start
from .points import log_likelihood_dataset, observed_dataset

__all__ = ["SamplingInterrupted", "check_complete", "sample_nutpie", "sample_pymc", "sampling",
           "stop_after_interrupt"]

_NUTPIE_LOCK = threading.Lock()  # the start lives in shared variables of the compiled model


class SamplingInterrupted(KeyboardInterrupt):
    """NUTS was interrupted (Ctrl-C or SIGTERM) before every draw asked for was made.

    A ``KeyboardInterrupt``, so that it stops the caller as the interrupt
    would have; ``obtained`` and ``draws`` are per chain.
    """

    def __init__(self, obtained: int, draws: int, *, tuning: bool = False,
                 chains_kept: int | None = None, chains: int | None = None):
        self.obtained, self.draws, self.tuning = int(obtained), int(draws), bool(tuning)
        if tuning:
            msg = f"NUTS was interrupted during tuning, before any of the {draws} draws"
        else:
            msg = f"NUTS was interrupted after {obtained} of {draws} draws per chain"
            if chains is not None and chains_kept is not None and chains_kept < chains:
                msg += f" ({chains - chains_kept} of {chains} chains dropped)"
        super().__init__(msg)


# ------------------------------------------------------------------- chain processes
_FORKING = threading.local()  # .parent: this process's pid while a sampler may fork
_PR_SET_PDEATHSIG = 1
_LIBC = None
if sys.platform.startswith("linux"):
    try:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to call prctl with
        _LIBC = None


def _die_with_parent() -> None:
    """In a child forked inside :func:`sampling`: leave interrupts to the parent, die with it.

    The child ignores SIGINT (a Ctrl-C reaches the whole process group; the
    parent stops its chains) and takes SIGTERM's default action (it ends at
    once, even inside compiled code, whatever handler the parent had
    installed); on Linux it gets SIGTERM when the parent dies.
    """
    parent = getattr(_FORKING, "parent", None)
    if parent is None:
        return
    _FORKING.parent = None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _LIBC is not None and _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0 \
            and os.getppid() != parent:  # the parent died before prctl: too late for it
        os._exit(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_die_with_parent)


@contextlib.contextmanager
def sampling(draws: int):
    """Run a sampler: forked chain processes die with this process; an interrupt is raised.

    Raises
    ------
    SamplingInterrupted
        When PyMC reports the trace of a run interrupted during tuning
        ("Not enough samples to build a trace"). A run interrupted while
        drawing returns normally: check it with :func:`check_complete`.
    """
    _FORKING.parent = os.getpid()
    try:
        yield
    except ValueError as err:
        if "Not enough samples to build a trace" in str(err):
            raise SamplingInterrupted(0, draws, tuning=True) from None
        raise
    finally:
        _FORKING.parent = None


def draw_callback(total: int, chains: int, sequential: bool, on_progress=None):
    """Return ``pm.sample``'s per-draw callback: progress, and stopping after an interrupt.

    ``total`` iterations per chain (tuning included); ``on_progress(done, all)``
    is told the iterations done over the ``chains``; ``sequential`` chains (one
    process) also get :func:`stop_after_interrupt`'s check. None when neither applies.
    """
    stop = stop_after_interrupt(total) if sequential else None
    if on_progress is None:
        return stop
    done = [0]

    def callback(trace, draw):
        done[0] += 1
        on_progress(done[0], total * chains)
        if stop is not None:
            stop(trace, draw)

    return callback


def stop_after_interrupt(total: int):
    """Return a ``pm.sample`` callback for sequential chains that stops them after an interrupt.

    PyMC samples the chains of one process one after another and, when one
    is interrupted, starts the next. A chain that ended before its ``total``
    iterations (tuning included) was interrupted; the callback then raises
    ``KeyboardInterrupt`` at the first draw of every later chain, so the run
    stops after one step of each instead of sampling them in full.
    """
    last: dict[int, int] = {}

    def callback(trace, draw):
        last[draw.chain] = draw.draw_idx
        if any(c < draw.chain and i < total - 1 for c, i in last.items()):
            raise KeyboardInterrupt

    return callback


def check_complete(posterior: xr.Dataset, draws: int, chains: int) -> None:
    """Raise :class:`SamplingInterrupted` unless every chain holds ``draws`` finite draws.

    PyMC returns fewer draws (and may drop the shortest chains) after an
    interrupt; nutpie pads the chains it stopped with NaN.
    """
    w = np.asarray(posterior["weights"].values, dtype=float)
    kept = w.shape[0]
    per_chain = np.isfinite(w.reshape(kept, w.shape[1], -1)).all(axis=2).sum(axis=1)
    obtained = int(per_chain.min()) if kept else 0
    if kept < chains or obtained < draws:
        raise SamplingInterrupted(obtained, draws, chains_kept=kept, chains=chains)


def _free_values(mm, point: dict) -> dict:
    values = mm.cache.values(mm.model)(point)
    return {rv.name: values[rv.name] for rv in mm.model.free_RVs}


def sample_pymc(mm, *, draws: int, tune: int, chains: int, cores: int, target_accept: float,
                max_treedepth: int, seeds: list[int], starts: list[dict], jitter: bool, rngs,
                progressbar: bool, on_progress=None) -> xr.DataTree:
    """PyMC's NUTS from ``starts`` (natural scale, one per chain).

    With ``jitter``, each start gets U(-1, 1) jitter on the unconstrained
    scale from that chain's generator in ``rngs``, redrawn until the log
    density is finite. The mass matrix starts at PyMC's default (diagonal of
    ones) and adapts as in ``pm.sample(init="adapt_diag")``. Returns the
    groups ``posterior``, ``sample_stats``, ``observed_data`` and
    ``log_likelihood``.
    """
    cache, model = mm.cache, mm.model
    points = [jittered_start(mm, s, jitter, rng) for s, rng in zip(starts, rngs, strict=True)]
    initvals = [_free_values(mm, p) for p in points]
    step = cache.nuts_step(model, target_accept, points[0], max_treedepth)
    # pm.sample resets the step's adaptation per chain when it samples in this process, not in
    # its worker processes (cores > 1), which get a copy of the step as it is: reset it here
    step.reset_tuning()
    with sampling(draws):
        tree = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=cores, step=step, initvals=initvals,
            random_seed=seeds, progressbar=progressbar, model=model, trace=cache.trace(model),
            compute_convergence_checks=False,
            callback=draw_callback(draws + tune, chains, cores == 1 or chains == 1, on_progress),
        )
    check_complete(tree["posterior"], draws, chains)
    for group in ("constant_data",):
        if group in tree.children:
            del tree[group]
    tree["observed_data"] = observed_dataset(mm)
    tree["log_likelihood"] = log_likelihood_dataset(mm, tree["posterior"])
    return tree


def _nutpie_progress(on_progress):
    """Return nutpie's ``progress_callback``: each chain's finished and total draws, summed."""
    def callback(chains):
        on_progress(sum(c.finished_draws for c in chains), sum(c.total_draws for c in chains))

    return callback


def sample_nutpie(mm, *, draws: int, tune: int, chains: int, cores: int, target_accept: float,
                  max_treedepth: int, seed: int, start: dict, progressbar: bool,
                  on_progress=None) -> xr.DataTree:
    """``nutpie.sample`` on the model's compiled nutpie model, with its current data.

    Every chain starts at ``start`` (natural scale) with nutpie's own
    U(-1, 1) jitter on the unconstrained scale, seeded by ``seed``. Returns
    the groups ``posterior``, ``sample_stats``, ``observed_data`` and
    ``log_likelihood``.
    """
    import nutpie

    cache, model = mm.cache, mm.model
    compiled_model = cache.nutpie(model)
    data = {"x": np.asarray(model["x"].get_value())}
    with _NUTPIE_LOCK, sampling(draws):
        compiled = compiled_model.prepared(start, data)
        tree = nutpie.sample(
            compiled, draws=draws, tune=max(tune, 1), chains=chains, cores=cores,
            seed=int(seed), save_warmup=False, store_unconstrained=False,
            progress_bar=bool(progressbar), target_accept=target_accept, maxdepth=max_treedepth,
            **({} if on_progress is None else {"progress_callback": _nutpie_progress(
                on_progress)}),
        )
    if "posterior" not in tree.children:  # stopped during tuning
        raise SamplingInterrupted(0, draws, tuning=True)
    check_complete(tree["posterior"], draws, chains)
    tree["observed_data"] = observed_dataset(mm)
    tree["log_likelihood"] = log_likelihood_dataset(mm, tree["posterior"])
    return tree
