"""Simulation studies: configuration, seeds, durable records, Dask, kill/resume, coverage."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mixcompare import em
from mixcompare.comparisons import study
from mixcompare.comparisons.io import to_jsonable
from mixcompare.comparisons.study.config import ConfigError, load_config
from mixcompare.comparisons.study.replicate import replicate_seed, run_replicate
from mixcompare.comparisons.study.store import StoreError
from scipy import stats

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning",
                                        "ignore::DeprecationWarning")


def _cfg(**over):
    doc = {"study": {"name": "t", "seed": 11, "replicates": 3, "methods": ["em"]},
           "grid": {"n": [40], "separation": [3.0]},
           "em": {"n_init": 2, "intervals": ["louis", "bootstrap"], "n_boot": 10}}
    for section, table in over.items():
        doc.setdefault(section, {}).update(table)
    return doc


def _strip(rec: dict) -> dict:
    """A record without what depends on the machine or the schedule (times, worker)."""
    rec = json.loads(json.dumps(to_jsonable(rec)))
    rec.pop("time", None)
    rec.pop("worker", None)
    for e in rec["methods"].values():
        e.pop("time", None)
        for k in ("fresh", "model_built", "build_time", "fit_time", "sampling_time"):
            e["info"].pop(k, None)
    return rec


def _write(tmp_path, doc: dict) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(_toml(doc))
    return path


def _assert_same_aggregates(a, b):
    for name in ("parameters", "blocks", "methods"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("change, words", [
    ({"study": {"replicates": 0}}, ["study.replicates", "at least 1"]),
    ({"study": {"methods": ["em", "vb"]}}, ["study.methods", "'vb'", "choose among"]),
    ({"study": {"level": 1.5}}, ["study.level", "< 1"]),
    ({"grid": {"n": [40, "x"]}}, ["grid.n", "integer"]),
    ({"grid": {"weights": [[0.2, 0.2, 0.6]]}}, ["grid.weights[0]", "3 weights", "grid.K"]),
    ({"grid": {"weights": [[0.2, 0.3]]}}, ["grid.weights[0]", "sum to 1"]),
    ({"grid": {"structure": ["full"]}}, ["grid.structure", "'full'"]),
    ({"grid": {"sepration": [1.0]}}, ["grid.sepration", "unknown key", "separation"]),
    ({"nuts": {"sampler": "stan"}}, ["nuts.sampler", "pymc"]),
    ({"study": {"methods": ["nuts"]}}, ["nuts.init", "add \"em\""]),
    ({"prior": {"alpha": 0.5}, "study": {"methods": ["em", "map_em"]}}, ["prior.alpha"]),
    ({"studdy": {}}, ["studdy", "unknown section"]),
])
def test_bad_configuration_names_the_key_and_the_fix(change, words):
    with pytest.raises(ConfigError) as info:
        load_config(_cfg(**change))
    for w in words:
        assert w in str(info.value), str(info.value)


def test_toml_errors_and_the_example_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nseed = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    ex = load_config(Path(__file__).parents[1] / "benchmarks" / "example_study.toml")
    assert len(ex.cells) == 4 and ex.replicates == 10
    assert ex.fit_methods == ("em_louis", "em_bootstrap", "map_em", "map", "nuts_ordered",
                              "nuts_unordered")


def test_grid_truth_and_prior():
    cfg = load_config(_cfg(grid={"n": [30, 60], "separation": [2.0], "K": [2, 3],
                                 "weights": ["equal", [0.3, 0.7]],
                                 "structure": ["unequal", "equal"]},
                           truth={"sd": 2.0, "sd_ratio": 4.0}))
    # equal weights combine with both K, [0.3, 0.7] with K = 2 only: 2 n x 3 x 2 structures
    assert len(cfg.cells) == 12
    assert [c.index for c in cfg.cells] == list(range(12))
    c = next(c for c in cfg.cells if c.K == 3 and c.structure == "unequal")
    np.testing.assert_allclose(c.means, [-4.0, 0.0, 4.0])  # separation 2 sds of 2, centred
    np.testing.assert_allclose(c.sds, [2.0, 4.0, 8.0])
    e = next(c for c in cfg.cells if c.K == 2 and c.structure == "equal")
    assert e.sds == (2.0, 2.0)
    p = cfg.prior_for(e)
    w, m, v = np.array(e.weights), np.array(e.means), np.array(e.variances)
    assert p.m0 == pytest.approx(w @ m)
    assert p.b == pytest.approx((w @ (v + m**2) - (w @ m) ** 2) / 10)
    # the fingerprint ignores the name and the number of replicates (resume with more)
    a = load_config(_cfg())
    b = load_config(_cfg(study={"name": "other", "replicates": 50}))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != load_config(_cfg(study={"seed": 12})).fingerprint()


# --------------------------------------------------------------------------- one replicate
def test_replicate_seeded_by_cell_and_index_and_aligned_to_truth():
    cfg = load_config(_cfg(grid={"n": [40, 50], "weights": [[0.3, 0.7]]}))
    a, b = run_replicate(cfg, 0, 1), run_replicate(cfg, 0, 1)
    assert _strip(a) == _strip(b)
    assert a["data"]["sha256"] != run_replicate(cfg, 0, 2)["data"]["sha256"]
    assert a["data"]["sha256"] != run_replicate(cfg, 1, 1)["data"]["sha256"]
    ss = replicate_seed(11, 0, 1)
    X, _ = em.sample(40, [0.3, 0.7], [-1.5, 1.5], [1.0, 1.0],
                     rng=np.random.default_rng(ss.spawn(7)[0]))
    assert a["data"]["sha256"] == hashlib.sha256(X.tobytes()).hexdigest()
    for name in ("em_louis", "em_bootstrap"):
        e = a["methods"][name]
        assert e["status"] == "ok"
        # aligned to the truth (means -1.5 < 1.5), bounds around the estimates
        assert e["estimate"]["means"][0] < e["estimate"]["means"][1]
        for blk in ("weights", "means", "sds"):
            assert np.all(np.array(e["lower"][blk]) <= np.array(e["estimate"][blk]) + 1e-12)
            assert np.all(np.array(e["estimate"][blk]) <= np.array(e["upper"][blk]) + 1e-12)


def test_a_failed_fit_is_recorded_with_its_reason(tmp_path, monkeypatch):
    real = em.fit

    def broken(*args, prior=None, **kw):
        if prior is not None:
            raise FloatingPointError("injected MAP-EM failure")
        return real(*args, **kw)

    monkeypatch.setattr(em, "fit", broken)
    cfg = _cfg(study={"methods": ["em", "map_em"], "replicates": 2})
    res = study.run(cfg, tmp_path / "s", scheduler="inline", report=False)
    for rec in res.records:
        assert rec["methods"]["map_em"]["status"] == "failed"
        assert "injected MAP-EM failure" in rec["methods"]["map_em"]["reason"]
        assert rec["methods"]["em_louis"]["status"] == "ok"
    m = res.methods.set_index("method")
    assert m.loc["map_em", "failure_rate"] == 1.0
    assert "injected" in m.loc["map_em", "top_reason"]
    assert m.loc["em_louis", "failure_rate"] == 0.0
    assert "map_em failed: FloatingPointError" in (tmp_path / "s" / "study.log").read_text()


def test_a_lost_replicate_is_recorded_as_an_error_and_runs_again_on_resume(tmp_path,
                                                                           monkeypatch):
    import importlib

    # the attribute is the function
    run_mod = importlib.import_module("mixcompare.comparisons.study.run")
    real = run_mod.run_replicate

    def flaky(config, cell, rep):
        if rep == 1:
            raise OSError("worker lost")
        return real(config, cell, rep)

    monkeypatch.setattr(run_mod, "run_replicate", flaky)
    cfg = _cfg(study={"replicates": 3})
    out = tmp_path / "s"
    assert study.study_command(_write(tmp_path, cfg), out, "inline", 1, False, True) == 1
    rec = json.loads((out / "replicates" / "c0000-r00001.json").read_text())
    assert rec["status"] == "error" and "worker lost" in rec["reason"]
    m = study.summarise(cfg, out, report=False).methods
    assert (m["n_failed"] == 1).all()  # an error counts as a failure of every method
    monkeypatch.setattr(run_mod, "run_replicate", real)
    again = study.run(cfg, out, scheduler="inline", resume=True, report=False)
    assert again.n_run == 1 and again.n_skipped == 2
    assert all(r["status"] == "ok" for r in again.records)


# --------------------------------------------------------------------------- storage
def test_store_refuses_mixing_studies_and_cleans_temporaries(tmp_path):
    cfg = load_config(_cfg(study={"replicates": 2}))
    out = tmp_path / "s"
    res = study.run(cfg, out, scheduler="inline", report=False)
    names = sorted(p.name for p in (out / "replicates").iterdir())
    assert names == ["c0000-r00000.json", "c0000-r00001.json"]
    with pytest.raises(StoreError, match="--resume"):
        study.run(cfg, out, scheduler="inline")
    with pytest.raises(StoreError, match="another configuration"):
        study.run(_cfg(study={"seed": 99}), out, scheduler="inline", resume=True)
    # a temporary left by a kill is removed; an "error" record runs again on resume
    (out / "replicates" / ".c0000-r00001.json.123.tmp").write_text("{half a rec")
    rec = json.loads((out / "replicates" / "c0000-r00001.json").read_text())
    rec["status"] = "error"
    (out / "replicates" / "c0000-r00001.json").write_text(json.dumps(rec))
    again = study.run(load_config(_cfg(study={"replicates": 3})), out, scheduler="inline",
                      resume=True, report=False)
    assert again.n_skipped == 1 and again.n_run == 2
    assert sorted(p.name for p in (out / "replicates").iterdir()) == names + [
        "c0000-r00002.json"]
    assert _strip(again.records[1]) == _strip(res.records[1])


# --------------------------------------------------------------------------- Dask
TINY = {"study": {"name": "tiny", "seed": 5, "replicates": 4,
                  "methods": ["em", "map_em", "nuts"]},
        "grid": {"n": [30], "separation": [3.0]},
        "em": {"n_init": 2, "intervals": ["louis", "bootstrap"], "n_boot": 10},
        "nuts": {"variants": ["ordered"], "draws": 30, "tune": 30, "chains": 2}}


def test_one_and_two_workers_give_bit_identical_results(tmp_path):
    # The promise holds for workers that load the compiled models from PyTensor's cache: a
    # worker that compiles a model into an EMPTY cache runs code that can differ in the last
    # bit (numba; README, "Reproducibility"). A first run fills the cache on a fresh machine.
    study.run(TINY, tmp_path / "warm", workers=1, report=False)
    seen = []
    one = study.run(TINY, tmp_path / "w1", workers=1, progress=seen.append)
    two = study.run(TINY, tmp_path / "w2", workers=2)
    _assert_same_aggregates(one, two)
    assert [_strip(r) for r in one.records] == [_strip(r) for r in two.records]
    assert len({r["worker"]["pid"] for r in one.records}) == 1
    # progress: one call at the start, one per replicate, with an ETA once a replicate is done
    assert [p.done for p in seen] == [0, 1, 2, 3, 4]
    assert seen[-1].total == 4 and seen[-1].eta == 0 and seen[0].eta is None
    # compiled model: built once per worker, reused after; the log states the ratio
    fresh = [r["methods"]["nuts_ordered"]["info"]["fresh"] for r in one.records]
    assert sum(fresh) == 1
    assert one.reuse["nuts_ordered"]["n_reused"] == 3
    log = (tmp_path / "w1" / "study.log").read_text()
    assert "compiled-model reuse, nuts_ordered" in log and "without the sampling itself" in log
    r = one.reuse["nuts_ordered"]
    # the ratios are recorded (their size is a benchmark's business, not a test's); the
    # overhead excludes the sampling, so it is below the whole ratio by construction
    assert 0 < r["overhead_ratio"] < r["ratio"]
    for f in ("report.md", "report.html", "parameters.csv", "blocks.csv", "methods.csv",
              "figures/coverage_means.png"):
        assert (tmp_path / "w1" / f).exists(), f
    html = (tmp_path / "w1" / "report.html").read_text()
    assert "Coverage of the means" in html and "data:image/png;base64" in html


def test_an_existing_cluster_runs_the_same_study_by_its_address(tmp_path):
    from distributed import LocalCluster

    cfg = _cfg(study={"replicates": 4}, grid={"n": [40, 60]})
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        remote = study.run(cfg, tmp_path / "r", scheduler=cluster.scheduler_address,
                           report=False)
    inline = study.run(cfg, tmp_path / "i", scheduler="inline", report=False)
    _assert_same_aggregates(remote, inline)
    assert "Dask scheduler tcp://" in (tmp_path / "r" / "study.log").read_text()


KILL = {"study": {"name": "kill", "seed": 3, "replicates": 10, "methods": ["em"]},
        "grid": {"n": [40, 80], "separation": [4.0]},
        "em": {"n_init": 2, "intervals": ["louis", "bootstrap"], "n_boot": 10}}


def _toml(doc: dict) -> str:
    lines = []
    for section, table in doc.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_killed_study_resumes_to_the_full_set_and_the_same_aggregates(tmp_path):
    cfg_path = tmp_path / "kill.toml"
    cfg_path.write_text(_toml(KILL))
    out = tmp_path / "killed"
    rdir = out / "replicates"
    log = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mixcompare.comparisons.study", str(cfg_path), "--out", str(out),
         "--workers", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True)  # its own process group: the kill reaches the Dask workers
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if rdir.is_dir() and any(p.suffix == ".json" for p in rdir.iterdir()):
                break
            time.sleep(0.02)
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
    left = sorted(p.name for p in rdir.iterdir() if not p.name.startswith("."))
    assert 1 <= len(left) < 20, left  # killed mid-run
    for p in left:  # every record on disk is complete
        assert json.loads((rdir / p).read_text())["status"] == "ok"
    resumed = study.run(cfg_path, out, scheduler="inline", resume=True)
    assert resumed.n_skipped == len(left) and resumed.n_run == 20 - len(left)
    names = sorted(p.name for p in rdir.iterdir())
    assert names == [f"c{c:04d}-r{r:05d}.json" for c in range(2) for r in range(10)]
    straight = study.run(cfg_path, tmp_path / "straight", scheduler="inline")
    _assert_same_aggregates(resumed, straight)
    assert [_strip(r) for r in resumed.records] == [_strip(r) for r in straight.records]


# --------------------------------------------------------------------------- statistics
def test_aggregate_statistics_by_hand(tmp_path):
    res = study.run(_cfg(study={"replicates": 6}), tmp_path / "s", scheduler="inline",
                    report=False)
    p = res.parameters
    row = p[(p["method"] == "em_louis") & (p["parameter"] == "means[1]")].iloc[0]
    est = np.array([r["methods"]["em_louis"]["estimate"]["means"][1] for r in res.records])
    lo = np.array([r["methods"]["em_louis"]["lower"]["means"][1] for r in res.records])
    hi = np.array([r["methods"]["em_louis"]["upper"]["means"][1] for r in res.records])
    err = est - 1.5
    assert row["bias"] == pytest.approx(err.mean())
    assert row["bias_mcse"] == pytest.approx(err.std(ddof=1) / np.sqrt(6))
    assert row["rmse"] == pytest.approx(np.sqrt((err**2).mean()))
    cov = ((lo <= 1.5) & (1.5 <= hi)).mean()
    assert row["coverage"] == pytest.approx(cov)
    assert row["coverage_mcse"] == pytest.approx(np.sqrt(cov * (1 - cov) / 6))
    assert row["width"] == pytest.approx((hi - lo).mean())
    assert row["failure_rate"] == 0.0


def test_study_command_reports_a_bad_configuration(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[study]\nseed = 1\nreplicates = 2\n[grid]\nn = [40]\nseparation = [-1]\n")
    code = study.study_command(bad, tmp_path / "o", "inline", 1, False, True)
    assert code == 2
    err = capsys.readouterr().err
    assert "grid.separation" in err and "> 0" in err


@pytest.mark.slow
def test_em_wald_intervals_cover_the_means_at_95_percent(tmp_path):
    cfg = {"study": {"name": "coverage", "seed": 2024, "replicates": 200, "methods": ["em"]},
           "grid": {"n": [400], "separation": [6.0], "weights": [[0.4, 0.6]]},
           "em": {"n_init": 2, "intervals": ["louis"]}}
    res = study.run(cfg, tmp_path / "cov", scheduler="inline", report=False)
    p = res.parameters.set_index(["method", "parameter"])
    for k in (0, 1):
        row = p.loc[("em_louis", f"means[{k}]")]
        assert row["n_intervals"] == 200 and row["failure_rate"] == 0
        hits = int(round(row["coverage"] * 200))
        assert stats.binomtest(hits, 200, 0.95).pvalue > 0.001, (k, hits)
