"""Writing files safely, and making values storable as JSON or as netCDF attributes.

Every file mixcompare writes goes through :func:`atomic_path`: the content is
written to a hidden temporary file in the target's own folder
(``.<name>.<pid>-<random>.tmp``), flushed to disk with ``fsync``, renamed over
the target with :func:`os.replace` (atomic on POSIX and Windows) and the folder
is ``fsync``-ed so that the rename itself survives a crash. A reader therefore
sees either the old file or the new one, never a partial file; if writing
fails, the temporary file is removed and the target is left as it was. A
temporary file left behind by a killed process matches ``.*.tmp``.

- :func:`write_text_atomic`, :func:`write_bytes_atomic`, :func:`write_json_atomic`,
  :func:`save_figure_atomic`, :func:`write_netcdf_atomic`: the writers;
- :func:`to_jsonable`: numpy scalars and arrays to Python, NaN and infinities to
  None (JSON has no NaN), so that :func:`json.dumps` with ``allow_nan=False``
  never fails on a number;
- :func:`netcdf_safe`: a copy of a ``DataTree`` whose attributes netCDF can store;
- :func:`read_netcdf_verified`: read a tree back, refusing a file whose content no
  longer matches the SHA-256 digest :func:`write_netcdf_atomic` stored in it
  (:func:`tree_digest`), so a flipped bit is never loaded as a result.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["CHECKSUM_ATTR", "JSON_ATTRS", "ResultFileError", "atomic_path", "netcdf_attr",
           "netcdf_safe", "read_attr", "read_netcdf_verified", "save_figure_atomic",
           "to_jsonable", "tree_digest", "write_bytes_atomic", "write_json_atomic",
           "write_netcdf_atomic", "write_text_atomic"]

#: root attribute of a netCDF file holding the SHA-256 digest of its content (:func:`tree_digest`)
CHECKSUM_ATTR = "mixcompare_sha256"


class ResultFileError(ValueError):
    """A netCDF file that cannot be read back as written: unreadable, or its checksum differs."""


# ------------------------------------------------------------------------- atomic writes
def _fsync_dir(path: Path) -> None:
    """Flush a folder's entries (the rename) to disk, where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Give a temporary path to write to; on success it replaces ``path`` durably.

    The temporary file is in the folder of ``path`` (created if needed), so
    the final :func:`os.replace` never crosses file systems. On leaving the
    block normally, the temporary file is ``fsync``-ed, renamed to ``path``
    and the folder is ``fsync``-ed; if the block raises, the temporary file is
    removed and ``path`` is untouched.

    Parameters
    ----------
    path : str or Path
        The file to write.

    Yields
    ------
    Path
        Where to write the content (any writer: ``savefig``, ``to_netcdf``, ...).

    Examples
    --------
    >>> with atomic_path("table.csv") as tmp:  # doctest: +SKIP
    ...     df.to_csv(tmp, index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # the writer may have used its own handle
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write bytes to ``path`` atomically and durably (see :func:`atomic_path`).

    Parameters
    ----------
    path : str or Path
    data : bytes

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        fh.write(data)
    return path


def write_text_atomic(path, text: str) -> Path:
    """Write text to ``path`` as UTF-8, atomically and durably (see :func:`atomic_path`).

    Parameters
    ----------
    path : str or Path
    text : str

    Returns
    -------
    Path
        ``path``.
    """
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path, obj, *, indent: int | None = 1) -> Path:
    """Write ``obj`` as strict JSON, atomically and durably.

    ``obj`` is passed through :func:`to_jsonable` first, so numpy values are
    accepted and NaN or infinities are written as ``null``; the file never
    holds the non-standard tokens ``NaN`` or ``Infinity``.

    Parameters
    ----------
    path : str or Path
    obj : object
        Dicts, lists, tuples, numbers, strings, booleans, None and numpy
        scalars or arrays.
    indent : int or None, default 1
        As in :func:`json.dumps`.

    Returns
    -------
    Path
        ``path``.
    """
    return write_text_atomic(path, json.dumps(to_jsonable(obj), indent=indent, allow_nan=False))


