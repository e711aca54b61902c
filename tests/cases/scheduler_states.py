"""Saved states of the objects around the optimizer, for the loading tests and the fuzz suite.

* ``LOADERS``: name -> a function that builds the object (``ScheduledLR``, ``GreedyLR``,
  ``AdafactorSchedule``, ``GradientAccumulation``) in the middle of training, on an
  optimizer with two param groups; its ``state_dict()`` is the valid state to mutate.
* ``step(obj)``: one more step of the object (a metric for ``GreedyLR``, a micro-batch for
  ``GradientAccumulation``); ``lrs(obj)``: the lrs it reports (none for the accumulation).
* ``snapshot(obj)``: everything a load could change, the optimizer's param groups included,
  as one comparable string (NaN-safe), to show that a rejected load changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from stepsize import schedules
from stepsize.torch import (
    Adafactor,
    AdafactorSchedule,
    GradientAccumulation,
    GreedyLR,
    ScheduledLR,
    StreamingAverage,
)

__all__ = ["LOADERS", "lrs", "optimizer", "snapshot", "step"]

LINEAR = schedules.get("linear", num_warmup_steps=2, num_training_steps=10)
COSINE = schedules.get("cosine", num_warmup_steps=1, num_training_steps=8)


def optimizer(lrs: tuple[float, ...] = (0.1, 0.05), kind: type = torch.optim.SGD) -> Any:
    """An optimizer with one param group (of one parameter) per lr."""
    groups = [{"params": [torch.nn.Parameter(torch.ones(2))], "lr": lr} for lr in lrs]
    return kind(groups, lr=lrs[0])


def _scheduled_lr() -> ScheduledLR:
    scheduler = ScheduledLR(optimizer(), [LINEAR, COSINE])
    for _ in range(3):
        step(scheduler)
    return scheduler


def _greedy() -> GreedyLR:
    scheduler = GreedyLR(
        optimizer(), factor=0.5, patience=1, min_lr=1e-3, max_lr=[0.5, 0.4], smooth=True,
        window_size=3, cooldown=1, warmup=1, reset_start=5,
    )  # fmt: skip
    for metric in (3.0, 2.0, 1.0, 1.5, 2.5):
        scheduler.step(metric)
    return scheduler


def _adafactor_schedule() -> AdafactorSchedule:
    params = [torch.nn.Parameter(torch.ones(2, 3)), torch.nn.Parameter(torch.ones(3))]
    opt = Adafactor([{"params": params[:1]}, {"params": params[1:]}])
    scheduler = AdafactorSchedule(opt, initial_lr=1e-3)
    for _ in range(2):
        step(scheduler)
    return scheduler


def _accumulation() -> GradientAccumulation:
    model = torch.nn.Linear(2, 1)
    acc = GradientAccumulation(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=2)
    for _ in range(4):
        step(acc)
    return acc


LOADERS: dict[str, Callable[[], Any]] = {
    "ScheduledLR": _scheduled_lr,
    "GreedyLR": _greedy,
    "AdafactorSchedule": _adafactor_schedule,
    "GradientAccumulation": _accumulation,
}


def step(obj: Any, metric: float = 1.0, optimizer: bool = True) -> None:
    """One more step: of the optimizer (with gradients, unless not ``optimizer``) and the
    scheduler, or a micro-batch."""
    if isinstance(obj, GradientAccumulation):
        with obj.accumulate():
            obj.backward(obj.model(torch.ones(2)).sum())
        return
    for group in obj.optimizer.param_groups if optimizer else ():
        for p in group["params"]:
            p.grad = torch.full_like(p, 0.5)
    if optimizer:
        obj.optimizer.step()
    obj.step(metric) if isinstance(obj, GreedyLR) else obj.step()


def lrs(obj: Any) -> list[float]:
    """The lrs the scheduler reports and the optimizer's, as floats (none for accumulation)."""
    if isinstance(obj, GradientAccumulation):
        return []
    groups = [g["lr"] for g in obj.optimizer.param_groups if g["lr"] is not None]
    return [float(lr) for lr in [*obj.get_last_lr(), *groups]]


def snapshot(obj: Any) -> str:
    """The object's attributes and its optimizer's param groups, as one comparable string."""
    attributes = {key: _plain(value) for key, value in vars(obj).items() if key != "optimizer"}
    opt = obj.optimizer
    groups = [{k: _plain(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]
    grads = [_plain(p.grad) for g in opt.param_groups for p in g["params"]]
    return repr((attributes, groups, grads))


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return ("tensor", str(value.dtype), value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, StreamingAverage):
        return value.state_dict()
    if isinstance(value, schedules.Schedule):
        return value.get_config()
    if isinstance(value, torch.nn.Module | torch.optim.Optimizer):
        return type(value).__name__  # the model and optimizer: their state is compared above
    return value
