"""Where each figure stands in the report: beside the section whose table it illustrates."""

from __future__ import annotations

from pathlib import Path

from . import figures, figures_mv

__all__ = ["SECTION_OF", "TITLES", "blocks"]

TITLES = {"data_density": "Data and densities", "trace_raw": "Traces as sampled",
          "trace_relabeled": "Traces after relabelling", "pair_means": "Pair plot of two means",
          "em_traces": "EM restarts", "intervals": "Intervals per parameter",
          "membership": "Membership uncertainty", "modes": "Posterior mass near EM's optima",
          "census": "Posterior modes and EM's optima", **figures_mv.TITLES}

#: the section each figure follows: ``head`` (the data), ``agreement``, ``hidden`` (what
#: EM's point estimate hides), ``switching`` (label switching), ``modes`` (the census
#: and masses) or ``atlas`` (EM's optima); a figure not listed goes after the atlas
SECTION_OF = {"data_density": "head", "mv_ellipses": "head", "mv_pairs": "head",
              "intervals": "agreement", "membership": "hidden", "mv_uncertainty": "hidden",
              "trace_raw": "switching", "trace_relabeled": "switching",
              "pair_means": "switching", "modes": "modes", "census": "modes",
              "em_traces": "atlas"}


def blocks(figs: dict[str, Path], section: str) -> list:
    """Return the report blocks (title, figure with caption) of the figures of ``section``."""
    out = []
    for name, path in figs.items():
        if SECTION_OF.get(name, "atlas") == section:
            out += [("h3", TITLES.get(name, name)),
                    ("figure", name, figures.CAPTIONS[name], path)]
    return out
