"""What every schedule module shares: argument checks, the ``Multiplier`` base of transformers'
schedules, and their warmup, decay progress and cosine wave, so each schedule module imports
only from here, ``_base`` and ``_ops``.

The formulas evaluate in float64 and keep every branch finite, the branches ``where`` does not
take included (every namespace evaluates both): ramps and progress are clipped to [0, 1] before
anything multiplies them, and the cosine sees only the fraction of a cycle, so a huge
``num_cycles`` or step count never reaches ``cos(inf)``.

Example:
    >>> from stepsize.schedules._ops import PYTHON
    >>> linear_warmup(1, 4, PYTHON), cosine_progress(6, 2, 10), cosine_wave(0.25, 1, PYTHON)
    (0.25, 0.5, 0.5)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize._validation import check_instance, check_int, check_optional
from stepsize.schedules._base import Schedule
from stepsize.schedules._ops import ArrayNamespace

__all__ = [
    "Multiplier",
    "check_schedule",
    "check_steps",
    "cosine_progress",
    "cosine_wave",
    "linear_warmup",
    "ones_like",
    "unit_interval",
]


@dataclasses.dataclass(frozen=True)
class Multiplier(Schedule):
    """A transformers schedule: a multiplier of the base lr, with values in [0, 1]."""

    @property
    def upper_bound(self) -> float:
        """1.0: a multiplier never exceeds the base lr."""
        return 1.0


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


def unit_interval(x: Any, xp: ArrayNamespace) -> Any:
    """``x`` clipped to [0, 1]."""
    return xp.minimum(xp.maximum(x, 0.0), 1.0)


def linear_warmup(step: Any, num_warmup_steps: float, xp: ArrayNamespace) -> Any:
    """transformers' warmup multiplier t / max(1, W), for t < W (clipped at W elsewhere)."""
    return xp.minimum(step, num_warmup_steps) / max(1.0, num_warmup_steps)


def cosine_progress(step: Any, num_warmup_steps: float, num_training_steps: float) -> Any:
    """transformers' decay progress p = (t − W) / max(1, T − W) (0 at W, 1 at T)."""
    return (step - num_warmup_steps) / max(1.0, num_training_steps - num_warmup_steps)


def cosine_wave(progress: Any, num_cycles: float, xp: ArrayNamespace) -> Any:
    """½(1 + cos(2π·c·p)) for p clipped to [0, 1], from the fraction of a cycle c·p mod 1.

    The same value as transformers' ``cos(π·c·2·p)`` (to rounding) without its overflow: c·p
    stays finite for every finite c, and the cosine sees an angle in [0, 2π).
    """
    cycles = num_cycles * unit_interval(progress, xp)
    return 0.5 * (1.0 + xp.cos(2.0 * xp.pi * (cycles - xp.floor(cycles))))


def ones_like(step: Any) -> Any:
    """1.0 shaped like ``step`` (an array or tensor stays one, instead of a bare float)."""
    return step * 0.0 + 1.0
