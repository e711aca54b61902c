"""``inverse_sqrt``: linear warmup, then decay as 1 / sqrt of the (shifted, scaled) step."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize.schedules._base import Schedule
from stepsize.schedules._checks import check_non_negative_int, check_real
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._warmup import linear_warmup

__all__ = ["InverseSqrt"]


@dataclasses.dataclass(frozen=True)
class InverseSqrt(Schedule):
    """transformers' ``get_inverse_sqrt_schedule`` multiplier.

    λ(t) = t / max(1, W) for t < W, then 1 / √((t + timescale − W) / timescale): 1 at W,
    falling as 1/√t.

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.
        timescale: the decay's time scale (> 0); None means W, or 10000 when W is 0.

    Raises:
        ValueError: if ``num_warmup_steps`` is not an integer >= 0 or ``timescale`` <= 0.

    Example:
        >>> s = InverseSqrt(num_warmup_steps=2)
        >>> s(2), s(8)
        (1.0, 0.5)
    """

    name = "inverse_sqrt"
    num_warmup_steps: int
    timescale: float | None = None

    def __post_init__(self) -> None:
        timescale = self.timescale
        if timescale is not None:
            timescale = check_real("timescale", timescale, low=0.0, low_open=True)
        self._set_fields(
            num_warmup_steps=check_non_negative_int("num_warmup_steps", self.num_warmup_steps),
            timescale=timescale,
        )

    @property
    def effective_timescale(self) -> float:
        """``timescale``, or its default: W, or 10000 when W is 0."""
        if self.timescale is not None:
            return self.timescale
        return self.num_warmup_steps or 10_000

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, timescale = self.num_warmup_steps, self.effective_timescale
        scaled = (step + (timescale - warmup)) / timescale
        # >= 1 wherever the decay applies; the guard keeps the warmup branch's sqrt finite.
        decay = 1.0 / xp.sqrt(xp.maximum(scaled, 1.0))
        return xp.where(step < warmup, linear_warmup(step, warmup), decay)
