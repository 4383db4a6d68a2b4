"""The ``mixcompare`` command line.

Every anticipated failure ends with one readable line on stderr and a
non-zero exit code, never a traceback (:mod:`.errors` has the exit codes and
the checks every command makes before it works).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import warnings
from pathlib import Path

import typer

from .cli_options import (
    COLUMNS_OPT,
    CSV_OPT,
    DATASET_ARG,
    DEFAULT_DATASET,
    FIXED_OPT,
    K_OPT,
    MAX_INIT_OPT,
    N_INIT_OPT,
    STRUCTURE_OPT,
    check_counts,
    parse_fixed,
    parse_n_init,
)
from .errors import STATE, UsageError, check_out, guard, working

# plain (click) help: each option with its metavar (K, FILE, ...), flags with none
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Fit one Gaussian mixture by EM and by PyMC, and compare them.")



def _version(value: bool):
    if value:
        import mixcompare

        typer.echo(f"mixcompare {mixcompare.__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug",
                               help="Print the traceback of an internal error."),
):
    """Fit one Gaussian mixture by EM and by PyMC, and compare them."""
    STATE["debug"] = debug


def _load(dataset: str | None, csv: Path | None, columns: str | None):
    from mixcompare.comparisons import datasets

    if csv is not None:
        if dataset is not None:
            raise UsageError("give either a bundled DATASET or --csv FILE, not both")
        cols = [c.strip() for c in columns.split(",")] if columns else None
        return datasets.load_csv(csv, cols)
    if columns:
        raise UsageError("--columns goes with --csv")
    return datasets.load(dataset or DEFAULT_DATASET)


def _check_nuts_size(n: int, chains: int, draws: int) -> None:
    """Refuse NUTS settings whose draws (the pointwise log-likelihood) cannot fit in memory."""
    import os

    need = 8.0 * chains * draws * (n + 16)  # float64: n log-likelihood terms and the parameters
    try:
        have = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not on POSIX: no check
        return
    if need > have:
        raise UsageError(
            f"--chains {chains} x --draws {draws} on {n} observations would keep about "
            f"{need / 1e9:.3g} GB of draws (the pointwise log-likelihood), more than this "
            f"machine's {have / 1e9:.3g} GB of memory; lower --draws or --chains")


def _fit_em(ds, k, structure, fixed, algorithm, n_init, seed, use_prior, max_init=200):
    from mixcompare import em

    fixed = parse_fixed(fixed) if isinstance(fixed, str) else fixed
    prior = em.Prior.default(ds.X) if use_prior else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", em.MixcompareWarning)
        res = em.fit(ds.X, k, structure=structure, fixed=fixed, algorithm=algorithm,
                     n_init=n_init, max_init=max_init, rng=seed, prior=prior)
    notes = [str(w.message) for w in caught if issubclass(w.category, em.MixcompareWarning)]
    return res, notes


@app.command()
@guard
def run(
    dataset: str = DATASET_ARG,
    csv: Path = CSV_OPT,
    columns: str = COLUMNS_OPT,
    k: int = K_OPT,
    structure: str = STRUCTURE_OPT,
    fixed: str = FIXED_OPT,
    ordered: bool = typer.Option(False, "--ordered/--unordered",
                                 help="Ordered means in the PyMC model (default: unordered)."),
    permute_labels: bool = typer.Option(
        False, "--permute-labels",
        help="Randomly permute each draw's labels (unordered models): show the symmetric "
             "posterior and how relabelling recovers one copy."),
    methods: str = typer.Option("em,map_em,map,nuts", "--methods", metavar="M1,M2,...",
                                help="Comma-separated subset of em,map_em,map,nuts."),
    draws: int = typer.Option(1000, "--draws", metavar="N", help="NUTS draws per chain."),
    tune: int = typer.Option(1000, "--tune", metavar="N", help="NUTS warm-up per chain."),
    chains: int = typer.Option(4, "--chains", metavar="N", help="NUTS chains."),
    sampler: str = typer.Option("pymc", "--sampler", metavar="pymc|nutpie",
                                help="The NUTS implementation."),
    init: str = typer.Option("em", "--init", metavar="em|atlas|prior",
                             help="Where the chains start: EM's optimum (jittered by its SEs), "
                                  "spread over EM's atlas of optima, or PyMC's default."),
    n_init: str = N_INIT_OPT,
    max_init: int = MAX_INIT_OPT,
    n_boot: int = typer.Option(200, "--n-boot", metavar="N",
                               help="Bootstrap refits for EM's SEs (0: none)."),
    seed: int = typer.Option(0, "--seed", metavar="SEED",
                             help="Random seed (one seed for everything)."),
    out: Path = typer.Option(Path("mixcompare-report"), "--out", metavar="DIR",
                             help="Output folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing but errors."),
    prior_sensitivity: str = typer.Option(
        "reweight", "--prior-sensitivity", metavar="reweight|refit|off",
        help="The hidden spread under weaker priors (b/10, b/100): PSIS reweighting of the "
             "draws, NUTS refits where that is unreliable, or none."),
    arviz_groups: bool = typer.Option(
        True, "--arviz-groups/--no-arviz-groups",
        help="Keep observed_data, log_likelihood, prior and the predictive draws in "
             "results.nc (az.loo and predictive plots work on the file)."),
):
    """Run every method on one data set and write the comparison report."""
    console = _console(quiet)
    console.log("mixcompare run: checking the data and options")  # on screen at once
    from mixcompare import em

    from .progress import RunProgress

    ds = _load(dataset, csv, columns)
    k = ds.default_k if k is None else k
    fixed_d = parse_fixed(fixed) if fixed else ds.fixed
    meths = tuple(m.strip() for m in methods.split(",") if m.strip())
    if not meths:
        raise UsageError("--methods names no method; give a comma-separated subset of "
                         "em,map_em,map,nuts")
    check_counts(draws=(draws, 1), chains=(chains, 1), tune=(tune, 0),
                  n_boot=(n_boot, 0), seed=(seed, 0))
    n_init = parse_n_init(n_init, max_init)
    if "nuts" in meths:
        _check_nuts_size(len(ds.X), chains, draws)
    if sampler not in ("pymc", "nutpie"):
        raise UsageError(f"--sampler must be pymc or nutpie, got {sampler!r}")
    if init not in ("em", "atlas", "prior"):
        raise UsageError(f"--init must be em, atlas or prior, got {init!r}")
    if prior_sensitivity not in ("reweight", "refit", "off"):
        raise UsageError("--prior-sensitivity must be reweight, refit or off, got "
                         f"{prior_sensitivity!r}")
    if permute_labels and ordered:
        raise UsageError("--permute-labels shows the symmetric posterior of unordered labels; "
                         "drop --ordered or --permute-labels")
    em.model_spec(ds.X, k, structure=structure, fixed=fixed_d)  # data and model, checked once
    check_out(out)
    command = " ".join(["mixcompare"] + sys.argv[1:])
    with RunProgress(console, quiet) as display, _quiet_pymc(quiet), working(out, quiet):
        display("importing PyMC")
        from mixcompare.comparisons.io import write_json_atomic
        from mixcompare.comparisons.pipeline import compare
        from mixcompare.comparisons.report.comparison import write_report

        result = compare(
            ds.X, k, methods=meths, structure=structure, fixed=fixed_d, ordered=ordered,
            draws=draws, tune=tune, chains=chains, sampler=sampler, init=init, n_init=n_init,
            max_init=max_init, n_boot=n_boot, permute=permute_labels, rng=seed,
            **ds.metadata(), command=command, arviz_groups=arviz_groups,
            prior_sensitivity=prior_sensitivity, progress=display)
        display("writing the report")
        out.mkdir(parents=True, exist_ok=True)
        summary = result.summary()
        files = write_report(result, out, command=command, seed=seed, data_name=ds.name)
        write_json_atomic(out / "summary.json", summary, indent=2)
    if not quiet:
        _print_summary(console, ds, k, summary, out, files)


@contextlib.contextmanager
def _quiet_pymc(quiet: bool):
    """Silence PyMC's informational log lines (e.g. "Multiprocess sampling ...") under --quiet."""
    if quiet:
        import pymc  # noqa: F401  (importing pymc sets its logger to INFO: do it first)
    log = logging.getLogger("pymc")
    level = log.level
    if quiet:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _console(quiet: bool):
    from rich.console import Console

    return Console(stderr=True, quiet=quiet)


