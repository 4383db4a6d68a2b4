"""The report's account of the data: what they are, where they come from, their variables."""

from __future__ import annotations

import json

import numpy as np
from mixcompare.comparisons.io import read_attr

from ._figbase import column_names, group_or_none

__all__ = ["axis_labels", "section", "units"]


def units(tree) -> list[str]:
    """Return the unit of each column ("" where none is known)."""
    data = group_or_none(tree, "data")
    names = column_names(tree)
    if data is None or "units" not in data.attrs:
        return [""] * len(names)
    got = json.loads(data.attrs["units"])
    return got if len(got) == len(names) else [""] * len(names)


def axis_labels(tree) -> list[str]:
    """Return each column's axis label: its name, with its unit in brackets when known."""
    return [f"{n} ({u})" if u else n for n, u in zip(column_names(tree), units(tree),
                                                    strict=True)]


def section(tree, table) -> list:
    """Blocks saying what the data are, their source, and each variable with its unit."""
    data = group_or_none(tree, "data")
    if data is None:
        return []
    out = []
    description = str(data.attrs.get("description", "")).strip()
    source = str(read_attr(tree, "provenance", {}).get("source", "") or "").strip()
    text = (description + " " if description else "") + \
        (f"Source: {source}" if source else "Source: not recorded.")
    out.append(("p", text))
    x = data["x"].values
    x2 = x.reshape(x.shape[0], -1)
    rows = [[name, unit or "—", float(np.mean(col)), float(np.std(col, ddof=1)),
             float(np.min(col)), float(np.max(col))]
            for name, unit, col in zip(column_names(tree), units(tree), x2.T, strict=True)]
    out.append(table(["variable", "unit", "mean", "sd", "min", "max"], rows))
    return out
