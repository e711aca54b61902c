"""Argument checks shared by the TensorFlow classes: each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

__all__ = ["check_int", "check_patterns", "check_real"]


def check_real(
    argument: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Returns ``value`` as a float after checking it is a finite number within the bounds.

    Raises:
        ValueError: naming ``argument`` and ``value`` if it is not a finite real number in
            ``[low, high]`` (``(low, ...`` / ``..., high)`` when ``low_open`` / ``high_open``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{argument} must be a real number, got {value!r}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{argument} must be a finite number in {bounds}, got {value!r}")
    return number


def check_int(argument: str, value: Any, *, low: int = 0) -> int:
    """Returns ``value`` as an int after checking it is an integer >= ``low``.

    Raises:
        ValueError: naming ``argument`` and ``value`` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{argument} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_patterns(argument: str, value: Any) -> list[str] | None:
    """Returns a list of regular-expression strings (or None) after compiling each.

    Raises:
        ValueError: naming ``argument`` if ``value`` is a bare string, not a list of strings,
            or holds an invalid regular expression.
    """
    if value is None:
        return None
    message = f"{argument} must be a list of regular-expression strings, got {value!r}"
    if isinstance(value, str | bytes):
        raise ValueError(message)
    try:
        patterns = list(value)
    except TypeError:
        raise ValueError(message) from None
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ValueError(message)
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{argument} holds an invalid pattern {pattern!r}: {error}") from None
    return patterns
