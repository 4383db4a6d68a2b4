"""Benchmark NUTS samplers for the mixture models: nutpie against PyMC's own NUTS.

Run from the repository root::

    python benchmarks/bench_nuts.py [--quick] [--chains 4] [--cores N]

Data sets (K = 3 components, 1-D, ``structure="unequal"``, default prior):
the galaxy velocities (82 points) and a simulated ``n = 10 000`` data set
(``em.sample(10_000, [0.3, 0.4, 0.3], [0, 4, 8], [1, 0.5, 1])``). Every fit is
``models.fit_nuts(model, sampler=..., init="em", em_result=em.fit(X, 3, n_init=20,
rng=0))`` so that the chains start in one labelling (no mode splitting).

For each data set and sampler, a worker subprocess runs with a FRESH PyTensor
cache: ``PYTENSOR_FLAGS=base_compiledir=<new temp dir>,compiledir=<...>``.
``base_compiledir`` is set too because PyTensor's numba cache (the default
linker is numba) lives in ``<base_compiledir>/numba``, not in ``compiledir``.
In that worker:

* **compile, cold**: ``models.compiled.precompile(model, sampler)``: everything
  ``fit_nuts`` compiles (PyMC: log density + gradient, trace deterministics,
  log-likelihood; nutpie: ``nutpie.compile_pymc_model``, log-likelihood), each
  called once so that lazy JIT compilation is included;
* **first fit** (``fit_nuts``; sampling time from PyMC/nutpie, bulk ESS with
  ``arviz_stats.ess`` over ``weights``, ``means``, ``variances``, divergences,
  max R-hat, whether all chains sit in the same labelling);
* **second data set** of the same shape through the reused model
  (``model.set_data(X2)`` then ``fit_nuts``): its time and
  its ratio to the first's compile-plus-fit time; whether anything was compiled
  again;
* **compile, warm**: a second ``build_model`` of the same data in the same
  process, then ``precompile``;
* the cost of ``pm.compute_log_likelihood`` (compiles on every call) against
  the cached log-likelihood, on 50 draws so that compilation dominates.

A second worker with the (now filled) cache dir measures the compile in a **new
process with a warm disk cache** -- what a typical single run pays once the
cache exists. ESS/s "incl. compile" divides the bulk ESS by compile + fit time.
``--quick`` (2 chains x (300 + 300), ~2-4 minutes depending on the load): one cold
cache per sampler, measured on the galaxies; the n = 10 000 worker then starts
on that cache (its first compile is a new-process one).

The default sampler is the one whose bulk ESS/s including compile time, in a
typical single run, is never more than 5 % below the other's on either data
set -- in CPU time when each run uses one core (close to the unloaded wall
time, and insensitive to other jobs on a shared machine), else in wall time.

Then, on the galaxies, the cached ``fit_nuts`` is checked against sampling
through ``pm.sample`` itself (``models.nuts._pm_sample``, the code ``fit_nuts`` ran
before the cache): identical draws for the same seed, identical groups and
dimensions.

Times are wall-clock (``time.perf_counter``) and CPU (``os.times``, including
threads and finished child processes); the load average is recorded because
other jobs may share the machine. Results are printed as Markdown and written
to ``benchmarks/RESULTS_nuts.md``; the raw numbers go to
``<tmp>/bench_nuts_raw.json`` (``--report-only RAW_JSON`` re-renders them). No
timing is asserted in the tests.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _machine import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = Path(__file__).resolve().parent / "RESULTS_nuts.md"
MARK = "BENCH_JSON:"
SAMPLERS = ("nutpie", "pymc")
DATASETS = ("galaxies", "sim10k")
K = 3
LABELS = {"galaxies": "galaxies (n = 82)", "sim10k": "simulated (n = 10 000)"}
SIM = {"weights": [0.3, 0.4, 0.3], "means": [0.0, 4.0, 8.0], "variances": [1.0, 0.5, 1.0]}


# --------------------------------------------------------------------------- machine
def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("pymc", "nutpie", "pytensor", "numba", "numpy", "arviz", "arviz-stats",
                "xarray"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            out[pkg] = "?"
    return out


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (PyMC's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --------------------------------------------------------------------------- data
def load(name: str, which: int):
    """Return data set ``name``: ``which=0`` the benchmark data, 1 a second one (same shape)."""
    from mixcompare import em
    from mixcompare.comparisons import datasets

    if name == "galaxies":
        X = datasets.load("galaxies").X
        if which == 0:
            return X
        # parametric bootstrap from the EM fit: another 82 velocities of the same kind
        r = em.fit(X, K, n_init=20, rng=0)
        X2, _ = em.sample(X.shape[0], r.weights, r.means, r.variances, rng=101)
        return X2
    X, _ = em.sample(10_000, SIM["weights"], SIM["means"], SIM["variances"], rng=2024 + which)
    return X


# --------------------------------------------------------------------------- diagnostics
def diagnostics(tree) -> dict:
    import arviz_stats

    names = ["weights", "means", "variances"]
    ess = arviz_stats.ess(tree, var_names=names, method="bulk")
    rhat = arviz_stats.rhat(tree, var_names=names)
    ess = ess.to_dataset() if hasattr(ess, "to_dataset") else ess
    rhat = rhat.to_dataset() if hasattr(rhat, "to_dataset") else rhat
    ess_all = np.concatenate([np.ravel(ess[n].values) for n in names])
    rhat_all = np.concatenate([np.ravel(rhat[n].values) for n in names])
    chain_means = tree["posterior"]["means"].mean("draw").values  # (chain, K)
    orders = {tuple(np.argsort(m)) for m in chain_means}
    return {
        "ess_bulk_min": float(ess_all.min()),
        "ess_bulk_median": float(np.median(ess_all)),
        "rhat_max": float(rhat_all.max()),
        "divergences": int(tree["sample_stats"]["diverging"].values.sum()),
        "one_labelling": len(orders) == 1,
        "sampling_time": float(tree["posterior"].attrs["sampling_time"]),
    }


# --------------------------------------------------------------------------- workers
def _quiet():
    import logging

    warnings.simplefilter("ignore")
    for name in ("pymc", "pymc.sampling", "pymc.stats", "nutpie", "models"):
        logging.getLogger(name).setLevel(logging.ERROR)


def worker(spec: dict) -> dict:
    """Cold compile, first fit, second data set, warm compile, log-likelihood cost."""
    _quiet()
    import pymc as pm
    from mixcompare import em, models
    from mixcompare.models import compiled

    out = {"spec": spec}
    X, X2 = load(spec["data"], 0), load(spec["data"], 1)
    sampler = spec["sampler"]
    kw = {"draws": spec["draws"], "tune": spec["tune"], "chains": spec["chains"],
          "cores": spec["cores"], "sampler": sampler, "init": "em", "progressbar": False}
    t0 = time.perf_counter()
    res = em.fit(X, K, n_init=20, rng=0)
    out["em_time"] = time.perf_counter() - t0
    res2 = em.fit(X2, K, n_init=20, rng=0)

    model = models.build_model(X, K)
    t0, c0 = time.perf_counter(), cpu_seconds()
    out["compile_parts_first"] = compiled.precompile(model, sampler)
    out["compile_first"] = time.perf_counter() - t0
    out["compile_first_cpu"] = cpu_seconds() - c0

    t0, c0 = time.perf_counter(), cpu_seconds()
    tree = models.fit_nuts(model, rng=1, em_result=res, **kw)
    out["fit1"] = time.perf_counter() - t0
    out["fit1_cpu"] = cpu_seconds() - c0
    out["diag1"] = diagnostics(tree)
    compiles = dict(model.cache.compiles)

    model.set_data(X2)
    t0, c0 = time.perf_counter(), cpu_seconds()
    tree2 = models.fit_nuts(model, rng=2, em_result=res2, **kw)
    out["fit2"] = time.perf_counter() - t0
    out["fit2_cpu"] = cpu_seconds() - c0
    out["diag2"] = diagnostics(tree2)
    out["recompiled"] = {k: v - compiles.get(k, 0)
                         for k, v in model.cache.compiles.items()
                         if v != compiles.get(k, 0)}
    out["fit2_posterior_means"] = sorted(
        tree2["posterior"]["means"].mean(("chain", "draw")).values.tolist())
    out["em2_means"] = sorted(np.ravel(res2.means).tolist())

    warm = models.build_model(X, K)
    t0, c0 = time.perf_counter(), cpu_seconds()
    out["compile_parts_warm"] = compiled.precompile(warm, sampler)
    out["compile_warm"] = time.perf_counter() - t0
    out["compile_warm_cpu"] = cpu_seconds() - c0

    # log-likelihood: pm.compute_log_likelihood recompiles on every call; cached does not
    small = tree2.isel(draw=slice(0, 50))
    ll = {"pm": [], "cached": []}
    for _ in range(2):
        t0 = time.perf_counter()
        ref = pm.compute_log_likelihood(small.copy(), model=model.model, progressbar=False,
                                        extend_inferencedata=False)
        ll["pm"].append(time.perf_counter() - t0)
    for _ in range(2):
        t0 = time.perf_counter()
        got = models.points.log_likelihood_dataset(model, small["posterior"])
        ll["cached"].append(time.perf_counter() - t0)
    ll["max_abs_diff"] = float(np.abs(got["x_obs"].values - ref["x_obs"].values).max())
    ll["draws"] = int(small["posterior"].sizes["chain"] * small["posterior"].sizes["draw"])
    out["loglik"] = ll
    return out


def worker_compile_only(spec: dict) -> dict:
    """Build and compile only: a new process with the disk cache left by :func:`worker`."""
    _quiet()
    from mixcompare import models
    from mixcompare.models import compiled

    model = models.build_model(load(spec["data"], 0), K)
    t0, c0 = time.perf_counter(), cpu_seconds()
    compiled.precompile(model, spec["sampler"])
    return {"compile_newproc": time.perf_counter() - t0,
            "compile_newproc_cpu": cpu_seconds() - c0}


def worker_verify(spec: dict) -> dict:
    """Cached ``fit_nuts`` against ``pm.sample`` itself, same seed, on the galaxies."""
    _quiet()
    from mixcompare import em, models
    from mixcompare.models.init import chain_starts
    from mixcompare.models.nuts import _pm_sample, _seeds

    X = load("galaxies", 0)
    res = em.fit(X, K, n_init=20, rng=0)
    out = {}
    for sampler in SAMPLERS:
        kw = {"draws": spec["draws"], "tune": spec["tune"], "chains": spec["chains"]}
        new = models.fit_nuts(models.build_model(X, K), sampler=sampler, rng=11, init="em",
                              em_result=res, cores=spec["cores"], progressbar=False, **kw)
        model = models.build_model(X, K)
        rng = em.check_rng(11)
        seeds = _seeds(rng, kw["chains"])
        initvals, record = chain_starts(model, "em", kw["chains"], rng.spawn(1)[0],
                                        em_result=res)
        if sampler == "nutpie":
            initvals, record = initvals[0], {**record, "jitter": True}
        old = _pm_sample(model, sampler, seeds, initvals, record["jitter"], cores=spec["cores"],
                         target_accept=0.9, progressbar=False, **kw)

        def structure(t):
            return {g: {v: list(t[g][v].dims) for v in t[g].data_vars} for g in t.children
                    if g != "init"}

        same = all(np.array_equal(new["posterior"][v].values, old["posterior"][v].values)
                   for v in old["posterior"].data_vars)
        diffs = {v: float(abs(new["posterior"][v].mean() - old["posterior"][v].mean()))
                 for v in ("means", "variances", "weights")}
        out[sampler] = {"identical_draws": bool(same), "same_groups": structure(new) ==
                        structure(old), "groups": sorted(structure(old)),
                        "abs_diff_of_means": diffs}
    return out


def run_worker(kind: str, spec: dict, env_extra: dict, timeout: float = 1800) -> dict:
    env = {**os.environ, **env_extra}
    cmd = [sys.executable, str(Path(__file__).resolve()), f"--{kind}", json.dumps(spec)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=str(ROOT), check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    sys.stderr.write(proc.stderr[-4000:])
    raise RuntimeError(f"worker {kind} {spec} failed (exit {proc.returncode})")


# --------------------------------------------------------------------------- report
def fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def first_compile(r: dict) -> tuple[float, str]:
    """Compile time of the first fit: cold when measured, else the new-process one."""
    if r["compile_cold"] is not None:
        return r["compile_cold"], "cold"
    return r["compile_newproc"], "new process"


def ess_rates(r: dict, cpu: bool = False) -> dict:
    """Bulk ESS (min) per second of compile + fit, for each kind of compile."""
    ess = r["diag1"]["ess_bulk_min"]
    fit = r["fit1_cpu"] if cpu else r["fit1"]
    sfx = "_cpu" if cpu else ""
    out = {}
    for kind, key in (("cold", "compile_cold"), ("new process", "compile_newproc"),
                      ("warm", "compile_warm")):
        c = r.get(key + sfx)
        out[kind] = None if c is None else ess / (c + fit)
    return out


def report(meta: dict, rows: list[dict], verify: dict) -> str:
    L = []
    L.append("# NUTS samplers for the mixture models: nutpie vs PyMC's NUTS\n")
    L.append(f"- date: {meta['date']}")
    L.append(f"- machine: {meta['nproc']} CPUs (nproc), {meta['cpu']}; load average "
             f"(1, 5, 15 min) {meta['load_before']} before, {meta['load_after']} after — "
             "other jobs shared the machine, so wall times are inflated; CPU times below")
    L.append("- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    L.append(f"- run: `python benchmarks/bench_nuts.py{' --quick' if meta['quick'] else ''}`"
             f" — {meta['chains']} chains × ({meta['tune']} tune + {meta['draws']} draws), "
             f"cores={meta['cores_label']}, target_accept=0.9, init=\"em\" "
             "(em.fit(X, 3, n_init=20, rng=0)), K=3, default prior; "
             f"total benchmark time {meta['total']:.0f} s")
    L.append("- compile = `models.compiled.precompile(model, sampler)`: everything `fit_nuts` "
             "compiles, each function called once. cold = subprocess with a fresh "
             "`PYTENSOR_FLAGS=base_compiledir=…,compiledir=…` (PyTensor's numba cache is under "
             "base_compiledir); warm = second `build_model` in the same process; new process "
             "= another subprocess on the cache the cold run filled (a typical single run)."
             + (" `--quick`: cold measured on the galaxies only." if meta["quick"] else "")
             + "\n")
    L.append("## Sampler comparison (first fit of each data set; wall-clock)\n")
    L.append("| data | sampler | compile cold (s) | compile new process (s) | compile warm (s) "
             "| fit (s) | of which sampling (s) | bulk ESS min | ESS/s sampling | "
             "ESS/s incl. compile: cold / new process / warm | divergences | max R̂ | "
             "one labelling |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        d = r["diag1"]
        ess = d["ess_bulk_min"]
        rates = ess_rates(r)
        L.append(
            f"| {r['label']} | {r['spec']['sampler']} | {fmt(r['compile_cold'])} | "
            f"{fmt(r['compile_newproc'])} | {fmt(r['compile_warm'])} | {fmt(r['fit1'])} | "
            f"{fmt(d['sampling_time'])} | {ess:.0f} | {ess / d['sampling_time']:.0f} | "
            + " / ".join(fmt(rates[k], 0) for k in ("cold", "new process", "warm"))
            + f" | {d['divergences']} | {d['rhat_max']:.3f} | "
            f"{'yes' if d['one_labelling'] else 'NO'} |")
    L.append("")
    L.append("CPU time of the same runs (CPU seconds of the process, its threads and its "
             "finished child processes; less sensitive to other jobs than wall time and, with "
             "one core per run, close to the unloaded wall time):\n")
    L.append("| data | sampler | compile cold | compile new process | compile warm | fit | "
             "ESS per CPU-s incl. compile: cold / new process / warm |")
    L.append("|---|---|---|---|---|---|---|")
    for r in rows:
        rates = ess_rates(r, cpu=True)
        L.append(f"| {r['label']} | {r['spec']['sampler']} | {fmt(r['compile_cold_cpu'])} | "
                 f"{fmt(r['compile_newproc_cpu'])} | {fmt(r['compile_warm_cpu'])} | "
                 f"{fmt(r['fit1_cpu'])} | "
                 + " / ".join(fmt(rates[k], 0) for k in ("cold", "new process", "warm")) + " |")
    L.append("")
    L.append("## Default sampler\n")
    L.extend(meta["recommendation"])
    L.append("")
    L.append("## Reusing a compiled model for a second data set of the same shape\n")
    L.append("`model.set_data(X2)` then `fit_nuts` again (new EM start, "
             "other seed), X2 a new data set of the same size (galaxies: parametric bootstrap "
             "from the EM fit; simulated: another draw). Ratio = second fit / (first compile + "
             "first fit), the target being ≤ 0.10; also against a warm first compile. "
             "Overhead = second fit minus its sampling time, over the same denominator: what "
             "reuse can remove (the sampling itself cannot be reused).\n")
    L.append("| data | sampler | first: compile + fit (s) | second data set (s) | "
             "of which sampling (s) | ratio | ratio vs warm first | overhead ratio | "
             "recompiled | posterior means (2nd) | EM means (2nd) |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        comp, kind = first_compile(r)
        first = comp + r["fit1"]
        first_warm = r["compile_warm"] + r["fit1"]
        s2 = r["diag2"]["sampling_time"]
        L.append(
            f"| {r['label']} | {r['spec']['sampler']} | {comp:.2f} ({kind}) + "
            f"{r['fit1']:.2f} = {first:.2f} | {r['fit2']:.2f} | {s2:.2f} | "
            f"{r['fit2'] / first:.3f} | {r['fit2'] / first_warm:.3f} | "
            f"{(r['fit2'] - s2) / first:.3f} | {r['recompiled'] or 'nothing'} | "
            f"{', '.join(f'{m:.2f}' for m in r['fit2_posterior_means'])} | "
            f"{', '.join(f'{m:.2f}' for m in r['em2_means'])} |")
    L.append("")
    L.append("## `pm.compute_log_likelihood` vs the cached log-likelihood\n")
    L.append("Two consecutive calls each, on the same 50 draws per chain of the second data "
             "set's posterior (so that compilation dominates).\n")
    L.append("| data | sampler | pm.compute_log_likelihood 1st / 2nd call (s) | "
             "cached 1st / 2nd call (s) | max abs difference |")
    L.append("|---|---|---|---|---|")
    for r in rows:
        ll = r["loglik"]
        L.append(f"| {r['label']} | {r['spec']['sampler']} | {ll['pm'][0]:.3f} / "
                 f"{ll['pm'][1]:.3f} | {ll['cached'][0]:.3f} / {ll['cached'][1]:.3f} | "
                 f"{ll['max_abs_diff']:.1e} |")
    L.append("")
    L.append("## Cached `fit_nuts` against `pm.sample` itself (galaxies, same seed)\n")
    L.append("| sampler | identical draws | same groups and dims | groups | "
             "abs. difference of posterior means |")
    L.append("|---|---|---|---|---|")
    for s, v in verify.items():
        L.append(f"| {s} | {v['identical_draws']} | {v['same_groups']} | "
                 f"{', '.join(v['groups'])} | "
                 f"{', '.join(f'{k} {x:.2g}' for k, x in v['abs_diff_of_means'].items())} |")
    L.append("")
    L.append("## Compile time by part (s): first (cold, or new process) / warm\n")
    L.append("| data | sampler | parts |")
    L.append("|---|---|---|")
    for r in rows:
        cold = r["compile_parts_cold"] or {}
        parts = ", ".join(f"{k} {fmt(cold.get(k))} / {r['compile_parts_warm'][k]:.2f}"
                          for k in r["compile_parts_warm"])
        L.append(f"| {r['label']} | {r['spec']['sampler']} | {parts} |")
    L.append("")
    return "\n".join(L)


TIE = 0.05  # rates within 5 % are a tie


def recommend(rows: list[dict], cores_used: int) -> list[str]:
    """Compare bulk ESS/s including compile time; the typical single run is a new process.

    The decision uses CPU time when every run used one core (it is then the
    unloaded wall time, and other jobs on a shared machine do not distort it),
    wall time otherwise. The default is the sampler never more than
    :data:`TIE` below the other in a typical single run on either data set;
    if both qualify, the one with the larger geometric-mean rate.
    """
    labels = list(dict.fromkeys(r["label"] for r in rows))
    samplers = list(dict.fromkeys(r["spec"]["sampler"] for r in rows))
    clock = "cpu" if cores_used == 1 else "wall"
    lines, typical = [], {s: [] for s in samplers}
    for c in ("cpu", "wall"):
        for label in labels:
            rates = {r["spec"]["sampler"]: ess_rates(r, cpu=c == "cpu")
                     for r in rows if r["label"] == label}
            if c == clock:
                for s in samplers:
                    typical[s].append(rates[s]["new process"])
            lines.append(f"- {label}, {c} time — bulk ESS per second incl. compile "
                         "(cold / new process / warm): " + "; ".join(
                             f"{s} " + " / ".join(fmt(v[k], 0) for k in
                                                  ("cold", "new process", "warm"))
                             for s, v in rates.items()))
    ok = [s for s in samplers
          if all(typical[s][i] >= (1 - TIE) * typical[o][i]
                 for o in samplers if o != s for i in range(len(labels)))]
    why = ("CPU time (one core per run: close to the unloaded wall time, and insensitive to "
           "other jobs)"
           if clock == "cpu" else "wall time")
    if ok:
        best = max(ok, key=lambda s: float(np.exp(np.mean(np.log(typical[s])))))
        other = [o for o in samplers if o != best]
        ratios = [typical[best][i] / max(typical[o][i] for o in other)
                  for i in range(len(labels))]
        head = (f"**Recommended default: `sampler=\"{best}\"`**. In a typical single run (a new "
                "process, PyTensor's cache already filled), its bulk ESS per second including "
                f"compile time, in {why}, is "
                + ", ".join(f"{x:.2f}×" for x in ratios) + " the other sampler's ("
                + ", ".join(labels) + f"): never more than {TIE:.0%} below it.")
    else:
        head = (f"**No sampler is within {TIE:.0%} of the other on every data set** in a typical "
                f"single run ({why}); see the rates below.")
    lines.insert(0, head)
    return lines


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer draws and chains (~2 min)")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--cores", type=int, default=None,
                    help="parallel chains (default: fit_nuts's, every usable CPU up to 4)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-compile-only", help=argparse.SUPPRESS)
    ap.add_argument("--worker-verify", help=argparse.SUPPRESS)
    ap.add_argument("--report-only", metavar="RAW_JSON",
                    help="re-render the report from a previous run's raw results")
    args = ap.parse_args(argv)
    if args.report_only:
        raw = json.loads(Path(args.report_only).read_text())
        return render(raw["meta"], raw["rows"], raw["verify"])
    for kind, fn in (("worker", worker), ("worker_compile_only", worker_compile_only),
                     ("worker_verify", worker_verify)):
        spec = getattr(args, kind)
        if spec is not None:
            print(MARK + json.dumps(fn(json.loads(spec))), flush=True)
            return 0

    t_start = time.perf_counter()
    chains = args.chains or (2 if args.quick else 4)
    draws = tune = 300 if args.quick else 1000
    from mixcompare.models.compiled import default_cores

    meta = {
        "date": _dt.datetime.now().isoformat(timespec="minutes"),
        "nproc": nproc(), "cpu": cpu_model(), "versions": versions(), "quick": args.quick,
        "chains": chains, "draws": draws, "tune": tune,
        "cores_label": (f"{args.cores}" if args.cores else
                        f"fit_nuts's default = {default_cores(None, chains)}"),
        "cores_used": default_cores(args.cores, chains),
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    rows = []
    for sampler in SAMPLERS:
        with tempfile.TemporaryDirectory(prefix="pytensor-cold-") as tmp:
            flags = {"PYTENSOR_FLAGS": f"base_compiledir={tmp},compiledir={tmp}/compiledir"}
            for i, data in enumerate(DATASETS):
                spec = {"data": data, "sampler": sampler, "chains": chains, "draws": draws,
                        "tune": tune, "cores": args.cores}
                # --quick: one cold cache per sampler (galaxies); the n = 10 000 worker then
                # starts on the cache the galaxies worker filled (its compile = new process)
                cold = i == 0 or not args.quick
                if cold:
                    for entry in Path(tmp).iterdir():
                        shutil.rmtree(entry)
                print(f"[{time.perf_counter() - t_start:5.0f} s] {data} / {sampler}: "
                      f"{'cold' if cold else 'warm-cache'} worker ...", flush=True)
                row = run_worker("worker", spec, flags)
                first = {"compile": row.pop("compile_first"),
                         "cpu": row.pop("compile_first_cpu"),
                         "parts": row.pop("compile_parts_first")}
                row["compile_parts_cold"] = first["parts"] if cold else None
                row["compile_cold"] = first["compile"] if cold else None
                row["compile_cold_cpu"] = first["cpu"] if cold else None
                if cold:
                    row.update(run_worker("worker-compile-only", spec, flags))
                else:
                    row["compile_newproc"], row["compile_newproc_cpu"] = first["compile"], \
                        first["cpu"]
                row["label"] = LABELS[data]
                rows.append(row)
                d = row["diag1"]
                print(f"    compile cold {fmt(row['compile_cold'], 1)} s, warm "
                      f"{row['compile_warm']:.1f} s, new process {row['compile_newproc']:.1f} s;"
                      f" fit {row['fit1']:.1f} s (sampling {d['sampling_time']:.1f} s), "
                      f"ESS min {d['ess_bulk_min']:.0f}, divergences {d['divergences']}; "
                      f"second data set {row['fit2']:.1f} s", flush=True)
    order = {lab: i for i, lab in enumerate(LABELS.values())}
    rows.sort(key=lambda r: (order[r["label"]], r["spec"]["sampler"]))
    print(f"[{time.perf_counter() - t_start:5.0f} s] verification against pm.sample ...",
          flush=True)
    verify = run_worker("worker-verify", {"chains": chains, "draws": draws, "tune": tune,
                                          "cores": args.cores}, {})
    meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    meta["total"] = time.perf_counter() - t_start
    raw = Path(tempfile.gettempdir()) / "bench_nuts_raw.json"
    raw.write_text(json.dumps({"meta": meta, "rows": rows, "verify": verify}))
    print(f"raw results: {raw} (re-render with --report-only {raw})")
    return render(meta, rows, verify)


def render(meta: dict, rows: list[dict], verify: dict) -> int:
    meta["recommendation"] = recommend(rows, meta["cores_used"])
    text = report(meta, rows, verify)
    print()
    print(text)
    OUT.write_text(text + "\n")
    print(f"written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
