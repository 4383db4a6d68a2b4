"""choose-k's EM side: mclust's published criteria, the atlas panel, the bootstrap LRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mixcompare.comparisons.choosek.em_side import chosen_k, em_side
from mixcompare.comparisons.choosek.lrt import bootstrap_lrt, lrt_choice, lrt_p_value
from mixcompare.comparisons.choosek.mclust_refs import MCLUST_RECIPE, mclust_panel
from mixcompare.comparisons.choosek.mclust_start import mclust_fits
from mixcompare.comparisons.datasets import load
from scipy.stats import norm

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def galaxies_mass():
    """EM side of galaxies-mass, unequal variances, K = 1..4, with mclust's starts."""
    return em_side(load("galaxies-mass").X, 4, ("unequal",), rng=0, mclust_start=True,
                   mclust_recipe=MCLUST_RECIPE["galaxies-mass"])


def test_galaxies_mass_v3_is_mclust_s_and_v4_is_labelled(galaxies_mass):
    """mclust 6 vignette (Scrucca et al. 2016), MASS::galaxies / 1000, model V: G = 3 has
    log-likelihood -203.1792, df 8, BIC -441.6122; G = 4 BIC -443.3997, which our EM
    beats (mclust's EM stops at a relative change of 1e-5 on the way to our optimum)."""
    table, atlas, _ = galaxies_mass
    v3 = table.sel(structure="unequal", k=3)
    assert v3.log_likelihood.item() == pytest.approx(-203.1792, abs=1e-3)
    assert v3.n_parameters.item() == 8
    assert v3.bic_mclust.item() == pytest.approx(-441.6122, abs=1e-3)
    assert v3.bic_sklearn.item() == pytest.approx(441.6122, abs=1e-3)
    assert chosen_k(table, "bic_mclust") == ("unequal", 3)
    rows = {r["k"]: r for r in mclust_panel("galaxies-mass", table, atlas)}
    assert rows[3]["status"].startswith("reproduced (our chosen") and rows[3]["in_atlas"]
    assert rows[4]["our_bic"] > rows[4]["mclust_bic"] + 1e-3
    assert rows[4]["status"].startswith("reproduced (mclust's start and stopping rule)")
    assert "ours is higher" in rows[4]["status"] and not rows[4]["in_atlas"]
    assert rows[4]["mclust_start_bic"] == pytest.approx(-443.3997, abs=1e-3)
    assert 5 not in rows  # k_max = 4: nothing claimed for K = 5
    # the atlas keeps every optimum, the chosen one flagged, with BIC on mclust's scale;
    # mclust's fits are flagged apart and never chosen
    chosen = atlas.chosen.values & (atlas.k.values == 3)
    assert atlas.bic_mclust.values[chosen] == pytest.approx([-441.6122], abs=1e-3)
    assert atlas.mclust_start.values.sum() == 4
    assert not np.any(atlas.chosen.values & atlas.mclust_start.values)


def test_mclust_start_and_rule_give_the_vignette_s_v5():
    """mclust vignette, MASS::galaxies / 1000, best of 20 runs from random merge trees after
    R's set.seed(20181116): V,5 BIC -446.3497 (its fit holds a component of about one point,
    which our EM's rule calls degenerate, so our chosen V,5 is lower)."""
    (v5,) = mclust_fits(load("galaxies-mass").X, [5], ("unequal",),
                        MCLUST_RECIPE["galaxies-mass"])
    assert v5.bic_mclust == pytest.approx(-446.3497, abs=1e-3)
    assert v5.start == "random tree 18 (R seed 20181116)"
    assert v5.fit.degenerate.any()


def test_acidity_selects_e2_with_mclust_s_numbers():
    """mclust 6 vignette, acidity: E,2 selected, log-likelihood -185.9493, BIC -392.0723
    (mclust searches G = 1..9; here G = 1..3)."""
    X = np.loadtxt(DATA / "acidity.csv", skiprows=1)
    table, _, _ = em_side(X, 3, ("equal", "unequal"), n_init=10, rng=1)
    assert chosen_k(table, "bic_mclust") == ("equal", 2)
    e2 = table.sel(structure="equal", k=2)
    assert e2.log_likelihood.item() == pytest.approx(-185.9493, abs=1e-3)
    assert e2.bic_mclust.item() == pytest.approx(-392.0723, abs=1e-3)
    # the two conventions are the same number with opposite signs; AIC is -2l + 2p
    assert np.allclose(table.bic_sklearn, -table.bic_mclust)
    assert np.allclose(table.aic_sklearn, -2 * table.log_likelihood + 2 * table.n_parameters)
    # mclust's default start (quantile classes) and stopping rule land on the same E,2
    (e2_mclust,) = mclust_fits(X, [2], ("equal",))
    assert e2_mclust.bic_mclust == pytest.approx(-392.0723, abs=1e-3)
    assert e2_mclust.start == "quantile classes"


