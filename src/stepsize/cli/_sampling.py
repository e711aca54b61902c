"""Which steps ``show`` prints and ``plot`` draws: a bounded number, however long the schedule.

A schedule of 10**12 steps is not evaluated at every step: ``sample_steps`` picks at most
``limit`` of them, evenly spaced, always with the first and the last step and both sides of
every phase boundary (``boundaries``), so the table and the curve keep each phase's start and
end. ``every_steps`` is the regular grid ``show --every K`` asks for.

Example:
    >>> sample_steps(1_000_001, 5, [10])
    [0, 9, 10, 500000, 1000000]
"""

from __future__ import annotations

from collections.abc import Iterable

from stepsize import schedules
from stepsize._validation import MAX_STEPS

__all__ = ["boundaries", "every_steps", "sample_steps"]


def boundaries(schedule: schedules.Schedule) -> list[int]:
    """The steps where a phase of ``schedule`` starts or ends, nested schedules' included.

    Example:
        >>> linear = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
        >>> boundaries(schedules.WithWarmup(linear, 5))
        [5, 7, 15]
    """
    found: set[int] = set()
    if isinstance(schedule, schedules.Scale):
        found.update(boundaries(schedule.schedule))
    elif isinstance(schedule, schedules.WithWarmup):
        warmup = schedule.num_warmup_steps
        found.update([warmup, *(warmup + b for b in boundaries(schedule.schedule))])
    elif isinstance(schedule, schedules.Join):
        starts = (0, *schedule.boundaries)
        for start, piece in zip(starts, schedule.schedules, strict=True):
            found.update([start, *(start + b for b in boundaries(piece))])
    elif isinstance(schedule, schedules.WarmupStableDecay):
        stable_end = schedule.num_warmup_steps + schedule.stable_steps
        found.update([schedule.num_warmup_steps, stable_end, stable_end + schedule.num_decay_steps])
    else:
        for count in ("num_warmup_steps", "num_training_steps"):
            found.add(getattr(schedule, count, 0) or 0)
    return sorted(step for step in found if 0 < step <= MAX_STEPS)


def sample_steps(count: int, limit: int, phase_ends: Iterable[int] = ()) -> list[int]:
    """At most ``limit`` (>= 2) of the steps 0 .. ``count`` − 1, in order.

    All of them if there are no more than ``limit``; else the first, the last, b − 1 and b for
    each b of ``phase_ends``, and evenly spaced steps up to ``limit`` in all (if the
    boundaries alone are more, an evenly spaced choice of them).
    """
    if count <= limit:
        return list(range(count))
    last = count - 1
    kept = {0, last} | {s for b in phase_ends for s in (b - 1, b) if 0 <= s <= last}
    if len(kept) >= limit:
        ordered = sorted(kept)
        return sorted({ordered[k * (len(ordered) - 1) // (limit - 1)] for k in range(limit)})
    spare = limit - len(kept)
    grid = (k * last // (spare + 1) for k in range(1, spare + 1))
    return sorted(kept.union(grid))


def every_steps(count: int, every: int) -> list[int]:
    """Steps 0, ``every``, 2·``every``, … below ``count``, and the last one, ``count`` − 1."""
    steps = list(range(0, count, every))
    if steps[-1] != count - 1:
        steps.append(count - 1)
    return steps
