"""Reusing a compiled model (models.compiled) for another data set of the same shape.

A second data set through the reused model gives the posterior of the NEW data,
compiles nothing, and the same seed gives the same draws on a fresh model, on
a reused one, on a later call (no state carried over) and with 1 or 2 cores.
The cached path agrees statistically with sampling through ``pm.sample`` itself
(``models.nuts._pm_sample``), and fit_map with ``pm.find_MAP`` to 1e-6; neither
is promised bit for bit. No timing is asserted here (see benchmarks/bench_nuts.py).
"""

import pickle

import cloudpickle
import numpy as np
import pymc as pm
import pytest
from mixcompare import em, models
from mixcompare.models import compiled
from mixcompare.models.nuts import _pm_sample, _seeds

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

WEIGHTS, SDS = [0.3, 0.4, 0.3], [1.0, 0.7, 1.0]
KW = {"draws": 300, "tune": 300, "chains": 2, "progressbar": False}
# an explicit prior: the default one is scaled to the data the model is built on, and stays
# that of the FIRST data set when the data are swapped with MixtureModel.set_data
PRIOR = em.Prior(alpha=1.0, m0=20.0, kappa=0.01, a=2.0, b=0.5)


def _data(centre, seed, n=240):
    X, _ = em.sample(n, WEIGHTS, [centre, centre + 5.0, centre + 10.0], np.square(SDS), rng=seed)
    return X


def _fit(model, X, sampler, rng, init="em"):
    res = em.fit(X, 3, n_init=5, rng=0)
    return models.fit_nuts(model, sampler=sampler, rng=rng, init=init, em_result=res, **KW)


def _structure(tree):
    return {g: {v: (tree[g][v].dims, tree[g][v].shape) for v in tree[g].data_vars}
            for g in tree.children}


def _assert_same_draws(a, b):
    for group in ("posterior", "log_likelihood"):
        for name in a[group].data_vars:
            np.testing.assert_array_equal(a[group][name].values, b[group][name].values)
    np.testing.assert_array_equal(a["sample_stats"]["diverging"].values,
                                  b["sample_stats"]["diverging"].values)


def _sorted_post_means(tree):
    return np.sort(tree["posterior"]["means"].mean(("chain", "draw")).values)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_reused_model_samples_the_new_data_and_same_seed_gives_same_draws(sampler):
    XA, XB = _data(0.0, 1), _data(30.0, 2)
    reused = models.build_model(XA, 3, prior=PRIOR)
    first = _fit(reused, XA, sampler, rng=3)
    compiles = dict(reused.cache.compiles)
    assert np.allclose(_sorted_post_means(first), [0, 5, 10], atol=0.6)

    reused.set_data(XB)
    second = _fit(reused, XB, sampler, rng=7)
    # the NEW data's posterior, observed data and log-likelihood
    assert np.allclose(_sorted_post_means(second), [30, 35, 40], atol=0.6)
    np.testing.assert_array_equal(second["observed_data"]["x_obs"].values, XB)
    ref = pm.compute_log_likelihood(second.copy(), model=reused.model, progressbar=False,
                                    extend_inferencedata=False)
    np.testing.assert_allclose(second["log_likelihood"]["x_obs"].values, ref["x_obs"].values,
                               rtol=1e-10, atol=1e-10)
    # nothing was compiled again
    assert reused.cache.compiles == compiles
    assert _structure(second) == _structure(first)

    # same seed: a later call on the reused model, and a fresh model built on XB
    _assert_same_draws(second, _fit(reused, XB, sampler, rng=7))
    fresh = models.build_model(XB, 3, prior=PRIOR)
    _assert_same_draws(second, _fit(fresh, XB, sampler, rng=7))


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_cached_path_agrees_with_pm_sample(sampler):
    X = _data(0.0, 4)
    res = em.fit(X, 3, n_init=5, rng=0)
    kw = {"draws": 500, "tune": 500, "chains": 2, "progressbar": False}
    model = models.build_model(X, 3)
    new = models.fit_nuts(model, sampler=sampler, rng=5, init="em", em_result=res, **kw)

    # the same fit through pm.sample (what fit_nuts did before caching)
    rng = em.check_rng(5)
    seeds = _seeds(rng, 2)
    from mixcompare.models.init import chain_starts

    initvals, record = chain_starts(model, "em", 2, rng.spawn(1)[0], em_result=res)
    if sampler == "nutpie":
        initvals, record = initvals[0], {**record, "jitter": True}
    old = _pm_sample(models.build_model(X, 3), sampler, seeds, initvals, record["jitter"],
                     cores=None, target_accept=0.9, max_treedepth=10, **kw)

    struct_new, struct_old = _structure(new), _structure(old)
    struct_new.pop("init")
    for group in ("posterior", "log_likelihood", "observed_data"):
        assert struct_new[group] == struct_old[group]
        for name in old[group].coords:
            np.testing.assert_array_equal(new[group][name].values, old[group][name].values)
    # posteriors agree statistically (4 Monte Carlo standard errors)
    from arviz_stats.base import array_stats

    for name in ("means", "variances", "weights"):
        a, b = new["posterior"][name].values, old["posterior"][name].values
        se = np.hypot(array_stats.mcse(a, method="mean", chain_axis=0, draw_axis=1),
                      array_stats.mcse(b, method="mean", chain_axis=0, draw_axis=1))
        diff = np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1)))
        assert np.all(diff <= 4 * se + 1e-12), (name, diff, se)


@pytest.mark.slow
def test_jittered_prior_starts_are_reproducible_on_a_reused_model():
    XA, XB = _data(0.0, 1, n=120), _data(30.0, 2, n=120)
    model = models.build_model(XA, 3, prior=PRIOR, ordered=True)
    _fit(model, XA, "pymc", rng=1, init="prior")
    model.set_data(XB)
    a = _fit(model, XB, "pymc", rng=2, init="prior")
    b = _fit(models.build_model(XB, 3, prior=PRIOR, ordered=True), XB, "pymc", rng=2, init="prior")
    _assert_same_draws(a, b)
    assert np.allclose(a["posterior"]["means"].mean(("chain", "draw")).values, [30, 35, 40],
                       atol=0.8)


def test_cache_travels_with_the_mixture_model_and_is_not_pickled():
    mm = models.build_model(_data(0.0, 1, n=50), 3, prior=PRIOR)
    assert isinstance(mm, models.MixtureModel)
    assert mm.spec.n_components == 3 and mm.prior is PRIOR and mm.ordered is False
    models.fit_map(mm, rng=0, n_starts=1)
    assert mm.cache.compiles.get("map_loss") == 1
    clone = pickle.loads(cloudpickle.dumps(mm))  # pm.Model needs cloudpickle (as pm.sample)
    assert clone.cache.compiles == {}
    np.testing.assert_array_equal(clone.data, mm.data)
    # nothing of ours is stored on the pymc.Model
    assert not [k for k in vars(mm.model) if "mixcompare" in k]
    mm.cache.clear()
    assert mm.cache.compiles == {}


def test_set_data_validates_and_keeps_the_compiled_functions():
    XA, XB = _data(0.0, 1, n=60), _data(30.0, 2, n=60)
    mm = models.build_model(XA, 3, prior=PRIOR)
    assert mm.set_data(XB) is mm
    np.testing.assert_array_equal(mm.data, XB)
    with pytest.raises(ValueError, match=r"shape \(60,\); got shape \(59,\)"):
        mm.set_data(XB[:59])
    bad = XB.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mm.set_data(bad)
    with pytest.raises(TypeError, match="MixtureModel"):
        models.fit_map(mm.model)
    with pytest.raises(TypeError, match=r"write mm.set_data\(X\)"):
        pm.set_data({"x": XA}, model=mm)


def test_cached_model_builds_once_per_shape_and_swaps_the_data():
    models.clear_model_cache()
    XA, XB, XC = _data(0.0, 1, n=60), _data(30.0, 2, n=60), _data(0.0, 3, n=70)
    a = models.cached_model(XA, 3, prior=PRIOR)
    assert a.built and a.seconds >= 0
    b = models.cached_model(XB, 3, prior=PRIOR)
    assert not b.built and b.model is a.model and b.key == a.key
    np.testing.assert_array_equal(b.model.data, XB)
    c = models.cached_model(XC, 3, prior=PRIOR)
    assert c.built and c.model is not a.model
    d = models.cached_model(XB, 3, prior=PRIOR, ordered=True)
    assert d.built and d.model.ordered
    with pytest.raises(TypeError, match="prior"):
        models.cached_model(XA, 3, prior=None)
    models.clear_model_cache()
    assert models.cached_model(XA, 3, prior=PRIOR).built
    models.clear_model_cache()


def test_strategy_string_starts_are_not_cached():
    assert compiled.cacheable_starts(None)
    assert compiled.cacheable_starts({"means": [0.0, 1.0]})
    assert compiled.cacheable_starts([{"means": [0.0, 1.0]}, None])
    assert not compiled.cacheable_starts({"means": "support_point"})
    assert not compiled.cacheable_starts([{"means": None}])


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_reuse_with_two_dimensional_data(sampler):
    def data(centre, seed):
        X, _ = em.sample(150, [0.5, 0.5], [[centre, 0.0], [centre + 5.0, 3.0]],
                         covariances=[np.diag([1.0, 0.5]), np.diag([0.4, 1.0])], rng=seed)
        return X

    XA, XB = data(0.0, 1), data(20.0, 2)
    prior = em.Prior(alpha=1.0, m0=np.array([10.0, 1.5]), kappa=0.01, a=2.0,
                     b=np.array([0.5, 0.5]))
    kw = {"draws": 200, "tune": 200, "chains": 2, "progressbar": False, "sampler": sampler}
    model = models.build_model(XA, 2, prior=prior, structure="diag")
    models.fit_nuts(model, rng=1, init="em", em_result=em.fit(XA, 2, structure="diag", rng=0),
                    **kw)
    model.set_data(XB)
    res = em.fit(XB, 2, structure="diag", rng=0)
    a = models.fit_nuts(model, rng=2, init="em", em_result=res, **kw)
    post = a["posterior"]["means"].mean(("chain", "draw")).values
    assert np.allclose(post[np.argsort(post[:, 0])], [[20.0, 0.0], [25.0, 3.0]], atol=0.5)
    fresh = models.build_model(XB, 2, prior=prior, structure="diag")
    _assert_same_draws(a, models.fit_nuts(fresh, rng=2, init="em", em_result=res, **kw))


@pytest.mark.parametrize("jitter", [False, True])
def test_fit_map_reaches_find_maps_optimum(jitter):
    """fit_map from a start reaches the optimum pm.find_MAP reaches from it (not bit for bit)."""
    X = _data(0.0, 3)
    mm = models.build_model(X, 3, prior=PRIOR)
    start = models.points.start_from_em(mm, np.random.default_rng(5))
    tree = models.fit_map(mm, rng=3, n_starts=1, initvals=[start], jitter=jitter)
    ref = pm.find_MAP(model=mm.model, method="BFGS", initvals=start, jitter=jitter,
                      random_seed=3, return_inferencedata=True, progressbar=False,
                      options={"gtol": 1e-8, "maxiter": 10_000})
    for name in ("weights", "means", "variances", "sds"):
        np.testing.assert_allclose(tree["posterior"][name].values,
                                   ref["posterior"][name].values, rtol=1e-6, atol=1e-6)
        assert tree["posterior"][name].dims == ref["posterior"][name].dims
    assert tree.attrs["log_density"] == pytest.approx(-float(ref["optimizer_result"]["fun"]),
                                                      rel=1e-10)


def test_fit_map_same_seed_same_answer():
    X = _data(0.0, 4)
    mm = models.build_model(X, 3, prior=PRIOR)
    a = models.fit_map(mm, rng=11, n_starts=2)
    b = models.fit_map(mm, rng=11, n_starts=2)
    for name in ("weights", "means", "variances"):
        np.testing.assert_array_equal(a["posterior"][name].values, b["posterior"][name].values)
    np.testing.assert_array_equal(a["map_starts"]["log_density"].values,
                                  b["map_starts"]["log_density"].values)


def test_fit_map_on_a_reused_model_compiles_nothing_and_fits_the_new_data():
    XA, XB = _data(0.0, 1), _data(30.0, 2)
    model = models.build_model(XA, 3, prior=PRIOR)
    first = models.fit_map(model, rng=0)
    compiles = dict(model.cache.compiles)
    assert compiles.get("map_loss") == 1
    model.set_data(XB)
    second = models.fit_map(model, rng=0)
    assert model.cache.compiles == compiles
    fresh = models.fit_map(models.build_model(XB, 3, prior=PRIOR), rng=0)
    for name in ("weights", "means", "variances"):
        np.testing.assert_array_equal(second["posterior"][name].values,
                                      fresh["posterior"][name].values)
    np.testing.assert_allclose(np.sort(second["posterior"]["means"].values.ravel()),
                               [30.0, 35.0, 40.0], atol=0.5)
    assert abs(np.sort(first["posterior"]["means"].values.ravel())[0]) < 0.5


@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_draws_do_not_depend_on_the_number_of_cores(sampler):
    X = _data(0.0, 6, n=120)
    res = em.fit(X, 3, n_init=5, rng=0)
    model = models.build_model(X, 3, prior=PRIOR)
    kw = {**KW, "draws": 100, "tune": 100}
    one = models.fit_nuts(model, sampler=sampler, rng=2, init="em", em_result=res, cores=1, **kw)
    two = models.fit_nuts(model, sampler=sampler, rng=2, init="em", em_result=res, cores=2, **kw)
    assert one.attrs["cores"] == 1 and two.attrs["cores"] == 2
    _assert_same_draws(one, two)
    default = models.fit_nuts(model, sampler=sampler, rng=2, init="em", em_result=res, **kw)
    assert 1 <= default.attrs["cores"] <= 2  # every CPU it may use, at most one per chain