def test_lrt_p_value_is_mclust_s_formula():
    assert lrt_p_value(5.0, np.array([1.0, 6.0, 5.0, 2.0])) == pytest.approx(3 / 5)
    assert lrt_p_value(10.0, np.zeros(99)) == pytest.approx(1 / 100)


def test_bootstrap_lrt_rejects_one_for_two_separated_clusters():
    """Two clusters 12 sds apart (normal quantiles, no randomness in the data): 1 against 2
    components is rejected at the smallest p-value, 1 / (B + 1)."""
    z = norm.ppf((np.arange(40) + 0.5) / 40)
    X = np.concatenate([z, 12.0 + z])
    _, _, fits = em_side(X, 2, ("unequal",), n_init=5, rng=2)
    lrt = bootstrap_lrt(fits, ("unequal",), 2, X.size, n_boot=19, n_init=3, rng=3)
    assert lrt.lrts.item() > 50  # 2 (l_2 - l_1): the two clusters are far apart
    assert lrt.p_value.item() == pytest.approx(1 / 20)
    assert np.all(lrt.boot_lrts.values >= 0) and lrt.boot_lrts.max() < lrt.lrts.item()
    assert lrt_choice(lrt, "unequal", level=0.1) == 2  # every test rejects: K = k_max
    assert lrt_choice(lrt, "unequal") is None  # 19 samples cannot reject at 5%
    # two worker processes give the same statistics: each data set has its own stream
    two = bootstrap_lrt(fits, ("unequal",), 2, X.size, n_boot=2, n_init=3, rng=3, n_jobs=2)
    assert np.array_equal(two.boot_lrts.values, lrt.boot_lrts.values[..., :2])


def test_choose_k_keeps_library_warnings_in_the_result(monkeypatch):
    """A part's mixcompare warnings are recorded once each (summary, report), as compare's."""
    import warnings

    from mixcompare import em
    from mixcompare.comparisons import choose_k
    from mixcompare.comparisons.choosek import api

    real = api.em_side

    def warning_em_side(*args, **kwargs):
        for _ in range(2):
            warnings.warn("a degenerate fit", em.MixcompareWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "em_side", warning_em_side)
    x = np.concatenate([norm.ppf(np.linspace(0.01, 0.99, 40)), 6 + norm.ppf(
        np.linspace(0.01, 0.99, 40))])
    res = choose_k(x, 2, structures=("unequal",), parts=("em",), n_init=2, rng=0)
    assert res.summary()["warnings"] == ["MixcompareWarning: a degenerate fit"]
    assert set(res.timings) == {"em"} and res.timings["em"] >= 0


def test_choose_k_on_multivariate_data_runs_every_structure_and_its_lrt():
    """d = 2: the four structures, each with its BIC/ICL table and its bootstrap LRT."""
    from mixcompare.comparisons import choose_k

    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal([0.0, 0.0], 1.0, (60, 2)), rng.normal([8.0, 3.0], 1.0, (60, 2))])
    res = choose_k(X, 2, parts=("em", "lrt"), n_init=3, n_boot=4, boot_n_init=1, n_jobs=1,
                   rng=0)
    s = res.summary()
    assert s["structures"] == ["spherical", "diag", "tied", "full"]
    assert s["data"]["n_features"] == 2 and s["bayes_structure"] == "full"
    for st in s["structures"]:
        rows = s["em"][st]
        assert [r["k"] for r in rows] == [1, 2]
        assert rows[1]["bic_mclust"] > rows[0]["bic_mclust"]  # two clusters 8 sd apart
        assert s["lrt"]["tests"][st][0]["lrts"] > 0
    assert s["choices"]["bic_mclust"]["k"] == 2
