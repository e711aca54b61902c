"""``linear``: linear warmup to 1, then linear decay to 0 at ``num_training_steps``."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import Multiplier, check_steps, linear_warmup

__all__ = ["Linear"]


@dataclasses.dataclass(frozen=True)
class Linear(Multiplier):
    """transformers' ``get_linear_schedule_with_warmup`` multiplier.

    λ(t) = t / max(1, W) for t < W, then max(0, (T − t) / max(1, T − W)): 0 from T on.
    W > T is allowed, as in transformers (the warmup is cut off at W, then 0).

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.
        num_training_steps: T, the step at which the multiplier reaches 0.

    Raises:
        TypeError: if a step count is not an integer.
        ValueError: if a step count is negative.

    Example:
        >>> Linear(num_warmup_steps=2, num_training_steps=10)(6)
        0.5
    """

    name = "linear"
    num_warmup_steps: int
    num_training_steps: int

    def __post_init__(self) -> None:
        self._set_fields(**check_steps(self))

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, total = float(self.num_warmup_steps), float(self.num_training_steps)
        decay = xp.maximum(0.0, (total - step) / max(1.0, total - warmup))
        return xp.where(step < warmup, linear_warmup(step, warmup, xp), decay)
