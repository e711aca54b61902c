"""Which steps ``show`` prints and ``plot`` draws: at most a limit, evenly spaced, with every
phase boundary, and the regular grid of ``--every``."""

from __future__ import annotations

import itertools

import pytest

from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.cli._sampling import boundaries, every_steps, sample_steps

LINEAR = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)


def test_boundaries_of_every_kind_of_schedule():
    assert boundaries(LINEAR) == [2, 10]
    assert boundaries(schedules.get("constant")) == []
    assert boundaries(schedules.get("inverse_sqrt", num_warmup_steps=4)) == [4]
    wsd = schedules.get("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=3,
                        num_training_steps=20)  # fmt: skip
    assert boundaries(wsd) == [2, 17, 20]
    assert boundaries(schedules.Scale(LINEAR, 3.0)) == [2, 10]
    assert boundaries(schedules.WithWarmup(LINEAR, 5)) == [5, 7, 15]
    join = schedules.Join([LINEAR, schedules.get("constant"), LINEAR], [4, 100])
    assert boundaries(join) == [2, 4, 10, 100, 102, 110]


def test_boundaries_stop_at_the_last_step():
    huge = schedules.WithWarmup(
        schedules.get("linear", num_warmup_steps=MAX_STEPS, num_training_steps=MAX_STEPS), 5
    )
    assert boundaries(huge) == [5]


@pytest.mark.parametrize("count", [1, 2, 7, 1000])
def test_every_step_when_there_are_few_enough(count):
    assert sample_steps(count, 1000, [3]) == list(range(count))


@pytest.mark.parametrize("count", [1001, 10**7, 10**12 + 1, MAX_STEPS + 1])
@pytest.mark.parametrize("limit", [2, 3, 10, 1000])
def test_at_most_the_limit_evenly_spaced_with_the_ends_and_the_boundaries(count, limit):
    ends = [5, count // 3, count - 7]
    steps = sample_steps(count, limit, ends)
    assert len(steps) <= limit and steps == sorted(set(steps))
    assert steps[0] == 0 and steps[-1] == count - 1
    if limit >= 2 + 2 * len(ends):
        assert {4, 5, count // 3 - 1, count // 3, count - 8, count - 7} <= set(steps)
        gaps = [b - a for a, b in itertools.pairwise(steps)]
        assert max(gaps) <= 2 * count / (limit - 2 * len(ends) - 1)  # evenly spread


def test_more_boundaries_than_the_limit_are_themselves_sampled():
    steps = sample_steps(10**6, 10, range(100, 10**6, 100))
    assert len(steps) == 10 and steps[0] == 0 and steps[-1] == 10**6 - 1


def test_every_k_steps_and_the_last():
    assert every_steps(10, 3) == [0, 3, 6, 9]
    assert every_steps(11, 3) == [0, 3, 6, 9, 10]
    assert every_steps(1, 5) == [0]
    assert every_steps(10**12 + 1, 10**11) == [k * 10**11 for k in range(11)]
