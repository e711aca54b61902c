"""The registry half of ``_base.py``: names, ``get``, ``from_config``, registration, and
every bad parameter of ``cases.schedule_errors`` raising the right error, naming it."""

from __future__ import annotations

import dataclasses
import re
import warnings

import pytest

from cases.schedule_errors import (
    ANY_VALUE_OF_THE_TYPE,
    BEYOND_LIMITS,
    INVALID,
    Invalid,
    argument_value,
)
from cases.schedules import COMPOSITION_NAMES, HF_NAMES
from stepsize import schedules
from stepsize._validation import describe
from stepsize.schedules._base import schedule_class


def test_names_are_the_step_driven_scheduler_types_and_the_compositions():
    assert schedules.names() == sorted(HF_NAMES + COMPOSITION_NAMES)


def test_names_cover_transformers_scheduler_type():
    trainer_utils = pytest.importorskip("transformers.trainer_utils")
    metric_driven = {"reduce_lr_on_plateau"}
    assert {t.value for t in trainer_utils.SchedulerType} - metric_driven <= set(HF_NAMES)


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown schedule name 'cosin'") as info:
        schedules.get("cosin")
    for name in HF_NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="unknown schedule name 'warmup'"):
        schedules.get("warmup", schedule=schedules.get("constant"), num_warmup_steps=2)
    for name in (["linear"], None, 3):
        with pytest.raises(TypeError, match=r"^name must be a string, got "):
            schedule_class(name)


def test_get_names_missing_and_unexpected_arguments():
    with pytest.raises(TypeError, match=r"missing required argument.*num_training_steps"):
        schedules.get("linear", num_warmup_steps=1)
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) num_cycles=2;"):
        schedules.get("linear", num_warmup_steps=1, num_training_steps=4, num_cycles=2)
    with pytest.raises(TypeError, match=r"unexpected argument.*num_warmup_steps"):
        schedules.get("constant", num_warmup_steps=1)


@pytest.mark.parametrize("case", INVALID + BEYOND_LIMITS, ids=str)
def test_invalid_parameters_raise_naming_the_argument_and_the_value(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warmup_stable_decay warns when given both T and S
        with pytest.raises(Exception) as info:
            schedules.get(case.name, **case.kwargs)
    assert type(info.value) is case.error, info.value
    message = str(info.value)
    assert case.argument in message
    if argument_value(case) is not Invalid:
        assert describe(argument_value(case)) in message


def test_invalid_parameters_cover_every_parameter_with_both_errors():
    covered = {(case.name, case.argument, case.error) for case in INVALID}
    assert ("constant", "num_warmup_steps", TypeError) in covered
    for name in schedules.names():
        for field in dataclasses.fields(schedule_class(name)):
            assert (name, field.name, TypeError) in covered, (name, field.name)
            if (name, field.name) not in ANY_VALUE_OF_THE_TYPE:
                assert (name, field.name, ValueError) in covered, (name, field.name)


def test_invalid_parameters_raise_the_same_through_the_class_and_from_config():
    for case in INVALID[::7]:
        cls = schedule_class(case.name)
        if set(case.kwargs) - {f.name for f in dataclasses.fields(cls)}:
            continue  # an unexpected argument: the class's own TypeError
        with warnings.catch_warnings(), pytest.raises(case.error, match=re.escape(case.argument)):
            warnings.simplefilter("ignore")
            cls(**case.kwargs)


def test_from_config_rejects_what_is_not_a_config():
    for bad in (None, [], "linear", ("name", "linear")):
        with pytest.raises(TypeError, match=r"^config must be a dict, got "):
            schedules.from_config(bad)
    with pytest.raises(ValueError, match=r"^config must have a 'name' key, got "):
        schedules.from_config({"num_warmup_steps": 2})
    with pytest.raises(ValueError, match="unknown schedule name 'nope'"):
        schedules.from_config({"name": "nope"})
    with pytest.raises(TypeError, match=r"^name must be a string, got 3"):
        schedules.from_config({"name": 3})


def test_from_config_on_a_subclass_builds_only_that_class():
    linear = schedules.Linear(2, 10)
    assert type(schedules.Linear.from_config(linear.get_config())) is schedules.Linear
    assert schedules.Schedule.from_config(linear.get_config()) == linear
    cosine = schedules.Cosine(2, 10).get_config()
    with pytest.raises(ValueError, match=r"^config must describe a Linear, got the name 'cosine'"):
        schedules.Linear.from_config(cosine)
    nested = schedules.Scale(linear, 2.0).get_config()
    assert schedules.Scale.from_config(nested) == schedules.Scale(linear, 2.0)
    with pytest.raises(ValueError, match="must describe a Join"):
        schedules.Join.from_config(nested)


def test_a_taken_name_cannot_be_registered_again():
    before = schedules.names()
    owners = {
        "linear": "stepsize.schedules._linear.Linear",
        "warmup": "stepsize.schedules._with_warmup.WithWarmup",  # old configs' alias
    }
    for taken, owner in owners.items():
        with pytest.raises(ValueError) as info:

            @dataclasses.dataclass(frozen=True)
            class Impostor(schedules.Schedule):
                name = taken

        message = str(info.value)
        assert f"schedule name {taken!r} of {__name__}." in message and "Impostor" in message
        assert f"already taken by {owner};" in message
    assert schedules.names() == before
    assert schedule_class("linear") is schedules.Linear


def test_subclasses_without_a_name_of_their_own_are_not_registered():
    @dataclasses.dataclass(frozen=True)
    class Slower(schedules.Linear):
        pass

    assert schedule_class("linear") is schedules.Linear
    assert Slower(2, 10).get_config()["name"] == "linear"
