"""Every schedule is finite, >= 0 and within its ``upper_bound`` at every step from 0 to 2**63,
for every parameter it accepts; what it cannot honour it refuses when it is built."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.schedule_space import LARGEST_FLOAT, any_schedule, probe_steps
from cases.schedules import close
from stepsize import schedules
from stepsize._validation import MAX_STEPS

EXTREME_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
_STRICT = {"divide": "raise", "over": "raise", "invalid": "raise"}  # underflow to 0 is fine


def _check_everywhere(schedule: schedules.Schedule, extra: list[int]) -> None:
    steps = sorted({*probe_steps(schedule), *extra})
    with warnings.catch_warnings(), np.errstate(**_STRICT):
        warnings.simplefilter("error")
        vector = schedule.values(np.array(steps, dtype=np.uint64))
        scalar = [schedule(t) for t in steps]
    bound = schedule.upper_bound
    for step, v, s in zip(steps, vector.tolist(), scalar, strict=True):
        assert math.isfinite(s) and 0.0 <= s <= bound, (step, s, bound)
        assert close(v, s, 1e-13), (step, v, s)


@EXTREME_SETTINGS
@given(schedule=any_schedule(), extra=st.lists(st.integers(0, MAX_STEPS), max_size=8))
def test_finite_and_within_the_bound_at_every_step(schedule, extra):
    _check_everywhere(schedule, extra)


# ---- the examples of each class (regressions) -------------------------------------------------


def test_cosine_with_a_huge_num_cycles_is_finite_in_warmup_and_decay():
    s = schedules.get("cosine", num_warmup_steps=10, num_training_steps=100, num_cycles=1e308)
    assert s(5) == 0.5  # "math domain error" before: cos(-inf) in the decay branch
    _check_everywhere(s, [])


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("cosine_with_restarts", {"num_cycles": 1e308}),  # floor(-inf): OverflowError before
        ("cosine_with_min_lr", {"num_cycles": LARGEST_FLOAT, "min_lr_rate": 0.1}),
        ("cosine_warmup_with_min_lr", {"num_cycles": 1e308, "min_lr_rate": 0.5}),
        ("cosine", {"num_cycles": 10**300}),
    ],
)
def test_every_cosine_takes_any_finite_num_cycles(name, kwargs):
    for warmup, total in [(10, 100), (0, MAX_STEPS), (MAX_STEPS, MAX_STEPS)]:
        s = schedules.get(name, num_warmup_steps=warmup, num_training_steps=total, **kwargs)
        _check_everywhere(s, [5, 50])


@pytest.mark.parametrize("decay_type", ["cosine", "linear", "1-sqrt"])
@pytest.mark.parametrize("warmup_type", ["cosine", "linear", "1-sqrt"])
def test_warmup_stable_decay_with_huge_phases(warmup_type, decay_type):
    for steps in [{"num_stable_steps": MAX_STEPS}, {"num_training_steps": MAX_STEPS}]:
        s = schedules.get("warmup_stable_decay", num_warmup_steps=2**62, num_decay_steps=2**62,
                          warmup_type=warmup_type, decay_type=decay_type, num_cycles=1e308,
                          **steps)  # fmt: skip
        _check_everywhere(s, [2**61, 3 * 2**61])  # phases beyond 2**63 are never reached


@pytest.mark.parametrize("value", [10**400, -(10**400), 2**1024])
@pytest.mark.parametrize("argument", ["num_warmup_steps", "num_training_steps", "num_cycles"])
def test_huge_integers_are_a_value_error_not_an_overflow(argument, value):
    kwargs = {"num_warmup_steps": 2, "num_training_steps": 10, argument: value}
    with pytest.raises(ValueError, match=f"^{argument} must be"):
        schedules.get("cosine", **kwargs)


def test_step_counts_beyond_2_63_are_refused_not_accepted_and_failing_later():
    message = f"num_training_steps must be an integer <= {MAX_STEPS}, got "
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        schedules.Linear(num_warmup_steps=0, num_training_steps=2**1024)
    s = schedules.Linear(num_warmup_steps=0, num_training_steps=MAX_STEPS)
    assert s(MAX_STEPS) == 0.0 and s(0) == 1.0


def test_a_scale_whose_bound_overflows_is_refused():
    once = schedules.Scale(schedules.get("constant"), 1e308)
    assert once.upper_bound == 1e308 and once(7) == 1e308
    message = "value times the schedule's upper bound must be a finite number, got 10 × 1e+308"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        schedules.Scale(once, 10)
    assert schedules.Scale(once, 1.5).upper_bound == 1.5e308
    assert schedules.Scale(once, 0).upper_bound == 0.0


def test_upper_bounds_of_compositions():
    linear = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
    assert linear.upper_bound == 1.0
    assert schedules.Scale(linear, 3e-4).upper_bound == 3e-4
    assert schedules.WithWarmup(linear, 3, init_value=2.0).upper_bound == 2.0
    assert schedules.WithWarmup(linear, 3, peak_value=5.0).upper_bound == 5.0
    join = schedules.Join([schedules.Scale(linear, 4.0), linear], [3])
    assert join.upper_bound == 4.0
    big = schedules.WithWarmup(schedules.get("constant"), 5, LARGEST_FLOAT, 1e308)
    assert all(math.isfinite(big(t)) for t in range(7))
    with pytest.raises(ValueError, match=r"^value times"):
        schedules.Scale(big, 2)


def test_a_schedule_of_unknown_bound_is_scaled_unchecked():
    class Doubling(schedules.Schedule):
        def formula(self, step, xp):
            return 2.0 + 0.0 * step

    assert Doubling().upper_bound == math.inf
    assert schedules.Scale(Doubling(), 1e300)(3) == 2e300


def test_polynomial_is_accurate_for_a_subnormal_or_huge_lr_init():
    tiny = schedules.get("polynomial", num_warmup_steps=0, num_training_steps=10,
                         lr_init=5e-324, lr_end=0.0)  # fmt: skip
    assert tiny(1) == pytest.approx(0.9) and tiny(10) == 0.0  # 1.0 before: (a · 0.9) / a
    huge = schedules.get("polynomial", num_warmup_steps=0, num_training_steps=10,
                         lr_init=LARGEST_FLOAT, lr_end=1e308, power=1e308)  # fmt: skip
    _check_everywhere(huge, [])


def test_inverse_sqrt_with_a_subnormal_timescale_does_not_overflow():
    s = schedules.get("inverse_sqrt", num_warmup_steps=5, timescale=5e-324)
    assert s(5) == 1.0 and s(6) == pytest.approx(math.sqrt(5e-324))  # 0 by overflow before
    _check_everywhere(s, [])


def test_untaken_branches_do_not_overflow():
    # WithWarmup's ramp at steps far past the warmup, with a peak near the float range.
    s = schedules.WithWarmup(schedules.get("constant"), 1, 0.0, LARGEST_FLOAT)
    with np.errstate(**_STRICT):
        assert s.values([0, MAX_STEPS]).tolist() == [0.0, 1.0]


def test_steps_above_2_53_are_rounded_to_float64_the_same_way_in_both_paths():
    # W = 2**63 - 1 and T = 2**63 are the same float64; s(t) compared t with the exact int.
    s = schedules.get("polynomial", num_warmup_steps=MAX_STEPS - 1, num_training_steps=MAX_STEPS,
                      lr_end=0.0)  # fmt: skip
    steps = [MAX_STEPS - 2, MAX_STEPS - 1, MAX_STEPS]
    assert s.values(np.array(steps, dtype=np.uint64)).tolist() == [s(t) for t in steps]
    assert float(MAX_STEPS - 1) == float(MAX_STEPS) and s(MAX_STEPS - 1) == s(MAX_STEPS)
