"""Options the ``mixcompare`` commands share (``run`` and ``em``), and their parsing and checks."""

from __future__ import annotations

import typer

from .errors import UsageError

__all__ = ["COLUMNS_OPT", "CSV_OPT", "DATASET_ARG", "DEFAULT_DATASET", "FIXED_OPT", "K_OPT",
           "MAX_INIT_OPT", "N_INIT_OPT", "STRUCTURE_OPT", "check_counts", "parse_fixed",
           "parse_n_init"]

DEFAULT_DATASET = "faithful"

DATASET_ARG = typer.Argument(None, metavar="DATASET",
                             help=f"Bundled data set (default: {DEFAULT_DATASET}; see "
                                  "'mixcompare datasets').")
CSV_OPT = typer.Option(None, "--csv", metavar="FILE", help="A CSV file of your own.")
COLUMNS_OPT = typer.Option(None, "--columns", metavar="A,B",
                           help="Comma-separated CSV columns (default: every numeric column).")
K_OPT = typer.Option(None, "--k", metavar="K",
                     help="Number of components (default: the data set's).")
STRUCTURE_OPT = typer.Option(
    None, "--structure", metavar="STRUCTURE",
    help="unequal|equal (1-D), full|tied|diag|spherical (d > 1).")
N_INIT_OPT = typer.Option(
    "auto", "--n-init", metavar="N|auto",
    help="EM restarts: a number, or auto (until the best optimum is reached twice).")
MAX_INIT_OPT = typer.Option(200, "--max-init", metavar="N", help="Cap on the restarts of auto.")
FIXED_OPT = typer.Option(None, "--fixed", metavar="'NAME=V[,V];...'",
                         help="Fixed parameters, e.g. 'variances=1;weights=0.5,0.5'.")


def parse_fixed(text: str | None) -> dict | None:
    """Parse ``--fixed 'variances=1;weights=0.5,0.5'`` into a dict."""
    if not text:
        return None
    out = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise UsageError(f"--fixed expects NAME=v1,v2;NAME=..., got {part!r}")
        name, vals = part.split("=", 1)
        try:
            nums = [float(v) for v in vals.split(",")]
        except ValueError:
            raise UsageError(
                f"--fixed {name.strip()}: values must be numbers, got {vals!r}") from None
        out[name.strip()] = nums[0] if len(nums) == 1 and name.strip() == "variances" else nums
    return out


def check_counts(**options) -> None:
    """Refuse count options out of range: ``name=(value, minimum)``; seeds are unbounded."""
    from mixcompare import em

    for name, (val, low) in options.items():
        flag = "--" + name.replace("_", "-")
        if val < low:
            raise UsageError(f"{flag} must be at least {low}, got {val}")
        if name != "seed" and val > em.MAX_COUNT:
            raise UsageError(f"{flag} must be at most {em.MAX_COUNT}, got {val}")


def parse_n_init(text: str, max_init: int):
    """``--n-init``: a count of restarts, or ``auto`` (restart until stable, see em.fit)."""
    check_counts(max_init=(max_init, 1))
    if text.strip().lower() == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"--n-init must be a whole number or auto, got {text!r}") from None
    check_counts(n_init=(n, 1))
    return n
