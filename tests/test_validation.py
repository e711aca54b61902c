"""The shared argument checks: TypeError for a wrong type, ValueError for a bad value."""

import math

import numpy as np
import pytest

from stepsize._validation import (
    MAX_STEPS,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_optional,
    check_real,
    check_sequence,
    describe,
)

NOT_NUMBERS = ["1e-3", None, True, False, [1.0], {"a": 1}, 1j, object()]


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
def test_real_rejects_non_numbers_with_type_error(value):
    with pytest.raises(TypeError, match=r"^lr must be a real number, got .*\(\w+\)$"):
        check_real("lr", value)


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, 10**400, -(10**400), np.float64("nan")], ids=repr
)
def test_real_rejects_nan_inf_and_huge_with_value_error(value):
    with pytest.raises(ValueError, match=r"^lr must be a finite number, got "):
        check_real("lr", value)


def test_real_allows_inf_only_when_asked_and_never_nan():
    assert check_real("clip", math.inf, low=0.0, low_open=True, allow_inf=True) == math.inf
    with pytest.raises(ValueError, match=r"clip must be a number > 0"):
        check_real("clip", math.nan, low=0.0, low_open=True, allow_inf=True)


@pytest.mark.parametrize(
    ("bounds", "value", "message"),
    [
        ({"low": 0.0}, -1e-3, r"x must be a finite number >= 0.0, got -0.001"),
        ({"low": 0.0, "low_open": True}, 0.0, r"x must be a finite number > 0.0, got 0.0"),
        ({"high": 1.0, "high_open": True}, 1.0, r"x must be a finite number < 1.0, got 1.0"),
        ({"low": 0.0, "high": 1.0}, 1.5, r"x must be a finite number in \[0.0, 1.0\], got 1.5"),
        (
            {"low": 0.0, "high": 1.0, "high_open": True},
            1.0,
            r"x must be a finite number in \[0.0, 1.0\), got 1.0",
        ),
    ],
)
def test_real_bounds(bounds, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_real("x", value, **bounds)


def test_real_normalizes_to_plain_python_types():
    assert type(check_real("x", np.float32(0.5))) is float
    assert type(check_real("x", np.int64(3))) is int
    assert check_real("x", 2) == 2 and type(check_real("x", 2)) is int


@pytest.mark.parametrize("value", [3.0, "3", None, True, np.float64(2.0)], ids=repr)
def test_int_rejects_non_integers_with_type_error(value):
    with pytest.raises(TypeError, match=r"^n must be an integer, got "):
        check_int("n", value)


def test_int_bounds_default_to_max_steps():
    assert check_int("n", MAX_STEPS) == 2**63
    assert type(check_int("n", np.int64(4), low=0)) is int
    with pytest.raises(ValueError, match=r"n must be an integer <= 9223372036854775808"):
        check_int("n", MAX_STEPS + 1)
    with pytest.raises(ValueError, match=r"n must be an integer >= 1, got 0"):
        check_int("n", 0, low=1)
    assert check_int("n", 10**400, high=None) == 10**400


@pytest.mark.parametrize("value", ["no", None, 1, 0, 1.0], ids=repr)
def test_bool_rejects_truthy_values(value):
    with pytest.raises(TypeError, match=r"^flag must be True or False, got "):
        check_bool("flag", value)


def test_bool_accepts_numpy_bools():
    assert check_bool("flag", np.bool_(True)) is True


def test_choice():
    assert check_choice("mode", "max", ("min", "max")) == "max"
    with pytest.raises(ValueError, match=r"mode must be one of 'min', 'max', got 'mid'"):
        check_choice("mode", "mid", ("min", "max"))
    with pytest.raises(TypeError, match=r"mode must be a string, got 1 \(int\)"):
        check_choice("mode", 1, ("min", "max"))


def test_sequence():
    assert check_sequence("betas", [0.9, 0.99], length=2) == (0.9, 0.99)
    for value in ("ab", {"a": 1}, {0.9, 0.99}, 0.9):
        with pytest.raises(TypeError, match=r"betas must be a list or tuple"):
            check_sequence("betas", value, length=2)
    with pytest.raises(ValueError, match=r"betas must hold 2 values, got \(0.9,\)"):
        check_sequence("betas", (0.9,), length=2)


def test_instance_and_optional():
    with pytest.raises(TypeError, match=r"^model must be a torch module, got 3 \(int\)$"):
        check_instance("model", 3, (list,), "a torch module")
    assert check_optional(check_real, "t", None, low=0.0) is None
    assert check_optional(check_real, "t", 2.5, low=0.0) == 2.5


def test_describe_keeps_messages_short_for_any_value():
    assert len(describe("x" * 10_000)) < 100
    assert len(describe(10**400)) < 100
    assert describe(10**5000) == f"<int of {(10**5000).bit_length()} bits>"

    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    assert describe(Broken()).startswith("<Broken instance")


def test_describe_keeps_multi_line_reprs_on_one_line():
    class Matrix:
        def __repr__(self):
            return "matrix([[1, 2],\n        [3, 4]])"

    assert describe(Matrix()) == "matrix([[1, 2], [3, 4]])"
    assert describe("a\nb") == "'a\\nb'"  # a string's repr escapes its newline
