"""A ``GradientAccumulation`` window's bookkeeping: where the data ends (so the last window is
averaged over its real size), the update that ends a window (with the scheduler and scaler
it steps), and the saved counters that record the micro-batches and updates so far."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import torch

from stepsize._validation import check_instance, check_int, describe

__all__ = [
    "COUNTERS",
    "apply_update",
    "checked_counters",
    "checked_scaler",
    "checked_scheduler",
    "lookahead",
]

# The counters a state dict holds; every update uses at least one micro-batch.
COUNTERS = ("micro_steps", "optimizer_steps", "skipped_steps")

_T = TypeVar("_T")


def lookahead(iterable: Iterable[_T]) -> Iterator[tuple[_T, int | None, bool]]:
    """Each item with the number of items from it to the end (None without ``len()``; at
    least 1) and whether it is the last, which is known by looking one item ahead.

    Example:
        >>> list(lookahead("abc"))
        [('a', 3, False), ('b', 2, False), ('c', 1, True)]
    """
    try:
        remaining: int | None = len(iterable)  # type: ignore[arg-type]
    except TypeError:
        remaining = None
    iterator = iter(iterable)
    sentinel: Any = object()
    item = next(iterator, sentinel)
    while item is not sentinel:
        following = next(iterator, sentinel)
        yield item, remaining, following is sentinel
        item = following
        if remaining is not None:
            remaining = max(remaining - 1, 1)


def checked_scheduler(scheduler: Any) -> Any:
    """``scheduler`` if it is None or an LR scheduler stepped without a metric."""
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"scheduler must have a step() method, got {describe(scheduler)}")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError(
            f"scheduler {type(scheduler).__name__} is stepped with a metric: call its "
            "step(metric) yourself and pass scheduler=None"
        )
    return scheduler


def checked_scaler(scaler: Any) -> Any:
    """``scaler`` if it is None or has a ``GradScaler``'s methods."""
    methods = ("scale", "unscale_", "step", "update", "get_scale")
    if scaler is not None and not all(callable(getattr(scaler, m, None)) for m in methods):
        raise TypeError(f"scaler must be a torch.amp.GradScaler, got {describe(scaler)}")
    return scaler


def apply_update(
    optimizer: torch.optim.Optimizer, scaler: Any, factor: float, max_grad_norm: float | None
) -> tuple[bool, torch.Tensor | None]:
    """One optimizer update from the accumulated gradients, which it then sets to None.

    Unscales (with a ``GradScaler``), multiplies the gradients by ``factor`` (a window that
    ended early was divided by its planned size), clips their total norm to
    ``max_grad_norm``, steps and updates the scaler. If any of it raises, the gradients are
    still dropped, and a scaler that had unscaled is updated, so the next ``unscale_`` works.

    Returns:
        Whether the update was applied (False: the scaler skipped it for inf/NaN gradients,
        seen as its scale backing off), and the gradients' norm before clipping (or None).
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    unscaled = updated = False
    grad_norm = None
    try:
        if scaler is not None:
            scaler.unscale_(optimizer)
            unscaled = True
        if factor != 1:
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(factor)
        if max_grad_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        if scaler is None:
            optimizer.step()
            return True, grad_norm
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        updated = True
        return not scaler.get_scale() < scale, grad_norm
    finally:
        if unscaled and not updated:
            scaler.update()
        optimizer.zero_grad(set_to_none=True)


def checked_counters(state_dict: Any) -> dict[str, int]:
    """The counters of a ``GradientAccumulation.state_dict()``, checked.

    Raises:
        TypeError: if ``state_dict`` is not a dict or a counter not an integer.
        ValueError: if a key is missing or unknown, a counter negative or above 2**63, or
            ``optimizer_steps + skipped_steps`` exceeds ``micro_steps``.
    """
    check_instance("state_dict", state_dict, dict, "a dict")
    unknown = [key for key in state_dict if key not in COUNTERS]
    if unknown:
        raise ValueError(
            f"state_dict must hold only the keys {', '.join(COUNTERS)}, got {describe(unknown)}"
        )
    missing = [key for key in COUNTERS if key not in state_dict]
    if missing:
        raise ValueError(f"state_dict must hold {missing[0]!r}, got the keys {list(state_dict)}")
    counters = {key: check_int(f"state_dict[{key!r}]", state_dict[key], low=0) for key in COUNTERS}
    updates = counters["optimizer_steps"] + counters["skipped_steps"]
    if updates > counters["micro_steps"]:
        raise ValueError(
            "state_dict['optimizer_steps'] + state_dict['skipped_steps'] must be <= "
            f"state_dict['micro_steps'], got {updates} > {counters['micro_steps']}"
        )
    return counters
