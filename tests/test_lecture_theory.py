"""Slides 28-29 and 36-42 by hand (lecture/theory.py), checked against scipy and em."""

import numpy as np
import pytest
from mixcompare import em
from mixcompare.comparisons import datasets
from mixcompare.comparisons.lecture import slides, theory
from scipy.stats import norm

CPG = np.asarray(datasets.load("cpg").X, float).ravel()


def test_one_gaussian_closed_form_is_the_mle_and_em_with_one_component():
    mle = theory.gaussian_mle(CPG)
    mu, sd = norm.fit(CPG)  # scipy's MLE
    assert mle["mean"] == pytest.approx(mu, rel=1e-12)
    assert mle["variance"] == pytest.approx(sd**2, rel=1e-12)
    assert mle["loglik"] == pytest.approx(norm.logpdf(CPG, mu, sd).sum(), rel=1e-12)
    one = em.fit(CPG, 1, rng=0)
    assert one.log_likelihood == pytest.approx(mle["loglik"], abs=1e-8)


def test_k_choice_prefers_two_gaussians_on_the_cpg_data():
    table, fits = theory.k_choice(CPG, rng=1)
    assert table["K"].tolist() == [1, 2] and table["n_params"].tolist() == [2, 5]
    for k, row in table.set_index("K").iterrows():
        assert row["bic_mclust"] == pytest.approx(fits[k].mclust_bic())
        # mclust's BIC is 2 l - p log n: recomputed from the log-likelihood
        assert row["bic_mclust"] == pytest.approx(
            2 * row["loglik"] - row["n_params"] * np.log(CPG.size))
    two = table.set_index("K")
    assert two.loc[2, "bic_mclust"] > two.loc[1, "bic_mclust"] + 100
    assert two.loc[2, "icl_mclust"] > two.loc[1, "icl_mclust"]
    assert two.loc[2, "bic_sklearn"] < two.loc[1, "bic_sklearn"]


def test_estep_by_hand_is_bayes_rule():
    w = theory.estep_by_hand(0.0, (1.0, 2.0), 1.0, (0.5, 0.5))
    np.testing.assert_allclose(w["density"], norm.pdf(0.0, [1.0, 2.0], 1.0), rtol=1e-14)
    np.testing.assert_allclose(w["joint"], 0.5 * w["density"], rtol=1e-14)
    assert w["resp"].sum() == pytest.approx(1.0)
    # Bayes' rule as a log-odds: log r1/r2 = log N(0|1,1) - log N(0|2,1) = (4 - 1) / 2
    assert np.log(w["resp"][0] / w["resp"][1]) == pytest.approx(1.5, rel=1e-12)


def test_responsibility_table_is_what_em_computes_in_its_first_two_iterations():
    t = theory.responsibility_table(slides.TWO_ITER_X, slides.TWO_ITER_START, n_iter=2)
    res = em.fit(slides.TWO_ITER_X, 2, fixed={"weights": [0.5, 0.5], "variances": 1.0},
                 init={"means": list(slides.TWO_ITER_START)}, tol=0, max_iter=2,
                 keep_resp=True)
    for it in (1, 2):  # em's resp[t] is the E-step at iterate t (the means after t M-steps)
        np.testing.assert_allclose(t[f"r1_it{it}"], res.trace.resp[it - 1][:, 0], rtol=1e-10)
        np.testing.assert_allclose(t[f"r2_it{it}"], res.trace.resp[it - 1][:, 1], rtol=1e-10)
    np.testing.assert_allclose(t.attrs["means"], res.trace.means, rtol=1e-12)
    np.testing.assert_allclose(t.attrs["means"], slides.iteration_table(n_iter=2)[
        ["mu1", "mu2"]].values, rtol=1e-12)
