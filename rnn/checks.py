"""The rules for values a user passes in, each written once.

The library checks its arguments with these functions. The command line does not check the
same values again: it lets the library raise and prints the message as its one line, so a
rule and its wording live here only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_castable",
    "check_fraction",
    "check_int",
    "check_names",
    "check_non_negative_number",
    "check_positive_number",
    "check_text",
]


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer ≥ ``minimum``.

    Parameters
    ----------
    name : str
        The argument's name, as the message should show it.
    value : object
        What the user gave.
    minimum : int
        The smallest value allowed.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``value`` is not an integer (``bool`` is refused too).
    ValueError
        If ``value`` < ``minimum``.

    Examples
    --------
    >>> check_int("epochs", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be ≥ 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    return int(value)


def check_positive_number(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite real number > 0.

    Parameters
    ----------
    name : str
        The argument's name, as the message should show it.
    value : object
        What the user gave.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``bool`` is refused too).
    ValueError
        If ``value`` is NaN, infinite or ≤ 0.

    Examples
    --------
    >>> check_positive_number("temperature", -1.0)
    Traceback (most recent call last):
    ...
    ValueError: temperature must be finite and > 0, got -1.0
    """
    _check_real(name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return float(value)


def check_non_negative_number(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite real number ≥ 0.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``bool`` is refused too).
    ValueError
        If ``value`` is NaN, infinite or < 0.

    Examples
    --------
    >>> check_non_negative_number("temperature", -1.0)
    Traceback (most recent call last):
    ...
    ValueError: temperature must be finite and ≥ 0, got -1.0
    """
    _check_real(name, value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and ≥ 0, got {value}")
    return float(value)


def check_fraction(name: str, value: Any) -> float:
    """Return ``value`` as a float if it lies in [0, 1): a decay rate or a held-out share.

    Raises
    ------
    TypeError
        If ``value`` is not a real number (``bool`` is refused too).
    ValueError
        If ``value`` is NaN or outside [0, 1).

    Examples
    --------
    >>> check_fraction("val_fraction", 1.0)
    Traceback (most recent call last):
    ...
    ValueError: val_fraction must lie in [0, 1), got 1.0
    """
    _check_real(name, value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return float(value)


def _check_real(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")


def check_text(name: str, value: Any) -> str:
    """Return ``value`` if it is a string of at least one character.

    Raises
    ------
    TypeError
        If ``value`` is not a ``str``.
    ValueError
        If ``value`` is empty.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must hold at least 1 character, got ''")
    return value


def check_castable(name: str, value: Any, dtype: Any) -> None:
    """Refuse an array whose dtype does not cast safely to ``dtype``.

    An array that a computation in ``dtype`` would have to promote (a complex or
    ``longdouble`` array into a float64 model, float64 into float32) would change the
    dtype of every result.

    Raises
    ------
    TypeError
        If ``numpy.can_cast(value.dtype, dtype, "safe")`` is false.

    Examples
    --------
    >>> check_castable("h", np.zeros(2, complex), np.float64)
    Traceback (most recent call last):
    ...
    TypeError: h must have the model's dtype float64 or one that casts to it safely, got complex128
    """
    given = np.asarray(value).dtype
    if not np.can_cast(given, dtype, "safe"):
        raise TypeError(
            f"{name} must have the model's dtype {np.dtype(dtype)} or one that casts to it "
            f"safely, got {given}"
        )


def check_names(given: Iterable[str], expected: Sequence[str]) -> None:
    """Refuse a set of parameter names that is not exactly ``expected``.

    Raises
    ------
    ValueError
        Naming the expected names, the missing ones and the unexpected ones.
    """
    given = set(given)
    missing, extra = set(expected) - given, given - set(expected)
    if missing or extra:
        raise ValueError(
            f"parameters must be exactly {list(expected)}, "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
