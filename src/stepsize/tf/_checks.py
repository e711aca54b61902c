"""Argument checks shared by the TensorFlow classes: each raises ValueError naming the argument."""

from __future__ import annotations

import re
from typing import Any

from stepsize.schedules._checks import check_non_negative_int as check_int
from stepsize.schedules._checks import check_real as _check_real

__all__ = ["check_int", "check_patterns", "check_real"]


def check_real(argument: str, value: Any, **bounds: Any) -> float:
    """``stepsize.schedules``' ``check_real`` (same bounds and messages), returning a float.

    Raises:
        ValueError: naming ``argument`` and ``value`` if it is not a finite real number
            within ``bounds`` (``low``, ``high``, ``low_open``, ``high_open``).
    """
    return float(_check_real(argument, value, **bounds))


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
