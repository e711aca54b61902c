"""What every schedule module shares: argument checks and transformers' warmup and decay
progress, so each schedule module imports only from here, ``_base`` and ``_ops``.

Example:
    >>> linear_warmup(1, 4), cosine_progress(6, 2, 10)
    (0.25, 0.5)
"""

from __future__ import annotations

from typing import Any

from stepsize._validation import check_instance, check_int, check_optional
from stepsize.schedules._base import Schedule

__all__ = ["check_schedule", "check_steps", "cosine_progress", "linear_warmup", "ones_like"]


def check_steps(
    schedule: Any, *arguments: str, optional: tuple[str, ...] = ()
) -> dict[str, int | None]:
    """The step counts ``arguments`` of ``schedule``, checked: integers in [0, 2**63].

    Args:
        schedule: the schedule whose fields are read.
        *arguments: the field names; default ``num_warmup_steps`` and ``num_training_steps``.
        optional: further field names that may also be None.

    Returns:
        A dict from field name to the normalized value, for ``Schedule._set_fields``.

    Raises:
        TypeError: if a count is not an integer (a float, a bool, a string, None).
        ValueError: if a count is negative or above 2**63.
    """
    required = arguments or ("num_warmup_steps", "num_training_steps")
    counts: dict[str, int | None] = {
        name: check_int(name, getattr(schedule, name), low=0) for name in required
    }
    for name in optional:
        counts[name] = check_optional(check_int, name, getattr(schedule, name), low=0)
    return counts


def check_schedule(argument: str, value: Any) -> Schedule:
    """Returns ``value`` if it is a ``Schedule``; else TypeError naming ``argument``."""
    return check_instance(argument, value, Schedule, "a Schedule")


def linear_warmup(step: Any, num_warmup_steps: int) -> Any:
    """transformers' warmup multiplier t / max(1, W) (meaningful for t < W)."""
    return step / max(1, num_warmup_steps)


def cosine_progress(step: Any, num_warmup_steps: int, num_training_steps: int) -> Any:
    """transformers' decay progress p = (t − W) / max(1, T − W) (0 at W, 1 at T)."""
    return (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)


def ones_like(step: Any) -> Any:
    """1.0 shaped like ``step`` (an array or tensor stays one, instead of a bare float)."""
    return step * 0.0 + 1.0
