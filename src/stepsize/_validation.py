"""Argument checks shared by every layer: TypeError for a wrong type, ValueError for a bad value.

Schedules, the PyTorch and Keras classes and the command line all check their arguments here,
so one rule holds everywhere: a value of the wrong type (a string, None or a bool where a
number belongs, a number where a bool belongs) raises ``TypeError``; a value of the right type
that is out of range, NaN, infinite or too large raises ``ValueError``. Both messages name the
argument and show the value. Each check returns the value normalized to a plain Python type
(NumPy scalars included), so configs hold JSON types only, and never raises anything else:
no ``OverflowError`` for a huge integer, no comparison with NaN that lets it through.

Example:
    >>> check_real("lr", 1e-3, low=0.0)
    0.001
    >>> check_real("lr", "1e-3", low=0.0)
    Traceback (most recent call last):
    ...
    TypeError: lr must be a real number, got '1e-3' (str)
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = [
    "MAX_STEPS",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_instance",
    "check_int",
    "check_optional",
    "check_real",
    "check_sequence",
    "describe",
]

# The largest step count or step index accepted anywhere: every schedule is finite from 0 to it.
MAX_STEPS = 2**63

_T = TypeVar("_T")
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlong = 40


def describe(value: Any) -> str:
    """A short, always printable ``repr`` of ``value`` for error messages.

    Long strings, huge integers and large containers are shortened, so a message stays one
    readable line whatever the input.

    Example:
        >>> describe(10**100)
        '100000000000000000...0000000000000000000'
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that raises, or an int over Python's digit limit
        if isinstance(value, int):
            return f"<int of {value.bit_length()} bits>"
        return f"<{type(value).__name__} object>"
    # An array's or a tensor's repr spans lines (a string's escapes its newlines).
    return " ".join(text.split()) if "\n" in text else text


def _got(value: Any) -> str:
    return f"got {describe(value)} ({type(value).__name__})"


def check_bool(argument: str, value: Any) -> bool:
    """Returns ``value`` if it is a bool (NumPy's included); else TypeError naming ``argument``.

    Truthiness is not enough: ``"no"``, ``None`` and ``1`` are rejected.

    Example:
        >>> check_bool("correct_bias", True)
        True
    """
    kind = type(value)
    if isinstance(value, bool) or (
        kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")
    ):
        return bool(value)
    raise TypeError(f"{argument} must be True or False, {_got(value)}")


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def _within(
    value: float, low: float | None, high: float | None, low_open: bool, high_open: bool
) -> bool:
    if low is not None and not (value > low if low_open else value >= low):
        return False
    return high is None or (value < high if high_open else value <= high)


def check_int(
    argument: str, value: Any, *, low: int | None = None, high: int | None = MAX_STEPS
) -> int:
    """Returns ``value`` as an int if it is an integer in [low, high].

    Args:
        argument: the parameter name used in the message.
        value: the value to check; bools and floats (even ``3.0``) are not integers.
        low: the least value allowed, or None.
        high: the largest value allowed, or None (default ``MAX_STEPS``, 2**63).

    Raises:
        TypeError: if ``value`` is not an integer.
        ValueError: if it is out of range.

    Example:
        >>> check_int("num_warmup_steps", 3, low=0)
        3
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argument} must be an integer, {_got(value)}")
    number = int(value)
    if low is not None and number < low:
        raise ValueError(f"{argument} must be an integer >= {low}, got {describe(value)}")
    if high is not None and number > high:
        raise ValueError(f"{argument} must be an integer <= {high}, got {describe(value)}")
    return number


def check_real(
    argument: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> int | float:
    """Returns a real ``value`` within the bounds: an ``int`` for integers, else a ``float``.

    Args:
        argument: the parameter name used in the message.
        value: the value to check (bools, strings and None are not numbers).
        low: the lower bound, inclusive, or exclusive with ``low_open``; None for none.
        high: the upper bound, inclusive, or exclusive with ``high_open``; None for none.
        low_open: whether ``low`` itself is excluded.
        high_open: whether ``high`` itself is excluded.
        allow_inf: whether +inf / -inf are values (e.g. "no clipping"); NaN never is.

    Raises:
        TypeError: if ``value`` is not a real number.
        ValueError: if it is NaN, infinite (unless allowed), too large for a float, or out of
            range.

    Example:
        >>> check_real("min_lr_rate", 0.1, low=0.0, high=1.0)
        0.1
        >>> check_real("num_cycles", 2, low=0.0, low_open=True)
        2
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument} must be a real number, {_got(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        number = math.nan
    finite = math.isfinite(number) or (allow_inf and math.isinf(number))
    if not (finite and _within(number, low, high, low_open, high_open)):
        kind = "a number" if allow_inf else "a finite number"
        raise ValueError(
            f"{argument} must be {kind}{_bounds(low, high, low_open, high_open)}, "
            f"got {describe(value)}"
        )
    return int(value) if isinstance(value, numbers.Integral) else number


def check_choice(argument: str, value: Any, choices: Sequence[str]) -> str:
    """Returns ``value`` if it is one of the strings ``choices``.

    Raises:
        TypeError: if ``value`` is not a string.
        ValueError: if it is not one of ``choices`` (the message lists them).

    Example:
        >>> check_choice("mode", "min", ("min", "max"))
        'min'
    """
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a string, {_got(value)}")
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{argument} must be one of {listed}, got {describe(value)}")
    return str(value)


def check_sequence(argument: str, value: Any, length: int | None = None) -> tuple[Any, ...]:
    """Returns ``value`` as a tuple if it is a list or tuple (of ``length`` items, if given).

    Strings, dicts, sets and other iterables are not sequences of arguments.

    Raises:
        TypeError: if ``value`` is not a list or tuple.
        ValueError: if it has the wrong number of items.

    Example:
        >>> check_sequence("betas", [0.9, 0.999], length=2)
        (0.9, 0.999)
    """
    if not isinstance(value, list | tuple):
        raise TypeError(f"{argument} must be a list or tuple, {_got(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{argument} must hold {length} values, got {describe(value)}")
    return tuple(value)


def check_instance(argument: str, value: Any, cls: type | tuple[type, ...], what: str) -> Any:
    """Returns ``value`` if it is an instance of ``cls``; else TypeError saying ``what`` it must be.

    Example:
        >>> check_instance("schedule", 0.5, float, "a float")
        0.5
    """
    if not isinstance(value, cls):
        raise TypeError(f"{argument} must be {what}, {_got(value)}")
    return value


def check_callable(argument: str, value: Any, what: str) -> Any:
    """Returns ``value`` if it is callable; else TypeError saying ``what`` it must be.

    Example:
        >>> check_callable("decay_schedule_fn", abs, "a schedule or callable")
        <built-in function abs>
    """
    if not callable(value):
        raise TypeError(f"{argument} must be {what}, {_got(value)}")
    return value


def check_optional(
    check: Callable[..., _T], argument: str, value: Any, *args: Any, **kwargs: Any
) -> _T | None:
    """``check(argument, value, ...)``, letting None through.

    Example:
        >>> check_optional(check_real, "timescale", None, low=0.0) is None
        True
    """
    if value is None:
        return None
    return check(argument, value, *args, **kwargs)
