"""Gradient accumulation: several micro-batches, one optimizer update."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import torch

from stepsize._validation import check_instance, check_int, check_optional, check_real
from stepsize.torch._accumulation_window import (
    COUNTERS,
    apply_update,
    checked_counters,
    checked_scaler,
    checked_scheduler,
    lookahead,
)
from stepsize.torch._gradient_stash import GradientStash, stash_micro_batch
from stepsize.torch._gradient_sync import (
    drop_gradients,
    is_data_parallel,
    is_fully_sharded,
    synchronization,
)

__all__ = ["GradientAccumulation"]

_T = TypeVar("_T")


class GradientAccumulation:
    """Accumulate gradients over ``steps`` micro-batches, then update once.

    Drives one training loop's model, optimizer, LR scheduler and (optionally) ``GradScaler``.
    Each micro-batch runs inside ``with acc.accumulate():`` and calls ``acc.backward(loss)``
    on a *mean*-reduced loss; the helper divides the loss by the number of micro-batches in
    the window, so the accumulated gradient is the mean over the window's micro-batches, and
    leaving the block that completes a window performs the update: unscale, clip, optimizer
    step, scaler update, scheduler step, ``zero_grad``. The scheduler therefore counts
    optimizer updates, never micro-batches.

    A window ends after ``steps`` micro-batches, or earlier at the end of the data: iterate with
    ``acc.iterate(loader)`` (or pass ``accumulate(last=True)`` for the final micro-batch) and a
    shorter last window, e.g. 4, 4, 2 for 10 micro-batches with ``steps=4``, is averaged over
    its real size. On micro-batches that do not update, gradient synchronization is skipped:
    ``model.no_sync()`` for ``DistributedDataParallel``, ``set_requires_gradient_sync(False)``
    for ``fully_shard`` (FSDP2) modules.

    With a ``GradScaler``, an update the scaler skips because of inf/NaN gradients (seen as its
    scale backing off) does not step the scheduler; it is counted in ``skipped_steps``.

    An exception that escapes ``accumulate()`` (e.g. an out-of-memory error the loop catches)
    discards that micro-batch's gradient; the counters and the window go on as if it had never
    run. Where its gradient is mixed into the window's (FSDP2, or DDP's synchronizing
    micro-batch once its backward began) the whole window is discarded, with a warning. See
    the gradient-accumulation guide (every rank must skip the same micro-batches).

    Args:
        model: the module that runs forward and backward (DDP / FSDP2 wrapped or plain).
        optimizer: the ``torch.optim.Optimizer`` to step.
        scheduler: an LR scheduler stepped once per applied update, or None (metric-driven
            ones, like ``ReduceLROnPlateau``, are stepped by the loop with the metric).
        steps: micro-batches per optimizer update, an integer >= 1.
        scaler: a ``torch.amp.GradScaler``, or None.
        max_grad_norm: clip the gradients' total 2-norm to this value (after unscaling and
            averaging) before each update; None disables clipping.

    Attributes:
        micro_steps: micro-batches completed in total.
        optimizer_steps: optimizer updates applied (the schedule's step).
        skipped_steps: updates the scaler skipped.
        pending: micro-batches accumulated since the last update.
        sync_gradients: inside ``accumulate()``, whether this micro-batch ends a window.
        grad_norm: total gradient norm before clipping at the last update (with clipping).

    Raises:
        TypeError: if ``model``, ``optimizer``, ``scheduler`` or ``scaler`` has the wrong type,
            ``steps`` is not an integer or ``max_grad_norm`` neither a number nor None.
        ValueError: if ``steps`` or ``max_grad_norm`` is out of range, or ``scheduler`` needs a
            metric.

    Example:
        >>> import torch
        >>> from stepsize.torch import GradientAccumulation
        >>> model = torch.nn.Linear(3, 1)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> acc = GradientAccumulation(model, optimizer, steps=4)
        >>> batches = [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(10)]
        >>> for x, y in acc.iterate(batches):
        ...     with acc.accumulate():
        ...         acc.backward(torch.nn.functional.mse_loss(model(x), y))
        >>> acc.micro_steps, acc.optimizer_steps
        (10, 3)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        *,
        steps: int,
        scaler: Any = None,
        max_grad_norm: float | None = None,
    ) -> None:
        check_instance("model", model, torch.nn.Module, "a torch.nn.Module")
        check_instance("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
        self.model = model
        self.optimizer = optimizer
        self.scheduler = checked_scheduler(scheduler)
        self.steps = check_int("steps", steps, low=1)
        self.scaler = checked_scaler(scaler)
        self.max_grad_norm = check_optional(
            check_real, "max_grad_norm", max_grad_norm, low=0.0, low_open=True
        )
        self.micro_steps = 0
        self.optimizer_steps = 0
        self.skipped_steps = 0
        self.pending = 0
        self.sync_gradients = False
        self.grad_norm: torch.Tensor | None = None
        self._window = self.steps  # micro-batches the current window's loss is divided by
        self._remaining: int | None = None  # micro-batches left in the data, when known
        self._end_of_data = False
        self._in_block = False
        self._last_synced = True
        self._backward_started = False

    def iterate(self, iterable: Iterable[_T]) -> Iterator[_T]:
        """Yield the items of ``iterable`` and end the last window with the last item.

        Looks one item ahead, so it works for any iterable; with ``len()`` the last, shorter
        window's loss is divided by its real size from its first micro-batch on.
        """
        try:
            for item, remaining, last in lookahead(iterable):
                self._remaining, self._end_of_data = remaining, last
                yield item
        finally:
            self._remaining = None
            self._end_of_data = False

    @contextlib.contextmanager
    def accumulate(self, last: bool | None = None) -> Iterator[None]:
        """Context for one micro-batch's forward and backward; updates when a window ends.

        Args:
            last: True marks the final micro-batch of the data, which ends the window early;
                None (the default) takes it from ``iterate()``.
        """
        if self._in_block:
            raise RuntimeError("accumulate() blocks cannot be nested")
        if self.pending == 0:
            self._window = self.steps
            if self._remaining is not None:
                self._window = max(1, min(self.steps, self._remaining))
        end_of_data = self._end_of_data if last is None else bool(last)
        sync = end_of_data or self.pending + 1 >= self.steps
        stash = stash_micro_batch(self.model, self.optimizer, sync)
        self.sync_gradients = sync
        self._in_block = True
        self._backward_started = False
        try:
            with synchronization(self.model, sync):
                yield
        except BaseException:
            self._recover(stash)
            raise
        finally:
            self._in_block = False
            self.sync_gradients = False
        if stash is not None:
            stash.merge()
        self.micro_steps += 1
        self.pending += 1
        self._last_synced = sync
        if sync:
            self._update()

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """Backpropagate ``loss`` divided by the window size (and scaled by the scaler)."""
        if not self._in_block:
            raise RuntimeError("backward() must be called inside `with acc.accumulate():`")
        loss = loss / self._window
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        self._backward_started = True
        loss.backward(**kwargs)

    def step(self) -> bool:
        """Update now with the micro-batches accumulated so far (a shorter window).

        Returns:
            True if an update was applied, False if nothing was pending or the scaler skipped.

        Raises:
            RuntimeError: inside ``accumulate()``, or when the model synchronizes gradients
                (DDP / FSDP2) and the last micro-batch ran without synchronization; mark that
                micro-batch with ``accumulate(last=True)`` or use ``iterate()`` instead.
        """
        if self._in_block:
            raise RuntimeError("step() cannot be called inside accumulate()")
        if self.pending == 0:
            return False
        model = self.model
        if not self._last_synced and (is_fully_sharded(model) or is_data_parallel(model)):
            raise RuntimeError(
                "the last micro-batch ran without gradient synchronization; end the window "
                "with accumulate(last=True) or iterate() instead of step()"
            )
        return self._update()

    def state_dict(self) -> dict[str, int]:
        """The counters, for resuming; save at a window boundary (``pending == 0``)."""
        return {key: getattr(self, key) for key in COUNTERS}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Restore the counters saved by ``state_dict()``; starts a new window.

        The state is checked before anything changes: a rejected one leaves the helper as it
        was. An open window (``pending > 0``) is discarded with its gradients.

        Raises:
            TypeError: if ``state_dict`` is not a dict or a counter not an integer.
            ValueError: if a counter is missing, negative or too large, a key unknown, or
                ``optimizer_steps + skipped_steps`` exceeds ``micro_steps``.
            RuntimeError: inside ``accumulate()``.
        """
        if self._in_block:
            raise RuntimeError("load_state_dict() cannot be called inside accumulate()")
        counters = checked_counters(state_dict)
        if self.pending:
            self._drop_window()
        for key, value in counters.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return (
            f"GradientAccumulation(steps={self.steps}, micro_steps={self.micro_steps}, "
            f"optimizer_steps={self.optimizer_steps}, pending={self.pending})"
        )

    def _recover(self, stash: GradientStash | None) -> None:
        # The micro-batch raised: drop what it wrote, or the whole window if that is mixed in
        # (FSDP2 needs its reset after any failed forward or backward, which drops the window).
        if stash is not None:
            stash.restore()
        elif self._backward_started or is_fully_sharded(self.model):
            dropped = self.pending
            self._drop_window()
            if dropped:
                warnings.warn(
                    f"GradientAccumulation discarded the window's {dropped} earlier "
                    "micro-batches with the one that raised: its gradient was mixed in",
                    RuntimeWarning,
                    stacklevel=4,  # the user's `with acc.accumulate():`
                )
        # else: DDP's synchronizing micro-batch raised before its backward; nothing to drop.

    def _drop_window(self) -> None:
        drop_gradients(self.model, self.optimizer)
        self.pending = 0
        self._window = self.steps
        self._last_synced = True

    def _update(self) -> bool:
        factor = self._window / self.pending  # 1 unless the window ended early
        try:
            applied, norm = apply_update(self.optimizer, self.scaler, factor, self.max_grad_norm)
        finally:
            self.pending = 0
            self._window = self.steps
        if self.max_grad_norm is not None:
            self.grad_norm = norm
        if not applied:
            self.skipped_steps += 1
            return False
        self.optimizer_steps += 1
        if self.scheduler is not None:
            self.scheduler.step()
        return True
