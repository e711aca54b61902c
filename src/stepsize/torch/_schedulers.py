"""transformers' ``get_*_schedule*`` functions, built on ``stepsize.schedules``.

Each function keeps the signature, defaults and error texts of its transformers namesake
and returns a :class:`~stepsize.torch.ScheduledLR` (a ``LambdaLR``-compatible scheduler whose
state dict loads with ``weights_only=True``) over the schedule of the same name.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from stepsize import schedules
from stepsize.torch._scheduled_lr import ScheduledLR

__all__ = [
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_reduce_on_plateau_schedule",
    "get_wsd_schedule",
]

_WSD_TYPES = ("linear", "cosine", "1-sqrt")


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> ScheduledLR:
    """A constant lr: the one set in the optimizer.

    Args:
        optimizer: the optimizer whose lr is scheduled.
        last_epoch: index of the last step when resuming; -1 to start.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
        >>> get_constant_schedule(opt).get_last_lr()
        [0.5]
    """
    return ScheduledLR(optimizer, schedules.get("constant"), last_epoch)


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs: Any) -> ReduceLROnPlateau:
    """torch's ``ReduceLROnPlateau(optimizer, **kwargs)``: lowers the lr when a metric stalls.

    Step it with the metric: ``scheduler.step(val_loss)``.
    """
    return ReduceLROnPlateau(optimizer, **kwargs)


def get_constant_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1
) -> ScheduledLR:
    """Linear warmup from 0 over ``num_warmup_steps``, then the optimizer's lr.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> get_constant_schedule_with_warmup(opt, num_warmup_steps=4).get_last_lr()
        [0.0]
    """
    schedule = schedules.get("constant_with_warmup", num_warmup_steps=num_warmup_steps)
    return ScheduledLR(optimizer, schedule, last_epoch)


def get_linear_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> ScheduledLR:
    """Linear warmup from 0, then linear decay to 0 at ``num_training_steps``."""
    schedule = schedules.get(
        "linear", num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps
    )
    return ScheduledLR(optimizer, schedule, last_epoch)


def get_cosine_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> ScheduledLR:
    """Linear warmup, then cosine decay; ``num_cycles=0.5`` is a half cosine to 0.

    Past ``num_training_steps`` the lr holds its final value (transformers' rises again).
    """
    schedule = schedules.get(
        "cosine",
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        num_cycles=num_cycles,
    )
    return ScheduledLR(optimizer, schedule, last_epoch)


def get_cosine_with_hard_restarts_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: int = 1,
    last_epoch: int = -1,
) -> ScheduledLR:
    """Linear warmup, then ``num_cycles`` cosine decays to 0, each restarting at the top."""
    schedule = schedules.get(
        "cosine_with_restarts",
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        num_cycles=num_cycles,
    )
    return ScheduledLR(optimizer, schedule, last_epoch)


def get_polynomial_decay_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    lr_end: float = 1e-7,
    power: float = 1.0,
    last_epoch: int = -1,
) -> ScheduledLR:
    """Linear warmup, then polynomial decay from ``optimizer.defaults["lr"]`` to ``lr_end``.

    Raises:
        ValueError: if ``lr_end`` is not smaller than the optimizer's default lr.
    """
    lr_init = optimizer.defaults["lr"]
    if not (lr_init > lr_end):
        raise ValueError(f"lr_end ({lr_end}) must be smaller than initial lr ({lr_init})")
    schedule = schedules.get(
        "polynomial",
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        lr_init=float(lr_init),
        lr_end=float(lr_end),
        power=power,
    )
    return ScheduledLR(optimizer, schedule, last_epoch)


def get_inverse_sqrt_schedule(
    optimizer: Optimizer,
    num_warmup_steps: int,
    timescale: int | None = None,
    last_epoch: int = -1,
) -> ScheduledLR:
    """Linear warmup, then ``1/sqrt((t + timescale - W) / timescale)``.

    ``timescale`` defaults to ``num_warmup_steps``, or 10000 when that is 0.
    """
    schedule = schedules.get("inverse_sqrt", num_warmup_steps=num_warmup_steps, timescale=timescale)
    return ScheduledLR(optimizer, schedule, last_epoch)


def _min_lr_rate(optimizer: Optimizer, min_lr: float | None, min_lr_rate: float | None) -> float:
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        return float(min_lr / optimizer.defaults["lr"])
    if min_lr_rate is None:
        raise ValueError(
            "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )
    return min_lr_rate


def get_cosine_with_min_lr_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
) -> ScheduledLR:
    """Linear warmup, then cosine decay to ``min_lr`` (or ``min_lr_rate`` × the lr).

    Raises:
        ValueError: unless exactly one of ``min_lr`` and ``min_lr_rate`` is given.
    """
    schedule = schedules.get(
        "cosine_with_min_lr",
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        min_lr_rate=_min_lr_rate(optimizer, min_lr, min_lr_rate),
        num_cycles=num_cycles,
    )
    return ScheduledLR(optimizer, schedule, last_epoch)


def get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
    warmup_lr_rate: float | None = None,
) -> ScheduledLR:
    """``cosine_warmup_with_min_lr``: warmup from ``warmup_lr_rate`` (or 1/W), then cosine
    decay reaching ``min_lr`` at step ``num_training_steps - 1`` and holding it.

    Raises:
        ValueError: unless exactly one of ``min_lr`` and ``min_lr_rate`` is given.
    """
    schedule = schedules.get(
        "cosine_warmup_with_min_lr",
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        min_lr_rate=_min_lr_rate(optimizer, min_lr, min_lr_rate),
        num_cycles=num_cycles,
        warmup_lr_rate=warmup_lr_rate,
    )
    return ScheduledLR(optimizer, schedule, last_epoch)


def get_wsd_schedule(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_decay_steps: int,
    num_training_steps: int | None = None,
    num_stable_steps: int | None = None,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> ScheduledLR:
    """Warmup-stable-decay: warmup to the lr, hold it, decay to ``min_lr_ratio`` × the lr.

    The stable phase lasts ``num_stable_steps``, or ``num_training_steps - num_warmup_steps
    - num_decay_steps`` when only ``num_training_steps`` is given. Warmup and decay shapes
    are ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.

    Raises:
        ValueError: if neither ``num_training_steps`` nor ``num_stable_steps`` is given, or
            for an unknown warmup or decay type.

    Warns:
        UserWarning: if both are given (``num_stable_steps`` is used).
    """
    if num_training_steps is None and num_stable_steps is None:
        raise ValueError("Either num_training_steps or num_stable_steps must be specified.")
    if num_training_steps is not None and num_stable_steps is not None:
        warnings.warn(
            "Both num_training_steps and num_stable_steps are specified. "
            "num_stable_steps will be used.",
            stacklevel=2,
        )
        num_training_steps = None
    if warmup_type not in _WSD_TYPES:
        raise ValueError(
            f"Unknown warmup type: {warmup_type}, expected 'linear', 'cosine' or '1-sqrt'"
        )
    if decay_type not in _WSD_TYPES:
        raise ValueError(
            f"Unknown decay type: {decay_type}, expected 'linear', 'cosine' or '1-sqrt'"
        )
    schedule = schedules.get(
        "warmup_stable_decay",
        num_warmup_steps=num_warmup_steps,
        num_decay_steps=num_decay_steps,
        num_training_steps=num_training_steps,
        num_stable_steps=num_stable_steps,
        warmup_type=warmup_type,
        decay_type=decay_type,
        min_lr_ratio=min_lr_ratio,
        num_cycles=num_cycles,
    )
    return ScheduledLR(optimizer, schedule, last_epoch)
