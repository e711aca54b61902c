"""``inverse_sqrt``: linear warmup, then decay as 1 / sqrt of the (shifted, scaled) step."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize._validation import check_optional, check_real
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import Multiplier, check_steps, linear_warmup

__all__ = ["InverseSqrt"]


@dataclasses.dataclass(frozen=True)
class InverseSqrt(Multiplier):
    """transformers' ``get_inverse_sqrt_schedule`` multiplier.

    λ(t) = t / max(1, W) for t < W, then 1 / √((t + timescale − W) / timescale): 1 at W,
    falling as 1/√t. Computed as √(timescale / (t + timescale − W)), which cannot overflow
    for a tiny timescale.

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.
        timescale: the decay's time scale (> 0); None means W, or 10000 when W is 0.

    Raises:
        TypeError: if ``num_warmup_steps`` is not an integer or ``timescale`` is neither a
            number nor None.
        ValueError: if ``num_warmup_steps`` is negative or ``timescale`` <= 0.

    Example:
        >>> s = InverseSqrt(num_warmup_steps=2)
        >>> s(2), s(8)
        (1.0, 0.5)
    """

    name = "inverse_sqrt"
    num_warmup_steps: int
    timescale: float | None = None

    def __post_init__(self) -> None:
        self._set_fields(
            **check_steps(self, "num_warmup_steps"),
            timescale=check_optional(
                check_real, "timescale", self.timescale, low=0.0, low_open=True
            ),
        )

    @property
    def effective_timescale(self) -> float:
        """``timescale``, or its default: W, or 10000 when W is 0."""
        if self.timescale is not None:
            return self.timescale
        return self.num_warmup_steps or 10_000

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, timescale = float(self.num_warmup_steps), float(self.effective_timescale)
        shifted = step + (timescale - warmup)
        # shifted >= timescale wherever the decay applies, so the ratio is in [0, 1]; the
        # guard keeps the warmup branch's too.
        decay = xp.sqrt(timescale / xp.maximum(shifted, timescale))
        return xp.where(step < warmup, linear_warmup(step, warmup, xp), decay)
