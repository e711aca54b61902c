"""``constant`` and ``constant_with_warmup``: a multiplier of 1, optionally after a warmup."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize.schedules._base import Schedule
from stepsize.schedules._checks import check_non_negative_int
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._warmup import linear_warmup

__all__ = ["Constant", "ConstantWithWarmup"]


def _ones_like(step: Any) -> Any:
    # Keeps the step's shape and type (array, tensor) instead of returning a bare float.
    return step * 0.0 + 1.0


@dataclasses.dataclass(frozen=True)
class Constant(Schedule):
    """transformers' ``get_constant_schedule`` multiplier: λ(t) = 1.

    Example:
        >>> Constant()(1000)
        1.0
    """

    name = "constant"

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        return _ones_like(step)


@dataclasses.dataclass(frozen=True)
class ConstantWithWarmup(Schedule):
    """transformers' ``get_constant_schedule_with_warmup`` multiplier.

    λ(t) = t / max(1, W) for t < W, then 1.

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.

    Raises:
        ValueError: if ``num_warmup_steps`` is not an integer >= 0.

    Example:
        >>> ConstantWithWarmup(num_warmup_steps=4)(1)
        0.25
    """

    name = "constant_with_warmup"
    num_warmup_steps: int

    def __post_init__(self) -> None:
        self._set_fields(
            num_warmup_steps=check_non_negative_int("num_warmup_steps", self.num_warmup_steps)
        )

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup = self.num_warmup_steps
        return xp.where(step < warmup, linear_warmup(step, warmup), _ones_like(step))
