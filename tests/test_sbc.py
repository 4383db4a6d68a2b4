"""Simulation-based calibration: prior draws, rank tests, and a check that can fail."""

import numpy as np
import pytest
from mixcompare.comparisons.study import ranks, sbc

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning",
                                        "ignore::DeprecationWarning")


def test_prior_draws_are_ordered_jointly_and_the_control_rescales_the_data():
    cfg = sbc.SBCConfig()
    rng = np.random.default_rng(0)
    draws = [sbc.draw_prior(cfg, rng) for _ in range(4000)]
    mu = np.array([d[0] for d in draws])
    v = np.array([d[1] for d in draws])
    assert np.all(np.diff(mu, axis=1) > 0)
    # sorting whole components keeps the Inverse-Gamma marginal of a randomly chosen variance
    pooled = v.ravel()
    assert np.mean(pooled) == pytest.approx(cfg.b / (cfg.a - 1), rel=0.1)
    m, var = np.array([-1.0, 1.0]), np.array([0.25, 0.25])
    x_ok = sbc.simulate(cfg, m, var, "correct", np.random.default_rng(1))
    x_bad = sbc.simulate(cfg, m, var, "sd_as_variance", np.random.default_rng(1))
    # same labels and noise; the control's spread is var (0.25) instead of sqrt(var) (0.5)
    # (x_bad = mu + 0.25 e, x_ok = mu + 0.5 e: 2 x_bad - x_ok is the component's mean)
    np.testing.assert_allclose(np.abs(2 * x_bad - x_ok), 1.0, atol=1e-12)
    assert np.std(x_bad - (2 * x_bad - x_ok)) < np.std(x_ok - (2 * x_bad - x_ok))
    with pytest.raises(ValueError, match="generator"):
        sbc.simulate(cfg, m, var, "wrong", np.random.default_rng(1))


def test_uniformity_tests_accept_uniform_ranks_and_flag_skewed_ones():
    rng = np.random.default_rng(3)
    L, N = 19, 200
    uniform = rng.integers(0, L + 1, size=(N, 2))
    skewed = np.minimum(rng.integers(0, L + 1, size=(N, 2)), rng.integers(0, L + 1, (N, 2)))
    ok = ranks.uniformity(uniform, L, 5, 0.01)
    bad = ranks.uniformity(np.c_[uniform[:, :1], skewed[:, :1]], L, 5, 0.01)
    assert not ok["flagged"].any()
    assert list(bad["flagged"]) == [False, True]
    assert not bad["ecdf_inside"][1] and bad["pvalues"][1] < 1e-6
    lo, hi = ranks.ecdf_band(N, L, 0.01)
    z = np.arange(1, L + 1) / (L + 1)
    assert np.all(lo <= N * z) and np.all(N * z <= hi) and np.all(np.diff(lo) >= 0)
    # the band is simultaneous: about 99 % of uniform samples stay inside everywhere
    sims = rng.integers(0, L + 1, size=(400, N))
    counts = ranks.ecdf_counts(sims, L)
    inside = np.all((counts >= lo) & (counts <= hi), axis=1).mean()
    assert inside >= 0.97
    with pytest.raises(ValueError, match="multiple of bins"):
        sbc.SBCConfig(n_ranks=20, bins=5)


@pytest.mark.slow
def test_sbc_passes_for_the_model_and_flags_the_negative_control(tmp_path):
    cfg = sbc.SBCConfig(n_sims=60, seed=0)
    good = sbc.run_sbc(cfg, scheduler="inline")
    assert good.n_failed == 0 and good.ranks.shape == (60, 4)
    assert good.passed, (good.pvalues, good.ecdf_inside)
    assert np.all(good.ranks >= 0) and np.all(good.ranks <= cfg.n_ranks)
    # one compiled model for every simulation of this process
    assert np.isnan(good.fresh_seconds) or good.reused_seconds < good.fresh_seconds
    control = sbc.run_sbc(sbc.SBCConfig(n_sims=40, seed=0), generator="sd_as_variance",
                          scheduler="inline")
    assert not control.passed
    assert control.flagged[2] and control.flagged[3]  # the variances
    assert control.pvalues[2] < 1e-4 and control.pvalues[3] < 1e-4
    files = sbc.write_sbc([good, control], tmp_path)
    for name in ("sbc.md", "sbc.json", "sbc_correct.png", "sbc_sd_as_variance.png",
                 "ranks_correct.csv"):
        assert name in files and files[name].exists()
    assert "flagged" in (tmp_path / "sbc.md").read_text()
