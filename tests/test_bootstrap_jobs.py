"""The bootstrap's n_jobs="auto": the same replicates whether the rest runs here or in workers."""

import numpy as np
import pytest
from mixcompare import em
from mixcompare.em import _bootstrap


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 1, 120), rng.normal(4, 1, 80)])
    return em.fit(x, 2, n_init=3, rng=0)


@pytest.mark.parametrize("threshold", (0.0, np.inf))  # workers for the rest / all here
def test_auto_jobs_give_the_replicates_of_one_process(fit, threshold, monkeypatch):
    monkeypatch.setattr(_bootstrap, "AUTO_PARALLEL_SECONDS", threshold)
    seen = []
    auto = fit.standard_errors("bootstrap", n_boot=14, rng=3, n_jobs="auto",
                               on_progress=lambda done, total: seen.append((done, total)))
    one = fit.standard_errors("bootstrap", n_boot=14, rng=3, n_jobs=1)
    np.testing.assert_array_equal(auto.replicates.parameters, one.replicates.parameters)
    assert auto.replicates.parameters.shape[0] + auto.n_failed == 14
    assert seen == [(i, 14) for i in range(1, 15)]
    with pytest.raises(ValueError, match='n_jobs must be a number of processes, -1 or "auto"'):
        fit.standard_errors("bootstrap", n_boot=4, n_jobs="many")
