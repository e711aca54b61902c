"""transformers' ``get_*_schedule*`` functions, built from one table on ``stepsize.schedules``.

Each row of ``_TABLE`` names a function, the schedule it builds, transformers' parameters
(names, order, defaults) and its documentation, and, where the function sees more than the
schedule, a hook: polynomial's ``lr_init`` and ``min_lr`` come from the optimizer's lr, and
``get_wsd_schedule`` keeps transformers' rule for ``num_training_steps`` with
``num_stable_steps``. The optimizer's lr the hooks read is checked too: a finite number >= 0
(or a one-element tensor holding one), so no arithmetic on it can fail or divide by zero.
Each function has exactly transformers' signature and returns a
:class:`~stepsize.torch.ScheduledLR` (a ``LambdaLR``-compatible scheduler whose state dict
loads with ``weights_only=True``). Arguments are checked once, by the schedule and
``ScheduledLR``; only what the schedule cannot see is checked here, with transformers' texts.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.optim import Optimizer

from stepsize._validation import check_real, describe
from stepsize.torch._plateau import get_reduce_on_plateau_schedule
from stepsize.torch._scheduler_row import SchedulerRow

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


_DEFAULT_LR = "optimizer.defaults['lr']"


def _base_lr(optimizer: Optimizer) -> float:
    """The optimizer's default lr, which transformers' ``lr_end`` and ``min_lr`` are relative
    to, checked: a finite number >= 0, or a one-element real tensor holding one."""
    defaults = getattr(optimizer, "defaults", None)
    if not isinstance(defaults, dict) or "lr" not in defaults:
        raise ValueError(
            f"{_DEFAULT_LR} must be the optimizer's lr, which lr_end and min_lr are relative "
            f"to; optimizer.defaults is {describe(defaults)}"
        )
    lr = defaults["lr"]
    if torch.is_tensor(lr):
        if lr.numel() != 1 or lr.is_meta:
            raise ValueError(
                f"{_DEFAULT_LR} must be a number or a one-element tensor with a value, got a "
                f"tensor of shape {tuple(lr.shape)} on {lr.device}"
            )
        lr = lr.item()
    return check_real(_DEFAULT_LR, lr, low=0.0)


def _polynomial(optimizer: Optimizer, arguments: dict[str, Any]) -> dict[str, Any]:
    return {**arguments, "lr_init": _base_lr(optimizer)}


def _min_lr(optimizer: Optimizer, arguments: dict[str, Any]) -> dict[str, Any]:
    arguments = dict(arguments)
    min_lr, rate = arguments.pop("min_lr"), arguments.pop("min_lr_rate")
    if min_lr is not None and rate is not None:
        raise ValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        min_lr = check_real("min_lr", min_lr, low=0.0)
        lr = _base_lr(optimizer)
        if min_lr > lr:
            raise ValueError(
                f"min_lr must be <= the optimizer's lr ({_DEFAULT_LR} = {lr!r}), "
                f"got {describe(min_lr)}"
            )
        rate = min_lr / lr if lr else 0.0  # 0 / 0: a zero lr leaves nothing to scale
    elif rate is None:
        raise ValueError(
            "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )
    return {**arguments, "min_lr_rate": rate}


def _wsd(optimizer: Optimizer, arguments: dict[str, Any]) -> dict[str, Any]:
    if arguments["num_training_steps"] is not None and arguments["num_stable_steps"] is not None:
        warnings.warn(
            "Both num_training_steps and num_stable_steps are specified. "
            "num_stable_steps will be used.",
            stacklevel=3,  # the caller of get_wsd_schedule
        )
        return {**arguments, "num_training_steps": None}
    return arguments


_W, _T = ("num_warmup_steps", int), ("num_training_steps", int)
_LAST_EPOCH = ("last_epoch", int, -1)
_MIN_LR = (("min_lr", float | None, None), ("min_lr_rate", float | None, None))
_W_DOC = "num_warmup_steps: steps of linear warmup from 0 to the lr."
_T_DOC = "num_training_steps: the total number of optimizer steps."
_CYCLES_DOC = "num_cycles: cosine waves over the decay (0.5: a half wave)."
_MIN_LR_DOC = (
    "min_lr: the final lr (give it or min_lr_rate).\n"
    "min_lr_rate: the final lr as a fraction of the lr."
)
_ONE_MIN_LR = ", or if not exactly one of ``min_lr`` and ``min_lr_rate`` is given"

_TABLE = (
    SchedulerRow(
        "get_constant_schedule",
        "constant",
        (_LAST_EPOCH,),
        summary="A constant lr: the one set in the optimizer.",
        arguments="",
        example_call="",
        example_lrs="[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]",
    ),
    SchedulerRow(
        "get_constant_schedule_with_warmup",
        "constant_with_warmup",
        (_W, _LAST_EPOCH),
        summary="Linear warmup from 0 over ``num_warmup_steps``, then the optimizer's lr.",
        arguments=_W_DOC,
        example_call="num_warmup_steps=4",
        example_lrs="[0.0, 0.25, 0.5, 0.75, 1.0, 1.0]",
    ),
    SchedulerRow(
        "get_linear_schedule_with_warmup",
        "linear",
        (_W, _T, _LAST_EPOCH),
        summary="Linear warmup from 0, then linear decay to 0 at ``num_training_steps``.",
        arguments=f"{_W_DOC}\n{_T_DOC}",
        example_call="num_warmup_steps=2, num_training_steps=5",
        example_lrs="[0.0, 0.5, 1.0, 0.6667, 0.3333, 0.0]",
    ),
    SchedulerRow(
        "get_cosine_schedule_with_warmup",
        "cosine",
        (_W, _T, ("num_cycles", float, 0.5), _LAST_EPOCH),
        summary="Linear warmup, then cosine decay; past ``num_training_steps`` the lr holds "
        "its final value (transformers' rises again).",
        arguments=f"{_W_DOC}\n{_T_DOC}\n{_CYCLES_DOC}",
        example_call="num_warmup_steps=1, num_training_steps=5",
        example_lrs="[0.0, 1.0, 0.8536, 0.5, 0.1464, 0.0]",
    ),
    SchedulerRow(
        "get_cosine_with_hard_restarts_schedule_with_warmup",
        "cosine_with_restarts",
        (_W, _T, ("num_cycles", int, 1), _LAST_EPOCH),
        summary="Linear warmup, then ``num_cycles`` cosine decays to 0, each from the lr.",
        arguments=f"{_W_DOC}\n{_T_DOC}\nnum_cycles: the number of decays (hard restarts).",
        example_call="num_warmup_steps=1, num_training_steps=5, num_cycles=2",
        example_lrs="[0.0, 1.0, 0.5, 1.0, 0.5, 0.0]",
    ),
    SchedulerRow(
        "get_polynomial_decay_schedule_with_warmup",
        "polynomial",
        (_W, _T, ("lr_end", float, 1e-7), ("power", float, 1.0), _LAST_EPOCH),
        summary="Linear warmup, then polynomial decay from the optimizer's default lr "
        "(``optimizer.defaults['lr']``) to ``lr_end``.",
        arguments=f"{_W_DOC}\n{_T_DOC}\nlr_end: the final lr.\npower: the decay's exponent.",
        example_call="num_warmup_steps=1, num_training_steps=5, lr_end=0.2, power=2",
        example_lrs="[0.0, 1.0, 0.65, 0.4, 0.25, 0.2]",
        hook=_polynomial,
        raises=", or if ``lr_end`` is not smaller than the optimizer's default lr",
    ),
    SchedulerRow(
        "get_inverse_sqrt_schedule",
        "inverse_sqrt",
        (_W, ("timescale", int | None, None), _LAST_EPOCH),
        summary="Linear warmup, then ``1/sqrt((t + timescale - W) / timescale)``.",
        arguments=f"{_W_DOC}\ntimescale: the decay's time scale; None: W, or 10000 if W is 0.",
        example_call="num_warmup_steps=2",
        example_lrs="[0.0, 0.5, 1.0, 0.8165, 0.7071, 0.6325]",
    ),
    SchedulerRow(
        "get_cosine_with_min_lr_schedule_with_warmup",
        "cosine_with_min_lr",
        (_W, _T, ("num_cycles", float, 0.5), _LAST_EPOCH, *_MIN_LR),
        summary="Linear warmup, then cosine decay to a minimum lr, held past "
        "``num_training_steps``.",
        arguments=f"{_W_DOC}\n{_T_DOC}\n{_CYCLES_DOC}\n{_MIN_LR_DOC}",
        example_call="num_warmup_steps=1, num_training_steps=5, min_lr=0.1",
        example_lrs="[0.0, 1.0, 0.8682, 0.55, 0.2318, 0.1]",
        hook=_min_lr,
        raises=_ONE_MIN_LR,
    ),
    SchedulerRow(
        "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
        "cosine_warmup_with_min_lr",
        (
            _W,
            _T,
            ("num_cycles", float, 0.5),
            _LAST_EPOCH,
            *_MIN_LR,
            ("warmup_lr_rate", float | None, None),
        ),
        summary="Warmup from ``warmup_lr_rate`` (or 1/W), then cosine decay reaching the "
        "minimum lr at step ``num_training_steps - 1`` and holding it.",
        arguments=f"{_W_DOC}\n{_T_DOC}\n{_CYCLES_DOC}\n{_MIN_LR_DOC}\n"
        "warmup_lr_rate: the lr at step 0 as a fraction of the lr; None: 1 / W.",
        example_call="num_warmup_steps=2, num_training_steps=5, min_lr_rate=0.1",
        example_lrs="[0.5, 1.0, 0.775, 0.325, 0.1, 0.1]",
        hook=_min_lr,
        raises=_ONE_MIN_LR,
    ),
    SchedulerRow(
        "get_wsd_schedule",
        "warmup_stable_decay",
        (
            _W,
            ("num_decay_steps", int),
            ("num_training_steps", int | None, None),
            ("num_stable_steps", int | None, None),
            ("warmup_type", str, "linear"),
            ("decay_type", str, "cosine"),
            ("min_lr_ratio", float, 0),
            ("num_cycles", float, 0.5),
            _LAST_EPOCH,
        ),
        summary="Warmup-stable-decay: warmup to the lr, hold it, decay to ``min_lr_ratio`` × "
        "the lr.",
        arguments=f"{_W_DOC}\nnum_decay_steps: steps of decay.\n"
        "num_training_steps: gives the stable phase, T − W − D, if num_stable_steps is None.\n"
        "num_stable_steps: steps at the lr (wins, with a warning, if both are given).\n"
        'warmup_type: "linear", "cosine" or "1-sqrt".\n'
        'decay_type: "linear", "cosine" or "1-sqrt".\n'
        f"min_lr_ratio: the floor (and start) as a fraction of the lr.\n{_CYCLES_DOC}",
        example_call="num_warmup_steps=1, num_decay_steps=2, num_training_steps=5",
        example_lrs="[0.0, 1.0, 1.0, 1.0, 0.5, 0.0]",
        hook=_wsd,
        raises=", or if neither ``num_training_steps`` nor ``num_stable_steps`` is given",
    ),
)


_FUNCTIONS = {row.function: row.build(__name__) for row in _TABLE}
get_constant_schedule = _FUNCTIONS["get_constant_schedule"]
get_constant_schedule_with_warmup = _FUNCTIONS["get_constant_schedule_with_warmup"]
get_linear_schedule_with_warmup = _FUNCTIONS["get_linear_schedule_with_warmup"]
get_cosine_schedule_with_warmup = _FUNCTIONS["get_cosine_schedule_with_warmup"]
get_cosine_with_hard_restarts_schedule_with_warmup = _FUNCTIONS[
    "get_cosine_with_hard_restarts_schedule_with_warmup"
]
get_polynomial_decay_schedule_with_warmup = _FUNCTIONS["get_polynomial_decay_schedule_with_warmup"]
get_inverse_sqrt_schedule = _FUNCTIONS["get_inverse_sqrt_schedule"]
get_cosine_with_min_lr_schedule_with_warmup = _FUNCTIONS[
    "get_cosine_with_min_lr_schedule_with_warmup"
]
get_cosine_with_min_lr_schedule_with_warmup_lr_rate = _FUNCTIONS[
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate"
]
get_wsd_schedule = _FUNCTIONS["get_wsd_schedule"]
