"""The lecture reproduced: surfaces, maxima, basins, paths, the slides and the command."""

import re
import warnings
from dataclasses import replace

import numpy as np
import pytest
from mixcompare import em
from mixcompare.comparisons.lecture import command as cmd
from mixcompare.comparisons.lecture import figures as lecture_figures
from mixcompare.comparisons.lecture import figures_slides, surface
from mixcompare.comparisons.lecture import pages as lecture_pages
from mixcompare.comparisons.lecture import paths as em_paths_mod
from mixcompare.comparisons.lecture import slides as lecture
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import norm

X, FIXED = lecture.bumps_data()
EXPECTED = np.array([[-5.0, 12.0], [12.0, -5.0], [-10.0, 6.0], [6.0, -10.0]])


def _nll(mu, x=X, var=1.0):
    """Negative log-likelihood written independently of mixcompare (sigma^2 = 1, tau = 0.5)."""
    lp = np.log(0.5) - 0.5 * np.log(2 * np.pi * var) - 0.5 * (x[:, None] - mu[None, :]) ** 2 / var
    return -logsumexp(lp, axis=1).sum()


def _nll_grad(mu, x=X):
    d = x[:, None] - mu[None, :]
    lp = -0.5 * d**2
    r = np.exp(lp - logsumexp(lp, axis=1, keepdims=True))
    return -(r * d).sum(axis=0)


@pytest.fixture(scope="module")
def surf():
    return surface.loglik_surface(X, limits=lecture.LIMITS, n_grid=171, **FIXED)


def test_lecture_data_are_the_nine_points():
    np.testing.assert_array_equal(X, [-10.2, -10, -9.8, -0.2, 0, 0.2, 11.8, 12, 12.2])
    assert FIXED == {"variances": 1.0, "weights": [0.5, 0.5]}


