"""Benchmark what a user runs: whole EM fits, restarts, the bootstrap and the harness.

Run from the repository root (after ``bench_em.py``, whose results file it extends)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_fit.py [--quick]
        [--no-harness]

Whole fits run with ONE BLAS/OpenMP thread, both engines in the same process, on the
same data, measured in turns (median of repeats, thread CPU time with wall-clock in
brackets):

- *same start*: ``em.fit(X, K, init=dict(...), tol=0, max_iter=20)`` against
  ``GaussianMixture(K, max_iter=20, tol=0, weights_init=..., means_init=...,
  precisions_init=...)``: 20 iterations each, everything included (validation,
  set-up, final pass). The fixed cost of a fit is ``t(max_iter=0)`` in units of one
  iteration, ``(t(20) - t(0)) / 20``.
- *restarts*: ``em.fit(X, K, n_init=10)`` against ten times ``n_init=1`` (default
  k-means++ starts, default tolerance).
- *to convergence*: each library's default start at scikit-learn's tolerance
  (``1e-3`` per point: ``tol=1e-3 * n`` on em.fit's total log-likelihood), em.fit
  with ``polish=False`` (scikit-learn's rule: stop at the first change below tol)
  and with its default polish.

The bootstrap: 200 nonparametric refits of a 1-D K=3 fit at n = 10^6 on every core
(``n_jobs=-1``), wall-clock. The harness: ``mixcompare run`` (faithful) and
``mixcompare run galaxies --k 3``, each run twice (the second is the warm one),
wall-clock and the per-step ``timings`` of ``summary.json``.

The section it writes replaces the one of the same title in ``benchmarks/RESULTS_em.md``.
No timing is asserted anywhere in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import threadpoolctl
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import targets_table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mixcompare import em  # noqa: E402

OUT = Path(__file__).resolve().parent / "RESULTS_em.md"
TITLE = "## Whole fits, restarts, bootstrap and harness"


def clocks():
    return time.thread_time(), time.perf_counter()


def timed(fn):
    c0, w0 = clocks()
    out = fn()
    c1, w1 = clocks()
    return (c1 - c0, w1 - w0), out


def medians(tasks: dict, reps: int) -> dict:
    """name -> (cpu, wall) medians of ``reps`` runs of each task, taken in turns."""
    got = {k: [] for k in tasks}
    for _ in range(reps):
        for k, fn in tasks.items():
            got[k].append(timed(fn)[0])
    return {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v))
            for k, v in got.items()}


def data_1d(n: int, K: int, rng):
    mu = np.linspace(-4.0, 4.0, K)
    X = rng.normal(mu[rng.integers(K, size=n)], 0.7)
    init = dict(weights=np.full(K, 1.0 / K), means=mu + 0.5, variances=np.full(K, 1.0))
    return X, init


def sk_fit(X, K, init, M):
    prec = (1.0 / np.asarray(init["variances"]))[:, None]
    return GaussianMixture(K, covariance_type="diag", max_iter=M, tol=0.0, reg_covar=1e-10,
                           weights_init=init["weights"], means_init=init["means"][:, None],
                           precisions_init=prec).fit(X[:, None])


def bench_whole(n, K, M, reps, rng):
    X, init = data_1d(n, K, rng)
    t = medians({"em0": lambda: em.fit(X, K, init=init, tol=0, max_iter=0),
                 "em": lambda: em.fit(X, K, init=init, tol=0, max_iter=M),
                 "sk": lambda: sk_fit(X, K, init, M)}, reps)
    per_iter = (t["em"][0] - t["em0"][0]) / M
    return dict(em=t["em"], sk=t["sk"], fixed=t["em0"][0] / per_iter, X=X)


def bench_restarts(X, K, reps):
    t = medians({"one": lambda: em.fit(X, K, rng=0),
                 "ten": lambda: em.fit(X, K, rng=0, n_init=10)}, reps)
    return t["one"], t["ten"]


def bench_converge(X, K, reps):
    """Default starts at scikit-learn's tolerance: em polished (its default) and not."""
    n = X.shape[0]
    tol = 1e-3 * n
    t = medians({"em": lambda: em.fit(X, K, rng=0, tol=tol),
                 "em_np": lambda: em.fit(X, K, rng=0, tol=tol, polish=False),
                 "sk": lambda: GaussianMixture(K, random_state=0).fit(X[:, None])}, reps)
    r = em.fit(X, K, rng=0, tol=tol)
    r_np = em.fit(X, K, rng=0, tol=tol, polish=False)
    g = GaussianMixture(K, random_state=0).fit(X[:, None])
    return {"em": (t["em"], r.n_iter, r.log_likelihood / n),
            "em_np": (t["em_np"], r_np.n_iter, r_np.log_likelihood / n),
            "sk": (t["sk"], g.n_iter_, float(g.score(X[:, None])))}


def bench_bootstrap(n, n_boot, rng):
    X, _ = data_1d(n, 3, rng)
    fit = em.fit(X, 3, rng=0)
    jobs = os.cpu_count() or 1
    (_, wall), se = timed(lambda: fit.standard_errors("bootstrap", n_boot=n_boot, rng=1,
                                                     n_jobs=-1))
    return dict(wall=wall, jobs=jobs, failed=se.n_failed, se_means=se.means)


def bench_harness(args: list[str]):
    """Run the CLI twice (cold-ish, then warm); return wall seconds and the warm timings."""
    exe = Path(sys.executable).with_name("mixcompare")
    walls, timings = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            out = Path(tmp) / f"r{i}"
            w0 = time.perf_counter()
            subprocess.run([str(exe), "run", *args, "--out", str(out), "--quiet"], check=True)
            walls.append(time.perf_counter() - w0)
            timings = json.loads((out / "summary.json").read_text()).get("timings", {})
    return walls, timings


