"""The choose-k figures: BIC against K, elpd_loo against K, P(K | y), occupied components."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from mixcompare.comparisons.io import save_figure_atomic
from mixcompare.comparisons.report._figbase import OPT, color, group_or_none, new_figure

__all__ = ["FIGURES", "save_all"]


def _bic(tree: xr.DataTree):
    em_t = group_or_none(tree, "em")
    fig, ax = new_figure(size=(6.0, 4.0))
    for i, s in enumerate(em_t.structure.values):
        ax.plot(em_t.k.values, em_t.bic_mclust.sel(structure=s).values, "o-",
                color=color(OPT, i), label=str(s))
    ax.set_xlabel("number of components K")
    ax.set_ylabel("BIC = 2ℓ − p log n (mclust's; higher better)")
    ax.set_xticks(em_t.k.values)
    ax.legend(title="structure")
    return fig


def _loo(tree: xr.DataTree):
    loo = group_or_none(tree, "loo")
    fig, ax = new_figure(size=(6.0, 4.0))
    ax.errorbar(loo.k.values, loo.elpd_loo.values, yerr=loo.se.values, fmt="o-", capsize=4,
                color="tab:blue")
    bad = loo.n_bad_k.values > 0
    if bad.any():
        ax.plot(loo.k.values[bad], loo.elpd_loo.values[bad], "x", color="tab:red", ms=10,
                label=f"some Pareto k > {loo.attrs['pareto_k_bad']}")
        ax.legend()
    ax.set_xlabel("number of components K")
    ax.set_ylabel("elpd_loo ± se (higher is better)")
    ax.set_xticks(loo.k.values)
    return fig


def _post_k(tree: xr.DataTree):
    smc = group_or_none(tree, "smc")
    fig, ax = new_figure(size=(6.0, 4.0))
    ax.bar(smc.k.values, smc.posterior_k.values, color="tab:blue", alpha=0.8)
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"P(K | y), {smc.attrs['prior_on_k']} prior on K")
    ax.set_xticks(smc.k.values)
    ax.set_ylim(0, 1)
    return fig


def _occupied(tree: xr.DataTree):
    of = group_or_none(tree, "overfitted")
    fig, ax = new_figure(size=(6.0, 4.0))
    ax.bar(of.n_occupied.values, of.p_occupied.values, color="tab:green", alpha=0.8)
    ax.set_xlabel(f"non-empty components (of {of.attrs['k_max']})")
    ax.set_ylabel("posterior probability")
    ax.set_xticks(of.n_occupied.values)
    ax.set_ylim(0, 1)
    return fig


#: name -> (group it needs, drawing function, caption)
FIGURES = {
    "bic": ("em", _bic, "EM's BIC against K, one line per structure (as mclust draws it)."),
    "elpd_loo": ("loo", _loo, "PSIS-LOO's elpd against K with its standard error; crosses "
                              "mark K's with unreliable Pareto k."),
    "posterior_k": ("smc", _post_k, "The posterior over K from SMC's marginal likelihoods."),
    "occupied": ("overfitted", _occupied, "The overfitted mixture: posterior of the number "
                                          "of non-empty components."),
}


def save_all(tree: xr.DataTree, figdir) -> dict[str, tuple[Path, str]]:
    """Draw every figure whose group is in ``tree``; return ``{name: (path, caption)}``."""
    figdir = Path(figdir)
    figdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (group, draw, caption) in FIGURES.items():
        path = figdir / f"{name}.png"
        if group_or_none(tree, group) is None:
            path.unlink(missing_ok=True)
            continue
        out[name] = (save_figure_atomic(draw(tree), path, dpi=110), caption)
    return out
