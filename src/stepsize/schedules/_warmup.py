"""Linear warmup: the ramp shared by the schedules, and ``Warmup``, which adds one to any."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize.schedules._base import Schedule
from stepsize.schedules._checks import check_non_negative_int, check_real, check_schedule
from stepsize.schedules._ops import ArrayNamespace

__all__ = ["Warmup", "linear_warmup", "warmup"]


def linear_warmup(step: Any, num_warmup_steps: int) -> Any:
    """transformers' warmup multiplier t / max(1, W) (meaningful for t < W)."""
    return step / max(1, num_warmup_steps)


@dataclasses.dataclass(frozen=True)
class Warmup(Schedule):
    """Ramps linearly from ``init_value`` to a peak over W steps, then runs ``schedule``.

    λ(t) = init + (peak − init) · t / max(1, W) for t < W, then s(t − W): the wrapped
    schedule sees the steps since the warmup ended. The peak is ``peak_value``, or
    ``schedule(0)`` when None. With ``init_value=0`` and a peak of 1 this is exactly
    transformers' warmup.

    Args:
        schedule: the schedule that follows the warmup.
        num_warmup_steps: W, the length of the ramp (0: no warmup).
        init_value: the value at step 0.
        peak_value: the value the ramp heads for (reached at W), or None for ``schedule(0)``.

    Raises:
        TypeError: if ``schedule`` is not a Schedule.
        ValueError: if ``num_warmup_steps`` is not an integer >= 0 or ``init_value`` or
            ``peak_value`` is not a finite number >= 0.

    Example:
        >>> from stepsize import schedules
        >>> decay = schedules.get("linear", num_warmup_steps=0, num_training_steps=8)
        >>> s = Warmup(decay, num_warmup_steps=2)
        >>> [s(t) for t in (0, 1, 2, 6, 10)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    name = "warmup"
    schedule: Schedule
    num_warmup_steps: int
    init_value: float = 0.0
    peak_value: float | None = None

    def __post_init__(self) -> None:
        peak = self.peak_value
        if peak is not None:
            peak = check_real("peak_value", peak, low=0.0)
        self._set_fields(
            schedule=check_schedule("schedule", self.schedule),
            num_warmup_steps=check_non_negative_int("num_warmup_steps", self.num_warmup_steps),
            init_value=check_real("init_value", self.init_value, low=0.0),
            peak_value=peak,
        )

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, init, peak = self.num_warmup_steps, self.init_value, self.peak_value
        if peak is None:
            peak = self.schedule(0)
        ramp = init + (peak - init) * linear_warmup(step, warmup)
        # The wrapped schedule only ever sees steps >= 0, also in the branch not taken.
        after = self.schedule.formula(xp.maximum(step - warmup, 0.0), xp)
        return xp.where(step < warmup, ramp, after)


def warmup(
    schedule: Schedule,
    num_warmup_steps: int,
    init_value: float = 0.0,
    peak_value: float | None = None,
) -> Warmup:
    """Adds a linear warmup of ``num_warmup_steps`` steps before ``schedule``; see ``Warmup``.

    Example:
        >>> from stepsize import schedules
        >>> warmup(schedules.get("constant"), 4)(1)
        0.25
    """
    return Warmup(schedule, num_warmup_steps, init_value, peak_value)
