"""``n_init="auto"``: restart EM in batches until its answer has been reached twice."""

from __future__ import annotations

from ._engine import Problem, run_restarts, select

#: restarts per batch of ``n_init="auto"``
AUTO_BATCH = 10
#: default cap on the restarts of ``n_init="auto"``
AUTO_MAX_INIT = 200


def run_until_stable(problem: Problem, *, init, max_init: int, max_iter: int, tol: float,
                     atlas_tol: float, rng, keep_resp: bool,
                     polish: bool = True) -> tuple[list, bool]:
    """Restart in batches of ``AUTO_BATCH`` until the fit's optimum is reached by two restarts.

    Parameters
    ----------
    problem : Problem
    init, max_iter, tol, keep_resp, polish
        As :func:`em._engine.run_restarts`.
    max_init : int
        Cap on the number of restarts.
    atlas_tol : float
        Tolerance of the grouping into optima (:func:`em._engine.select`).
    rng : numpy.random.Generator
        Restart ``i`` gets the ``i``-th child of ``rng`` whatever the batches
        (``Generator.spawn`` continues the sequence of children), so the
        runs are those of ``n_init`` equal to the number of restarts made.

    Returns
    -------
    runs : list
        Every restart, as :func:`em._engine.run_restarts`.
    capped : bool
        True when ``max_init`` restarts ran and the fit's optimum was still
        reached by one restart only.

    Notes
    -----
    The fit is the best proper optimum (:func:`em._engine.select`). One
    restart reaching it says nothing about how many basins were missed; a
    second, independent one is evidence that its basin is not a needle the
    starts rarely hit (with a basin share ``q``, at least two hits among
    ``m`` restarts happen with probability ``1 - (1 - q)^m - m q (1 - q)^(m-1)``).
    """
    runs: list = []
    while True:
        batch = min(AUTO_BATCH, max_init - len(runs))
        runs += run_restarts(problem, init=init, n_init=batch, max_iter=max_iter, tol=tol,
                             rng=rng, keep_resp=keep_resp, polish=polish)
        if len(select(problem, runs, atlas_tol)[0]) >= 2:
            return runs, False
        if len(runs) >= max_init:
            return runs, True
