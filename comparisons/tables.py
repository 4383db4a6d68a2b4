"""Long-format parameter tables: one row per scalar parameter, shared by every method.

Rows are ``weights[k]``, ``means[k]`` (``means[k,j]``) and ``sds[k]``
(``sds[k,j]``) in a fixed component order, so that estimates, standard
errors and posterior summaries of every method line up row by row.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["PARAMS", "flatten", "posterior_rows", "row_labels"]

PARAMS = ("weights", "means", "sds")


def row_labels(K: int, d: int | None) -> list[tuple[str, int, int]]:
    """``(parameter, component, feature)`` of every row; feature is -1 for 1-D data."""
    rows = [("weights", k, -1) for k in range(K)]
    for name in ("means", "sds"):
        if d is None:
            rows += [(name, k, -1) for k in range(K)]
        else:
            rows += [(name, k, j) for k in range(K) for j in range(d)]
    return rows


def row_names(K: int, d: int | None) -> list[str]:
    """Human-readable names, e.g. ``means[1]`` or ``sds[0,1]``."""
    return [f"{p}[{k}]" if j < 0 else f"{p}[{k},{j}]" for p, k, j in row_labels(K, d)]


def flatten(weights, means, sds) -> np.ndarray:
    """Concatenate parameters in row order: shape (..., n_rows).

    Parameters
    ----------
    weights : ndarray of shape (..., K)
    means, sds : ndarray of shape (..., K) or (..., K, d)
    """
    weights = np.asarray(weights, float)
    lead = weights.shape[:-1]
    parts = [weights, np.asarray(means, float).reshape(lead + (-1,)),
             np.asarray(sds, float).reshape(lead + (-1,))]
    return np.concatenate(parts, axis=-1)


def posterior_rows(posterior: xr.Dataset) -> xr.DataArray:
    """Posterior draws in row order: DataArray of dims (chain, draw, row)."""
    w = posterior["weights"].transpose("chain", "draw", "component").values
    m = posterior["means"].transpose("chain", "draw", "component", ...).values
    s = posterior["sds"].transpose("chain", "draw", "component", ...).values
    return xr.DataArray(flatten(w, m, s), dims=("chain", "draw", "row"))


def table(K: int, d: int | None, columns: dict, attrs: dict | None = None) -> xr.Dataset:
    """Build a row-indexed table with parameter, component, feature and name coordinates."""
    labels = row_labels(K, d)
    coords = {
        "row": np.arange(len(labels)),
        "parameter": ("row", [r[0] for r in labels]),
        "component": ("row", np.array([r[1] for r in labels])),
        "feature": ("row", np.array([r[2] for r in labels])),
        "name": ("row", row_names(K, d)),
    }
    data = {k: ("row", _column(v)) for k, v in columns.items()}
    return xr.Dataset(data, coords=coords, attrs=attrs or {})


def _column(values) -> np.ndarray:
    """Return a table column: booleans and strings kept, everything else as float."""
    a = np.asarray(values)
    if a.dtype == bool or a.dtype.kind in "US":
        return a
    return a.astype(float)
