"""``warmup_stable_decay``: warmup, a stable phase at the peak, then a decay to a floor."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from stepsize._validation import check_choice, check_real
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import Multiplier, check_steps, cosine_wave, unit_interval

__all__ = ["WarmupStableDecay"]

WARMUP_TYPES = ("linear", "cosine", "1-sqrt")
DECAY_TYPES = ("linear", "cosine", "1-sqrt")
_NO_LENGTH = "Either num_training_steps or num_stable_steps must be specified."  # transformers'


@dataclasses.dataclass(frozen=True)
class WarmupStableDecay(Multiplier):
    """transformers' ``get_wsd_schedule`` multiplier (warmup, stable, decay).

    With m = ``min_lr_ratio``, every ramp f in [0, 1] is scaled as m + (1 − m)·f:
    * warmup, t < W: p = t / max(1, W); f = p ("linear"), ½(1 − cos πp) ("cosine") or
      1 − √(1 − p) ("1-sqrt");
    * stable, t < W + S: 1;
    * decay, t < W + S + D: p = (t − W − S) / max(1, D); f = 1 − p ("linear"),
      ½(1 + cos(2π·c·p)) ("cosine") or 1 − √p ("1-sqrt");
    * after: m.

    S is ``num_stable_steps``, or T − W − D when only ``num_training_steps`` T is given.

    Args:
        num_warmup_steps: W, steps of warmup.
        num_decay_steps: D, steps of decay.
        num_training_steps: T, used to derive S when ``num_stable_steps`` is None.
        num_stable_steps: S, steps at the peak (wins, with a warning, if T is given too).
        warmup_type: "linear", "cosine" or "1-sqrt".
        decay_type: "linear", "cosine" or "1-sqrt".
        min_lr_ratio: m in [0, 1], the floor as a fraction of the peak (also the start).
        num_cycles: c, cosine waves over the decay (0.5: a half wave to m).

    Raises:
        TypeError: if a step count is not an integer (T and S may be None), a type is not
            a string or ``min_lr_ratio`` or ``num_cycles`` is not a number.
        ValueError: if neither T nor S is given (with transformers' message), T < W + D, a
            step count is negative, a type is unknown, ``min_lr_ratio`` is outside [0, 1]
            or ``num_cycles`` <= 0.

    Example:
        >>> s = WarmupStableDecay(num_warmup_steps=2, num_decay_steps=2, num_training_steps=10)
        >>> [round(s(t), 12) for t in (1, 2, 7, 8, 9, 10)]
        [0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    name = "warmup_stable_decay"
    num_warmup_steps: int
    num_decay_steps: int
    num_training_steps: int | None = None
    num_stable_steps: int | None = None
    warmup_type: str = "linear"
    decay_type: str = "cosine"
    min_lr_ratio: float = 0.0
    num_cycles: float = 0.5

    def __post_init__(self) -> None:
        steps = check_steps(
            self,
            "num_warmup_steps",
            "num_decay_steps",
            optional=("num_training_steps", "num_stable_steps"),
        )
        self._set_fields(**steps)
        warmup, decay = self.num_warmup_steps, self.num_decay_steps
        total, stable = self.num_training_steps, self.num_stable_steps
        if stable is None:
            if total is None:
                raise ValueError(_NO_LENGTH)
            if total < warmup + decay:
                raise ValueError(
                    f"num_training_steps ({total}) must be >= num_warmup_steps + "
                    f"num_decay_steps ({warmup} + {decay})"
                )
        elif total is not None:
            warnings.warn(
                "both num_training_steps and num_stable_steps are given; "
                f"num_stable_steps={stable} is used",
                UserWarning,
                stacklevel=3,
            )
        self._set_fields(
            warmup_type=check_choice("warmup_type", self.warmup_type, WARMUP_TYPES),
            decay_type=check_choice("decay_type", self.decay_type, DECAY_TYPES),
            min_lr_ratio=check_real("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0),
            num_cycles=check_real("num_cycles", self.num_cycles, low=0.0, low_open=True),
        )

    @property
    def stable_steps(self) -> int:
        """S: ``num_stable_steps``, or T − W − D when it is None."""
        if self.num_stable_steps is not None:
            return self.num_stable_steps
        if self.num_training_steps is None:  # unreachable: __post_init__ requires T or S
            raise ValueError(_NO_LENGTH)
        return self.num_training_steps - self.num_warmup_steps - self.num_decay_steps

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, decay = self.num_warmup_steps, self.num_decay_steps
        # The phase ends as exact integer sums, each rounded once to float64, so that Python
        # floats and arrays compare a step with the same number.
        stable_end = float(warmup + self.stable_steps)
        decay_end = float(warmup + self.stable_steps + decay)
        floor = float(self.min_lr_ratio)

        # Progress clipped to [0, 1], so no branch overflows or takes the root of a negative.
        progress = unit_interval(step / max(1.0, float(warmup)), xp)
        if self.warmup_type == "linear":
            ramp = progress
        elif self.warmup_type == "cosine":
            ramp = 0.5 * (1.0 - xp.cos(xp.pi * progress))
        else:  # "1-sqrt"
            ramp = 1.0 - xp.sqrt(1.0 - progress)
        ramp = ramp * (1.0 - floor) + floor

        progress = unit_interval((step - stable_end) / max(1.0, float(decay)), xp)
        if self.decay_type == "linear":
            fall = 1.0 - progress
        elif self.decay_type == "cosine":
            fall = cosine_wave(progress, float(self.num_cycles), xp)
        else:  # "1-sqrt"
            fall = 1.0 - xp.sqrt(progress)
        fall = fall * (1.0 - floor) + floor

        after = xp.where(step < decay_end, fall, floor)
        after = xp.where(step < stable_end, 1.0, after)
        return xp.where(step < float(warmup), ramp, after)
