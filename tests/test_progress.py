"""Progress of long steps: find_MAP's starts and NUTS's iterations reach a callback."""

from __future__ import annotations

import numpy as np
import pytest
from mixcompare import em, models

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
X = np.r_[np.random.default_rng(0).normal(size=40), np.random.default_rng(1).normal(size=40) + 6]


def _recorder():
    calls = []
    return calls, lambda done, total: calls.append((done, total))


@pytest.mark.parametrize(("sampler", "cores"), [("pymc", 1), ("pymc", 2), ("nutpie", 1)])
def test_nuts_reports_every_iteration_of_every_chain(sampler, cores):
    mm = models.cached_model(X, 2, prior=em.Prior.default(X)).model
    calls, on_progress = _recorder()
    models.fit_nuts(mm, draws=30, tune=20, chains=2, sampler=sampler, rng=0, cores=cores,
                    progressbar=False, init="prior", on_progress=on_progress)
    total = 2 * (30 + 20)
    assert calls, "no progress reported"
    assert all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] <= total
    if sampler == "pymc":  # every iteration, in order (nutpie reports a few times a second)
        assert done == list(range(1, total + 1))


def test_find_map_reports_each_start():
    mm = models.cached_model(X, 2, prior=em.Prior.default(X)).model
    calls, on_progress = _recorder()
    models.fit_map(mm, rng=0, n_starts=3, on_progress=on_progress)
    assert calls == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("n_jobs", (1, 2))
def test_bootstrap_reports_each_refit(n_jobs):
    res = em.fit(X, 2, rng=0)
    calls, on_progress = _recorder()
    se = res.standard_errors("bootstrap", n_boot=6, n_jobs=n_jobs, rng=1,
                             on_progress=on_progress)
    assert calls == [(i, 6) for i in range(1, 7)]
    assert se.n_boot == 6


class _Display:
    """A progress display as the CLI's: hears the steps and counts."""

    def __init__(self):
        self.messages, self.counts = [], {}

    def __call__(self, message):
        self.messages.append(message)

    def count(self, what, done, total):
        self.counts.setdefault(what, []).append((done, total))


def test_compare_counts_the_bootstrap_find_map_and_nuts():
    from mixcompare.comparisons.pipeline import compare

    display = _Display()
    compare(X, 2, methods=("em", "map", "nuts"), draws=20, tune=10, chains=2, n_boot=5,
            n_init=3, rng=0, progress=display, arviz_groups=False)
    final = {what: c[-1] for what, c in display.counts.items()}
    assert final["bootstrap refits"] == (5, 5)
    assert final["find_MAP starts"][0] == final["find_MAP starts"][1] >= 4
    assert final["NUTS iterations (all chains)"] == (60, 60)
    assert any(m.startswith("NUTS") for m in display.messages)


def test_the_command_draws_bars_with_eta_in_a_terminal(tmp_path):
    import os
    import pty
    import select
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "mixcompare"
    main, child = pty.openpty()
    proc = subprocess.Popen([str(exe), "run", "--methods", "em", "--n-boot", "12", "--out",
                             str(tmp_path / "o")], stdout=child, stderr=child, close_fds=True)
    os.close(child)
    out = b""
    while select.select([main], [], [], 300)[0]:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0
    text = out.decode("utf-8", "replace")
    assert "checking the data and options" in text
    assert "bootstrap refits" in text and "12/12" in text and "ETA" in text
