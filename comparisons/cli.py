"""The ``mixcompare`` command line.

Every anticipated failure (bad data, bad options) ends with one readable
line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import typer

import em

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Fit one Gaussian mixture by EM and by PyMC, and compare them.")

DEFAULT_DATASET = "faithful"


class UsageError(ValueError):
    """A bad option value given on the command line."""


def _fail(msg: str, code: int = 2):
    typer.echo(f"mixcompare: error: {msg}", err=True)
    raise typer.Exit(code)


def _load(dataset: str | None, csv: Path | None, columns: str | None):
    from . import datasets

    if csv is not None:
        if dataset is not None:
            raise UsageError("give either a bundled DATASET or --csv FILE, not both")
        cols = [c.strip() for c in columns.split(",")] if columns else None
        return datasets.load_csv(csv, cols)
    if columns:
        raise UsageError("--columns goes with --csv")
    return datasets.load(dataset or DEFAULT_DATASET)


def _parse_fixed(text: str | None) -> dict | None:
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


def _fit_em(ds, k, structure, fixed, algorithm, n_init, seed, use_prior):
    fixed = _parse_fixed(fixed) if isinstance(fixed, str) else fixed
    prior = em.Prior.default(ds.X) if use_prior else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", em.MixcompareWarning)
        res = em.fit(ds.X, k, structure=structure, fixed=fixed, algorithm=algorithm,
                     n_init=n_init, rng=seed, prior=prior)
    notes = [str(w.message) for w in caught if issubclass(w.category, em.MixcompareWarning)]
    return res, notes


def _guard(func):
    """Turn expected errors into one line and a non-zero exit."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from .datasets import DataError

        try:
            return func(*args, **kwargs)
        except (DataError, UsageError, ValueError, TypeError) as err:
            _fail(str(err))
        except KeyboardInterrupt:
            _fail("interrupted", code=130)

    return wrapper


@app.command()
@_guard
def run(
    dataset: str = typer.Argument(None, help=f"Bundled data set (default: {DEFAULT_DATASET})."),
    csv: Path = typer.Option(None, "--csv", help="A CSV file of your own."),
    columns: str = typer.Option(None, "--columns", help="Comma-separated CSV columns."),
    k: int = typer.Option(None, "--k", help="Number of components (default: the data set's)."),
    structure: str = typer.Option(
        None, "--structure", help="unequal|equal (1-D), full|diag|spherical|tied."),
    fixed: str = typer.Option(
        None, "--fixed", help="Fixed parameters, e.g. 'variances=1;weights=0.5,0.5'."),
    n_init: int = typer.Option(20, "--n-init", help="EM restarts."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    out: Path = typer.Option(Path("mixcompare-report"), "--out", help="Output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing but errors."),
):
    """Fit EM and MAP-EM on a data set, print a comparison table and write summary.json."""
    ds = _load(dataset, csv, columns)
    k = k or ds.default_k
    fixed_d = _parse_fixed(fixed) if fixed else ds.fixed
    mle, notes = _fit_em(ds, k, structure, fixed_d, "em", n_init, seed, False)
    cem, notes_c = _fit_em(ds, k, structure, fixed_d, "cem", n_init, seed, False)
    try:
        mapem, notes_m = _fit_em(ds, k, structure, fixed_d, "em", n_init, seed, True)
    except ValueError as err:  # e.g. a structure the conjugate prior does not cover
        mapem, notes_m = None, [f"MAP-EM skipped: {err}"]
    from .em_summary import em_summary

    summary = {
        "dataset": {"name": ds.name, "n": int(ds.X.shape[0]),
                    "d": int(1 if ds.X.ndim == 1 else ds.X.shape[1]), "sha256": ds.sha256,
                    "source": ds.source},
        "n_components": k,
        "structure": mle.structure,
        "seed": seed,
        "em": em_summary(mle),
        "cem": em_summary(cem),
        "map_em": em_summary(mapem) if mapem is not None else None,
        "prior": em.Prior.default(ds.X).to_dict() if mapem is not None else None,
        "warnings": notes + notes_c + notes_m,
        "command": " ".join(["mixcompare"] + sys.argv[1:]),
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "summary.json")
    if not quiet:
        _print_table(ds, k, [("EM (MLE)", mle), ("classification EM", cem), ("MAP-EM", mapem)],
                     summary["warnings"], out)


def _print_table(ds, k, fits, notes, out):
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{ds.name}[/bold]: n = {ds.X.shape[0]}, K = {k} — {ds.source}")
    table = Table(show_header=True)
    for col in ("method", "component", "weight", "mean", "sd", "log-lik", "optima"):
        table.add_column(col, justify="right")
    for name, res in fits:
        if res is None:
            continue
        order = np.argsort(np.asarray(res.means).reshape(res.n_components, -1)[:, 0])
        for j, kk in enumerate(order):
            mean = np.asarray(res.means)[kk]
            sd = np.asarray(res.sds)[kk]
            fmt = (lambda v: f"{v:.4g}") if np.ndim(mean) == 0 else (
                lambda v: "[" + ", ".join(f"{x:.3g}" for x in v) + "]")
            table.add_row(name if j == 0 else "", str(j), f"{res.weights[kk]:.4f}", fmt(mean),
                          fmt(sd), f"{res.log_likelihood:.2f}" if j == 0 else "",
                          str(len(res.optima)) if j == 0 else "")
    console.print(table)
    for n in notes:
        console.print(f"[yellow]warning:[/yellow] {n}")
    console.print(f"summary written to {out / 'summary.json'}")


@app.command("em")
@_guard
def em_cmd(
    dataset: str = typer.Argument(None, help=f"Bundled data set (default: {DEFAULT_DATASET})."),
    csv: Path = typer.Option(None, "--csv"),
    columns: str = typer.Option(None, "--columns"),
    k: int = typer.Option(None, "--k"),
    structure: str = typer.Option(None, "--structure"),
    fixed: str = typer.Option(None, "--fixed"),
    algorithm: str = typer.Option("em", "--algorithm", help="em or cem."),
    n_init: int = typer.Option(10, "--n-init"),
    seed: int = typer.Option(0, "--seed"),
    map_: bool = typer.Option(False, "--map", help="MAP-EM under the default prior."),
):
    """Run EM alone and print its JSON."""
    from .em_summary import em_summary

    ds = _load(dataset, csv, columns)
    fixed_d = _parse_fixed(fixed) if fixed else ds.fixed
    res, notes = _fit_em(ds, k or ds.default_k, structure, fixed_d, algorithm, n_init, seed, map_)
    out = em_summary(res)
    out["warnings"] = notes
    typer.echo(json.dumps(out, indent=2))


@app.command()
def datasets():
    """List the bundled data sets with their sources."""
    from . import datasets as ds_mod

    for info in ds_mod.list_datasets():
        name = getattr(info, "name", info)
        d = ds_mod.load(name)
        shape = "x".join(str(s) for s in d.X.shape)
        typer.echo(f"{d.name:15s} {shape:>8s}  K={d.default_k}  {d.source}")


def main():
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
