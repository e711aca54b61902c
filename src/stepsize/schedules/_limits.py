"""How large a composition may grow, checked before anything recurses into it.

``Join``, ``Scale`` and ``WithWarmup`` nest schedules, and evaluating, printing, comparing or
saving a schedule recurses through them. Two limits keep that bounded: a schedule is nested at
most ``MAX_DEPTH`` levels deep (a schedule that holds no other is one level; each composition
around it adds one), and holds at most ``MAX_SCHEDULES`` schedules in all, counting every
occurrence (a piece used twice counts twice, as evaluating it twice costs twice). Compositions
check both when they are built; ``from_config`` checks a config before it builds anything,
without recursion, so a config nested 10 000 deep (or one that contains itself) is a
``ValueError``, not a ``RecursionError``.

Example:
    >>> from stepsize import schedules
    >>> s = schedules.get("constant")
    >>> for _ in range(MAX_DEPTH - 1):
    ...     s = schedules.Scale(s, 1.0)
    >>> schedules.Scale(s, 1.0)
    Traceback (most recent call last):
    ...
    ValueError: schedule is nested too deeply: at most 32 levels (MAX_DEPTH), got 33
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stepsize._validation import describe

__all__ = ["MAX_DEPTH", "MAX_SCHEDULES", "check_config_shape", "hold", "is_schedule_config"]

MAX_DEPTH = 32
"""The most levels a schedule may nest: a plain schedule is one, each Join, Scale or WithWarmup
around it adds one."""

MAX_SCHEDULES = 10_000
"""The most schedules one schedule may hold in all, itself included, counting repeats."""


def hold(composition: Any, argument: str, children: Iterable[Any]) -> None:
    """Records on ``composition`` its depth and size (``_depth``, ``_size``), checked.

    Each child's own depth and size are read from it, so this costs one step per child,
    however deep the children are.

    Raises:
        ValueError: naming ``argument``, if the composition would be nested deeper than
            ``MAX_DEPTH`` or hold more than ``MAX_SCHEDULES`` schedules.
    """
    pieces = list(children)
    depth = 1 + max((child._depth for child in pieces), default=0)
    size = 1 + sum(child._size for child in pieces)
    if depth > MAX_DEPTH:
        raise ValueError(
            f"{argument} is nested too deeply: at most {MAX_DEPTH} levels (MAX_DEPTH), got {depth}"
        )
    if size > MAX_SCHEDULES:
        raise ValueError(
            f"{argument} holds too many schedules: at most {MAX_SCHEDULES} (MAX_SCHEDULES), "
            f"got {size}"
        )
    object.__setattr__(composition, "_depth", depth)  # the dataclass is frozen
    object.__setattr__(composition, "_size", size)


def is_schedule_config(value: Any) -> bool:
    """Whether ``value`` is the config of a nested schedule: a dict with a ``"name"``."""
    return isinstance(value, dict) and "name" in value


def check_config_shape(config: dict[str, Any]) -> None:
    """Walks ``config`` and the schedule configs nested in it, without recursion.

    Follows exactly what ``from_config`` would build: parameter values that are schedule
    configs, and the schedule configs in parameter values that are lists.

    Raises:
        TypeError: if a config has a key that is not a string.
        ValueError: if the configs nest deeper than ``MAX_DEPTH`` or hold more than
            ``MAX_SCHEDULES`` schedules (a config that contains itself does both).
    """
    pending: list[tuple[dict[str, Any], int]] = [(config, 1)]
    count = 0
    while pending:
        node, depth = pending.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ValueError(f"config is nested too deeply: at most {MAX_DEPTH} levels (MAX_DEPTH)")
        if count > MAX_SCHEDULES:
            raise ValueError(
                f"config holds too many schedules: at most {MAX_SCHEDULES} (MAX_SCHEDULES)"
            )
        for key, value in node.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"config keys must be strings, got {describe(key)} ({type(key).__name__})"
                )
            items = value if isinstance(value, list) else [value]
            pending.extend((item, depth + 1) for item in items if is_schedule_config(item))
