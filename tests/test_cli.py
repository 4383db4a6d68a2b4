"""The mixcompare command line: end-to-end run, and one readable line for every bad input."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

CLI = [sys.executable, "-m", "mixcompare.comparisons.cli"]


def _run(*args, cwd=None, timeout=900):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def _one_error_line(proc, *words):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    err = [ln for ln in lines if ln.startswith("mixcompare: error:")]
    assert len(err) == 1, proc.stderr
    for w in words:
        assert w in err[0], err[0]


@pytest.fixture
def csvs(tmp_path):
    files = {
        "good.csv": "a,b,label\n1.0,2.0,x\n1.5,2.5,y\n3.0,0.5,x\n4.0,1.0,y\n",
        "text.csv": "a,b\n1.0,2.0\nhello,3\n2.0,1.0\n",
        "nan.csv": "a,b\n1.0,2.0\n,3\n2.0,NaN\n4,4\n",
        "empty.csv": "",
        "short.csv": "a\n1.0\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["em", "--csv", "NOFILE.csv"], ["file not found", "NOFILE.csv"]),
        (["em", "--csv", "{d}/good.csv", "--columns", "zzz"], ["no column", "zzz"]),
        (["em", "--csv", "{d}/text.csv", "--columns", "a"], ["a", "row"]),
        (["em", "--csv", "{d}/nan.csv", "--columns", "a,b"], ["missing values", "row"]),
        (["em", "--csv", "{d}/empty.csv"], ["empty"]),
        (["em", "--csv", "{d}/short.csv"], ["at least two"]),
        (["em", "--csv", "{d}", "--columns", "a"], ["not a file"]),
        (["em", "nosuchdata"], ["unknown data set", "faithful"]),
        (["em", "faithful", "--k", "0"], ["n_components must be at least 1"]),
        (["em", "faithful", "--k", "300"], ["272 observations", "n_components=300"]),
        (["em", "faithful", "--structure", "full"], ["for multivariate data"]),
        (["em", "faithful", "--fixed", "weights=0.2,0.2"], ["sum to 1"]),
        (["em", "faithful", "--fixed", "variances=-1"], ["strictly positive"]),
        (["em", "faithful", "--fixed", "variances"], ["--fixed expects"]),
        (["em", "faithful", "--algorithm", "sem"], ["algorithm must be one of"]),
        (["run", "faithful", "--sampler", "stan"], ["--sampler must be"]),
        (["run", "faithful", "--draws", "0"], ["--draws must be at least 1"]),
        (["run", "faithful", "--methods", "em,gibbs"], ["unknown methods", "gibbs"]),
        (["run", "faithful", "--init", "random"], ["--init must be"]),
        (["run", "faithful", "--prior-sensitivity", "bold"], ["--prior-sensitivity must be"]),
        (["run", "faithful", "--csv", "{d}/good.csv"], ["not both"]),
    ],
)
def test_bad_inputs_give_one_line_and_nonzero_exit(csvs, args, words):
    args = [a.format(d=csvs) for a in args]
    _one_error_line(_run(*args), *words)


def test_em_command_prints_json(csvs):
    proc = _run("em", "faithful", "--k", "2", "--n-init", "5", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["log_likelihood"] == pytest.approx(-1034.002, abs=0.01)
    proc = _run("em", "--csv", f"{csvs}/good.csv", "--columns", "a,b", "--k", "1")
    assert proc.returncode == 0, proc.stderr
    assert np.allclose(json.loads(proc.stdout)["means"], [[2.375, 1.5]])


def test_datasets_command_lists_sources():
    proc = _run("datasets")
    assert proc.returncode == 0
    for name in ("lecture-bumps", "cpg", "faithful", "galaxies", "iris", "penguins"):
        assert name in proc.stdout


@pytest.mark.slow
def test_run_end_to_end_writes_every_file(tmp_path):
    from mixcompare.comparisons.pipeline import ComparisonResult
    from mixcompare.comparisons.report.summary_json import REQUIRED_KEYS

    out = tmp_path / "rep"
    proc = _run("run", "faithful", "--draws", "150", "--tune", "150", "--chains", "2",
                "--n-boot", "10", "--n-init", "5", "--seed", "3", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""  # --quiet: not even PyMC's log lines
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "report.html", "summary.json", "results.nc"} <= names
    pngs = {p.name for p in (out / "figures").iterdir()}
    assert {"data_density.png", "trace_raw.png", "trace_relabeled.png", "pair_means.png",
            "em_traces.png", "intervals.png", "membership.png", "census.png"} <= pngs
    assert not any(n.endswith(".tmp") for n in names | pngs)
    summary = json.loads((out / "summary.json").read_text())
    for key in REQUIRED_KEYS:
        assert key in summary, key
    assert summary["dataset"]["n"] == 272 and summary["n_components"] == 2
    assert summary["em"]["log_likelihood"] == pytest.approx(-1034.002, abs=0.01)
    assert set(summary["nuts"]) >= {"mean", "sd", "hdi", "rhat_max", "rhat_max_relabeled",
                                    "ess_bulk_min", "divergences", "sampler", "label_switching"}
    assert set(summary["nuts"]["label_switching"]) >= {"detected", "within_chain_rate",
                                                       "chain_labelings"}
    # parameters in the aligned order: EM's means increase, and every method agrees on order
    em_means = summary["em"]["means"]
    assert em_means == sorted(em_means)
    assert np.allclose(summary["nuts"]["mean"]["means"], em_means, atol=2.0)
    back = ComparisonResult.from_netcdf(out / "results.nc")
    # summary.json is derivable from results.nc alone, whole (seed, command, source included)
    assert back.summary() == summary
    assert summary["seed"] == 3 and summary["command"].startswith("mixcompare run faithful")
    assert "Azzalini" in summary["dataset"]["source"]


@pytest.mark.slow
def test_galaxies_summary_is_derivable_from_results(tmp_path):
    from mixcompare.comparisons.pipeline import ComparisonResult

    out = tmp_path / "gal"
    proc = _run("run", "galaxies", "--k", "3", "--draws", "100", "--tune", "100", "--chains",
                "2", "--n-boot", "10", "--n-init", "5", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert ComparisonResult.from_netcdf(out / "results.nc").summary() == summary
    assert summary["seed"] == 0 and summary["n_components"] == 3


# --------------------------------------------------------------------------- faults
def _invoke(monkeypatch, args, boom=None):
    from mixcompare.comparisons import cli, pipeline
    from typer.testing import CliRunner

    if boom is not None:
        def fake_compare(*a, **k):
            raise boom

        monkeypatch.setattr(pipeline, "compare", fake_compare)
    return CliRunner().invoke(cli.app, args)


def test_internal_error_is_exit_1_with_a_traceback_file(monkeypatch, tmp_path):
    res = _invoke(monkeypatch, ["run", "--out", str(tmp_path / "o"), "--quiet"],
                  boom=RuntimeError("kaboom"))
    assert res.exit_code == 1
    line = res.output.strip().splitlines()[-1]
    assert "unexpected RuntimeError: kaboom" in line and "bug" in line
    assert "Traceback" in (tmp_path / "o" / "mixcompare-error.txt").read_text()
    res = _invoke(monkeypatch, ["--debug", "run", "--out", str(tmp_path / "o"), "--quiet"],
                  boom=RuntimeError("kaboom"))
    assert res.exit_code == 1 and "Traceback" in res.output


def test_interrupt_is_exit_130_and_writes_nothing(monkeypatch, tmp_path):
    out = tmp_path / "o"
    res = _invoke(monkeypatch, ["run", "--out", str(out), "--quiet"], boom=KeyboardInterrupt())
    assert res.exit_code == 130 and "interrupted" in res.output
    assert not (out / "summary.json").exists() and not (out / "report.md").exists()


def test_unwritable_out_is_refused_before_any_work(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    res = _invoke(monkeypatch, ["run", "--out", str(tmp_path / "file" / "sub")],
                  boom=AssertionError("compare must not run"))
    assert res.exit_code == 2 and "cannot be written" in res.output
    for cmd in (["lecture", "--quick"], ["sbc"], ["study", str(tmp_path / "c.toml")]):
        res = _invoke(monkeypatch, [*cmd, "--out", str(tmp_path / "file")])
        assert res.exit_code == 2 and "is not a folder" in res.output, cmd


def test_version_and_sbc_options_checked_up_front(monkeypatch):
    import mixcompare

    res = _invoke(monkeypatch, ["--version"])
    assert res.exit_code == 0 and mixcompare.__version__ in res.output
    for args, word in ((["sbc", "--tune", "-1"], "--tune"), (["sbc", "--seed", "-1"], "--seed")):
        res = _invoke(monkeypatch, args)
        assert res.exit_code == 2 and word in res.output


def test_study_faults_are_one_line_usage_errors(monkeypatch, tmp_path):
    from pathlib import Path

    from mixcompare.comparisons.study import cluster

    example = (Path(__file__).parents[1] / "benchmarks" / "example_study.toml").read_text()
    good = tmp_path / "ok.toml"
    good.write_text(example)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe[study]\n")
    res = _invoke(monkeypatch, ["study", str(bad), "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "not UTF-8" in res.output
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "study.json").write_text('{"fingerp')
    res = _invoke(monkeypatch, ["study", str(good), "--out", str(cut), "--resume"])
    assert res.exit_code == 2 and "cut short" in res.output
    res = _invoke(monkeypatch, ["study", str(good), "--out", str(tmp_path / "b"),
                                "--scheduler", "not an address"])
    assert res.exit_code == 2 and "tcp://HOST:PORT" in res.output
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    res = _invoke(monkeypatch, ["study", str(good), "--out", str(tmp_path / "c"), "--quiet",
                                "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "no Dask scheduler answered" in res.output


def test_run_names_each_written_file_where_it_is(tmp_path):
    """The closing line lists files by their path in the output folder (figures/...)."""
    out = tmp_path / "rep"
    proc = _run("run", "faithful", "--methods", "em", "--n-boot", "0", "--n-init", "2",
                "--seed", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    text = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines
    line = text[text.index("report written to"):]
    assert "figures/em_traces.png" in line and "report.md" in line
    for name in re.findall(r"figures/[a-z_]+\.png", line):
        assert (out / name).is_file(), name


def test_every_option_is_described_and_flags_show_no_type():
    import click
    import typer
    from mixcompare.comparisons import cli
    from typer.testing import CliRunner

    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"mixcompare {name} {param.opts[0]} has no description"
        text = CliRunner().invoke(cli.app, [name, "--help"]).output
        assert "<bool>" not in text, name
        if name in ("run", "em"):
            assert re.search(r"--k K\s+Number of components", text)
            assert re.search(r"--csv FILE\s+A CSV file", text)


def test_first_line_comes_before_the_heavy_imports():
    # "something on screen within 2 s": the first line is printed before numpy, scipy or
    # PyMC are imported (what remains before it is Python, typer and rich: ~0.1 s)
    script = """
import sys
from mixcompare.comparisons import cli

class Probe:
    def log(self, *a, **k):
        print(sorted(m for m in ("numpy", "scipy", "pymc", "pytensor") if m in sys.modules))
        raise SystemExit(0)

cli._console = lambda quiet: Probe()
sys.argv = ["mixcompare", "run", "--methods", "em"]
cli.main()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("quiet", (False, True))
def test_quiet_shows_no_warning_line(quiet, capsys):
    import warnings

    from mixcompare.comparisons.errors import working

    with working(None, quiet):
        warnings.warn("PyMC says something", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert ("mixcompare: warning: UserWarning: PyMC says something" in err) != quiet
