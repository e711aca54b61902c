"""``cosine_with_min_lr`` and ``cosine_warmup_with_min_lr``: cosine decay to a floor."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize._validation import check_optional, check_real
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import (
    Multiplier,
    check_steps,
    cosine_progress,
    cosine_wave,
    linear_warmup,
)

__all__ = ["CosineWarmupWithMinLR", "CosineWithMinLR"]


def _check_common(schedule: CosineWithMinLR | CosineWarmupWithMinLR) -> dict[str, Any]:
    return {
        **check_steps(schedule),
        "min_lr_rate": check_real("min_lr_rate", schedule.min_lr_rate, low=0.0, high=1.0),
        "num_cycles": check_real("num_cycles", schedule.num_cycles, low=0.0, low_open=True),
    }


def _cosine_to_floor(
    progress: Any, num_cycles: float, min_lr_rate: float, xp: ArrayNamespace
) -> Any:
    rate = float(min_lr_rate)
    return cosine_wave(progress, float(num_cycles), xp) * (1.0 - rate) + rate


@dataclasses.dataclass(frozen=True)
class CosineWithMinLR(Multiplier):
    """transformers' ``get_cosine_with_min_lr_schedule_with_warmup`` multiplier.

    λ(t) = t / max(1, W) for t < W, then r + (1 − r)·½(1 + cos(2π·c·p)), floored at 0, with
    p = (t − W) / max(1, T − W) and r = ``min_lr_rate``. Past T the value at T is held
    (transformers' rises again). transformers' ``min_lr`` is ``min_lr_rate`` times the
    optimizer's lr; ``stepsize.torch`` converts it.

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.
        num_training_steps: T, the end of the decay.
        min_lr_rate: r in [0, 1], the floor as a fraction of the peak.
        num_cycles: c, the number of cosine waves over the decay (0.5: a half wave to r).

    Raises:
        TypeError: for a step count that is not an integer or a rate that is not a number.
        ValueError: for a negative step count, ``min_lr_rate`` outside [0, 1] or
            ``num_cycles`` <= 0.

    Example:
        >>> s = CosineWithMinLR(num_warmup_steps=0, num_training_steps=10, min_lr_rate=0.1)
        >>> s(0), round(s(10), 12), round(s(50), 12)
        (1.0, 0.1, 0.1)
    """

    name = "cosine_with_min_lr"
    num_warmup_steps: int
    num_training_steps: int
    min_lr_rate: float
    num_cycles: float = 0.5

    def __post_init__(self) -> None:
        self._set_fields(**_check_common(self))

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, total = float(self.num_warmup_steps), float(self.num_training_steps)
        step = xp.minimum(step, total)  # hold the value at T
        progress = cosine_progress(step, warmup, total)
        decay = _cosine_to_floor(progress, self.num_cycles, self.min_lr_rate, xp)
        return xp.where(step < warmup, linear_warmup(step, warmup, xp), decay)


@dataclasses.dataclass(frozen=True)
class CosineWarmupWithMinLR(Multiplier):
    """transformers' ``get_cosine_with_min_lr_schedule_with_warmup_lr_rate`` multiplier.

    Warmup, t < W: (t + 1) / max(1, W), or w + (1 − w)·t / max(1, W − 1) when
    ``warmup_lr_rate`` = w is given. Decay: as ``cosine_with_min_lr`` with
    p = min(1, (t − W + 1) / max(1, T − W)), so it reaches the floor at T − 1, one step
    earlier than ``cosine_with_min_lr``, and holds it (transformers' rises again after;
    with another ``num_cycles`` the value reached at T − 1 is held).

    Args:
        num_warmup_steps: W, steps of linear warmup.
        num_training_steps: T; the floor is reached at T − 1.
        min_lr_rate: r in [0, 1], the floor as a fraction of the peak.
        num_cycles: c, the number of cosine waves over the decay (0.5: a half wave to r).
        warmup_lr_rate: w in [0, 1], the value at step 0, or None for 1 / max(1, W).

    Raises:
        TypeError: for a step count that is not an integer or a rate that is not a number
            (``warmup_lr_rate`` may be None).
        ValueError: for a negative step count, a rate outside [0, 1] or ``num_cycles`` <= 0.

    Example:
        >>> s = CosineWarmupWithMinLR(4, 10, min_lr_rate=0.1, warmup_lr_rate=0.2)
        >>> s(0), round(s(3), 12), round(s(9), 12), round(s(10), 12)
        (0.2, 1.0, 0.1, 0.1)
    """

    name = "cosine_warmup_with_min_lr"
    num_warmup_steps: int
    num_training_steps: int
    min_lr_rate: float
    num_cycles: float = 0.5
    warmup_lr_rate: float | None = None

    def __post_init__(self) -> None:
        rate = check_optional(check_real, "warmup_lr_rate", self.warmup_lr_rate, low=0.0, high=1.0)
        self._set_fields(**_check_common(self), warmup_lr_rate=rate)

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, total = float(self.num_warmup_steps), float(self.num_training_steps)
        rate = self.warmup_lr_rate
        ramp_step = xp.minimum(step, max(0.0, warmup - 1.0))  # the last warmup step at most
        if rate is None:
            ramp = (ramp_step + 1.0) / max(1.0, warmup)
        else:
            rate = float(rate)
            ramp = rate + (1.0 - rate) * (ramp_step / max(1.0, warmup - 1.0))
        progress = (step - warmup + 1.0) / max(1.0, total - warmup)
        progress = xp.minimum(progress, 1.0)  # hold the floor from T - 1 on
        decay = _cosine_to_floor(progress, self.num_cycles, self.min_lr_rate, xp)
        return xp.where(step < warmup, ramp, decay)
