"""The result of :func:`choose_k`: one netCDF tree, the K each criterion chooses, summary.json."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .em_side import CRITERIA, chosen_k

__all__ = ["ChooseKResult"]

#: what each criterion is, for the table of choices
LABELS = {"bic_mclust": "BIC (EM)", "icl_mclust": "ICL (EM)", "aic_sklearn": "AIC (EM)",
          "lrt": "bootstrap LRT at 5% (EM)",
          "loo": "PSIS-LOO (NUTS; smallest K within one se of the best)",
          "smc": "marginal likelihood (SMC)", "overfitted": "overfitted mixture (NUTS)"}


def _attr_json(tree, key: str, default):
    v = tree.attrs.get(key)
    return default if v is None else json.loads(v)


def _group(tree, name: str) -> xr.Dataset | None:
    return tree[name].to_dataset() if name in tree.children else None


def loo_choice(table: xr.Dataset) -> int:
    """Return the smallest K whose elpd_loo is within one se of the difference from the best.

    ``table`` is ArviZ's comparison (``elpd_diff``, ``dse`` over ``model`` =
    ``K=k``): a K is kept when ``|elpd_diff| <= dse`` (the one-standard-error
    rule): elpd differences carry standard errors (Sivula, Magnusson & Vehtari
    2020), and parsimony picks the smallest K they do not separate from the best.
    """
    ks = [int(str(m).removeprefix("K=")) for m in table.model.values]
    diff, dse = table.elpd_diff.values, table.dse.values
    return min(k for k, d, e in zip(ks, diff, dse, strict=True) if abs(d) <= e + 1e-12)


class ChooseKResult:
    """Everything :func:`choose_k` computed, as one ``xarray.DataTree``.

    Groups: ``data``, ``em`` (criteria per structure and K), ``em_atlas``
    (every optimum), and when run ``lrt``, ``loo``, ``loo_compare``,
    ``log_likelihood`` (pointwise, per K), ``smc`` and ``overfitted``; root
    attributes ``name``, ``k_max``, ``structures``, ``bayes_structure``,
    ``prior``, ``timings`` (seconds per part) and ``mclust``.
    """

    def __init__(self, tree: xr.DataTree):
        self.tree = tree

    def to_netcdf(self, path) -> None:
        """Write the tree to one netCDF file (h5netcdf), atomically, with its checksum."""
        from mixcompare.comparisons.io import write_netcdf_atomic

        write_netcdf_atomic(self.tree, path)

    @classmethod
    def from_netcdf(cls, path) -> ChooseKResult:
        """Read a result written by :meth:`to_netcdf`, verifying its checksum."""
        from mixcompare.comparisons.io import read_netcdf_verified

        return cls(read_netcdf_verified(path))

    @property
    def timings(self) -> dict:
        """Seconds per part (``em``, ``lrt``, ``loo``, ``smc``, ``overfitted``)."""
        return _attr_json(self.tree, "timings", {})

    def choices(self) -> dict:
        """Return the K each criterion chooses: ``{criterion: {"structure", "k"}}``.

        EM's criteria over every structure; LOO, SMC and the overfitted
        mixture for the Bayesian side's structure; the LRT for that structure
        too, when it was tested.
        """
        from .lrt import lrt_choice

        t = self.tree
        bayes = t.attrs["bayes_structure"]
        out = {}
        for c in ("bic_mclust", "icl_mclust", "aic_sklearn"):
            s, k = chosen_k(_group(t, "em"), c)
            out[c] = {"structure": s, "k": k}
        lrt = _group(t, "lrt")
        if lrt is not None and bayes in lrt.structure.values:
            k = lrt_choice(lrt, bayes)
            if k is not None:
                out["lrt"] = {"structure": bayes, "k": k}
        loo = _group(t, "loo")
        if loo is not None:
            out["loo"] = {"structure": bayes, "k": loo_choice(_group(t, "loo_compare"))}
        smc = _group(t, "smc")
        if smc is not None:
            out["smc"] = {"structure": bayes,
                          "k": int(smc.k.values[np.argmax(smc.posterior_k.values)])}
        of = _group(t, "overfitted")
        if of is not None:
            out["overfitted"] = {"structure": bayes, "k": int(of.attrs["mode"])}
        return out

    def summary(self) -> dict:
        """Return the ``summary.json`` contract (keys documented in the README)."""
        from mixcompare.comparisons.io import to_jsonable

        t = self.tree
        em_t = _group(t, "em")
        out = {"data": {"name": t.attrs["name"], "n_samples": int(t.attrs["n_samples"]),
                        "n_features": int(t.attrs["n_features"])},
               "k_max": int(t.attrs["k_max"]), "structures": _attr_json(t, "structures", []),
               "bayes_structure": t.attrs["bayes_structure"],
               "criteria_conventions": {c: ("higher is better" if d == "max"
                                            else "lower is better") for c, d in CRITERIA.items()},
               "em": {s: [{"k": int(k), **{v: em_t[v].sel(structure=s, k=k).item()
                                           for v in em_t.data_vars}}
                          for k in em_t.k.values] for s in em_t.structure.values},
               "choices": self.choices(), "mclust": _attr_json(t, "mclust", []),
               "warnings": _attr_json(t, "warnings", []), "timings": self.timings}
        lrt = _group(t, "lrt")
        if lrt is not None:
            from .lrt import lrt_choice
            out["lrt"] = {"n_boot": int(lrt.attrs["n_boot"]),
                          "choice": {str(s): lrt_choice(lrt, s) for s in lrt.structure.values},
                          "tests": {
                s: [{"k": int(k), "k_alt": int(k) + 1,
                     "lrts": lrt.lrts.sel(structure=s, k=k).item(),
                     "p_value": lrt.p_value.sel(structure=s, k=k).item()} for k in lrt.k.values]
                for s in lrt.structure.values}}
        loo = _group(t, "loo")
        if loo is not None:
            out["loo"] = [{"k": int(k), **{v: loo[v].sel(k=k).item() for v in
                                          ("elpd_loo", "se", "p_loo", "max_pareto_k", "n_bad_k",
                                           "divergences")}} for k in loo.k.values]
        smc = _group(t, "smc")
        if smc is not None:
            out["smc"] = {"draws": int(smc.attrs["draws"]), "chains": int(smc.attrs["chains"]),
                          "prior_on_k": smc.attrs["prior_on_k"],
                          "per_k": [{"k": int(k), **{v: smc[v].sel(k=k).item() for v in
                                                    ("log_ml", "log_ml_sd", "log_ml_se",
                                                     "posterior_k")}} for k in smc.k.values]}
        of = _group(t, "overfitted")
        if of is not None:
            out["overfitted"] = {"alpha": float(of.attrs["alpha"]), "k_max": int(of.attrs["k_max"]),
                                 "mode": int(of.attrs["mode"]),
                                 "divergences": int(of.attrs["divergences"]),
                                 "p_occupied": {int(c): float(p) for c, p in
                                                zip(of.n_occupied.values, of.p_occupied.values,
                                                    strict=True)}}
        return to_jsonable(out)
