"""``cosine`` and ``cosine_with_restarts``: linear warmup, then cosine decay to 0."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize._validation import check_real
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import (
    Multiplier,
    check_steps,
    cosine_progress,
    cosine_wave,
    linear_warmup,
    unit_interval,
)

__all__ = ["Cosine", "CosineWithRestarts"]


@dataclasses.dataclass(frozen=True)
class Cosine(Multiplier):
    """transformers' ``get_cosine_schedule_with_warmup`` multiplier.

    λ(t) = t / max(1, W) for t < W, then max(0, ½(1 + cos(2π·c·p))) with
    p = (t − W) / max(1, T − W). Past T the value at T is held (transformers' rises again).

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.
        num_training_steps: T, the end of the decay.
        num_cycles: c, the number of cosine waves over the decay (0.5: a half wave to 0).

    Raises:
        TypeError: if a step count is not an integer or ``num_cycles`` not a number.
        ValueError: if a step count is negative or ``num_cycles`` <= 0.

    Example:
        >>> s = Cosine(num_warmup_steps=0, num_training_steps=10)
        >>> round(s(5), 12), s(10), s(20)
        (0.5, 0.0, 0.0)
    """

    name = "cosine"
    num_warmup_steps: int
    num_training_steps: int
    num_cycles: float = 0.5

    def __post_init__(self) -> None:
        self._set_fields(
            **check_steps(self),
            num_cycles=check_real("num_cycles", self.num_cycles, low=0.0, low_open=True),
        )

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, total = float(self.num_warmup_steps), float(self.num_training_steps)
        step = xp.minimum(step, total)  # hold the value at T
        decay = cosine_wave(cosine_progress(step, warmup, total), float(self.num_cycles), xp)
        return xp.where(step < warmup, linear_warmup(step, warmup, xp), decay)


@dataclasses.dataclass(frozen=True)
class CosineWithRestarts(Multiplier):
    """transformers' ``get_cosine_with_hard_restarts_schedule_with_warmup`` multiplier.

    λ(t) = t / max(1, W) for t < W; then with p = (t − W) / max(1, T − W): 0 if p >= 1,
    else max(0, ½(1 + cos(π·((c·p) mod 1)))): c half-cosine decays, each restarting at 1.

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.
        num_training_steps: T, the end of the last cycle.
        num_cycles: c, the number of hard restarts (cycles).

    Raises:
        TypeError: if a step count is not an integer or ``num_cycles`` not a number.
        ValueError: if a step count is negative or ``num_cycles`` <= 0.

    Example:
        >>> s = CosineWithRestarts(num_warmup_steps=0, num_training_steps=8, num_cycles=2)
        >>> s(0), s(4), s(8)
        (1.0, 1.0, 0.0)
    """

    name = "cosine_with_restarts"
    num_warmup_steps: int
    num_training_steps: int
    num_cycles: float = 1

    def __post_init__(self) -> None:
        self._set_fields(
            **check_steps(self),
            num_cycles=check_real("num_cycles", self.num_cycles, low=0.0, low_open=True),
        )

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, total = float(self.num_warmup_steps), float(self.num_training_steps)
        progress = cosine_progress(step, warmup, total)
        # p clipped to [0, 1] (the value from p = 1 on is 0), so c·p stays finite; then
        # (c·p) mod 1, exactly (floor is in every namespace, `%` is not).
        cycles = float(self.num_cycles) * unit_interval(progress, xp)
        decay = 0.5 * (1.0 + xp.cos(xp.pi * (cycles - xp.floor(cycles))))
        decay = xp.where(progress >= 1.0, 0.0, decay)
        return xp.where(step < warmup, linear_warmup(step, warmup, xp), decay)
