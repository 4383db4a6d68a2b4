"""What every report figure shares: reading a group of the tree, a new figure, the palettes.

Figures are plain ``Figure`` objects on their own Agg canvas, so no pyplot state,
backend, warning filter or rcParams is touched.
"""

from __future__ import annotations

import xarray as xr
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["BOOT", "CHAIN", "COMP", "DPI", "EM", "HIGHLIGHT", "OPT", "POST", "color",
           "column_names", "group_or_none", "new_figure"]

DPI = 110
CHAIN = colormaps["tab10"].colors
COMP = colormaps["Set1"].colors
OPT = colormaps["Dark2"].colors
EM, POST, BOOT, HIGHLIGHT = "black", "tab:blue", "tab:orange", "tab:red"


def group_or_none(tree: xr.DataTree, path: str) -> xr.Dataset | None:
    """Return the group at ``path`` as a Dataset, or None when absent or empty."""
    try:
        node = tree[path]
    except KeyError:
        return None
    ds = node.to_dataset() if isinstance(node, xr.DataTree) else None
    return ds if ds is not None and ds.data_vars else None


def new_figure(nrows=1, ncols=1, *, size, **kwargs):
    """Return a Figure on its own Agg canvas and its axes (one Axes, or a 2-D array)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes[0, 0] if nrows == ncols == 1 else axes


def color(palette, i: int):
    """Return the ``i``-th colour of ``palette``, cycling."""
    return palette[int(i) % len(palette)]


def column_names(tree: xr.DataTree) -> list[str]:
    """Return the data's column names, one per feature (``x`` / ``feature j`` if unnamed)."""
    data = group_or_none(tree, "data")
    if data is None:
        return []
    if "column" in data.coords:
        return [str(c) for c in data["column"].values]
    if data["x"].ndim == 1:
        return [str(data.attrs.get("column", "x"))]
    return [f"feature {j}" for j in range(data.sizes["feature"])]
