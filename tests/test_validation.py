"""Input validation: every bad input is refused with a specific message; good inputs agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mixcompare import em

X1 = np.array([-2.1, -1.7, -1.2, -0.4, 0.3, 1.1, 2.4, 2.9, 3.6, 4.2])
RNG = np.random.default_rng(0)
X2 = np.vstack([RNG.normal(size=(15, 2)), RNG.normal(size=(15, 2)) + [6.0, 3.0]])


# ------------------------------------------------------------------- data
@pytest.mark.parametrize("X", [[], np.empty(0), np.empty((0, 2)), np.empty((5, 0))])
def test_empty(X):
    with pytest.raises(ValueError, match=r"X is empty \(shape"):
        em.fit(X, 1)


@pytest.mark.parametrize("X", [[1.5], np.array([[1.0, 2.0]])])
def test_single_observation(X):
    with pytest.raises(ValueError, match="single observation; a mixture needs at least two"):
        em.fit(X, 1)


def test_single_number():
    with pytest.raises(ValueError, match="single number"):
        em.fit(3.0, 1)


def test_fewer_points_than_components():
    with pytest.raises(ValueError, match=r"has 3 observations but n_components=5"):
        em.fit([1.0, 2.0, 3.0], 5)


def test_nan_rows_named():
    x = X1.copy()
    x[[1, 7]] = np.nan
    with pytest.raises(ValueError, match=r"NaN values in 2 row\(s\) \(0-based: 1, 7\)"):
        em.fit(x, 2)


def test_nan_rows_named_2d():
    X = X2.copy()
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN values in 1 row\(s\) \(0-based: 4\)"):
        em.fit(X, 2)


def test_many_nan_rows_truncated():
    x = np.arange(30.0)
    x[::2] = np.nan
    with pytest.raises(ValueError, match=r"15 row\(s\) \(0-based: 0, 2, .*, 18 and 5 more\)"):
        em.fit(x, 2)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite(bad):
    x = X1.copy()
    x[3] = bad
    with pytest.raises(ValueError, match=r"infinite values in 1 row\(s\) \(0-based: 3\)"):
        em.fit(x, 2)


def test_nan_and_inf():
    x = X1.copy()
    x[0], x[5] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite values in 2 row\(s\) \(0-based: 0, 5\)"):
        em.fit(x, 2)


def test_none_in_object_array_is_missing():
    with pytest.raises(ValueError, match=r"NaN values in 1 row\(s\) \(0-based: 1\)"):
        em.fit(np.array([1.0, None, 3.0, 4.0], dtype=object), 1)


@pytest.mark.parametrize("X", [["a", "b", "c"], ["1.0", "2.0", "3.5"],
                               np.array(["1", "2", "3"], dtype="S1"),
                               np.array([1.0, "2", 3.0], dtype=object),
                               pd.Series(["1", "2", "3"])])
def test_strings(X):
    with pytest.raises(TypeError, match="non-numeric values"):
        em.fit(X, 1)


def test_complex():
    with pytest.raises(TypeError, match="complex-valued"):
        em.fit(np.array([1 + 1j, 2.0, 3.0]), 1)


def test_three_dimensional():
    with pytest.raises(ValueError, match=r"3 dimensions \(shape \(3, 2, 2\)\)"):
        em.fit(np.zeros((3, 2, 2)), 1)


def test_ragged():
    with pytest.raises(TypeError, match="rectangular numeric array"):
        em.fit([[1.0, 2.0], [3.0]], 1)


def test_all_identical_data():
    with pytest.raises(ValueError, match="all 6 observations are identical"):
        em.fit([2.5] * 6, 2)
    with pytest.raises(ValueError, match="all 4 observations are identical"):
        em.fit(np.ones((4, 3)), 2)


def test_fewer_distinct_values_than_components():
    with pytest.raises(ValueError, match=r"only 2 distinct value\(s\) for n_components=3"):
        em.fit([1.0, 1.0, 1.0, 2.0, 2.0], 3)


# ----------------------------------------------------------------- options
@pytest.mark.parametrize("K", [0, -1])
def test_n_components_not_positive(K):
    with pytest.raises(ValueError, match=rf"n_components must be at least 1, got {K}"):
        em.fit(X1, K)


@pytest.mark.parametrize("K", [1.5, "2", None, True, np.nan])
def test_n_components_not_integer(K):
    with pytest.raises(TypeError, match="n_components must be an integer"):
        em.fit(X1, K)


def test_n_components_integral_float_accepted():
    a = em.fit(X1, 2.0, rng=0)
    b = em.fit(X1, 2, rng=0)
    assert a.n_components == 2
    np.testing.assert_array_equal(a.means, b.means)


@pytest.mark.parametrize("tol", [-1e-3, np.nan, np.inf])
def test_tol_invalid(tol):
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        em.fit(X1, 1, tol=tol)


def test_tol_not_number():
    with pytest.raises(TypeError, match="tol must be a number"):
        em.fit(X1, 1, tol="small")


def test_max_iter_negative():
    with pytest.raises(ValueError, match="max_iter must be at least 0, got -1"):
        em.fit(X1, 1, max_iter=-1)


def test_max_iter_fraction():
    with pytest.raises(TypeError, match="max_iter must be an integer"):
        em.fit(X1, 1, max_iter=2.5)


def test_n_init_zero():
    with pytest.raises(ValueError, match="n_init must be at least 1"):
        em.fit(X1, 1, n_init=0)


def test_var_floor_negative():
    with pytest.raises(ValueError, match="var_floor must be a finite number >= 0"):
        em.fit(X1, 1, var_floor=-1.0)


def test_unknown_algorithm():
    with pytest.raises(ValueError, match=r"algorithm must be one of \['cem', 'em'\]"):
        em.fit(X1, 1, algorithm="sem")


def test_legacy_random_state_refused():
    with pytest.raises(TypeError, match="legacy RandomState is not supported"):
        em.fit(X1, 1, rng=np.random.RandomState(0))


# ---------------------------------------------------------- fixed parameters
def test_fixed_weights_not_summing_to_one():
    with pytest.raises(ValueError, match=r"fixed\['weights'\] must sum to 1, they sum to 1.1"):
        em.fit(X1, 2, fixed={"weights": [0.5, 0.6]})


def test_fixed_weights_negative():
    with pytest.raises(ValueError, match=r"fixed\['weights'\] must be non-negative"):
        em.fit(X1, 2, fixed={"weights": [-0.5, 1.5]})


def test_fixed_weights_wrong_shape():
    with pytest.raises(ValueError, match=r"fixed\['weights'\] must have shape \(2,\)"):
        em.fit(X1, 2, fixed={"weights": [1.0]})


@pytest.mark.parametrize("v", [-1.0, 0.0, [1.0, 0.0], [1.0, -2.0]])
def test_fixed_variances_not_positive(v):
    with pytest.raises(ValueError, match=r"fixed\['variances'\] must be strictly positive"):
        em.fit(X1, 2, fixed={"variances": v})


def test_fixed_variances_nan():
    with pytest.raises(ValueError, match=r"fixed\['variances'\] contains NaN"):
        em.fit(X1, 2, fixed={"variances": [1.0, np.nan]})


def test_fixed_covariances_not_positive_definite():
    with pytest.raises(ValueError, match=r"fixed\['covariances'\]\[0\] is not positive definite"):
        em.fit(X2, 2, fixed={"covariances": [[1.0, 2.0], [2.0, 1.0]]})
    bad = np.stack([np.eye(2), [[1.0, 0.0], [0.0, 0.0]]])
    with pytest.raises(ValueError, match=r"fixed\['covariances'\]\[1\] is not positive definite"):
        em.fit(X2, 2, fixed={"covariances": bad})


def test_fixed_covariances_not_symmetric():
    with pytest.raises(ValueError, match=r"fixed\['covariances'\] must be symmetric"):
        em.fit(X2, 2, fixed={"covariances": [[1.0, 0.5], [0.2, 1.0]]})


def test_init_covariances_not_positive_definite():
    init = {"weights": [0.5, 0.5], "means": [[0, 0], [1, 1]],
            "covariances": [[1.0, 2.0], [2.0, 1.0]]}
    with pytest.raises(ValueError, match=r"init\['covariances'\]\[0\] is not positive definite"):
        em.fit(X2, 2, init=init)


def test_fixed_unknown_key():
    with pytest.raises(ValueError, match=r"fixed has unknown keys \['mean'\]"):
        em.fit(X1, 1, fixed={"mean": [0.0]})


def test_fixed_variances_differ_for_equal():
    with pytest.raises(ValueError, match="variances differ between components"):
        em.fit(X1, 2, structure="equal", fixed={"variances": [1.0, 2.0]})


def test_init_missing_parameters():
    with pytest.raises(ValueError, match=r"init is missing \['covariances', 'weights'\]"):
        em.fit(X1, 2, init={"means": [0.0, 1.0]})


# -------------------------------------------------------- symmetric starts
def test_identical_initial_means_warn():
    init = {"weights": [0.5, 0.5], "means": [1.0, 1.0], "variances": [1.0, 1.0]}
    with pytest.warns(em.SymmetricStartWarning, match="initial components coincide"):
        res = em.fit(X1, 2, init=init)
    # the symmetric start is a fixed point: the components never separate
    assert res.means[0] == pytest.approx(res.means[1], abs=1e-12)


def test_identical_initial_means_2d_warn():
    init = {"weights": [0.3, 0.7], "means": [[0.0, 0.0], [0.0, 0.0]], "covariances": np.eye(2)}
    with pytest.warns(em.SymmetricStartWarning):
        em.fit(X2, 2, init=init, max_iter=5)


def test_different_variances_are_not_symmetric():
    """Equal means but different variances: EM can separate them, no warning."""
    init = {"weights": [0.5, 0.5], "means": [1.0, 1.0], "variances": [0.5, 4.0]}
    res = em.fit(X1, 2, init=init)  # a warning would be an error here (pytest config)
    assert res.means[0] != res.means[1]


# --------------------------------------------------------------- structure
def test_unknown_structure():
    with pytest.raises(ValueError, match="unknown structure 'banana'"):
        em.fit(X1, 1, structure="banana")


@pytest.mark.parametrize("structure", ["unequal", "equal"])
def test_1d_structure_on_2d_data(structure):
    with pytest.raises(ValueError, match=rf"structure='{structure}' is for 1-D data"):
        em.fit(X2, 1, structure=structure)


@pytest.mark.parametrize("structure", ["full", "diag", "spherical", "tied"])
def test_nd_structure_on_1d_data(structure):
    with pytest.raises(ValueError, match=rf"structure='{structure}' is for multivariate data"):
        em.fit(X1, 1, structure=structure)


def test_unknown_init():
    with pytest.raises(ValueError, match=r"init must be one of .* got 'banana'"):
        em.fit(X1, 1, init="banana")


def test_quantile_init_on_2d():
    with pytest.raises(ValueError, match="init='quantile' is for 1-D data"):
        em.fit(X2, 2, init="quantile")


# ------------------------------------------------------------ accepted input
def _same_fit(a, b):
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.covariances, b.covariances)
    assert a.log_likelihood == b.log_likelihood
    assert a.means.shape == b.means.shape


def test_list_and_ints_accepted():
    xi = np.array([1, 2, 2, 3, 10, 11, 11, 12, 13, 30])
    ref = em.fit(xi.astype(np.float64), 2, rng=1)
    _same_fit(em.fit(xi.tolist(), 2, rng=1), ref)
    _same_fit(em.fit(xi, 2, rng=1), ref)
    _same_fit(em.fit(xi.astype(np.int32), 2, rng=1), ref)
    _same_fit(em.fit(xi.astype(np.uint8), 2, rng=1), ref)


def test_float32_accepted():
    x32 = X1.astype(np.float32)
    _same_fit(em.fit(x32, 2, rng=1), em.fit(x32.astype(np.float64), 2, rng=1))


def test_pandas_accepted():
    ref1 = em.fit(X1, 2, rng=1)
    _same_fit(em.fit(pd.Series(X1, index=np.arange(10)[::-1]), 2, rng=1), ref1)
    ref2 = em.fit(X2, 2, rng=1)
    _same_fit(em.fit(pd.DataFrame(X2, columns=["a", "b"]), 2, rng=1), ref2)
    # one-column DataFrame stays 2-D (n, 1)
    res = em.fit(pd.DataFrame({"x": X1}), 2, rng=1)
    assert res.means.shape == (2, 1)
    np.testing.assert_array_equal(res.means[:, 0], ref1.means)


def test_lists_of_rows_accepted():
    _same_fit(em.fit(X2.tolist(), 2, rng=3), em.fit(X2, 2, rng=3))


def test_non_contiguous_accepted():
    big = np.column_stack([X2[:, 0], -X2[:, 1], X2[:, 1], X2[:, 0]])[:, ::2]
    np.testing.assert_array_equal(big, X2)
    assert not big.flags.c_contiguous
    _same_fit(em.fit(big, 2, rng=3), em.fit(np.ascontiguousarray(big), 2, rng=3))


def test_validate_data_returns_float64_copy_semantics():
    out = em.validate_data([1, 2, 3])
    assert out.dtype == np.float64 and out.shape == (3,)
    out = em.validate_data(np.ones((3, 2), dtype=np.float32))
    assert out.dtype == np.float64 and out.shape == (3, 2) and out.flags.c_contiguous
    with pytest.raises(ValueError, match="my_data has 2 observations but n_components=3"):
        em.validate_data([1.0, 2.0], n_components=3, name="my_data")


def test_shared_checks_are_public():
    """models and comparisons use these checks through the public API, not em._validation."""
    assert "check_positive_int" in em.__all__ and "check_rng" in em.__all__
    assert em.check_positive_int(3.0, "draws") == 3
    assert em.check_positive_int(0, "tune", minimum=0) == 0
    with pytest.raises(TypeError, match="draws must be an integer"):
        em.check_positive_int(2.5, "draws")
    with pytest.raises(TypeError, match="draws must be an integer"):
        em.check_positive_int(True, "draws")
    with pytest.raises(ValueError, match="chains must be at least 1"):
        em.check_positive_int(0, "chains")
