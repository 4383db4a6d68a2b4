"""``mixcompare lecture``: compute every slide, then write the pages, figures and ``index.html``.

:func:`lecture_command` runs the parts of :data:`PARTS` in order, telling a
progress display which slides it is building, and hands the results to
:func:`.pages.write_lecture` (``index.md``, ``captions.md``, figures, tables)
and :func:`.interactive.write_page` (``index.html``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from mixcompare import em
from mixcompare.comparisons import datasets

from . import grid_posterior, slides, theory

__all__ = ["K_PANEL", "PARTS", "lecture_command", "theory_results"]

#: largest K of slides 28-29's K-choice panel
K_PANEL = 2

_log = logging.getLogger(__name__)

#: the parts of :func:`lecture_command`, in order, with the slides each builds
PARTS = ("slides 28-29: one Gaussian in closed form, or two? (K = 1 against K = 2, and the "
         "K-choice panel)",
         "slides 32-35: the nine-point likelihood surface, EM's paths and basins",
         "slides 36-42: the nine-point posterior, the E- and M-step by hand, two iterations",
         "CEM against EM: the bias curve",
         "slide 30: CpG (simulated) by EM and MAP-EM (and, without --quick, find_MAP and NUTS)",
         "galaxies: EM's atlas of optima and the posterior's modes",
         "writing the lecture's pages, figures and interactive index.html")


def theory_results(rng=None, settings=None) -> dict:
    """Compute slides 28-29 and the worked numbers of slides 36-42.

    Parameters
    ----------
    rng : int, numpy.random.Generator or None
    settings : slides.LectureSettings, default slides.QUICK
        Sizes of the K-choice panel (``k_parts``, ``k_boot``, ``k_draws``).

    Returns
    -------
    dict
        ``cpg`` (the data set), ``x`` (its values), ``mle``
        (:func:`.theory.gaussian_mle`), ``k_table``, ``k_fits``
        (:func:`.theory.k_choice`), ``k_panel`` (:func:`comparisons.choose_k`
        on the same data, K = 1..2, equal and unequal variances, the comparison's
        prior), ``x9`` (the nine points), ``worked``
        (:func:`.theory.estep_by_hand` for x = 0 at the two-iteration
        example's start) and ``resp`` (:func:`.theory.responsibility_table`).
    """
    from mixcompare.comparisons import choose_k

    s = settings or slides.QUICK
    ds = datasets.load("cpg")
    x = np.asarray(ds.X, float).ravel()
    r_fit, r_panel = em.check_rng(rng).spawn(2)
    table, fits = theory.k_choice(x, rng=r_fit)
    panel = choose_k(x, K_PANEL, structures=("equal", "unequal"), parts=s.k_parts, n_init=10,
                     n_boot=s.k_boot, draws=s.k_draws, tune=s.k_draws, smc_draws=s.k_draws,
                     smc_chains=2, rng=r_panel, name="cpg (simulated)")
    x9, _ = slides.bumps_data()
    return {"cpg": ds, "x": x, "mle": theory.gaussian_mle(x), "k_table": table, "k_fits": fits,
            "k_panel": panel,
            "x9": x9, "worked": theory.estep_by_hand(0.0, slides.TWO_ITER_START),
            "resp": theory.responsibility_table(slides.TWO_ITER_X, slides.TWO_ITER_START)}


def _cpg_note(settings) -> str:
    """One line on how CpG was compared (and what ``--quick`` leaves to the full run)."""
    note = f"Methods: {', '.join(settings.cpg_methods)}"
    if "nuts" in settings.cpg_methods:
        return note + (f"; NUTS {settings.chains} chains x ({settings.tune} tune + "
                       f"{settings.draws} draws).")
    return note + (". NUTS: run without --quick (with `find_MAP`; the posterior's rows of "
                   "the table, its trace, pair, membership, mode and census figures are left "
                   "to the full run).")


def lecture_command(out: Path, seed: int, quick: bool, progress=None) -> list[Path]:
    """Reproduce the lecture: compute every slide and write figures, tables and pages.

    Parameters
    ----------
    out : Path
        Output folder (created); figures ``*.png``, ``cpg/*.png``, tables in
        ``tables/`` (Markdown and CSV), ``index.md`` (the lecture, slide by
        slide), ``captions.md`` (every figure with its caption) and
        ``index.html`` (the interactive page).
    seed : int
        One seed for everything.
    quick : bool
        :data:`.slides.QUICK` settings instead of :data:`.slides.FULL`: small
        grids, no PyMC at all -- the nine-point posterior exactly on a grid
        (:mod:`.grid_posterior`), CpG and galaxies by EM and MAP-EM (their
        NUTS sections say what the full run adds), no posterior on the bias
        curve, the K-choice panel EM's side only.
    progress : callable, optional
        Told which slides are being built (``progress(message)``) and, when it
        has a ``count(what, done, total)`` method, how many of the lecture's
        parts are done; the CpG and galaxies comparisons report their steps to it.

    Returns
    -------
    list of Path
        Every file written.
    """
    from . import interactive, pages

    settings = slides.QUICK if quick else slides.FULL
    seeds = np.random.default_rng(seed).spawn(6)
    count = getattr(progress, "count", lambda *a: None)

    def step(done: int):  # announce part `done` (and count the ones before it)
        _log.info(PARTS[done])
        if progress is not None:
            progress(PARTS[done])
        count("lecture parts", done, len(PARTS))

    step(0)
    th = theory_results(rng=seeds[5], settings=settings)
    step(1)
    b = slides.bumps(settings)
    step(2)
    if settings.nuts:
        post = slides.bumps_posterior(draws=settings.bump_draws, tune=settings.bump_draws,
                                      rng=seeds[0], cores=1 if quick else None)
    else:  # two free means: the exact posterior on a grid, and MAP-EM's path
        x9, fixed = slides.bumps_data()
        post = grid_posterior.grid_posterior(
            x9, fixed, em.Prior.default(x9), rng=seeds[0],
            maxima=np.column_stack([b.surface["opt_mu1"].values, b.surface["opt_mu2"].values]))
        post["map_path"] = slides.map_em_path()
    table = slides.iteration_table()
    step(3)
    bias = slides.cem_bias(settings.separations, n=settings.n_sim,
                           replicates=settings.replicates,
                           posterior_separations=settings.posterior_separations,
                           posterior_replicates=settings.posterior_replicates,
                           rng=seeds[1])
    step(4)
    cpg = slides.cpg_comparison(settings, rng=seeds[2], progress=progress)
    step(5)
    gal = slides.galaxies_atlas(settings, rng=seeds[3], progress=progress)
    step(6)
    out = Path(out)
    files = pages.write_lecture(
        out, b, post, table, bias, cpg, gal, seed=seed, quick=quick, n_init=settings.n_init,
        theory=th, cpg_note=_cpg_note(settings))
    x9, fixed = slides.bumps_data()
    files.append(interactive.write_page(out / "index.html", x9, fixed, b.surface, post))
    count("lecture parts", len(PARTS), len(PARTS))
    return files
