"""Options shared by ``show`` and ``plot``: turn NAME, step counts and ``--set`` into schedules.

``--set KEY=VALUE`` values are parsed as JSON (numbers, true/false/null, lists, objects),
else kept as strings; they are never evaluated. Values are checked where they are used, by
``stepsize._validation`` (the options here) or by the schedule, and a failed check is a
``UsageError``: a number of any size, ``NaN``, ``Infinity`` and JSON nested any depth included
(a value the schedule cannot take is its one-line error, never a traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from stepsize import schedules
from stepsize._validation import MAX_STEPS, check_int, check_real, describe
from stepsize.schedules._base import schedule_class

__all__ = [
    "UsageError",
    "add_schedule_options",
    "build_schedule",
    "check_lr",
    "horizon",
    "integer",
    "parse_settings",
    "parse_value",
    "real",
    "schedule_parameters",
    "step_count",
]

# The command-line options that stand for a schedule parameter, where the schedule takes it.
_STEP_OPTIONS = {"num_warmup_steps": "warmup_steps", "num_training_steps": "training_steps"}
_T = TypeVar("_T")


class UsageError(Exception):
    """A bad name, parameter or option: reported on one line, exit code 2."""


def _usage(check: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``check(*args, **kwargs)``, its TypeError or ValueError turned into a ``UsageError``."""
    try:
        return check(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def integer(text: str) -> int:
    """An integer option's value; argparse reports anything else on one short line.

    Example:
        >>> integer("12"), integer(" -3 ")
        (12, -3)
    """
    try:
        return int(text)
    except ValueError:  # not an integer, or more digits than Python converts
        raise argparse.ArgumentTypeError(f"not an integer: {describe(text)}") from None


def real(text: str) -> float:
    """A real option's value (``1e400`` is inf: the option's check refuses it).

    Example:
        >>> real("3e-4")
        0.0003
    """
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {describe(text)}") from None


def add_schedule_options(parser: argparse.ArgumentParser) -> None:
    """Adds the step-count, ``--lr``, ``--set`` and ``--steps`` options to ``parser``."""
    parser.add_argument(
        "--warmup-steps",
        type=integer,
        metavar="W",
        help="num_warmup_steps, for the schedules that take it",
    )
    parser.add_argument(
        "--training-steps",
        type=integer,
        metavar="T",
        help="num_training_steps, for the schedules that take it",
    )
    parser.add_argument(
        "--lr",
        type=real,
        default=1.0,
        help="base learning rate the multiplier applies to (default: 1.0; also lr_init)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other schedule parameter, e.g. --set num_cycles=2 (repeatable; VALUE is "
        "parsed as JSON, else taken as a string; min_lr is converted to min_lr_rate)",
    )
    parser.add_argument(
        "--steps",
        type=integer,
        metavar="N",
        help="evaluate steps 0 .. N-1 (default: to the end of the schedule, inclusive)",
    )


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON if it parses (``2``, ``1e-7``, ``null``), else the string.

    Example:
        >>> parse_value("2"), parse_value("1e-7"), parse_value("1-sqrt")
        (2, 1e-07, '1-sqrt')
    """
    try:
        return json.loads(text)
    except ValueError:  # not JSON (or an integer of more digits than Python converts)
        return text
    except RecursionError:
        raise UsageError(f"--set value nested too deeply to parse: {describe(text)}") from None


def parse_settings(items: Iterable[str]) -> dict[str, Any]:
    """Parses ``KEY=VALUE`` strings into a dict (a repeated key: the last one wins).

    Raises:
        UsageError: for an item without ``=``, with an empty key, or with the key ``name``
            (the schedule's name is the NAME argument).
    """
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {describe(item)}")
        if key == "name":
            raise UsageError("--set cannot set name: give the schedule's name as NAME")
        settings[key] = parse_value(value)
    return settings


def schedule_parameters(name: str) -> dict[str, Any]:
    """The parameters of schedule ``name``, each with its default (``MISSING`` if required).

    Raises:
        UsageError: for an unknown name (the message lists the valid ones).
    """
    cls = _usage(schedule_class, name)
    return {f.name: f.default for f in dataclasses.fields(cls) if f.init}


def build_schedule(
    name: str, args: argparse.Namespace, *, settings: dict[str, Any] | None = None
) -> schedules.Schedule:
    """Builds schedule ``name`` from the parsed options.

    ``--warmup-steps``/``--training-steps`` go to the schedules that take them; ``--lr`` is
    ``lr_init`` where taken; ``settings`` (default: all of ``--set``) are passed as given.

    Raises:
        UsageError: for an unknown name, a missing, unexpected or bad parameter.
    """
    parameters = schedule_parameters(name)
    lr = _usage(check_real, "--lr", args.lr, low=0.0, low_open=True)
    kwargs: dict[str, Any] = {}
    for parameter, option in _STEP_OPTIONS.items():
        if parameter in parameters and getattr(args, option) is not None:
            kwargs[parameter] = getattr(args, option)
    if "lr_init" in parameters:
        kwargs["lr_init"] = lr
    given = dict(parse_settings(args.settings) if settings is None else settings)
    if "min_lr" in given and "min_lr_rate" in parameters:
        if "min_lr_rate" in given:
            raise UsageError("give only one of min_lr or min_lr_rate")
        min_lr = _usage(check_real, "min_lr", given.pop("min_lr"), low=0.0)
        if min_lr > lr:
            raise UsageError(f"min_lr must be <= --lr ({lr!r}), got {describe(min_lr)}")
        given["min_lr_rate"] = min_lr / lr
    kwargs.update(given)
    missing = [
        p for p, default in parameters.items() if default is dataclasses.MISSING and p not in kwargs
    ]
    if missing:
        options = ", ".join(_option_for(p) for p in missing)
        raise UsageError(f"schedule {name!r} needs {options}")
    try:
        return schedules.from_config({"name": name, **kwargs})
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{name}: {exc}") from None


def _option_for(parameter: str) -> str:
    if parameter in _STEP_OPTIONS:
        return "--" + _STEP_OPTIONS[parameter].replace("_", "-")
    return f"--set {parameter}=VALUE"


def check_lr(schedule: schedules.Schedule, lr: float) -> float:
    """Returns ``lr`` if ``lr`` · λ(t) is finite at every step: ``lr`` × the schedule's upper
    bound is.

    Raises:
        UsageError: if ``lr`` times the schedule's upper bound is beyond the float range.
    """
    bound = schedule.upper_bound
    if math.isfinite(bound) and not math.isfinite(lr * bound):
        raise UsageError(
            f"--lr {lr!r} is too large for this schedule: the lr would reach {lr!r} × {bound!r}, "
            "beyond the float range"
        )
    return lr


def horizon(schedule: schedules.Schedule) -> int:
    """The last step worth showing: where the schedule settles, or a multiple of the warmup;
    never beyond 2**63, the last step a schedule has.

    Example:
        >>> horizon(schedules.get("linear", num_warmup_steps=2, num_training_steps=10))
        10
    """
    return min(_settles(schedule), MAX_STEPS)


def _settles(schedule: schedules.Schedule) -> int:
    if isinstance(schedule, schedules.WarmupStableDecay):
        return schedule.num_warmup_steps + schedule.stable_steps + schedule.num_decay_steps
    if isinstance(schedule, schedules.Scale):
        return _settles(schedule.schedule)
    if isinstance(schedule, schedules.WithWarmup):
        return schedule.num_warmup_steps + _settles(schedule.schedule)
    if isinstance(schedule, schedules.Join):
        return (schedule.boundaries or (0,))[-1] + _settles(schedule.schedules[-1])
    total = getattr(schedule, "num_training_steps", None)
    if total is not None:
        return max(total, getattr(schedule, "num_warmup_steps", 0))
    return max(10, 4 * getattr(schedule, "num_warmup_steps", 0))


def step_count(args: argparse.Namespace, schedule_list: list[schedules.Schedule]) -> int:
    """``--steps``, or one past the largest ``horizon`` of the schedules: at most 2**63 + 1
    (steps 0 .. 2**63).

    Raises:
        UsageError: if ``--steps`` is < 1 or > 2**63 + 1.
    """
    if args.steps is None:
        return max(horizon(s) for s in schedule_list) + 1
    return _usage(check_int, "--steps", args.steps, low=1, high=MAX_STEPS + 1)
