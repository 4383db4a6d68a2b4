"""Regenerate ``cpg.csv``: SIMULATED CpG observed/expected ratios of human promoters.

The two-class design follows Saxonov, Berg & Brutlag (2006), PNAS 103,
1412-1417: 72 % of human promoters are high-CpG (HCG) and 28 % low-CpG (LCG).
The component means, standard deviations and the sample size below are OUR
assumptions (plausible values, not estimates from that paper). The file is
drawn once from the mixture with ``em.sample`` and a fixed seed, so running
this script again reproduces ``cpg.csv`` exactly::

    python comparisons/data/make_cpg.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from mixcompare import em

#: number of simulated promoters (our assumption)
N = 1000
#: class proportions, HCG then LCG (Saxonov et al. 2006)
WEIGHTS = (0.72, 0.28)
#: class means of the CpG o/e ratio, HCG then LCG (our assumption)
MEANS = (0.62, 0.23)
#: class standard deviations, HCG then LCG (our assumption)
SDS = (0.14, 0.08)
#: class names in component order
CLASSES = ("high", "low")
#: seed of the one draw
SEED = 20060131
#: decimals written to the file
DECIMALS = 4
PATH = Path(__file__).with_name("cpg.csv")


def simulate() -> tuple[np.ndarray, np.ndarray]:
    """Draw the data set.

    Returns
    -------
    x : ndarray of shape (N,)
        CpG observed/expected ratios, rounded to ``DECIMALS`` decimals.
    labels : ndarray of shape (N,)
        Component of each draw: 0 = high-CpG, 1 = low-CpG.
    """
    x, labels = em.sample(N, WEIGHTS, MEANS, np.square(SDS), rng=SEED)
    return np.round(x, DECIMALS), labels


def main(path: Path = PATH) -> Path:
    """Write ``cpg.csv`` (columns ``cpg_oe,component``) and return its path."""
    x, labels = simulate()
    if (x <= 0).any():
        raise ValueError("a simulated ratio is <= 0; choose other assumptions")
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["cpg_oe", "component"])
        for value, label in zip(x, labels, strict=True):
            writer.writerow([f"{value:.{DECIMALS}f}", CLASSES[label]])
    return path


if __name__ == "__main__":
    main()
