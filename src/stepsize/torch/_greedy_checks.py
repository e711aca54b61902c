"""The checks of what ``GreedyLR`` takes in: its settings and per-group bounds (shared by the
constructor and ``load_state_dict``, so a loaded state obeys the constructor's rules), the
bounds of param groups added later, its metrics, and a saved state as a whole."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch

from stepsize._validation import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_sequence,
    describe,
)
from stepsize.torch._scheduler_state import (
    checked_state,
    count,
    group_lr,
    lr_list,
    lr_value,
    shared_value,
)
from stepsize.torch._streaming_average import StreamingAverage, checked_window

__all__ = [
    "SETTINGS",
    "STATE_KEYS",
    "added_groups",
    "bounds_per_group",
    "checked_greedy_state",
    "metric_value",
    "setting",
]

Check = Callable[[str, Any], Any]


# The constructor's arguments that are also state, each with its check.
SETTINGS: dict[str, Check] = {
    "mode": lambda a, v: check_choice(a, v, ("min", "max")),
    "factor": lambda a, v: check_real(a, v, low=0.0, high=1.0, low_open=True, high_open=True),
    "patience": count,
    "threshold": lambda a, v: check_real(a, v, low=0.0),
    "threshold_mode": lambda a, v: check_choice(a, v, ("rel", "abs")),
    "cooldown": count,
    "warmup": count,
    "eps": lambda a, v: check_real(a, v, low=0.0),
    "verbose": check_bool,
    "smooth": check_bool,
    "window_size": lambda a, v: check_int(a, v, low=1),
    "reset_start": count,
}


def setting(argument: str, value: Any) -> Any:
    """The constructor argument ``argument`` checked by its ``SETTINGS`` rule."""
    return SETTINGS[argument](argument, value)


# state_dict()'s keys, in transformers' order, and the smoothing window (when smoothing).
STATE_KEYS = (
    "factor", "min_lrs", "max_lrs", "patience", "verbose", "cooldown", "warmup",
    "cooldown_counter", "warmup_counter", "mode", "threshold", "threshold_mode", "best",
    "num_bad_epochs", "num_good_epochs", "eps", "last_epoch", "smooth", "window_size",
    "reset_start", "reset_start_original", "_last_lr", "_init_lrs",
)  # fmt: skip
_LR_LISTS = ("min_lrs", "max_lrs", "_last_lr", "_init_lrs")


def _checks(num_groups: int) -> dict[str, Check]:
    def lrs(argument: str, value: Any) -> list[float]:
        return lr_list(argument, value, num_groups, floats=True)

    checks: dict[str, Check] = dict.fromkeys(STATE_KEYS, count)  # the counters
    checks.update(SETTINGS)
    checks.update(dict.fromkeys(_LR_LISTS, lrs))
    checks["best"] = lambda a, v: float(check_real(a, v, allow_inf=True))  # ±inf: none yet
    checks["_streaming_avg"] = lambda a, v: v  # checked with the window size it ends up with
    return checks


def checked_greedy_state(state_dict: Any, current: dict[str, Any]) -> dict[str, Any]:
    """The entries of a ``GreedyLR.state_dict()``, checked against each other and against
    ``current`` (the values of the keys the state lacks: a partial state keeps them).

    The result's ``_streaming_avg`` is the ``StreamingAverage`` to use (or None without
    smoothing): the loaded window, the current one, or a new one.

    Raises:
        TypeError: if ``state_dict`` is not a dict or an entry has the wrong type.
        ValueError: for an unknown key, a bad value (NaN, infinite lr, negative count, list of
            the wrong length...), a ``min_lrs`` entry above its ``max_lrs`` one, or a window
            when ``smooth`` is False.
    """
    state = checked_state(state_dict, _checks(len(current["min_lrs"])))
    final = {**current, **state}
    for i, (low, high) in enumerate(zip(final["min_lrs"], final["max_lrs"], strict=True)):
        if low > high:
            raise ValueError(
                f"state_dict['min_lrs'][{i}] must be <= max_lrs[{i}] ({high}), got {describe(low)}"
            )
    window = state.get("_streaming_avg")
    if window is not None:
        if not final["smooth"]:
            raise ValueError(
                f"state_dict['_streaming_avg'] must be None when smooth is False, got "
                f"{describe(window)}"
            )
        argument = "state_dict['_streaming_avg']"
        size, values, total = checked_window(window, final["window_size"], argument)
        average = StreamingAverage(size)
        average.values.extend(values)
        average.sum = total
        state["_streaming_avg"] = average
    elif not final["smooth"]:
        state["_streaming_avg"] = None
    elif "_streaming_avg" in state or current["_streaming_avg"] is None:
        state["_streaming_avg"] = StreamingAverage(final["window_size"])
    else:
        state["_streaming_avg"] = current["_streaming_avg"]
    return state


def bounds_per_group(min_lr: Any, max_lr: Any, num_groups: int) -> tuple[list[float], list[float]]:
    """The constructor's ``min_lr`` and ``max_lr``: one finite number >= 0 for every group,
    or a list or tuple with one per group; each ``min_lr`` at most its ``max_lr``."""
    lows, highs = _per_group("min_lr", min_lr, num_groups), _per_group("max_lr", max_lr, num_groups)
    for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
        _ordered(low, high, index)
    return lows, highs


def added_groups(
    optimizer: torch.optim.Optimizer, known: int, min_lrs: list[float], max_lrs: list[float]
) -> tuple[list[float], list[float], list[float]]:
    """The lrs, min_lrs and max_lrs of the param groups after the first ``known``: each group's
    own lr, and the bound appended for it to ``min_lrs`` / ``max_lrs`` or else the one every
    group shares."""
    groups = optimizer.param_groups
    if len(groups) < known:
        raise ValueError(f"the optimizer must keep its {known} param groups, got {len(groups)}")
    lrs, lows, highs = [], [], []
    for index in range(known, len(groups)):
        lrs.append(group_lr(optimizer, index))
        low, high = _bound(min_lrs, "min_lr", index), _bound(max_lrs, "max_lr", index)
        lows.append(low)
        highs.append(_ordered(low, high, index)[1])
    return lrs, lows, highs


def metric_value(metrics: Any) -> float:
    """``GreedyLR.step``'s metric as a float: a real number, or a tensor or NumPy array that
    holds one; NaN and ±inf are passed on (a bad evaluation), huge integers become inf."""
    value = metrics
    if isinstance(value, torch.Tensor) or type(value).__module__ == "numpy":
        size = value.numel() if isinstance(value, torch.Tensor) else getattr(value, "size", 1)
        if size != 1:  # the shape, not the values: an array's repr spans several lines
            shape = tuple(value.shape)
            raise ValueError(f"metrics must hold one value, got {size} values of shape {shape}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"metrics must be a real number or a one-element tensor, got {describe(metrics)} "
            f"({type(metrics).__name__})"
        )
    try:
        return float(value)
    except OverflowError:  # an integer beyond the float range
        return math.inf


def _per_group(argument: str, value: Any, num_groups: int) -> list[float]:
    if not isinstance(value, list | tuple):
        return [float(check_real(argument, value, low=0.0))] * num_groups
    values = check_sequence(argument, value, length=num_groups)
    return [float(check_real(f"{argument}[{i}]", v, low=0.0)) for i, v in enumerate(values)]


def _bound(bounds: list[float], argument: str, index: int) -> float:
    if index < len(bounds):
        return lr_value(f"{argument}s[{index}]", bounds[index])
    advice = f"append the new group's bound to the scheduler's {argument}s first"
    return float(shared_value(f"{argument}s", bounds, index, advice))


def _ordered(low: float, high: float, index: int) -> tuple[float, float]:
    if low > high:
        raise ValueError(f"min_lr {low} is above max_lr {high} for param group {index}")
    return low, high
