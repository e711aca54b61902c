"""``SchedulerType``, ``TYPE_TO_SCHEDULER_FUNCTION`` and ``get_scheduler``: schedulers by name."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any

from torch.optim import Optimizer

from stepsize._validation import check_instance, check_int, check_optional, describe
from stepsize.torch._greedy import get_greedy_schedule
from stepsize.torch._schedulers import (
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_hard_restarts_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    get_inverse_sqrt_schedule,
    get_linear_schedule_with_warmup,
    get_polynomial_decay_schedule_with_warmup,
    get_reduce_on_plateau_schedule,
    get_wsd_schedule,
)

__all__ = ["TYPE_TO_SCHEDULER_FUNCTION", "SchedulerType", "get_scheduler"]


class SchedulerType(str, Enum):
    """The scheduler names ``get_scheduler`` (and transformers' ``lr_scheduler_type``) take.

    An unknown name raises ``ValueError`` listing the valid ones.

    Example:
        >>> SchedulerType("cosine") is SchedulerType.COSINE
        True
    """

    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"
    REDUCE_ON_PLATEAU = "reduce_lr_on_plateau"
    COSINE_WITH_MIN_LR = "cosine_with_min_lr"
    COSINE_WARMUP_WITH_MIN_LR = "cosine_warmup_with_min_lr"
    WARMUP_STABLE_DECAY = "warmup_stable_decay"
    GREEDY = "greedy"

    @classmethod
    def _missing_(cls, value: object) -> None:
        # transformers' message; a value that would not print on one short line is described.
        plain = isinstance(value, str) and value.isprintable() and len(value) <= 80
        raise ValueError(
            f"{value if plain else describe(value)} is not a valid {cls.__name__}, please "
            f"select one of {list(cls._value2member_map_.keys())}"
        )


TYPE_TO_SCHEDULER_FUNCTION: dict[SchedulerType, Callable[..., Any]] = {
    SchedulerType.LINEAR: get_linear_schedule_with_warmup,
    SchedulerType.COSINE: get_cosine_schedule_with_warmup,
    SchedulerType.COSINE_WITH_RESTARTS: get_cosine_with_hard_restarts_schedule_with_warmup,
    SchedulerType.POLYNOMIAL: get_polynomial_decay_schedule_with_warmup,
    SchedulerType.CONSTANT: get_constant_schedule,
    SchedulerType.CONSTANT_WITH_WARMUP: get_constant_schedule_with_warmup,
    SchedulerType.INVERSE_SQRT: get_inverse_sqrt_schedule,
    SchedulerType.REDUCE_ON_PLATEAU: get_reduce_on_plateau_schedule,
    SchedulerType.COSINE_WITH_MIN_LR: get_cosine_with_min_lr_schedule_with_warmup,
    SchedulerType.COSINE_WARMUP_WITH_MIN_LR: get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    SchedulerType.WARMUP_STABLE_DECAY: get_wsd_schedule,
    SchedulerType.GREEDY: get_greedy_schedule,
}
"""transformers' table: each ``SchedulerType`` -> the function ``get_scheduler`` calls for it."""


def get_scheduler(
    name: str | SchedulerType,
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Any scheduler by its name, with transformers' dispatch rules.

    ``constant`` takes nothing; ``reduce_lr_on_plateau`` and ``greedy`` take only
    ``scheduler_specific_kwargs``; every other needs ``num_warmup_steps``;
    ``constant_with_warmup``, ``inverse_sqrt`` and ``warmup_stable_decay`` work without
    ``num_training_steps``. Unlike transformers 4.x, ``inverse_sqrt`` gets the specific
    kwargs (e.g. ``timescale``), and ``warmup_stable_decay`` also takes
    ``num_warmup_steps`` / ``num_training_steps`` from ``scheduler_specific_kwargs``.

    Args:
        name: a ``SchedulerType`` or its value, e.g. ``"cosine"``.
        optimizer: the optimizer whose lr is scheduled.
        num_warmup_steps: steps of warmup, for the schedulers that have one.
        num_training_steps: total optimizer steps, for the schedulers that need it.
        scheduler_specific_kwargs: further keyword arguments of the scheduler function,
            e.g. ``{"num_cycles": 2}``; a mismatched one raises ``TypeError``.

    Returns:
        The scheduler (a ``ScheduledLR``, ``ReduceLROnPlateau`` or ``GreedyLR``).

    Raises:
        TypeError: if ``scheduler_specific_kwargs`` is neither a dict nor None, or as the
            scheduler function raises it.
        ValueError: for an unknown name or a missing required step count, or as the
            scheduler function raises it.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = get_scheduler("linear", opt, num_warmup_steps=2, num_training_steps=10)
        >>> opt.step(); sched.step(); sched.get_last_lr()
        [0.5]
    """
    name = SchedulerType(name)
    schedule_func = TYPE_TO_SCHEDULER_FUNCTION[name]
    if name == SchedulerType.CONSTANT:
        return schedule_func(optimizer)

    specific = check_optional(
        check_instance, "scheduler_specific_kwargs", scheduler_specific_kwargs, dict, "a dict"
    )
    kwargs = dict(specific or {})
    for key in kwargs:
        if not isinstance(key, str):
            raise TypeError(
                "scheduler_specific_kwargs keys must be argument names (strings), got "
                f"{describe(key)} ({type(key).__name__})"
            )
    if name in (SchedulerType.REDUCE_ON_PLATEAU, SchedulerType.GREEDY):
        return schedule_func(optimizer, **kwargs)

    if name == SchedulerType.WARMUP_STABLE_DECAY:
        num_warmup_steps = _once("num_warmup_steps", num_warmup_steps, kwargs)
        num_training_steps = _once("num_training_steps", num_training_steps, kwargs)

    if num_warmup_steps is None:
        raise ValueError(f"{name} requires `num_warmup_steps`, please provide that argument.")

    if name == SchedulerType.CONSTANT_WITH_WARMUP:
        return schedule_func(optimizer, num_warmup_steps=num_warmup_steps)

    if name == SchedulerType.INVERSE_SQRT:
        return schedule_func(optimizer, num_warmup_steps=num_warmup_steps, **kwargs)

    if name == SchedulerType.WARMUP_STABLE_DECAY:
        return schedule_func(
            optimizer,
            num_warmup_steps=num_warmup_steps,
            num_training_steps=num_training_steps,
            **kwargs,
        )

    if num_training_steps is None:
        raise ValueError(f"{name} requires `num_training_steps`, please provide that argument.")

    return schedule_func(
        optimizer,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        **kwargs,
    )


def _once(argument: str, value: int | None, kwargs: dict[str, Any]) -> int | None:
    """Takes ``argument`` from ``kwargs`` if it is there (and removes it), else ``value``.

    The specific kwargs win because they are what the user wrote for this scheduler,
    while trainers pass the general argument on every call (transformers' Trainer
    passes ``num_warmup_steps=0`` when no warmup is configured).
    """
    if argument not in kwargs:
        return value
    # Checked before they are compared: both are step counts (or None).
    specific = check_optional(check_int, argument, kwargs.pop(argument), low=0)
    value = check_optional(check_int, argument, value, low=0)
    if value is not None and value != specific:
        warnings.warn(
            f"{argument} is given twice: {value!r} as an argument and {specific!r} in "
            f"scheduler_specific_kwargs; using {specific!r}",
            stacklevel=3,
        )
    return specific
