"""Checks of a study configuration's values: each failure names the key and the fix."""

from __future__ import annotations

import math

__all__ = ["ConfigError", "as_float", "as_int", "as_list", "choice", "choices", "fail", "table",
           "truth_or_float"]


class ConfigError(ValueError):
    """A study configuration that cannot run; the message names the key and the fix."""


def fail(key: str, problem: str, fix: str):
    """Raise a :class:`ConfigError` naming the key, the problem and the fix."""
    raise ConfigError(f"{key}: {problem}; {fix}.")


def table(doc: dict, name: str, keys: tuple) -> dict:
    """Return the table ``[name]`` of ``doc`` (empty if absent), refusing unknown keys."""
    t = doc.get(name, {})
    if not isinstance(t, dict):
        fail(name, f"must be a table [{name}], got {type(t).__name__}",
              f"write it as a [{name}] section")
    unknown = sorted(set(t) - set(keys))
    if unknown:
        fail(f"{name}.{unknown[0]}", "unknown key",
             f"the keys of [{name}] are {', '.join(keys)} (check the spelling)")
    return t


def as_int(v, key: str, minimum: int) -> int:
    """Return ``v`` as an int ``>= minimum`` or fail naming ``key``."""
    if isinstance(v, bool) or not isinstance(v, int):
        fail(key, f"must be an integer, got {v!r}", f"write e.g. {key.split('.')[-1]} = {minimum}")
    if v < minimum:
        fail(key, f"must be at least {minimum}, got {v}", f"use a value >= {minimum}")
    return int(v)


def as_float(v, key: str, *, low: float | None = None, high: float | None = None,
           example: str = "1.0") -> float:
    """Return ``v`` as a finite float in ``(low, high)`` or fail naming ``key``."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        fail(key, f"must be a finite number, got {v!r}", f"write e.g. {example}")
    if (low is not None and v <= low) or (high is not None and v >= high):
        rng = " and ".join(s for s in (f"> {low:g}" if low is not None else "",
                                        f"< {high:g}" if high is not None else "") if s)
        fail(key, f"must be {rng}, got {v!r}", f"use a value {rng}")
    return float(v)


def as_list(v, key: str, example: str) -> list:
    """Return ``v`` if it is a non-empty list, else fail naming ``key``."""
    if not isinstance(v, list) or not v:
        fail(key, f"must be a non-empty list, got {v!r}", f"write e.g. {key.split('.')[-1]} = "
              f"{example}")
    return v


def choices(v, key: str, allowed: tuple, example: str) -> tuple:
    """Return ``v`` as a tuple of distinct entries of ``allowed``, or fail naming ``key``."""
    v = as_list(v, key, example)
    for item in v:
        if item not in allowed:
            fail(key, f"unknown entry {item!r}", f"choose among {', '.join(allowed)}")
    if len(set(v)) != len(v):
        fail(key, f"has duplicate entries {v!r}", "list each entry once")
    return tuple(v)


def choice(v, key: str, allowed: tuple) -> str:
    """Return ``v`` if it is one of ``allowed``, else fail naming ``key``."""
    if v not in allowed:
        fail(key, f"must be one of {', '.join(allowed)}, got {v!r}",
              f"write e.g. {key.split('.')[-1]} = \"{allowed[0]}\"")
    return v


def truth_or_float(v, key: str, **kw) -> float | None:
    """Return None for ``"truth"``, else ``v`` checked by :func:`as_float`."""
    if v == "truth":
        return None
    return as_float(v, key, **kw)