def load_line() -> str:
    try:
        return "load average (1, 5, 15 min) at the end: " + ", ".join(
            f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "load average unavailable"


def main(argv=None) -> int:  # noqa: PLR0915 - a linear report
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--no-harness", action="store_true", help="skip the mixcompare runs")
    ap.add_argument("--out", type=Path, default=OUT, help="Markdown file to extend")
    args = ap.parse_args(argv)
    n = 10**5 if args.quick else 10**6
    reps = 1 if args.quick else 3
    n_boot = 20 if args.quick else 200
    rng = np.random.default_rng(2027)
    lines = [TITLE, ""]

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    t_start = time.perf_counter()
    verdicts = []
    with threadpoolctl.threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        say(f"Measured by `benchmarks/bench_fit.py{' --quick' if args.quick else ''}`; "
            "thread CPU seconds [wall-clock], medians of "
            f"{reps} runs taken in turns, one BLAS thread; the machine was shared with other "
            "jobs (wall-clock figures are noisy, ratios are within one run).")
        say()
        say("| case | em.fit s | sklearn s | speed-up | target | em fixed cost (iterations) |")
        say("|---|---|---|---|---|---|")
        whole = {}
        for K in (3, 5):
            r = bench_whole(n, K, 20, reps, rng)
            whole[K] = r
            sp = r["sk"][0] / r["em"][0]
            say(f"| whole fit, same start, 20 iterations (tol=0), 1-D n={n:.0e} K={K} | "
                f"{r['em'][0]:.3f} [{r['em'][1]:.3f}] | {r['sk'][0]:.2f} [{r['sk'][1]:.2f}] | "
                f"{sp:.1f}× | ≥ 15× | {r['fixed']:.1f} |")
            verdicts.append((f"whole fit K={K}: ≥ 15× sklearn", sp >= 15, f"{sp:.1f}×"))
            verdicts.append((f"whole fit K={K}: fixed cost ≤ 5 iterations", r["fixed"] <= 5,
                             f"{r['fixed']:.1f} iterations"))
        X3 = whole[3]["X"]
        conv = bench_converge(X3, 3, reps)
        sk = conv["sk"]
        for key, what in (("em_np", "polish=False: stop at the first change below tol, "
                                    "sklearn's rule"),
                          ("em", "polished (em.fit's default)")):
            c = conv[key]
            sp = sk[0][0] / c[0][0]
            say(f"| to convergence, default starts (em k-means++, sklearn k-means), sklearn's "
                f"tol (1e-3 per point), em {what}, n={n:.0e} K=3 | {c[0][0]:.3f} "
                f"[{c[0][1]:.3f}] ({c[1]} it., ℓ/n {c[2]:.6f}) | {sk[0][0]:.2f} "
                f"[{sk[0][1]:.2f}] ({sk[1]} it., ℓ/n {sk[2]:.6f}) | {sp:.1f}× | ≥ 5× | – |")
            rule = "polished" if key == "em" else "polish=False"
            verdicts.append((f"to convergence from default starts, em {rule}: ≥ 5× sklearn",
                             sp >= 5, f"{sp:.1f}×"))
        one, ten = bench_restarts(X3, 3, reps)
        lin = ten[0] / (10 * one[0])
        say(f"| n_init=10 against n_init=1 (k-means++, default tol), n={n:.0e} K=3 | "
            f"{ten[0]:.2f} [{ten[1]:.2f}] vs {one[0]:.3f} [{one[1]:.3f}] | – | "
            f"t(10) / (10 t(1)) = {lin:.2f} | ≤ 1.1 (at most linear) | – |")
        verdicts.append(("n_init=10: time at most linear in restarts", lin <= 1.1,
                         f"t(10) / (10 t(1)) = {lin:.2f}"))
    b = bench_bootstrap(n, n_boot, rng)
    say(f"| bootstrap, {n_boot} nonparametric refits, n={n:.0e} K=3, {b['jobs']} worker "
        f"processes (n_jobs=-1) | wall {b['wall']:.1f} | – | – | ≤ 30 s | "
        f"{b['failed']} failed |")
    verdicts.append((f"bootstrap {n_boot} refits ≤ 30 s", b["wall"] <= 30,
                     f"{b['wall']:.1f} s"))
    say()
    if not args.no_harness:
        say("Harness (`mixcompare run`, default settings, wall-clock; run twice, the second "
            "warm):")
        say()
        say("| command | first s | warm s | target | warm per-step s (summary.json timings) |")
        say("|---|---|---|---|---|")
        for cmd, target in (([], 20), (["galaxies", "--k", "3"], 25)):
            walls, tim = bench_harness(cmd)
            steps = ", ".join(f"{k} {v:.1f}" for k, v in tim.items())
            say(f"| mixcompare run {' '.join(cmd)} | {walls[0]:.1f} | {walls[1]:.1f} | "
                f"≤ {target} s | {steps} |")
            verdicts.append((f"mixcompare run {' '.join(cmd) or '(faithful)'} ≤ {target} s warm",
                             walls[1] <= target, f"{walls[1]:.1f} s"))
        say()
    for row in targets_table(verdicts):
        say(row)
    say()
    say(f"{load_line()}; section time {time.perf_counter() - t_start:.0f} s.")
    text = args.out.read_text() if args.out.exists() else ""
    head = text.split(TITLE)[0].rstrip("\n")
    args.out.write_text((head + "\n\n" if head else "") + "\n".join(lines) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
