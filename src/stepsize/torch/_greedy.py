"""``GreedyLR``: a metric-driven scheduler that lowers the lr on plateaus and raises it on
steady improvement (transformers 5's ``GreedyLR`` / ``get_greedy_schedule``)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from stepsize._validation import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_sequence,
)
from stepsize.torch._streaming_average import StreamingAverage

__all__ = ["GreedyLR", "get_greedy_schedule"]


# Subclassing ReduceLROnPlateau makes training loops that step metric-driven schedulers
# with the metric (transformers' Trainer, Lightning) treat GreedyLR as one.
class GreedyLR(ReduceLROnPlateau):
    """Lowers the lr after ``patience`` bad evaluations and raises it after ``patience``
    good ones, stepped with a metric like ``ReduceLROnPlateau``: ``scheduler.step(loss)``.

    An evaluation is good when it beats the best so far by ``threshold`` (``"abs"``) or by
    a ``threshold`` fraction (``"rel"``). After more than ``patience`` consecutive bad
    ones every lr becomes ``max(lr·factor, min_lr)`` and ``cooldown`` evaluations are
    skipped; after more than ``patience`` good ones it becomes ``min(lr/factor, max_lr)``
    and ``warmup`` evaluations are skipped (changes of at most ``eps`` are not made).
    Each due lowering that leaves every lr at its ``min_lr`` counts ``reset_start`` down;
    at 0 the initial lrs and the initial state come back (a raise restores the count).

    ``min_lr`` is an absolute floor: with the default 1e-3 and a smaller lr (5e-5 is
    common in fine-tuning) the lr is never lowered, so pass a ``min_lr`` below your lr.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        mode: ``"min"`` (lower metric is better) or ``"max"``.
        factor: multiplier in (0, 1) to lower the lr; its inverse raises it.
        patience: bad (or good) evaluations tolerated before the lr changes.
        threshold: how much better a metric must be to count as an improvement (>= 0).
        threshold_mode: ``"abs"`` or ``"rel"``.
        cooldown: evaluations to skip after a lowering.
        warmup: evaluations to skip after a raise.
        min_lr: lower bound, one number >= 0 or a list with one per param group.
        max_lr: upper bound, one number (``math.inf`` for none) or one per param group.
        eps: smallest lr change that is applied (>= 0).
        verbose: print every change.
        smooth: replace each metric by the mean of the last ``window_size`` metrics.
        window_size: the smoothing window.
        reset_start: due lowerings at ``min_lr`` before the state is reset.

    Raises:
        TypeError: for an argument of the wrong type: ``optimizer`` not an optimizer, a
            count not an integer, a number that is a string, a bool or None, a mode not a
            string, ``verbose`` or ``smooth`` not a bool.
        ValueError: for ``factor`` outside (0, 1), an unknown ``mode`` or
            ``threshold_mode``, a negative or NaN number, a wrong number of
            ``min_lr``/``max_lr`` values, a ``min_lr`` above its ``max_lr``, or a negative
            count (``window_size`` < 1).

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> sched = GreedyLR(opt, factor=0.5, patience=1, min_lr=0.01)
        >>> for loss in [3.0, 2.0, 1.0]:
        ...     sched.step(loss)
        >>> sched.get_last_lr()
        [0.2]
    """

    # torch annotates the lrs list[float | Tensor], which a list[float] does not match (a list
    # is invariant); these lrs are always Python floats.
    _last_lr: list[float]  # type: ignore[assignment]

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.95,
        patience: int = 10,
        threshold: float = 1e-6,
        threshold_mode: str = "abs",
        cooldown: int = 0,
        warmup: int = 0,
        min_lr: float | list[float] = 1e-3,
        max_lr: float | list[float] = 1.0,
        eps: float = 1e-8,
        verbose: bool = False,
        smooth: bool = False,
        window_size: int = 50,
        reset_start: int = 500,
    ) -> None:
        self.optimizer = check_instance(
            "optimizer", optimizer, Optimizer, "a torch.optim.Optimizer"
        )
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.factor = check_real("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.threshold = check_real("threshold", threshold, low=0.0)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.eps = check_real("eps", eps, low=0.0)
        self.patience = check_int("patience", patience, low=0)
        self.cooldown = check_int("cooldown", cooldown, low=0)
        self.warmup = check_int("warmup", warmup, low=0)
        self.window_size = check_int("window_size", window_size, low=1)
        self.reset_start = self.reset_start_original = check_int("reset_start", reset_start, low=0)
        self.verbose = check_bool("verbose", verbose)
        self.smooth = check_bool("smooth", smooth)
        num_groups = len(optimizer.param_groups)
        self.min_lrs = _per_group("min_lr", min_lr, num_groups, allow_inf=False)
        self.max_lrs = _per_group("max_lr", max_lr, num_groups, allow_inf=True)
        for i, (low_lr, high_lr) in enumerate(zip(self.min_lrs, self.max_lrs, strict=True)):
            if low_lr > high_lr:
                raise ValueError(f"min_lr {low_lr} is above max_lr {high_lr} for param group {i}")
        self.last_epoch = 0
        self._init_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self._last_lr = list(self._init_lrs)
        self._streaming_avg: StreamingAverage | None = None
        self._reset()
        for i, (lr, low_lr) in enumerate(zip(self._init_lrs, self.min_lrs, strict=True)):
            if lr <= low_lr:
                warnings.warn(
                    f"param group {i} has lr {lr} <= min_lr {low_lr}: GreedyLR never lowers "
                    "it (pass a smaller min_lr)",
                    stacklevel=2,
                )

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.num_good_epochs = 0
        self.cooldown_counter = 0
        self.warmup_counter = 0
        self.reset_start = self.reset_start_original
        self._streaming_avg = StreamingAverage(self.window_size) if self.smooth else None

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Takes one evaluation's metric (a float or a 0-d tensor) and adapts the lrs.

        Args:
            metrics: the metric value.
            epoch: the evaluation index to record; default: the previous one + 1.
        """
        current = float(metrics)
        if self._streaming_avg is not None:
            current = self._streaming_avg.streamavg(current)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch

        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        elif self.warmup_counter > 0:
            self.warmup_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        else:
            if self.is_better(current, self.best):
                self.best = current
                self.num_bad_epochs = 0
                self.num_good_epochs += 1
            else:
                self.num_bad_epochs += 1
                self.num_good_epochs = 0
            if self.num_good_epochs > self.patience:
                self._increase_lr(self.last_epoch)
                self.warmup_counter = self.warmup
                self.num_good_epochs = 0
            elif self.num_bad_epochs > self.patience:
                self._reduce_lr(self.last_epoch)
                self.cooldown_counter = self.cooldown
                self.num_bad_epochs = 0
        self._last_lr = [float(group["lr"]) for group in self.optimizer.param_groups]

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (1.0 + self.threshold)
        return current > best + self.threshold

    def _reduce_lr(self, epoch: int) -> None:
        all_at_min = True
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                self._set_lr(i, group, new_lr, epoch, "reducing")
            if float(group["lr"]) > self.min_lrs[i]:
                all_at_min = False
        if all_at_min:
            self.reset_start -= 1
            if self.reset_start <= 0:
                self._restore_initial()

    def _increase_lr(self, epoch: int) -> None:
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = min(old_lr / self.factor, self.max_lrs[i])
            if new_lr - old_lr > self.eps:
                self._set_lr(i, group, new_lr, epoch, "increasing")
        self.reset_start = self.reset_start_original

    def _restore_initial(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._init_lrs, strict=True):
            _assign(group, lr)
        self._reset()
        if self.verbose:
            print("GreedyLR: reset to the initial learning rates and state.")

    def _set_lr(self, i: int, group: dict[str, Any], lr: float, epoch: int, verb: str) -> None:
        _assign(group, lr)
        if self.verbose:
            print(f"Epoch {epoch}: {verb} learning rate of group {i} to {lr:.4e}.")

    def get_last_lr(self) -> list[float]:  # type: ignore[override]  # see _last_lr
        """The lrs after the last ``step`` (the optimizer's lrs at construction before it)."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain data (loads with ``weights_only=True``)."""
        state = {
            key: getattr(self, key)
            for key in (
                "factor", "min_lrs", "max_lrs", "patience", "verbose", "cooldown", "warmup",
                "cooldown_counter", "warmup_counter", "mode", "threshold", "threshold_mode",
                "best", "num_bad_epochs", "num_good_epochs", "eps", "last_epoch", "smooth",
                "window_size", "reset_start", "reset_start_original", "_last_lr", "_init_lrs",
            )
        }  # fmt: skip
        for key in ("min_lrs", "max_lrs", "_last_lr", "_init_lrs"):
            state[key] = list(state[key])
        if self._streaming_avg is not None:
            state["_streaming_avg"] = self._streaming_avg.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores ``state_dict()`` output; keys a (partial) dict lacks keep their values.

        With ``_last_lr`` present, the optimizer's lrs are set to it.
        """
        for key, value in state_dict.items():
            if key != "_streaming_avg":
                setattr(self, key, list(value) if isinstance(value, list) else value)
        if "_streaming_avg" in state_dict:
            if self._streaming_avg is None:
                self._streaming_avg = StreamingAverage(self.window_size)
            self._streaming_avg.load_state_dict(state_dict["_streaming_avg"])
        if "_last_lr" in state_dict:
            for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
                _assign(group, lr)


def get_greedy_schedule(optimizer: Optimizer, **kwargs: Any) -> GreedyLR:
    """``GreedyLR(optimizer, **kwargs)``; see :class:`GreedyLR` for the arguments."""
    return GreedyLR(optimizer, **kwargs)


def _per_group(argument: str, value: Any, num_groups: int, allow_inf: bool) -> list[float]:
    # One bound for every param group, or a list or tuple with one per group.
    if not isinstance(value, list | tuple):
        return [float(check_real(argument, value, low=0.0, allow_inf=allow_inf))] * num_groups
    values = check_sequence(argument, value, length=num_groups)
    return [
        float(check_real(f"{argument}[{i}]", v, low=0.0, allow_inf=allow_inf))
        for i, v in enumerate(values)
    ]


def _assign(group: dict[str, Any], lr: float) -> None:
    # A tensor lr (capturable / fused optimizers) is updated in place, never replaced.
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr
