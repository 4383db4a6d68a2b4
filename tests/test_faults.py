"""Faults and bad input (issue #15): refused with one true message, never reported as a result."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from mixcompare import em, models

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

CLI = [sys.executable, "-m", "mixcompare.comparisons.cli"]
RNG = np.random.default_rng(15)
NORMAL = RNG.normal(size=1000)


def _cli(*args, timeout=600):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout)


def _one_line(proc, code, *words):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("mixcompare: error:")]
    assert len(err) == 1, proc.stderr
    for w in words:
        assert w in err[0], err[0]
    return err[0]


# ------------------------------------------------------------ (3) extreme values
@pytest.mark.parametrize("wild", [1e200, -9.99e307, 1.7e308])
def test_one_wild_value_is_refused_by_row(wild):
    X = np.r_[NORMAL, wild]
    with pytest.raises(ValueError, match=r"standard deviation of .*0-based: 1000\)") as info:
        em.fit(X, 2, rng=0)
    assert "codes for missing values" in str(info.value)
    with pytest.raises(ValueError, match="0-based: 1000"):
        models.build_model(X, 2)


def test_wild_value_in_2d_data_names_its_row():
    X = np.c_[NORMAL, NORMAL[::-1]]
    X[7, 1] = -9.99e307
    with pytest.raises(ValueError, match=r"0-based: 7\)"):
        em.fit(X, 2, rng=0)


@pytest.mark.parametrize(("factor", "advice"), [(1e200, "divide them by a constant"),
                                                (1e-200, "multiply the data by a constant")])
def test_data_on_a_scale_beyond_float64_are_refused_with_the_fix(factor, advice):
    with pytest.raises(ValueError, match=advice):
        em.fit(NORMAL * factor, 2, rng=0)


def test_data_within_the_limits_still_fit():
    for factor in (1e90, 1e-90):
        res = em.fit(np.r_[NORMAL, NORMAL + 8] * factor, 2, rng=0)
        assert res.converged and np.all(np.isfinite(res.variances))
        assert np.all(np.isfinite(res.means)) and np.isfinite(res.log_likelihood)


def test_cli_em_refuses_a_wild_value_by_file_line(tmp_path):
    path = tmp_path / "wild.csv"
    path.write_text("x\n" + "\n".join(map(repr, NORMAL[:50].tolist())) + "\n-9.99e307\n")
    line = _one_line(_cli("em", "--csv", str(path), "--columns", "x"), 2, "file line(s) 52")
    assert "codes for missing values" in line


def test_cli_em_prints_strict_json():
    proc = _cli("em", "faithful", "--n-init", "2")
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON number {c}"))


# ------------------------------------------------------------ (5) masked arrays
def _masked():
    X = np.ma.masked_array(np.r_[NORMAL[:20], NORMAL[:20] + 6])
    X[[3, 30]] = np.ma.masked
    return X


@pytest.mark.parametrize("call", [
    lambda X: em.fit(X, 2),
    lambda X: em.GaussianMixtureEM(2).fit(X),
    lambda X: models.build_model(X, 2),
    lambda X: __import__("mixcompare.comparisons.pipeline", fromlist=["compare"]).compare(
        X, 2, methods=("em",), n_boot=0),
], ids=["em.fit", "GaussianMixtureEM", "build_model", "compare"])
def test_masked_values_are_refused_with_how_to_drop_them(call):
    with pytest.raises(ValueError, match=r"masked values in 2 row\(s\) \(0-based: 3, 30\).*"
                                         r"X\.compressed\(\)"):
        call(_masked())


def test_masked_2d_rows_named_and_unmasked_array_accepted():
    X = np.ma.masked_array(np.c_[NORMAL[:40], NORMAL[40:80]])
    X[5, 1] = np.ma.masked
    with pytest.raises(ValueError, match=r"0-based: 5\).*getmaskarray"):
        em.validate_data(X)
    clean = np.ma.masked_array(np.r_[NORMAL[:20], NORMAL[:20] + 6])
    a = em.fit(clean, 2, rng=0)
    b = em.fit(clean.data, 2, rng=0)
    assert a.log_likelihood == b.log_likelihood


# ------------------------------------------------------------ (7) fit_map's prior
def test_fit_map_refuses_alpha_below_one_as_map_em_does():
    X = np.r_[NORMAL[:30], NORMAL[:30] + 5]
    prior = em.Prior(alpha=0.5, m0=2.5, kappa=0.01, a=2.0, b=1.0)
    with pytest.raises(ValueError, match="alpha >= 1") as em_err:
        em.fit(X, 2, prior=prior)
    mm = models.build_model(X, 2, prior=prior)
    with pytest.raises(ValueError, match="alpha >= 1") as map_err:
        models.fit_map(mm, rng=0)
    assert str(map_err.value) == str(em_err.value)


# ------------------------------------------------------------ (8) posterior shapes
def _point_posterior(d=1, draws=3):
    K = 2
    mu = np.array([0.0, 4.0]) if d == 1 else np.array([[0.0] * d, [4.0] * d])
    dims = ("component",) if d == 1 else ("component", "feature")

    def rep(a, dims):
        return (("chain", "draw") + dims, np.broadcast_to(a, (1, draws) + np.shape(a)))

    ds = xr.Dataset({"weights": rep(np.array([0.4, 0.6]), ("component",)),
                     "means": rep(mu, dims), "variances": rep(np.ones_like(mu), dims)},
                    coords={"component": np.arange(K)})
    return xr.DataTree.from_dict({"posterior": ds})


def test_membership_refuses_data_of_another_dimension():
    with pytest.raises(ValueError, match=r"X has 2 feature\(s\) but the posterior is of a "
                                         r"mixture in 1 dimension"):
        models.membership_probabilities(_point_posterior(1), np.c_[NORMAL[:10], NORMAL[:10]])
    with pytest.raises(ValueError, match=r"X has 1 feature\(s\).* in 2 dimension"):
        models.membership_probabilities(_point_posterior(2), NORMAL[:10])
    one = models.membership_probabilities(_point_posterior(1), [0.5])  # one point is fine
    assert one.shape == (1, 2)


def test_predictive_density_refuses_nan_and_2d_grids():
    tree = _point_posterior(1)
    with pytest.raises(ValueError, match=r"grid has NaN values in 1 row\(s\) \(0-based: 2\)"):
        models.predictive_density(tree, [0.0, 1.0, np.nan])
    with pytest.raises(ValueError, match=r"grid has shape \(5, 2\).*1-D grid"):
        models.predictive_density(tree, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="1-D mixtures; this posterior is in 2 dimensions"):
        models.predictive_density(_point_posterior(2), [0.0, 1.0])


# ------------------------------------------------------------ (9) the estimator's input
def test_estimator_validates_as_scikit_learn_does():
    # scikit-learn's own messages (check_estimator asks for them), masks refused as em.fit does
    with pytest.raises(ValueError, match="Found array with dim 3"):
        em.GaussianMixtureEM(2).fit(np.zeros((10, 2, 2)))
    with pytest.raises(ValueError, match=r"Reshape your data.*reshape\(-1, 1\)"):
        em.GaussianMixtureEM(2).fit(NORMAL)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        em.GaussianMixtureEM(2).fit(np.r_[NORMAL[:10], np.nan][:, None])
    est = em.GaussianMixtureEM(2, random_state=0).fit(np.c_[NORMAL[:50], NORMAL[50:100]])
    with pytest.raises(ValueError, match="Found array with dim 3"):
        est.predict(np.zeros((10, 2, 2)))
    with pytest.raises(ValueError, match=r"X has 3 features, but GaussianMixtureEM is expecting 2"):
        est.predict(np.zeros((4, 3)))
    assert est.predict([[0.1, 0.2]]).shape == (1,)  # one observation is a prediction


# ------------------------------------------------------------ (12) results.nc checksums
VALUES = np.array([1.2345678901234567, 2.5, 3.75, 9.125])


def _result(tmp_path):
    from mixcompare.comparisons.pipeline import ComparisonResult

    em_ds = xr.Dataset({"means": ("component", VALUES)}, attrs={"log_likelihood": -12.5})
    root = xr.Dataset({"x": ("obs", np.arange(5.0)), "name": ("obs", list("abcde"))},
                      attrs={"ordered": False, "prior": {"alpha": 1.0}, "draws": 1000})
    tree = xr.DataTree.from_dict({"/": root, "/em": em_ds})
    path = tmp_path / "results.nc"
    ComparisonResult(tree).to_netcdf(path)
    return ComparisonResult, tree, path


def test_results_round_trip_with_their_checksum(tmp_path):
    cls, tree, path = _result(tmp_path)
    back = cls.from_netcdf(path).tree
    assert "mixcompare_sha256" not in back.attrs
    np.testing.assert_array_equal(back["em"]["means"].values, VALUES)


def test_a_flipped_bit_in_results_nc_is_refused(tmp_path):
    from mixcompare.comparisons.io import ResultFileError

    cls, _, path = _result(tmp_path)
    raw = bytearray(path.read_bytes())
    at = raw.find(VALUES.tobytes())
    assert at > 0 and raw.count(VALUES.tobytes()) == 1
    raw[at] ^= 1  # the last bit of the first mean: still a valid float
    path.write_bytes(bytes(raw))
    with pytest.raises(ResultFileError, match="does not match the checksum"):
        cls.from_netcdf(path)


def test_an_edited_attribute_or_value_is_refused(tmp_path):
    import h5py
    from mixcompare.comparisons.io import ResultFileError

    cls, _, path = _result(tmp_path)
    with h5py.File(path, "r+") as fh:
        fh.attrs["draws"] = 40000
    with pytest.raises(ResultFileError, match="does not match the checksum"):
        cls.from_netcdf(path)
    cls, _, path = _result(tmp_path)
    with h5py.File(path, "r+") as fh:
        fh["em/means"][1] = 2.0
    with pytest.raises(ResultFileError, match="does not match the checksum"):
        cls.from_netcdf(path)


def test_a_truncated_results_nc_is_refused_in_one_message(tmp_path):
    from mixcompare.comparisons.io import ResultFileError

    cls, _, path = _result(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ResultFileError, match="cannot be read as netCDF"):
        cls.from_netcdf(path)
    with pytest.raises(ResultFileError, match="does not exist"):
        cls.from_netcdf(tmp_path / "nothing.nc")


# ------------------------------------------------------------ beyond the list
X80 = np.r_[NORMAL[:40], NORMAL[40:80] + 5]


@pytest.mark.parametrize(("rng", "exc", "words"), [
    (-1, ValueError, "the seed (rng) must be a non-negative integer, got -1"),
    (1.5, TypeError, "rng must be None, a non-negative integer seed"),
    ("a", TypeError, "rng must be None, a non-negative integer seed"),
])
def test_bad_seeds_are_refused_in_mixcompare_words(rng, exc, words):
    with pytest.raises(exc) as info:
        em.fit(X80, 2, rng=rng)
    assert words in str(info.value)


@pytest.mark.parametrize("call", [
    lambda: em.fit(X80, 2, n_init=10**20),
    lambda: em.sample(10**20, [0.5, 0.5], [0.0, 1.0], [1.0, 1.0]),
    lambda: models.fit_nuts(models.build_model(X80, 2), draws=10**20),
    lambda: models.fit_map(models.build_model(X80, 2), n_starts=10**20),
], ids=["n_init", "n_samples", "draws", "n_starts"])
def test_counts_beyond_a_c_integer_are_refused(call):
    with pytest.raises(ValueError, match=r"must be at most 2147483647, got 10{20}"):
        call()


def test_posterior_chunks_must_be_positive():
    with pytest.raises(ValueError, match="chunk must be at least 1, got 0"):
        models.membership_probabilities(_point_posterior(1), NORMAL[:5], chunk=0)
    with pytest.raises(ValueError, match="chunk must be at least 1, got 0"):
        models.predictive_density(_point_posterior(1), [0.0, 1.0], chunk=0)


def test_points_too_far_for_float64_get_no_invented_membership():
    res = em.fit(X80, 2, rng=0)
    far = [1e300, -1.7e308, 0.5]
    with np.errstate(all="raise"):
        scores = res.score_samples(far)
    assert scores[0] == scores[1] == -np.inf and np.isfinite(scores[2])
    for call in (res.predict, res.predict_proba):
        with pytest.raises(ValueError, match=r"2 row\(s\) \(0-based: 0, 1\) so far from every"):
            call(far)
    assert res.predict_proba([0.5]).sum() == pytest.approx(1.0)


def test_estimator_messages_quote_the_users_settings():
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0, got -1\.$"):
        em.GaussianMixtureEM(2, tol=-1).fit(X80[:, None])
    with pytest.raises(ValueError, match="GaussianMixtureEM instance is not fitted yet"):
        em.GaussianMixtureEM(2).predict(X80[:, None])
    with pytest.raises(AttributeError):  # scikit-learn's NotFittedError is both
        em.GaussianMixtureEM(2).sample(3)


def test_degenerate_warning_names_the_floor_setting_when_it_binds():
    with pytest.warns(em.DegenerateWarning, match=r"at the variance floor \(var_floor=1e\+10 "
                                                  r".*or lower var_floor"):
        em.fit(X80, 2, var_floor=1e10, rng=0)


def test_compare_refuses_an_empty_list_of_methods():
    from mixcompare.comparisons.pipeline import compare

    with pytest.raises(ValueError, match="methods is empty"):
        compare(X80, 2, methods=())


def test_huge_fixed_weights_are_refused_without_a_numpy_warning():
    with np.errstate(all="raise"):
        with pytest.raises(ValueError, match="must sum to 1, they sum to inf"):
            em.fit(X80, 2, fixed={"weights": [1e308, 1e308]})


@pytest.mark.parametrize(("args", "words"), [
    (["em", "faithful", "--seed", "-1"], ["--seed must be at least 0, got -1"]),
    (["lecture", "--seed", "-1", "--out", "{d}/lec"], ["--seed must be at least 0"]),
    (["run", "faithful", "--seed", "-1", "--out", "{d}/o"], ["--seed must be at least 0"]),
    (["em", "faithful", "--n-init", "99999999999999999999"], ["--n-init must be at most"]),
    (["run", "faithful", "--draws", "99999999999999999999", "--out", "{d}/o"],
     ["--draws must be at most 2147483647"]),
    (["run", "faithful", "--draws", "2000000000", "--out", "{d}/o"],
     ["--chains 4 x --draws 2000000000 on 272 observations", "GB of memory"]),
    (["run", "faithful", "--methods", " , ", "--out", "{d}/o"], ["--methods names no method"]),
    (["sbc", "--n-sims", "99999999999999", "--out", "{d}/s"], ["--n-sims must be at most"]),
    (["study", "x.toml", "--workers", "-2", "--out", "{d}/st"], ["--workers must be at least 0"]),
    (["em", "--csv", "{d}/inf.csv"], ["an infinite value 'inf' in row 2 (line 3)"]),
    (["em", "--csv", "{d}/header.csv"], ["0 data row(s)"]),
    (["em", "--csv", "{d}/dup.csv"], ["duplicate name 'x'"]),
])
def test_hostile_cli_options_get_one_line_before_any_work(tmp_path, args, words):
    (tmp_path / "inf.csv").write_text("x,y\n1,2\n2,inf\n3,4\n")
    (tmp_path / "header.csv").write_text("x\n")
    (tmp_path / "dup.csv").write_text("x,x\n1,2\n3,4\n5,6\n")
    proc = _cli(*[a.replace("{d}", str(tmp_path)) for a in args], timeout=120)
    _one_line(proc, 2, *words)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
