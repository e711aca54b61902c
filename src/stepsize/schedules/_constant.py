"""``constant`` and ``constant_with_warmup``: a multiplier of 1, optionally after a warmup."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import Multiplier, check_steps, linear_warmup, ones_like

__all__ = ["Constant", "ConstantWithWarmup"]


@dataclasses.dataclass(frozen=True)
class Constant(Multiplier):
    """transformers' ``get_constant_schedule`` multiplier: λ(t) = 1.

    Example:
        >>> Constant()(1000)
        1.0
    """

    name = "constant"

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        return ones_like(step)


@dataclasses.dataclass(frozen=True)
class ConstantWithWarmup(Multiplier):
    """transformers' ``get_constant_schedule_with_warmup`` multiplier.

    λ(t) = t / max(1, W) for t < W, then 1.

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.

    Raises:
        TypeError: if ``num_warmup_steps`` is not an integer.
        ValueError: if ``num_warmup_steps`` is negative.

    Example:
        >>> ConstantWithWarmup(num_warmup_steps=4)(1)
        0.25
    """

    name = "constant_with_warmup"
    num_warmup_steps: int

    def __post_init__(self) -> None:
        self._set_fields(**check_steps(self, "num_warmup_steps"))

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup = float(self.num_warmup_steps)
        return xp.where(step < warmup, linear_warmup(step, warmup, xp), ones_like(step))