def save_figure_atomic(fig, path, *, dpi: float | None = None, **kwargs) -> Path:
    """Save a matplotlib figure atomically; the format is the suffix of ``path``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        e.g. ``figures/modes.png``.
    dpi : float, optional
        Resolution; matplotlib's ``savefig.dpi`` by default.
    **kwargs
        Passed to :meth:`~matplotlib.figure.Figure.savefig`.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, **kwargs)
    return path


def write_netcdf_atomic(tree: xr.DataTree, path, *, engine: str = "h5netcdf") -> Path:
    """Write a whole ``DataTree`` to one netCDF file atomically, attributes made storable.

    Parameters
    ----------
    tree : xarray.DataTree
        Written as :func:`netcdf_safe` converts it (``tree`` is not modified).
    path : str or Path
    engine : str, default "h5netcdf"

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    safe = netcdf_safe(tree)
    # netcdf_safe's attributes are the ones that read back, and xarray decodes the variables
    # it encodes to the same values, dims and dtypes: the digest of the tree as written is
    # the digest of the file as read (tested on every kind of results tree), with no read-back
    safe.attrs = {**safe.attrs, CHECKSUM_ATTR: tree_digest(safe)}
    with atomic_path(path) as tmp:
        safe.to_netcdf(tmp, engine=engine)
    return path


def _feed(h, value) -> None:
    """Add one value (array, attribute, name) to a hash, independent of its Python type."""
    arr = np.asarray(value)
    if arr.dtype.kind in "OUS":
        h.update(b"s" + json.dumps([str(v) for v in arr.ravel()]).encode())
    else:
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())


def tree_digest(tree: xr.DataTree) -> str:
    """SHA-256 of a tree's content: every node's attributes and variables (names, dims, values).

    Parameters
    ----------
    tree : xarray.DataTree
        Loaded into memory; the root attribute :data:`CHECKSUM_ATTR` is left out.

    Returns
    -------
    str
        The hexadecimal digest.
    """
    h = hashlib.sha256()
    for node in sorted(tree.subtree, key=lambda n: n.path):
        h.update(f"node {node.path}".encode())
        for key in sorted(k for k in node.attrs if k != CHECKSUM_ATTR):
            h.update(f"attr {key}".encode())
            _feed(h, node.attrs[key])
        for name, var in sorted(node.to_dataset(inherit=False).variables.items()):
            h.update(f"var {name} {var.dims}".encode())
            for key in sorted(var.attrs):
                h.update(f"attr {key}".encode())
                _feed(h, var.attrs[key])
            _feed(h, var.values)
    return h.hexdigest()


