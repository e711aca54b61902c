"""``ScheduledLR``: a torch LR scheduler driven by a ``stepsize.schedules`` object."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from stepsize import schedules
from stepsize._validation import check_bool, check_instance, check_int, describe
from stepsize.torch._update_hook import on_applied_update

__all__ = ["ScheduledLR"]


class ScheduledLR(LRScheduler):
    """Sets each group's lr to ``base_lr · schedule(step)``, in closed form.

    A drop-in for ``torch.optim.lr_scheduler.LambdaLR`` (same ``get_lr``, ``get_last_lr``,
    ``step``, ``last_epoch``, ``base_lrs``), with a schedule object instead of a lambda.
    The lr is always recomputed from the base lr, never from the previous lr, and
    ``state_dict()`` holds plain data only (the schedule's config, not a callable), so a
    checkpoint loads with ``torch.load(path, weights_only=True)`` and ``load_state_dict``
    restores the schedule and its exact lr sequence.

    Args:
        optimizer: the wrapped optimizer.
        schedule: a ``stepsize.schedules.Schedule`` for every param group, or a list with
            one schedule per param group.
        last_epoch: index of the last step taken, ``-1`` to start. As in torch, a value
            ``k >= 0`` (resuming) needs ``initial_lr`` in every param group (it is there
            when the optimizer's state dict was saved while a scheduler was attached), and
            construction then steps to ``k + 1``.
        follow_optimizer: False (the default, transformers' behaviour): each ``step()`` call
            advances the schedule. True: the schedule's step is the number of updates the
            optimizer has applied, counted by a hook on the optimizer's step; updates a
            ``GradScaler`` skipped do not count. Each update sets the lrs of the next one, so
            calling ``step()`` twice per update (accelerate's wrapper on 2 processes), on
            micro-batches, after a skipped update or not at all moves nothing; ``step()``
            (which then takes no ``epoch``) sets ``last_epoch`` to the count and refreshes
            ``get_last_lr()``, which until then reports the lrs the last update used.

    Attributes:
        optimizer_steps: with ``follow_optimizer``, the schedule's step: the updates applied
            since construction, plus ``last_epoch + 1``. Saved in ``state_dict()``.

    Raises:
        TypeError: if ``optimizer`` is not an optimizer, ``schedule`` is not a schedule (or
            a list of them) or ``last_epoch`` is not an integer.
        ValueError: if a list of schedules has the wrong length, a param group's lr is
            ``None``, or ``last_epoch`` is below -1.
        KeyError: as in torch, if resuming and a param group lacks ``initial_lr``.

    Example:
        >>> import torch
        >>> from stepsize import schedules
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=10.0)
        >>> sched = ScheduledLR(opt, schedules.get("linear", num_warmup_steps=2,
        ...                                         num_training_steps=10))
        >>> for _ in range(3):
        ...     opt.step()
        ...     sched.step()
        >>> sched.get_last_lr()
        [8.75]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: schedules.Schedule | Sequence[schedules.Schedule],
        last_epoch: int = -1,
        *,
        follow_optimizer: bool = False,
    ) -> None:
        check_instance("optimizer", optimizer, Optimizer, "a torch.optim.Optimizer")
        last_epoch = check_int("last_epoch", last_epoch, low=-1)
        self.follow_optimizer = check_bool("follow_optimizer", follow_optimizer)
        self.schedules = _per_group(schedule, len(optimizer.param_groups))
        for index, group in enumerate(optimizer.param_groups):
            lr = group.get("initial_lr", group["lr"])
            if lr is None:
                # Adafactor(lr=None) computes its own lr: it has no base lr to scale.
                raise ValueError(
                    f"param group {index} has lr=None: a schedule needs a base lr "
                    "(for Adafactor's relative step size use AdafactorSchedule)"
                )
        super().__init__(optimizer, last_epoch)
        if self.follow_optimizer:
            self._update_hook = on_applied_update(optimizer, self, ScheduledLR._applied_update)

    def step(self, epoch: int | None = None) -> None:
        """Advances the step and sets the lrs; with ``follow_optimizer``, catches up with the
        optimizer's applied updates instead (idempotent).

        Raises:
            ValueError: if ``epoch`` is given with ``follow_optimizer``.
        """
        if not self.follow_optimizer:
            super().step(epoch)
            return
        if epoch is not None:
            raise ValueError(
                "epoch must be None with follow_optimizer=True (the step is the optimizer's "
                f"update count), got {describe(epoch)}"
            )
        if self._step_count == 0:  # the constructor's step: from last_epoch to last_epoch + 1
            self.optimizer_steps = self.last_epoch + 1
        self.last_epoch = self.optimizer_steps - 1
        super().step()

    def _applied_update(self) -> None:
        # Called by the optimizer's step hook after each applied update: the next update's lrs.
        self.optimizer_steps += 1
        for group, lr in zip(
            self.optimizer.param_groups, self._lrs_at(self.optimizer_steps), strict=True
        ):
            group["lr"] = lr

    def get_lr(self) -> list[Any]:
        """The lrs for the current ``last_epoch``: ``base_lr · schedule(last_epoch)``.

        Like ``LambdaLR.get_lr``, it warns when called outside ``step``; use
        ``get_last_lr()`` to read the current lrs.
        """
        if not getattr(self, "_get_lr_called_within_step", False):
            warnings.warn(
                "To get the last learning rate computed by the scheduler, "
                "please use `get_last_lr()`.",
                UserWarning,
                stacklevel=2,
            )
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self) -> list[Any]:
        # Also what torch's deprecated `step(epoch)` uses: any step is a closed form.
        return self._lrs_at(self.last_epoch)

    def _lrs_at(self, step: int) -> list[Any]:
        return [
            base_lr * schedule(step)
            for schedule, base_lr in zip(self.schedules, self.base_lrs, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain data: counters, lrs and schedule configs.

        Loads with ``torch.load(path, weights_only=True)``; save the optimizer's state too.
        """
        state = {
            key: value
            for key, value in self.__dict__.items()
            if key not in ("optimizer", "schedules", "follow_optimizer", "_update_hook")
        }
        state["schedules"] = [schedule.get_config() for schedule in self.schedules]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a ``state_dict()``: step counter, lrs and the schedules themselves.

        A ``LambdaLR`` state dict (e.g. from a transformers ``get_*_schedule*`` checkpoint)
        also loads: its counters and lrs are taken and this scheduler's schedules kept.

        Raises:
            ValueError: if the saved schedules do not match the number of param groups,
                or a saved schedule config is invalid.
        """
        state = dict(state_dict)
        configs = state.pop("schedules", None)
        state.pop("lr_lambdas", None)  # LambdaLR's: callables' __dict__, nothing to restore
        if configs is not None:
            if len(configs) != len(self.optimizer.param_groups):
                raise ValueError(
                    f"state_dict has {len(configs)} schedules, the optimizer has "
                    f"{len(self.optimizer.param_groups)} param groups"
                )
            self.schedules = [schedules.from_config(config) for config in configs]
        if not self.follow_optimizer:
            state.pop("optimizer_steps", None)
        elif "optimizer_steps" not in state:  # saved without follow_optimizer
            state["optimizer_steps"] = state.get("last_epoch", self.last_epoch)
        self.__dict__.update(state)


def _per_group(
    schedule: schedules.Schedule | Sequence[schedules.Schedule], num_groups: int
) -> list[schedules.Schedule]:
    what = "a stepsize.schedules.Schedule (e.g. from stepsize.schedules.get(name, ...))"
    if not isinstance(schedule, list | tuple):
        return [check_instance("schedule", schedule, schedules.Schedule, what)] * num_groups
    if len(schedule) != num_groups:
        raise ValueError(
            f"schedule must hold {num_groups} schedules (one per param group), got {len(schedule)}"
        )
    return [
        check_instance(f"schedule[{i}]", item, schedules.Schedule, what)
        for i, item in enumerate(schedule)
    ]
