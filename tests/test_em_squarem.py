"""SQUAREM (em/_squarem.py): the same fixed point as plain EM, monotone, and ridges converge.

References: plain EM run with acceleration switched off (``_squarem.ACCELERATE``)
until its steps are at round-off, on every structure, with fixed blocks and with
a prior; the atlas criterion of issue 21 item 4 (no two entries within 1e-6 nats
and ``atlas_tol`` of each other).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from mixcompare import em
from mixcompare.em import _squarem
from mixcompare.em._stopping import PARAM_TOL


def _blobs(d: int, seed: int = 0) -> np.ndarray:
    """Three clusters (n = 150): plain EM reaches round-off in under 500 iterations."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.5, 1.0], [7.0, -0.5]])[:, :d]
    X = np.concatenate([c + rng.normal(size=(50, d)) * s for c, s in
                        zip(centres, (1.0, 0.8, 1.2), strict=True)])
    return X[:, 0] if d == 1 else X


def _init(X, structure, fixed):
    one_d = X.ndim == 1
    means = np.array([[0.5, 0.3], [3.0, 0.5], [6.5, 0.0]])[:, : 1 if one_d else 2]
    init = {"weights": [0.3, 0.3, 0.4], "means": means[:, 0] if one_d else means}
    if "variances" not in fixed and "covariances" not in fixed:
        if one_d:
            init["variances"] = [1.0, 1.0, 1.0]
        else:
            init["covariances"] = np.broadcast_to(np.eye(2), (3, 2, 2)).copy()
    return init


CASES = {
    "1d-unequal": (1, "unequal", {}, False),
    "1d-equal": (1, "equal", {}, False),
    "2d-full": (2, "full", {}, False),
    "2d-diag": (2, "diag", {}, False),
    "2d-spherical": (2, "spherical", {}, False),
    "2d-tied": (2, "tied", {}, False),
    "1d-fixed-weights": (1, "unequal", {"weights": [0.3, 0.3, 0.4]}, False),
    "1d-fixed-variances": (1, "unequal", {"variances": 0.9}, False),
    "1d-map": (1, "unequal", {}, True),
}


def _fit(X, structure, fixed, prior, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.MixcompareWarning)
        return em.fit(X, 3, structure=structure, fixed=fixed or None, prior=prior,
                      init=_init(X, structure, fixed), **kw)


def _distance(a, b, scale) -> float:
    return float(max(np.abs(a.weights - b.weights).max(),
                     np.abs(a.means - b.means).max() / scale,
                     0.5 * np.abs(np.log(a.variances / b.variances)).max()))


@pytest.mark.parametrize("case", CASES)
def test_squarem_reaches_plain_ems_fixed_point(case, monkeypatch):
    d, structure, fixed, map_em = CASES[case]
    X = _blobs(d)
    prior = em.Prior.default(X) if map_em else None
    monkeypatch.setattr(_squarem, "ACCELERATE", False)
    plain = _fit(X, structure, fixed, prior, tol=0, max_iter=500)
    tr = plain.trace
    assert not tr.accelerated.any()
    # the reference has stopped moving: its last step is at round-off
    assert np.abs(np.diff(tr.means[-2:], axis=0)).max() < 1e-11 * (1 + np.abs(tr.means).max())
    monkeypatch.setattr(_squarem, "ACCELERATE", True)
    default_crawl = _squarem.CRAWL
    monkeypatch.setattr(_squarem, "CRAWL", 2)  # accelerated from the third iteration on
    fast = _fit(X, structure, fixed, prior, tol=0, max_iter=250)
    monkeypatch.setattr(_squarem, "CRAWL", default_crawl)
    polished = _fit(X, structure, fixed, prior)  # em.fit's default stopping rule
    scale = plain.scaling.scale
    assert fast.trace.accelerated.any()
    assert _distance(fast, plain, scale) < 1e-8
    assert fast.trace.objective[-1] == pytest.approx(plain.trace.objective[-1], rel=1e-12)
    # the polish stops on Aitken's *estimate* of the distance (< PARAM_TOL): measured,
    # plain EM's polish ends 0.7e-6 to 1.0e-6 from the fixed point here, SQUAREM's
    # 3e-12 to 1.1e-6 (2d-full)
    assert _distance(polished, plain, scale) < 2 * PARAM_TOL
    for res in (fast, polished):  # accelerated iterates keep the trace monotone
        obj = res.trace.objective
        assert np.all(np.diff(obj) >= -1e-12 * np.abs(obj[1:]))
    for key, val in fixed.items():  # fixed blocks stay exactly fixed
        got = fast.weights if key == "weights" else fast.variances
        np.testing.assert_array_equal(got, np.broadcast_to(val, got.shape))


def test_cem_is_not_accelerated():
    X = _blobs(1)
    res = em.fit(X, 3, algorithm="cem", init=_init(X, "unequal", {}))
    assert not res.trace.accelerated.any()
