"""``AdafactorSchedule``: reports the lr that Adafactor computes for itself."""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from stepsize._validation import check_instance, check_int, check_optional
from stepsize.torch._adafactor_optimizer import Adafactor
from stepsize.torch._scheduler_state import checked_state, count, lr_list, lr_value

__all__ = ["AdafactorSchedule", "get_adafactor_schedule"]

# The param-group keys Adafactor's lr depends on (stepsize's and transformers' Adafactor).
_ADAFACTOR_KEYS = ("lr", "eps", "scale_parameter", "relative_step", "warmup_init")
# The state of transformers' version (a LambdaLR) that this one does not keep.
_TRANSFORMERS_ONLY = ("lr_lambdas", "verbose", "_get_lr_called_within_step", "_is_initial")


class AdafactorSchedule(LRScheduler):
    """A proxy scheduler for training loops that expect one (e.g. for logging the lr).

    Adafactor computes its own lr; this scheduler only reports it. ``get_lr()`` and
    ``get_last_lr()`` give, for each param group, the effective lr of the last step of its
    first parameter that has been updated, ρ·max(eps[1], RMS(p)) (ρ without
    ``scale_parameter``), as a Python float, and ``initial_lr`` before the first step. The
    value is computed from the optimizer state (``step`` and ``RMS``, as transformers
    stores them), so it survives ``state_dict`` round trips and needs no gradients.

    Unlike transformers' version, it never writes into ``param_group["lr"]``: stepping it
    does not change how the optimizer steps, and a manual ``lr`` (``relative_step=False``)
    keeps working instead of being set to ``initial_lr``.

    Args:
        optimizer: an Adafactor (stepsize's, or any optimizer with Adafactor's param-group
            keys and state, such as transformers').
        initial_lr: the value reported before the first step.

    ``state_dict()`` is plain data; ``load_state_dict`` checks every entry first (a rejected
    state changes nothing) and also takes transformers' ``AdafactorSchedule`` state.

    Raises:
        TypeError: if ``optimizer`` is not an Adafactor-like optimizer or ``initial_lr`` not
            a number.
        ValueError: if ``initial_lr`` is NaN, infinite or negative.

    Example:
        >>> import torch
        >>> from stepsize.torch import Adafactor, AdafactorSchedule
        >>> w = torch.nn.Parameter(torch.ones(2, 2))
        >>> opt = Adafactor([w])
        >>> sched = AdafactorSchedule(opt)
        >>> sched.get_last_lr()
        [0.0]
        >>> w.grad = torch.ones(2, 2)
        >>> opt.step()
        >>> sched.step()
        >>> sched.get_last_lr()
        [0.01]
    """

    # torch annotates the lrs list[float | Tensor], which a list[float] does not match (a list
    # is invariant); these lrs are always Python floats.
    _last_lr: list[float]  # type: ignore[assignment]

    def __init__(self, optimizer: Optimizer, initial_lr: float = 0.0) -> None:
        check_instance("optimizer", optimizer, Optimizer, "an Adafactor optimizer")
        for group in optimizer.param_groups:
            missing = [key for key in _ADAFACTOR_KEYS if key not in group]
            if missing:
                raise TypeError(
                    f"optimizer must be an Adafactor optimizer, got a {type(optimizer).__name__} "
                    f"whose param groups lack {missing}"
                )
        value = lr_value("initial_lr", initial_lr)
        # Set up by hand: LRScheduler.__init__ would write group["initial_lr"] and group["lr"].
        self.optimizer = optimizer
        self.initial_lr = value
        self.base_lrs = [value] * len(optimizer.param_groups)
        self.last_epoch = 0
        self._step_count = 1
        self._last_lr = self.get_lr()

    def get_lr(self) -> list[float]:  # type: ignore[override]  # see _last_lr
        """Each param group's effective lr of the last step (``initial_lr`` before any)."""
        return [self._group_lr(group) for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Advance the count and refresh ``get_last_lr()``; the optimizer is left alone.

        Param groups added to the optimizer since are reported too.

        Raises:
            TypeError: if ``epoch`` is not an integer.
            ValueError: if it is negative.
        """
        epoch = check_optional(check_int, "epoch", epoch, low=0)
        self._step_count += 1
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        self.base_lrs = [self.initial_lr] * len(self.optimizer.param_groups)
        self._last_lr = self.get_lr()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores ``state_dict()`` output (ours or transformers'), checked first.

        Keys a partial state lacks keep their values.

        Raises:
            TypeError: if ``state_dict`` is not a dict or an entry has the wrong type.
            ValueError: for an unknown key, an lr that is NaN, infinite or negative, a list
                with another length than the optimizer's param groups, or a negative count.
        """

        def lrs(argument: str, value: Any) -> list[float]:
            return lr_list(argument, value, len(self.optimizer.param_groups), floats=True)

        checks = {"initial_lr": lr_value, "base_lrs": lrs, "last_epoch": count,
                  "_step_count": count, "_last_lr": lrs}  # fmt: skip
        self.__dict__.update(checked_state(state_dict, checks, ignored=_TRANSFORMERS_ONLY))

    def _group_lr(self, group: dict[str, Any]) -> float:
        for p in group["params"]:
            state = self.optimizer.state.get(p)
            if state and state.get("step", 0) > 0 and "RMS" in state:
                return float(Adafactor._get_lr(group, state))
        return self.initial_lr


def get_adafactor_schedule(optimizer: Optimizer, initial_lr: float = 0.0) -> AdafactorSchedule:
    """Get a proxy schedule for :class:`Adafactor` (see :class:`AdafactorSchedule`).

    Args:
        optimizer: the Adafactor whose lr to report.
        initial_lr: the value reported before the first step.

    Returns:
        An :class:`AdafactorSchedule`.

    Example:
        >>> import torch
        >>> from stepsize.torch import Adafactor, get_adafactor_schedule
        >>> opt = Adafactor([torch.nn.Parameter(torch.ones(2))], lr=1e-3, relative_step=False)
        >>> get_adafactor_schedule(opt, initial_lr=1e-3).get_last_lr()
        [0.001]
    """
    return AdafactorSchedule(optimizer, initial_lr)
