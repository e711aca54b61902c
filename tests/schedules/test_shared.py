"""The helpers every schedule module shares: checks, warmup ramp, decay progress."""

import numpy as np
import pytest

from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.schedules._shared import (
    check_schedule,
    check_steps,
    cosine_progress,
    linear_warmup,
    ones_like,
)


class _Fields:
    num_warmup_steps = np.int64(3)
    num_training_steps = 10
    num_decay_steps = 2
    num_stable_steps = None


def test_check_steps_normalizes_the_default_and_the_named_counts():
    assert check_steps(_Fields()) == {"num_warmup_steps": 3, "num_training_steps": 10}
    assert type(check_steps(_Fields())["num_warmup_steps"]) is int
    counts = check_steps(_Fields(), "num_decay_steps", optional=("num_stable_steps",))
    assert counts == {"num_decay_steps": 2, "num_stable_steps": None}


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (2.0, TypeError, "num_training_steps must be an integer, got 2.0 (float)"),
        (None, TypeError, "num_training_steps must be an integer, got None (NoneType)"),
        (-1, ValueError, "num_training_steps must be an integer >= 0, got -1"),
        (MAX_STEPS + 1, ValueError, f"num_training_steps must be an integer <= {MAX_STEPS}"),
    ],
)
def test_check_steps_errors_name_the_count(value, error, message):
    fields = _Fields()
    fields.num_training_steps = value
    with pytest.raises(error) as info:
        check_steps(fields)
    assert str(info.value).startswith(message)


def test_check_schedule():
    s = schedules.get("constant")
    assert check_schedule("schedule", s) is s
    with pytest.raises(TypeError, match=r"^schedule must be a Schedule, got 'constant' \(str\)$"):
        check_schedule("schedule", "constant")


def test_linear_warmup_is_transformers_ramp():
    assert [linear_warmup(t, 4) for t in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert linear_warmup(0, 0) == 0.0  # max(1, W): no division by zero


def test_cosine_progress_runs_from_the_warmup_to_the_end():
    assert [cosine_progress(t, 2, 10) for t in (2, 6, 10)] == [0.0, 0.5, 1.0]
    assert cosine_progress(3, 3, 3) == 0.0  # max(1, T - W): no division by zero


def test_ones_like_keeps_the_shape():
    assert ones_like(7.0) == 1.0
    assert ones_like(np.zeros((2, 3))).tolist() == [[1.0] * 3] * 2
