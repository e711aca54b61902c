"""Gradient accumulation: several micro-batches, one optimizer update."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeGuard, TypeVar

import torch

from stepsize._validation import check_instance, check_int, check_optional, check_real, describe

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
        if scheduler is not None and not callable(getattr(scheduler, "step", None)):
            raise TypeError(f"scheduler must have a step() method, got {describe(scheduler)}")
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            raise ValueError(
                f"scheduler {type(scheduler).__name__} is stepped with a metric: call its "
                "step(metric) yourself and pass scheduler=None"
            )
        if scaler is not None and not all(
            callable(getattr(scaler, name, None))
            for name in ("scale", "unscale_", "step", "update", "get_scale")
        ):
            raise TypeError(f"scaler must be a torch.amp.GradScaler, got {describe(scaler)}")
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.steps = check_int("steps", steps, low=1)
        self.scaler = scaler
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

    def iterate(self, iterable: Iterable[_T]) -> Iterator[_T]:
        """Yield the items of ``iterable`` and end the last window with the last item.

        Looks one item ahead, so it works for any iterable; with ``len()`` the last, shorter
        window's loss is divided by its real size from its first micro-batch on.
        """
        try:
            remaining: int | None = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            remaining = None
        iterator = iter(iterable)
        sentinel = object()
        item: Any = next(iterator, sentinel)
        try:
            while item is not sentinel:
                following = next(iterator, sentinel)
                self._remaining = remaining
                self._end_of_data = following is sentinel
                yield item
                item = following
                if remaining is not None:
                    remaining = max(remaining - 1, 1)
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
        self.sync_gradients = sync
        self._in_block = True
        try:
            with self._synchronization(sync):
                yield
        finally:
            self._in_block = False
            self.sync_gradients = False
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
        if not self._last_synced and (_is_fully_sharded(model) or _is_data_parallel(model)):
            raise RuntimeError(
                "the last micro-batch ran without gradient synchronization; end the window "
                "with accumulate(last=True) or iterate() instead of step()"
            )
        return self._update()

    def state_dict(self) -> dict[str, int]:
        """The counters, for resuming; save at a window boundary (``pending == 0``)."""
        return {
            "micro_steps": self.micro_steps,
            "optimizer_steps": self.optimizer_steps,
            "skipped_steps": self.skipped_steps,
        }

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Restore the counters saved by ``state_dict()``; starts a new window."""
        for key in ("micro_steps", "optimizer_steps", "skipped_steps"):
            value = state_dict[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"state_dict[{key!r}] must be an integer >= 0, got {value!r}")
            setattr(self, key, value)
        self.pending = 0

    def __repr__(self) -> str:
        return (
            f"GradientAccumulation(steps={self.steps}, micro_steps={self.micro_steps}, "
            f"optimizer_steps={self.optimizer_steps}, pending={self.pending})"
        )

    @contextlib.contextmanager
    def _synchronization(self, sync: bool) -> Iterator[None]:
        model = self.model
        if not sync and _is_fully_sharded(model):
            model.set_requires_gradient_sync(False)
            try:
                yield
            finally:
                model.set_requires_gradient_sync(True)
        elif not sync and _is_data_parallel(model):
            # DDP decides at forward time whether the backward will all-reduce.
            with model.no_sync():
                yield
        else:
            yield

    def _update(self) -> bool:
        optimizer, scaler = self.optimizer, self.scaler
        grads = [
            p.grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        if scaler is not None:
            scaler.unscale_(optimizer)
        if self.pending != self._window:
            # The window ended early: the loss was divided by the planned size.
            factor = self._window / self.pending
            for grad in grads:
                grad.mul_(factor)
        if self.max_grad_norm is not None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            self.grad_norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        if scaler is not None:
            scale = scaler.get_scale()
            scaler.step(optimizer)
            scaler.update()
            applied = not scaler.get_scale() < scale
        else:
            optimizer.step()
            applied = True
        if applied:
            self.optimizer_steps += 1
            if self.scheduler is not None:
                self.scheduler.step()
        else:
            self.skipped_steps += 1
        optimizer.zero_grad(set_to_none=True)
        self.pending = 0
        self._window = self.steps
        return applied


class _FullyShardedModule(Protocol):  # a module wrapped by FSDP2's fully_shard
    def set_requires_gradient_sync(self, requires_gradient_sync: bool) -> None: ...


class _DataParallelModule(Protocol):  # DistributedDataParallel
    def no_sync(self) -> contextlib.AbstractContextManager[None]: ...


def _is_fully_sharded(model: torch.nn.Module) -> TypeGuard[_FullyShardedModule]:
    return callable(getattr(model, "set_requires_gradient_sync", None))


def _is_data_parallel(model: torch.nn.Module) -> TypeGuard[_DataParallelModule]:
    return callable(getattr(model, "no_sync", None))
