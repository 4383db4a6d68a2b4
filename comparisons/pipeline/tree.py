"""A comparison as one ``xarray.DataTree``: assembled from the steps' results, read back.

:func:`assemble` turns the steps' results into the groups of the tree (the
layout is documented on :class:`ComparisonResult`);
:func:`mixcompare.comparisons.io.read_attr` is the one reader of the run's
attributes stored as JSON (the prior, problems, warnings, timings, provenance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr
from mixcompare import em
from mixcompare.comparisons.tables import flatten, table

from . import metrics
from .analysis import PosteriorAnalysis
from .atlas import atlas_dataset
from .ellipses import ellipses_dataset
from .fits import (
    BOOT_FAILURE_MAX,
    EMErrors,
    EMFit,
    MapEMFit,
    MapFit,
    NutsFit,
    Setup,
)
from .runlog import RunLog
from .sensitivity import with_ratios
from .verdict import apply_verdict

__all__ = ["ComparisonResult", "assemble", "column_names", "data_about"]


@dataclass(frozen=True)
class ComparisonResult:
    """Everything a comparison produced, in one DataTree.

    Attributes
    ----------
    tree : xarray.DataTree
        Groups: ``data`` (``x``; the column names as coordinate ``column``
        along ``feature``, or attribute ``column`` for 1-D data); ``em``
        (estimates, attributes with the log-likelihood), ``em/optima``,
        ``em/se``, ``em/traces``, ``em/classification``; ``map_em``,
        ``map_em/optima``; ``map``, ``map/starts``; ``posterior``,
        ``posterior_relabeled``, ``sample_stats``, ``init``;
        ``comparison/agreement``, ``comparison/hidden``,
        ``comparison/label_switching``, ``comparison/diagnostics``,
        ``comparison/membership``, ``comparison/density``,
        ``comparison/modes``, ``comparison/census``, ``comparison/prior_sensitivity``
        (:mod:`.sensitivity`), ``comparison/ellipses``
        (two or more features: :func:`.ellipses.ellipses_dataset`). Attributes: the settings,
        and as JSON (:data:`JSON_ATTRS`) the prior, problems, warnings,
        timings and provenance (seed, command, data source). When NUTS ran,
        ArviZ's groups too: ``observed_data``, ``log_likelihood``, ``prior``,
        ``prior_predictive``, ``posterior_predictive`` (:mod:`.arviz_groups`).
    """

    tree: xr.DataTree

    def to_netcdf(self, path) -> None:
        """Write the whole tree to one netCDF file (h5netcdf), atomically, with its checksum."""
        from mixcompare.comparisons.io import write_netcdf_atomic

        write_netcdf_atomic(self.tree, path)

    @classmethod
    def from_netcdf(cls, path) -> ComparisonResult:
        """Read a result written by :meth:`to_netcdf`, verifying its checksum.

        Raises
        ------
        mixcompare.comparisons.io.ResultFileError
            When the file is damaged or its content differs from the SHA-256
            digest stored when it was written
            (:func:`~mixcompare.comparisons.io.read_netcdf_verified`).
        """
        from mixcompare.comparisons.io import read_netcdf_verified

        return cls(read_netcdf_verified(path))

    def summary(self) -> dict:
        """Return the ``summary.json`` contract (:func:`..report.summary_json.summarise`)."""
        from mixcompare.comparisons.report.summary_json import summarise

        return summarise(self.tree)


# --------------------------------------------------------------------------- assembly
def column_names(X: np.ndarray, columns=None) -> tuple[str, ...]:
    """Return the data's column names, one per feature: ``columns``, else ``x`` / ``feature j``.

    Parameters
    ----------
    X : ndarray of shape (n,) or (n, d)
    columns : sequence of str, optional

    Returns
    -------
    tuple of str, length 1 (1-D) or d
    """
    d = 1 if X.ndim == 1 else X.shape[1]
    if columns is None:
        return ("x",) if X.ndim == 1 else tuple(f"feature {j}" for j in range(d))
    names = (columns,) if isinstance(columns, str) else tuple(str(c) for c in columns)
    if len(names) != d:
        raise ValueError(f"columns has {len(names)} name(s) for data with {d} feature(s).")
    return names


def data_about(X: np.ndarray, columns=None, units=None, description: str = "") -> tuple:
    """Return ``(names, units, description)`` of the data, checked (see :func:`column_names`).

    ``units`` has one entry per column, ``""`` where there is none (the default).
    """
    names = column_names(X, columns)
    units = [str(u or "") for u in (units if units is not None else [""] * len(names))]
    if len(units) != len(names):
        raise ValueError(f"units has {len(units)} entries for {len(names)} column(s); give "
                         "one unit per column ('' where there is none).")
    return names, units, str(description)


def _data_group(X: np.ndarray, columns: tuple[str, ...], units: list,
                description: str) -> xr.Dataset:
    """Return the data group: values, column names, and (attributes) units and description."""
    attrs = {"units": json.dumps(units), "description": description}
    if X.ndim == 1:
        return xr.Dataset({"x": ("obs", X)}, attrs={"column": columns[0], **attrs})
    return xr.Dataset({"x": (("obs", "feature"), X)},
                      coords={"column": ("feature", np.array(columns, dtype=str))}, attrs=attrs)


def _em_dataset(res: em.EMResult, order: np.ndarray) -> xr.Dataset:
    """EM-like estimates in the reference component order."""
    ds = res.to_dataset().isel(component=order)
    return ds.assign_coords(component=np.arange(res.n_components))


def _se_table(fit: EMFit, errs: EMErrors | None, K: int, dd) -> xr.Dataset:
    o = fit.order
    cols = {}
    if errs is not None and errs.louis is not None:
        lo = errs.louis
        cols["se_louis"] = flatten(lo.weights[o], lo.means[o], lo.sds[o])
        cols["se_louis_method"] = np.full(len(cols["se_louis"]), lo.method_used == "louis",
                                          dtype=float)
    if errs is not None and errs.bootstrap is not None:
        b, ci = errs.bootstrap, errs.bootstrap_interval
        cols["se_boot"] = flatten(b.weights[o], b.means[o], b.sds[o])
        cols["boot_low"] = flatten(ci.weights[0][o], ci.means[0][o], ci.sds[0][o])
        cols["boot_high"] = flatten(ci.weights[1][o], ci.means[1][o], ci.sds[1][o])
    if not cols:
        return xr.Dataset()
    attrs = {"level": errs.level}
    if errs is not None and errs.bootstrap is not None:
        b = errs.bootstrap
        attrs.update({"n_boot": int(b.n_boot), "n_failed": int(b.n_failed),
                      "failure_reasons": json.dumps(b.failure_counts),
                      "boot_reliable": int(b.n_failed / b.n_boot <= BOOT_FAILURE_MAX),
                      "boot_failure_max": BOOT_FAILURE_MAX})
    return table(K, dd, cols, attrs)


def _em_groups(fit: EMFit, errs: EMErrors | None, map_em: MapEMFit | None,
               map_fit: MapFit | None, one_d: bool, K: int, dd) -> tuple[dict, dict]:
    """Return the EM-side groups and the per-method estimate rows (reference order)."""
    mle = fit.result
    groups = {"em": _em_dataset(mle, fit.order)}
    groups["em"].attrs.update({"log_likelihood": mle.log_likelihood,
                               "converged": int(mle.converged), "n_iter": mle.n_iter})
    groups["em/optima"] = metrics.optima_dataset(mle)
    groups["em/traces"] = metrics.traces_dataset(mle)
    groups["em/se"] = _se_table(fit, errs, K, dd)
    est = {"em": flatten(*fit.estimates().values())}
    if map_em is not None:
        res = map_em.result
        groups["map_em"] = _em_dataset(res, map_em.perm)
        groups["map_em"].attrs.update({"log_posterior": res.log_posterior,
                                       "log_likelihood": res.log_likelihood})
        groups["map_em/optima"] = metrics.optima_dataset(res)
        est["map_em"] = flatten(*map_em.estimates().values())
    if map_fit is not None:
        est["map"] = flatten(*map_fit.estimates(one_d).values())
        groups["map"] = map_fit.tree["posterior"].to_dataset().isel(
            chain=0, draw=0, component=map_fit.perm).assign_coords(component=np.arange(K))
        groups["map"].attrs.update({"log_density": map_fit.tree.attrs["log_density"],
                                    "n_starts": map_fit.tree.attrs["n_starts"],
                                    "n_given": map_fit.tree.attrs.get("n_given", 0)})
        groups["map/starts"] = map_fit.tree["map_starts"].to_dataset()
        at = map_fit.map_em_at
        if at is not None:  # MAP-EM from find_MAP's (higher) mode: the like-for-like row
            groups["map_em/at_map"] = _em_dataset(at.result, at.perm)
            groups["map_em/at_map"].attrs.update({"log_posterior": at.result.log_posterior})
            est["map_em_at_map"] = flatten(*at.estimates().values())
    return groups, est


def assemble(s: Setup, settings: dict, log: RunLog, fit: EMFit, errs: EMErrors | None,
             map_em: MapEMFit | None, map_fit: MapFit | None, nuts: NutsFit | None,
             post: PosteriorAnalysis | None, about: tuple | None = None,
             sensitivity: xr.Dataset | None = None, extra=None) -> ComparisonResult:
    """Put every step's result into one tree, with the agreement and hidden-spread tables.

    ``about`` is :func:`data_about`'s (names, units, description); for d > 1 the
    ellipses of the multivariate figures are computed here from EM's fit and
    the relabelled draws. ``sensitivity``: the prior-sensitivity step's
    dataset (:func:`.sensitivity.prior_sensitivity`), given its sd/SE ratios here.
    ``extra`` holds more groups by name (the ArviZ groups of :mod:`.arviz_groups`).
    """
    spec = s.spec
    K, dd = spec.n_components, None if spec.one_d else spec.n_features
    groups, est = _em_groups(fit, errs, map_em, map_fit, spec.one_d, K, dd)
    groups["em/classification"] = metrics.em_classification(fit.responsibilities)
    groups["comparison/atlas"] = atlas_dataset(
        fit.result, None if map_em is None else map_em.result, s.prior, spec, s.scale)
    summ = None
    if nuts is not None:
        groups["posterior"] = nuts.posterior if post is None else post.raw
        groups["sample_stats"] = nuts.tree["sample_stats"].to_dataset()
        groups["init"] = nuts.tree["init"].to_dataset()
    if post is not None:
        summ = post.summary
        groups["posterior_relabeled"] = post.relabeled
        groups["comparison/label_switching"] = post.switching.dataset
        groups["comparison/diagnostics"] = post.diagnostics
        groups["comparison/membership"] = post.membership
        if post.density is not None:
            groups["comparison/density"] = post.density
        groups["comparison/modes"] = post.modes
        groups["comparison/census"] = post.census
        groups["comparison/agreement_modes"] = post.modes_agreement
    se = groups["em/se"] if groups["em/se"].data_vars else None
    agreement = metrics.agreement(K, dd, est, se, summ)
    groups["comparison/agreement"] = apply_verdict(
        agreement, est, None if post is None else post.census,
        None if post is None else post.diagnostics, None if post is None else post.modes_agreement)
    groups["comparison/hidden"] = metrics.hidden(K, dd, se, summ)
    if sensitivity is not None:
        groups["comparison/prior_sensitivity"] = with_ratios(sensitivity, se, est["em"])
    log.problems.extend(metrics.problems(groups))
    groups["data"] = _data_group(s.X, *(about or data_about(s.X)))
    if s.X.ndim == 2 and s.X.shape[1] > 1:
        groups["comparison/ellipses"] = ellipses_dataset(
            s.X, groups["em"], groups.get("posterior_relabeled"))
    groups |= extra or {}
    tree = xr.DataTree.from_dict({"/" + k: v for k, v in groups.items()})
    tree.attrs.update({
        **settings,
        "n_components": K, "structure": spec.structure,
        "prior": json.dumps(s.prior.to_dict()), "problems": json.dumps(list(log.problems)),
        "warnings": json.dumps(log.unique_warnings()), "timings": json.dumps(log.timings),
    })
    return ComparisonResult(tree)