def read_netcdf_verified(path, *, engine: str = "h5netcdf") -> xr.DataTree:
    """Read a tree written by :func:`write_netcdf_atomic`, checking its SHA-256 digest.

    Parameters
    ----------
    path : str or Path
    engine : str, default "h5netcdf"

    Returns
    -------
    xarray.DataTree
        Loaded into memory, without the digest attribute.

    Raises
    ------
    ResultFileError
        When the file cannot be read as netCDF (truncated, damaged, not
        netCDF), or its content differs from the digest stored when it was
        written (a flipped bit, an edit). A file without a digest (written
        by another program, or before digests were stored) is read with a
        warning that it could not be verified.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{path} does not exist or is not a file.")
    try:
        with xr.open_datatree(path, engine=engine) as opened:
            tree = opened.load()
    except Exception as err:  # noqa: BLE001 - h5py/netCDF raise many types on damaged files
        raise ResultFileError(
            f"{path} cannot be read as netCDF ({type(err).__name__}: {err}); the file is "
            "damaged or not a results file: write it again.") from None
    stored = tree.attrs.pop(CHECKSUM_ATTR, None)
    if stored is None:
        warnings.warn(f"{path} has no checksum ({CHECKSUM_ATTR}); its content cannot be "
                      "verified.", UserWarning, stacklevel=2)
    elif tree_digest(tree) != str(stored):
        raise ResultFileError(
            f"{path} does not match the checksum stored when it was written (SHA-256 in its "
            f"attribute {CHECKSUM_ATTR}): the file was changed or damaged; write it again.")
    return tree


# --------------------------------------------------------------------------------- JSON
def to_jsonable(obj):
    """Convert a value to plain JSON types, recursively.

    Parameters
    ----------
    obj : object
        Dicts (keys become strings), lists and tuples (become lists), numpy
        arrays and xarray ``DataArray``/``Variable`` (nested lists; a 0-d
        array becomes a scalar), numpy booleans, integers and floats, and
        anything else JSON accepts as it is (strings, ints, None).

    Returns
    -------
    object
        The same structure with Python ``bool``/``int``/``float`` only, and
        ``None`` for every NaN or infinity (JSON has neither).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, xr.DataArray | xr.Variable):
        obj = obj.values
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())  # a 0-d array gives its scalar
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


# ------------------------------------------------------------------------------- netCDF
def netcdf_attr(v):
    """Convert one attribute to a value netCDF can store.

    Booleans (also in lists and boolean arrays) become integers, None and
    empty lists become ``""``, dicts become JSON text, lists of numbers stay
    lists and any other list becomes a list of strings; everything else is
    returned as it is. netCDF attributes are one-dimensional and a
    one-element attribute reads back as a scalar, so arrays are flattened and
    one-element lists and arrays become their element: the value returned is
    the one that reads back (which lets :func:`write_netcdf_atomic` digest
    the tree before writing it).

    Parameters
    ----------
    v : object

    Returns
    -------
    object
    """
    if isinstance(v, bool | np.bool_):
        return int(v)
    if v is None:
        return ""
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    if isinstance(v, list | tuple):
        if len(v) == 0:
            return ""
        if all(isinstance(x, bool | np.bool_) for x in v):
            return _one_or_all([int(x) for x in v])
        if all(isinstance(x, int | float | np.integer | np.floating) for x in v):
            return _one_or_all(list(v))
        return _one_or_all([str(x) for x in v])
    if isinstance(v, np.ndarray):
        if v.size == 0:
            return ""
        return _one_or_all(np.ravel(v.astype(int) if v.dtype == bool else v))
    return v


def _one_or_all(values):
    """Return a one-element list or array as its element (netCDF reads it back as a scalar)."""
    return values[0] if len(values) == 1 else values


def netcdf_safe(tree: xr.DataTree) -> xr.DataTree:
    """Copy a tree with every attribute (of nodes and variables) made storable by netCDF.

    Parameters
    ----------
    tree : xarray.DataTree
        Not modified.

    Returns
    -------
    xarray.DataTree
        A shallow copy (the data are shared) whose attributes went through
        :func:`netcdf_attr`.
    """
    out = tree.copy()
    for node in out.subtree:
        node.attrs = {k: netcdf_attr(v) for k, v in node.attrs.items()}
        for var in node.variables.values():
            var.attrs = {k: netcdf_attr(v) for k, v in var.attrs.items()}
    return out


#: tree attributes a comparison stores as JSON text (netCDF attributes cannot hold mappings)
JSON_ATTRS = ("prior", "problems", "warnings", "timings", "provenance")


def read_attr(tree, key: str, default=None):
    """Return a tree attribute, decoding the ones stored as JSON; ``default`` when absent."""
    raw = tree.attrs.get(key)
    if raw is None or (isinstance(raw, str) and raw == ""):
        return default
    if key in JSON_ATTRS and isinstance(raw, str):
        return json.loads(raw)
    return raw
