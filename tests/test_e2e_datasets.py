"""Every bundled data set end to end through ``compare``, with the structures that apply.

Short chains (conftest.SHORT): these runs check that each method ran, that
the reported tables hold numbers, that a verdict (or the reason there is none)
is given and that the report renders, not the values. By default (and in CI)
every data set runs at its default structure and every structure runs on one
1-D and one multivariate data set, so every data set and every structure runs
end to end; ``MIXCOMPARE_E2E=all`` runs the whole grid (every data set x every
structure that applies to it), about 10 more cells, which CI's 20 minutes on two
cores no longer hold. MAP-EM is
asserted wherever ``em`` accepts the prior for the structure
(``em.Prior.check_for``), which is now every structure.

The multivariate figures (ellipses, uncertainty, the pair grid) are tested here
too, on the same short comparisons of faithful2d (d = 2, K = 2) and iris (d = 4,
K = 3), full covariances: in one file, one test worker computes each comparison
once for both.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from mixcompare import em
from mixcompare.comparisons import datasets
from mixcompare.comparisons.pipeline import ComparisonResult, compare
from mixcompare.comparisons.pipeline.ellipses import (
    contour_scale,
    ellipse_axes,
    ellipses_dataset,
    feature_pairs,
)
from mixcompare.comparisons.report import figures, figures_mv
from mixcompare.comparisons.report.comparison import write_report

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

STRUCTURES_1D = ("unequal", "equal")
STRUCTURES_MV = ("full", "tied", "diag", "spherical")
EVERY_STRUCTURE_ON = ("galaxies", "faithful2d")  # one 1-D, one multivariate data set


def _spec(name: str, structure=None):
    ds = datasets.load(name)
    return em.model_spec(ds.X, ds.default_k, structure=structure, fixed=ds.fixed)


def _cells() -> list[tuple[str, str]]:
    grid = os.environ.get("MIXCOMPARE_E2E", "quick") == "all"
    cells = []
    for name in datasets.DATASETS:
        default = _spec(name)[1].structure
        every = STRUCTURES_1D if datasets.load(name).X.ndim == 1 else STRUCTURES_MV
        cells += [(name, s) for s in every
                  if s == default or grid or name in EVERY_STRUCTURE_ON]
    return cells


CELLS = _cells()
SECTIONS = ("## Problems", "## Agreement", "## MAP-EM versus find_MAP",
            "## What EM's point estimate hides", "## Label switching", "## Atlas of optima",
            "## Provenance")
VALUE_COLUMNS = ("em", "map", "post_mean", "post_median", "post_sd", "hdi_low", "hdi_high")
STEPS = ("em", "louis", "bootstrap", "build", "map", "nuts", "labels", "census")


def _map_em_applies(name: str, structure: str) -> bool:
    """Whether ``em`` accepts the default prior for this model (then MAP-EM must run)."""
    X, spec = _spec(name, structure)
    try:
        em.Prior.default(X).check_for(spec)
    except ValueError:
        return False
    return True


def test_the_grid_covers_every_data_set_and_structure():
    assert {n for n, _ in CELLS} == set(datasets.DATASETS)
    quick = os.environ.get("MIXCOMPARE_E2E", "quick") != "all"
    for name in (EVERY_STRUCTURE_ON if quick else datasets.DATASETS):
        every = STRUCTURES_1D if datasets.load(name).X.ndim == 1 else STRUCTURES_MV
        assert {s for n, s in CELLS if n == name} == set(every)


@pytest.mark.parametrize(("name", "structure"), CELLS, ids=[f"{n}-{s}" for n, s in CELLS])
def test_dataset_end_to_end(short_comparison, name, structure, tmp_path):
    res = short_comparison(name, structure)
    tree = res.tree
    K, d = tree.attrs["n_components"], _spec(name)[1].n_features
    assert tree.attrs["structure"] == structure
    problems = json.loads(tree.attrs["problems"])

    # every method ran; MAP-EM wherever em accepts the prior, else it says why not
    for group in ("em", "em/se", "map", "posterior", "posterior_relabeled",
                  "comparison/membership", "comparison/census"):
        assert tree[group].to_dataset().data_vars, group
    agr = tree["comparison/agreement"].to_dataset()
    if _map_em_applies(name, structure):
        assert "map_em" in tree.children and "map_em" in agr
    else:
        assert any(p.startswith("MAP-EM skipped") for p in problems)

    # the reported tables hold numbers
    assert agr.sizes["row"] == K + 2 * K * (d if d > 1 else 1)
    for col in VALUE_COLUMNS + (("map_em",) if "map_em" in agr else ()):
        assert np.all(np.isfinite(agr[col].values)), col
    se = tree["em/se"].to_dataset()
    for col in ("se_boot", "boot_low", "boot_high"):
        assert np.all(np.isfinite(se[col].values)), col
    diag = tree["comparison/diagnostics"].to_dataset()
    assert np.all(np.isfinite(diag["ess_bulk_relabeled"].values))
    memb = tree["comparison/membership"].to_dataset()
    assert np.all(np.isfinite(memb["posterior"].values))
    np.testing.assert_allclose(memb["posterior"].values.sum(axis=1), 1.0, atol=1e-9)

    # a verdict, or the reason there is none
    assert agr.attrs["verdict"] in ("assessable", "not_assessable")
    assert agr.attrs["reason"].strip()

    # every step timed, in the tree and in summary.json
    timings = json.loads(tree.attrs["timings"])
    steps = STEPS + (("map_em",) if "map_em" in agr else ())
    assert set(steps) <= set(timings)
    assert all(math.isfinite(t) and t >= 0 for t in timings.values())
    summary = res.summary()
    assert summary["timings"] == pytest.approx(timings)
    json.dumps(summary, allow_nan=False)
    for row in summary["agreement"]["rows"]:
        assert all(row[k] is not None for k in ("em", "map", "post_mean", "post_sd")), row

    # the report renders, with every section, the verdict and each step's time
    files = write_report(res, tmp_path, command=f"e2e {name} {structure}", seed=0)
    md = files["report.md"].read_text(encoding="utf-8")
    positions = [md.index(s + "\n") for s in SECTIONS]
    assert positions == sorted(positions)
    assert ("**Verdict: assessable**" in md) != ("**Verdict: not assessable**" in md)
    for step in timings:
        assert f"| {step} |" in md
    drawn = {n for n in figures.FIGURES if f"figures/{n}.png" in files}
    assert drawn >= {"data_density", "trace_raw", "intervals", "membership", "census"}
    assert (drawn >= {"mv_ellipses", "mv_uncertainty"}) == (d > 1)
    assert ("mv_pairs" in drawn) == (d > 2)
    assert files["report.html"].stat().st_size > 0
    back = ComparisonResult.from_netcdf(files["results.nc"])  # the tree round-trips
    assert back.summary() == summary
    assert {"observed_data", "log_likelihood", "prior", "prior_predictive",
            "posterior_predictive"} <= set(back.tree.children)  # complete for ArviZ
    if d > 1:
        assert list(back.tree["data"]["column"].values) == list(datasets.load(name).columns)
        xr.testing.assert_equal(back.tree["comparison/ellipses"].to_dataset(),
                                tree["comparison/ellipses"].to_dataset())


# ---------------------------------------------------------------- multivariate figures
@pytest.fixture(scope="module", params=["faithful2d", "iris"])
def mv(request, short_comparison):
    return request.param, short_comparison(request.param, "full").tree


@pytest.fixture(scope="module")
def iris_em_only():
    ds = datasets.load("iris")
    return compare(ds.X, 3, methods=("em",), n_boot=0, n_init=3, rng=0,
                   columns=ds.columns).tree


def _labels(name: str) -> list[str]:
    """Axis labels the figures must carry: each column's name with its unit, where known."""
    ds = datasets.load(name)
    return [f"{c} ({u})" if u else c for c, u in zip(ds.columns, ds.units, strict=True)]


