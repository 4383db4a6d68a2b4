"""The interactive lecture page ``index.html``: click on the surface, watch EM and CEM climb.

:func:`page_html` fills ``page.html`` with the nine points, the fixed
parameters, the four maxima, the tempering of :func:`.figures_slides.tempered`
and thinned NUTS draws, all inline with ``page.js``: one file that works
from ``file://`` with no server and no network. The paths are computed in the
page (``window.lecture.path``), from the same formulas as ``em``; the test
suite runs them in a headless browser against ``em.fit`` on the same starts.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from .figures import DEPTH
from .figures_slides import MINOR_HEIGHT, tempered

__all__ = ["page_data", "page_html", "write_page"]

#: posterior draws embedded per model (thinned evenly over chains and draws)
MAX_DRAWS = 1200


def _thin(ds, n_max: int) -> list:
    m = ds["means"].transpose("chain", "draw", "component").values.reshape(-1, 2)
    keep = np.unique(np.linspace(0, m.shape[0] - 1, min(n_max, m.shape[0])).astype(int))
    return np.round(m[keep], 3).tolist()


def page_data(x, fixed: dict, surf, post: dict | None) -> dict:
    """Collect what the page needs, as plain JSON-able values.

    Parameters
    ----------
    x : array_like of shape (n,)
    fixed : dict
        ``weights`` (2,) and ``variances`` (a scalar: the page has one common variance).
    surf : xarray.Dataset
        :func:`.surface.loglik_surface` (its ``mu1`` limits and maxima).
    post : dict or None
        :func:`.slides.bumps_posterior`; None: no draws to toggle.

    Returns
    -------
    dict
    """
    var = np.unique(np.asarray(fixed["variances"], float))
    if var.size != 1:
        raise ValueError(f"the page draws one common variance; got variances {var.tolist()}.")
    _, temp = tempered(surf)
    g = surf["mu1"].values
    post = post or {}
    return {
        "x": np.asarray(x, float).tolist(), "variance": float(var[0]),
        "tau": np.asarray(fixed["weights"], float).tolist(),
        "limits": [float(g[0]), float(g[-1])],
        "maxima": np.column_stack([surf["opt_mu1"].values, surf["opt_mu2"].values,
                                   surf["opt_loglik"].values]).tolist(),
        "best": float(surf["opt_loglik"].max()), "temperature": temp, "depth": DEPTH,
        "colormap": np.round(colormaps["viridis"](np.linspace(0, 1, 17))[:, :3], 4).tolist(),
        "posterior": {k: _thin(post[k], MAX_DRAWS) if k in post else []
                      for k in ("unordered", "ordered")},
        "draws_kind": (f"Draws from the {post['unordered'].attrs['method']}"
                       if "method" in getattr(post.get("unordered"), "attrs", {})
                       else "NUTS draws"),
    }


def page_html(data: dict) -> str:
    """Fill the page template with ``data`` (:func:`page_data`) and the script; return HTML."""
    pkg = resources.files("mixcompare.comparisons.lecture")
    html = (pkg / "page.html").read_text(encoding="utf-8")
    script = (pkg / "page.js").read_text(encoding="utf-8")
    text = ", ".join(f"{v:g}" for v in data["x"])
    surface = (f"the likelihood raised to the power 1/T with T = {data['temperature']:.1f}, "
               f"chosen so that the worse pair of maxima shows at {MINOR_HEIGHT:g} of the best "
               "(the likelihood itself has them 33 nats, a factor e<sup>-33</sup>, lower: "
               "invisible); a power of the likelihood keeps every maximum and basin in place. "
               "Or the log-likelihood, whose scale is dominated by the deep valleys.")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    for key, value in (("__DATA_TEXT__", text), ("__VARIANCE__", f"{data['variance']:g}"),
                       ("__TAU__", ", ".join(f"{t:g}" for t in data["tau"])),
                       ("__SURFACE_TEXT__", surface), ("__DEPTH__", f"{data['depth']:g}"),
                       ("__N_UNORDERED__", str(len(data["posterior"]["unordered"]))),
                       ("__N_ORDERED__", str(len(data["posterior"]["ordered"]))),
                       ("__DRAWS_KIND__", data["draws_kind"]),
                       ("__DATA__", payload), ("__SCRIPT__", script)):
        html = html.replace(key, value)
    return html


def write_page(path: Path, x, fixed: dict, surf, post: dict | None) -> Path:
    """Write the self-contained interactive page to ``path`` and return it."""
    from mixcompare.comparisons.io import write_text_atomic

    return write_text_atomic(Path(path), page_html(page_data(x, fixed, surf, post)))