def _print_summary(console, ds, k, summary, out, files):
    from rich.table import Table

    console.print(f"[bold]{ds.name}[/bold]: n = {summary['dataset']['n']}, K = {k}")
    table = Table(show_header=True)
    for col in ("parameter", "EM", "MAP-EM", "find_MAP", "post. mean", "post. sd", "agree"):
        table.add_column(col, justify="right")
    for row in summary["agreement"]["rows"]:
        def f(key, row=row):
            v = row.get(key)
            return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        table.add_row(row["name"], f("em"), f("map_em"), f("map"), f("post_mean"),
                      f("post_sd"), f("agree"))
    console.print(table)
    nuts = summary.get("nuts")
    if nuts:
        ls = nuts["label_switching"]
        console.print(f"label switching: {ls['reason']}")
        console.print(f"R-hat max {nuts['rhat_max']:.3f} raw, "
                      f"{nuts['rhat_max_relabeled']:.3f} relabelled; "
                      f"divergences {nuts['divergences']}")
    for p in summary["problems"]:
        console.print(f"[yellow]problem:[/yellow] {p}")
    console.print(f"report written to {out}/ ({', '.join(sorted(files))}"
                  ", summary.json)")


@app.command("em")
@guard
def em_cmd(
    dataset: str = DATASET_ARG,
    csv: Path = CSV_OPT,
    columns: str = COLUMNS_OPT,
    k: int = K_OPT,
    structure: str = STRUCTURE_OPT,
    fixed: str = FIXED_OPT,
    algorithm: str = typer.Option(
        "em", "--algorithm", metavar="em|cem",
        help="Soft EM (em) or classification EM (cem, hard labels)."),
    n_init: str = N_INIT_OPT,
    max_init: int = MAX_INIT_OPT,
    seed: int = typer.Option(0, "--seed", metavar="SEED", help="Random seed."),
    map_: bool = typer.Option(False, "--map", help="MAP-EM under the default prior."),
):
    """Run EM alone and print its JSON."""
    from mixcompare import em
    from mixcompare.comparisons.report.em_json import em_summary

    ds = _load(dataset, csv, columns)
    fixed_d = parse_fixed(fixed) if fixed else ds.fixed
    k = ds.default_k if k is None else k
    em.model_spec(ds.X, k, structure=structure, fixed=fixed_d)
    if algorithm not in ("em", "cem"):
        raise UsageError(f"--algorithm must be one of em, cem; got {algorithm!r}")
    check_counts(seed=(seed, 0))
    n_init = parse_n_init(n_init, max_init)
    with working():
        res, notes = _fit_em(ds, k, structure, fixed_d, algorithm, n_init, seed, map_,
                             max_init)
    out = em_summary(res)
    out["warnings"] = notes
    typer.echo(json.dumps(out, indent=2, allow_nan=False))