def _covariance_of(e: Ellipse, prob: float) -> np.ndarray:
    """The 2 x 2 covariance whose ``prob`` contour is the ellipse ``e``."""
    c = contour_scale([prob])[0]
    t = np.radians(e.angle)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return R @ np.diag([(e.width / 2) ** 2 / c, (e.height / 2) ** 2 / c]) @ R.T


def _em_ellipses(ax) -> dict:
    out = {}
    for p in ax.patches:
        gid = p.get_gid() or ""
        if isinstance(p, Ellipse) and gid.startswith("em:"):
            _, k, prob = gid.split(":")
            out[int(k), float(prob)] = p
    return out


def _check_em_ellipses(ax, tree, x: int, y: int) -> None:
    """Every EM ellipse on ``ax`` (x feature, y feature) is EM's fit, marginal block."""
    em_ds = tree["em"].to_dataset()
    cov, mu = em_ds["covariances"].values, em_ds["means"].values
    K, probs = cov.shape[0], tree["comparison/ellipses"]["prob"].values
    got = _em_ellipses(ax)
    assert set(got) == {(k, float(p)) for k in range(K) for p in probs}
    for (k, prob), e in got.items():
        block = cov[k][np.ix_([x, y], [x, y])]
        lam, vec = np.linalg.eigh(block)
        c = contour_scale([prob])[0]
        assert e.width == pytest.approx(2 * np.sqrt(c * lam[1]), rel=1e-10)
        assert e.height == pytest.approx(2 * np.sqrt(c * lam[0]), rel=1e-10)
        major = np.degrees(np.arctan2(vec[1, 1], vec[0, 1])) % 180
        assert np.isclose(e.angle, major, atol=1e-8) or np.isclose(abs(e.angle - major), 180)
        np.testing.assert_allclose(_covariance_of(e, prob), block, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(e.center, mu[k, [x, y]], rtol=1e-12)


def test_ellipses_figure_em_beside_the_posterior(mv):
    name, tree = mv
    cols = _labels(name)
    fig = figures_mv.fig_ellipses(tree)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # EM, posterior draws
    for ax in fig.axes:
        assert (ax.get_xlabel(), ax.get_ylabel()) == (cols[0], cols[1])
    _check_em_ellipses(fig.axes[0], tree, 0, 1)
    # the posterior panel: every sampled draw's contours, from the relabelled draws
    ell = tree["comparison/ellipses"].to_dataset()
    (coll,) = [c for c in fig.axes[1].collections if isinstance(c, PatchCollection)]
    S, K, L = ell.sizes["sample"], ell.sizes["component"], ell.sizes["prob"]
    assert len(coll.get_paths()) == S * K * L and S == 20
    post = tree["posterior_relabeled"].to_dataset()
    c, t = int(ell["sample_chain"][-1]), int(ell["sample_draw"][-1])
    cov = post["covariances"].isel(chain=c, draw=t).values[K - 1][:2, :2]
    e = Ellipse(tuple(ell["post_center"].values[0, -1, K - 1]),
                float(ell["post_width"][0, -1, K - 1, -1]),
                float(ell["post_height"][0, -1, K - 1, -1]),
                angle=float(ell["post_angle"][0, -1, K - 1, -1]))
    np.testing.assert_allclose(_covariance_of(e, float(ell["prob"][-1])), cov, rtol=1e-9)
    np.testing.assert_allclose(e.center, post["means"].isel(chain=c, draw=t).values[K - 1, :2])


def test_uncertainty_figure(mv):
    name, tree = mv
    cols = _labels(name)
    fig = figures_mv.fig_uncertainty(tree)
    assert len(fig.axes) == 3  # EM, posterior, colour bar
    em_ax, post_ax = fig.axes[:2]
    for ax in (em_ax, post_ax):
        assert (ax.get_xlabel(), ax.get_ylabel()) == (cols[0], cols[1])
    u_em = tree["em/classification"]["uncertainty"].values
    u_post = tree["comparison/membership"]["uncertainty"].values
    for ax, u in ((em_ax, u_em), (post_ax, u_post)):
        drawn = ax.collections[0].get_array()
        np.testing.assert_array_equal(np.sort(drawn), np.sort(u))
    resp = tree["em/classification"]["responsibilities"].values
    np.testing.assert_allclose(u_em, 1 - resp.max(axis=1))
    np.testing.assert_array_equal(tree["em/classification"]["label"].values, resp.argmax(axis=1))


def test_pair_grid_only_beyond_two_features(mv):
    name, tree = mv
    cols = _labels(name)
    fig = figures_mv.fig_pairs(tree)
    if len(cols) == 2:
        assert fig is None
        return
    m = min(len(cols), 4)
    assert len(fig.axes) == m * m
    axes = np.array(fig.axes).reshape(m, m)
    assert [a.get_xlabel() for a in axes[-1]] == cols[:m]
    assert [a.get_ylabel() for a in axes[:, 0]] == cols[:m]
    for i in range(m):
        for j in range(m):
            if i > j:  # below the diagonal: EM, x = feature j, y = feature i
                _check_em_ellipses(axes[i, j], tree, j, i)
            elif i < j:  # above: the posterior draws' contours
                assert any(isinstance(c, PatchCollection) for c in axes[i, j].collections)
                assert not _em_ellipses(axes[i, j])


def test_every_multivariate_figure_is_in_the_report_registry(mv):
    name, tree = mv
    for fig_name in figures.MULTIVARIATE:
        assert fig_name in figures.FIGURES and figures.CAPTIONS[fig_name]
    # the column name read back from the tree, with its unit
    assert str(tree["data"]["column"].values[0]) == datasets.load(name).columns[0]
    assert figures.FIGURES["data_density"](tree).axes[0].get_xlabel() == _labels(name)[0]


def test_without_nuts_em_alone(iris_em_only):
    tree = iris_em_only
    cols = list(datasets.load("iris").columns)
    fig = figures_mv.fig_ellipses(tree)
    assert len(fig.axes) == 1
    _check_em_ellipses(fig.axes[0], tree, 0, 1)
    assert len(figures_mv.fig_uncertainty(tree).axes) == 2  # EM, colour bar
    grid = figures_mv.fig_pairs(tree)
    axes = np.array(grid.axes).reshape(4, 4)
    _check_em_ellipses(axes[0, 3], tree, 3, 0)  # EM's contours above the diagonal too
    assert [a.get_xlabel() for a in axes[-1]] == cols


@pytest.mark.parametrize("shape", ["(n,)", "(n, 1)"])
def test_one_dimensional_data_has_no_ellipses(shape):
    x = np.r_[np.zeros(20), np.full(20, 5.0)] + np.linspace(0, 1, 40)
    x = x if shape == "(n,)" else x[:, None]
    tree = compare(x, 2, methods=("em",), n_boot=0, n_init=3, rng=0, columns=["length"]).tree
    assert "comparison/ellipses" not in tree.groups
    for func in figures_mv.FIGURES.values():
        assert func(tree) is None
    assert figures.fig_data_density(tree).axes[0].get_xlabel() == "length"


def test_columns_must_match_the_data():
    with pytest.raises(ValueError, match="2 name"):
        compare(np.zeros((10, 3)) + np.arange(10)[:, None], 2, methods=("em",),
                columns=["a", "b"])


# ------------------------------------------------------------------------- the kernel
def test_ellipse_axes_of_a_rotated_covariance():
    t = np.radians(30.0)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    cov = R @ np.diag([4.0, 1.0]) @ R.T
    w, h, a = ellipse_axes(cov, (0.5, 0.95))
    np.testing.assert_allclose(w, 2 * 2.0 * np.sqrt(contour_scale([0.5, 0.95])))
    np.testing.assert_allclose(h, 2 * 1.0 * np.sqrt(contour_scale([0.5, 0.95])))
    np.testing.assert_allclose(a, 30.0)
    # the 95 % contour holds 95 % of the normal's mass (Monte Carlo, 4 binomial sd)
    z = np.random.default_rng(0).multivariate_normal([0, 0], cov, 40_000)
    inside = np.einsum("ni,ij,nj->n", z, np.linalg.inv(cov), z) <= contour_scale([0.95])[0]
    assert abs(inside.mean() - 0.95) < 4 * np.sqrt(0.95 * 0.05 / z.shape[0])


def test_diagonal_draws_give_axis_aligned_ellipses():
    K, d = 2, 3
    rng = np.random.default_rng(1)
    var = rng.uniform(0.5, 2.0, (2, 5, K, d))
    var[..., 1] = var[..., 0] * 3.0  # feature 1 wider than feature 0: angle 90
    post = xr.Dataset({"means": (("chain", "draw", "component", "feature"),
                                 rng.normal(size=(2, 5, K, d))),
                       "variances": (("chain", "draw", "component", "feature"), var)})
    em_ds = xr.Dataset({"means": (("component", "feature"), np.zeros((K, d))),
                        "covariances": (("component", "feature", "feature_bis"),
                                        np.stack([np.eye(d)] * K))})
    ell = ellipses_dataset(rng.normal(size=(30, d)), em_ds, post, n_draws=4)
    assert ell.sizes["sample"] == 4 and ell.sizes["pair"] == 6
    np.testing.assert_array_equal(feature_pairs(d), np.c_[ell["x_feature"], ell["y_feature"]])
    p = 0  # (feature 0, feature 1)
    c = np.sqrt(contour_scale(ell["prob"].values))
    ch, dr = ell["sample_chain"].values, ell["sample_draw"].values
    v = var[ch, dr]  # (S, K, d)
    np.testing.assert_allclose(ell["post_angle"].values[p], 90.0)
    np.testing.assert_allclose(ell["post_width"].values[p], 2 * np.sqrt(v[..., 1])[..., None] * c)
    np.testing.assert_allclose(ell["post_height"].values[p], 2 * np.sqrt(v[..., 0])[..., None] * c)
