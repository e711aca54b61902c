"""Bad schedule parameters, shared by the schedule and CLI tests.

``INVALID`` holds, for every registered schedule and each of its parameters, calls of
``schedules.get(name, **kwargs)`` with a value of the wrong type (``TypeError``) and with a
bad value of the right type (``ValueError``: out of range, NaN, infinite, an integer beyond
2**63 or beyond the float range), each with the argument the message must name.
``argument_value(case)`` is the value the message must show, where the case gives one.
``BEYOND_LIMITS`` holds compositions the nesting limits and the bound check refuse;
``VALID_KWARGS`` a valid value for every parameter of every schedule.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from stepsize import schedules
from stepsize._validation import MAX_STEPS
from stepsize.schedules import MAX_DEPTH


class Invalid(NamedTuple):
    name: str
    kwargs: dict[str, Any]
    error: type[Exception]
    argument: str  # named in the message; e.g. "boundaries[0]" for one item
    shows_value: bool = True  # whether the message shows the argument's value

    def __str__(self) -> str:
        shown = argument_value(self)
        return f"{self.name}-{self.argument}-{self.error.__name__}-{shown!r}"[:90]


# Wrong types: a step count is an integer (not 2.0, not True); a number is not a string,
# a bool, None or a list. Bad values of the right type follow each.
STEP_TYPES = (2.5, 2.0, "10", True, None)
HUGE_INTS = (10**400, -(10**400), 2**1024)  # beyond any float: never an OverflowError
STEP_VALUES = (-1, MAX_STEPS + 1, *HUGE_INTS)
OPTIONAL_STEP_TYPES = (2.5, "10", True)
NUMBER_TYPES = ("0.5", True, None, [0.5])
OPTIONAL_NUMBER_TYPES = ("0.5", True, [0.5])
NON_FINITE = (math.nan, math.inf, -math.inf, *HUGE_INTS)
CHOICE_TYPES = (1, None, ["linear"])
SCHEDULE_TYPES = ("linear", None, 1.0, {"name": "linear"})

_W_T = {"num_warmup_steps": 2, "num_training_steps": 10}
_MIN_LR = {**_W_T, "min_lr_rate": 0.1}
_WSD = {"num_warmup_steps": 2, "num_decay_steps": 2, "num_training_steps": 10}
_LINEAR = schedules.get("linear", **_W_T)
_WARMUP = {"schedule": _LINEAR, "num_warmup_steps": 2}
_JOIN = {"schedules": [_LINEAR, _LINEAR], "boundaries": [3]}


def _deepest() -> schedules.Schedule:
    """A schedule nested ``MAX_DEPTH`` levels deep: nothing may wrap it."""
    s: schedules.Schedule = _LINEAR
    for _ in range(MAX_DEPTH - 1):
        s = schedules.Scale(s, 1.0)
    return s


def _rows(name: str, valid: dict[str, Any], argument: str, types=(), values=()) -> list[Invalid]:
    """``valid`` with ``argument`` replaced by each wrong type and each bad value."""
    return [Invalid(name, {**valid, argument: v}, TypeError, argument) for v in types] + [
        Invalid(name, {**valid, argument: v}, ValueError, argument) for v in values
    ]


def _step_rows(name: str, valid: dict[str, Any], *arguments: str) -> list[Invalid]:
    return [row for a in arguments for row in _rows(name, valid, a, STEP_TYPES, STEP_VALUES)]


def _cycles(name: str, valid: dict[str, Any]) -> list[Invalid]:
    return _rows(name, valid, "num_cycles", NUMBER_TYPES, (0, -1, *NON_FINITE))


def _rate(name: str, valid: dict[str, Any], argument: str, types=NUMBER_TYPES) -> list[Invalid]:
    return _rows(name, valid, argument, types, (-0.1, 1.5, *NON_FINITE))


INVALID: list[Invalid] = [
    Invalid("constant", {"num_warmup_steps": 1}, TypeError, "num_warmup_steps"),  # unexpected
    Invalid("linear", {"num_warmup_steps": 1}, TypeError, "num_training_steps"),  # missing
    *_step_rows("constant_with_warmup", {"num_warmup_steps": 2}, "num_warmup_steps"),
    *_step_rows("linear", _W_T, "num_warmup_steps", "num_training_steps"),
    *_step_rows("cosine", _W_T, "num_warmup_steps", "num_training_steps"),
    *_cycles("cosine", _W_T),
    *_step_rows("cosine_with_restarts", _W_T, "num_warmup_steps", "num_training_steps"),
    *_cycles("cosine_with_restarts", _W_T),
    *_step_rows("polynomial", _W_T, "num_warmup_steps", "num_training_steps"),
    *_rows("polynomial", _W_T, "lr_init", NUMBER_TYPES, NON_FINITE),
    *_rows("polynomial", _W_T, "lr_end", NUMBER_TYPES, (-1e-3, *NON_FINITE)),
    *_rows("polynomial", _W_T, "power", NUMBER_TYPES, (-1.0, *NON_FINITE)),
    # transformers' message, "lr_end (…) must be smaller than initial lr (…)", for each
    *_rows("polynomial", _W_T, "lr_end", values=(1.0, 2)),
    *_rows("polynomial", {**_W_T, "lr_init": 0.1}, "lr_end", values=(0.5,)),
    Invalid("polynomial", {**_W_T, "lr_init": 0}, ValueError, "lr_end"),
    *_step_rows("inverse_sqrt", {"num_warmup_steps": 2}, "num_warmup_steps"),
    *_rows("inverse_sqrt", {"num_warmup_steps": 2}, "timescale", OPTIONAL_NUMBER_TYPES,
           (0, -1, *NON_FINITE)),
    *_step_rows("cosine_with_min_lr", _MIN_LR, "num_warmup_steps", "num_training_steps"),
    *_rate("cosine_with_min_lr", _MIN_LR, "min_lr_rate"),
    *_cycles("cosine_with_min_lr", _MIN_LR),
    *_step_rows("cosine_warmup_with_min_lr", _MIN_LR, "num_warmup_steps", "num_training_steps"),
    *_rate("cosine_warmup_with_min_lr", _MIN_LR, "min_lr_rate"),
    *_rate("cosine_warmup_with_min_lr", _MIN_LR, "warmup_lr_rate", OPTIONAL_NUMBER_TYPES),
    *_cycles("cosine_warmup_with_min_lr", _MIN_LR),
    *_step_rows("warmup_stable_decay", _WSD, "num_warmup_steps", "num_decay_steps"),
    *_rows("warmup_stable_decay", _WSD, "num_training_steps", OPTIONAL_STEP_TYPES, (-1, 3)),
    *_rows("warmup_stable_decay", {**_WSD, "num_training_steps": None}, "num_stable_steps",
           OPTIONAL_STEP_TYPES, STEP_VALUES),
    # neither given: transformers' message, naming both
    Invalid("warmup_stable_decay", {"num_warmup_steps": 2, "num_decay_steps": 2}, ValueError,
            "num_stable_steps"),
    *_rows("warmup_stable_decay", _WSD, "warmup_type", CHOICE_TYPES, ("exp", "Linear", "")),
    *_rows("warmup_stable_decay", _WSD, "decay_type", CHOICE_TYPES, ("step", "1-Sqrt")),
    *_rate("warmup_stable_decay", _WSD, "min_lr_ratio"),
    *_cycles("warmup_stable_decay", _WSD),
    *_rows("with_warmup", _WARMUP, "schedule", SCHEDULE_TYPES),
    *_step_rows("with_warmup", _WARMUP, "num_warmup_steps"),
    *_rows("with_warmup", _WARMUP, "init_value", NUMBER_TYPES, (-1, *NON_FINITE)),
    *_rows("with_warmup", _WARMUP, "peak_value", OPTIONAL_NUMBER_TYPES, (-1, *NON_FINITE)),
    *_rows("scale", {"schedule": _LINEAR, "value": 2.0}, "schedule", SCHEDULE_TYPES),
    *_rows("scale", {"schedule": _LINEAR, "value": 2.0}, "value", NUMBER_TYPES,
           (-1e-3, *NON_FINITE)),
    *_rows("join", _JOIN, "schedules", (_LINEAR, "linear", None, {"a": _LINEAR}), ([],)),
    *_rows("join", _JOIN, "boundaries", (3, "3", None), ([], [3, 4])),
    *_rows("join", {**_JOIN, "schedules": [_LINEAR] * 3}, "boundaries", values=([5, 2],)),
    Invalid("join", {**_JOIN, "schedules": [_LINEAR, 1.0]}, TypeError, "schedules[1]"),
    Invalid("join", {**_JOIN, "boundaries": [2.0]}, TypeError, "boundaries[0]"),
    Invalid("join", {**_JOIN, "boundaries": [True]}, TypeError, "boundaries[0]"),
    Invalid("join", {**_JOIN, "boundaries": [-1]}, ValueError, "boundaries[0]"),
    Invalid("join", {**_JOIN, "boundaries": [MAX_STEPS + 1]}, ValueError, "boundaries[0]"),
    Invalid("join", {**_JOIN, "boundaries": [10**400]}, ValueError, "boundaries[0]"),
]  # fmt: skip

# A valid value for every parameter of every schedule: what the fuzz suite varies one at a time.
VALID_KWARGS: dict[str, dict[str, Any]] = {
    "constant": {},
    "constant_with_warmup": {"num_warmup_steps": 2},
    "linear": _W_T,
    "cosine": {**_W_T, "num_cycles": 0.5},
    "cosine_with_restarts": {**_W_T, "num_cycles": 2},
    "polynomial": {**_W_T, "lr_init": 1.0, "lr_end": 1e-7, "power": 1.0},
    "inverse_sqrt": {"num_warmup_steps": 2, "timescale": 3.0},
    "cosine_with_min_lr": {**_MIN_LR, "num_cycles": 0.5},
    "cosine_warmup_with_min_lr": {**_MIN_LR, "num_cycles": 0.5, "warmup_lr_rate": 0.2},
    "warmup_stable_decay": {**_WSD, "num_stable_steps": None, "warmup_type": "cosine",
                            "decay_type": "1-sqrt", "min_lr_ratio": 0.1, "num_cycles": 0.5},
    "with_warmup": {**_WARMUP, "init_value": 0.0, "peak_value": 1.0},
    "scale": {"schedule": _LINEAR, "value": 2.0},
    "join": _JOIN,
}  # fmt: skip

# Compositions refused as a whole: too deep, or a bound beyond the float range.
BEYOND_LIMITS: list[Invalid] = [
    Invalid("scale", {"schedule": _deepest(), "value": 1.0}, ValueError, "schedule", False),
    Invalid("with_warmup", {"schedule": _deepest(), "num_warmup_steps": 2}, ValueError,
            "schedule", False),
    Invalid("join", {"schedules": [_LINEAR, _deepest()], "boundaries": [2]}, ValueError,
            "schedules", False),
    Invalid("scale", {"schedule": schedules.Scale(_LINEAR, 1e308), "value": 10}, ValueError,
            "value"),
    Invalid("scale", {"schedule": schedules.WithWarmup(_LINEAR, 2, 1.7e308), "value": 1.1},
            ValueError, "value"),
]  # fmt: skip

# Parameters for which every value of the right type is valid: no ValueError row.
ANY_VALUE_OF_THE_TYPE = {("with_warmup", "schedule"), ("scale", "schedule")}


def argument_value(case: Invalid) -> Any:
    """The value ``case`` gives its argument (an item for ``"boundaries[0]"``), or
    ``Invalid`` itself where the case leaves the argument out."""
    match = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", case.argument)
    name, index = match.group(1), match.group(2)
    if name not in case.kwargs or not case.shows_value:
        return Invalid
    value = case.kwargs[name]
    return value if index is None else value[int(index)]
