"""find_MAP of the full-covariance model against the diagonal one (issue #14: full <= 5x diag).

Run: ``python benchmarks/bench_map.py [DATASET] [K]`` (default faithful2d, K = 3).
Each structure in its own new process (as one ``mixcompare run``; PyTensor's disk
cache as it is): ``models.fit_map`` on a freshly built model (its first call
compiles the loss and gradient), then ``REPEATS`` more calls on the same model
(compiled: the optimisation alone). Wall and CPU seconds; prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from _machine import cpu_model
from mixcompare import em, models
from mixcompare.comparisons import datasets

REPEATS = 5
STRUCTURES = ("full", "diag")


def _timed(func):
    w, c = time.perf_counter(), time.process_time()
    out = func()
    return out, time.perf_counter() - w, time.process_time() - c


def measure(X, K: int, structure: str) -> dict:
    """First call (compile + fit) and the median of later calls, wall and CPU seconds."""
    mm = models.build_model(X, K, prior=em.Prior.default(X), structure=structure)
    tree, w0, c0 = _timed(lambda: models.fit_map(mm, rng=0))
    later = [_timed(lambda i=i: models.fit_map(mm, rng=i + 1))[1:] for i in range(REPEATS)]
    w, c = np.median(np.array(later), axis=0)
    return {"first": w0, "first_cpu": c0, "later": w, "later_cpu": c,
            "log_density": float(tree.attrs["log_density"])}


def main() -> None:
    """Measure each structure in a new process and print the table."""
    if sys.argv[1:2] == ["--one"]:  # the child: one structure, JSON on stdout
        warnings.simplefilter("ignore")
        name, K, structure = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        print(json.dumps(measure(datasets.load(name).X, K, structure)))
        return
    name = sys.argv[1] if len(sys.argv) > 1 else "faithful2d"
    K = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    res = {}
    for s in STRUCTURES:
        out = subprocess.run([sys.executable, __file__, "--one", name, str(K), s],
                             capture_output=True, text=True, check=True).stdout
        res[s] = json.loads(out.strip().splitlines()[-1])
    print(f"{name}, K = {K}; {os.cpu_count()} CPUs, {cpu_model()}; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    print("| structure | first call: compile + fit, s (CPU s) | later calls, median s (CPU s) "
          "| log density |")
    print("|---|---|---|---|")
    for s, r in res.items():
        print(f"| {s} | {r['first']:.2f} ({r['first_cpu']:.2f}) | {r['later']:.3f} "
              f"({r['later_cpu']:.3f}) | {r['log_density']:.4f} |")
    f, d = res["full"], res["diag"]
    print(f"\nfull / diag: first call {f['first'] / d['first']:.1f}x, later calls "
          f"{f['later'] / d['later']:.1f}x (target <= 5x)")


if __name__ == "__main__":
    main()
