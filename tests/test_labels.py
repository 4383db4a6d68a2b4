"""Label switching: detection, pivot and Stephens relabelling, diagnostics (synthetic draws)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.posterior import relabel as labels
from mixcompare.comparisons.posterior.stephens import all_permutations, permute
from scipy.stats import norm

K = 3
C, D = 4, 500
TRUTH_1D = (np.array([0.2, 0.3, 0.5]), np.array([-4.0, 0.0, 5.0]), np.array([0.25, 1.0, 2.25]))
TRUTH_2D = (np.array([0.2, 0.3, 0.5]), np.array([[-4.0, 0.0], [0.0, 3.0], [5.0, -1.0]]),
            np.array([[0.3, 0.5], [1.0, 0.8], [2.0, 1.5]]))


def _draws(truth, chains=C, draws=D, seed=0, spread=0.05):
    """Aligned draws around the truth: weights (C, D, K), means/variances (C, D, K[, d])."""
    w0, m0, v0 = truth
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(w0 * 400, size=(chains, draws))
    m = m0 + spread * np.sqrt(v0) * rng.standard_normal((chains, draws) + m0.shape)
    v = v0 * np.exp(spread * rng.standard_normal((chains, draws) + v0.shape))
    return w, m, v


def _switches(chains=C, draws=D, k=K, within=True):
    """Known applied permutations sigma (chain, draw, K): the observed draw is theta[sigma]."""
    sigma = np.tile(np.arange(k), (chains, draws, 1))
    sigma[1] = (2, 0, 1)  # whole chains in another labelling
    sigma[3:4] = (1, 0, 2)
    if within:  # chain 2: two blocks and six isolated draws
        sigma[2, 100:160] = (0, 2, 1)
        sigma[2, 300:305] = (2, 1, 0)
        for s, p in zip([20, 50, 200, 250, 400, 450], [1, 2, 3, 4, 5, 1], strict=True):
            sigma[2, s] = all_permutations(k)[p]
    return sigma


def _apply(arrays, perms):
    """arrays relabelled by (chain, draw, K) perms: out[..., j] = a[..., perms[..., j]]."""
    shape = perms.shape
    flat = perms.reshape(-1, shape[-1])
    return tuple(permute(a.reshape((-1,) + a.shape[2:]), flat).reshape(a.shape) for a in arrays)


def _inverse(sigma):
    inv = np.empty_like(sigma)
    np.put_along_axis(inv, sigma, np.broadcast_to(np.arange(sigma.shape[-1]), sigma.shape),
                      axis=-1)
    return inv


def _dataset(w, m, v):
    one_d = m.ndim == 3
    dims = ("chain", "draw", "component") if one_d else ("chain", "draw", "component", "feature")
    data = {"weights": (dims[:3], w), "means": (dims, m), "variances": (dims, v),
            "sds": (dims, np.sqrt(v)), "lp": (("chain", "draw"), w[..., 0] * 7.0)}
    if not one_d:
        cov = np.einsum("...kf,fg->...kfg", v, np.eye(v.shape[-1]))
        # a component-specific correlation (|r| < 0.1, so every matrix is a covariance: the
        # Stephens memberships use the covariances when the posterior has them)
        r = 0.1 * np.tanh(m[..., 0])
        cov[..., 0, 1] = cov[..., 1, 0] = r * np.sqrt(v[..., 0] * v[..., 1])
        data["covariances"] = ((*dims, "feature_bis"), cov)
        data["odd"] = (("feature", "component", "chain", "draw"),
                       np.moveaxis(m, (3, 2), (0, 1)))
    return xr.Dataset(data, coords={"chain": np.arange(w.shape[0]),
                                    "draw": np.arange(w.shape[1]), "component": np.arange(K)},
                      attrs={"sampler": "synthetic"})


# --------------------------------------------------------------------------- pivot
def test_pivot_convention_on_one_draw():
    w, m, v = TRUTH_1D
    sigma = np.array([2, 0, 1])
    perms = labels.pivot_permutations(w[sigma][None], m[sigma][None], v[sigma][None], TRUTH_1D)
    np.testing.assert_array_equal(perms, [[1, 2, 0]])  # inverse of sigma
    np.testing.assert_array_equal(m[sigma][perms[0]], m)


@pytest.mark.parametrize("truth", [TRUTH_1D, TRUTH_2D], ids=["1d", "2d"])
def test_pivot_finds_the_known_permutations_and_undoes_them(truth):
    theta = _draws(truth)
    sigma = _switches()
    obs = _apply(theta, sigma)
    assert not np.allclose(obs[1], theta[1])
    perms = labels.pivot_permutations(*obs, truth)
    assert perms.shape == (C, D, K)
    np.testing.assert_array_equal(perms, _inverse(sigma))
    for a, b in zip(_apply(obs, perms), theta, strict=True):
        np.testing.assert_array_equal(a, b)


def test_enumeration_and_hungarian_agree():
    theta = _draws(TRUTH_2D, chains=2, draws=300, spread=0.8, seed=4)  # overlapping draws
    rng = np.random.default_rng(5)
    sigma = all_permutations(K)[rng.integers(0, 6, size=(2, 300))]
    obs = _apply(theta, sigma)
    a = labels.pivot_permutations(*obs, TRUTH_2D, method="enumerate")
    b = labels.pivot_permutations(*obs, TRUTH_2D, method="hungarian")
    np.testing.assert_array_equal(a, b)
    assert (a != _inverse(sigma)).any(axis=-1).mean() < 0.5  # noisy, mostly recovered


def test_large_k_uses_hungarian():
    k = 7
    truth = (np.full(k, 1 / k), np.arange(k) * 6.0, np.linspace(0.5, 2.0, k))
    theta = _draws(truth, chains=2, draws=60, seed=2)
    rng = np.random.default_rng(3)
    sigma = np.array([rng.permutation(k) for _ in range(120)]).reshape(2, 60, k)
    obs = _apply(theta, sigma)
    perms = labels.pivot_permutations(*obs, truth)
    np.testing.assert_array_equal(perms, _inverse(sigma))
    np.testing.assert_array_equal(labels.pivot_permutations(*obs, truth, method="enumerate"),
                                  perms)


@pytest.mark.parametrize("which", ["variances", "weights"])
def test_pivot_cost_uses_variances_and_weights(which):
    # components that share their means: only the log-variance (or log-weight) term separates them
    w0 = np.array([0.1, 0.3, 0.6]) if which == "weights" else np.full(K, 1 / K)
    v0 = np.array([0.25, 1.0, 4.0]) if which == "variances" else np.ones(K)
    truth = (w0, np.zeros(K), v0)
    theta = _draws(truth, chains=2, draws=50, seed=6)
    sigma = _switches(chains=2, draws=50, within=False)
    perms = labels.pivot_permutations(*_apply(theta, sigma), truth)
    np.testing.assert_array_equal(perms, _inverse(sigma))


def test_pivot_accepts_results_like_objects_and_checks_shapes():
    theta = _draws(TRUTH_1D, chains=1, draws=20)
    ds = xr.Dataset({"weights": ("component", TRUTH_1D[0]), "means": ("component", TRUTH_1D[1]),
                     "variances": ("component", TRUTH_1D[2])})
    np.testing.assert_array_equal(labels.pivot_permutations(*theta, ds),
                                  labels.pivot_permutations(*theta, TRUTH_1D))
    with pytest.raises(ValueError, match="pivot has means"):
        labels.pivot_permutations(*theta, TRUTH_2D)
    with pytest.raises(ValueError, match="method"):
        labels.pivot_permutations(*theta, TRUTH_1D, method="sort")


# --------------------------------------------------------------------------- summary
def test_switching_summary_reports_chains_and_rates():
    sigma = _switches()
    s = labels.switching_summary(_inverse(sigma))
    assert s.detected and not s.matches_reference
    np.testing.assert_allclose(s.switching_rate, [0, 0, 16 / 499, 0])
    assert s.dominant == ((0, 1, 2), (1, 2, 0), (0, 1, 2), (1, 0, 2))
    np.testing.assert_allclose(s.dominant_share, [1, 1, (500 - 60 - 5 - 6) / 500, 1])
    assert s.chains_by_labelling == {(0, 1, 2): (0, 2), (1, 2, 0): (1,), (1, 0, 2): (3,)}
    assert s.reason == ("chain 1 sits in labelling (1, 2, 0), chain 3 sits in labelling "
                        "(1, 0, 2) while chains 0 and 2 sit in labelling (0, 1, 2); "
                        "chain 2 changes labelling 16 times in 500 draws (3.2 % of its steps) "
                        "and spends 14 % of its draws outside its main labelling (6 of 6 "
                        "labellings visited)")
    # the two measures are not the same thing: 16 switch events, 71 draws outside the main one
    assert s.switch_events.tolist() == [0, 0, 16, 0]
    np.testing.assert_allclose(s.outside_main, [0, 0, 71 / 500, 0])
    assert s.labellings_visited.tolist() == [1, 1, 6, 1] and s.n_labellings == 6
    assert s.to_dict()["chains_by_labelling"]["(1, 2, 0)"] == [1]
    s = labels.switching_summary(_inverse(_switches(within=False)))  # chains disagree only
    assert s.detected
    np.testing.assert_array_equal(s.switching_rate, 0)
    assert s.reason == ("chain 1 sits in labelling (1, 2, 0), chain 3 sits in labelling "
                        "(1, 0, 2) while chains 0 and 2 sit in labelling (0, 1, 2)")


def test_switching_summary_within_chain_only_and_threshold():
    sigma = np.tile(np.arange(K), (C, D, 1))
    sigma[0, 10] = (1, 0, 2)  # one isolated switch: 2 / 499 = 0.4 %
    s = labels.switching_summary(_inverse(sigma))
    assert not s.detected and not s.matches_reference
    assert s.reason.startswith("no switching: every chain sits in the pivot's labelling")
    assert "0.4 %" in s.reason
    s = labels.switching_summary(_inverse(sigma), max_rate=0.001)
    assert s.detected
    assert s.reason == ("chain 0 changes labelling 2 times in 500 draws (0.4 % of its steps) "
                        "and spends 0.2 % of its draws outside its main labelling (2 of 6 "
                        "labellings visited)")


def test_no_switching_and_global_relabelling():
    theta = _draws(TRUTH_1D)
    s = labels.switching_summary(labels.pivot_permutations(*theta, TRUTH_1D))
    assert not s.detected and s.matches_reference
    assert s.reason == "no switching: every draw matches the pivot's labelling"
    np.testing.assert_array_equal(s.switching_rate, 0)
    sigma = np.tile([2, 0, 1], (C, D, 1))
    s = labels.switching_summary(labels.pivot_permutations(*_apply(theta, sigma), TRUTH_1D))
    assert not s.detected and not s.matches_reference
    assert "labelling (1, 2, 0), a global relabelling" in s.reason


# --------------------------------------------------------------------------- xarray adapters
@pytest.mark.parametrize("truth", [TRUTH_1D, TRUTH_2D], ids=["1d", "2d"])
def test_relabel_pivot_restores_every_component_variable(truth):
    theta = _dataset(*_draws(truth))
    sigma = _switches()
    obs = labels.permute_components(theta, sigma)
    assert not obs["means"].equals(theta["means"])
    tree = xr.DataTree.from_dict({"posterior": obs})
    out, perms = labels.relabel_pivot(tree, truth)
    assert perms.dims == ("chain", "draw", "component")
    np.testing.assert_array_equal(perms.values, _inverse(sigma))
    assert out.attrs == {"sampler": "synthetic", "relabelled": "pivot"}
    for name, var in theta.data_vars.items():
        assert out[name].dims == var.dims
        xr.testing.assert_identical(out[name], var)
    assert labels.switching_summary(perms).detected


def test_rhat_large_before_and_near_one_after_relabelling():
    theta = _dataset(*_draws(TRUTH_1D, seed=11))
    obs = labels.permute_components(theta, _switches(within=False))
    before = labels.rhat_ess(obs)
    assert set(before.data_vars) == {"weights", "means", "variances", "sds"}
    assert list(before["diagnostic"].values) == ["r_hat", "ess_bulk", "ess_tail"]
    assert before["means"].dims == ("diagnostic", "component")
    assert (before["means"].sel(diagnostic="r_hat") > 1.1).all()
    after = labels.rhat_ess(labels.relabel_pivot(obs, TRUTH_1D)[0])
    r_hat = after.sel(diagnostic="r_hat").to_array()
    assert float(r_hat.max()) <= 1.01
    assert float(after.sel(diagnostic="ess_bulk").to_array().min()) > 1000


# --------------------------------------------------------------------------- memberships
@pytest.mark.parametrize("truth", [TRUTH_1D, TRUTH_2D], ids=["1d", "2d"])
def test_membership_per_draw_matches_scipy(truth):
    w, m, v = _draws(truth, chains=2, draws=7)
    X, _ = em.sample(50, truth[0], truth[1], truth[2] if truth[1].ndim == 1 else None,
                     covariances=None if truth[1].ndim == 1 else
                     np.einsum("kf,fg->kfg", truth[2], np.eye(2)), rng=1)
    p = labels.membership_per_draw(w, m, v, X)
    assert p.shape == (2, 7, 50, K)
    X2 = X.reshape(50, -1)
    m2, v2 = m.reshape(2, 7, K, -1), v.reshape(2, 7, K, -1)
    dens = w[:, :, None, :] * norm.pdf(X2[None, None, :, None, :], m2[:, :, None],
                                       np.sqrt(v2[:, :, None])).prod(-1)
    np.testing.assert_allclose(p, dens / dens.sum(-1, keepdims=True), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(labels.membership_per_draw(w, m, v, X, chunk=3), p, rtol=1e-14)


def test_membership_far_points_and_memory_guard():
    w, m, v = _draws(TRUTH_1D, chains=1, draws=4)
    p = labels.membership_per_draw(w, m, v, [1e4, -1e4])  # would be 0/0 without log space
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(-1), 1)
    with pytest.raises(ValueError, match="thin the draws"):
        labels.membership_per_draw(w, m, v, np.zeros(10), max_elements=100)


# --------------------------------------------------------------------------- Stephens
def _data(truth, n=300, seed=7):
    cov = None if truth[1].ndim == 1 else np.einsum("kf,fg->kfg", truth[2], np.eye(2))
    return em.sample(n, truth[0], truth[1], truth[2] if cov is None else None,
                     covariances=cov, rng=seed)[0]


def _non_increasing(obj):
    return np.all(np.diff(obj) <= 1e-12 * np.abs(obj[:-1]))


@pytest.mark.parametrize("truth", [TRUTH_1D, TRUTH_2D], ids=["1d", "2d"])
def test_stephens_undoes_switching_up_to_one_global_permutation(truth):
    theta = _draws(truth, seed=3)
    sigma = _switches()
    obs = _apply(theta, sigma)
    p = labels.membership_per_draw(*obs, _data(truth))
    perms, trace = labels.stephens_kl(p, return_trace=True)
    assert perms.shape == (C, D, K)
    assert trace.converged and trace.n_changed[0] > 0 and trace.n_changed[-1] == 0
    assert _non_increasing(trace.objective)
    tau = np.take_along_axis(sigma, perms, axis=-1)  # relabeled = theta[tau]
    glob = np.unique(tau.reshape(-1, K), axis=0)
    assert glob.shape == (1, K)
    for a, b in zip(_apply(obs, perms), _apply(theta, np.broadcast_to(glob[0], tau.shape)),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_stephens_from_pivot_init_returns_the_pivot_labelling_and_methods_agree():
    theta = _draws(TRUTH_1D, seed=5)
    sigma = _switches()
    obs = _apply(theta, sigma)
    p = labels.membership_per_draw(*obs, _data(TRUTH_1D))
    init = labels.pivot_permutations(*obs, TRUTH_1D)
    perms = labels.stephens_kl(p, init=init)
    np.testing.assert_array_equal(perms, _inverse(sigma))
    np.testing.assert_array_equal(labels.stephens_kl(p, method="hungarian"),
                                  labels.stephens_kl(p))
    with pytest.raises(ValueError, match="permutation"):
        labels.stephens_kl(p, init=np.zeros((C, D, K), dtype=int))


def test_stephens_objective_never_increases_on_overlapping_components():
    truth = (np.array([0.3, 0.3, 0.4]), np.array([-0.5, 0.0, 0.5]), np.array([0.5, 0.4, 0.6]))
    theta = _draws(truth, chains=2, draws=400, spread=0.6, seed=9)
    rng = np.random.default_rng(10)
    sigma = all_permutations(K)[rng.integers(0, 6, size=(2, 400))]
    p = labels.membership_per_draw(*_apply(theta, sigma), _data(truth, n=200))
    perms, trace = labels.stephens_kl(p, return_trace=True)
    assert trace.converged and trace.n_iter >= 5  # a run where the iterations matter
    assert _non_increasing(trace.objective)
    assert trace.objective[-1] < trace.objective[0]
    # fixed point, checked by brute force: Q from the final labelling, every draw's
    # permutation minimises its KL term, and the objective is the mean of those terms
    rel = np.take_along_axis(p, perms[:, :, None, :], axis=-1)
    q = rel.mean(axis=(0, 1))
    kl = np.stack([np.sum(p[..., s] * np.log(p[..., s] / q), axis=(-2, -1))
                   for s in all_permutations(K)], axis=-1)  # (chain, draw, K!)
    chosen = np.sum(rel * np.log(rel / q), axis=(-2, -1))
    np.testing.assert_allclose(chosen, kl.min(axis=-1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(trace.objective[-1], chosen.mean(), rtol=1e-10)


def test_stephens_ties_never_move_a_draw():
    theta = _draws(TRUTH_1D, chains=1, draws=40, seed=12)
    p = labels.membership_per_draw(*theta, _data(TRUTH_1D, n=100))
    p[0, 5, :, 1] = p[0, 5, :, 0] = 0.5 * (p[0, 5, :, 0] + p[0, 5, :, 1])  # two equal columns
    init = np.tile(np.arange(K), (1, 40, 1))
    init[0, 5] = (1, 0, 2)  # as good as the identity for draw 5
    perms, trace = labels.stephens_kl(p, init=init, return_trace=True)
    np.testing.assert_array_equal(perms, init)
    assert trace.converged and trace.n_iter == 1


def test_stephens_iteration_cap_is_logged(caplog):
    theta = _draws(TRUTH_1D, draws=50)
    p = labels.membership_per_draw(*_apply(theta, _switches(draws=50, within=False)),
                                   _data(TRUTH_1D, n=50))
    with caplog.at_level(logging.WARNING, logger="mixcompare.comparisons.posterior.stephens"):
        _, trace = labels.stephens_kl(p, max_iter=1, return_trace=True)
    assert not trace.converged and len(trace.objective) == 2
    assert "max_iter=1" in caplog.text


def test_relabel_stephens_on_a_dataset_2d():
    theta = _dataset(*_draws(TRUTH_2D, seed=8))
    sigma = _switches()
    obs = labels.permute_components(theta, sigma)
    X = _data(TRUTH_2D)
    pivot_perms = labels.relabel_pivot(obs, TRUTH_2D)[1]
    out, perms = labels.relabel_stephens(obs, X, init=pivot_perms)
    np.testing.assert_array_equal(perms.values, _inverse(sigma))
    assert perms.attrs["converged"] == 1 and perms.attrs["n_iter"] >= 1
    assert out.attrs["relabelled"] == "stephens"
    for name, var in theta.data_vars.items():
        xr.testing.assert_identical(out[name], var)
    with pytest.raises(ValueError, match="thin the draws"):
        labels.relabel_stephens(obs, X, max_elements=10_000)


@pytest.mark.parametrize("truth", [TRUTH_1D, TRUTH_2D], ids=["1d", "2d"])
def test_switching_analysis_memberships_equal_models_on_relabelled_draws(truth):
    """The memberships the switching step returns (from Stephens' per-draw probabilities,
    relabelled to the pivot) equal a fresh models.membership_probabilities of the
    relabelled draws: the densities are evaluated once, not twice."""
    from mixcompare import models
    from mixcompare.comparisons.posterior import switching

    theta = _draws(truth, draws=60, seed=4)
    sigma = _switches(draws=60, within=False)
    sigma[2, 10:30] = (0, 2, 1)
    post = _dataset(*_apply(theta, sigma))
    X = _data(truth, n=80)
    ls = switching.analyse(post, truth, X)
    assert ls.summary.detected
    fresh = models.membership_probabilities(ls.relabeled, X).values
    assert ls.membership.shape == fresh.shape
    np.testing.assert_allclose(ls.membership, fresh, rtol=0, atol=1e-12)
