"""``mixcompare choose-k``: how many components, EM's criteria and the posterior's side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..cli_options import (
    COLUMNS_OPT,
    CSV_OPT,
    DATASET_ARG,
    MAX_INIT_OPT,
    check_counts,
    parse_n_init,
)
from ..errors import UsageError, check_out, working

__all__ = ["choose_k_command"]


def _parts(text: str) -> tuple[str, ...]:
    from .api import PARTS

    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad or "em" not in parts:
        raise UsageError(f"--parts must name em and any of {','.join(PARTS[1:])}; got {text!r}")
    return parts


def choose_k_command(load, make_console, quiet_pymc):
    """Return the ``choose-k`` command, built on the CLI's data loading and console helpers.

    ``load(dataset, csv, columns)`` returns a :class:`datasets.Dataset`,
    ``make_console(quiet)`` a rich console and ``quiet_pymc(quiet)`` a context
    that silences PyMC's log lines (``comparisons/cli.py`` passes its own).
    """

    def choose_k_cmd(
        dataset: str = DATASET_ARG,
        csv: Path = CSV_OPT,
        columns: str = COLUMNS_OPT,
        k_max: int = typer.Option(5, "--k-max", metavar="K", help="Largest K (K = 1..K)."),
        structures: str = typer.Option(
            None, "--structures", metavar="S1,S2",
            help="EM's structures (default: equal,unequal for 1-D; spherical,diag,tied,full)."),
        bayes_structure: str = typer.Option(
            None, "--bayes-structure", metavar="S",
            help="Structure of the Bayesian side (default: unequal for 1-D, full otherwise)."),
        parts: str = typer.Option("em,lrt,loo,smc,overfitted", "--parts", metavar="P1,P2",
                                  help="Which parts to run (em always)."),
        n_init: str = typer.Option(
            "50", "--n-init", metavar="N|auto",
            help="EM restarts per K and structure: a number, or auto (until the best "
                 "optimum is reached twice)."),
        max_init: int = MAX_INIT_OPT,
        n_boot: int = typer.Option(99, "--n-boot", metavar="N",
                                   help="Bootstrap data sets per likelihood-ratio test."),
        draws: int = typer.Option(500, "--draws", metavar="N", help="NUTS draws per chain."),
        tune: int = typer.Option(500, "--tune", metavar="N", help="NUTS warm-up per chain."),
        chains: int = typer.Option(2, "--chains", metavar="N", help="NUTS chains."),
        smc_draws: int = typer.Option(400, "--smc-draws", metavar="N", help="SMC particles."),
        smc_chains: int = typer.Option(4, "--smc-chains", metavar="N", help="SMC chains per K."),
        seed: int = typer.Option(0, "--seed", metavar="SEED", help="Random seed."),
        out: Path = typer.Option(Path("mixcompare-choose-k"), "--out", metavar="DIR",
                                 help="Output folder."),
        quiet: bool = typer.Option(False, "--quiet", help="Print nothing but errors."),
    ):
        """How many components? EM's BIC, ICL, AIC and LRT beside LOO, SMC, overfitting."""
        console = make_console(quiet)
        console.log("mixcompare choose-k: checking the data and options")
        from mixcompare import em

        from ..progress import RunProgress

        ds = load(dataset, csv, columns)
        check_counts(k_max=(k_max, 1), n_boot=(n_boot, 0), draws=(draws, 1), tune=(tune, 0),
                     chains=(chains, 1), smc_draws=(smc_draws, 2), smc_chains=(smc_chains, 1),
                     seed=(seed, 0))
        n_init = parse_n_init(n_init, max_init)
        part_t = _parts(parts)
        structs = tuple(s.strip() for s in structures.split(",") if s.strip()) if structures \
            else None
        for s in (structs or ()) + ((bayes_structure,) if bayes_structure else ()):
            em.model_spec(ds.X, k_max, structure=s)
        if k_max < 2 and ({"lrt", "overfitted"} & set(part_t)):
            raise UsageError("--k-max 1 leaves nothing to test: give --k-max 2 or more, or "
                             "--parts em,loo,smc")
        check_out(out)
        command = " ".join(["mixcompare"] + sys.argv[1:])
        with RunProgress(console, quiet) as display, quiet_pymc(True), working(out, quiet):
            display("importing PyMC")
            from mixcompare.comparisons.io import write_json_atomic

            from .api import choose_k
            from .report import write_report

            result = choose_k(ds.X, k_max, structures=structs, bayes_structure=bayes_structure,
                              parts=part_t, n_init=n_init, max_init=max_init, n_boot=n_boot,
                              draws=draws, tune=tune, chains=chains, smc_draws=smc_draws,
                              smc_chains=smc_chains, rng=seed, name=ds.name, progress=display)
            display("writing the report")
            files = write_report(result, out, command=command)
            summary = result.summary()
            write_json_atomic(out / "summary.json", summary, indent=2)
        if not quiet:
            for c, v in summary["choices"].items():
                console.print(f"{c}: K = {v['k']} ({v['structure']})")
            console.print(f"report written to {out}/ ({', '.join(sorted(files))}, summary.json)")

    return choose_k_cmd
