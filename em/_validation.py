"""Input validation shared by every entry point of mixcompare.

``validate_data`` is the one function that turns user input into the
float64 arrays the kernels expect; ``em``, ``models`` and ``comparisons``
all call it so that the same input is refused with the same message
everywhere.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["SPREAD_LIMITS", "check_n_components", "check_positive_int", "check_rng",
           "check_spread", "validate_data"]

#: the data's standard deviation (the root mean variance of the features) must lie within
#: these bounds for a fit, so that every variance (and its floor) stays far from the limits of
#: float64 (about 1e-308 to 1e308); near them, variances overflow or underflow
SPREAD_LIMITS = (1e-100, 1e100)


def _refuse_masked(X, name: str) -> np.ndarray:
    """Refuse a masked array with masked values; return its data when nothing is masked."""
    mask = np.ma.getmaskarray(X)
    if mask.any():
        rows = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1)) if mask.ndim else []
        drop = ("X[~np.ma.getmaskarray(X).any(axis=1)].data" if mask.ndim == 2
                else "X.compressed()")
        raise ValueError(
            f"{name} is a masked array with masked values in {len(rows)} row(s) (0-based: "
            f"{_rows(np.asarray(rows))}); mixcompare does not skip masked values: drop those "
            f"rows first, e.g. with {drop}."
        )
    return np.ma.getdata(X)


def _to_array(X, name: str = "X") -> np.ndarray:
    """Convert lists, pandas objects and arrays to an ndarray without copying twice."""
    if isinstance(X, np.ma.MaskedArray):
        return _refuse_masked(X, name)
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # pandas Series/DataFrame
        try:
            X = X.to_numpy()
        except (TypeError, ValueError) as err:
            raise TypeError(f"could not convert the data to a numeric array ({err}).") from err
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"data could not be read as a rectangular numeric array ({err}); pass a 1-D "
            "sequence of numbers or a 2-D array of shape (n_samples, n_features)."
        ) from err
    return arr


def validate_data(X, *, n_components: int | None = None, name: str = "X",
                  min_samples: int = 2) -> np.ndarray:
    """Check data and return it as a float64 array.

    Parameters
    ----------
    X : array_like of shape (n_samples,) or (n_samples, n_features)
        Observations. Lists, integer and float32 arrays, pandas Series and
        DataFrames are accepted and converted to float64; a masked array only
        when no value is masked (masks are never silently ignored).
    n_components : int, optional
        When given, the data must have more observations than components.
    name : str, default "X"
        Name used in error messages.
    min_samples : int, default 2
        Fewest observations accepted: two for a fit, one for predictions.

    Returns
    -------
    ndarray of shape (n_samples,) or (n_samples, n_features)
        A C-contiguous float64 copy-if-needed of the data; the number of
        dimensions of the input is kept (1-D stays 1-D).

    Raises
    ------
    TypeError
        Strings, complex numbers or objects that are not numbers.
    ValueError
        Empty data, a single observation, arrays with more than two
        dimensions, NaN or infinite values (the rows are named), masked
        values (the rows are named, and how to drop them), or fewer
        observations than components.
    """
    arr = _to_array(X, name)
    if arr.dtype.kind in "USO":
        # object arrays may still be numbers (e.g. pandas with None); text never is,
        # even when it parses as a number ("1.5")
        try:
            if arr.dtype.kind in "US" or any(isinstance(v, (str, bytes)) for v in arr.flat):
                raise TypeError
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} contains non-numeric values (dtype {arr.dtype}); convert text columns "
                "to numbers or drop them before fitting."
            ) from None
    if arr.dtype.kind == "c":
        raise TypeError(
            f"{name} is complex-valued; Gaussian mixtures here are for real data: pass the "
            "real part (np.real) or stack real and imaginary parts as two features."
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} has unsupported dtype {arr.dtype}; pass numbers.")
    if arr.ndim == 0:
        raise ValueError(f"{name} is a single number; pass an array of observations.")
    if arr.ndim > 2:
        raise ValueError(
            f"{name} has {arr.ndim} dimensions (shape {arr.shape}); pass shape (n_samples,) "
            "or (n_samples, n_features), e.g. reshape with X.reshape(len(X), -1)."
        )
    if arr.shape[0] == 0 or (arr.ndim == 2 and arr.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least two observations.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.reshape(arr.shape[0], -1).all(axis=1))
        has_nan = np.isnan(arr).any()
        kind = "NaN" if has_nan and not np.isinf(arr).any() else (
            "infinite" if not has_nan else "NaN or infinite")
        raise ValueError(
            f"{name} has {kind} values in {bad_rows.size} row(s) (0-based: {_rows(bad_rows)}); "
            "drop or impute those rows before fitting — mixcompare never imputes silently."
        )
    n = arr.shape[0]
    if n < min_samples:
        raise ValueError(f"{name} has a single observation; a mixture needs at least two.")
    if n_components is not None and n < n_components:
        raise ValueError(
            f"{name} has {n} observations but n_components={n_components}; use at most "
            f"{n} components (and far fewer for a meaningful fit)."
        )
    return arr


def _rows(rows: np.ndarray) -> str:
    shown = ", ".join(str(i) for i in rows[:10])
    return shown + (f" and {rows.size - 10} more" if rows.size > 10 else "")


def check_spread(X: np.ndarray, name: str = "X", lines=None) -> None:
    """Refuse data whose spread makes their variances overflow or underflow float64.

    The spread is the root mean variance of the features (the scale EM
    works in), computed without overflow for any finite values. Data whose
    spread lies outside :data:`SPREAD_LIMITS` are refused; when the spread is
    too large, the rows far from the median (``|x - median| > 1e99`` in some
    feature) are named: typically a few wild values, such as codes for
    missing values (``-9.99e307``), in otherwise ordinary data. Identical
    observations (spread 0) pass: the fit refuses them with its own message.

    Parameters
    ----------
    X : ndarray of shape (n_samples,) or (n_samples, n_features)
        Validated by :func:`validate_data`.
    name : str, default "X"
    lines : sequence of int, optional
        The file line of each row, to name the rows by (default: 0-based row
        numbers).

    Raises
    ------
    ValueError
        Naming the spread, the rows at fault and the fix.
    """
    X2 = X.reshape(X.shape[0], -1)
    top = float(np.abs(X2).max())
    if top == 0:
        return
    Y = X2 / top
    spread = float(np.sqrt(np.mean(Y.var(axis=0)))) * top
    low, high = SPREAD_LIMITS
    if spread == 0 or low <= spread <= high:
        return
    if spread > high:
        far = np.abs(Y - np.median(Y, axis=0)) * top > high / 10
        rows = np.flatnonzero(far.any(axis=1))
        where = ("0-based: " + _rows(rows) if lines is None
                 else "file line(s) " + _rows(np.asarray(lines)[rows]))
        raise ValueError(
            f"{name} has a standard deviation of {spread:.3g}; mixcompare fits data whose "
            f"standard deviation lies between {low:.0e} and {high:.0e}, so that every variance "
            "stays far from the limits of float64 (about 1e308). "
            f"{rows.size} row(s) lie further than {high / 10:.0e} from the median "
            f"({where}); if they are errors or codes for missing "
            "values, drop them; if all the data are on this scale, divide them by a constant "
            "(a fit is equivariant under x -> a x + b)."
        )
    raise ValueError(
        f"{name} has a standard deviation of {spread:.3g}; mixcompare fits data whose "
        f"standard deviation lies between {low:.0e} and {high:.0e}, so that every variance "
        "stays far from the limits of float64 (about 1e-308); multiply the data by a constant, "
        "e.g. "
        f"{10.0 ** -np.floor(np.log10(spread)):.0e} (a fit is equivariant under x -> a x + b)."
    )


#: the largest count accepted (a 32-bit signed integer): numpy, PyTensor and the samplers
#: convert counts to C integers, and a larger number of restarts, draws or samples is a typo
MAX_COUNT = 2**31 - 1


def check_positive_int(value, name: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """Return ``value`` as an int; refuse booleans, fractions and values out of bounds.

    Parameters
    ----------
    value : int
    name : str
        Named in the message.
    minimum, maximum : int
        Bounds (``maximum`` defaults to :data:`MAX_COUNT`).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if (not isinstance(value, bool) and isinstance(value, numbers.Real)
                and float(value).is_integer()):
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}.")
    return value


def check_n_components(n_components) -> int:
    """Validate the number of components (a positive integer)."""
    return check_positive_int(n_components, "n_components", minimum=1)


def check_rng(rng) -> np.random.Generator:
    """Normalise ``rng`` once: a non-negative int seed, a ``numpy.random.Generator`` or None.

    A ``numpy.random.SeedSequence`` or ``BitGenerator`` is accepted as
    :func:`numpy.random.default_rng` accepts it; anything else is refused
    with a message naming ``rng`` (not numpy's).
    """
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            "rng must be an int, a numpy.random.Generator or None; legacy RandomState is not "
            "supported (use np.random.default_rng(seed))."
        )
    if isinstance(rng, bool) or not (
            rng is None or isinstance(rng, (numbers.Integral, np.random.Generator,
                                            np.random.SeedSequence, np.random.BitGenerator))):
        raise TypeError(f"rng must be None, a non-negative integer seed or a "
                        f"numpy.random.Generator, got {rng!r}.")
    if isinstance(rng, numbers.Integral) and rng < 0:
        raise ValueError(f"the seed (rng) must be a non-negative integer, got {rng}.")
    return np.random.default_rng(rng)
