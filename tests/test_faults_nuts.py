"""Faults of NUTS runs (issue #15): interrupts, chain processes, sampler warnings, SBC failures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from mixcompare import em, models

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

CLI = [sys.executable, "-m", "mixcompare.comparisons.cli"]
NORMAL = np.random.default_rng(15).normal(size=1000)


# ------------------------------------------------------------ (1) interrupted NUTS
@pytest.fixture(scope="module")
def tiny_model():
    X, _ = em.sample(40, [0.5, 0.5], [0.0, 4.0], [1.0, 1.0], rng=0)
    return models.cached_model(X, 2, prior=em.Prior.default(X)).model


def _interrupt_at(monkeypatch, chain, draw_idx):
    """Make pm.sample raise KeyboardInterrupt in its callback, as Ctrl-C would; PyMC swallows it."""
    import pymc as pm

    real, seen = pm.sample, {}

    def sample(*args, callback=None, **kwargs):
        def cb(trace, draw):
            seen[draw.chain] = max(seen.get(draw.chain, -1), draw.draw_idx)
            if draw.chain == chain and draw.draw_idx == draw_idx:
                raise KeyboardInterrupt
            if callback is not None:
                callback(trace=trace, draw=draw)
        return real(*args, callback=cb, **kwargs)

    monkeypatch.setattr(pm, "sample", sample)
    return seen


NUTS_KW = {"draws": 30, "tune": 20, "chains": 2, "rng": 0, "progressbar": False}


@pytest.mark.parametrize("cores", [1, 2])
def test_an_interrupt_while_drawing_is_raised_with_the_draws_made(monkeypatch, tiny_model,
                                                                  cores):
    import multiprocessing

    seen = _interrupt_at(monkeypatch, chain=0, draw_idx=20 + 9)
    with pytest.raises(models.SamplingInterrupted,
                       match=r"NUTS was interrupted after \d+ of 30 draws per chain") as info:
        models.fit_nuts(tiny_model, cores=cores, **NUTS_KW)
    assert isinstance(info.value, KeyboardInterrupt)
    # the run is incomplete: fewer draws per chain, or (two processes) the interrupted chain
    # dropped while the other finished all 30 first, a race seen on a fast machine
    assert info.value.obtained < 30 or "1 of 2 chains dropped" in str(info.value)
    if cores == 1:  # the next chain is stopped at its first step, not sampled in full
        assert seen[1] == 0
    assert multiprocessing.active_children() == []


def test_an_interrupt_during_tuning_says_interrupted(monkeypatch, tiny_model):
    _interrupt_at(monkeypatch, chain=0, draw_idx=5)
    with pytest.raises(models.SamplingInterrupted, match="interrupted during tuning"):
        models.fit_nuts(tiny_model, cores=1, **NUTS_KW)


def test_an_interrupt_with_a_pm_sample_start_strategy(monkeypatch, tiny_model):
    _interrupt_at(monkeypatch, chain=0, draw_idx=5)
    with pytest.raises(models.SamplingInterrupted, match="interrupted during tuning"):
        models.fit_nuts(tiny_model, cores=1, init={"weights": "support_point"}, **NUTS_KW)


def test_nutpie_chains_padded_with_nan_count_as_interrupted():
    from mixcompare.models._samplers import check_complete

    w = np.full((2, 30, 2), 0.5)
    w[1, 12:] = np.nan  # nutpie pads a chain it stopped
    post = xr.Dataset({"weights": (("chain", "draw", "component"), w)})
    with pytest.raises(models.SamplingInterrupted, match="after 12 of 30 draws"):
        check_complete(post, 30, 2)
    with pytest.raises(models.SamplingInterrupted, match=r"\(1 of 2 chains dropped\)"):
        check_complete(post.isel(chain=[0]), 30, 2)
    check_complete(post.isel(chain=[0, 0]), 30, 2)


# ------------------------------------------------------------ (13) sampler warnings
def test_divergences_reach_the_caller_as_warnings(tiny_model):
    with pytest.warns(models.SamplerWarning, match=r"NUTS: \d+ divergent transition\(s\) after "
                                                   r"tuning, out of 60 draws"):
        tree = models.fit_nuts(tiny_model, cores=1, target_accept=0.01,
                               **{**NUTS_KW, "tune": 5})
    assert int(tree["sample_stats"]["diverging"].sum()) > 0


def test_max_treedepth_caps_every_draw_s_tree_and_is_recorded(tiny_model):
    with pytest.warns(models.SamplerWarning, match="maximum tree depth"):
        tree = models.fit_nuts(tiny_model, cores=1, max_treedepth=1, **NUTS_KW)
    stats = tree["sample_stats"].to_dataset()
    assert int(stats["tree_depth"].max()) == 1 and bool(stats["reached_max_treedepth"].any())
    assert tree.attrs["max_treedepth"] == 1
    with pytest.raises(ValueError, match="max_treedepth"):
        models.fit_nuts(tiny_model, max_treedepth=0, **NUTS_KW)


def test_maximum_tree_depth_is_warned_about():
    from mixcompare.models.nuts import _warn_diagnostics

    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 5), bool)),
                        "maxdepth_reached": (("chain", "draw"), np.eye(2, 5, dtype=bool))})
    with pytest.warns(models.SamplerWarning, match="2 draw.s. stopped at the maximum tree depth"):
        _warn_diagnostics(stats, 0.9)


# ------------------------------------------------------------ (1, 2) signals to `mixcompare run`
def _cmdline(pid) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _forks_of(cmdline: bytes) -> list[int]:
    """Every live process running ``cmdline`` (a run and the chain processes it forked)."""
    import os

    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == cmdline
            and _alive(p)]


def _run_until_chains(tmp_path):
    """Start `mixcompare run` with NUTS; return it once its two chain processes were forked."""
    import time

    csv = tmp_path / "small.csv"
    values = np.r_[NORMAL[:30], NORMAL[30:60] + 4].tolist()
    csv.write_text("x\n" + "\n".join(map(repr, values)) + "\n")
    proc = subprocess.Popen(CLI + ["run", "--csv", str(csv), "--columns", "x", "--methods",
                                   "em,nuts", "--draws", "1000000", "--tune", "50", "--chains",
                                   "2", "--n-boot", "0", "--n-init", "2", "--quiet",
                                   "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cmdline = b""
    for _ in range(1500):  # the chains are forked copies of the run: same command line
        cmdline = cmdline or _cmdline(proc.pid)
        if proc.poll() is not None or (cmdline and len(_forks_of(cmdline)) >= 3):
            break
        time.sleep(0.2)
    assert proc.poll() is None and len(_forks_of(cmdline)) >= 3, proc.communicate()
    return proc, cmdline


def _left_behind(cmdline, wait=10.0):
    """Processes of the run still alive after ``wait`` seconds (killed, so none stays)."""
    import time

    for _ in range(int(wait / 0.2)):
        if not _forks_of(cmdline):
            return []
        time.sleep(0.2)
    left = _forks_of(cmdline)
    for pid in left:
        subprocess.run(["kill", "-9", str(pid)], check=False)
    return left


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigint_during_nuts_exits_130_writes_nothing_and_ends_the_chains(tmp_path):
    import signal
    import time

    proc, cmdline = _run_until_chains(tmp_path)
    try:
        time.sleep(5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        left = _left_behind(cmdline)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    line = [ln for ln in err.splitlines() if ln.startswith("mixcompare: error:")]
    assert len(line) == 1 and "Traceback" not in err, err
    assert "interrupted (NUTS was interrupted" in line[0], line[0]
    assert "nothing was written" in line[0]
    assert not any((tmp_path / "out").iterdir()), list((tmp_path / "out").iterdir())
    assert left == [], err


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_chain_processes_exit_when_the_parent_is_killed(tmp_path):
    import signal

    proc, cmdline = _run_until_chains(tmp_path)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        left = _left_behind(cmdline)  # the chains hold the pipes: read them after this
    proc.communicate(timeout=30)
    assert left == []


# ------------------------------------------------------------ sbc: failed simulations
def _fake_nuts(fail_every):
    calls = []

    def fit_nuts(model, *, draws, chains, **kw):
        calls.append(1)
        if len(calls) % fail_every == 0:
            raise RuntimeError("the sampler broke")
        rng = np.random.default_rng(len(calls))
        dims = ("chain", "draw", "component")
        post = xr.Dataset({"means": (dims, rng.normal(size=(chains, draws, 2))),
                           "variances": (dims, rng.gamma(2.0, size=(chains, draws, 2)))})
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))})
        return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})

    return fit_nuts


@pytest.mark.parametrize("fail_every", [1, 3])
def test_sbc_with_failed_simulations_is_a_failed_run_not_a_verdict(monkeypatch, tmp_path,
                                                                   capsys, fail_every):
    from mixcompare.comparisons.study import sbc

    monkeypatch.setattr(models, "fit_nuts", _fake_nuts(fail_every))
    code = sbc.sbc_command(tmp_path, n_sims=6, n=10, draws=20, tune=0, chains=1, seed=0,
                           control=True, scheduler="inline", workers=0, quiet=True)
    err = capsys.readouterr().err
    assert code == 1
    line = [ln for ln in err.splitlines() if ln.startswith("mixcompare: error:")]
    assert len(line) == 1, err
    n_failed = 6 // fail_every
    assert f"the SBC run failed: {n_failed} of 6 simulations failed" in line[0]
    assert "the sampler broke" in line[0] and "no calibration verdict" in line[0]
    assert "FLAGGED" not in err and "passed" not in err
    summary = json.loads((tmp_path / "sbc.json").read_text())
    assert summary[0]["verdict"] == f"no verdict: {n_failed} of 6 simulations failed"
    assert summary[0]["passed"] is False and not any(summary[0]["flagged"])
    assert "the sampler broke" in (tmp_path / "sbc.md").read_text()


def test_fit_nuts_refuses_zero_or_negative_cores(tiny_model):
    for cores in (0, -3):
        with pytest.raises(ValueError, match=f"cores must be at least 1, got {cores}"):
            models.fit_nuts(tiny_model, cores=cores, **NUTS_KW)
