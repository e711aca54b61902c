"""The steps ``values()`` takes: whole numbers in [0, 2**63]; anything else is a TypeError or a
ValueError naming ``steps``, never NumPy's own error."""

from __future__ import annotations

import numpy as np
import pytest

from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.schedules._steps import step_array

LINEAR = schedules.get("linear", num_warmup_steps=0, num_training_steps=MAX_STEPS)


@pytest.mark.parametrize(
    "steps",
    [[1, [2]], [[1, 2], [3]], [1, "a"], [object()], {"a": 1}, "12", [None], [1j], [True]],
)
def test_what_is_not_an_array_of_numbers_is_a_type_error(steps):
    with pytest.raises(TypeError, match=r"^steps must be integers"):
        LINEAR.values(steps)


@pytest.mark.parametrize(
    "steps",
    [[1, 10**400], [2**64], [-(2**63) - 1], [MAX_STEPS + 1], [2.0**64], [1.5], [np.nan],
     np.array([-1], np.int8), np.array([2**64 - 1], np.uint64)],
)  # fmt: skip
def test_steps_out_of_range_even_beyond_64_bits_are_a_value_error(steps):
    with pytest.raises(ValueError, match=r"^steps must be integers in \[0, 9223372036854775808\]"):
        LINEAR.values(steps)


def test_the_largest_steps_in_every_dtype():
    for steps in ([MAX_STEPS], np.array([MAX_STEPS], np.uint64), [2.0**63],
                  np.array([2**63 - 1], np.int64), np.array([65504.0], np.float16)):  # fmt: skip
        assert step_array(steps).size == 1
    assert LINEAR.values([0, MAX_STEPS]).tolist() == [1.0, 0.0]


def test_values_rounds_steps_above_2_53_as_a_call_does():
    steps = [2**53, 2**53 + 1, 2**62 + 1, MAX_STEPS - 1, MAX_STEPS]
    assert LINEAR.values(steps).tolist() == [LINEAR(t) for t in steps]
    assert LINEAR(2**53 + 1) == LINEAR(2**53)  # the same float64
