"""Argument checks: ValueError naming the argument and the value; normalized results."""

import math

import numpy as np
import pytest

from stepsize import schedules
from stepsize.schedules._checks import (
    check_choice,
    check_non_negative_int,
    check_real,
    check_schedule,
)


def test_non_negative_int():
    assert check_non_negative_int("n", 0) == 0
    assert type(check_non_negative_int("n", np.int64(4))) is int
    for bad in (-1, 1.0, True, None, "2"):
        with pytest.raises(ValueError, match=rf"^n must be an integer >= 0, got {bad!r}$"):
            check_non_negative_int("n", bad)


def test_real_bounds_and_normalization():
    assert check_real("x", 2) == 2 and type(check_real("x", 2)) is int
    assert type(check_real("x", np.float32(0.5))) is float
    assert check_real("x", 0.0, low=0.0) == 0.0
    assert check_real("x", 1.0, low=0.0, high=1.0) == 1.0
    cases = [
        (math.inf, {}, "x must be a finite number, got inf"),
        (math.nan, {}, "x must be a finite number, got nan"),
        (True, {}, "x must be a finite number, got True"),
        ("1", {}, "x must be a finite number, got '1'"),
        (0.0, {"low": 0.0, "low_open": True}, "x must be a finite number > 0.0, got 0.0"),
        (-1, {"low": 0.0}, "x must be a finite number >= 0.0, got -1"),
        (2, {"high": 1.0}, "x must be a finite number <= 1.0, got 2"),
        (1.0, {"high": 1.0, "high_open": True}, "x must be a finite number < 1.0, got 1.0"),
        (1.5, {"low": 0.0, "high": 1.0}, r"x must be a finite number in \[0.0, 1.0\], got 1.5"),
    ]
    for value, bounds, message in cases:
        with pytest.raises(ValueError, match=f"^{message}$"):
            check_real("x", value, **bounds)


def test_choice_and_schedule():
    assert check_choice("kind", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"^kind must be one of 'a', 'b', got 'c'$"):
        check_choice("kind", "c", ("a", "b"))
    s = schedules.get("constant")
    assert check_schedule("schedule", s) is s
    with pytest.raises(TypeError, match=r"^schedule must be a Schedule, got 'constant'$"):
        check_schedule("schedule", "constant")
