"""Composition: ``Join`` runs schedules one after another, ``Scale`` multiplies one by a value.

Both check, as they are built, that the composition stays within the nesting limits
(``MAX_DEPTH``, ``MAX_SCHEDULES``) and, for ``Scale``, that its ``upper_bound`` is finite.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from typing import Any

from stepsize._validation import check_int, check_real, check_sequence, describe
from stepsize.schedules._base import Schedule
from stepsize.schedules._limits import hold
from stepsize.schedules._ops import PYTHON, ArrayNamespace
from stepsize.schedules._shared import check_schedule

__all__ = ["Join", "Scale"]


@dataclasses.dataclass(frozen=True)
class Join(Schedule):
    """Runs ``schedules[i]`` from ``boundaries[i - 1]`` (0 for the first) to ``boundaries[i]``.

    Each piece sees the steps since its own start, like optax's ``join_schedules``: with
    boundaries (b₁, …), λ(t) = s₀(t) for t < b₁, s₁(t − b₁) for b₁ <= t < b₂, and so on.

    Args:
        schedules: the pieces, at least one.
        boundaries: the steps where the next piece starts: one fewer than the pieces,
            integers >= 0 in non-decreasing order.

    Raises:
        TypeError: if ``schedules`` or ``boundaries`` is not a list or tuple, a piece is not
            a Schedule or a boundary not an integer.
        ValueError: for no pieces, a wrong number of boundaries, a negative boundary,
            boundaries out of order, or a composition nested deeper than ``MAX_DEPTH`` or
            holding more than ``MAX_SCHEDULES`` schedules.

    Example:
        >>> from stepsize import schedules
        >>> ramp = schedules.get("linear", num_warmup_steps=4, num_training_steps=4)
        >>> decay = schedules.get("cosine", num_warmup_steps=0, num_training_steps=8)
        >>> s = Join([ramp, decay], [4])
        >>> [round(s(t), 12) for t in (0, 2, 4, 8, 12)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    name = "join"
    schedules: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        pieces = check_sequence("schedules", self.schedules)
        bounds = check_sequence("boundaries", self.boundaries)
        if not pieces:
            raise ValueError(
                f"schedules must hold at least one schedule, got {describe(self.schedules)}"
            )
        pieces = tuple(check_schedule(f"schedules[{i}]", s) for i, s in enumerate(pieces))
        hold(self, "schedules", pieces)
        if len(bounds) != len(pieces) - 1:
            raise ValueError(
                f"boundaries must hold {len(pieces) - 1} step(s), one fewer than schedules, "
                f"got {describe(self.boundaries)}"
            )
        bounds = tuple(check_int(f"boundaries[{i}]", b, low=0) for i, b in enumerate(bounds))
        if list(bounds) != sorted(bounds):
            raise ValueError(f"boundaries must be non-decreasing, got {describe(self.boundaries)}")
        self._set_fields(schedules=pieces, boundaries=bounds)

    @property
    def upper_bound(self) -> float:
        """The largest of the pieces' bounds."""
        return max(piece.upper_bound for piece in self.schedules)

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        starts = (0.0, *map(float, self.boundaries))
        if xp is PYTHON:  # one step: evaluate only the piece it falls in (what `where` picks)
            index = bisect.bisect_right(starts, step) - 1
            return self.schedules[index].formula(step - starts[index], xp)
        # Each piece only ever sees steps >= 0, also in the branches not taken.
        result = self.schedules[-1].formula(xp.maximum(step - starts[-1], 0.0), xp)
        for piece, start, end in reversed(
            list(zip(self.schedules[:-1], starts[:-1], starts[1:], strict=True))
        ):
            value = piece.formula(xp.maximum(step - start, 0.0), xp)
            result = xp.where(step < end, value, result)
        return result


@dataclasses.dataclass(frozen=True)
class Scale(Schedule):
    """Multiplies ``schedule`` by ``value``: λ(t) = value · s(t), e.g. a peak learning rate.

    Args:
        schedule: the schedule to scale (a multiplier, for the HF schedules).
        value: the factor, a finite number >= 0.

    Its ``upper_bound`` is value × the schedule's; a value that makes it overflow the float
    range (say ``Scale(Scale(s, 1e308), 10)``) is refused, so a scaled schedule stays finite.

    Raises:
        TypeError: if ``schedule`` is not a Schedule or ``value`` not a number.
        ValueError: if ``value`` is negative, NaN or infinite, if value × the schedule's
            ``upper_bound`` is not finite, or if the composition nests deeper than
            ``MAX_DEPTH`` or holds more than ``MAX_SCHEDULES`` schedules.

    Example:
        >>> from stepsize import schedules
        >>> s = Scale(schedules.get("constant_with_warmup", num_warmup_steps=4), 3e-4)
        >>> s(2), s(10)
        (0.00015, 0.0003)
    """

    name = "scale"
    schedule: Schedule
    value: float

    def __post_init__(self) -> None:
        self._set_fields(
            schedule=check_schedule("schedule", self.schedule),
            value=check_real("value", self.value, low=0.0),
        )
        hold(self, "schedule", [self.schedule])
        inner = self.schedule.upper_bound
        if math.isfinite(inner) and not math.isfinite(self.upper_bound):
            raise ValueError(
                f"value times the schedule's upper bound must be a finite number, got "
                f"{describe(self.value)} × {inner!r}, beyond the float range"
            )

    @property
    def upper_bound(self) -> float:
        """``value`` × the schedule's bound (0 for a value of 0)."""
        return float(self.value) * self.schedule.upper_bound if self.value else 0.0

    def formula(self, step: Any, xp: ArrayNamespace) -> Any:
        return float(self.value) * self.schedule.formula(step, xp)
