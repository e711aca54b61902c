"""``ScheduledLR``: a torch LR scheduler driven by a ``stepsize.schedules`` object."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from stepsize import schedules
from stepsize._validation import (
    check_bool,
    check_instance,
    check_int,
    check_optional,
    check_sequence,
    describe,
)
from stepsize.torch._scheduler_state import (
    checked_state,
    count,
    group_lr,
    lr_list,
    shared_value,
)

__all__ = ["ScheduledLR"]


class ScheduledLR(LRScheduler):
    """Sets each group's lr to ``base_lr · schedule(step)``, in closed form.

    A drop-in for ``torch.optim.lr_scheduler.LambdaLR`` (same ``get_lr``, ``get_last_lr``,
    ``step``, ``last_epoch``, ``base_lrs``), with a schedule object instead of a lambda.
    The lr is always recomputed from the base lr, never from the previous lr, and
    ``state_dict()`` holds plain data only (the schedule's config, not a callable), so a
    checkpoint loads with ``torch.load(path, weights_only=True)`` and ``load_state_dict``
    restores the schedule and its exact lr sequence (after checking every entry: a rejected
    state changes nothing).

    A param group added to the optimizer later (``add_param_group``) is scheduled from its
    own lr, recorded as its ``initial_lr`` as torch does at construction, with the schedule
    every group shares; if the groups' schedules differ, append one for it to
    ``scheduler.schedules`` before the next ``step()``.

    Args:
        optimizer: the wrapped optimizer.
        schedule: a ``stepsize.schedules.Schedule`` for every param group, or a list with
            one schedule per param group.
        last_epoch: index of the last step taken, ``-1`` to start. As in torch, a value
            ``k >= 0`` (resuming) needs ``initial_lr`` in every param group (it is there
            when the optimizer's state dict was saved while a scheduler was attached), and
            construction then steps to ``k + 1``.

    Raises:
        TypeError: if ``optimizer`` is not an optimizer, ``schedule`` is not a schedule (or
            a list of them) or ``last_epoch`` is not an integer.
        ValueError: if a list of schedules has the wrong length, a param group's lr is
            ``None``, NaN, infinite or negative, ``last_epoch`` is below -1, or resuming
            and a param group lacks ``initial_lr`` (torch raises a ``KeyError`` for that).

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
    ) -> None:
        check_instance("optimizer", optimizer, Optimizer, "a torch.optim.Optimizer")
        last_epoch = check_int("last_epoch", last_epoch, low=-1)
        self.schedules = _per_group(schedule, len(optimizer.param_groups))
        for index, group in enumerate(optimizer.param_groups):
            if last_epoch >= 0 and "initial_lr" not in group:
                raise ValueError(
                    f"param_groups[{index}] must hold 'initial_lr' to resume at last_epoch="
                    f"{last_epoch}: load the optimizer's state dict first (or pass -1), got the "
                    f"keys {sorted(key for key in group if key != 'params')}"
                )
            _base_lr(optimizer, index)
        super().__init__(optimizer, last_epoch)

    def step(self, epoch: int | None = None) -> None:
        """Advances the step (or, deprecated as in torch, sets it to ``epoch``) and the lrs.

        Raises:
            TypeError: if ``epoch`` is not an integer.
            ValueError: if ``epoch`` is negative, the step would pass 2**63, or a param group
                added to the optimizer since cannot be scheduled (see the class docstring).
        """
        check_optional(check_int, "epoch", epoch, low=0)
        if epoch is None:  # the schedules end at step 2**63
            check_int("last_epoch + 1", self.last_epoch + 1, low=0)
        self._schedule_new_groups(self._new_groups())
        super().step(epoch)

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
        step = self.last_epoch
        lrs = []
        for index, (schedule, base_lr) in enumerate(
            zip(self.schedules, self.base_lrs, strict=True)
        ):
            lr = base_lr * schedule(step)
            if not math.isfinite(float(lr)):  # a schedule above 1 (e.g. Scale) times a huge lr
                raise ValueError(
                    f"base_lrs[{index}] · schedule({step}) must be finite, got "
                    f"{describe(base_lr)} · {schedule(step)!r}"
                )
            lrs.append(lr)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state as plain data: counters, lrs and schedule configs.

        Loads with ``torch.load(path, weights_only=True)``; save the optimizer's state too.
        """
        self._schedule_new_groups(self._new_groups())
        state = {
            key: value
            for key, value in self.__dict__.items()
            if key not in ("optimizer", "schedules")
        }
        state["schedules"] = [schedule.get_config() for schedule in self.schedules]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores a ``state_dict()``: step counter, lrs and the schedules themselves.

        A ``LambdaLR`` state dict (e.g. from a transformers ``get_*_schedule*`` checkpoint)
        also loads: its counters and lrs are taken and this scheduler's schedules kept. Keys
        a partial state lacks keep their values. Every entry is checked before anything
        changes.

        Raises:
            TypeError: if ``state_dict`` is not a dict or an entry has the wrong type.
            ValueError: for an unknown key, a list with another length than the optimizer's
                param groups, an lr that is NaN, infinite or negative, a step out of range, or
                an invalid schedule config; the message names the entry.
        """
        added = self._new_groups()
        groups = len(self.optimizer.param_groups)

        def lrs(argument: str, value: Any) -> list[Any]:
            return lr_list(argument, value, groups)

        def configs(argument: str, value: Any) -> list[schedules.Schedule]:
            items = check_sequence(argument, value, groups)
            return [_from_config(f"{argument}[{i}]", item) for i, item in enumerate(items)]

        checks = {
            "base_lrs": lrs, "last_epoch": count, "_step_count": count, "_last_lr": lrs,
            "_is_initial": check_bool, "_get_lr_called_within_step": check_bool,
            "schedules": configs,
        }  # fmt: skip
        # LambdaLR's lambdas, and the verbose flag of older torch: nothing to restore.
        state = checked_state(state_dict, checks, ignored=("lr_lambdas", "verbose"))
        self._schedule_new_groups(added)
        self.__dict__.update(state)

    def _new_groups(self) -> list[tuple[dict[str, Any], schedules.Schedule]]:
        # Each param group added to the optimizer since, with its schedule.
        groups = self.optimizer.param_groups
        known = len(self.base_lrs)
        if len(groups) < known:
            raise ValueError(f"the optimizer must keep its {known} param groups, got {len(groups)}")
        advice = "append a schedule for the new group to scheduler.schedules first"
        added = []
        for index in range(known, len(groups)):
            _base_lr(self.optimizer, index)
            if index < len(self.schedules):
                schedule = check_instance(
                    f"schedules[{index}]", self.schedules[index], schedules.Schedule, _WHAT
                )
            else:
                schedule = shared_value("schedule", self.schedules[:known], index, advice)
            added.append((groups[index], schedule))
        return added

    def _schedule_new_groups(self, added: list[tuple[dict[str, Any], schedules.Schedule]]) -> None:
        for group, schedule in added:
            index = len(self.base_lrs)
            self.schedules[index : index + 1] = [schedule]  # in place of one appended for it
            # As LRScheduler.__init__ does for the first groups: a tensor lr is copied.
            group.setdefault("initial_lr", _copy(group["lr"]))
            self.base_lrs.append(_copy(group["initial_lr"]))
            self._last_lr.append(_copy(group["lr"]))


_WHAT = "a stepsize.schedules.Schedule (e.g. from stepsize.schedules.get(name, ...))"


def _base_lr(optimizer: Optimizer, index: int) -> None:
    # Checks the lr a group's schedule scales: its initial_lr (kept by an earlier scheduler
    # or a checkpoint), else its lr.
    group = optimizer.param_groups[index]
    key = "initial_lr" if "initial_lr" in group else "lr"
    if group[key] is None:
        # Adafactor(lr=None) computes its own lr: it has no base lr to scale.
        raise ValueError(
            f"param group {index} has lr=None: a schedule needs a base lr "
            "(for Adafactor's relative step size use AdafactorSchedule)"
        )
    group_lr(optimizer, index, key)


def _copy(lr: Any) -> Any:
    return lr.clone() if isinstance(lr, torch.Tensor) else lr


def _from_config(argument: str, config: Any) -> schedules.Schedule:
    try:
        return schedules.from_config(config)
    except (TypeError, ValueError) as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{argument} must be a valid schedule config: {error}") from None
    except RecursionError:  # a config nested beyond Python's recursion limit
        raise ValueError(f"{argument} must be a valid schedule config: nested too deep") from None


def _per_group(
    schedule: schedules.Schedule | Sequence[schedules.Schedule], num_groups: int
) -> list[schedules.Schedule]:
    if not isinstance(schedule, list | tuple):
        return [check_instance("schedule", schedule, schedules.Schedule, _WHAT)] * num_groups
    if len(schedule) != num_groups:
        raise ValueError(
            f"schedule must hold {num_groups} schedules (one per param group), got {len(schedule)}"
        )
    return [
        check_instance(f"schedule[{i}]", item, schedules.Schedule, _WHAT)
        for i, item in enumerate(schedule)
    ]
