"""The machine-readable contract: ``summary.json``, built from a comparison's DataTree.

Keys (parameters always in the aligned component order of the ``em`` group):

``dataset`` {name, n, d, sha256}; ``n_components``; ``structure``; ``ordered``;
``prior`` (hyper-parameters); ``em`` {log_likelihood, weights, means, sds (1-D) or
covariances, converged, n_iter, optima [{log_likelihood, count, basin_share,
converged, degenerate, spurious}], se {louis, bootstrap} (each {weights, means, sds})};
``map_em`` {log_posterior, log_likelihood, weights, means, sds}; ``map``
{log_density, weights, means, sds}; ``nuts`` {mean, sd, hdi (each {weights,
means, sds}; hdi as [low, high] pairs), hdi_prob, rhat_max, rhat_max_relabeled,
ess_bulk_min, divergences, sampler, sampler_version, init, label_switching
{detected, reason, within_chain_rate, chain_labelings}, mass_near_em_optima
{mass, mass_sd, method (estimated), draw_share (where the chains were),
em_best_is_minor_mode (by mass)}, census {kind, reason, atlas}, modes [{chains,
em_optimum, em_optimum_log_likelihood, log_density, rhat_max, ess_bulk_min, mass,
mass_sd, mass_method, chain_share}]};
``agreement`` {rule, rows [{name, em, map_em, map, post_mean, post_sd, hdi_low,
hdi_high, z, mle_in_hdi, agree, map_em_minus_map, map_disagree}]}; ``hidden_spread`` {rows [{name,
sd_over_se_louis, sd_over_se_boot}], n_changed_label, n_uncertain,
n_uncertain_em, fraction_em_outside_band}; ``prior_sensitivity`` (None when not
computed) {mode, change_threshold, k_threshold, priors [{name, factor, b, method,
reliable, pareto_k, is_ess, rhat_max, ess_bulk_min}], rows [{name, prior_driven,
post_sd, sd_over_se_louis, sd_over_se_boot, z, agree (each {prior: value})}]};
``atlas`` [{id, source, log_likelihood, log_posterior, count, basin_share,
converged, degenerate, spurious, counterpart}]; ``problems``; ``warnings``; ``timings``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import xarray as xr
from mixcompare.comparisons.io import read_attr
from mixcompare.comparisons.io import to_jsonable as _py  # plain Python values, NaN -> None

__all__ = ["REQUIRED_KEYS", "summarise"]

REQUIRED_KEYS = ("dataset", "n_components", "structure", "prior", "em", "map_em", "map",
                 "nuts", "agreement", "hidden_spread", "warnings")


def _group(tree, path):
    try:
        return tree[path].to_dataset()
    except KeyError:
        return None


def _params(ds: xr.Dataset, one_d: bool) -> dict:
    out = {"weights": _py(ds["weights"]), "means": _py(ds["means"])}
    if "sds" in ds:
        out["sds"] = _py(ds["sds"])
    if not one_d and "covariances" in ds:
        out["covariances"] = _py(ds["covariances"])
    return out


def _by_param(table: xr.Dataset, column: str) -> dict:
    """Regroup a row table column into {weights: [...], means: [...], sds: [...]}."""
    out = {}
    for p in ("weights", "means", "sds"):
        sel = table["parameter"].values == p
        vals = table[column].values[sel]
        feats = table["feature"].values[sel]
        if feats.max() >= 0:
            K = int(table["component"].values[sel].max()) + 1
            vals = vals.reshape(K, -1)
        out[p] = _py(vals)
    return out


def _rows(table: xr.Dataset, columns) -> list[dict]:
    rows = []
    for i, name in enumerate(table["name"].values):
        row = {"name": str(name)}
        for c in columns:
            if c in table:
                row[c] = _py(table[c].values[i])
        rows.append(row)
    return rows


def _modes(cen: xr.Dataset | None) -> dict:
    """``census`` (kind, reason) and ``modes``: one entry per posterior mode."""
    if cen is None:
        return {}
    modes = []
    for k in range(cen.sizes["mode"]):
        chains = np.flatnonzero(cen["mode_of_chain"].values == k).tolist()
        modes.append({
            "chains": chains,
            "em_optimum": int(cen["optimum_of_mode"].values[k]),
            "em_optimum_id": (str(cen["optimum_id"].values[k]) if "optimum_id" in cen
                              else None),
            "em_optimum_source": str(cen["optimum_source"].values[k]),
            "em_optimum_log_likelihood": _py(cen["optimum_log_likelihood"].values[k]),
            "log_density": _py(cen["log_density_at_median"].values[k]),
            "rhat_max": _py(cen["rhat_max"].values[k]),
            "ess_bulk_min": _py(cen["ess_bulk_min"].values[k]),
            **({"mass": _py(cen["mass"].values[k]), "mass_sd": _py(cen["mass_sd"].values[k]),
                "mass_method": str(cen["mass_method"].values[k]),
                "chain_share": _py(cen["chain_share"].values[k])} if "mass" in cen else {}),
        })
    out = {"census": {"kind": cen.attrs["kind"], "reason": cen.attrs["reason"],
                      "atlas": cen.attrs.get("atlas")},
           "modes": modes}
    if "optima_left" in cen.attrs:
        out["census"]["started_at"] = [int(j) for j in cen["started_at"].values]
        out["census"]["optima_kept"] = json.loads(cen.attrs["optima_kept"])
        out["census"]["optima_left"] = json.loads(cen.attrs["optima_left"])
    return out


def _atlas(atlas: xr.Dataset | None) -> list:
    """EM's and MAP-EM's optima in one list, with their identifiers (``E0``, ``M0``...)."""
    if atlas is None:
        return []
    cols = ("source", "log_likelihood", "log_posterior", "count", "basin_share", "converged",
            "degenerate", "spurious", "counterpart")
    return [{"id": str(atlas["id"].values[i]),
             **{c: (str(atlas[c].values[i]) if atlas[c].dtype.kind in "USO"
                    else _py(atlas[c].values[i])) for c in cols if c in atlas}}
            for i in range(atlas.sizes["optimum"])]


def _agreement_modes(modes: xr.Dataset | None) -> list:
    """Per-mode agreement rows (each mode's posterior against the optimum it matches)."""
    if modes is None:
        return []
    out = []
    for k in range(modes.sizes["mode"]):
        one = modes.isel(mode=k)
        out.append({"mode": k, "em_optimum": int(one["optimum"]),
                    "n_chains": int(one["n_chains"]), "chain_share": _py(one["chain_share"]),
                    **({"mass": _py(one["mass"]), "mass_sd": _py(one["mass_sd"]),
                        "mass_method": str(one["mass_method"].item())} if "mass" in one else {}),
                    "rows": _rows(one, ("optimum_value", "post_mean", "post_sd", "hdi_low",
                                        "hdi_high", "z", "optimum_in_hdi", "agree"))})
    return out


def _prior_sensitivity(ps: xr.Dataset | None) -> dict | None:
    """Return the posterior sds, sd/SE ratios and agreement under the default and weaker priors."""
    if ps is None:
        return None
    out = {"mode": ps.attrs.get("mode")}
    if "post_sd" not in ps:
        return {**out, "skipped": ps.attrs.get("skipped")}
    names = [str(p) for p in ps["prior"].values]
    b = np.atleast_1d(ps.attrs["b_default"])
    out.update({"change_threshold": _py(ps.attrs["change_threshold"]),
                "k_threshold": _py(ps.attrs["k_threshold"])})
    out["priors"] = [{"name": p, "factor": _py(ps["factor"].values[j]),
                      "b": _py(b / ps["factor"].values[j]),
                      "method": str(ps["method"].values[j]),
                      "reliable": bool(ps["reliable"].values[j]),
                      **{c: _py(ps[c].values[j]) for c in ("pareto_k", "is_ess", "rhat_max",
                                                         "ess_bulk_min")}}
                     for j, p in enumerate(names)]
    cols = [c for c in ("post_sd", "sd_over_se_louis", "sd_over_se_boot", "z", "agree")
            if c in ps]
    out["rows"] = [{"name": str(n), "prior_driven": bool(ps["prior_driven"].values[i]),
                    **{c: dict(zip(names, _py(ps[c].values[i]), strict=True)) for c in cols}}
                   for i, n in enumerate(ps["name"].values)]
    return out


def summarise(tree: xr.DataTree) -> dict:
    """Build the ``summary.json`` dictionary of a comparison (see the module docstring)."""
    data = tree["data"].to_dataset()["x"].values
    one_d = data.ndim == 1
    emg = _group(tree, "em")
    prov = read_attr(tree, "provenance", {})
    out = {
        "dataset": {"name": tree.attrs.get("name"), "n": int(data.shape[0]),
                    "d": 1 if one_d else int(data.shape[1]),
                    "sha256": hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest(),
                    "source": prov.get("source", "")},
        "n_components": int(tree.attrs["n_components"]),
        "structure": str(tree.attrs["structure"]),
        "ordered": bool(tree.attrs.get("ordered", 0)),
        "prior": read_attr(tree, "prior", {}),
        "seed": prov.get("seed"),
        "command": prov.get("command", ""),
        "level": _py(tree.attrs.get("level")),
    }
    em_out = {"log_likelihood": float(emg.attrs["log_likelihood"]),
              "converged": bool(emg.attrs["converged"]), "n_iter": int(emg.attrs["n_iter"]),
              **_params(emg, one_d)}
    opt = _group(tree, "em/optima")
    em_out["optima"] = [
        {"log_likelihood": _py(opt["log_likelihood"].values[j]),
         "count": int(opt["count"].values[j]), "basin_share": _py(opt["basin_share"].values[j]),
         "converged": bool(opt["converged"].values[j]),
         "degenerate": bool(opt["degenerate"].values[j]),
         "spurious": bool(opt["spurious"].values[j]) if "spurious" in opt else None}
        for j in range(opt.sizes["optimum"])]
    se = _group(tree, "em/se")
    em_out["se"] = {}
    if se is not None and "se_louis" in se:
        em_out["se"]["louis"] = _by_param(se, "se_louis")
    if se is not None and "se_boot" in se:
        em_out["se"]["bootstrap"] = _by_param(se, "se_boot")
        if "n_boot" in se.attrs:
            em_out["se"]["bootstrap_failures"] = {
                "n_boot": int(se.attrs["n_boot"]), "n_failed": int(se.attrs["n_failed"]),
                "share": int(se.attrs["n_failed"]) / int(se.attrs["n_boot"]),
                "reasons": json.loads(se.attrs.get("failure_reasons", "{}")),
                "reliable": bool(int(se.attrs.get("boot_reliable", 1)))}
    out["em"] = em_out
    me = _group(tree, "map_em")
    out["atlas"] = _atlas(_group(tree, "comparison/atlas"))
    out["map_em"] = None if me is None else {
        "log_posterior": _py(me.attrs.get("log_posterior")),
        "log_likelihood": _py(me.attrs.get("log_likelihood")), **_params(me, one_d)}
    mp = _group(tree, "map")
    out["map"] = None if mp is None else {"log_density": _py(mp.attrs.get("log_density")),
                                          **_params(mp, one_d)}
    agr = _group(tree, "comparison/agreement")
    diag = _group(tree, "comparison/diagnostics")
    if diag is not None:
        by_mass = "sd_by_mass" in diag and bool(np.isfinite(diag["sd_by_mass"]).any())
        ls = _group(tree, "comparison/label_switching")
        modes = _group(tree, "comparison/modes")
        post_attrs = tree["posterior"].attrs
        out["nuts"] = {
            "mean": _by_param(agr, "post_mean"), "sd": _by_param(agr, "post_sd"),
            "hdi": {p: _py(np.stack([np.asarray(a), np.asarray(b)], axis=-1))
                    for p, a, b in zip(("weights", "means", "sds"),
                                       _by_param(agr, "hdi_low").values(),
                                       _by_param(agr, "hdi_high").values(), strict=True)},
            "hdi_prob": _py(agr.attrs.get("hdi_prob")),
            "rhat_max": _py(np.nanmax(diag["rhat_raw"].values)),
            "rhat_max_relabeled": _py(np.nanmax(diag["rhat_relabeled"].values)),
            "ess_bulk_min": _py(np.nanmin(diag["ess_bulk_relabeled"].values)),
            "divergences": int(diag.attrs.get("divergences", 0)),
            "sd_by_mass": _by_param(diag, "sd_by_mass") if by_mass else None,
            "sd_by_mass_mcse": _by_param(diag, "sd_by_mass_mcse") if by_mass else None,
            "regions": json.loads(diag.attrs.get("regions", "[]")),
            "sampler": str(tree.attrs.get("sampler")),
            "sampler_version": str(post_attrs.get("inference_library_version", "")),
            "init": str(tree.attrs.get("init")),
            "label_switching": {
                "detected": bool(ls.attrs["detected"]), "reason": str(ls.attrs["reason"]),
                "within_chain_rate": _py(ls["switching_rate"]),
                "switch_events": _py(ls["switch_events"]) if "switch_events" in ls else None,
                "outside_main": _py(ls["outside_main"]) if "outside_main" in ls else None,
                "labellings_visited": (_py(ls["labellings_visited"])
                                       if "labellings_visited" in ls else None),
                "n_labellings": _py(ls.attrs.get("n_labellings")),
                "starts_note": ls.attrs.get("starts_note", ""),
                "chain_labelings": _py(ls.attrs["chain_labelings"]),
            },
            "mass_near_em_optima": None if modes is None else {
                **({"mass": _py(modes["mass"]), "mass_sd": _py(modes["mass_sd"]),
                    "method": [str(m) for m in modes["method"].values]}
                   if "mass" in modes else {}),
                "draw_share": _py(modes["share"]),
                "em_best_is_minor_mode": bool(modes.attrs["em_best_is_minor_mode"])},
            **_modes(_group(tree, "comparison/census")),
        }
    else:
        out["nuts"] = None
    out["agreement"] = {
        "rule": agr.attrs.get("rule"),
        "verdict": agr.attrs.get("verdict"),
        "reason": agr.attrs.get("reason"),
        "rows": _rows(agr, ("em", "map_em", "map", "post_mean", "post_sd", "hdi_low",
                            "hdi_high", "z", "mle_in_hdi", "agree", "map_em_minus_map",
                            "map_disagree", "part_prior", "part_asymmetry", "part_modes",
                            "dominant")),
        "modes": _agreement_modes(_group(tree, "comparison/agreement_modes")),
    }
    hid = _group(tree, "comparison/hidden")
    memb = _group(tree, "comparison/membership")
    dens = _group(tree, "comparison/density")
    out["hidden_spread"] = {
        "rows": _rows(hid, ("sd_over_se_louis", "sd_over_se_boot")),
        **({k: _py(memb.attrs[k]) for k in ("n_changed_label", "n_uncertain", "n_uncertain_em")}
           if memb is not None else {}),
        "fraction_em_outside_band": None if dens is None else _py(
            dens.attrs["fraction_em_outside_band"]),
    }
    out["prior_sensitivity"] = _prior_sensitivity(_group(tree, "comparison/prior_sensitivity"))
    out["problems"] = read_attr(tree, "problems", [])
    out["warnings"] = read_attr(tree, "warnings", [])
    out["timings"] = read_attr(tree, "timings", {})
    return out
