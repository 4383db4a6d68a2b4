"""What a run keeps besides its results: warnings, problems, timings, and its random streams.

:class:`RunLog` collects, for one comparison (or one study replicate), the
library warnings each step raised, the problems a reader should know about,
and the seconds each step took; :meth:`RunLog.step` wraps a step to do all
three. :class:`Streams` hands each method its own child stream of one
``numpy.random.SeedSequence``, by name, so that adding or skipping a method
never changes another method's numbers.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from mixcompare import em

__all__ = ["STREAMS", "RunLog", "Streams"]

_log = logging.getLogger(__name__)

#: The named child streams of a run, in spawn order. ``restarts`` seeds EM *and*
#: MAP-EM: both start from the same initial points (common random numbers), so
#: any difference between them comes from the prior, not from other restarts.
STREAMS = ("restarts", "bootstrap", "map", "nuts", "spare", "sensitivity", "predictive",
           "mass")


class Streams:
    """Named, independent child streams of one seed.

    Parameters
    ----------
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The run's one seed. A ``Generator`` is spawned from (which advances
        it), as :meth:`numpy.random.Generator.spawn` does.

    Notes
    -----
    Child ``i`` is the ``i``-th ``SeedSequence`` spawned from the root, in the
    order of :data:`STREAMS`; :meth:`generator` returns a *new* ``Generator``
    on it at every call, so two methods given the same stream name see the
    same numbers, whatever ran before them.
    """

    def __init__(self, rng=None):
        if isinstance(rng, np.random.SeedSequence):
            root = rng
        else:
            root = em.check_rng(rng).bit_generator.seed_seq
        self._children = dict(zip(STREAMS, root.spawn(len(STREAMS)), strict=True))

    def seed(self, name: str) -> np.random.SeedSequence:
        """Return the ``SeedSequence`` of stream ``name`` (one of :data:`STREAMS`)."""
        try:
            return self._children[name]
        except KeyError:
            raise ValueError(f"unknown stream {name!r}; choose from {list(STREAMS)}.") from None

    def generator(self, name: str) -> np.random.Generator:
        """Return a fresh ``Generator`` on stream ``name``."""
        return np.random.default_rng(self.seed(name))


@dataclass
class RunLog:
    """Warnings, problems and timings of one run, and where progress is reported.

    Attributes
    ----------
    warnings : list of str
        ``"Category: message"`` of every :class:`em.MixcompareWarning` a step
        raised, in order (duplicates are dropped when written).
    problems : list of str
        One sentence each, for the reader (a failed step, a degenerate fit...).
    timings : dict of str to float
        Seconds per step.
    progress : callable or None
        Called with a short message as each step starts.
    """

    warnings: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    progress: object = None

    def say(self, message: str) -> None:
        """Log ``message`` and pass it to the progress callback."""
        _log.info(message)
        if self.progress is not None:
            self.progress(message)

    def counter(self, what: str):
        """Return ``on_progress(done, total)`` for the work ``what`` counts, or None.

        It reaches the progress display when that display counts (has a
        ``count(what, done, total)`` method, as the CLI's); a plain callable
        ``progress`` only hears the steps' messages.
        """
        count = getattr(self.progress, "count", None)
        if count is None:
            return None
        return lambda done, total: count(what, done, total)

    def problem(self, message: str) -> None:
        """Record a problem a reader should know about."""
        self.problems.append(message)

    @contextlib.contextmanager
    def step(self, name: str, message: str | None = None, *, timed: bool = True):
        """Run a step: announce it, time it, and record the library warnings it raises."""
        if message:
            self.say(message)
        t0 = time.perf_counter()
        caught: list = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", em.MixcompareWarning)
                yield self
        finally:
            if timed:
                self.timings[name] = time.perf_counter() - t0
            for w in caught:
                if issubclass(w.category, em.MixcompareWarning):
                    self.warnings.append(f"{w.category.__name__}: {w.message}")
                else:  # not ours: it reaches the caller as it would have
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def unique_warnings(self) -> list[str]:
        """Return the warnings without repeats, in first-seen order."""
        return list(dict.fromkeys(self.warnings))