def test_surface_matches_an_independent_evaluation(surf):
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 171, size=(2, 20))
    got = surf["loglik"].values[i, j]
    want = [-_nll(np.array([surf["mu1"].values[a], surf["mu2"].values[b]]))
            for a, b in zip(i, j, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_four_maxima_where_the_lecture_says_checked_by_scipy(surf):
    found = np.column_stack([surf["opt_mu1"].values, surf["opt_mu2"].values])
    assert found.shape == (4, 2)
    for start in EXPECTED:  # each bump: scipy from the lecture's location, independent of EM
        opt = minimize(_nll, start, jac=_nll_grad, method="BFGS", options={"gtol": 1e-10})
        assert opt.success
        k = int(np.argmin(np.linalg.norm(found - opt.x, axis=1)))
        np.testing.assert_allclose(found[k], opt.x, atol=1e-3)
        np.testing.assert_allclose(found[k], start, atol=1e-3)
        assert surf["opt_loglik"].values[k] == pytest.approx(-opt.fun, abs=1e-6)
    ll = surf["opt_loglik"].values
    # the labelled pairs tie; the global pair beats the local pair by 33 nats
    assert ll[0] == pytest.approx(ll[1], abs=1e-9) and ll[2] == pytest.approx(ll[3], abs=1e-9)
    assert ll[0] - ll[2] == pytest.approx(33.0, abs=1e-3)
    assert ll[0] == pytest.approx(-89.62877, abs=1e-4)
    assert surf.attrs["mode"] == "fixed" and "fixed" in surf.attrs["statement"]


def test_grid_maxima_ignores_the_border():
    g = np.zeros((5, 5))
    g[2, 2], g[0, 4] = 1.0, 5.0
    assert surface.grid_maxima(g).tolist() == [[2, 2]]  # (0, 4) is higher but on the border


def test_profiled_surface_states_it_and_its_maxima_are_stationary():
    prof = surface.loglik_surface(X, limits=lecture.LIMITS, n_grid=71,
                                  weights=FIXED["weights"], profile=True)
    assert prof.attrs["mode"] == "profile" and "profiled" in prof.attrs["statement"]
    assert prof.sizes["optimum"] >= 2
    for k in range(prof.sizes["optimum"]):
        mu = np.array([prof["opt_mu1"].values[k], prof["opt_mu2"].values[k]])
        var = prof["opt_variance"].values[k]
        # the profile at the maximum equals the full likelihood at (mu, sigma^2) ...
        assert prof["opt_loglik"].values[k] == pytest.approx(-_nll(mu, var=var), abs=1e-8)
        # ... and scipy over (mu1, mu2, log sigma^2) does not climb higher
        opt = minimize(lambda p: _nll(p[:2], var=np.exp(p[2])), np.r_[mu, np.log(var)],
                       method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10})
        assert -opt.fun <= prof["opt_loglik"].values[k] + 1e-6
    assert prof["opt_loglik"].max() >= prof["loglik"].max() - 1e-9


@pytest.mark.parametrize("algorithm", ["em", "cem"])
def test_basin_colours_agree_with_em_fit_from_those_starts(surf, algorithm):
    maxima = np.column_stack([surf["opt_mu1"].values, surf["opt_mu2"].values])
    basins = em_paths_mod.basin_map(X, maxima, limits=(-15.3, 17.1), n_grid=17,
                               algorithm=algorithm, **FIXED)
    seen = set()
    tol = basins.attrs["match_tol"]
    for i, a in enumerate(basins["start_mu1"].values):
        for j, b in enumerate(basins["start_mu2"].values):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", em.SymmetricStartWarning)  # the diagonal
                res = em.fit(X, 2, fixed=FIXED, init={"means": [a, b]}, algorithm=algorithm,
                             tol=1e-10, max_iter=1000)
            want = em_paths_mod.classify(res.means[None], maxima, tol=tol)[0]
            assert basins["optimum"].values[i, j] == want, (a, b)
            seen.add(int(want))
    assert seen == {-1, 0, 1, 2, 3}  # every bump has a basin; the diagonal reaches none


def test_em_paths_climb_and_end_where_the_basin_map_says(surf):
    maxima = np.column_stack([surf["opt_mu1"].values, surf["opt_mu2"].values])
    for alg in ("em", "cem"):
        paths = em_paths_mod.em_paths(X, lecture.PATH_STARTS, algorithm=alg, fixed=FIXED,
                                 max_iter=6)
        assert paths["means"].shape == (len(lecture.PATH_STARTS), 7, 2)
        ends = em_paths_mod.classify(paths["means"].values[:, -1], maxima, tol=0.1)
        starts = np.array(lecture.PATH_STARTS)
        final, _, _ = em_paths_mod.em_means(X, starts, algorithm=alg, **FIXED)
        np.testing.assert_array_equal(ends, em_paths_mod.classify(final, maxima, tol=0.1))
        assert set(ends.tolist()) == {0, 1, 2, 3}
        assert np.all(np.diff(paths["objective"].values, axis=1) >= -1e-9)
    with pytest.raises(ValueError, match="weights"):
        em_paths_mod.em_paths(X, [(0.0, 1.0)], fixed={"variances": 1.0})


def test_em_converges_in_two_iterations_on_the_spreadsheet_example():
    t = lecture.iteration_table()
    assert list(t.columns) == ["iteration", "mu1", "mu2", "loglik", "delta", "gap_to_final"]
    assert (t["delta"].iloc[1:] >= -1e-12).all()
    assert t["gap_to_final"].iloc[2] < 1e-3  # essentially converged after two iterations
    assert t["gap_to_final"].iloc[1] > 0.1  # ... but not after one
    np.testing.assert_allclose(t[["mu1", "mu2"]].values[2], [0.0, 4.0], atol=0.03)


def test_cem_is_biased_apart_when_components_overlap():
    bias = lecture.cem_bias((0.5, 4.0), n=200, replicates=4, rng=3)
    assert bias["estimate"].dims == ("algorithm", "separation", "replicate")
    b = bias["bias"]
    assert float(b.sel(algorithm="cem", separation=0.5)) > 0.5
    assert abs(float(b.sel(algorithm="em", separation=4.0))) < 0.3
    assert float(b.sel(algorithm="cem", separation=0.5)) > float(
        b.sel(algorithm="em", separation=0.5))
    assert "skipped" in bias.attrs["posterior"] and "post_bias" not in bias


def test_bump_figures_draw_from_precomputed_results(tmp_path):
    b = lecture.bumps(replace(lecture.QUICK, n_grid=61, n_basin=31))
    assert b.optima["basin_share_em"].sum() <= 1 and len(b.optima) == 4
    for name, fig in (("s", figures_slides.fig_surface(b.surface)),
                      ("p", lecture_figures.fig_profile(b.profile, b.surface)),
                      ("paths", lecture_figures.fig_paths(b.surface, b.paths_em, b.paths_cem)),
                      ("b", lecture_figures.fig_basins(b.surface, b.basin_em, b.basin_cem)),
                      ("i", lecture_figures.fig_iterations(lecture.iteration_table()))):
        path = lecture_figures.save(fig, tmp_path / f"{name}.png")
        assert path.stat().st_size > 10_000
    assert "| optimum |" in lecture_pages.md_table(b.optima)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
class _Display:
    def __init__(self):
        self.messages, self.counts = [], []

    def __call__(self, message):
        self.messages.append(message)

    def count(self, what, done, total):
        self.counts.append((what, done, total))


def test_lecture_command_quick_writes_every_figure(tmp_path):
    display = _Display()
    files = cmd.lecture_command(tmp_path, seed=1, quick=True, progress=display)
    # it says which slides it builds, in order, and counts the parts done
    said = [m for m in display.messages if m in cmd.PARTS]
    assert said == list(cmd.PARTS)
    parts = [(d, t) for w, d, t in display.counts if w == "lecture parts"]
    assert parts == [(i, len(cmd.PARTS)) for i in range(len(cmd.PARTS) + 1)]
    assert any(m.startswith("EM: ") for m in display.messages)  # CpG's steps too
    assert "MAP-EM" in display.messages
    assert all(p.exists() for p in files)
    pngs = {p.relative_to(tmp_path).as_posix() for p in files if p.suffix == ".png"}
    captions = (tmp_path / "captions.md").read_text()
    index = (tmp_path / "index.md").read_text()
    assert {f"{n}.png" for n in lecture_figures.CAPTIONS} <= pngs
    assert "cpg/data_density.png" in pngs
    # quick: no PyMC; the NUTS figures are left to the full run and the pages say so
    assert not any(p.startswith(("cpg/trace", "cpg/census", "cpg/modes")) for p in pngs)
    assert index.count("NUTS: run without --quick") == 2  # CpG's and galaxies' sections
    assert "census: not run (--quick)" in index and "Methods: em, map_em." in index
    # slides 36-42's posterior: exact on the grid, its masses on the page, the caption says so
    assert "**Exact grid posterior (quick mode).**" in index
    assert "0.500 and 0.500 at the two labellings of the best bump" in index
    assert lecture_figures.GRID_CAPTION in index and "`bumps_posterior.png`: The nine-point "\
        "posterior (same means, sigma and tau fixed, default prior) computed exactly" in captions
    # slide 29 answered by the K-choice panel (choose-k; quick settings: EM's side only)
    assert "kchoice/bic.png" in pngs and "### The K-choice panel" in index
    assert "| criterion | structure | K |" in index and "| BIC (EM) | unequal | 2 |" in index
    for png in pngs:
        assert f"`{png}`" in captions and f"({png})" in index
        assert (tmp_path / png).stat().st_size > 10_000
    for table in ("bumps_optima", "two_iterations", "cem_bias", "cpg_agreement",
                  "galaxies_atlas", "k_choice", "responsibilities"):
        assert (tmp_path / "tables" / f"{table}.md").exists()
        assert (tmp_path / "tables" / f"{table}.csv").exists()
    assert "skipped (quick settings)" in captions
    # every slide 28-42 has a row saying where it is reproduced, and the links resolve
    head = index.split("## 0.")[0]
    rows = re.findall(r"^\| (\d+) \| .+ \| (.+) \|$", head, flags=re.M)
    assert [int(r[0]) for r in rows] == list(range(28, 43))
    anchors = {"#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^## (.+)$", index, flags=re.M)}
    for _, where in rows:
        assert set(re.findall(r"\((#[^)]+)\)", where)) <= anchors, where
        for f in re.findall(r"`([\w/]+\.(?:png|csv))`", where):
            assert (tmp_path / f).exists(), f
    # formulas in LaTeX, one point worked out, the stand-in and the CpG data labelled
    j = 0.5 * norm.pdf(0.0, lecture.TWO_ITER_START, 1.0)  # x = 0's joint densities, by scipy
    for needle in ("\\prod_{i=1}^{n} \\sum_{k=1}^{2}", "P(A \\mid D)", "\\ell_c(\\theta)",
                   f"r_1 = {j[0]:.5f} / {j.sum():.5f} = {j[0] / j.sum():.4f}",
                   "**Stand-in data.**",
                   "72 % of human promoters are high-CpG and 28 %", "*simulated*",
                   "high-CpG mean 0.62 sd 0.14"):
        assert needle in index, needle
    html = (tmp_path / "index.html").read_text()
    assert html.count("<script") == 2 and '"posterior":{"unordered":[[' in html
    assert "Draws from the exact grid posterior (quick mode) of the posterior" in html
