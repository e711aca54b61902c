"""``polynomial``: linear warmup, then polynomial decay from ``lr_init`` to ``lr_end``."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsize._validation import check_real
from stepsize.schedules._ops import ArrayNamespace
from stepsize.schedules._shared import Multiplier, check_steps, linear_warmup, unit_interval

__all__ = ["Polynomial"]


@dataclasses.dataclass(frozen=True)
class Polynomial(Multiplier):
    """transformers' ``get_polynomial_decay_schedule_with_warmup`` multiplier.

    λ(t) = t / max(1, W) for t < W; lr_end / lr_init for t > T; otherwise
    ((lr_init − lr_end)·(1 − (t − W) / (T − W))^power + lr_end) / lr_init. The multiplier
    is relative to ``lr_init``, the optimizer's base lr (``stepsize.torch`` passes it), and
    is computed as r + (1 − r)·(…)^power with r = lr_end / lr_init: the same to rounding,
    and accurate for any ``lr_init``, subnormal or near the float range.
    With W == T, transformers divides by zero at t = T; this returns lr_end / lr_init.

    Args:
        num_warmup_steps: W, steps of linear warmup from 0.
        num_training_steps: T, the step at which lr_end is reached.
        lr_init: the base lr the multiplier applies to (> lr_end).
        lr_end: the final lr (>= 0).
        power: the decay's exponent (>= 0; 1 is linear).

    Raises:
        TypeError: for a step count that is not an integer or an lr or ``power`` that is
            not a number.
        ValueError: for a negative step count, ``lr_end`` < 0, ``lr_init`` <= ``lr_end``
            (with transformers' message) or ``power`` < 0.

    Example:
        >>> s = Polynomial(num_warmup_steps=0, num_training_steps=10, lr_end=0.0, power=2)
        >>> s(0), s(5), s(10)
        (1.0, 0.25, 0.0)
    """

    name = "polynomial"
    num_warmup_steps: int
    num_training_steps: int
    lr_init: float = 1.0
    lr_end: float = 1e-7
    power: float = 1.0

    def __post_init__(self) -> None:
        lr_init = check_real("lr_init", self.lr_init)
        lr_end = check_real("lr_end", self.lr_end)
        if not lr_init > lr_end:  # transformers' check and text, before the others
            raise ValueError(f"lr_end ({lr_end}) must be smaller than initial lr ({lr_init})")
        check_real("lr_end", lr_end, low=0.0)  # and so lr_init > 0
        self._set_fields(
            **check_steps(self),
            lr_init=lr_init,
            lr_end=lr_end,
            power=check_real("power", self.power, low=0.0),
        )

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        warmup, total = float(self.num_warmup_steps), float(self.num_training_steps)
        end_rate = self.lr_end / self.lr_init  # in [0, 1): lr_init > lr_end >= 0
        # transformers switches to lr_end after T; with W == T also at T (no 0 / 0 there).
        end_from = float(self.num_training_steps + 1) if warmup < total else warmup
        # In [0, 1] wherever the decay applies; clipped so other branches cannot overflow.
        pct_remaining = unit_interval(1.0 - (step - warmup) / max(1.0, total - warmup), xp)
        decay = end_rate + (1.0 - end_rate) * xp.power(pct_remaining, float(self.power))
        end = xp.where(step >= end_from, end_rate, decay)
        return xp.where(step < warmup, linear_warmup(step, warmup, xp), end)
