"""``GreedyLR``: a metric-driven scheduler that lowers the lr on plateaus and raises it on
steady improvement (transformers 5's ``GreedyLR`` / ``get_greedy_schedule``)."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from stepsize._validation import check_instance, check_int, check_optional
from stepsize.torch._greedy_checks import (
    STATE_KEYS,
    added_groups,
    bounds_per_group,
    checked_greedy_state,
    metric_value,
    setting,
)
from stepsize.torch._scheduler_state import group_lr, set_group_lr
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
    ``max_lr`` must be finite (transformers accepts ``math.inf``, and the lr can reach it).
    A NaN or infinite metric is a bad evaluation, as in ``ReduceLROnPlateau``: never the
    best, never in the smoothing window. A param group added to the optimizer later starts
    from its own lr, within the bounds every group shares (if they differ, append its own to
    ``min_lrs`` and ``max_lrs`` before the next ``step``).

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
        max_lr: upper bound, one finite number or one per param group.
        eps: smallest lr change that is applied (>= 0).
        verbose: print every change.
        smooth: replace each metric by the mean of the last ``window_size`` metrics.
        window_size: the smoothing window.
        reset_start: due lowerings at ``min_lr`` before the state is reset.

    Raises:
        TypeError: for an argument of the wrong type (a count not an integer, a number that
            is a string, a bool or None, ``verbose`` or ``smooth`` not a bool...).
        ValueError: for ``factor`` outside (0, 1), an unknown mode, a negative, NaN or
            infinite number, a wrong number of ``min_lr``/``max_lr`` values, a ``min_lr``
            above its ``max_lr``, a negative count (``window_size`` < 1), or a param group
            whose lr is NaN or negative.

    Example:
        >>> import torch
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
        self.mode = setting("mode", mode)
        self.factor = setting("factor", factor)
        self.threshold = setting("threshold", threshold)
        self.threshold_mode = setting("threshold_mode", threshold_mode)
        self.eps = setting("eps", eps)
        self.patience = setting("patience", patience)
        self.cooldown = setting("cooldown", cooldown)
        self.warmup = setting("warmup", warmup)
        self.window_size = setting("window_size", window_size)
        self.reset_start = self.reset_start_original = setting("reset_start", reset_start)
        self.verbose = setting("verbose", verbose)
        self.smooth = setting("smooth", smooth)
        num_groups = len(optimizer.param_groups)
        self.min_lrs, self.max_lrs = bounds_per_group(min_lr, max_lr, num_groups)
        self.last_epoch = 0
        self._init_lrs = [group_lr(optimizer, i) for i in range(num_groups)]
        self._last_lr = list(self._init_lrs)
        self._streaming_avg: StreamingAverage | None = None
        self._reset()
        _warn_never_lowered(self._init_lrs, self.min_lrs)

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.num_good_epochs = 0
        self.cooldown_counter = 0
        self.warmup_counter = 0
        self.reset_start = self.reset_start_original
        self._streaming_avg = StreamingAverage(self.window_size) if self.smooth else None

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Takes one evaluation's metric and adapts the lrs.

        Args:
            metrics: a real number, or a tensor or array holding one (NaN, ±inf: a bad one).
            epoch: the evaluation index to record; default: the previous one + 1.

        Raises:
            TypeError: if ``metrics`` is not a number (a string, a bool...) or ``epoch`` not
                an integer.
            ValueError: if ``metrics`` holds several values or ``epoch`` is negative.
        """
        current = metric_value(metrics)
        epoch = check_optional(check_int, "epoch", epoch, low=0)
        self.__dict__.update(self._grown())
        if math.isfinite(current) and self._streaming_avg is not None:
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
        """Whether ``current`` improves on ``best`` by more than the threshold.

        A NaN or infinite ``current`` never does; any finite one improves on an infinite
        ``best`` (the initial one).
        """
        if not math.isfinite(current):
            return False
        if math.isinf(best):
            return True  # also with a "rel" threshold >= 1, where best·(1 - threshold) is NaN
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
            set_group_lr(group, lr)
        self._reset()
        if self.verbose:
            print("GreedyLR: reset to the initial learning rates and state.")

    def _set_lr(self, i: int, group: dict[str, Any], lr: float, epoch: int, verb: str) -> None:
        set_group_lr(group, lr)
        if self.verbose:
            print(f"Epoch {epoch}: {verb} learning rate of group {i} to {lr:.4e}.")

    def get_last_lr(self) -> list[float]:  # type: ignore[override]  # see _last_lr
        """The lrs after the last ``step`` (the optimizer's lrs at construction before it)."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain data (loads with ``weights_only=True``)."""
        self.__dict__.update(self._grown())
        state = {key: copy.copy(getattr(self, key)) for key in STATE_KEYS}  # lists copied
        if self._streaming_avg is not None:
            state["_streaming_avg"] = self._streaming_avg.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores ``state_dict()`` output; keys a (partial) dict lacks keep their values.

        Every entry is checked first (the constructor's rules, one lr per param group,
        ``best`` a number or ±inf): a rejected state leaves the scheduler and the optimizer's
        lrs as they were. With ``_last_lr`` present, the optimizer's lrs are set to it.

        Raises:
            TypeError: if ``state_dict`` is not a dict or an entry has the wrong type.
            ValueError: for an unknown key or a bad value; the message names the entry.
        """
        grown = self._grown()
        current = {key: getattr(self, key) for key in STATE_KEYS}
        current.update(grown, _streaming_avg=self._streaming_avg)
        state = checked_greedy_state(state_dict, current)
        self.__dict__.update(grown)
        self.__dict__.update(state)
        if "_last_lr" in state:
            for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
                set_group_lr(group, lr)

    def _grown(self) -> dict[str, list[float]]:
        # The per-group lists, extended to the param groups added to the optimizer since.
        known = len(self._init_lrs)
        lrs, lows, highs = added_groups(self.optimizer, known, self.min_lrs, self.max_lrs)
        _warn_never_lowered(lrs, lows, start=known, stacklevel=4)  # via step() and the like
        return {
            "_init_lrs": self._init_lrs + lrs,
            "_last_lr": self._last_lr + lrs,
            "min_lrs": self.min_lrs[:known] + lows,
            "max_lrs": self.max_lrs[:known] + highs,
        }


def get_greedy_schedule(optimizer: Optimizer, **kwargs: Any) -> GreedyLR:
    """``GreedyLR(optimizer, **kwargs)``; see :class:`GreedyLR` for the arguments."""
    return GreedyLR(optimizer, **kwargs)


def _warn_never_lowered(
    lrs: list[float], min_lrs: list[float], start: int = 0, stacklevel: int = 3
) -> None:
    # stacklevel: the user's call (GreedyLR(...) by default)
    for index, (lr, min_lr) in enumerate(zip(lrs, min_lrs, strict=True), start=start):
        if lr <= min_lr:
            warnings.warn(
                f"param group {index} has lr {lr} <= min_lr {min_lr}: GreedyLR never lowers it "
                "(pass a smaller min_lr)",
                stacklevel=stacklevel,
            )
