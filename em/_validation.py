"""Input validation shared by every entry point of mixcompare.

``validate_data`` is the one function that turns user input into the
float64 arrays the kernels expect; ``em``, ``models`` and ``comparisons``
all call it so that the same input is refused with the same message
everywhere.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["validate_data", "check_n_components", "check_rng", "check_positive_int"]


def _to_array(X) -> np.ndarray:
    """Convert lists, pandas objects and arrays to an ndarray without copying twice."""
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


def validate_data(X, *, n_components: int | None = None, name: str = "X") -> np.ndarray:
    """Check data and return it as a float64 array.

    Parameters
    ----------
    X : array_like of shape (n_samples,) or (n_samples, n_features)
        Observations. Lists, integer and float32 arrays, pandas Series and
        DataFrames are accepted and converted to float64.
    n_components : int, optional
        When given, the data must have more observations than components.
    name : str, default "X"
        Name used in error messages.

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
        dimensions, NaN or infinite values (the rows are named), or fewer
        observations than components.
    """
    arr = _to_array(X)
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
        shown = ", ".join(str(i) for i in bad_rows[:10])
        more = f" and {bad_rows.size - 10} more" if bad_rows.size > 10 else ""
        raise ValueError(
            f"{name} has {kind} values in {bad_rows.size} row(s) (0-based: {shown}{more}); "
            "drop or impute those rows before fitting — mixcompare never imputes silently."
        )
    n = arr.shape[0]
    if n < 2:
        raise ValueError(f"{name} has a single observation; a mixture needs at least two.")
    if n_components is not None and n < n_components:
        raise ValueError(
            f"{name} has {n} observations but n_components={n_components}; use at most "
            f"{n} components (and far fewer for a meaningful fit)."
        )
    return arr


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int; refuse booleans, fractions and values below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if (not isinstance(value, bool) and isinstance(value, numbers.Real)
                and float(value).is_integer()):
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return value


def check_n_components(n_components) -> int:
    """Validate the number of components (a positive integer)."""
    return check_positive_int(n_components, "n_components", minimum=1)


def check_rng(rng) -> np.random.Generator:
    """Normalise ``rng`` once: an int seed, a ``numpy.random.Generator`` or None."""
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            "rng must be an int, a numpy.random.Generator or None; legacy RandomState is not "
            "supported (use np.random.default_rng(seed))."
        )
    return np.random.default_rng(rng)
