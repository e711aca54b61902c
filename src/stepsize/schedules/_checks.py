"""Argument checks shared by the schedules: each raises ValueError naming the argument.

The checks return the value normalized to a plain Python ``int`` or ``float`` (NumPy scalars
included), so every schedule's config holds JSON types only.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_choice", "check_non_negative_int", "check_real", "check_schedule"]


def check_non_negative_int(argument: str, value: Any) -> int:
    """Returns ``value`` as an int; ValueError naming ``argument`` unless it is an integer >= 0.

    Example:
        >>> check_non_negative_int("num_warmup_steps", 3)
        3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{argument} must be an integer >= 0, got {value!r}")
    return int(value)


def check_real(
    argument: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> int | float:
    """Returns a finite real ``value`` within the bounds; else ValueError naming ``argument``.

    Args:
        argument: the parameter name used in the message.
        value: the value to check (bools are rejected).
        low: inclusive lower bound, or exclusive with ``low_open``; None for no bound.
        high: inclusive upper bound, or exclusive with ``high_open``; None for no bound.

    Returns:
        ``int(value)`` for integers, else ``float(value)``.

    Example:
        >>> check_real("min_lr_rate", 0.1, low=0.0, high=1.0)
        0.1
    """
    is_real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = is_real and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(
            f"{argument} must be a finite number{_bounds(low, high, low_open, high_open)}, "
            f"got {value!r}"
        )
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def check_choice(argument: str, value: Any, choices: tuple[str, ...]) -> str:
    """Returns ``value`` if it is one of ``choices``; else ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"{argument} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}"
        )
    return value


def check_schedule(argument: str, value: Any) -> Any:
    """Returns ``value`` if it is a ``Schedule``; else TypeError naming ``argument``."""
    from stepsize.schedules._base import Schedule

    if not isinstance(value, Schedule):
        raise TypeError(f"{argument} must be a Schedule, got {value!r}")
    return value
