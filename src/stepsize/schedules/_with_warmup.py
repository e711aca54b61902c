"""``WithWarmup``: a linear warmup in front of any schedule."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from stepsize._validation import check_optional, check_real
from stepsize.schedules._base import Schedule
from stepsize.schedules._limits import hold
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import check_schedule, check_steps, linear_warmup

__all__ = ["WithWarmup"]


@dataclasses.dataclass(frozen=True)
class WithWarmup(Schedule):
    """Ramps linearly from ``init_value`` to a peak over W steps, then runs ``schedule``.

    λ(t) = init + (peak − init) · t / max(1, W) for t < W, then s(t − W): the wrapped
    schedule sees the steps since the warmup ended. The peak is ``peak_value``, or
    ``schedule(0)`` when None. With ``init_value=0`` and a peak of 1 this is exactly
    transformers' warmup.

    Its config name is ``"with_warmup"``; configs named ``"warmup"`` (its name before it
    was renamed, not to be confused with Keras' ``WarmUp`` in ``stepsize.tf``) still load
    with ``from_config``.

    Args:
        schedule: the schedule that follows the warmup.
        num_warmup_steps: W, the length of the ramp (0: no warmup).
        init_value: the value at step 0.
        peak_value: the value the ramp heads for (reached at W), or None for ``schedule(0)``.

    Raises:
        TypeError: if ``schedule`` is not a Schedule, ``num_warmup_steps`` not an integer
            or ``init_value`` or ``peak_value`` not a number.
        ValueError: if ``num_warmup_steps``, ``init_value`` or ``peak_value`` is negative
            (or a value NaN or infinite), or if the composition nests deeper than
            ``MAX_DEPTH`` or holds more than ``MAX_SCHEDULES`` schedules.

    Example:
        >>> from stepsize import schedules
        >>> decay = schedules.get("linear", num_warmup_steps=0, num_training_steps=8)
        >>> s = WithWarmup(decay, num_warmup_steps=2)
        >>> [s(t) for t in (0, 1, 2, 6, 10)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    name = "with_warmup"
    _peak: ClassVar[float]  # the peak, set per instance by __post_init__
    schedule: Schedule
    num_warmup_steps: int
    init_value: float = 0.0
    peak_value: float | None = None

    def __post_init__(self) -> None:
        self._set_fields(
            schedule=check_schedule("schedule", self.schedule),
            **check_steps(self, "num_warmup_steps"),
            init_value=check_real("init_value", self.init_value, low=0.0),
            peak_value=check_optional(check_real, "peak_value", self.peak_value, low=0.0),
        )
        hold(self, "schedule", [self.schedule])
        # The peak, once: evaluating schedule(0) on every call would make each nested
        # WithWarmup double the work of the one inside it.
        peak = self.schedule(0) if self.peak_value is None else self.peak_value
        self._set_fields(_peak=float(peak))

    @property
    def upper_bound(self) -> float:
        """The largest of ``init_value``, ``peak_value`` and the schedule's bound."""
        peak = 0.0 if self.peak_value is None else self.peak_value  # else schedule(0)
        return float(max(self.init_value, peak, self.schedule.upper_bound))

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, init, peak = float(self.num_warmup_steps), float(self.init_value), self._peak
        ramp = init + (peak - init) * linear_warmup(step, warmup, xp)
        # Between init and peak, exactly: rounding must not carry it past the bound.
        ramp = xp.minimum(ramp, max(init, peak))
        # The wrapped schedule only ever sees steps >= 0, also in the branch not taken.
        after = self.schedule.formula(xp.maximum(step - warmup, 0.0), xp)
        return xp.where(step < warmup, ramp, after)
