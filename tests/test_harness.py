"""The comparison harness: alignment, label switching on real PyMC runs, round trips."""

import json

import numpy as np
import pytest
from mixcompare import em
from mixcompare.comparisons.pipeline import ComparisonResult, compare

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def _symmetric(seed=3):
    rng = np.random.default_rng(seed)
    return np.r_[rng.normal(-3, 1, 150), rng.normal(3, 1, 150)]


def test_em_only_comparison_round_trips(tmp_path):
    X, _ = em.sample(300, [0.3, 0.7], [5.0, 0.0], [1.0, 0.5], rng=2)
    res = compare(X, 2, methods=("em", "map_em"), n_boot=20, rng=0, name="sim")
    tree = res.tree
    agr = tree["comparison/agreement"].to_dataset()
    # components are listed in the aligned (reference) order: EM's means increasing
    em_means = agr["em"].values[agr["parameter"].values == "means"]
    assert np.all(np.diff(em_means) > 0)
    map_means = agr["map_em"].values[agr["parameter"].values == "means"]
    np.testing.assert_allclose(map_means, em_means, atol=0.2)  # aligned, not swapped
    assert "post_mean" not in agr
    se = tree["em/se"].to_dataset()
    assert np.all(se["boot_low"].values <= se["boot_high"].values)
    summary = res.summary()
    assert summary["nuts"] is None and summary["map"] is None
    assert summary["em"]["log_likelihood"] == pytest.approx(tree["em"].attrs["log_likelihood"])
    json.dumps(summary, allow_nan=False)
    path = tmp_path / "r.nc"
    res.to_netcdf(path)
    back = ComparisonResult.from_netcdf(path)
    assert back.summary() == summary
    assert set(back.tree.groups) == set(tree.groups)


def test_unknown_method_refused_before_any_work():
    with pytest.raises(ValueError, match="unknown methods"):
        compare(np.arange(10.0), 2, methods=("em", "vb"))


@pytest.mark.slow
def test_unordered_switching_flagged_relabelled_and_matches_ordered():
    x = _symmetric()
    starts = [{"weights": [0.5, 0.5], "means": [-3.0, 3.0], "variances": [1.0, 1.0]},
              {"weights": [0.5, 0.5], "means": [3.0, -3.0], "variances": [1.0, 1.0]}]
    unord = compare(x, 2, methods=("em", "map_em", "nuts"), n_boot=0, draws=600, tune=500,
                    chains=2, init=starts, rng=5)
    s = unord.summary()
    ls = s["nuts"]["label_switching"]
    assert ls["detected"] is True
    assert s["nuts"]["rhat_max"] > 1.1  # raw R-hat is meaningless under switching
    assert s["nuts"]["rhat_max_relabeled"] <= 1.01
    assert s["nuts"]["census"]["kind"] == "label switching only"
    ordered = compare(x, 2, methods=("em", "map_em", "nuts"), n_boot=0, draws=600, tune=500,
                      chains=2, ordered=True, init="em", rng=6)
    from arviz_stats.base import array_stats
    from mixcompare.comparisons.tables import posterior_rows

    a = posterior_rows(unord.tree["posterior_relabeled"].to_dataset()).values
    b = posterior_rows(ordered.tree["posterior_relabeled"].to_dataset()).values
    for j in range(a.shape[-1]):
        se_a = float(array_stats.mcse(a[..., j], method="mean", chain_axis=0, draw_axis=1))
        se_b = float(array_stats.mcse(b[..., j], method="mean", chain_axis=0, draw_axis=1))
        assert abs(a[..., j].mean() - b[..., j].mean()) <= 4 * np.hypot(se_a, se_b)
    assert ordered.summary()["nuts"]["label_switching"]["detected"] is False
