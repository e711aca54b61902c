"""The helpers every schedule module shares: checks, warmup ramp, decay progress, cosine wave."""

import math

import numpy as np
import pytest

from cases.schedules import COMPOSITION_NAMES, HF_NAMES
from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.schedules._base import schedule_class
from stepsize.schedules._ops import PYTHON, numpy_namespace
from stepsize.schedules._shared import (
    Multiplier,
    check_schedule,
    check_steps,
    cosine_progress,
    cosine_wave,
    linear_warmup,
    ones_like,
    unit_interval,
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
    assert [linear_warmup(t, 4, PYTHON) for t in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert linear_warmup(0, 0, PYTHON) == 0.0  # max(1, W): no division by zero
    assert linear_warmup(2.0**63, 4, PYTHON) == 1.0  # clipped where the ramp is over


def test_unit_interval_clips():
    assert [unit_interval(x, PYTHON) for x in (-1e308, -0.0, 0.5, 1.0, 1e308)] == [
        0.0, 0.0, 0.5, 1.0, 1.0]  # fmt: skip


@pytest.mark.parametrize("cycles", [0.25, 0.5, 1, 1.5, 2, 3.75])
def test_cosine_wave_is_transformers_cosine(cycles):
    for p in np.linspace(0.0, 1.0, 41):
        expected = 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * p))
        assert abs(cosine_wave(float(p), cycles, PYTHON) - expected) <= 1e-14


@pytest.mark.parametrize("cycles", [1e15, 1e300, 1.7976931348623157e308, 5e-324])
def test_cosine_wave_is_finite_for_any_cycles_and_progress(cycles):
    xp = numpy_namespace()
    progress = np.array([-1e308, -1.0, 0.0, 0.3, 1.0, 2.0, 1e308])
    with np.errstate(divide="raise", over="raise", invalid="raise"):  # underflow is fine
        vector = cosine_wave(xp.asarray(progress), cycles, xp)
    scalars = [cosine_wave(float(p), cycles, PYTHON) for p in progress]
    assert np.all((vector >= 0.0) & (vector <= 1.0)) and vector.tolist() == scalars


def test_every_transformers_schedule_is_a_multiplier_bounded_by_one():
    for name in HF_NAMES:
        cls = schedule_class(name)
        assert issubclass(cls, Multiplier) and cls.upper_bound.fget(None) == 1.0
    for name in COMPOSITION_NAMES:
        assert not issubclass(schedule_class(name), Multiplier)


def test_cosine_progress_runs_from_the_warmup_to_the_end():
    assert [cosine_progress(t, 2, 10) for t in (2, 6, 10)] == [0.0, 0.5, 1.0]
    assert cosine_progress(3, 3, 3) == 0.0  # max(1, T - W): no division by zero


def test_ones_like_keeps_the_shape():
    assert ones_like(7.0) == 1.0
    assert ones_like(np.zeros((2, 3))).tolist() == [[1.0] * 3] * 2
