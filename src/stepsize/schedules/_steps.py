"""The steps ``Schedule.values`` takes: any array-like of whole numbers in [0, 2**63].

Schedules evaluate in float64, so a step above 2**53 is first rounded to the nearest float64
(a multiple of 2**(e − 52) for a step in [2**e, 2**(e + 1))): neighbouring steps up there may
share a value, and ``s(t)`` and ``s.values([t])`` round ``t`` the same way.

Kept out of ``_base`` so that ``import stepsize`` never imports NumPy: ``values()`` imports this
module on first use.

Example:
    >>> step_array([0, 3]).tolist()
    [0, 3]
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from stepsize._validation import MAX_STEPS, describe

__all__ = ["step_array"]


def step_array(steps: Any) -> np.ndarray:
    """``steps`` as a NumPy array of integers or whole floats, checked to lie in [0, 2**63].

    Raises:
        TypeError: if ``steps`` are not numbers (strings, bools, objects, ragged lists).
        ValueError: if a step is negative, fractional, NaN, infinite or above 2**63 (a list
            of Python ints too large for 64 bits included).
    """
    try:
        array = np.asarray(steps)
    except (TypeError, ValueError, OverflowError):  # ragged lists, objects that refuse
        raise TypeError(
            f"steps must be integers or an array of them, got {_shown(steps)}"
        ) from None
    if array.dtype == object and array.size and all(_is_int(v) for v in array.flat):
        # Python ints that fit no NumPy integer: beyond 2**64, or negative beyond -2**63.
        raise ValueError(f"steps must be integers in [0, {MAX_STEPS}], got {_shown(steps)}")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"steps must be integers, got {_shown(steps)} ({array.dtype})")
    if array.size and not _whole_and_in_range(array):
        raise ValueError(f"steps must be integers in [0, {MAX_STEPS}], got {_shown(steps)}")
    return array


def _shown(steps: Any) -> str:
    # One line: a NumPy array's repr breaks lines.
    return " ".join(describe(steps).split())


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _whole_and_in_range(array: np.ndarray) -> bool:
    if array.dtype.kind == "f" and not (np.all(np.isfinite(array))):
        return False
    if array.min().item() < 0 or array.max().item() > MAX_STEPS:  # compared as Python numbers
        return False
    return array.dtype.kind != "f" or bool(np.all(array == np.floor(array)))