@app.command()
@guard
def lecture(
    out: Path = typer.Option(Path("mixcompare-lecture"), "--out", metavar="DIR",
                             help="Output folder."),
    seed: int = typer.Option(0, "--seed", metavar="SEED", help="Random seed."),
    quick: bool = typer.Option(False, "--quick", help="Small settings (for CI)."),
):
    """Reproduce the EM lecture slide by slide: figures, tables, index.md and captions.md."""
    from mixcompare.comparisons.lecture.command import lecture_command

    from .progress import RunProgress

    check_counts(seed=(seed, 0))
    check_out(out)
    console = _console(False)
    with RunProgress(console) as display, working(out):
        files = lecture_command(out, seed, quick, progress=display)
    typer.echo(f"{len(files)} files written to {out}/ (see index.md)")


@app.command()
@guard
def study(
    config: Path = typer.Argument(
        ..., help="The study's TOML file (see benchmarks/example_study.toml)."),
    out: Path = typer.Option(Path("mixcompare-study"), "--out", metavar="DIR",
                             help="Output folder."),
    scheduler: str = typer.Option(
        None, "--scheduler", metavar="ADDRESS",
        help="Address of a running Dask scheduler (default: a local cluster); 'inline' runs here."),
    workers: int = typer.Option(0, "--workers", metavar="N",
                                help="Local worker processes (0: one per CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Skip the replicates already in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing but errors."),
):
    """Run a simulation study: coverage of EM's and the posterior's intervals over a grid."""
    from .study.cluster import check_scheduler
    from .study.run import study_command

    check_counts(workers=(workers, 0))
    check_scheduler(scheduler)
    check_out(out)
    with working(out, quiet):
        code = study_command(config, out, scheduler, workers, resume, quiet)
    raise typer.Exit(code)


@app.command()
@guard
def sbc(
    out: Path = typer.Option(Path("mixcompare-sbc"), "--out", metavar="DIR",
                             help="Output folder."),
    n_sims: int = typer.Option(100, "--n-sims", metavar="N", help="Simulated data sets."),
    n: int = typer.Option(40, "--n", metavar="N", help="Observations per simulated data set."),
    draws: int = typer.Option(200, "--draws", metavar="N", help="NUTS draws per chain."),
    tune: int = typer.Option(200, "--tune", metavar="N", help="NUTS warm-up per chain."),
    chains: int = typer.Option(1, "--chains", metavar="N", help="NUTS chains per simulation."),
    seed: int = typer.Option(0, "--seed", metavar="SEED", help="Random seed."),
    control: bool = typer.Option(True, "--control/--no-control",
                                 help="Also run the negative control, which SBC must flag."),
    scheduler: str = typer.Option(
        None, "--scheduler", metavar="ADDRESS",
        help="Address of a running Dask scheduler (default: a local cluster); 'inline' runs here."),
    workers: int = typer.Option(0, "--workers", metavar="N",
                                help="Local worker processes (0: one per CPU)."),
    quiet: bool = typer.Option(False, "--quiet", help="Print nothing but errors."),
):
    """Check the PyMC model by simulation-based calibration, with a negative control."""
    from .study.sbc import sbc_command

    check_counts(n_sims=(n_sims, 1), n=(n, 4), draws=(draws, 1), tune=(tune, 0),
                  chains=(chains, 1), seed=(seed, 0), workers=(workers, 0))
    from .study.cluster import check_scheduler

    check_scheduler(scheduler)
    check_out(out)
    with working(out, quiet):
        code = sbc_command(out, n_sims, n, draws, tune, chains, seed, control, scheduler,
                           workers, quiet)
    raise typer.Exit(code)


@app.command()
def datasets():
    """List the bundled data sets with their sources."""
    from mixcompare.comparisons import datasets as ds_mod

    for info in ds_mod.list_datasets():
        name = getattr(info, "name", info)
        d = ds_mod.load(name)
        shape = "x".join(str(s) for s in d.X.shape)
        typer.echo(f"{d.name:15s} {shape:>8s}  K={d.default_k}  {d.source}")


from .choosek.cli import choose_k_command  # noqa: E402  (after the helpers it is given)

app.command("choose-k")(guard(choose_k_command(_load, _console, _quiet_pymc)))


def main():
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
